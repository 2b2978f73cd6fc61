"""SAMP against closed forms on small torch models: paths, greedy order, completeness, params."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklxai_samp import SAMP

import sklxai

DIRECTIONS = ["both", "deletion", "insertion"]


def _linear(d=4, k=3, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(d, k).double()


def _tanh_mlp(d=8, seed=0, scale=3.0):
    """A smooth, clearly nonlinear model with one output."""
    torch.manual_seed(seed)
    mlp = torch.nn.Sequential(torch.nn.Linear(d, 32), torch.nn.Tanh(),
                              torch.nn.Linear(32, 1)).double()
    with torch.no_grad():
        mlp[0].weight.mul_(scale)
    return mlp


class FixedLinear(torch.nn.Module):
    """f(x) = x @ w, one output, with known weights."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.as_tensor(w, dtype=torch.float64)[:, None])

    def forward(self, X):
        return X @ self.w


def _record_points(samp):
    """Wrap the instance's gradient call so that every evaluated point is kept, in order."""
    calls = []
    inner = samp._target_gradient

    def recorder(P, targets):
        calls.append(P.detach().double().cpu().numpy().copy())
        return inner(P, targets)

    samp._target_gradient = recorder
    return calls


# ---------------------------------------------------------------------- plugin
def test_registered_as_a_plugin():
    info = sklxai.list_explainers(refresh=True)["samp"]
    assert info.distribution == "sklxai-samp"
    assert info.version == "0.1.0"
    assert sklxai.get_explainer("samp") is SAMP
    assert issubclass(SAMP, sklxai.GradientExplainer)


# ---------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("quadrature", ["trapezoid", "left"])
@pytest.mark.parametrize("k", [None, 1, 3, 10])
def test_linear_model_gives_w_times_x_minus_b_on_every_path(direction, quadrature, k):
    lin = _linear()
    rng = np.random.default_rng(0)
    X, bg = rng.normal(size=(30, 4)), rng.normal(size=(7, 4))
    W = lin.weight.detach().numpy()
    samp = SAMP(lin, background=bg, baseline="mean", target=2, n_steps=5, direction=direction,
                quadrature=quadrature, n_features_per_step=k, device="cpu").fit(X)
    exp = samp.explain(X[:6])
    b = bg.mean(axis=0)
    # each feature travels from x_i to b_i exactly once in total, whatever the greedy order
    np.testing.assert_allclose(exp.values, (X[:6] - b) * W[2], atol=1e-12)
    assert exp.diagnostics["completeness_gap"].max() < 1e-10
    assert exp.efficiency_gap < 1e-10
    np.testing.assert_allclose(exp.base_values, b @ W[2] + lin.bias.detach().numpy()[2])


def test_baseline_options():
    lin = _linear()
    rng = np.random.default_rng(4)
    X, bg = rng.normal(size=(20, 4)), rng.normal(size=(5, 4))
    W2 = lin.weight.detach().numpy()[2]
    row = np.array([1.0, -1.0, 0.5, 2.0])
    B = rng.normal(size=(3, 4))
    cases = [("zeros", np.zeros(4)), ("mean", bg.mean(axis=0)), (row, row), (B, B)]
    for baseline, b in cases:
        samp = SAMP(lin, background=bg, baseline=baseline, target=2, n_steps=4,
                    device="cpu").fit(X)
        np.testing.assert_allclose(samp.explain(X[:3]).values, (X[:3] - b) * W2, atol=1e-12)
    assert SAMP(lin).get_params()["baseline"] == "zeros"


def test_both_is_the_mean_of_deletion_and_insertion():
    mlp = _tanh_mlp()
    X = np.random.default_rng(1).normal(size=(12, 8))
    vals = {d: SAMP(mlp, n_steps=20, direction=d, device="cpu").fit(X).explain(X).values
            for d in DIRECTIONS}
    np.testing.assert_allclose(vals["both"], (vals["deletion"] + vals["insertion"]) / 2,
                               atol=1e-12)
    # on a nonlinear model the two greedy paths really differ
    assert np.abs(vals["deletion"] - vals["insertion"]).max() > 1e-3


