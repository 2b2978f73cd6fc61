"""Reader of CatBoost models into a :class:`TreeEnsemble` (optional extra ``trees``).

It reads the model's JSON dump (``save_model(format="json")``). CatBoost's default trees are
oblivious (symmetric): every node of a level splits on the same condition, ``splits[i]`` of the
dump, and a row reaches leaf ``sum_i 2**i * [condition i holds]``. Each such tree is expanded
into a full binary tree whose level l tests ``splits[D - 1 - l]``, so that the leaves, left to
right, are CatBoost's leaves in order. Trees grown with ``grow_policy="Depthwise"`` or
``"Lossguide"`` are dumped as nested nodes and read as they are.

- A numeric split holds when ``x > border``, on the input converted to float32 (borders are
  float32 values): the layout's ``x <= threshold`` goes left, with ``threshold = border`` and
  ``float32_inputs``. NaN goes where the feature's ``nan_value_treatment`` says: "AsTrue"
  (``nan_mode="Max"``: NaN is above every border) right, "AsFalse" (``nan_mode="Min"``) and
  "AsIs" (features without NaN in training, for which NaN fails every ``x > border``) left.
- The model's ``scale_and_bias`` (``set_scale_and_bias``): the raw output is
  ``scale * sum of the leaves + bias``; the scale is folded into the leaf values, the bias is
  the base.
- The leaves' ``leaf_weights`` (the training weight that reached each leaf) are the covers of
  the path-dependent game, an internal node's the sum of its leaves'.

The raw output is ``predict(X, prediction_type="RawFormulaVal")``: a regressor's ``predict``
(``exp`` of it for a Poisson or Tweedie loss), a classifier's margin, whose sigmoid (Logloss,
CrossEntropy) or softmax (MultiClass) is ``predict_proba``. Categorical features are refused:
the model stores their categories as hashes of their strings (one-hot splits) or as
target statistics of them (CTRs), neither a test on the float rows the trees are evaluated on.
"""

import json
import os
import tempfile

import numpy as np
from sklearn.exceptions import NotFittedError

from sklxai.models.trees.layout import assemble

#: losses whose raw output is a margin: their link, and whether predict_proba is it
_CLASSIFICATION = {"Logloss": "sigmoid", "CrossEntropy": "sigmoid", "MultiClass": "softmax"}
#: regression losses whose predict is exp(raw output)
_LOG_LINK = ("Poisson", "Tweedie")
#: regression losses whose predict is not the raw output (nor exp of it)
_REFUSED_LOSSES = ("RMSEWithUncertainty", "MultiClassOneVsAll", "MultiLogloss",
                   "MultiCrossEntropy")
#: where NaN goes, by nan_value_treatment: True is left (x > border fails)
_NAN_LEFT = {"AsFalse": True, "AsIs": True, "AsTrue": False}


def read_catboost(model):
    """A CatBoostRegressor, CatBoostClassifier or CatBoost model with numeric features.

    Parameters
    ----------
    model : fitted catboost.CatBoostRegressor, CatBoostClassifier or CatBoost

    Returns
    -------
    TreeEnsemble
        Its raw output is ``predict(X, prediction_type="RawFormulaVal")``: a regressor's
        ``predict`` (``exp`` link for a Poisson or Tweedie loss), a classifier's margin (one
        output when binary, sigmoid link; one per class with MultiClass, softmax link).

    Raises
    ------
    NotFittedError
        When the model is not fitted.
    TypeError
        For categorical, text or embedding features, and for losses whose predictions are not
        the raw output through the identity, exp, sigmoid or softmax
        (RMSEWithUncertainty, MultiClassOneVsAll, multi-label losses).
    """
    name = type(model).__name__
    if not model.is_fitted():
        raise NotFittedError(f"This {name} instance is not fitted yet: call fit before "
                             "reading its trees.")
    dump = _json_dump(model)
    info = dump["features_info"]
    _refuse_non_numeric(name, info)
    loss = str(model._object._get_loss_function_name())
    link, raw_method, classes = _link(model, name, loss)
    floats = info.get("float_features", [])
    column = {f["feature_index"]: f["flat_feature_index"] for f in floats}
    nan_left = {}
    for feature in floats:
        treatment = feature.get("nan_value_treatment", "AsIs")
        if treatment not in _NAN_LEFT:
            _refuse(name, f"nan_value_treatment {treatment!r}")
        nan_left[feature["feature_index"]] = _NAN_LEFT[treatment]
    scale, bias = dump.get("scale_and_bias", [1.0, [0.0]])
    bias = np.atleast_1d(np.asarray(bias, dtype=np.float64))
    K = len(bias)
    if "oblivious_trees" in dump:
        trees = [_oblivious_tree(tree, K, scale, column, nan_left)
                 for tree in dump["oblivious_trees"]]
    else:
        trees = [_nested_tree(tree, K, scale, column, nan_left) for tree in dump["trees"]]
    # a model loaded from a file has n_features_in_ 0: its feature names count the columns
    n_inputs = max(int(model.n_features_in_ or 0), len(model.feature_names_ or []),
                   max(column.values(), default=-1) + 1)
    return assemble(trees, n_inputs=n_inputs, base=bias,
                    float32_inputs=True, link=link, output_names=classes,
                    raw_method=raw_method)


def _refuse(name, what):
    raise TypeError(f"{name}: {what} is not supported by the tree readers; explain the model "
                    "with ExactShapley or KernelSHAP.")


