"""Compiled trees: every reader's TreeEnsemble and the TreeAdapter equal the model's own
``predict`` / ``decision_function`` / ``predict_proba`` (float64, to 1e-12; XGBoost, which
computes in float32, exactly once its float32 sums are replayed).

Every numeric check compares with the model's own prediction method, never with earlier output.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import (
    DecisionTreeClassifier,
    DecisionTreeRegressor,
    ExtraTreeClassifier,
    ExtraTreeRegressor,
)

from sklxai.models import SklearnAdapter, make_adapter, prepare_model
from sklxai.models.trees import is_tree_model, read_trees
from sklxai.models.trees.adapter import TreeAdapter

TOL = 1e-12


def _data(n=400, nan=False, seed=0):
    """Features (n, 5): column 1 holds 7 values x 1.5 and column 3 integers -2..3 (usable as
    categories); NaN in 10% of the cells when ``nan``. Targets: regression, binary, 3 classes."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    X[:, 1] = rng.integers(0, 7, n) * 1.5
    X[:, 3] = rng.integers(-2, 4, n)
    if nan:
        X[rng.random(X.shape) < 0.1] = np.nan
    Z = np.nan_to_num(X)
    y = Z[:, 0] + np.isin(Z[:, 1], [3.0, 6.0]) * 2 + 0.5 * Z[:, 3] + 0.3 * Z[:, 4]
    return X, y, (y > 1).astype(int), np.digitize(y, [0.0, 1.5])


def _kinds(model):
    """The model's own methods the compiled trees must equal: (raw method, prediction)."""
    if hasattr(model, "classes_"):
        raw = "decision_function" if hasattr(model, "decision_function") else "predict_proba"
        return raw, "predict_proba"
    return "predict", "predict"


def _check(model, X, raw_expected=None, tol=TOL):
    """read_trees(model).raw and TreeAdapter equal the model's own outputs at X (the raw
    output: ``raw_expected``, else the method the model has)."""
    raw_method, method = _kinds(model)
    trees = read_trees(model)
    raw = trees.raw(torch.as_tensor(X)).numpy()
    expected = getattr(model, raw_method)(X) if raw_expected is None else raw_expected
    expected = np.asarray(expected, dtype=np.float64)
    np.testing.assert_allclose(raw, expected.reshape(raw.shape), rtol=0, atol=tol)
    assert isinstance(make_adapter(model, device="cpu"), SklearnAdapter)  # faster on a CPU
    adapter = TreeAdapter(model, device="cpu")
    out = adapter.predict(X)
    expected = np.asarray(getattr(model, method)(X), dtype=np.float64)
    np.testing.assert_allclose(out, expected.reshape(out.shape), rtol=0, atol=tol)
    generic = SklearnAdapter(model)
    assert adapter.output_names == generic.output_names
    assert adapter.is_classifier == generic.is_classifier
    return trees


SKLEARN = [
    (DecisionTreeRegressor(max_depth=6, random_state=0), 0, True),
    (DecisionTreeClassifier(max_depth=6, random_state=0), 1, True),
    (DecisionTreeClassifier(max_depth=6, random_state=0), 2, True),
    (ExtraTreeRegressor(max_depth=6, random_state=0), 0, False),
    (ExtraTreeClassifier(max_depth=6, random_state=0), 2, False),
    (RandomForestRegressor(n_estimators=5, max_depth=6, random_state=0), 0, True),
    (RandomForestClassifier(n_estimators=5, max_depth=6, random_state=0), 2, True),
    (ExtraTreesRegressor(n_estimators=5, max_depth=6, random_state=0), 0, False),
    (ExtraTreesClassifier(n_estimators=5, max_depth=6, random_state=0), 1, False),
    (GradientBoostingRegressor(n_estimators=10, random_state=0), 0, False),
    (GradientBoostingClassifier(n_estimators=10, random_state=0), 1, False),
    (GradientBoostingClassifier(n_estimators=10, random_state=0), 2, False),
    (HistGradientBoostingRegressor(max_iter=15), 0, True),
    (HistGradientBoostingClassifier(max_iter=15), 1, True),
    (HistGradientBoostingClassifier(max_iter=15), 2, True),
]


