"""Counting minimal sufficient explanations on models whose answer is known by construction."""

import numpy as np
import pytest
import torch

from sklxai.metrics import SubExplanations, count_sub_explanations

# 8x8 images with 2x2 patches: 16 patches, row-major; patch p covers rows 2*(p//4).., cols 2*(p%4)..
A, B, C = 0, 5, 10


def patch_on(X, p):
    """Whether every pixel of patch p is on (1.0), per image: a (n,) float tensor."""
    img = X.reshape(-1, 8, 8)
    r, q = divmod(p, 4)
    return img[:, 2 * r:2 * r + 2, 2 * q:2 * q + 2].amin(dim=(1, 2)).clamp(0, 1)


class PatchLogic(torch.nn.Module):
    """Two-class 'classifier' whose class-1 probability is a function of patches A, B, C."""

    def __init__(self, rule):
        super().__init__()
        self.rule = rule

    def forward(self, X):
        s = self.rule(patch_on(X, A), patch_on(X, B), patch_on(X, C))
        return torch.stack([1 - s, s], dim=1)


RULES = {
    # high iff A or B is kept: two MSEs, {A} and {B}
    "or": (lambda a, b, c: torch.maximum(a, b), [(A,), (B,)]),
    # half credit each, both needed to reach 0.9: one MSE {A, B}
    "and": (lambda a, b, c: (a + b) / 2, [(A, B)]),
    # any two of three: three MSEs
    "two_of_three": (lambda a, b, c: torch.clamp((a + b + c) / 2, max=1), [(A, B), (A, C), (B, C)]),
}


@pytest.mark.parametrize("rule", list(RULES))
def test_known_answers(rule):
    fn, expected = RULES[rule]
    X = np.ones((2, 64))
    res = count_sub_explanations(PatchLogic(fn), X, image_shape=(8, 8), patch_size=2,
                                 device="cpu")
    assert isinstance(res, SubExplanations)
    assert res.counts.tolist() == [len(expected)] * 2
    assert res.sets == [expected, expected]
    assert res.patch_grid == (4, 4) and res.targets.tolist() == [1, 1]
    np.testing.assert_allclose(res.full_scores, 1.0)
    for scores in res.scores:
        assert np.all(scores >= 0.9)
    masks = res.masks(0)
    assert masks.shape == (len(expected), 4, 4) and masks.sum() == sum(map(len, expected))


def test_found_sets_are_sufficient_and_minimal_by_direct_evaluation():
    """Check each reported set with the model itself, pixels masked in numpy."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3),
                                torch.nn.Softmax(dim=1)).double()
    X = np.random.default_rng(0).uniform(0, 2, size=(3, 64))
    res = count_sub_explanations(model, X, image_shape=(1, 8, 8), patch_size=2, threshold=0.8,
                                 beam_width=3, device="cpu")

    def score(i, kept):
        mask = np.zeros((4, 4), bool)
        for p in kept:
            mask[p // 4, p % 4] = True
        pix = np.kron(mask, np.ones((2, 2), bool)).reshape(64)
        x = np.where(pix, X[i], 0.0)
        with torch.no_grad():
            return model(torch.as_tensor(x[None]))[0, res.targets[i]].item()

    for i in range(3):
        assert res.counts[i] == len(res.sets[i]) >= 1
        need = 0.8 * res.full_scores[i]
        for s, sc in zip(res.sets[i], res.scores[i]):
            assert np.isclose(score(i, s), sc) and sc >= need
            assert all(score(i, set(s) - {p}) < need for p in s)
        for s in res.sets[i]:  # no set contains another
            assert not any(set(t) < set(s) for t in res.sets[i])


def test_max_size_and_threshold():
    fn, _ = RULES["and"]
    X = np.ones((1, 64))
    res = count_sub_explanations(PatchLogic(fn), X, image_shape=(8, 8), patch_size=2,
                                 max_size=1, device="cpu")
    assert res.counts.tolist() == [0] and res.sets == [[]]
    # a lower threshold makes half credit sufficient: A and B alone
    res = count_sub_explanations(PatchLogic(fn), X, image_shape=(8, 8), patch_size=2,
                                 threshold=0.5, device="cpu")
    assert res.sets == [[(A,), (B,)]]


def test_attribution_guided_beam_and_shrinking():
    """A beam of 1 guided to an irrelevant patch D: every set it grows holds A and D.

    {A, D} is grown (ties go to the lexicographically first set); {A, B, D} and {A, C, D} are
    sufficient but D can be dropped, so they are reported as {A, B} and {A, C}; {B, C} is never
    reached. Unguided, the same search finds all three pairs.
    """
    fn, _ = RULES["two_of_three"]
    X = np.ones((1, 64))
    guide = np.zeros((1, 8, 8))
    guide[0, 6:, 6:] = 1.0                    # patch D = 15, the bottom-right one
    res = count_sub_explanations(PatchLogic(fn), X, image_shape=(8, 8), patch_size=2,
                                 beam_width=1, attributions=guide, device="cpu")
    assert res.sets == [[(A, B), (A, C)]]


def test_baseline_alone_sufficient_gives_the_empty_set():
    class Constant(torch.nn.Module):
        def forward(self, X):
            return torch.tensor([[0.2, 0.8]]).expand(len(X), 2)

    res = count_sub_explanations(Constant(), np.ones((2, 64)), image_shape=(8, 8), patch_size=4,
                                 device="cpu")
    assert res.counts.tolist() == [1, 1] and res.sets == [[()], [()]]


def test_skorch_cnn_on_digits():
    from sklearn.datasets import load_digits
    from skorch import NeuralNetClassifier

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 8, 8)),
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(8 * 16, 10),
    )
    net = NeuralNetClassifier(module, criterion=torch.nn.CrossEntropyLoss,
                              optimizer=torch.optim.Adam, lr=1e-2, max_epochs=2,
                              batch_size=128, train_split=None, verbose=0).fit(X, y)
    rows = X[:3]
    res = count_sub_explanations(net, rows, image_shape=(1, 8, 8), patch_size=2, beam_width=3,
                                 device="cpu")
    assert res.counts.shape == (3,) and np.all(res.counts >= 1)
    np.testing.assert_array_equal(res.targets, net.predict(rows))
    np.testing.assert_allclose(res.full_scores, net.predict_proba(rows).max(1), rtol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    ({"threshold": 0.0}, "threshold"),
    ({"threshold": 1.5}, "threshold"),
    ({"threshold": "high"}, "threshold"),
    ({"patch_size": 3}, "patch_size"),
    ({"patch_size": None}, "patch_size"),
    ({"image_shape": (8, 7)}, "image_shape"),
    ({"beam_width": 0}, "beam_width"),
    ({"max_size": 0}, "max_size"),
    ({"attributions": np.zeros((2, 64))}, "attributions"),
    ({"baseline": np.zeros(5)}, "baseline"),
])
def test_bad_input(kwargs, match):
    fn, _ = RULES["or"]
    args = {"image_shape": (8, 8), "patch_size": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        count_sub_explanations(PatchLogic(fn), np.ones((1, 64)), device="cpu", **args)
