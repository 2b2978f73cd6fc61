"""GradientSHAP against captum's GradientShap given the same draws, and against closed forms."""

import numpy as np
import pytest
import sklearn
import torch

from sklxai import get_explainer
from sklxai.explainers.gradient_shap import GradientSHAP, _row_draws

captum_attr = pytest.importorskip("captum.attr")


def _captum_with_our_draws(monkeypatch, est, rows, target):
    """captum's GradientShap fed the background rows, path positions and noise our explainer
    draws for ``rows`` (it takes them from numpy's and torch's global random state)."""
    n, S = len(rows), est.n_samples
    d = int(np.prod(rows.shape[1:]))
    nb = est.background_.shape[0]
    draws = [_row_draws(est._seed, r, nb, S) for r in range(n)]
    idx = np.concatenate([i for _, i, _ in draws])
    alpha = np.concatenate([a for _, _, a in draws])
    noise = np.concatenate([g.standard_normal((S, d)) * est.stdevs for g, _, _ in draws])
    monkeypatch.setattr(np.random, "choice", lambda *a, **k: idx)
    monkeypatch.setattr(np.random, "uniform", lambda *a, **k: alpha)

    def add_noise(x, stdev, samples):
        z = torch.as_tensor(noise.reshape(-1, *x.shape[1:]), dtype=x.dtype)
        return x.repeat_interleave(samples, dim=0) + z

    monkeypatch.setattr(captum_attr.NoiseTunnel, "_add_noise_to_input", staticmethod(add_noise))
    bg = torch.as_tensor(est.prepared_.to_input_shape(est.background_), dtype=torch.float32)
    out = captum_attr.GradientShap(est.model_).attribute(
        torch.as_tensor(rows), baselines=bg, n_samples=S, stdevs=est.stdevs, target=target)
    monkeypatch.undo()
    return out.detach().numpy()


@pytest.mark.parametrize("net, shape, stdevs", [("mlp", (30, 5), 0.0), ("mlp", (30, 5), 0.3),
                                                ("cnn", (30, 2, 6, 6), 0.2)])
def test_equal_to_captum_given_the_same_draws(nets, monkeypatch, net, shape, stdevs):
    model = getattr(nets, net)()
    X = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    est = GradientSHAP(model, n_samples=6, stdevs=stdevs, n_background=9, device="cpu",
                       random_state=0).fit(X)
    exp = est.explain(X[:5])
    pred = model(torch.as_tensor(X[:5])).argmax(1)
    ref = _captum_with_our_draws(monkeypatch, est, X[:5], pred)
    assert exp.values.shape == ref.shape == X[:5].shape
    np.testing.assert_allclose(exp.values, ref, rtol=1e-5, atol=1e-6)


