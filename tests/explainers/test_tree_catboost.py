"""TreeShapley on CatBoost models against brute force through CatBoost's own ``predict``
(independent of sklxai's trees): the marginal game of regressors (NaN included), binary and
multiclass margins, non-symmetric trees and a log-link regressor's raw output; one-hot
categorical columns (strings and integers in a DataFrame, categories never seen in training
included) of regressors, classifiers, rankers and the base CatBoost class, brute force on the
raw rows through predict; the path-dependent game against CatBoost's ShapValues."""

import numpy as np
import pytest
from sklxai_reference import brute_force_shapley, marginal_reference

from sklxai import ExactShapley, TreeShapley

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


# ------------------------------------------------------------------ the path-dependent game
def _path_dependent_reference(model, rows):
    """Brute-force Shapley values of the path-dependent game from the model's JSON dump, in
    plain Python: a feature outside S sends the row down both children, weighted by the
    training weight (leaf weights) below each (non-symmetric trees: nested nodes)."""
    import itertools
    import json
    import math
    import os
    import tempfile

    handle, path = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    model.save_model(path, format="json")
    with open(path, encoding="utf-8") as file:
        dump = json.load(file)
    os.remove(path)
    nan_right = {f["feature_index"]: f["nan_value_treatment"] == "AsTrue"
                 for f in dump["features_info"]["float_features"]}

    def weight(node):
        return node["weight"] if "split" not in node else weight(node["left"]) + weight(
            node["right"])

    def value(node, x, S):
        if "split" not in node:
            return node["value"]
        split = node["split"]
        f = split["float_feature_index"]
        if f in S:
            z = np.float32(x[f])
            right = nan_right[f] if np.isnan(z) else z > split["border"]
            return value(node["right" if right else "left"], x, S)
        wl, wr = weight(node["left"]), weight(node["right"])
        return (wl * value(node["left"], x, S) + wr * value(node["right"], x, S)) / (wl + wr)

    d = rows.shape[1]
    out = []
    for x in rows:
        v = {S: sum(value(tree, x, set(S)) for tree in dump["trees"])
             for r in range(d + 1) for S in itertools.combinations(range(d), r)}
        phi = np.zeros(d)
        for i in range(d):
            for S, vS in v.items():
                if i not in S:
                    w = math.factorial(len(S)) * math.factorial(d - len(S) - 1) / math.factorial(d)
                    phi[i] += w * (v[tuple(sorted(S + (i,)))] - vS)
        out.append(phi)
    return np.stack(out)


def _assert_equals_shap_values(exp, theirs):
    """The values and expected value of an Explanation equal CatBoost's ShapValues."""
    if theirs.ndim == 2:  # (n, d + 1): the values, then the expected value
        theirs = theirs[:, None, :]
    values = np.moveaxis(theirs[:, :, :-1], 1, 2)  # (n, d, k)
    np.testing.assert_allclose(exp.values.reshape(values.shape), values, rtol=0, atol=1e-10)
    base = np.asarray(exp.base_values).reshape(len(theirs), -1)
    np.testing.assert_allclose(base, theirs[:, :, -1], rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["regressor_nan_min", "regressor_nan_max", "binary_margin",
                                  "multiclass_margin", "weighted"])
def test_path_dependent_values_equal_catboosts_shap_values(name):
    # oblivious trees: CatBoost's get_feature_importance(type="ShapValues") (its default
    # shap_calc_type "Regular", the path-dependent TreeSHAP over leaf weights)
    if name == "weighted":
        model = catboost.CatBoostRegressor(iterations=12, depth=4, random_seed=0,
                                           thread_count=1, verbose=0,
                                           allow_writing_files=False).fit(
            X_NAN, Y, sample_weight=RNG.uniform(0.5, 2.0, len(X)))
    else:
        model = _fit(name)
    rows = X_NAN[:6]
    theirs = model.get_feature_importance(catboost.Pool(rows), type="ShapValues")
    exp = TreeShapley(model, game="path_dependent", device="cpu").fit(X_NAN).explain(rows)
    _assert_equals_shap_values(exp, theirs)


