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


def test_refusals_name_the_way_out():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": X[:, 0], "c": RNG.integers(0, 4, len(X))})
    y = frame["a"] + (frame["c"] == 2)
    for one_hot_max_size in (10, 1):  # one-hot splits, then CTR splits
        model = catboost.CatBoostRegressor(iterations=5, depth=2, cat_features=[1],
                                           one_hot_max_size=one_hot_max_size, verbose=0,
                                           thread_count=1, allow_writing_files=False).fit(frame, y)
        with pytest.raises(TypeError, match="categorical features.*OneHotEncoder.*"
                           "ExactShapley or KernelSHAP"):
            read_trees(model)
    with pytest.raises(NotFittedError, match="not fitted"):
        read_trees(catboost.CatBoostRegressor())
    for loss, y in (("RMSEWithUncertainty", Y), ("MultiClassOneVsAll", Y > 0)):
        cls = catboost.CatBoostClassifier if loss == "MultiClassOneVsAll" \
            else catboost.CatBoostRegressor
        model = cls(iterations=3, depth=2, loss_function=loss, verbose=0,
                    thread_count=1, allow_writing_files=False).fit(X, y)
        with pytest.raises(TypeError, match=f"{loss}.*ExactShapley or KernelSHAP"):
            read_trees(model)
