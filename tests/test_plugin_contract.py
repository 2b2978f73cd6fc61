"""The public plugin contract: minimal explainers written against it alone.

They use only what the docstrings of :class:`sklxai.BaseExplainer` and
:class:`sklxai.GradientExplainer` document as extension points: ``_parameter_constraints``,
``_check_params``, ``_fit``, ``_explain``, ``_attribute``, the fitted ``prepared_`` (model
rows, players) and ``adapter_`` (its documented calls on numpy rows and on tensors), plus the
public validators in :mod:`sklxai.utils`. If one of these changes, this test (and every
third-party plugin) breaks.
"""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklxai import BaseExplainer, GradientExplainer
from sklxai.utils import param_validation as pv


class Occlusion(BaseExplainer):
    """phi_i = f(x) - f(x with feature i set to ``fill`` times the background mean)."""

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "fill": pv.real_in(0.0, 1.0, inclusive=(True, True)),
    }

    def __init__(self, model, *, fill=1.0, background=None, n_background=100, target=None,
                 fast_path="auto", device="auto", random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, device=device, random_state=random_state,
                         batch_size=batch_size)
        self.fill = fill

    def _fit(self, X, y):
        self.reference_ = self.fill * self.background_.mean(axis=0)

    def _explain(self, X, rng):
        predict = self.adapter_.predict
        rows = self.prepared_.model_rows
        fx = predict(rows(X))
        values = np.empty((X.shape[0], X.shape[1], fx.shape[1]))
        for i in range(X.shape[1]):
            Z = X.copy()
            Z[:, i] = self.reference_[i]
            values[:, i] = fx - predict(rows(Z))
        base = np.broadcast_to(predict(rows(self.reference_[None])), fx.shape).copy()
        return values, base, fx


class GradientTimesInput(GradientExplainer):
    """phi = (x - b) * grad f(x), from the documented gradient hooks."""

    def _attribute(self, X, B, targets):
        _, grad = self._target_gradient(X, targets)
        return (X - B) * grad


@pytest.fixture(scope="module")
def linear():
    X = np.random.default_rng(0).normal(size=(80, 3))
    w = np.array([1.0, -2.0, 0.5])
    return X, w, LinearRegression().fit(X, X @ w)


def test_a_plugin_estimator_follows_the_estimator_contract(linear):
    X, w, model = linear
    est = Occlusion(model, fill=0.0, device="cpu").fit(X)
    exp = est.explain(X[:4])
    np.testing.assert_allclose(exp.values, X[:4] * w)  # linear model, zero reference
    assert est.transform(X[:4]).shape == (4, 3)
    assert clone(est).get_params()["fill"] == 0.0
    with pytest.raises(ValueError, match="fill must be a number in \\[0.0, 1.0\\]"):
        Occlusion(model, fill=2.0).fit(X)


def test_a_plugin_reads_model_rows_and_players_from_prepared(linear):
    import pandas as pd

    X, _, _ = linear
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    pre = ColumnTransformer([("s", StandardScaler(), ["a", "b", "c"])]).fit(frame)
    from skorch import NeuralNetRegressor

    torch.manual_seed(0)
    net = NeuralNetRegressor(torch.nn.Linear(3, 1), device="cpu").initialize()
    pipe = Pipeline([("pre", pre), ("net", net)])
    est = GradientTimesInput(pipe, baseline="zeros", device="cpu").fit(frame)
    assert est.prepared_.fast_path
    assert [list(c) for c in est.prepared_.player_columns()] == [[0], [1], [2]]
    exp = est.explain(frame.iloc[:5])
    Z = pre.transform(frame.iloc[:5])
    expected = Z * net.module_.weight.detach().numpy()[0]  # one model column per raw column
    np.testing.assert_allclose(exp.values, expected, rtol=1e-5, atol=1e-6)


class LeaveOneOut(BaseExplainer):
    """phi_i = f(x) - f(x with column i set to its background mean), evaluating the model with
    the documented call ``self.adapter_(self.prepared_.model_rows(rows))`` on numpy rows."""

    def _fit(self, X, y):
        self.mean_ = self.background_.mean(axis=0)

    def _model(self, rows):
        return self.adapter_(self.prepared_.model_rows(rows))

    def _explain(self, X, rng):
        fx = self._model(X)
        values = np.empty((X.shape[0], X.shape[1], fx.shape[1]))
        for i in range(X.shape[1]):
            Z = X.copy()
            Z[:, i] = self.mean_[i]
            values[:, i] = fx - self._model(Z)
        base = np.broadcast_to(self._model(self.mean_[None]), fx.shape).copy()
        return values, base, fx