def test_path_dependent_values_of_non_symmetric_trees_equal_brute_force():
    # CatBoost's own ShapValues of Depthwise/Lossguide trees are not the Shapley values of
    # this game over its leaf weights (they differ from brute force by 2e-3 on this model):
    # brute force decides
    model = _fit("lossguide")
    rows = X_NAN[:3]
    exp = TreeShapley(model, game="path_dependent", device="cpu").fit(X_NAN).explain(rows)
    ref = _path_dependent_reference(model, rows)
    np.testing.assert_allclose(exp.values.reshape(ref.shape), ref, rtol=0, atol=1e-10)


# ------------------------------------------------------------------ categorical columns
pd = pytest.importorskip("pandas")
FRAME = pd.DataFrame({"a": X[:, 0], "s": RNG.choice(["w", "x", "y", "z"], len(X)),
                      "i": RNG.integers(0, 3, len(X)), "b": X[:, 1]})
Y_CAT = (FRAME["a"] + 2 * (FRAME["s"] == "y") - (FRAME["i"] == 1)
         + FRAME["b"] * (FRAME["s"] == "z")).to_numpy()
CAT_CASES = {
    "regressor": (catboost.CatBoostRegressor, Y_CAT),
    "binary_margin": (catboost.CatBoostClassifier, Y_CAT > 0.5),
    "multiclass_margin": (catboost.CatBoostClassifier, np.digitize(Y_CAT, [0.0, 1.5])),
    "ranker": (catboost.CatBoostRanker, Y_CAT),
    "base_class": (catboost.CatBoost, Y_CAT),
}


