"""TreeShapley against brute force (independent of sklxai), shap, and the estimator contract."""

import numpy as np
import pytest
import sklearn
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.ensemble import (
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklxai_reference import brute_force_shapley, marginal_reference

from sklxai import TreeShapley
from sklxai.games.trees import interventional as tree_module
from sklxai.games.trees import patterns as patterns_module

RNG = np.random.default_rng(0)
X = RNG.normal(size=(400, 6))
Y_REG = 2 * X[:, 0] + np.sin(3 * X[:, 1]) + X[:, 2] * X[:, 3] - (X[:, 4] > 0.5)
Y_CLS = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
Y_3 = np.digitize(X[:, 0] + X[:, 5], [-0.5, 0.5])
X_NAN = X.copy()
X_NAN[::6, 1] = np.nan
X_NAN[::9, 4] = np.nan


def _cat_data():
    """Two categorical columns (codes, with unseen values at explain) and NaN in a numeric one."""
    Z = X[:, :5].copy()
    Z[:, 3] = RNG.integers(0, 6, len(Z))
    Z[:, 4] = RNG.integers(0, 3, len(Z)) * 10.0
    Z[::7, 0] = np.nan
    y = Z[:, 1] + (Z[:, 3] % 2) * 2 + (Z[:, 4] == 10) - np.nan_to_num(Z[:, 0])
    return Z, y


CASES = {
    "decision_tree_nan": (lambda: DecisionTreeRegressor(max_depth=6, random_state=0)
                          .fit(X_NAN, Y_REG), X_NAN, "predict"),
    "decision_tree_proba": (lambda: DecisionTreeClassifier(max_depth=5, random_state=0)
                            .fit(X, Y_3), X, "predict_proba"),
    "forest_proba": (lambda: RandomForestClassifier(15, max_depth=6, random_state=0)
                     .fit(X, Y_CLS), X, "predict_proba"),
    "extra_trees": (lambda: ExtraTreesRegressor(10, max_depth=7, random_state=0)
                    .fit(X, Y_REG), X, "predict"),
    "gbdt_regressor": (lambda: GradientBoostingRegressor(n_estimators=40, max_depth=4,
                                                         random_state=0).fit(X, Y_REG),
                       X, "predict"),
    "gbdt_binary_margin": (lambda: GradientBoostingClassifier(n_estimators=20, random_state=0)
                           .fit(X, Y_CLS), X, "decision_function"),
    "gbdt_multiclass_margin": (lambda: GradientBoostingClassifier(n_estimators=10,
                                                                  random_state=0)
                               .fit(X, Y_3), X, "decision_function"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_equals_brute_force_on_the_models_own_output(name):
    make, data, method = CASES[name]
    model = make()
    est = TreeShapley(model, n_background=25, device="cpu", random_state=0).fit(data)
    exp = est.explain(data[:5])
    predict = getattr(model, method)
    ref = np.stack([marginal_reference(predict, x, est.background_) for x in data[:5]])
    np.testing.assert_allclose(exp.values.reshape(ref.shape), ref, atol=1e-9)
    out = predict(data[:5]).reshape(5, -1)
    np.testing.assert_allclose(exp.output.reshape(out.shape), out, atol=1e-9)
    assert exp.efficiency_gap < 1e-9


def test_isolation_forest_path_length_equals_brute_force():
    # what is explained: the normalised mean path length, -log2(-score_samples); its scores,
    # a nonlinear function of it, are refused with the way out
    model = IsolationForest(n_estimators=30, max_features=0.8, random_state=0).fit(X_NAN)

    def path_length(rows):
        return -np.log2(-model.score_samples(rows))

    est = TreeShapley(model, n_background=25, device="cpu", random_state=0).fit(X_NAN)
    exp = est.explain(X_NAN[:5])
    ref = np.stack([marginal_reference(path_length, x, est.background_) for x in X_NAN[:5]])
    np.testing.assert_allclose(exp.values.reshape(ref.shape), ref, atol=1e-9)
    np.testing.assert_allclose(exp.output.ravel(), path_length(X_NAN[:5]), atol=1e-12)
    assert exp.efficiency_gap < 1e-9
    with pytest.raises(ValueError, match="isolation forest's scores.*KernelSHAP"):
        TreeShapley(model, model_output="probability", device="cpu").fit(X_NAN)


def test_isolation_forest_is_shaps_path_length_normalised():
    # shap explains the mean path length itself, E[h(x)]: ours divided by c(max_samples_)
    shap = pytest.importorskip("shap")
    from sklearn.ensemble._iforest import _average_path_length

    model = IsolationForest(n_estimators=20, random_state=0).fit(X)
    bg = X[:30]
    ours = TreeShapley(model, background=bg, device="cpu").fit(X).explain(X[:4]).values
    theirs = shap.TreeExplainer(model, data=bg, feature_perturbation="interventional") \
        .shap_values(X[:4])
    scale = _average_path_length([model.max_samples_])[0]
    np.testing.assert_allclose(ours * scale, theirs, atol=1e-6)  # shap sums in float32


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_hist_gradient_boosting_with_categories_and_nan(kind):
    Z, y = _cat_data()
    if kind == "regressor":
        model = HistGradientBoostingRegressor(max_iter=15, categorical_features=[3, 4],
                                              random_state=0).fit(Z, y)
        predict = model.predict
    else:
        model = HistGradientBoostingClassifier(max_iter=15, categorical_features=[3, 4],
                                               random_state=0).fit(Z, y > np.median(y))
        predict = model.decision_function
    rows = Z[:6].copy()
    rows[0, 3] = 17.0  # a category never seen in fit: missing for the trees
    est = TreeShapley(model, n_background=20, device="cpu", random_state=0).fit(Z)
    ref = np.stack([marginal_reference(predict, x, est.background_) for x in rows])
    np.testing.assert_allclose(est.explain(rows).values.reshape(ref.shape), ref, atol=1e-9)


@pytest.mark.parametrize("method", ["walk", "walk-per-leaf", "dense"])
def test_walked_and_dense_trees_equal_the_tables(monkeypatch, method):
    # trees whose paths hold many players are walked by (row, background row) pairs, or,
    # with more than 62 players, computed by products over rows x background x leaves; walked
    # leaves are summed per subset of players, or walker by walker with many players
    model = RandomForestRegressor(8, random_state=0).fit(X_NAN, Y_REG)  # unlimited depth
    tables = TreeShapley(model, n_background=15, device="cpu", random_state=0).fit(X_NAN)
    assert tables._values.walked is None and not tables._values.buckets
    assert tables._values.patterns.n_leaves == tables.trees_.n_leaves
    monkeypatch.setattr(tree_module, "_TABLE_MAX_SLOTS", 0)
    if method == "dense":
        monkeypatch.setattr(tree_module, "_WALK_MAX_PLAYERS", 0)
    if method == "walk-per-leaf":
        monkeypatch.setattr(tree_module, "_SUBSET_PLAYERS", 0)
    other = TreeShapley(model, n_background=15, device="cpu", random_state=0).fit(X_NAN)
    assert other._values.patterns is None
    assert (other._values.walked is not None) == method.startswith("walk")
    if other._values.walked is not None:
        assert (other._values.walked.subsets is None) == (method == "walk-per-leaf")
    np.testing.assert_allclose(other.explain(X_NAN[:7]).values,
                               tables.explain(X_NAN[:7]).values, atol=1e-12)


@pytest.mark.parametrize("n_features", [6, 40])
def test_walk_with_two_player_words_and_background_words(monkeypatch, n_features):
    # A and B share one word up to 30 players, else take one each; 70 background rows take
    # two words of bits: the walk equals the products over rows x background x leaves
    rng = np.random.default_rng(0)
    Xw = rng.normal(size=(300, n_features))
    y = Xw[:, 0] * Xw[:, 1] + Xw.sum(axis=1)
    model = RandomForestRegressor(4, max_depth=10, random_state=0).fit(Xw, y)
    monkeypatch.setattr(tree_module, "_TABLE_MAX_SLOTS", 0)
    walked = TreeShapley(model, n_background=70, device="cpu", random_state=0).fit(Xw)
    monkeypatch.setattr(tree_module, "_WALK_MAX_PLAYERS", 0)
    dense = TreeShapley(model, n_background=70, device="cpu", random_state=0).fit(Xw)
    assert walked._values.walked is not None and dense._values.walked is None
    assert walked._values.walked.walk._one_word == (n_features <= 30)
    exp = walked.explain(Xw[:5])
    np.testing.assert_allclose(exp.values, dense.explain(Xw[:5]).values, atol=1e-12)
    np.testing.assert_allclose(exp.values.sum(axis=1) + exp.base_values,
                               model.predict(Xw[:5]), atol=1e-9)


@pytest.mark.parametrize("group", [(0, 10), (1, 8), (3, 8), (7, 10)])
def test_pattern_table_groups_equal_brute_force(monkeypatch, group):
    # leaves looked up alone, by sibling pairs, by the four below a grandparent, by the eight
    # below a great-grandparent: a three-class boosted margin with categorical splits and
    # missing values, against brute force (independent of sklxai) and the walk
    Z, y = _cat_data()
    model = HistGradientBoostingClassifier(max_iter=6, max_depth=4, categorical_features=[3, 4],
                                           random_state=0).fit(Z, np.digitize(y, [0.5, 2.0]))
    rows = Z[:4].copy()
    rows[0, 3] = 17.0  # a category never seen in fit: missing for the trees
    monkeypatch.setattr(patterns_module, "GROUP_NODES", group[0])
    monkeypatch.setattr(patterns_module, "GROUP_KEY_BITS", group[1])
    est = TreeShapley(model, n_background=20, device="cpu", random_state=0).fit(Z)
    tables = est._values.patterns
    assert tables.n_leaves == est.trees_.n_leaves and est._values.walked is None
    assert (tables.n_groups == tables.n_leaves) == (group[0] == 0)
    values = est.explain(rows).values
    ref = np.stack([marginal_reference(model.decision_function, x, est.background_)
                    for x in rows])
    np.testing.assert_allclose(values.reshape(ref.shape), ref, atol=1e-12)
    monkeypatch.setattr(tree_module, "_TABLE_MAX_SLOTS", 0)
    walked = TreeShapley(model, n_background=20, device="cpu", random_state=0).fit(Z)
    np.testing.assert_allclose(walked.explain(rows).values, values, atol=1e-12)


def test_pattern_tables_in_parts_and_passes_equal_one_pass(monkeypatch):
    # trees tabulated in several parts, rows in passes of 3, and a small memory budget (the
    # background counted in chunks, the tables built a few leaves at a time): same values
    model = HistGradientBoostingRegressor(max_iter=12, max_depth=4, random_state=0).fit(X_NAN,
                                                                                     Y_REG)
    one = TreeShapley(model, n_background=30, device="cpu", random_state=0).fit(X_NAN)
    assert len(one._values.patterns.parts) == 1
    monkeypatch.setattr(patterns_module, "_PART_NODES", 40)
    monkeypatch.setattr(patterns_module, "_MAX_ROWS_PER_PASS", 3)
    with sklearn.config_context(working_memory=0.05):
        many = TreeShapley(model, n_background=30, device="cpu", random_state=0).fit(X_NAN)
        assert len(many._values.patterns.parts) > 3
        values = many.explain(X_NAN[:8]).values
    np.testing.assert_allclose(values, one.explain(X_NAN[:8]).values, atol=1e-12)


def test_baseline_game_and_feature_groups_equal_brute_force():
    model = GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0).fit(X, Y_REG)
    groups = {"a": [0, 1], "b": [2], "c": [3, 4], "d": [5]}
    est = TreeShapley(model, game="baseline", feature_groups=groups, n_background=30,
                      device="cpu", random_state=0).fit(X)
    exp = est.explain(X[:3])
    ref_row = est.background_.mean(axis=0)
    members = list(groups.values())
    for i, x in enumerate(X[:3]):
        def value(S, x=x):
            z = ref_row.copy()
            for g in S:
                z[members[g]] = x[members[g]]
            return model.predict(z[None])
        ref = brute_force_shapley(value, len(members))[:, 0]
        np.testing.assert_allclose(exp.values[i], ref, atol=1e-9)
    assert exp.feature_names == list(groups)


def _column_subset_reference(model_fn, x, background, columns):
    """Brute force on a column subset: background rows take x's values outside ``columns``,
    so only those columns are players and their 2**|columns| coalitions are enumerated."""
    bg = np.array(background, copy=True)
    others = np.setdiff1d(np.arange(len(x)), columns)
    bg[:, others] = x[others]

    def value(S):
        Z = bg.copy()
        cols = np.asarray(columns)[list(S)]
        Z[:, cols] = x[cols]
        return model_fn(Z).reshape(len(Z), -1).mean(axis=0)

    return bg, brute_force_shapley(value, len(columns))


@pytest.mark.parametrize("data", ["breast_cancer", "digits"])
def test_agrees_with_shap_and_brute_force_decides(data):
    shap = pytest.importorskip("shap")
    Xd, yd = (load_breast_cancer if data == "breast_cancer" else load_digits)(return_X_y=True)
    model = GradientBoostingRegressor(n_estimators=60, max_depth=4, random_state=0).fit(Xd, yd)
    bg, rows = Xd[:40], Xd[300:305]
    est = TreeShapley(model, background=bg, device="cpu").fit(Xd)
    ours = est.explain(rows).values
    theirs = shap.TreeExplainer(model, data=bg, feature_perturbation="interventional") \
        .shap_values(rows, check_additivity=False)
    assert np.abs(ours.sum(1) + est.expected_value_[0] - model.predict(rows)).max() < 1e-9
    gap = np.abs(ours - theirs)
    if gap.max() > 1e-6:  # shap is not always right: brute force on those columns decides
        r, j = np.unravel_index(np.argmax(gap), gap.shape)
        columns = np.unique([j, *np.argsort(-np.abs(ours[r]))[:7]])
        sub_bg, ref = _column_subset_reference(model.predict, rows[r], bg, columns)
        sub = TreeShapley(model, background=sub_bg, device="cpu").fit(Xd)
        np.testing.assert_allclose(sub.explain(rows[r : r + 1]).values[0, columns], ref[:, 0],
                                   atol=1e-9)
    else:
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_column_subset_reference_checks_a_forest_where_shap_may_differ():
    Xd, yd = load_breast_cancer(return_X_y=True)
    model = RandomForestRegressor(30, random_state=0).fit(Xd, yd)  # unlimited depth
    bg, x = Xd[:30], Xd[400]
    columns = np.array([0, 7, 20, 21, 22, 23, 27])
    sub_bg, ref = _column_subset_reference(model.predict, x, bg, columns)
    est = TreeShapley(model, background=sub_bg, device="cpu").fit(Xd)
    values = est.explain(x[None]).values[0]
    np.testing.assert_allclose(values[columns], ref[:, 0], atol=1e-9)
    np.testing.assert_allclose(np.delete(values, columns), 0.0, atol=1e-12)


def test_targets_dataframes_and_persistence(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(6)])
    model = RandomForestClassifier(10, max_depth=5, random_state=0).fit(frame, Y_CLS)
    est = TreeShapley(model, n_background=20, target=1, device="cpu", random_state=0)
    exp = est.fit(frame).explain(frame.iloc[:4])
    assert exp.values.shape == (4, 6) and exp.feature_names == list(frame.columns)
    shuffled = frame.iloc[:4][list(reversed(frame.columns))]
    np.testing.assert_allclose(est.explain(shuffled).values, exp.values)
    est.save(tmp_path / "tree.pt")
    loaded = TreeShapley.load(tmp_path / "tree.pt", model, device="cpu")
    np.testing.assert_array_equal(loaded.explain(frame.iloc[:4]).values, exp.values)


def test_unsupported_models_and_outputs_are_refused_with_the_way_out():
    with pytest.raises(TypeError, match="not a supported tree model.*ExactShapley or KernelSHAP"):
        TreeShapley(LinearRegression().fit(X, Y_REG), device="cpu").fit(X)
    boosted = GradientBoostingClassifier(n_estimators=5).fit(X, Y_CLS)
    with pytest.raises(ValueError, match="no exact tree algorithm.*KernelSHAP"):
        TreeShapley(boosted, model_output="probability", device="cpu").fit(X)
    with pytest.raises(ValueError, match="game must be one of"):
        TreeShapley(boosted, game="surrogate", device="cpu").fit(X)


def test_pipeline_raw_columns_equal_exact_shapley_on_the_pipeline():
    pd = pytest.importorskip("pandas")
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from sklxai import ExactShapley

    frame = pd.DataFrame({"age": X[:, 0] * 10 + 40, "hours": X[:, 1] * 5 + 40,
                          "job": np.array(["a", "b", "c", "d"])[RNG.integers(0, 4, len(X))],
                          "city": np.array(["x", "y"])[(X[:, 2] > 0).astype(int)]})
    y = frame["age"] / 10 + (frame["job"] == "b") * 2 + (frame["city"] == "y") * frame["hours"] / 20
    pre = ColumnTransformer([("num", StandardScaler(), ["age", "hours"]),
                             ("cat", OneHotEncoder(sparse_output=False), ["job", "city"])])
    pipe = make_pipeline(pre, GradientBoostingRegressor(n_estimators=30, max_depth=3,
                                                        random_state=0)).fit(frame, y)
    tree = TreeShapley(pipe, n_background=20, device="cpu", random_state=0).fit(frame)
    assert tree.prepared_.fast_path
    exp = tree.explain(frame.iloc[:5])
    exact = ExactShapley(pipe, background=tree.prepared_.raw_frame(tree.background_),
                         fast_path=False, device="cpu").fit(frame).explain(frame.iloc[:5])
    assert exp.feature_names == ["age", "hours", "job", "city"]
    np.testing.assert_allclose(exp.values, exact.values, atol=1e-9)