def _frame_and_target():
    import pandas as pd

    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 4)) * [1.0, 2.0, 0.5, 3.0] + [0.0, 1.0, -1.0, 5.0]
    y = X[:, 0] - 0.5 * X[:, 1] + np.sin(X[:, 2]) + 0.1 * X[:, 3] ** 2
    return pd.DataFrame(X, columns=["a", "b", "c", "d"]), y


def _ridge_pipeline(frame, y):
    from sklearn.linear_model import Ridge

    return Pipeline([("scale", StandardScaler()), ("ridge", Ridge(alpha=0.5))]).fit(frame, y)


def _boosted_classifier(frame, y):
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(
        frame, y > np.median(y))


def _skorch_pipeline(frame, y):
    from skorch import NeuralNetRegressor

    torch.manual_seed(0)  # an untrained (seeded) net: what is tested is how it is called
    module = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    net = NeuralNetRegressor(module, device="cpu").initialize()
    pre = ColumnTransformer([("s", StandardScaler(), ["a", "b", "c", "d"])]).fit(frame)
    return Pipeline([("pre", pre), ("net", net)])


@pytest.mark.parametrize("make_model", [_ridge_pipeline, _boosted_classifier, _skorch_pipeline],
                         ids=["sklearn-pipeline", "boosted-classifier", "skorch-fast-path"])
def test_a_plugin_evaluates_the_model_with_the_documented_call(make_model):
    """The documented call on numpy model rows gives the model's own outputs: the explainer's
    values match model.predict (predict_proba for a classifier) on DataFrames with one column
    replaced by the background's mean, computed here without sklxai."""
    frame, y = _frame_and_target()
    model = make_model(frame, y)
    background = frame.iloc[:50]
    est = LeaveOneOut(model, background=background, device="cpu").fit(frame)
    rows = frame.iloc[60:66]
    exp = est.explain(rows)

    def f(df):
        if isinstance(model, Pipeline) and hasattr(model[-1], "module_"):  # skorch: float32
            out = model[-1].predict(model[:-1].transform(df).astype(np.float32))
        elif hasattr(model, "predict_proba"):
            out = model.predict_proba(df)
        else:
            out = model.predict(df)
        return np.asarray(out, dtype=np.float64).reshape(len(df), -1)

    mean = background.mean()
    expected = np.stack([f(rows) - f(rows.assign(**{col: mean[col]})) for col in frame.columns],
                        axis=1)
    # float32 nets: the model's own rounding; float64 estimators: the same arithmetic
    single = est.adapter_.input_dtype == torch.float32
    tol = {"rtol": 1e-5, "atol": 1e-6} if single else {"rtol": 1e-9, "atol": 1e-12}
    values = exp.values if exp.values.ndim == 3 else exp.values[:, :, None]  # one output: (n, d)
    assert values.shape == expected.shape
    np.testing.assert_allclose(values, expected, **tol)
    np.testing.assert_allclose(np.reshape(exp.output, (6, -1)), f(rows), **tol)
    np.testing.assert_allclose(np.reshape(exp.base_values, (6, -1)),
                               np.repeat(f(mean.to_frame().T), 6, axis=0), **tol)


def test_the_adapter_takes_numpy_rows_and_tensors_alike(linear):
    X, _, model = linear
    est = Occlusion(model, device="cpu").fit(X)
    adapter, rows = est.adapter_, est.prepared_.model_rows(X[:7])
    expected = model.predict(X[:7])[:, None]
    from_numpy = adapter(rows)
    assert isinstance(from_numpy, np.ndarray) and from_numpy.dtype == np.float64
    np.testing.assert_allclose(from_numpy, expected, rtol=1e-12)
    np.testing.assert_allclose(adapter.predict(rows, batch_size=3), expected, rtol=1e-12)
    from_tensor = adapter(adapter.to_input(rows))
    assert isinstance(from_tensor, torch.Tensor) and from_tensor.shape == (7, 1)
    np.testing.assert_allclose(from_tensor.cpu().numpy(), expected, rtol=1e-12)
    with pytest.raises(TypeError, match=r"numeric model rows.*prepared_\.model_rows"):
        adapter(np.array([["x", "y", "z"]], dtype=object))