def _fit_categorical(name, frame=FRAME, **options):
    cls, y = CAT_CASES[name]
    cat = [j for j, column in enumerate(frame.columns) if column in ("s", "i")]
    params = {"iterations": 8, "depth": 3, "learning_rate": 0.3, "random_seed": 0,
              "thread_count": 1, "verbose": 0, "allow_writing_files": False,
              "cat_features": cat, "one_hot_max_size": 10, **options}
    if cls is catboost.CatBoost:
        return cls(params).fit(frame, y)
    fit = {"group_id": np.arange(len(frame)) // 10} if name == "ranker" else {}
    return cls(**params).fit(frame, y, **fit)


def _output(model):
    """The explained output through CatBoost's own predict: a classifier's margin, a
    regressor's, ranker's or the base class's predict."""
    if isinstance(model, (catboost.CatBoostClassifier, catboost.CatBoostRegressor)):
        return lambda rows: model.predict(rows, prediction_type="RawFormulaVal")
    return model.predict


def _raw_marginal_reference(predict, x, background):
    """Brute-force Shapley values of the marginal game on raw rows (DataFrames with their
    strings and integers, as CatBoost takes them): (d, k)."""
    def value(S):
        rows = background.copy()
        for j in S:
            column = rows.columns[j]
            rows[column] = pd.Series([x.iloc[j]] * len(rows), index=rows.index).astype(
                rows[column].dtype if x.iloc[j] in set(rows[column]) else object)
        return np.asarray(predict(rows), dtype=np.float64).reshape(len(rows), -1).mean(axis=0)

    return brute_force_shapley(value, background.shape[1])


def _explained_rows(frame):
    """Rows of ``frame`` with, in turn, a string and an integer category never seen in
    training (nor in the data given to fit)."""
    rows = frame.iloc[:4].copy()
    if "s" in rows:
        if isinstance(rows["s"].dtype, pd.CategoricalDtype):
            rows["s"] = rows["s"].cat.add_categories(["v"])
        rows.loc[0, "s"] = "v"
    rows["i"] = rows["i"].astype(object)
    rows.loc[1, "i"] = 7
    return rows


@pytest.mark.parametrize("columns", [["a", "s", "i", "b"], ["a", "i", "b"], "category"],
                         ids=["strings_and_integers", "integers_only", "category_dtype"])
@pytest.mark.parametrize("name", sorted(CAT_CASES))
def test_one_hot_categories_equal_brute_force_through_predict(name, columns):
    frame = FRAME.astype({"s": "category"}) if columns == "category" else FRAME[columns]
    model = _fit_categorical(name, frame)
    background = frame.iloc[100:108]
    est = TreeShapley(model, background=background, device="cpu").fit(frame)
    assert bool(est.trees_.categorical.any())
    rows = _explained_rows(frame)
    exp = est.explain(rows)
    predict = _output(model)
    ref = np.stack([_raw_marginal_reference(predict, rows.iloc[r], background)
                    for r in range(len(rows))])
    np.testing.assert_allclose(exp.values.reshape(ref.shape), ref, rtol=0, atol=1e-8)
    out = np.asarray(predict(rows)).reshape(len(rows), -1)
    np.testing.assert_allclose(exp.output.reshape(out.shape), out, rtol=0, atol=1e-9)
    # ExactShapley explains predict, or a classifier's predict_proba (through the trees)
    exact = ExactShapley(model, background=background, device="cpu").fit(frame).explain(rows)
    if isinstance(model, catboost.CatBoostClassifier):
        ref = np.stack([_raw_marginal_reference(model.predict_proba, rows.iloc[r], background)
                        for r in range(len(rows))])
    np.testing.assert_allclose(exact.values.reshape(ref.shape), ref, rtol=0, atol=1e-8)


@pytest.mark.parametrize("name", ["regressor", "binary_margin", "multiclass_margin"])
def test_path_dependent_values_with_categories_equal_catboosts_shap_values(name):
    model = _fit_categorical(name)
    rows = _explained_rows(FRAME)
    theirs = model.get_feature_importance(catboost.Pool(rows, cat_features=[1, 2]),
                                          type="ShapValues")
    exp = TreeShapley(model, game="path_dependent", device="cpu").fit(FRAME).explain(rows)
    _assert_equals_shap_values(exp, theirs)


def test_an_unfitted_model_with_categories_is_fitted_on_x_and_y():
    # scikit-learn's clone refuses CatBoost's list parameters: the model copies itself
    model = catboost.CatBoostClassifier(iterations=6, depth=3, cat_features=["s", "i"],
                                        one_hot_max_size=10, random_seed=0, thread_count=1,
                                        verbose=0, allow_writing_files=False)
    background = FRAME.iloc[:6]
    est = TreeShapley(model, background=background, device="cpu").fit(FRAME, Y_CAT > 0.5)
    assert not model.is_fitted() and est.model_.is_fitted()
    rows = _explained_rows(FRAME)
    ref = np.stack([_raw_marginal_reference(_output(est.model_), rows.iloc[r], background)
                    for r in range(len(rows))])
    np.testing.assert_allclose(est.explain(rows).values.reshape(ref.shape), ref, rtol=0,
                               atol=1e-8)


def test_categorical_refusals_name_the_fix():
    # CTR splits ("s" has 4 categories, above one_hot_max_size): refused, ExactShapley works
    model = _fit_categorical("regressor", one_hot_max_size=3)
    with pytest.raises(TypeError, match=r"\['s'\] by target statistics.*one_hot_max_size "
                       "above the number of categories.*ExactShapley or KernelSHAP"):
        TreeShapley(model, n_background=5, device="cpu").fit(FRAME)
    exp = ExactShapley(model, n_background=5, device="cpu").fit(FRAME).explain(FRAME[:2])
    assert exp.efficiency_gap < 1e-9
    # the data given to fit lacks a category the model splits on
    model = _fit_categorical("regressor")
    lacking = FRAME[FRAME["s"] != "y"]
    with pytest.raises(TypeError, match="category of column 's'.*training data"):
        TreeShapley(model, n_background=5, device="cpu").fit(lacking)
    # one-hot splits of non-symmetric trees
    model = _fit_categorical("regressor", grow_policy="Lossguide")
    with pytest.raises(TypeError, match="grow_policy='SymmetricTree'"):
        TreeShapley(model, n_background=5, device="cpu").fit(FRAME)
    # rows as an array's floats cannot give CatBoost its categories back
    numbers = FRAME[["a", "i", "b"]]
    with pytest.raises(ValueError, match=r"X is an array.*columns \[1\] as categories.*"
                       "Pass X as a pandas DataFrame"):
        TreeShapley(_fit_categorical("regressor", numbers), device="cpu").fit(
            numbers.to_numpy())
