"""TreeShapley on CatBoost models against brute force through CatBoost's own ``predict``
(independent of sklxai's trees): the marginal game of regressors (NaN included), binary and
multiclass margins, non-symmetric trees and a log-link regressor's raw output."""

import numpy as np
import pytest
from sklxai_reference import marginal_reference

from sklxai import TreeShapley

catboost = pytest.importorskip("catboost")

RNG = np.random.default_rng(1)
X = RNG.normal(size=(300, 5))
Y = X[:, 0] + X[:, 1] ** 2 + X[:, 2] * X[:, 3] - (X[:, 4] > 0.5)
X_NAN = X.copy()
X_NAN[::5, 1] = np.nan
X_NAN[::7, 3] = np.nan
CASES = {
    "regressor_nan_min": (catboost.CatBoostRegressor, {}, Y),
    "regressor_nan_max": (catboost.CatBoostRegressor, {"nan_mode": "Max"}, Y),
    "binary_margin": (catboost.CatBoostClassifier, {}, Y > 1),
    "multiclass_margin": (catboost.CatBoostClassifier, {}, np.digitize(Y, [0.0, 1.5])),
    "lossguide": (catboost.CatBoostRegressor, {"grow_policy": "Lossguide"}, Y),
    "poisson_raw": (catboost.CatBoostRegressor, {"loss_function": "Poisson"},
                    np.round(np.abs(Y))),
}


def _fit(name):
    cls, params, y = CASES[name]
    return cls(iterations=12, depth=4, learning_rate=0.3, random_seed=0, thread_count=1,
               verbose=0, allow_writing_files=False, **params).fit(X_NAN, y)


@pytest.mark.parametrize("name", sorted(CASES))
def test_marginal_values_equal_brute_force_through_predict(name):
    model = _fit(name)

    def margin(rows):
        return model.predict(rows, prediction_type="RawFormulaVal")

    est = TreeShapley(model, n_background=20, device="cpu", random_state=0).fit(X_NAN)
    rows = X_NAN[:5]
    exp = est.explain(rows)
    ref = np.stack([marginal_reference(margin, x, est.background_) for x in rows])
    np.testing.assert_allclose(exp.values.reshape(ref.shape), ref, rtol=0, atol=1e-9)
    out = margin(rows).reshape(len(rows), -1)
    np.testing.assert_allclose(exp.output.reshape(out.shape), out, rtol=0, atol=1e-9)
    assert exp.efficiency_gap < 1e-9


def test_an_unfitted_model_is_fitted_on_x_and_y():
    model = catboost.CatBoostRegressor(iterations=8, depth=3, random_seed=0, thread_count=1,
                                       verbose=0, allow_writing_files=False)
    est = TreeShapley(model, n_background=10, device="cpu", random_state=0).fit(X_NAN, Y)
    assert not model.is_fitted() and est.model_.is_fitted()
    exp = est.explain(X_NAN[:3])
    ref = np.stack([marginal_reference(est.model_.predict, x, est.background_)
                    for x in X_NAN[:3]])
    np.testing.assert_allclose(exp.values.reshape(ref.shape), ref, rtol=0, atol=1e-9)