def test_linear_model_closed_form_and_standard_errors():
    """On a linear model each term is (x - b) * w: the values are (x - mean of the drawn b) *
    w exactly, (x - E b) * w in expectation, and the standard errors the spread of the terms."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 3).double()
    W = lin.weight.detach().numpy()
    rng = np.random.default_rng(1)
    X, bg = rng.normal(size=(6, 4)), rng.normal(size=(15, 4))
    S = 400
    est = GradientSHAP(lin, background=bg, n_samples=S, target=1, device="cpu",
                       random_state=3).fit(X)
    exp = est.explain(X)
    terms = np.stack([(X[r] - bg[_row_draws(est._seed, r, 15, S)[1]]) * W[1]
                      for r in range(6)])  # (n, S, d)
    np.testing.assert_allclose(exp.values, terms.mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(exp.std_errors, terms.std(axis=1, ddof=1) / np.sqrt(S),
                               rtol=1e-8)
    assert est.std_errors_dof_ == S - 1
    expected = (X - bg.mean(axis=0)) * W[1]  # the expectation over b
    assert (np.abs(exp.values - expected) < 4 * exp.std_errors + 1e-12).all()
    np.testing.assert_allclose(exp.base_values, np.full(6, (bg @ W[1]).mean()
                                                        + lin.bias.detach().numpy()[1]))


def test_completeness_gap_shrinks_with_n_samples(nets):
    model = nets.mlp().double()
    X = np.random.default_rng(2).normal(size=(40, 5))
    gaps = {}
    for S in (4, 256):
        est = GradientSHAP(model, n_samples=S, n_background=20, device="cpu",
                           random_state=0).fit(X)
        exp = est.explain(X[:8])
        b = est._model_rows(est.background_)
        pred = model(torch.as_tensor(X[:8])).argmax(1).numpy()
        f_b = model(torch.as_tensor(b)).detach().numpy().mean(axis=0)[pred]  # E_b f(b)
        np.testing.assert_allclose(exp.base_values, f_b, rtol=1e-12)
        delta = exp.output - f_b
        gap = np.abs(exp.values.sum(1) - delta) / np.maximum(np.abs(delta), 1e-6)
        np.testing.assert_allclose(exp.diagnostics["completeness_gap"], gap, rtol=1e-9)
        gaps[S] = np.median(gap)
    assert gaps[256] < gaps[4] / 3


def test_chunking_by_memory_budget_and_passes_does_not_change_values(nets):
    model = nets.mlp().double()
    X = np.random.default_rng(3).normal(size=(20, 5))
    kw = {"n_samples": 7, "stdevs": 0.1, "n_background": 10, "device": "cpu",
          "random_state": 0}
    ref = GradientSHAP(model, **kw).fit(X).explain(X[:4])
    with sklearn.config_context(working_memory=5 * 8 * 8 * 8 / 2**20):  # 5 points per chunk
        small = GradientSHAP(model, internal_batch_size=3, **kw).fit(X).explain(X[:4])
    np.testing.assert_allclose(small.values, ref.values, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(small.std_errors, ref.std_errors, rtol=1e-9, atol=1e-15)


def test_images_pipeline_registry_and_save_load(nets, tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from skorch import NeuralNetClassifier

    assert get_explainer("gradient_shap") is GradientSHAP
    model = nets.cnn()
    X = np.random.default_rng(4).normal(size=(12, 2, 6, 6)).astype(np.float32)
    est = GradientSHAP(model, n_samples=5, device="cpu", random_state=0).fit(X)
    exp = est.explain(X[:3])
    assert exp.values.shape == exp.std_errors.shape == (3, 2, 6, 6)
    assert exp[1:].std_errors.shape == (2, 2, 6, 6)
    est.save(tmp_path / "gs.pt")
    loaded = GradientSHAP.load(tmp_path / "gs.pt", model, device="cpu")
    np.testing.assert_array_equal(loaded.transform(X[:3]), est.transform(X[:3]))
    one = GradientSHAP(model, n_samples=1, device="cpu", random_state=0).fit(X).explain(X[:2])
    assert one.std_errors is None
    # a column-wise Pipeline: values and standard errors of the raw columns
    Xt = np.random.default_rng(5).normal(loc=2.0, size=(30, 5)).astype(np.float32)
    net = NeuralNetClassifier(nets.mlp(), criterion=torch.nn.CrossEntropyLoss, max_epochs=1,
                              train_split=None, verbose=0)
    pipe = make_pipeline(StandardScaler(), net).fit(Xt, np.arange(30) % 3)
    a = GradientSHAP(pipe, n_samples=6, n_background=8, device="cpu", random_state=0).fit(Xt)
    Z = pipe[0].transform(Xt)
    b = GradientSHAP(pipe[-1], n_samples=6, background=a._model_rows(a.background_),
                     device="cpu", random_state=0).fit(Z)
    b._seed = a._seed  # the same draws
    ea, eb = a.explain(Xt[:4]), b.explain(Z[:4])
    np.testing.assert_allclose(ea.values, eb.values, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ea.std_errors, eb.std_errors, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="stdevs must be a number"):
        GradientSHAP(model, stdevs=-1.0, device="cpu").fit(X)


def test_out_of_memory_halves_the_passes_and_keeps_the_values():
    class Fragile(torch.nn.Module):
        """A linear model that 'runs out of memory' above 16 points per backward pass."""

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.lin = torch.nn.Linear(4, 2).double()

        def forward(self, X):
            if X.shape[0] > 16 and X.requires_grad:
                raise torch.OutOfMemoryError("simulated")
            return self.lin(X)

    X = np.random.default_rng(6).normal(size=(12, 4))
    fragile = Fragile()
    kw = {"n_samples": 10, "target": 1, "device": "cpu", "random_state": 0}
    est = GradientSHAP(fragile, internal_batch_size=64, **kw).fit(X)
    with pytest.warns(UserWarning, match="out of device memory") as record:
        exp = est.explain(X[:5])  # 5 rows x 10 samples: one pass of 50, then 25, then 12
    assert "with 50 points" in str(record[0].message)
    assert est._points_per_pass() == 12
    ref = GradientSHAP(fragile.lin, **kw).fit(X).explain(X[:5])
    np.testing.assert_allclose(exp.values, ref.values, atol=1e-12)
