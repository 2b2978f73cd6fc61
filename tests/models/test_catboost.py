"""CatBoost's compiled trees: the TreeEnsemble of every CatBoost model equals the model's own
``predict(prediction_type="RawFormulaVal")`` (and ``predict_proba`` / ``predict`` through the
link), with NaN and at the split borders; its covers are the training weight reaching each node,
counted from CatBoost's own ``calc_leaf_indexes``; unreadable models are refused by name.

Every numeric check compares with CatBoost's own methods, never with earlier output.
"""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

catboost = pytest.importorskip("catboost")

from sklxai.models.trees import is_tree_model, read_trees  # noqa: E402
from sklxai.models.trees.adapter import TreeAdapter  # noqa: E402
from sklxai.models.trees.readers import SUPPORTED  # noqa: E402

TOL = 1e-12
RNG = np.random.default_rng(0)
X = RNG.normal(size=(300, 5))
Y = X[:, 0] + X[:, 1] ** 2 + X[:, 2] * X[:, 3] - (X[:, 4] > 0.5)
X_NAN = X.copy()
X_NAN[::5, 1] = np.nan
X_NAN[::7, 3] = np.nan
KINDS = {
    "regressor": (catboost.CatBoostRegressor, {}, Y),
    "binary": (catboost.CatBoostClassifier, {}, Y > 1),
    "multiclass": (catboost.CatBoostClassifier, {}, np.digitize(Y, [0.0, 1.5])),
    "poisson": (catboost.CatBoostRegressor, {"loss_function": "Poisson"},
                np.round(np.abs(Y))),
    "multi_rmse": (catboost.CatBoostRegressor, {"loss_function": "MultiRMSE"},
                   np.c_[Y, X[:, 0]]),
}


def _fit(kind, data=X_NAN, **options):
    cls, params, y = KINDS[kind]
    model = cls(iterations=15, depth=4, learning_rate=0.3, random_seed=0, thread_count=1,
                verbose=0, allow_writing_files=False, **params, **options)
    return model.fit(data, y)


def _rows(trees):
    """Rows with NaN, rows at every split's border, at the float64 numbers beside it (which
    round to it in float32) and at the float32 numbers beside it, and a row of NaN."""
    inner = trees.feature >= 0
    features = trees.feature_source[trees.feature[inner]].numpy()
    borders = trees.threshold[inner].numpy()
    at = np.repeat(X_NAN[1:2], 5 * len(borders), axis=0)
    with np.errstate(over="ignore"):  # beside the largest float32: inf
        for i, (f, b) in enumerate(zip(features, borders, strict=True)):
            b32 = np.float32(b)
            at[5 * i : 5 * i + 5, f] = [b, np.nextafter(b, np.inf), np.nextafter(b, -np.inf),
                                        np.nextafter(b32, np.float32(np.inf)),
                                        np.nextafter(b32, np.float32(-np.inf))]
    return np.vstack([X_NAN[:40], at, np.full((1, X.shape[1]), np.nan)])


def _check_equals_model(model, rows=None):
    trees = read_trees(model)
    rows = _rows(trees) if rows is None else rows
    raw = trees.raw(torch.as_tensor(rows)).numpy()
    margin = model.predict(rows, prediction_type="RawFormulaVal").reshape(len(rows), -1)
    np.testing.assert_allclose(raw, margin, rtol=0, atol=TOL)
    out = trees.inverse_link(torch.as_tensor(raw)).numpy()
    if isinstance(model, catboost.CatBoostClassifier):
        np.testing.assert_allclose(out, model.predict_proba(rows), rtol=0, atol=TOL)
    else:
        np.testing.assert_allclose(out, model.predict(rows).reshape(len(rows), -1), rtol=0,
                                   atol=TOL)
    return trees


@pytest.mark.parametrize("nan_mode", ["Min", "Max"])
@pytest.mark.parametrize("grow_policy", ["SymmetricTree", "Depthwise", "Lossguide"])
@pytest.mark.parametrize("kind", ["regressor", "binary", "multiclass"])
def test_compiled_trees_equal_predict(kind, grow_policy, nan_mode):
    model = _fit(kind, nan_mode=nan_mode, grow_policy=grow_policy)
    trees = _check_equals_model(model)
    assert trees.n_outputs == (3 if kind == "multiclass" else 1)
    assert trees.link == {"regressor": "identity", "binary": "sigmoid",
                          "multiclass": "softmax"}[kind]
    if kind != "regressor":
        assert trees.output_names == list(model.classes_)


