"""TreeShapley's path-dependent game: checked against an independent brute force (v(S) by the
covers' recursion on the models' own tree arrays, every coalition enumerated), XGBoost's
``pred_contribs``, LightGBM's ``pred_contrib``, CatBoost's ``ShapValues`` and shap's
TreeExplainer without data."""

import math

import numpy as np
import pytest
import torch
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeRegressor

from sklxai import TreeShapley
from sklxai.games.trees.path_dependent import PathDependentValues
from sklxai.models.trees import read_trees


# ------------------------------------------------------------------ the brute force
def _sklearn_trees(model):
    """(tree_, scale, leaf values (n_nodes, k)) of each tree and the constant of a model."""
    if isinstance(model, GradientBoostingRegressor):
        base = float(model.init_.constant_.ravel()[0])
        return [(est.tree_, model.learning_rate, est.tree_.value[:, :, 0])
                for est in model.estimators_[:, 0]], np.array([base])
    estimators = getattr(model, "estimators_", [model])
    out = []
    for est in estimators:
        value = est.tree_.value[:, 0, :]
        if hasattr(model, "classes_"):
            value = value / value.sum(axis=1, keepdims=True)
        out.append((est.tree_, 1.0 / len(estimators), value))
    return out, np.zeros(out[0][2].shape[1])


def _sklearn_value(tree_, value, node, x, known):
    """The tree's output with the features outside ``known`` integrated out by its covers."""
    left, right = tree_.children_left[node], tree_.children_right[node]
    if left < 0:
        return value[node]
    feature = tree_.feature[node]
    if known[feature]:
        go_left = np.float32(x[feature]) <= tree_.threshold[node]
        return _sklearn_value(tree_, value, left if go_left else right, x, known)
    cover = tree_.weighted_n_node_samples
    return (cover[left] * _sklearn_value(tree_, value, left, x, known)
            + cover[right] * _sklearn_value(tree_, value, right, x, known)) / cover[node]


def _hgb_value(nodes, node, x, known):
    """The same recursion on a HistGradientBoosting predictor's nodes (numeric splits, NaN as
    ``missing_go_to_left`` says), with its node counts as covers."""
    if nodes["is_leaf"][node]:
        return nodes["value"][node]
    left, right = int(nodes["left"][node]), int(nodes["right"][node])
    feature = int(nodes["feature_idx"][node])
    if known[feature]:
        value = x[feature]
        go_left = nodes["missing_go_to_left"][node] if np.isnan(value) else \
            value <= nodes["num_threshold"][node]
        return _hgb_value(nodes, left if go_left else right, x, known)
    count = nodes["count"].astype(float)
    return (count[left] * _hgb_value(nodes, left, x, known)
            + count[right] * _hgb_value(nodes, right, x, known)) / count[node]


def coalition_values(model, x, groups):
    """v(S) for every coalition S of the groups (bit i: group i), the path-dependent game."""
    d = sum(len(g) for g in groups)
    if isinstance(model, HistGradientBoostingRegressor):
        def value(known):
            return np.array([model._baseline_prediction.ravel()[0] + sum(
                _hgb_value(it[0].nodes, 0, x, known) for it in model._predictors)])
    else:
        trees, base = _sklearn_trees(model)

        def value(known):
            return base + sum(scale * _sklearn_value(t, v, 0, x, known)
                              for t, scale, v in trees)
    out = {}
    for mask in range(2 ** len(groups)):
        known = np.zeros(d, dtype=bool)
        for i, cols in enumerate(groups):
            if mask >> i & 1:
                known[cols] = True
        out[mask] = value(known)
    return out


def enumerate_values(v, n_players):
    """Shapley and Banzhaf values of the game ``v`` (dict mask -> array), by enumeration."""
    shapley = np.zeros((n_players, len(v[0])))
    banzhaf = np.zeros_like(shapley)
    for i in range(n_players):
        for mask in range(2**n_players):
            if mask >> i & 1:
                continue
            s = mask.bit_count()
            gain = v[mask | 1 << i] - v[mask]
            shapley[i] += math.factorial(s) * math.factorial(n_players - s - 1) / \
                math.factorial(n_players) * gain
            banzhaf[i] += gain / 2 ** (n_players - 1)
    return shapley, banzhaf


# ------------------------------------------------------------------ data and models
@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = X[:, 0] + 2 * X[:, 1] * X[:, 2] + np.sin(3 * X[:, 3]) + 0.1 * rng.normal(size=300)
    return X, y


