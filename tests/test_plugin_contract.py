"""The public plugin contract: minimal explainers written against it alone.

They use only what the docstrings of :class:`sklxai.BaseExplainer` and
:class:`sklxai.GradientExplainer` document as extension points: ``_parameter_constraints``,
``_check_params``, ``_fit``, ``_explain``, ``_attribute`` and the fitted ``prepared_`` (model
rows, players), plus the public validators in :mod:`sklxai.utils`. If one of these changes, this
test (and every third-party plugin) breaks.
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