@pytest.mark.parametrize("kind", ["poisson", "multi_rmse"])
def test_other_losses(kind):
    trees = _check_equals_model(_fit(kind))
    assert trees.link == ("exp" if kind == "poisson" else "identity")
    assert trees.n_outputs == (2 if kind == "multi_rmse" else 1)


def test_ignored_features():
    trees = _check_equals_model(_fit("regressor", ignored_features=[0, 4]))
    assert trees.n_inputs == X.shape[1]
    assert not np.isin(trees.feature_source[trees.feature[trees.feature >= 0]].numpy(),
                       [0, 4]).any()


@pytest.mark.parametrize("nan_mode", ["Min", "Max"])
def test_nan_at_predict_for_a_model_fitted_without_nan(nan_mode):
    _check_equals_model(_fit("binary", data=X, nan_mode=nan_mode))


def test_scale_and_bias():
    model = _fit("regressor")
    model.set_scale_and_bias(0.7, 1.3)
    _check_equals_model(model)
    model = _fit("multiclass", grow_policy="Depthwise")
    model.set_scale_and_bias(1.5, [0.1, -0.2, 0.3])
    _check_equals_model(model)


@pytest.mark.parametrize("grow_policy", ["SymmetricTree", "Lossguide"])
def test_covers_are_the_training_weight_reaching_each_node(grow_policy):
    weight = RNG.uniform(0.5, 2.0, len(X))
    cls, _, y = KINDS["regressor"]
    model = cls(iterations=6, depth=3, random_seed=0, thread_count=1, verbose=0,
                allow_writing_files=False, grow_policy=grow_policy).fit(X_NAN, y, sample_weight=weight)
    trees = read_trees(model)
    cover = trees.node_cover.numpy()
    leaf_tree = trees.leaf_tree.numpy()
    # the leaf each training row reaches: CatBoost's own index, and the layout's (its order of
    # a non-symmetric tree's leaves is not CatBoost's): the same partition of the rows
    theirs = model.calc_leaf_indexes(X_NAN)  # (n, trees)
    reached = trees.follows(trees.encode(torch.as_tensor(X_NAN))).all(dim=2).numpy()
    for tree in range(theirs.shape[1]):
        mine = reached[:, leaf_tree == tree]
        assert (mine.sum(axis=1) == 1).all()
        ours = mine.argmax(axis=1)
        pairs = set(zip(theirs[:, tree], ours, strict=True))
        assert len(pairs) == len(set(ours)) == len(set(theirs[:, tree]))
        leaves = trees.leaf_node[leaf_tree == tree]
        expected = np.bincount(ours, weights=weight, minlength=len(leaves))
        np.testing.assert_allclose(cover[leaves], expected, rtol=1e-6)  # stored in float32
    inner = np.flatnonzero(trees.children[:, 0] >= 0)
    np.testing.assert_allclose(cover[inner], cover[trees.children[inner]].sum(axis=1),
                               rtol=1e-12)
    roots = np.setdiff1d(np.arange(len(cover)), trees.children[inner].ravel())
    np.testing.assert_allclose(cover[roots], weight.sum(), rtol=1e-6)


@pytest.mark.parametrize("loaded", [False, True], ids=["fitted", "loaded"])
def test_dispatch_and_compiled_adapter(loaded, tmp_path):
    model = _fit("binary")
    if loaded:  # a model read back from a file (its n_features_in_ is 0)
        model.save_model(str(tmp_path / "model.cbm"))
        model = catboost.CatBoostClassifier().load_model(str(tmp_path / "model.cbm"))
    assert is_tree_model(model)
    assert not is_tree_model(catboost.CatBoostClassifier())  # not fitted: fitted with y
    assert {"CatBoostRegressor (catboost)", "CatBoostClassifier (catboost)"} <= set(SUPPORTED)
    adapter = TreeAdapter(model, device="cpu")
    rows = X_NAN[:30]
    np.testing.assert_allclose(adapter.predict(rows), model.predict_proba(rows), rtol=0,
                               atol=TOL)


