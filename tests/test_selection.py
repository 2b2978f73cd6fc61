"""ShapleySelector: Shapley-based feature selection inside Pipelines and GridSearchCV."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklxai import KernelSHAP, ShapleySelector


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 8))
    y = (2 * X[:, 0] - 1.5 * X[:, 3] + X[:, 6] + 0.1 * rng.normal(size=300) > 0).astype(int)
    return X, y


def test_selects_the_informative_features_and_importances_match_closed_form():
    X, y = _data()
    sel = ShapleySelector(KernelSHAP(LogisticRegression(), n_background=30, random_state=0),
                          max_features=3, random_state=0).fit(X, y)
    assert list(sel.get_support(indices=True)) == [0, 3, 6]
    assert sel.transform(X).shape == (300, 3)
    # for a linear regression the importance is mean |w_i (x_i - mean_b x_i)|: check it
    reg = ShapleySelector(KernelSHAP(LinearRegression(), n_background=300), n_rows=300)
    reg.fit(X, X @ np.arange(8.0))
    bg_mean = reg.explainer_.background_.mean(axis=0)
    expected = np.abs((X - bg_mean) * reg.explainer_.model_.coef_).mean(axis=0)
    np.testing.assert_allclose(reg.importances_, expected, rtol=1e-6, atol=1e-10)
    assert reg.threshold_ == pytest.approx(expected.mean())
    above = [i for i in range(8) if expected[i] >= expected.mean()]
    assert list(reg.get_support(indices=True)) == above


def test_in_a_pipeline_with_grid_search():
    X, y = _data(1)
    pipe = make_pipeline(
        ShapleySelector(KernelSHAP(LogisticRegression(), n_background=20, n_coalitions=64,
                                   random_state=0), random_state=0),
        LogisticRegression(),
    )
    search = GridSearchCV(pipe, {"shapleyselector__max_features": [1, 3]}, cv=3).fit(X, y)
    assert search.best_params_ == {"shapleyselector__max_features": 3}


def test_dataframe_names_and_bad_parameters():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(8)])
    sel = ShapleySelector(KernelSHAP(LogisticRegression(), n_background=20, random_state=0),
                          max_features=2).fit(df, y)
    assert list(sel.get_feature_names_out()) == ["f0", "f3"]
    sel.set_output(transform="pandas")
    assert list(sel.transform(df).columns) == ["f0", "f3"]
    with pytest.raises(ValueError, match="max_features"):
        ShapleySelector(KernelSHAP(LogisticRegression()), max_features=20).fit(X, y).transform(X)
    with pytest.raises(ValueError, match="threshold"):
        ShapleySelector(KernelSHAP(LogisticRegression()), threshold="max").fit(X, y)