@pytest.mark.parametrize("model, target, nan", SKLEARN,
                         ids=[f"{type(m).__name__}-{t}" for m, t, _ in SKLEARN])
def test_sklearn_models(model, target, nan):
    X, *ys = _data(nan=nan)
    model.fit(X, ys[target])
    _check(model, _data(n=200, nan=nan, seed=1)[0])


@pytest.mark.parametrize("model", [RandomForestRegressor, RandomForestClassifier])
def test_forests_of_deep_trees(model):
    X, y, _, _ = _data(n=2000)
    noise = np.random.default_rng(0).normal(size=len(y))  # labels trees can only memorise
    model = model(n_estimators=3, max_depth=None, random_state=0).fit(
        X, y + noise if model is RandomForestRegressor else np.digitize(noise, [-0.5, 0.5]))
    trees = _check(model, X[:300])
    assert trees.depth >= 20


def test_single_leaf_trees():
    X, y, _, _ = _data(n=100)
    for model in (DecisionTreeRegressor(), HistGradientBoostingRegressor(max_iter=3),
                  RandomForestRegressor(n_estimators=3, max_depth=2, random_state=0)):
        target = np.ones(len(X)) if not isinstance(model, RandomForestRegressor) else \
            np.where(np.arange(len(X)) < 99, 1.0, 2.0)  # some bootstrap samples are constant
        trees = _check(model.fit(X, target), X)
        assert trees.n_leaves >= 1
    assert TreeAdapter(model, device="cpu")(torch.zeros(0, X.shape[1])).shape == (0, 1)


def _hgb_rows(seed=1):
    """Rows with NaN, unknown categories (99 and 3.75 in column 1, -7 and 8 in column 3)."""
    X = _data(n=300, nan=True, seed=seed)[0]
    X[:20, 1], X[20:30, 1], X[30:40, 3], X[40:50, 3] = 99.0, 3.75, -7.0, 8.0
    return X


@pytest.mark.parametrize("categorical", [[1, 3], np.array([False, True, False, True, False])],
                         ids=["indices", "mask"])
@pytest.mark.parametrize("target", [0, 1, 2])
def test_hist_gradient_boosting_categorical(categorical, target):
    X, *ys = _data(n=600, nan=True)
    kind = HistGradientBoostingRegressor if target == 0 else HistGradientBoostingClassifier
    model = kind(max_iter=15, categorical_features=categorical).fit(X, ys[target])
    trees = _check(model, _hgb_rows())
    assert bool(trees.categorical.any())
    assert trees.feature_source.tolist() == [1, 3, 0, 2, 4]  # categorical model features first
    assert trees.categories[0].tolist() == [0.0, 1.5, 3.0, 4.5, 6.0, 7.5, 9.0]


def test_hist_gradient_boosting_log_link():
    X, y, _, _ = _data()
    model = HistGradientBoostingRegressor(max_iter=15, loss="poisson").fit(X, np.exp(y / 3))
    trees = read_trees(model)
    assert trees.link == "exp"
    raw = trees.raw(torch.as_tensor(X))
    np.testing.assert_allclose(raw.numpy().ravel(), model._raw_predict(X).ravel(), rtol=0,
                               atol=TOL)
    np.testing.assert_allclose(TreeAdapter(model, device="cpu").predict(X).ravel(),
                               model.predict(X), rtol=1e-13, atol=TOL)


@pytest.mark.parametrize("max_features", [1.0, 0.6])
def test_isolation_forest(max_features):
    # raw: the normalised mean path length, -log2(-score_samples); decision_function follows;
    # trees fitted on column subsets (max_features < 1) read their columns through the subset
    X, _, _, _ = _data(nan=True)
    model = IsolationForest(n_estimators=25, max_features=max_features, random_state=0).fit(X)
    trees = read_trees(model)
    assert trees.link == "isolation"
    rows = _data(n=200, nan=True, seed=1)[0]
    raw = trees.raw(torch.as_tensor(rows)).numpy().ravel()
    np.testing.assert_allclose(raw, -np.log2(-model.score_samples(rows)), rtol=0, atol=TOL)
    adapter = TreeAdapter(model, device="cpu")
    np.testing.assert_allclose(adapter.predict(rows).ravel(), model.decision_function(rows),
                               rtol=0, atol=TOL)
    assert isinstance(make_adapter(model, device="cpu"), SklearnAdapter)
    assert adapter.is_classifier == SklearnAdapter(model).is_classifier