# ------------------------------------------------------------------ categorical columns
PD = pytest.importorskip("pandas")
STRINGS = ["w", "x", "y", "z"]
FRAME = PD.DataFrame({"a": X[:, 0], "s": RNG.choice(STRINGS, len(X)),
                      "i": RNG.integers(0, 3, len(X)), "b": X[:, 1]})
Y_CAT = (FRAME["a"] + 2 * (FRAME["s"] == "y") - (FRAME["i"] == 1)
         + FRAME["b"] * (FRAME["s"] == "z")).to_numpy()
#: the codes input rows hold: a string's position in this list ("v": never seen in training),
#: an integer category itself (7: never seen in training)
KNOWN = {1: {float(k): v for k, v in enumerate(STRINGS + ["v"])},
         2: {0.0: 0, 1.0: 1, 2.0: 2, 7.0: 7}}
CAT_KINDS = {
    "regressor": (catboost.CatBoostRegressor, {}, Y_CAT),
    "binary": (catboost.CatBoostClassifier, {}, Y_CAT > 0.5),
    "multiclass": (catboost.CatBoostClassifier, {}, np.digitize(Y_CAT, [0.0, 1.5])),
    "ranker": (catboost.CatBoostRanker, {}, Y_CAT),
    "base_logloss": (catboost.CatBoost, {"loss_function": "Logloss"}, Y_CAT > 0.5),
}