SMALL = {
    "tree": lambda: DecisionTreeRegressor(max_depth=6, random_state=0),
    "forest": lambda: RandomForestRegressor(n_estimators=4, max_depth=5, random_state=0),
    "forest-proba": lambda: RandomForestClassifier(n_estimators=3, max_depth=5, random_state=0),
    "gbdt": lambda: GradientBoostingRegressor(n_estimators=6, max_depth=3, random_state=0),
    "hgb": lambda: HistGradientBoostingRegressor(max_iter=5, max_leaf_nodes=12),
}


def _fit(name, X, y):
    model = SMALL[name]()
    if name == "forest-proba":
        return model.fit(X, np.digitize(y, [-1.0, 1.0]))  # three classes
    return model.fit(X, y)


def _values(values):
    return values if values.ndim == 3 else values[:, :, None]


@pytest.mark.parametrize("name", list(SMALL))
@pytest.mark.parametrize("index", ["SV", "BV"])
def test_equals_the_brute_force_game(data, name, index):
    X, y = data
    if name == "hgb":  # missing values, sent where the model learnt
        X = X.copy()
        X[::7, 1] = np.nan
    model = _fit(name, X, y)
    rows = X[:4]
    exp = TreeShapley(model, game="path_dependent", index=index, device="cpu").fit(X) \
        .explain(rows)
    groups = [[j] for j in range(X.shape[1])]
    for r, x in enumerate(rows):
        v = coalition_values(model, x, groups)
        shapley, banzhaf = enumerate_values(v, len(groups))
        expected = shapley if index == "SV" else banzhaf
        np.testing.assert_allclose(_values(exp.values)[r], expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.atleast_1d(exp.base_values[r]), v[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.atleast_1d(exp.output[r]), v[2 ** len(groups) - 1],
                                   rtol=0, atol=1e-12)
    assert exp.index == index
    if index == "SV":  # efficiency: the values sum to the output less the covers' mean
        assert exp.efficiency_gap < 1e-12
    else:
        assert exp.efficiency_gap is None


def test_feature_groups_are_players_of_the_game(data):
    X, y = data
    X6 = np.column_stack([X, X[:, 0] * X[:, 3]])
    model = RandomForestRegressor(n_estimators=3, max_depth=6, random_state=1).fit(X6, y)
    groups = [[0, 5], [1, 2], [3], [4]]
    for index in ("SV", "BV"):
        exp = TreeShapley(model, game="path_dependent", feature_groups=groups, index=index,
                          device="cpu").fit(X6).explain(X6[:3])
        for r, x in enumerate(X6[:3]):
            shapley, banzhaf = enumerate_values(coalition_values(model, x, groups), 4)
            expected = shapley if index == "SV" else banzhaf
            np.testing.assert_allclose(exp.values[r], expected[:, 0], rtol=0, atol=1e-12)


def _deep_forest(n_features, seed, n_trees=2):
    """Fully grown extra trees on a noise target: random splits, paths deeper than 30."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(1500, n_features))
    model = ExtraTreesRegressor(n_estimators=n_trees, max_depth=None, random_state=seed)
    return X, model.fit(X, rng.normal(size=len(X)))


def test_exact_at_depth_30_and_more():
    # few features: against the brute-force recursion over every coalition
    X, model = _deep_forest(4, 0)
    assert max(est.tree_.max_depth for est in model.estimators_) >= 30
    exp = TreeShapley(model, game="path_dependent", device="cpu").fit(X).explain(X[:3])
    groups = [[j] for j in range(4)]
    for r, x in enumerate(X[:3]):
        shapley, _ = enumerate_values(coalition_values(model, x, groups), 4)
        np.testing.assert_allclose(exp.values[r], shapley[:, 0], rtol=0, atol=1e-10)


def test_many_players_on_deep_paths_add_up_and_match_shap():
    # 40 features, paths of more than 30 splits on many distinct features (product games of
    # 20+ players per leaf): efficiency to rounding, and shap's own algorithm
    shap = pytest.importorskip("shap")
    X, model = _deep_forest(40, 1, n_trees=1)
    trees = read_trees(model)
    assert trees.depth >= 30
    exp = TreeShapley(model, game="path_dependent", device="cpu").fit(X).explain(X[:8])
    assert exp.efficiency_gap < 1e-12
    reference = shap.TreeExplainer(model).shap_values(X[:8], check_additivity=False)
    np.testing.assert_allclose(exp.values, reference, rtol=0, atol=1e-9)
    players = PathDependentValues(trees, [[j] for j in range(40)])
    assert max(b.n_slots for b in players.buckets) >= 20


@pytest.mark.parametrize("name", ["forest", "gbdt", "tree"])
def test_matches_shap_without_data_on_sklearn_models(data, name):
    shap = pytest.importorskip("shap")
    X, y = data
    model = _fit(name, X, y)
    exp = TreeShapley(model, game="path_dependent", device="cpu").fit(X).explain(X[:40])
    explainer = shap.TreeExplainer(model)
    np.testing.assert_allclose(exp.values, explainer.shap_values(X[:40]), rtol=0, atol=1e-9)
    np.testing.assert_allclose(exp.base_values, np.ravel(explainer.expected_value)[0],
                               rtol=0, atol=1e-9)


# ------------------------------------------------------------------ the boosters' own values
def _booster_data(kind, nan=True):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 6))
    if nan:
        X[rng.random(X.shape) < 0.05] = np.nan
    score = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1] * X[:, 2]) - np.nan_to_num(X[:, 4])
    if kind == "regression":
        return X, score
    if kind == "binary":
        return X, (score > 0).astype(int)
    return X, np.digitize(score, [-1.0, 1.0])


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass"])
def test_matches_xgboost_pred_contribs(kind):
    xgboost = pytest.importorskip("xgboost")
    X, y = _booster_data(kind)
    cls = xgboost.XGBRegressor if kind == "regression" else xgboost.XGBClassifier
    model = cls(n_estimators=15, max_depth=5, learning_rate=0.3, random_state=0).fit(X, y)
    exp = TreeShapley(model, game="path_dependent", device="cpu").fit(X).explain(X[:60])
    contribs = model.get_booster().predict(xgboost.DMatrix(X[:60]), pred_contribs=True)
    values, base = _values(exp.values), np.asarray(exp.base_values).reshape(60, -1)
    if contribs.ndim == 2:  # (n, d + 1) for one output, (n, k, d + 1) for several
        contribs = contribs[:, None, :]
    np.testing.assert_allclose(values, contribs[:, :, :-1].transpose(0, 2, 1), rtol=0,
                               atol=1e-5)
    np.testing.assert_allclose(base, contribs[:, :, -1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass"])
def test_matches_lightgbm_pred_contrib(kind):
    lightgbm = pytest.importorskip("lightgbm")
    X, y = _booster_data(kind)
    cls = lightgbm.LGBMRegressor if kind == "regression" else lightgbm.LGBMClassifier
    model = cls(n_estimators=15, num_leaves=12, random_state=0, verbose=-1).fit(X, y)
    exp = TreeShapley(model, game="path_dependent", device="cpu").fit(X).explain(X[:60])
    contribs = model.predict(X[:60], pred_contrib=True)
    k = 1 if kind != "multiclass" else 3
    contribs = np.asarray(contribs).reshape(60, k, -1)
    np.testing.assert_allclose(_values(exp.values), contribs[:, :, :-1].transpose(0, 2, 1),
                               rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(exp.base_values).reshape(60, -1), contribs[:, :, -1],
                               rtol=0, atol=1e-5)


# ------------------------------------------------------------------ refusals
def test_background_with_the_path_dependent_game_is_refused(data):
    X, y = data
    model = _fit("forest", X, y)
    with pytest.raises(ValueError, match="background= is not used by game='path_dependent'"):
        TreeShapley(model, game="path_dependent", background=X[:10]).fit(X)


def test_trees_without_covers_are_refused(data):
    X, y = data
    trees = read_trees(_fit("tree", X, y))
    trees.node_cover = None
    with pytest.raises(ValueError, match="no node covers.*game='marginal'"):
        PathDependentValues(trees, [[j] for j in range(5)])


def test_additive_on_a_tree_of_depth_90_over_sparse_data():
    # a fully grown extra tree on 95% zeros and a random target: paths of ~90 splits on up to
    # ~80 distinct features, where dividing a factor out of each leaf's product (the usual
    # path-dependent algorithm) cancels catastrophically; the values still add up to rounding
    rng = np.random.default_rng(123456)
    X = rng.normal(size=(165, 100))
    X.ravel()[rng.choice(X.size, int(X.size * 0.95), replace=False)] = 0.0
    model = ExtraTreesClassifier(n_estimators=1, random_state=123456).fit(
        X, rng.integers(0, 2, size=165))
    assert model.estimators_[0].tree_.max_depth >= 80
    exp = TreeShapley(model, game="path_dependent", device="cpu").fit(X).explain(X[:12])
    assert exp.efficiency_gap < 1e-12
    players = PathDependentValues(read_trees(model), [[j] for j in range(100)])
    assert max(b.n_slots for b in players.buckets) >= 60


@pytest.mark.parametrize("kind", ["regression", "binary", "multiclass"])
def test_matches_catboost_shap_values(kind):
    catboost = pytest.importorskip("catboost")
    X, y = _booster_data(kind, nan=False)
    cls = catboost.CatBoostRegressor if kind == "regression" else catboost.CatBoostClassifier
    model = cls(iterations=15, depth=4, verbose=0, random_seed=0, thread_count=1,
                allow_writing_files=False).fit(X, y)
    exp = TreeShapley(model, game="path_dependent", device="cpu").fit(X).explain(X[:40])
    contribs = model.get_feature_importance(catboost.Pool(X[:40]), type="ShapValues")
    contribs = contribs if contribs.ndim == 3 else contribs[:, None, :]
    np.testing.assert_allclose(_values(exp.values), contribs[:, :, :-1].transpose(0, 2, 1),
                               rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.asarray(exp.base_values).reshape(40, -1), contribs[:, :, -1],
                               rtol=0, atol=1e-10)


@pytest.mark.parametrize("index", ["SV", "BV"])
def test_value_tables_equal_the_values_computed_per_row(data, monkeypatch, index):
    from sklxai.games.trees import path_dependent

    X, y = data
    model = _fit("forest-proba", X, y)
    tables = TreeShapley(model, game="path_dependent", index=index, device="cpu").fit(X)
    monkeypatch.setattr(path_dependent, "_TABLE_MAX_SLOTS", 0)
    computed = TreeShapley(model, game="path_dependent", index=index, device="cpu").fit(X)
    assert all(b.table is not None for b in tables._values.buckets)
    assert all(b.table is None for b in computed._values.buckets)
    np.testing.assert_allclose(tables.explain(X[:30]).values, computed.explain(X[:30]).values,
                               rtol=0, atol=1e-14)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("index", ["SV", "BV"])
def test_path_dependent_values_on_cuda_match_the_cpu(index):
    X, model = _deep_forest(6, 2)  # tables for short paths, per-row products for long ones
    cpu = TreeShapley(model, game="path_dependent", index=index, device="cpu").fit(X)
    cuda = TreeShapley(model, game="path_dependent", index=index, device="cuda").fit(X)
    np.testing.assert_allclose(cuda.explain(X[:50]).values, cpu.explain(X[:50]).values,
                               rtol=0, atol=1e-10)


def test_a_pipeline_gets_the_values_of_its_trees_per_raw_column(data):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data
    X = X * [1.0, 10.0, 100.0, 0.1, 3.0]
    pipe = make_pipeline(StandardScaler(), _fit("forest", X, y)).fit(X, y)
    exp = TreeShapley(pipe, game="path_dependent", device="cpu").fit(X).explain(X[:5])
    scaled = pipe[0].transform(X[:5])
    groups = [[j] for j in range(X.shape[1])]
    for r, x in enumerate(scaled):
        shapley, _ = enumerate_values(coalition_values(pipe[-1], x, groups), len(groups))
        np.testing.assert_allclose(exp.values[r], shapley[:, 0], rtol=0, atol=1e-12)


def test_needs_no_background_rows_and_keeps_dataframe_names(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    X = X.copy()
    X[:, 4] = 1.5  # a constant column: no split uses it, its value is 0
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d", "const"])
    model = _fit("forest", frame, y)
    exp = TreeShapley(model, game="path_dependent", device="cpu").fit(frame.iloc[:1]) \
        .explain(frame.iloc[:6])
    assert exp.feature_names == ["a", "b", "c", "d", "const"]
    np.testing.assert_array_equal(exp.values[:, 4], 0.0)
    assert exp.efficiency_gap < 1e-12
    full = TreeShapley(model, game="path_dependent", device="cpu").fit(frame).explain(frame[:6])
    np.testing.assert_array_equal(exp.values, full.values)  # fit's rows change nothing


def test_categorical_splits_route_as_the_model():
    # HistGradientBoosting's categorical splits and missing values: a leaf's x-indicators come
    # from the model's own routing, so the values add up to its decision_function
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 4))
    X[:, 0] = rng.integers(0, 6, size=500)
    X[::9, 1] = np.nan
    y = ((X[:, 0] % 2 == 0) ^ (np.nan_to_num(X[:, 1]) > 0)).astype(int)
    model = HistGradientBoostingClassifier(max_iter=20, categorical_features=[0]).fit(X, y)
    exp = TreeShapley(model, game="path_dependent", device="cpu").fit(X).explain(X[:100])
    np.testing.assert_allclose(exp.output, model.decision_function(X[:100]), rtol=0, atol=1e-12)
    assert exp.efficiency_gap < 1e-12
