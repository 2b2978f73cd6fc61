"""Occlusion against captum's, against a brute-force loop over windows, on any model."""

import numpy as np
import pytest
import sklearn
import torch
from sklearn.linear_model import LinearRegression, LogisticRegression

from sklxai import get_explainer
from sklxai.explainers.occlusion import Occlusion

captum_attr = pytest.importorskip("captum.attr")


def _brute_force(f, X, B, window, stride):
    """Tabular occlusion by its definition: a loop over the window positions of each row."""
    n, d = X.shape
    starts = range(0, d - window + stride, stride)  # captum's ceil((d - w) / s) + 1 positions
    total, count = np.zeros((n, d, f(X).shape[1])), np.zeros(d)
    for s in starts:
        cols = np.arange(s, min(s + window, d))
        Z = X.copy()
        Z[:, cols] = B[cols]
        total[:, cols] += (f(X) - f(Z))[:, None, :]
        count[cols] += 1
    return total / count[None, :, None]


@pytest.mark.parametrize("window, stride", [(1, 1), (3, 1), (3, 2), (2, 2), (4, 3), (7, 1)])
def test_tabular_equal_to_captum_and_to_the_definition(nets, window, stride):
    model = nets.mlp(d=7)
    X = np.random.default_rng(0).normal(size=(30, 7)).astype(np.float32)
    est = Occlusion(model, window=window, stride=stride, device="cpu").fit(X)
    exp = est.explain(X[:5])  # every output: (n, d, k)
    assert exp.values.shape == (5, 7, 3)
    occ = captum_attr.Occlusion(model)
    ref = np.stack([occ.attribute(torch.as_tensor(X[:5]), sliding_window_shapes=(window,),
                                  strides=stride, target=t).numpy() for t in range(3)], -1)
    np.testing.assert_allclose(exp.values, ref, rtol=1e-6, atol=1e-6)

    def f(Z):
        return model(torch.as_tensor(Z, dtype=torch.float32)).detach().double().numpy()

    np.testing.assert_allclose(exp.values, _brute_force(f, X[:5], np.zeros(7), window, stride),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("window, stride, captum_window, captum_stride", [
    ((2, 3, 3), 2, (2, 3, 3), 2),
    ((3, 3), (2, 2), (2, 3, 3), (1, 2, 2)),  # (h, w): a patch through every channel
    ((1, 2, 2), (1, 2, 2), (1, 2, 2), (1, 2, 2)),
    ((2, 4, 4), (1, 3, 3), (2, 4, 4), (1, 3, 3)),
])
def test_images_equal_to_captum(nets, window, stride, captum_window, captum_stride):
    model = nets.cnn()
    X = np.random.default_rng(1).normal(size=(10, 2, 6, 6)).astype(np.float32)
    image = np.random.default_rng(2).normal(size=(2, 6, 6)).astype(np.float32)
    for baseline in (0.5, image):
        est = Occlusion(model, window=window, stride=stride, baseline=baseline, target=1,
                        device="cpu").fit(X)
        exp = est.explain(X[:3])
        assert exp.values.shape == (3, 2, 6, 6)
        ref = captum_attr.Occlusion(model).attribute(
            torch.as_tensor(X[:3]), sliding_window_shapes=captum_window, strides=captum_stride,
            baselines=baseline if np.ndim(baseline) == 0 else torch.as_tensor(image[None]),
            target=1).numpy()
        np.testing.assert_allclose(exp.values, ref, rtol=1e-6, atol=1e-6)


def test_linear_model_closed_form_and_scikit_learn_models():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 4))
    w = np.array([1.0, -2.0, 0.5, 3.0])
    lr = LinearRegression().fit(X, X @ w + 1.0)
    bg = X[:10]
    exp = Occlusion(lr, background=bg, baseline="mean", device="cpu").fit(X).explain(X[:5])
    np.testing.assert_allclose(exp.values, (X[:5] - bg.mean(0)) * lr.coef_, atol=1e-12)
    np.testing.assert_allclose(exp.values.sum(1), exp.output - exp.base_values, atol=1e-12)
    # windows of two columns on a linear model: each column gets the mean of the sums of the
    # windows covering it
    exp = Occlusion(lr, window=2, stride=1, device="cpu").fit(X).explain(X[:5])
    t = X[:5] * lr.coef_
    pair = t[:, :-1] + t[:, 1:]  # windows (0,1), (1,2), (2,3)
    expected = np.stack([pair[:, 0], (pair[:, 0] + pair[:, 1]) / 2,
                         (pair[:, 1] + pair[:, 2]) / 2, pair[:, 2]], axis=1)
    np.testing.assert_allclose(exp.values, expected, atol=1e-12)
    # a classifier's probabilities, every output
    clf = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    est = Occlusion(clf, window=2, stride=2, device="cpu").fit(X)
    vals = est.explain(X[:4]).values
    assert vals.shape == (4, 4, 2)
    np.testing.assert_allclose(vals, _brute_force(clf.predict_proba, X[:4], np.zeros(4), 2, 2),
                               atol=1e-12)
    np.testing.assert_allclose(vals.sum(2), 0.0, atol=1e-12)  # probabilities sum to one


def test_chunks_registry_save_load_and_refusals(nets, tmp_path):
    assert get_explainer("occlusion") is Occlusion
    model = nets.mlp(d=7).double()
    X = np.random.default_rng(4).normal(size=(20, 7))
    ref = Occlusion(model, window=3, stride=2, device="cpu").fit(X)
    assert ref.n_windows_ == 3 and ref.window_ == (3,) and ref.stride_ == (2,)
    with sklearn.config_context(working_memory=3 * 3 * 8 * 7 / 2**20):  # 3 pairs per chunk
        small = Occlusion(model, window=3, stride=2, batch_size=2, device="cpu").fit(X)
        np.testing.assert_allclose(small.transform(X[:5]), ref.transform(X[:5]), rtol=1e-12,
                                   atol=1e-15)
    ref.save(tmp_path / "occ.pt")
    loaded = Occlusion.load(tmp_path / "occ.pt", model, device="cpu")
    np.testing.assert_array_equal(loaded.transform(X[:5]), ref.transform(X[:5]))
    for params, error, match in [
        ({"window": 8}, ValueError, "window .* larger than"),
        ({"window": 2, "stride": 3}, ValueError, "stride .* larger than window"),
        ({"window": (2, 2)}, ValueError, "window has 2 dimensions"),
        ({"window": 0}, TypeError, "window must be"),
        ({"stride": "a"}, TypeError, "stride must be"),
        ({"baseline": "median"}, ValueError, "baseline must be"),
    ]:
        with pytest.raises(error, match=match):
            Occlusion(model, device="cpu", **params).fit(X)
    per_row = Occlusion(model, baseline=np.zeros((3, 7)), device="cpu").fit(X)
    assert per_row.explain(X[:3]).values.shape == (3, 7, 3)
    with pytest.raises(ValueError, match="one baseline row per"):
        per_row.explain(X[:4])