def _json_dump(model):
    """The model's JSON dump, through a temporary file (CatBoost writes models to files)."""
    handle, path = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    try:
        model.save_model(path, format="json")
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    finally:
        os.remove(path)


def _refuse_non_numeric(name, info):
    """Refuse categorical, text and embedding features, naming the ways out."""
    if info.get("categorical_features") or info.get("ctrs"):
        raise TypeError(
            f"{name} has categorical features (cat_features): CatBoost keeps their categories "
            "as hashes of their strings (one-hot splits) or as target statistics (CTR splits), "
            "not as values its trees compare float rows with, so TreeShapley cannot read them. "
            "Either one-hot encode the categorical columns before the model (a Pipeline with a "
            "OneHotEncoder step in front of it; TreeShapley then explains the raw columns), or "
            "explain it through its predictions with ExactShapley or KernelSHAP on a Pipeline "
            "whose first step turns the float rows back into the integer or string categories "
            "CatBoost takes."
        )
    for kind in ("text_features", "embedding_features"):
        if info.get(kind):
            _refuse(name, kind.replace("_", " "))


def _link(model, name, loss):
    """(link, raw_method, class labels or None) of a model trained with ``loss``."""
    if loss in _REFUSED_LOSSES:
        _refuse(name, f"loss_function {loss!r}")
    if loss in _CLASSIFICATION:
        classes = model.classes_
        return (_CLASSIFICATION[loss], "decision_function",
                None if classes is None else list(classes))
    if name == "CatBoostClassifier":
        _refuse(name, f"a classifier with loss_function {loss!r}")
    exp = name == "CatBoostRegressor" and loss.startswith(_LOG_LINK)
    return ("exp" if exp else "identity"), "predict", None


def _split(split, column, nan_left):
    """(input column, threshold, NaN goes left) of one dumped split."""
    if split.get("split_type") != "FloatFeature":
        _refuse("CatBoost", f"a {split.get('split_type')!r} split")
    feature = split["float_feature_index"]
    return column[feature], float(split["border"]), nan_left[feature]


def _oblivious_tree(tree, K, scale, column, nan_left):
    """Node arrays of one oblivious tree, expanded to a full binary tree in heap order (node
    i's children are 2i+1 and 2i+2): level l tests ``splits[D - 1 - l]``, and the leaves come
    last, in CatBoost's order."""
    splits = tree["splits"]
    D = len(splits)
    n_inner, n_leaves = 2**D - 1, 2**D
    n = n_inner + n_leaves
    level = np.floor(np.log2(np.arange(n) + 1)).astype(np.int64)  # depth of each node
    tests = [_split(splits[D - 1 - lev], column, nan_left) for lev in range(D)]
    inner = np.arange(n) < n_inner
    feature = np.zeros(n, dtype=np.int64)
    threshold = np.zeros(n)
    missing_left = np.zeros(n, dtype=bool)
    for lev, (col, border, nan) in enumerate(tests):
        at = level == lev
        feature[at], threshold[at], missing_left[at] = col, border, nan
    left = np.where(inner, 2 * np.arange(n) + 1, -1)
    right = np.where(inner, 2 * np.arange(n) + 2, -1)
    value = np.zeros((n, K))
    value[n_inner:] = scale * np.asarray(tree["leaf_values"], dtype=np.float64).reshape(
        n_leaves, K)
    cover = np.zeros(n)
    cover[n_inner:] = np.asarray(tree["leaf_weights"], dtype=np.float64)
    for node in range(n_inner - 1, -1, -1):  # children before parents
        cover[node] = cover[2 * node + 1] + cover[2 * node + 2]
    return {"feature": feature, "threshold": threshold, "missing_left": missing_left,
            "left": left, "right": right, "value": value, "cover": cover}


def _nested_tree(root, K, scale, column, nan_left):
    """Node arrays of one non-symmetric tree (nested "split", "left", "right"; leaves with
    "value" and "weight"), nodes in depth-first order; covers summed bottom-up."""
    rows = []  # [feature, threshold, missing_left, left, right, value, cover]
    stack = [(root, None, 0)]
    while stack:
        node, parent, side = stack.pop()
        index = len(rows)
        if parent is not None:
            rows[parent][3 + side] = index
        if "split" not in node:
            value = scale * np.asarray(node["value"], dtype=np.float64).reshape(K)
            rows.append([0, 0.0, False, -1, -1, value, float(node.get("weight", 0.0))])
            continue
        col, border, nan = _split(node["split"], column, nan_left)
        rows.append([col, border, nan, -1, -1, np.zeros(K), 0.0])
        stack.append((node["right"], index, 1))
        stack.append((node["left"], index, 0))
    left = np.asarray([r[3] for r in rows], dtype=np.int64)
    right = np.asarray([r[4] for r in rows], dtype=np.int64)
    cover = np.asarray([r[6] for r in rows])
    for node in range(len(rows) - 1, -1, -1):  # depth-first: children after their parent
        if left[node] >= 0:
            cover[node] = cover[left[node]] + cover[right[node]]
    return {"feature": np.asarray([r[0] for r in rows], dtype=np.int64),
            "threshold": np.asarray([r[1] for r in rows], dtype=np.float64),
            "missing_left": np.asarray([r[2] for r in rows], dtype=bool),
            "left": left, "right": right, "value": np.stack([r[5] for r in rows]),
            "cover": cover}