def _fit_categorical(kind, frame=FRAME, **options):
    cls, params, y = CAT_KINDS[kind]
    params = {"iterations": 10, "depth": 4, "learning_rate": 0.3, "random_seed": 0,
              "thread_count": 1, "verbose": 0, "allow_writing_files": False,
              "cat_features": [1, 2], "one_hot_max_size": 10, **params, **options}
    if cls is catboost.CatBoost:
        return cls(params).fit(frame, y)
    fit = {"group_id": np.arange(len(frame)) // 10} if kind == "ranker" else {}
    return cls(**params).fit(frame, y, **fit)


def _categorical_rows():
    """Rows of FRAME with, in turn, a string category never seen in training that the known
    categories hold ("v") and one they do not ("u"), an integer category never seen in
    training that they hold (7) and one they do not (9); and those rows' codes."""
    rows = FRAME.iloc[:50].copy()
    rows["i"] = rows["i"].astype(object)
    rows.loc[0:4, "s"], rows.loc[5:9, "s"] = "v", "u"
    rows.loc[10:14, "i"], rows.loc[15:19, "i"] = 7, 9
    strings = STRINGS + ["v"]
    codes = rows.assign(s=[float(strings.index(v)) if v in strings else 99.0
                           for v in rows["s"]]).to_numpy(dtype=np.float64)
    return rows, codes


@pytest.mark.parametrize("kind", ["regressor", "binary", "multiclass", "ranker",
                                  "base_logloss"])
def test_compiled_trees_equal_predict_on_categories(kind):
    model = _fit_categorical(kind)
    trees = read_trees(model, categories=KNOWN)
    assert bool(trees.categorical.any())
    rows, codes = _categorical_rows()
    raw = trees.raw(torch.as_tensor(codes)).numpy()
    if kind in ("ranker", "base_logloss"):  # predict is the raw output
        assert trees.link == "identity" and trees.raw_method == "predict"
        np.testing.assert_allclose(raw.ravel(), model.predict(rows), rtol=0, atol=TOL)
        return
    margin = model.predict(rows, prediction_type="RawFormulaVal").reshape(len(rows), -1)
    np.testing.assert_allclose(raw, margin, rtol=0, atol=TOL)
    out = trees.inverse_link(torch.as_tensor(raw)).numpy()
    expected = model.predict(rows).reshape(len(rows), -1) if kind == "regressor" \
        else model.predict_proba(rows)
    np.testing.assert_allclose(out, expected, rtol=0, atol=TOL)


def test_covers_of_categorical_splits_are_the_training_weight_reaching_each_node():
    model = _fit_categorical("regressor")
    trees = read_trees(model, categories=KNOWN)
    codes = FRAME.assign(s=[float(STRINGS.index(v)) for v in FRAME["s"]]).to_numpy(float)
    reached = trees.follows(trees.encode(torch.as_tensor(codes))).all(dim=2).numpy()
    leaf_tree = trees.leaf_tree.numpy()
    theirs = model.calc_leaf_indexes(FRAME)
    for tree in range(theirs.shape[1]):  # oblivious trees: the layout keeps CatBoost's order
        mine = reached[:, leaf_tree == tree].argmax(axis=1)
        np.testing.assert_array_equal(mine, theirs[:, tree])
        leaves = trees.leaf_node[leaf_tree == tree]
        np.testing.assert_allclose(trees.node_cover.numpy()[leaves],
                                   np.bincount(mine, minlength=len(leaves)), rtol=1e-6)


def test_one_hot_splits_need_their_categories():
    model = _fit_categorical("regressor")
    with pytest.raises(TypeError, match=r"one-hot splits on the categorical column\(s\) "
                       r"\['s', 'i'\].*categories="):
        read_trees(model)
    with pytest.raises(TypeError, match=r"one-hot splits.*\['i'\].*categories="):
        read_trees(model, categories={1: KNOWN[1]})
    # the model splits on "y" (and on "z"): data without it cannot route its rows
    without_y = {1: {0.0: "w", 1.0: "x", 3.0: "z"}, 2: KNOWN[2]}
    with pytest.raises(TypeError, match="category of column 's'.*'w', 'x', 'z'.*training data"):
        read_trees(model, categories=without_y)
    with pytest.raises(TypeError, match=r"categories\[2\] must map distinct finite codes"):
        read_trees(model, categories={1: KNOWN[1], 2: {0.0: 0, 1.0: 1, 2**25 + 1.0: 2,
                                                        2.0**25: 3}})


def test_refusals_name_the_way_out():
    # CTR splits: a categorical column with more categories than one_hot_max_size
    model = _fit_categorical("regressor", one_hot_max_size=3)  # "s" has 4, "i" 3
    with pytest.raises(TypeError, match=r"categorical column\(s\) \['s'\] by target "
                       "statistics.*one_hot_max_size above the number of categories.*"
                       "ExactShapley or KernelSHAP"):
        read_trees(model, categories=KNOWN)
    model = _fit_categorical("regressor", grow_policy="Depthwise")
    with pytest.raises(TypeError, match="Depthwise or Lossguide.*grow_policy='SymmetricTree'"
                       ".*ExactShapley"):
        read_trees(model, categories=KNOWN)
    with pytest.raises(NotFittedError, match="not fitted"):
        read_trees(catboost.CatBoostRegressor())
    for loss, y in (("RMSEWithUncertainty", Y), ("MultiClassOneVsAll", Y > 0)):
        cls = catboost.CatBoostClassifier if loss == "MultiClassOneVsAll" \
            else catboost.CatBoostRegressor
        model = cls(iterations=3, depth=2, loss_function=loss, verbose=0,
                    thread_count=1, allow_writing_files=False).fit(X, y)
        with pytest.raises(TypeError, match=f"{loss}.*ExactShapley or KernelSHAP"):
            read_trees(model)


def test_ranker_and_base_class_are_dispatched():
    assert {"CatBoostRanker (catboost)", "CatBoost (catboost)"} <= set(SUPPORTED)
    for model in (catboost.CatBoostRanker(iterations=5, depth=3, verbose=0, thread_count=1,
                                          allow_writing_files=False, loss_function="QueryRMSE")
                  .fit(X_NAN, Y, group_id=np.arange(len(X)) // 10),
                  catboost.CatBoost({"iterations": 5, "depth": 3, "verbose": 0,
                                     "thread_count": 1, "allow_writing_files": False,
                                     "loss_function": "MultiClass"})
                  .fit(X_NAN, np.digitize(Y, [0.0, 1.5]))):
        assert is_tree_model(model)
        trees = read_trees(model)
        rows = _rows(trees)
        raw = trees.raw(torch.as_tensor(rows)).numpy()
        np.testing.assert_allclose(raw, model.predict(rows).reshape(len(rows), -1), rtol=0,
                                   atol=TOL)
        assert trees.link == "identity"
