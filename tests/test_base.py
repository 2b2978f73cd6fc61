"""The estimator contract: scikit-learn's own checks, clone, params, errors, DataFrames."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks

import sklxai
from sklxai import ExactShapley, KernelSHAP, PermutationSHAP, SimSHAP

# Checks that cannot apply to an explainer would be listed here with the reason; every check of
# scikit-learn's suite currently applies and passes, so the list is empty.
EXPECTED_FAILED = {}


def _instances():
    # unfitted models: fit(X, y) fits a clone of them, so sklearn's checks can use any X
    return [
        ExactShapley(Ridge(), n_background=10, device="cpu"),
        KernelSHAP(Ridge(), n_background=10, n_coalitions=32, device="cpu"),
        PermutationSHAP(Ridge(), n_background=10, n_coalitions=2, device="cpu"),
        SimSHAP(Ridge(), n_background=5, hidden_sizes=(8,), n_coalitions=4, max_epochs=1,
                train_batch_size=16, device="cpu"),
    ]


@parametrize_with_checks(_instances(), expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _data(n=80, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, X @ np.arange(1, d + 1) + 0.1 * rng.normal(size=n)


def test_params_are_stored_unchanged_and_set_params_works():
    model = LinearRegression()
    bg = np.zeros((2, 3))
    est = KernelSHAP(model, background=bg, n_coalitions=64, target=None, random_state=3)
    params = est.get_params(deep=False)
    assert params["model"] is model and params["background"] is bg
    assert params["n_coalitions"] == 64 and params["random_state"] == 3
    est.set_params(n_coalitions=128)
    assert est.n_coalitions == 128
    assert "model__fit_intercept" in est.get_params(deep=True)


def test_clone_keeps_a_fitted_model_and_clones_an_unfitted_one():
    X, y = _data()
    fitted = LinearRegression().fit(X, y)
    c = clone(ExactShapley(fitted, device="cpu"))
    assert c.model is fitted  # frozen: a fitted model is shared, never refitted or dropped
    unfitted = LinearRegression()
    c2 = clone(ExactShapley(unfitted, device="cpu"))
    assert c2.model is not unfitted and not hasattr(c2.model, "coef_")
    assert c.get_params()["device"] == "cpu"


def test_fit_with_y_fits_a_clone_of_an_unfitted_model():
    X, y = _data()
    model = LinearRegression()
    est = ExactShapley(model, device="cpu").fit(X, y)
    assert not hasattr(model, "coef_")
    assert hasattr(est.model_, "coef_")


def test_grid_search_over_an_explainer_parameter():
    # the explainer is the last step of a GridSearchCV; the score is the model's own R^2 through
    # a tiny wrapper, so the search exercises clone/set_params on the explainer.
    X, y = _data()
    model = LinearRegression().fit(X, y)

    def scorer(est, X, y=None):  # fit(X) without y: sklearn calls scorer(est, X)
        exp = est.explain(X)
        return -float(np.abs(exp.values.sum(1) + exp.base_values - model.predict(X)).max())

    search = GridSearchCV(
        KernelSHAP(model, device="cpu", random_state=0),
        {"n_coalitions": [4, 14]},
        scoring=scorer,
        cv=2,
    ).fit(X)
    assert search.best_estimator_.model is model
    assert set(search.cv_results_["param_n_coalitions"]) == {4, 14}
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_unfitted_explainer_and_unfitted_model_errors():
    X, y = _data()
    with pytest.raises(NotFittedError):
        ExactShapley(LinearRegression(), device="cpu").explain(X)
    with pytest.raises(NotFittedError, match="pass y"):
        ExactShapley(LinearRegression(), device="cpu").fit(X)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.array([[np.nan, 1.0, 2.0, 3.0]]), "NaN or infinite"),
        (np.array([[np.inf, 1.0, 2.0, 3.0]]), "NaN or infinite"),
        (np.zeros((2, 3)), "has 3 features, but KernelSHAP is expecting 4"),
        (np.zeros(4), "1-D"),
        (np.zeros((0, 4)), "0 sample"),
        (np.array([["a", "b", "c", "d"]]), "must be numeric"),
    ],
)
def test_bad_explain_input(bad, match):
    X, y = _data()
    est = KernelSHAP(LinearRegression().fit(X, y), device="cpu").fit(X)
    with pytest.raises(ValueError, match=match):
        est.explain(bad)


def test_background_with_other_columns_is_refused():
    X, y = _data()
    model = LinearRegression().fit(X, y)
    with pytest.raises(ValueError, match="background has 3 features"):
        ExactShapley(model, background=np.zeros((5, 3)), device="cpu").fit(X)


def test_model_that_fails_on_the_data_gives_a_clear_error():
    X, y = _data()
    model = LinearRegression().fit(X, y)
    with pytest.raises(ValueError, match="failed on rows of X with 6 features"):
        ExactShapley(model, device="cpu").fit(np.zeros((10, 6)))


def test_bad_parameters():
    X, y = _data()
    model = LinearRegression().fit(X, y)
    with pytest.raises(ValueError, match="n_background"):
        ExactShapley(model, n_background=0).fit(X)
    with pytest.raises(ValueError, match="n_coalitions"):
        KernelSHAP(model, n_coalitions=1).fit(X)
    with pytest.raises(TypeError, match="n_coalitions"):
        PermutationSHAP(model, n_coalitions=2.5).fit(X)
    with pytest.raises(ValueError, match="device="):
        ExactShapley(model, device="tpu:9").fit(X)
    with pytest.raises(TypeError, match="not supported"):
        ExactShapley(object()).fit(X)


def test_dataframe_names_reordering_and_wrong_columns():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = LinearRegression().fit(df, y)
    est = ExactShapley(model, device="cpu").fit(df)
    np.testing.assert_array_equal(est.feature_names_in_, ["a", "b", "c", "d"])
    exp = est.explain(df.iloc[:3])
    assert exp.feature_names == ["a", "b", "c", "d"]
    reordered = est.explain(df.iloc[:3][["d", "c", "b", "a"]])
    np.testing.assert_allclose(reordered.values, exp.values)
    with pytest.raises(ValueError, match=r"missing columns \['d'\]"):
        est.explain(df.iloc[:3][["a", "b", "c"]])
    with pytest.raises(ValueError, match=r"unexpected columns \['e'\]"):
        est.explain(df.iloc[:3].assign(e=1.0))
    np.testing.assert_array_equal(est.get_feature_names_out(), ["a", "b", "c", "d"])


def test_transform_layout_names_and_pandas_output():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = LogisticRegression().fit(df, y > 0)
    est = KernelSHAP(clf, n_background=10, random_state=0, device="cpu").fit(df)
    exp = est.explain(df.iloc[:3])
    Xt = est.transform(df.iloc[:3])
    assert Xt.shape == (3, 8)
    np.testing.assert_allclose(Xt[:, :4], exp.values[:, :, 0])
    np.testing.assert_allclose(Xt[:, 4:], exp.values[:, :, 1])
    names = est.get_feature_names_out()
    assert list(names[:2]) == ["False__a", "False__b"] and names[4] == "True__a"
    est.set_output(transform="pandas")
    out = est.transform(df.iloc[:3])
    assert list(out.columns) == list(names)


def test_same_random_state_same_values():
    X, y = _data(d=6)
    model = LinearRegression().fit(X, np.sin(X).sum(1))
    for make in (KernelSHAP, PermutationSHAP):
        a = make(model, random_state=5, n_background=7).fit(X).transform(X[:4])
        b = make(model, random_state=5, n_background=7).fit(X).transform(X[:4])
        np.testing.assert_array_equal(a, b)


def test_public_names_and_lazy_import():
    import subprocess
    import sys

    code = "import sys, sklxai; assert 'torch' not in sys.modules; print(sklxai.__version__)"
    subprocess.run([sys.executable, "-c", code], check=True)
    for name in ("ExactShapley", "KernelSHAP", "PermutationSHAP", "Explanation",
                 "list_explainers", "get_explainer", "BaseExplainer"):
        assert hasattr(sklxai, name)
    assert sklxai.get_explainer("kernelshap") is KernelSHAP
    with pytest.raises(ValueError, match="Unknown explainer 'nope'"):
        sklxai.get_explainer("nope")
    with pytest.raises(AttributeError):
        sklxai.NoSuchThing