def test_hist_gradient_boosting_pandas_categories():
    pd = pytest.importorskip("pandas")
    X, y, _, _ = _data(n=600)
    frame = pd.DataFrame({"a": X[:, 0], "c": pd.Categorical(X[:, 3], categories=[3.0, 2.0, 1.0,
                          0.0, -1.0, -2.0, 5.0]), "b": X[:, 4]})
    model = HistGradientBoostingRegressor(max_iter=15).fit(frame, y)
    rows = frame.copy()
    rows.loc[:30, "c"] = 5.0  # a category of the dtype that fit never saw: unknown
    rows.loc[30:40, "c"] = np.nan
    floats = rows.astype({"c": float}).to_numpy(dtype=float)
    raw = read_trees(model).raw(torch.as_tensor(floats)).numpy().ravel()
    np.testing.assert_allclose(raw, model.predict(rows), rtol=0, atol=TOL)
    frame["c"] = frame["c"].astype(str).astype("category")
    with pytest.raises(TypeError, match="non-numeric categories"):
        read_trees(HistGradientBoostingRegressor(max_iter=3).fit(frame, y))


def test_tree_adapter_raw_output():
    X, _, y_bin, y_multi = _data()
    binary = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y_bin)
    adapter = TreeAdapter(binary, model_output="raw", device="cpu")
    np.testing.assert_allclose(adapter.predict(X).ravel(), binary.decision_function(X), rtol=0,
                               atol=TOL)
    assert adapter.output_names == [1] and not adapter.is_classifier
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y_multi)
    adapter = TreeAdapter(forest, model_output="raw", device="cpu")
    np.testing.assert_allclose(adapter.predict(X), forest.predict_proba(X), rtol=0, atol=TOL)
    assert adapter.is_classifier and adapter.output_names == [0, 1, 2]
    with pytest.raises(ValueError, match="model_output must be one of"):
        TreeAdapter(forest, model_output="margin")


def test_unsupported_models():
    X, y, _, _ = _data(n=50)
    with pytest.raises(TypeError, match="HistGradientBoostingRegressor.*XGBClassifier"):
        read_trees(LinearRegression().fit(X, y))
    assert not is_tree_model(LinearRegression().fit(X, y))
    assert not is_tree_model(RandomForestRegressor())  # not fitted
    # a tree model the layout cannot express keeps the generic adapter
    model = GradientBoostingRegressor(n_estimators=3, init=LinearRegression()).fit(X, y)
    with pytest.raises(TypeError, match="non-constant initial prediction"):
        read_trees(model)
    assert isinstance(make_adapter(model), SklearnAdapter)


def test_pipeline_fast_path():
    X, _, y_bin, _ = _data()
    pipe = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(max_iter=10))
    pipe.fit(X, y_bin)
    prepared, rows = prepare_model(pipe, X, device="cpu")
    # the fast path on the CPU keeps scikit-learn's compiled predict (faster there)
    assert prepared.fast_path and isinstance(prepared.adapter, SklearnAdapter)
    out = prepared.adapter.predict(prepared.model_rows(rows))
    np.testing.assert_allclose(out, pipe.predict_proba(X), rtol=0, atol=TOL)
    linear = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y_bin)
    assert not prepare_model(linear, X)[0].fast_path


def test_trees_have_no_gradients():
    X, y, _, _ = _data(n=100)
    adapter = TreeAdapter(RandomForestRegressor(n_estimators=2).fit(X, y), device="cpu")
    with pytest.raises(TypeError, match="without gradients"):
        adapter.forward(torch.zeros(2, X.shape[1], dtype=torch.float64, requires_grad=True))
    with pytest.raises(ValueError, match="X has 4 features, but RandomForestRegressor is "
                       "expecting 5"):
        adapter(torch.zeros(2, 4))