# ---------------------------------------------------------------------- the greedy path
def test_greedy_order_moves_the_salient_features_first():
    # f = x @ w, x = 1, b = 0; budget eta = ||x||_1 / 4 = 1 = one whole feature per step.
    # Deletion lowers f fastest by removing the largest positive weight first, insertion raises
    # it fastest by inserting it first; the negative weight comes last on both paths.
    w = [5.0, -4.0, 1.0, 0.5]
    x = np.ones((1, 4))
    samp = SAMP(FixedLinear(w), n_steps=4, n_features_per_step=1, device="cpu").fit(x)
    calls = _record_points(samp)
    samp.explain(x)
    dele = np.array([[1, 1, 1, 1], [0, 1, 1, 1], [0, 1, 0, 1], [0, 1, 0, 0], [0, 0, 0, 0]])
    # each call holds the (deletion, insertion) points of the unfinished paths
    assert len(calls) == 5  # 4 steps + the end points' gradients (trapezoid rule)
    for t, P in enumerate(calls):
        np.testing.assert_array_equal(P, np.stack([dele[t], 1 - dele[t]]))
    np.testing.assert_allclose(samp.explain(x).values, [w], atol=1e-12)


def test_a_dominant_feature_moves_alone_in_the_first_step():
    # a nonlinear model where feature 0 dominates: after step 1, only it has moved
    class Dominant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

        def forward(self, X):
            return (torch.tanh(3 * X[:, :1]) * 4 + 0.1 * torch.sin(X[:, 1:]).sum(1, keepdim=True)
                    + self.p)

    x = np.full((1, 6), 0.8)
    samp = SAMP(Dominant(), n_steps=6, n_features_per_step=1, direction="deletion",
                device="cpu").fit(x)
    calls = _record_points(samp)
    samp.explain(x)
    moved = np.flatnonzero(calls[1][0] != x[0])
    assert list(moved) == [0]
    assert calls[1][0, 0] == 0.0  # the whole feature fits the budget eta = 0.8


def test_infinitesimal_constraint_bounds_every_step():
    # with a budget smaller than the salient features, moves are scaled down to L1 = eta
    mlp = _tanh_mlp(d=6)
    X = np.random.default_rng(2).normal(size=(5, 6))
    n_steps = 12
    samp = SAMP(mlp, n_steps=n_steps, n_features_per_step=2, direction="insertion",
                device="cpu").fit(X)
    calls = _record_points(samp)
    exp = samp.explain(X)
    eta = np.abs(X).sum(axis=1) / n_steps
    # a path needs at least n_steps steps (each spends <= eta of n_steps * eta), so all five
    # rows are still there at the first n_steps calls (later, finished rows drop out)
    for t in range(1, n_steps):
        move = calls[t] - calls[t - 1]
        assert np.all(np.abs(move).sum(axis=1) <= eta * (1 + 1e-9))
        assert np.all(np.count_nonzero(move, axis=1) <= 2)
    np.testing.assert_allclose(np.abs(calls[1] - calls[0]).sum(axis=1), eta, rtol=1e-9)
    # one call per step of the paths still walking, and one more (the trapezoid rule's)
    # closing the last ones
    steps = exp.diagnostics["path_steps"]
    assert steps.shape == (5,) and steps.max() == len(calls) - 1 and steps.min() >= n_steps
    assert steps.max() <= n_steps + 3 + 1


def test_rows_at_their_baseline_and_large_k():
    lin = _linear()
    X = np.random.default_rng(5).normal(size=(4, 4))
    X[1] = 0.0  # x == b: an empty path, zero attributions
    W = lin.weight.detach().numpy()
    exp = SAMP(lin, target=0, n_features_per_step=50, n_steps=3, device="cpu").fit(X).explain(X)
    np.testing.assert_allclose(exp.values, X * W[0], atol=1e-12)
    assert np.all(exp.values[1] == 0)


