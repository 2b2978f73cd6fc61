"""Deletion/insertion curves checked against closed forms computed independently in numpy."""

import numpy as np
import pytest
import torch

from sklxai import Explanation
from sklxai.metrics import deletion_auc, deletion_curve, insertion_auc, insertion_curve


def linear(W, b):
    """A float64 torch Linear with weights W (k, d) and bias b (k,): exact arithmetic."""
    W, b = np.atleast_2d(W), np.atleast_1d(b)
    m = torch.nn.Linear(W.shape[1], W.shape[0]).double()
    with torch.no_grad():
        m.weight.copy_(torch.as_tensor(W))
        m.bias.copy_(torch.as_tensor(b))
    return m


def reference_curves(contrib, attr, f_full, f_base):
    """Deletion/insertion curves of an additive model by cumulative sums (no sklxai code)."""
    n, d = contrib.shape
    dele, ins = np.empty((n, d + 1)), np.empty((n, d + 1))
    for i in range(n):
        order = sorted(range(d), key=lambda j: (-attr[i, j], j))  # ties: lower index first
        removed = np.concatenate([[0.0], np.cumsum(contrib[i, order])])
        dele[i] = f_full[i] - removed
        ins[i] = f_base[i] + removed
    return dele, ins


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    n, d = 6, 7
    w, bias = rng.normal(size=d), 0.3
    X = rng.normal(size=(n, d))
    return linear(w, bias), X, w, bias


def test_linear_deletion_and_insertion_match_closed_form(problem):
    model, X, w, bias = problem
    rng = np.random.default_rng(1)
    for attr in (X * w, -(X * w), rng.normal(size=X.shape)):
        contrib = X * w
        f_full = contrib.sum(1) + bias
        dele_ref, ins_ref = reference_curves(contrib, attr, f_full, np.full(len(X), bias))
        frac, dele = deletion_curve(model, X, attr, device="cpu")
        np.testing.assert_allclose(frac, np.linspace(0, 1, X.shape[1] + 1))
        np.testing.assert_allclose(dele, dele_ref, atol=1e-12)
        frac, ins = insertion_curve(model, X, attr, device="cpu")
        np.testing.assert_allclose(ins, ins_ref, atol=1e-12)
        np.testing.assert_allclose(deletion_auc(model, X, attr, device="cpu"),
                                   np.trapezoid(dele_ref, frac, axis=1), atol=1e-12)
        np.testing.assert_allclose(insertion_auc(model, X, attr, device="cpu"),
                                   np.trapezoid(ins_ref, frac, axis=1), atol=1e-12)


def test_true_contributions_beat_negation_and_random(problem):
    model, X, w, _ = problem
    exact = X * w
    random = np.random.default_rng(2).normal(size=X.shape)
    d_exact, d_neg, d_rand = (deletion_auc(model, X, a, device="cpu") for a in
                              (exact, -exact, random))
    i_exact, i_neg, i_rand = (insertion_auc(model, X, a, device="cpu") for a in
                              (exact, -exact, random))
    # the exact order is optimal for an additive model, row by row
    assert np.all(d_exact <= d_rand + 1e-12) and np.all(d_exact < d_neg)
    assert np.all(i_exact >= i_rand - 1e-12) and np.all(i_exact > i_neg)


def test_baseline_array_and_ties(problem):
    model, X, w, bias = problem
    base = np.linspace(-1, 1, X.shape[1])
    contrib = (X - base) * w
    attr = np.zeros_like(X)  # all tied: features go in index order
    f_full = X @ w + bias
    dele_ref, ins_ref = reference_curves(contrib, attr, f_full, np.full(len(X), base @ w + bias))
    np.testing.assert_allclose(deletion_curve(model, X, attr, baseline=base, device="cpu")[1],
                               dele_ref, atol=1e-12)
    per_row = np.broadcast_to(base, X.shape)
    np.testing.assert_allclose(insertion_curve(model, X, attr, baseline=per_row,
                                               device="cpu")[1], ins_ref, atol=1e-12)


def test_targets_and_three_dim_explanations():
    rng = np.random.default_rng(3)
    n, d, k = 5, 4, 3
    W, b = rng.normal(size=(k, d)), rng.normal(size=k)
    model, X = linear(W, b), rng.normal(size=(n, d))
    contrib = X[:, :, None] * W.T[None]            # (n, d, k)
    out = X @ W.T + b
    exp = Explanation(contrib, np.tile(b, (n, 1)), X, list("abcd"))
    pred = out.argmax(1)
    for target, t in [(None, pred), (2, np.full(n, 2)), (np.arange(n) % k, np.arange(n) % k)]:
        c = contrib[np.arange(n), :, t]
        ref, _ = reference_curves(c, c, out[np.arange(n), t], b[t])
        for attributions in (exp, c):  # without a target: the predicted output's slice
            _, curve = deletion_curve(model, X, attributions, target=target, device="cpu")
            np.testing.assert_allclose(curve, ref, atol=1e-12)
    assert pred.max() == k - 1  # attributions of the first k - 1 outputs miss a predicted one
    with pytest.raises(ValueError, match="predicted outputs go up to 2"):
        deletion_auc(model, X, contrib[:, :, :k - 1], device="cpu")
    with pytest.raises(ValueError, match="target"):
        deletion_auc(model, X, contrib[:, :, 0], target=k, device="cpu")