def test_import_without_boosters():
    code = (
        "import sys\n"
        "sys.modules['xgboost'] = None\n"
        "sys.modules['lightgbm'] = None\n"
        "import numpy as np, sklxai, torch\n"
        "from sklearn.tree import DecisionTreeRegressor\n"
        "from sklxai.models.trees import read_trees\n"
        "X = np.arange(20.0).reshape(10, 2)\n"
        "m = DecisionTreeRegressor().fit(X, X[:, 0])\n"
        "assert (read_trees(m).raw(torch.as_tensor(X))[:, 0].numpy() == m.predict(X)).all()\n"
        "print(type(sklxai.make_adapter(m)).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "SklearnAdapter"  # the CPU keeps scikit-learn's predict


# ------------------------------------------------------------------------------ XGBoost
def _xgboost_margin_float32(trees, X):
    """XGBoost's margin replayed: the base, then each tree's leaf value, added in float32."""
    reached = trees.follows(trees.encode(torch.as_tensor(X))).all(dim=2).to(torch.float64)
    n_trees = int(trees.leaf_tree.max()) + 1
    out = np.tile(trees.base.numpy().astype(np.float32), (len(X), 1))
    for tree in range(n_trees):
        leaves = trees.leaf_tree == tree
        step = (reached[:, leaves] @ trees.leaf_value[leaves]).numpy().astype(np.float32)
        out = (out + step).astype(np.float32)
    return out


@pytest.mark.parametrize("target", [0, 1, 2])
@pytest.mark.parametrize("categorical", [False, True], ids=["numeric", "categorical"])
def test_xgboost(target, categorical):
    xgb = pytest.importorskip("xgboost")
    X, *ys = _data(n=600, nan=True)
    X[:, 3] += 2  # categories: non-negative integers
    kind = xgb.XGBRegressor if target == 0 else xgb.XGBClassifier
    options = {"feature_types": ["q", "q", "q", "c", "q"], "enable_categorical": True} \
        if categorical else {}
    model = kind(n_estimators=20, max_depth=4, n_jobs=1, **options).fit(X, ys[target])
    rows = _hgb_rows()
    rows[:, 3] += 2
    trees = read_trees(model)
    assert bool(trees.categorical.any()) == categorical
    margin = model.predict(rows, output_margin=True).reshape(len(rows), -1)
    assert np.array_equal(_xgboost_margin_float32(trees, rows), margin)
    raw = trees.raw(torch.as_tensor(rows)).numpy()
    np.testing.assert_allclose(raw, margin, rtol=1e-5, atol=1e-5)
    adapter = make_adapter(model, device="cpu")
    expected = model.predict(rows) if target == 0 else model.predict_proba(rows)
    np.testing.assert_allclose(adapter.predict(rows), expected.reshape(len(rows), -1),
                               rtol=1e-5, atol=1e-6)
    booster = read_trees(model.get_booster())
    np.testing.assert_array_equal(booster.raw(torch.as_tensor(rows)).numpy(), raw)


@pytest.mark.parametrize("variant", ["forest", "dart", "early_stopping", "poisson"])
def test_xgboost_variants(variant):
    xgb = pytest.importorskip("xgboost")
    X, y, _, _ = _data(n=600, nan=True)
    options = {"n_estimators": 20, "max_depth": 3, "n_jobs": 1}
    kind = xgb.XGBRFRegressor if variant == "forest" else xgb.XGBRegressor
    if variant == "dart":
        options.update(booster="dart", rate_drop=0.3, random_state=0)
    if variant == "early_stopping":
        options.update(n_estimators=200, early_stopping_rounds=2)
    if variant == "poisson":
        options.update(objective="count:poisson")
        y = np.exp(y / 3)
    fit = {"eval_set": [(X[500:], y[500:])], "verbose": False} \
        if variant == "early_stopping" else {}
    model = kind(**options).fit(X[:500], y[:500], **fit)
    trees = read_trees(model)
    margin = model.predict(X, output_margin=True)[:, None]
    replayed = _xgboost_margin_float32(trees, X)
    if variant == "dart":  # dropout weights times leaves: rounded otherwise than a float32 sum
        np.testing.assert_allclose(replayed, margin, rtol=1e-6, atol=1e-6)
    else:
        assert np.array_equal(replayed, margin)
    np.testing.assert_allclose(make_adapter(model, device="cpu").predict(X).ravel(),
                               model.predict(X), rtol=1e-5, atol=1e-6)


def test_xgboost_refusals():
    xgb = pytest.importorskip("xgboost")
    X, y, _, _ = _data(n=100)
    with pytest.raises(TypeError, match="gblinear"):
        read_trees(xgb.XGBRegressor(n_estimators=2, booster="gblinear", n_jobs=1).fit(X, y))
    with pytest.raises(TypeError, match="missing=0"):
        read_trees(xgb.XGBRegressor(n_estimators=2, missing=0.0, n_jobs=1).fit(X, y))


# ------------------------------------------------------------------------------ LightGBM
@pytest.mark.parametrize("target", [0, 1, 2])
@pytest.mark.parametrize("categorical", [False, True], ids=["numeric", "categorical"])
def test_lightgbm(target, categorical):
    lgb = pytest.importorskip("lightgbm")
    X, *ys = _data(n=600, nan=True)
    X[:, 3] += 2  # LightGBM's categories are non-negative integers
    kind = lgb.LGBMRegressor if target == 0 else lgb.LGBMClassifier
    model = kind(n_estimators=20, num_leaves=8, min_child_samples=5, verbose=-1, n_jobs=1)
    model.fit(X, ys[target], categorical_feature=[3] if categorical else "auto")
    rows = _hgb_rows()
    rows[:, 3] += 2
    raw = model.predict(rows, raw_score=True)
    trees = _check(model, rows, raw_expected=raw)
    assert bool(trees.categorical.any()) == categorical
    booster = model.booster_
    np.testing.assert_allclose(read_trees(booster).raw(torch.as_tensor(rows)).numpy(),
                               booster.predict(rows, raw_score=True).reshape(len(rows), -1),
                               rtol=0, atol=TOL)


@pytest.mark.filterwarnings("ignore:The argument 'eval_set' is deprecated")
@pytest.mark.parametrize("variant", ["forest", "dart", "early_stopping", "poisson"])
def test_lightgbm_variants(variant):
    lgb = pytest.importorskip("lightgbm")
    X, y, _, _ = _data(n=600, nan=True)
    options = {"n_estimators": 20, "num_leaves": 8, "verbose": -1, "n_jobs": 1}
    if variant == "forest":
        options.update(boosting_type="rf", subsample=0.5, subsample_freq=1)
    if variant == "dart":
        options.update(boosting_type="dart")
    if variant == "early_stopping":
        options.update(n_estimators=200)
    if variant == "poisson":
        options.update(objective="poisson")
        y = np.exp(y / 3)
    fit = {"eval_set": [(X[500:], y[500:])],
           "callbacks": [lgb.early_stopping(2, verbose=False)]} \
        if variant == "early_stopping" else {}
    model = lgb.LGBMRegressor(**options).fit(X[:500], y[:500], **fit)
    raw = model.predict(X, raw_score=True)
    if variant == "forest":  # raw_score sums a forest's trees; predict averages them
        raw = raw / model.booster_.current_iteration()
    _check(model, X, raw_expected=raw)


def test_lightgbm_pandas_categories_and_refusals():
    lgb = pytest.importorskip("lightgbm")
    pd = pytest.importorskip("pandas")
    X, y, _, _ = _data(n=600, nan=True)
    frame = pd.DataFrame({"a": X[:, 0], "c": pd.Categorical(X[:, 1], categories=[
        9.0, 7.5, 6.0, 4.5, 3.0, 1.5, 0.0, 20.0]), "b": X[:, 4]})
    model = lgb.LGBMRegressor(n_estimators=20, num_leaves=8, verbose=-1, n_jobs=1).fit(frame, y)
    rows = frame.copy()
    rows.loc[:30, "c"] = 20.0  # unseen in fit
    floats = rows.astype({"c": float}).to_numpy(dtype=float)
    raw = read_trees(model).raw(torch.as_tensor(floats)).numpy().ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = model.predict(rows, raw_score=True)
    np.testing.assert_allclose(raw, expected, rtol=0, atol=TOL)
    Z = np.nan_to_num(X)
    for options in ({"linear_tree": True}, {"zero_as_missing": True}):
        refused = lgb.LGBMRegressor(n_estimators=2, verbose=-1, n_jobs=1, **options).fit(Z, y)
        with pytest.raises(TypeError, match="not supported by the tree readers"):
            read_trees(refused)
        assert not isinstance(make_adapter(refused), TreeAdapter)