# ---------------------------------------------------------------------- completeness, momentum
def test_completeness_gap_is_small_on_a_nonlinear_model_and_shrinks_with_steps():
    mlp = _tanh_mlp()
    X = np.random.default_rng(0).normal(size=(10, 8))
    fx = mlp(torch.as_tensor(X)).detach().numpy()[:, 0]
    f0 = mlp(torch.zeros(1, 8, dtype=torch.float64)).detach().numpy()[0, 0]
    gaps = {}
    for n_steps in (10, 100):
        samp = SAMP(mlp, n_steps=n_steps, device="cpu").fit(X)
        fitted = dict(vars(samp))
        exp = samp.explain(X)
        assert vars(samp) == fitted  # the diagnostics are the explanation's
        # independent check of the reported gap
        gap = np.abs(exp.values.sum(1) - (fx - f0)) / np.maximum(np.abs(fx - f0), 1e-6)
        np.testing.assert_allclose(exp.diagnostics["completeness_gap"], gap, rtol=1e-6,
                                   atol=1e-12)
        gaps[n_steps] = gap.max()
    assert gaps[100] < 5e-3
    assert gaps[100] < gaps[10] / 10  # second order in the step length
    left = SAMP(mlp, n_steps=100, quadrature="left", device="cpu").fit(X)
    left_gaps = left.explain(X).diagnostics["completeness_gap"]
    # the reference code's left rule is only first order: far larger gaps at the same cost
    assert left_gaps.max() > 10 * gaps[100]


def test_momentum_changes_the_path_but_keeps_completeness():
    mlp = _tanh_mlp()
    X = np.random.default_rng(0).normal(size=(10, 8))
    vals = {}
    for mom in (0.0, 0.9):
        samp = SAMP(mlp, n_steps=100, n_features_per_step=1, momentum=mom,
                    device="cpu").fit(X)
        exp = samp.explain(X)
        vals[mom] = exp.values
        assert exp.diagnostics["completeness_gap"].max() < 5e-3
    assert np.abs(vals[0.9] - vals[0.0]).max() > 0.05


# ---------------------------------------------------------------------- targets, API
def test_target_none_explains_the_predicted_output():
    lin = _linear()
    X = np.random.default_rng(2).normal(size=(40, 4))
    samp = SAMP(lin, n_steps=4, device="cpu").fit(X)
    exp = samp.explain(X)
    W, bias = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    fx = X @ W.T + bias
    pred = fx.argmax(axis=1)
    assert len(set(pred)) > 1
    assert exp.values.shape == (40, 4) and exp.base_values.shape == (40,)
    np.testing.assert_allclose(exp.values, X * W[pred], atol=1e-12)
    np.testing.assert_allclose(exp.output, fx[np.arange(40), pred], atol=1e-12)
    np.testing.assert_allclose(exp.base_values, bias[pred], atol=1e-12)
    assert samp.transform(X).shape == (40, 4)
    assert list(samp.get_feature_names_out()) == ["x0", "x1", "x2", "x3"]


def test_int_and_per_row_targets():
    lin = _linear()
    X = np.random.default_rng(3).normal(size=(10, 4))
    W = lin.weight.detach().numpy()
    exp = SAMP(lin, target=1, n_steps=4, device="cpu").fit(X).explain(X)
    np.testing.assert_allclose(exp.values, X * W[1], atol=1e-12)
    assert exp.output_names == [1]
    t = np.arange(10) % 3
    samp = SAMP(lin, target=t, n_steps=4, device="cpu").fit(X)
    np.testing.assert_allclose(samp.explain(X).values, X * W[t], atol=1e-12)
    with pytest.raises(ValueError, match="out of range"):
        SAMP(lin, target=5, device="cpu").fit(X)
    with pytest.raises(ValueError, match="one output"):
        samp.explain(X[:3])


