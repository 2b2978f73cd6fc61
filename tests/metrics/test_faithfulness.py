"""Faithfulness correlation: exact on additive models, checked against a numpy re-computation."""

import numpy as np
import pytest
import torch

from sklxai.metrics import faithfulness_correlation


class Additive(torch.nn.Module):
    """f(x) = sum_i a_i * tanh(x_i) + sum_i c_i * x_i**2: additive but not linear."""

    def __init__(self, a, c):
        super().__init__()
        # parameters, not buffers: the adapter takes the input dtype (float64) from them
        self.a = torch.nn.Parameter(torch.as_tensor(a), requires_grad=False)
        self.c = torch.nn.Parameter(torch.as_tensor(c), requires_grad=False)

    def forward(self, X):
        return (self.a * torch.tanh(X) + self.c * X**2).sum(1, keepdim=True)


def contributions(a, c, X, base):
    """Each feature's own effect f_i(x_i) - f_i(b_i): the drop when removing a set is their sum."""
    h = lambda z: a * np.tanh(z) + c * z**2
    return h(X) - h(np.broadcast_to(base, X.shape))


@pytest.fixture
def additive():
    rng = np.random.default_rng(0)
    d = 8
    a, c = rng.normal(size=d), rng.normal(size=d)
    X = rng.normal(size=(5, d))
    return Additive(a, c).double(), X, a, c


def test_exact_contributions_give_one(additive):
    model, X, a, c = additive
    for base in (0.0, np.linspace(-1, 1, X.shape[1])):
        phi = contributions(a, c, X, base)
        r = faithfulness_correlation(model, X, phi, baseline=base, random_state=0,
                                     device="cpu")
        assert r.shape == (5,)
        np.testing.assert_allclose(r, 1.0, atol=1e-10)
        # the correlation ignores scale, not sign
        r2 = faithfulness_correlation(model, X, 3 * phi, baseline=base, random_state=0,
                                      device="cpu")
        np.testing.assert_allclose(r2, 1.0, atol=1e-10)
        r3 = faithfulness_correlation(model, X, -phi, baseline=base, random_state=0,
                                      device="cpu")
        np.testing.assert_allclose(r3, -1.0, atol=1e-10)


def test_random_attributions_score_lower(additive):
    model, X, _a, _c = additive
    rand = np.random.default_rng(1).normal(size=X.shape)
    r = faithfulness_correlation(model, X, rand, n_subsets=100, random_state=0, device="cpu")
    assert np.all(np.abs(r) < 0.99) and r.mean() < 0.6


class Recorder(torch.nn.Module):
    """Wraps a model and keeps every input it is called on."""

    def __init__(self, model):
        super().__init__()
        self.model, self.seen = model, []

    def forward(self, X):
        self.seen.append(X.detach().cpu().numpy().copy())
        return self.model(X)


def test_against_numpy_recomputation(additive):
    """Recover the subsets from the inputs the model saw; redo the statistic in numpy."""
    model, X, a, c = additive
    sentinel = 1234.5  # baseline value that no row of X takes: marks the removed features
    attr = np.random.default_rng(2).normal(size=X.shape)
    rec = Recorder(model)
    r = faithfulness_correlation(rec, X, attr, baseline=sentinel, subset_size=3, n_subsets=30,
                                 random_state=3, device="cpu")
    Z = np.concatenate(rec.seen)
    Z = Z[(Z == sentinel).any(1)]              # the perturbed inputs only
    assert len(Z) == 5 * 30
    f = lambda Y: (a * np.tanh(Y) + c * Y**2).sum(1)
    for i in range(len(X)):
        mine = Z[np.all((Z == X[i]) | (Z == sentinel), axis=1)]
        assert len(mine) == 30
        removed = mine == sentinel
        assert np.all(removed.sum(1) == 3)
        sums = (removed * attr[i]).sum(1)
        drops = f(X[i][None]) - f(mine)
        np.testing.assert_allclose(r[i], np.corrcoef(sums, drops)[0, 1], atol=1e-10)


def test_reproducible_and_batch_independent(additive):
    model, X, _a, _c = additive
    attr = np.random.default_rng(4).normal(size=X.shape)
    r1 = faithfulness_correlation(model, X, attr, random_state=7, device="cpu")
    r2 = faithfulness_correlation(model, X, attr, random_state=7, device="cpu", batch_size=7)
    np.testing.assert_allclose(r1, r2, atol=1e-12)


def test_constant_attributions_give_nan(additive):
    model, X, _a, _c = additive
    r = faithfulness_correlation(model, X, np.zeros_like(X), random_state=0, device="cpu")
    assert np.isnan(r).all()


def test_classifier_and_images():
    rng = np.random.default_rng(5)
    c, h, w = 1, 4, 4
    W = rng.normal(size=(2, 16))
    model = torch.nn.Sequential(torch.nn.Linear(16, 2, bias=False).double(),
                                torch.nn.Softmax(dim=1))
    with torch.no_grad():
        model[0].weight.copy_(torch.as_tensor(W))
    X = rng.normal(size=(4, 16))
    attr = X * (W[1] - W[0])
    r = faithfulness_correlation(model, X, attr, target=1, image_shape=(c, h, w),
                                 patch_size=2, n_subsets=20, random_state=0, device="cpu")
    assert r.shape == (4,) and np.all((r >= -1) & (r <= 1))


@pytest.mark.parametrize("kwargs, match", [
    ({"subset_size": 0}, "subset_size"),
    ({"subset_size": 9}, "subset_size"),
    ({"subset_size": 1.0}, "subset_size"),
    ({"n_subsets": 1}, "n_subsets"),
    ({"attributions": np.zeros((4, 8))}, "attributions"),
    ({"attributions": np.zeros((5, 3))}, "attributions"),
    ({"baseline": np.zeros((2, 8))}, "baseline"),
])
def test_bad_input(additive, kwargs, match):
    model, X, _a, _c = additive
    kwargs = dict(kwargs)
    attributions = kwargs.pop("attributions", X)
    with pytest.raises(ValueError, match=match):
        faithfulness_correlation(model, X, attributions, device="cpu", **kwargs)


def test_subset_size_type(additive):
    model, X, _a, _c = additive
    with pytest.raises(TypeError, match="subset_size"):
        faithfulness_correlation(model, X, X, subset_size="a", device="cpu")