def test_coarse_steps_and_chunking(problem):
    model, X, w, _ = problem
    attr = X * w
    _, full = deletion_curve(model, X, attr, device="cpu")
    frac, coarse = deletion_curve(model, X, attr, n_steps=3, device="cpu")
    counts = np.rint(np.linspace(0, 7, 4)).astype(int)
    np.testing.assert_allclose(frac, counts / 7)
    np.testing.assert_allclose(coarse, full[:, counts], atol=1e-12)
    frac, stepped = deletion_curve(model, X, attr, step_size=3, device="cpu")
    np.testing.assert_allclose(frac * 7, [0, 3, 6, 7])
    np.testing.assert_allclose(stepped, full[:, [0, 3, 6, 7]], atol=1e-12)
    frac, _ = deletion_curve(model, X, attr, step_size=0.5, device="cpu")
    np.testing.assert_allclose(frac * 7, [0, 4, 7])
    frac, _ = deletion_curve(model, X, attr, n_steps=100, device="cpu")
    assert len(frac) == 8  # never more points than features
    # tiny batches split rows and steps over many calls: same numbers
    _, small = deletion_curve(model, X, attr, batch_size=3, device="cpu")
    np.testing.assert_allclose(small, full, atol=1e-12)


def test_images_pixels_and_patches():
    rng = np.random.default_rng(4)
    c, h, wd = 2, 4, 4
    d = c * h * wd
    w = rng.normal(size=d)
    model, X = linear(w, 0.0), rng.normal(size=(3, d))
    contrib = (X * w).reshape(3, c, h, wd)
    # pixel locations: all channels of a pixel go together, ranked by the channel sum
    pix = contrib.sum(1).reshape(3, h * wd)
    ref, _ = reference_curves(pix, pix, X @ w, np.zeros(3))
    for attr in (contrib, contrib.reshape(3, d), contrib.sum(1)):  # (n,C,H,W), (n,d), (n,H,W)
        _, curve = deletion_curve(model, X, attr, image_shape=(c, h, wd), device="cpu")
        np.testing.assert_allclose(curve, ref, atol=1e-12)
    # 2x2 patches: 4 players, each the sum over its pixels and channels
    patches = contrib.sum(1).reshape(3, 2, 2, 2, 2).transpose(0, 1, 3, 2, 4).reshape(3, 4, 4)
    pat = patches.sum(2)
    ref, ins_ref = reference_curves(pat, pat, X @ w, np.zeros(3))
    frac, curve = deletion_curve(model, X, contrib, image_shape=(c, h, wd), patch_size=2,
                                 device="cpu")
    np.testing.assert_allclose(frac, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(curve, ref, atol=1e-12)
    _, ins = insertion_curve(model, X, contrib, image_shape=(c, h, wd), patch_size=2,
                             device="cpu")
    np.testing.assert_allclose(ins, ins_ref, atol=1e-12)


def test_skorch_classifier_endpoints():
    from skorch import NeuralNetClassifier

    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    torch.manual_seed(0)
    net = NeuralNetClassifier(torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(),
                                                  torch.nn.Linear(8, 2)),
                              criterion=torch.nn.CrossEntropyLoss, max_epochs=2,
                              train_split=None, verbose=0).fit(X, y)
    rows = X[:4]
    _, curve = deletion_curve(net, rows, rng.normal(size=(4, 5)), device="cpu")
    proba = net.predict_proba(rows)
    pred = proba.argmax(1)
    np.testing.assert_allclose(curve[:, 0], proba[np.arange(4), pred], rtol=1e-5)
    at_zero = net.predict_proba(np.zeros((1, 5), np.float32))[0]
    np.testing.assert_allclose(curve[:, -1], at_zero[pred], rtol=1e-5)
    assert np.all((curve >= 0) & (curve <= 1))


def test_sklearn_estimator():
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(6)
    X = rng.normal(size=(30, 4))
    reg = LinearRegression().fit(X, X @ [1.0, -2.0, 0.5, 3.0])
    attr = X[:5] * reg.coef_
    dele_ref, _ = reference_curves(attr, attr, reg.predict(X[:5]),
                                   np.full(5, reg.intercept_))
    _, curve = deletion_curve(reg, X[:5], attr)
    np.testing.assert_allclose(curve, dele_ref, atol=1e-10)


@pytest.mark.parametrize("kwargs, match", [
    ({"attributions": np.zeros((5, 7))}, "attributions"),           # wrong n
    ({"attributions": np.zeros((6, 6))}, "attributions"),           # wrong d
    ({"attributions": np.zeros(7)}, "attributions"),
    ({"attributions": np.full((6, 7), np.nan)}, "attributions"),
    ({"baseline": np.zeros(3)}, "baseline"),
    ({"n_steps": 3, "step_size": 2}, "n_steps or step_size"),
    ({"step_size": 1.5}, "step_size"),
    ({"n_steps": 0}, "n_steps"),
    ({"patch_size": 2}, "patch_size"),
    ({"image_shape": (2, 3)}, "image_shape"),
    ({"target": 3}, "target"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_input(problem, kwargs, match):
    model, X, w, _ = problem
    kwargs = {"attributions": X * w, **kwargs}
    attributions = kwargs.pop("attributions")
    with pytest.raises(ValueError, match=match):
        deletion_auc(model, X, attributions, device="cpu", **kwargs)


def test_patch_size_must_divide_image():
    model = linear(np.ones(16), 0.0)
    X = np.ones((2, 16))
    with pytest.raises(ValueError, match="patch_size"):
        insertion_auc(model, X, X, image_shape=(4, 4), patch_size=3, device="cpu")
