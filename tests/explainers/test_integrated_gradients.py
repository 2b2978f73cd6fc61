"""IntegratedGradients against closed-form path integrals, and on a skorch CNN on digits."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from sklxai import Explanation
from sklxai.explainers.integrated_gradients import IntegratedGradients, quadrature

METHODS = ["gausslegendre", "riemann_trapezoid", "riemann_middle", "riemann_left",
           "riemann_right"]


class Power(torch.nn.Module):
    """f(x) = sum_i x_i ** p (one output): IG_i = x_i**p - b_i**p on the straight path."""

    def __init__(self, p):
        super().__init__()
        self.p = p
        # a float64 parameter makes the adapter feed float64 inputs (exact comparisons)
        self.unused = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, X):
        return (X**self.p).sum(dim=1, keepdim=True)


def _linear(d=4, k=3):
    torch.manual_seed(0)
    return torch.nn.Linear(d, k).double()


@pytest.fixture(scope="module")
def digits_cnn():
    from skorch import NeuralNetClassifier

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 8, 8)), torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(8 * 16, 10))
    net = NeuralNetClassifier(cnn, criterion=torch.nn.CrossEntropyLoss,
                              optimizer=torch.optim.Adam, lr=0.01, max_epochs=2,
                              train_split=None, verbose=0).fit(X[:1400], y[:1400])
    return net, X


def test_quadrature_rules_integrate_on_unit_interval():
    for method in METHODS:
        a, w = quadrature(16, method)
        assert a.shape == w.shape == (16,)
        assert np.isclose(w.sum(), 1.0) and a.min() >= 0 and a.max() <= 1
    a, w = quadrature(5, "gausslegendre")  # exact up to degree 9
    assert np.isclose((w * a**9).sum(), 0.1)
    with pytest.raises(ValueError, match="n_steps >= 2"):
        quadrature(1, "riemann_trapezoid")
    with pytest.raises(ValueError, match="method must be one of"):
        quadrature(4, "simpson")


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n_steps", [2, 7])
def test_linear_model_is_exact_for_any_rule(method, n_steps):
    lin = _linear()
    X = np.random.default_rng(0).normal(size=(30, 4))
    W = lin.weight.detach().numpy()
    ig = IntegratedGradients(lin, n_steps=n_steps, method=method, target=2, device="cpu",
                             random_state=0).fit(X)
    exp = ig.explain(X[:5])
    b = ig.background_.mean(axis=0)
    np.testing.assert_allclose(exp.values, (X[:5] - b) * W[2], atol=1e-12)
    assert exp.diagnostics["completeness_gap"].shape == (5,)
    assert exp.diagnostics["completeness_gap"].max() < 1e-10
    assert exp.efficiency_gap < 1e-10


def test_quadratic_and_quartic_closed_forms():
    rng = np.random.default_rng(1)
    X, b = rng.normal(size=(6, 5)), rng.normal(size=5)
    # sum x^2: the integrand is linear in alpha, exact for midpoint, trapezoid, Gauss-Legendre
    for method in ("gausslegendre", "riemann_trapezoid", "riemann_middle"):
        ig = IntegratedGradients(Power(2), baseline=b, n_steps=3, method=method,
                                 device="cpu").fit(X)
        np.testing.assert_allclose(ig.explain(X).values, X**2 - b**2, atol=1e-12)
    # left Riemann is biased on it: error (x-b)^2 / m, vanishing as the steps grow
    for m in (4, 40):
        ig = IntegratedGradients(Power(2), baseline=b, n_steps=m, method="riemann_left",
                                 device="cpu").fit(X)
        np.testing.assert_allclose(ig.explain(X).values, X**2 - b**2 - (X - b) ** 2 / m,
                                   atol=1e-12)
    # sum x^4: a cubic integrand, exact with 2 Gauss-Legendre nodes
    ig = IntegratedGradients(Power(4), baseline=b, n_steps=2, device="cpu").fit(X)
    exp = ig.explain(X)
    np.testing.assert_allclose(exp.values, X**4 - b**4, atol=1e-10)
    np.testing.assert_allclose(exp.output, (X**4).sum(1))
    np.testing.assert_allclose(exp.base_values, np.full(6, (b**4).sum()))


def test_target_none_explains_the_predicted_output():
    lin = _linear()
    X = np.random.default_rng(2).normal(size=(40, 4))
    ig = IntegratedGradients(lin, baseline="zeros", device="cpu").fit(X)
    exp = ig.explain(X)
    W = lin.weight.detach().numpy()
    fx = X @ W.T + lin.bias.detach().numpy()
    pred = fx.argmax(axis=1)
    assert len(set(pred)) > 1
    assert exp.values.shape == (40, 4) and exp.base_values.shape == (40,)
    np.testing.assert_allclose(exp.values, X * W[pred], atol=1e-12)
    np.testing.assert_allclose(exp.output, fx[np.arange(40), pred], atol=1e-12)
    np.testing.assert_allclose(exp.base_values, lin.bias.detach().numpy()[pred], atol=1e-12)
    assert ig.transform(X).shape == (40, 4)
    assert list(ig.get_feature_names_out()) == ["x0", "x1", "x2", "x3"]


def test_int_and_per_row_targets():
    lin = _linear()
    X = np.random.default_rng(3).normal(size=(10, 4))
    W = lin.weight.detach().numpy()
    exp = IntegratedGradients(lin, baseline="zeros", target=1, device="cpu").fit(X).explain(X)
    np.testing.assert_allclose(exp.values, X * W[1], atol=1e-12)
    assert exp.output_names == [1]
    t = np.arange(10) % 3
    ig = IntegratedGradients(lin, baseline="zeros", target=t, device="cpu").fit(X)
    np.testing.assert_allclose(ig.explain(X).values, X * W[t], atol=1e-12)
    with pytest.raises(ValueError, match="out of range"):
        IntegratedGradients(lin, target=5, device="cpu").fit(X)
    with pytest.raises(ValueError, match="one output"):
        ig.explain(X[:3])


def test_baseline_options():
    lin = _linear()
    rng = np.random.default_rng(4)
    X, bg = rng.normal(size=(20, 4)), rng.normal(size=(5, 4))
    W2 = lin.weight.detach().numpy()[2]
    cases = {
        "mean": bg.mean(axis=0),
        "zeros": np.zeros(4),
        "row": np.array([1.0, -1.0, 0.5, 2.0]),
    }
    for name, b in cases.items():
        baseline = b if name == "row" else name
        ig = IntegratedGradients(lin, background=bg, baseline=baseline, target=2,
                                 device="cpu").fit(X)
        np.testing.assert_allclose(ig.explain(X[:3]).values, (X[:3] - b) * W2, atol=1e-12)
    B = rng.normal(size=(3, 4))
    ig = IntegratedGradients(lin, baseline=B, target=2, device="cpu").fit(X)
    np.testing.assert_allclose(ig.explain(X[:3]).values, (X[:3] - B) * W2, atol=1e-12)
    with pytest.raises(ValueError, match="one baseline row per"):
        ig.explain(X[:4])
    with pytest.raises(ValueError, match="baseline must be"):
        IntegratedGradients(lin, baseline="median", device="cpu").fit(X)
    with pytest.raises(ValueError, match="baseline has 3 features"):
        IntegratedGradients(lin, baseline=np.zeros(3), device="cpu").fit(X)


def test_batching_does_not_change_values():
    X = np.random.default_rng(5).normal(size=(7, 5))
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(),
                                torch.nn.Linear(8, 3)).double()
    ref = IntegratedGradients(model, n_steps=9, device="cpu", random_state=0).fit(X).explain(X)
    small = IntegratedGradients(model, n_steps=9, internal_batch_size=4, batch_size=3,
                                device="cpu", random_state=0).fit(X).explain(X)
    np.testing.assert_allclose(small.values, ref.values, atol=1e-12)
    np.testing.assert_allclose(small.output, ref.output, atol=1e-12)


def test_sklearn_model_is_refused_with_a_pointer_to_kernelshap():
    X = np.random.default_rng(6).normal(size=(30, 3))
    clf = LogisticRegression().fit(X, X[:, 0] > 0)
    with pytest.raises(TypeError, match="differentiable.*KernelSHAP"):
        IntegratedGradients(clf, device="cpu").fit(X)


def test_params_are_stored_unchanged_and_clone():
    lin = _linear()
    ig = IntegratedGradients(lin, baseline="zeros", n_steps=7, method="riemann_middle",
                             internal_batch_size=11, device="cpu")
    params = ig.get_params()
    assert params["n_steps"] == 7 and params["method"] == "riemann_middle"
    assert params["internal_batch_size"] == 11 and params["baseline"] == "zeros"
    assert clone(ig).get_params()["n_steps"] == 7
    with pytest.raises(ValueError, match="method must be one of"):
        IntegratedGradients(lin, method="simpson", device="cpu").fit(np.zeros((3, 4)))


def test_skorch_cnn_on_digits_completeness(digits_cnn):
    net, X = digits_cnn
    rows = X[1400:1500]
    gaps = {}
    for m in (8, 64):
        ig = IntegratedGradients(net, n_steps=m, device="cpu", random_state=0).fit(X[:1400])
        exp = ig.explain(rows)
        gaps[m] = exp.diagnostics["completeness_gap"].max()
    assert gaps[64] < gaps[8]
    assert gaps[64] < 0.01  # measured 0.53%
    # the predicted class is explained, with values in the flattened image layout
    pred = net.predict_proba(rows).argmax(axis=1)
    np.testing.assert_allclose(exp.output, net.predict_proba(rows)[np.arange(100), pred],
                               rtol=1e-5)
    assert exp.values.shape == (100, 64)
    assert exp.values.reshape(100, 1, 8, 8).shape == (100, 1, 8, 8)
    delta = exp.output - exp.base_values
    np.testing.assert_allclose(exp.values.sum(axis=1), delta, atol=0.01 * np.abs(delta).max())
    # the gap of each row, from the values, f(x) and f(b) themselves
    expected = np.abs(exp.values.sum(axis=1) - delta) / np.maximum(np.abs(delta), 1e-6)
    np.testing.assert_allclose(exp.diagnostics["completeness_gap"], expected, rtol=1e-9,
                               atol=1e-15)
    np.testing.assert_allclose(exp[10:20].diagnostics["completeness_gap"], expected[10:20],
                               rtol=1e-9, atol=1e-15)


def test_column_wise_pipeline_attributes_raw_columns():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from skorch import NeuralNetClassifier

    X = np.random.default_rng(7).normal(loc=3.0, scale=2.0, size=(80, 4)).astype(np.float32)
    y = (X[:, 0] > 3).astype(np.int64)
    torch.manual_seed(0)
    net = NeuralNetClassifier(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                                  torch.nn.Linear(8, 2)),
                              criterion=torch.nn.CrossEntropyLoss, max_epochs=2, lr=0.05,
                              train_split=None, verbose=0)
    pipe = make_pipeline(StandardScaler(), net).fit(X, y)
    ig = IntegratedGradients(pipe, baseline="zeros", device="cpu").fit(X)
    exp = ig.explain(X[:5])
    # StandardScaler maps each raw column to one model column: IG is taken in model space
    Z = pipe[0].transform(X[:5])
    ref = IntegratedGradients(pipe[-1], baseline="zeros", device="cpu").fit(Z).explain(Z)
    np.testing.assert_allclose(exp.values, ref.values, rtol=1e-5, atol=1e-7)  # float32 net
    np.testing.assert_allclose(exp.output, ref.output, rtol=1e-5)
    assert exp.diagnostics["completeness_gap"].max() < 1e-3


def test_explain_writes_nothing_on_the_explainer_and_the_gaps_travel_with_the_rows():
    """The completeness gaps are the explanation's; explain leaves the estimator as fit left it."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    X = np.random.default_rng(3).normal(size=(40, 3)).astype(np.float32)
    ig = IntegratedGradients(net, n_steps=4, device="cpu", random_state=0).fit(X)
    before = dict(vars(ig))
    exp = ig.explain(X[:6])
    ig.transform(X[:6])
    assert vars(ig).keys() == before.keys()
    assert all(vars(ig)[name] is value for name, value in before.items())
    delta = exp.output - exp.base_values
    gaps = np.abs(exp.values.sum(axis=1) - delta) / np.maximum(np.abs(delta), 1e-6)
    assert gaps.max() > 1e-6  # four nodes leave a gap on a tanh network
    np.testing.assert_allclose(exp.diagnostics["completeness_gap"], gaps, rtol=1e-6)
    both = Explanation.concat([exp[4], exp[:4], exp[5:]])
    np.testing.assert_allclose(both.diagnostics["completeness_gap"], gaps[[4, 0, 1, 2, 3, 5]],
                               rtol=1e-6)