def test_chunking_and_determinism():
    mlp = _tanh_mlp()
    X = np.random.default_rng(6).normal(size=(9, 8))
    a = SAMP(mlp, n_steps=15, momentum=0.5, random_state=0, device="cpu").fit(X).explain(X)
    b = SAMP(mlp, n_steps=15, momentum=0.5, random_state=0, internal_batch_size=4,
             device="cpu").fit(X).explain(X)
    np.testing.assert_allclose(a.values, b.values, atol=1e-12)
    c = SAMP(mlp, n_steps=15, momentum=0.5, random_state=0, device="cpu").fit(X).explain(X)
    np.testing.assert_array_equal(a.values, c.values)


def test_clone_and_get_params():
    lin = _linear()
    samp = SAMP(lin, n_steps=7, n_features_per_step=2, direction="deletion", momentum=0.3,
                quadrature="left", internal_batch_size=11)
    params = samp.get_params()
    expected = {"n_steps": 7, "n_features_per_step": 2, "direction": "deletion",
                "momentum": 0.3, "quadrature": "left", "internal_batch_size": 11,
                "baseline": "zeros"}
    assert {name: params[name] for name in expected} == expected
    twin = clone(samp)
    assert twin.get_params() == params and twin is not samp
    twin.set_params(n_steps=9)
    assert twin.n_steps == 9 and samp.n_steps == 7


@pytest.mark.parametrize("param, value, match", [
    ("n_steps", 0, "n_steps"),
    ("n_features_per_step", 0, "n_features_per_step"),
    ("internal_batch_size", -1, "internal_batch_size"),
    ("direction", "sideways", "direction must be one of"),
    ("quadrature", "simpson", "quadrature must be one of"),
    ("momentum", 1.0, "momentum must be"),
    ("momentum", -0.1, "momentum must be"),
    ("momentum", "high", "momentum must be"),
    ("baseline", "blur", "baseline must be"),
])
def test_bad_parameters_raise_valueerror_naming_them(param, value, match):
    X = np.random.default_rng(0).normal(size=(5, 4))
    samp = SAMP(_linear(), device="cpu").set_params(**{param: value})
    assert getattr(samp, param) == value  # stored unchanged
    with pytest.raises(ValueError, match=match):
        samp.fit(X)


def test_scikit_learn_model_raises_typeerror():
    X = np.random.default_rng(0).normal(size=(30, 4))
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(TypeError, match="needs gradients"):
        SAMP(LogisticRegression().fit(X, y), device="cpu").fit(X)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_the_closed_form():
    lin = _linear()
    X = np.random.default_rng(7).normal(size=(50, 4))
    W = lin.weight.detach().numpy()
    samp = SAMP(lin, target=1, n_steps=6, device="cuda").fit(X)
    np.testing.assert_allclose(samp.explain(X).values, X * W[1], atol=1e-10)


def test_pipeline_with_a_dataframe_explains_raw_columns():
    import pandas as pd
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from skorch import NeuralNetClassifier

    rng = np.random.default_rng(8)
    X = pd.DataFrame(rng.normal(size=(120, 4)) * [1, 10, 100, 0.1],
                     columns=["a", "b", "c", "d"]).astype("float32")
    y = (X["a"] + X["b"] / 10 > 0).to_numpy().astype(np.int64)
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)),
        criterion=torch.nn.CrossEntropyLoss, max_epochs=3, lr=0.1, train_split=None, verbose=0)
    pipe = make_pipeline(StandardScaler(), net).fit(X, y)
    samp = SAMP(pipe, baseline="mean", n_steps=40, device="cpu").fit(X)
    assert samp.prepared_.fast_path  # the path runs in model space, on the fast path
    exp = samp.explain(X.iloc[:6])
    assert exp.values.shape == (6, 4) and list(exp.feature_names) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(exp.output, pipe.predict_proba(X.iloc[:6]).max(axis=1),
                               rtol=1e-5)
    np.testing.assert_allclose(exp.values.sum(1), exp.output - exp.base_values, atol=1e-3)
