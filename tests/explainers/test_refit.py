"""Refitting an explainer on another model (``set_params(model=...)`` + ``fit``) gives a freshly
fitted explainer, as scikit-learn's contract says: nothing of the first model (its trees, its
column count) survives the refit."""

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor

from sklxai import ExactShapley, KernelSHAP, SimSHAP, TreeShapley
from sklxai_reference import marginal_reference


def _model(d, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(160, d))
    y = X[:, 0] * X[:, 1] + X[:, -1]
    return GradientBoostingRegressor(n_estimators=10, max_depth=3, random_state=seed).fit(X, y), X


def _explainer(cls, model):
    if cls is SimSHAP:
        return SimSHAP(model, n_background=20, max_epochs=2, validation_reference=None,
                       device="cpu", random_state=0)
    if cls is KernelSHAP:
        return KernelSHAP(model, n_background=20, n_coalitions=64, device="cpu", random_state=0)
    return cls(model, n_background=20, device="cpu", random_state=0)


@pytest.mark.parametrize("cls", [ExactShapley, KernelSHAP, SimSHAP, TreeShapley])
def test_refit_on_a_model_with_fewer_columns(cls):
    wide, X6 = _model(6, 0)
    narrow, X4 = _model(4, 1)
    explainer = _explainer(cls, wide).fit(X6)
    assert explainer.explain(X6[:2]).values.shape == (2, 6)
    explainer.set_params(model=narrow).fit(X4)
    exp = explainer.explain(X4[:3])
    assert exp.values.shape == (3, 4)
    assert explainer.n_features_in_ == 4
    # efficiency against the new model's own predictions
    np.testing.assert_allclose(exp.values.sum(axis=1) + exp.base_values, narrow.predict(X4[:3]),
                               rtol=0, atol=1e-6)
    if cls in (ExactShapley, TreeShapley):  # exact: the new model's brute-force values
        background = explainer.background_
        truth = np.stack([marginal_reference(narrow.predict, x, background)[:, 0]
                          for x in X4[:3]])
        np.testing.assert_allclose(exp.values, truth, rtol=0, atol=1e-9)


def test_refit_reads_the_new_models_trees():
    wide, X6 = _model(6, 0)
    narrow, X4 = _model(4, 1)
    explainer = TreeShapley(wide, n_background=20, device="cpu", random_state=0).fit(X6)
    first = explainer.prepared_.trees
    explainer.set_params(model=narrow).fit(X4)
    assert explainer.prepared_.trees is not first
    assert explainer.trees_.n_inputs == 4