def test_out_of_memory_halves_the_points_per_pass_and_keeps_the_values():
    class Fragile(torch.nn.Module):
        """A linear model that 'runs out of memory' above 16 points per pass."""

        def __init__(self):
            super().__init__()
            self.lin = _linear()

        def forward(self, X):
            if X.shape[0] > 16 and X.requires_grad:
                raise torch.OutOfMemoryError("simulated")
            return self.lin(X)

    X = np.random.default_rng(5).normal(size=(12, 4))
    fragile = Fragile()
    ig = IntegratedGradients(fragile, n_steps=8, target=1, internal_batch_size=64,
                             device="cpu").fit(X)
    with pytest.warns(UserWarning, match="out of device memory with 64 points"):
        exp = ig.explain(X)
    assert ig._points_per_pass() == 16  # later passes stay at the size that fitted
    ref = IntegratedGradients(fragile.lin, n_steps=8, target=1, device="cpu").fit(X)
    np.testing.assert_allclose(exp.values, ref.explain(X).values, atol=1e-12)


def test_cpu_passes_hold_16_mib_of_the_largest_layer_output_in_equal_passes():
    """Without a pass size on the CPU, the run for f(x) measures the largest layer output per
    row; passes keep it within 16 MiB, split equally, and the values are one pass's."""
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 64, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(64 * 16 * 16, 3))
    X = np.random.default_rng(7).normal(size=(6, 1, 16, 16)).astype(np.float32)
    ig = IntegratedGradients(cnn, baseline="zeros", n_steps=100, device="cpu").fit(X)
    sizes, run = [], ig._target_gradient
    ig._target_gradient = lambda P, t: sizes.append(P.shape[0]) or run(P, t)
    exp = ig.explain(X)
    # 64 x 16 x 16 float32 values a row (the convolution's output): 64 KiB, so 256 points a
    # pass at most; 6 rows x 100 nodes = 600 points in 3 equal passes
    assert sizes == [200, 200, 200]
    assert "_row_bytes" not in vars(ig)  # the measurement lives for one call
    one = IntegratedGradients(cnn, baseline="zeros", n_steps=100, internal_batch_size=4096,
                              device="cpu").fit(X).explain(X)
    np.testing.assert_allclose(exp.values, one.values, rtol=1e-5, atol=1e-8)
