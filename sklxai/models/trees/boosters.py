"""Readers of XGBoost and LightGBM models into a :class:`TreeEnsemble` (optional extra
``trees``).

Both read the library's own dump: the JSON model of an XGBoost Booster
(``Booster.save_raw("json")``), LightGBM's ``Booster.dump_model()``. The raw output is the
margin: ``predict(X, output_margin=True)`` for XGBoost, ``predict(X, raw_score=True)`` for
LightGBM, over the iterations ``predict`` uses by default (the best one after early stopping).

- XGBoost compares float32 inputs and sends ``x < threshold`` left, in float32: the threshold
  becomes the largest float32 below it, compared with ``<=`` on float32-rounded inputs
  (``float32_inputs``), which is the same test. NaN goes as ``default_left`` says. A categorical
  node sends the categories it lists right, and NaN where ``default_left`` says; the other codes
  (also negative and unseen ones) left: its children are swapped so that the layout's "codes in
  the set go left" applies. The base margin is ``base_score`` through the objective's link.
- LightGBM compares float64 inputs with ``x <= threshold``. NaN goes as ``default_left`` says
  when ``missing_type`` is NaN, and is taken as 0.0 otherwise. A categorical node
  (``decision_type == "=="``) sends the categories of ``threshold`` ("a||b||c") left; NaN and
  negative codes go right. The model's first tree holds the initial score: there is no base.
  A random forest (``boosting_type="rf"``) averages its trees in ``predict``, but its
  ``raw_score`` is their sum: the raw output here is that average (``raw_score`` divided by the
  number of iterations), which ``predict`` transforms.

Categories of a pandas categorical column are coded by their position among the column's
categories (both libraries), which :meth:`TreeEnsemble.encode` reproduces when they are numbers;
otherwise the reader raises a TypeError.
"""

import json
import re

import numpy as np

from sklxai.models.trees.layout import assemble, sorted_categories

#: LightGBM's zero-as-missing interval: |x| <= float32(1e-35)
_LGBM_ZERO = float(np.float32(1e-35))
_XGB_LOGIT = ("binary:logistic", "reg:logistic")
_XGB_LOG = ("count:poisson", "reg:gamma", "reg:tweedie")
_XGB_IDENTITY = ("reg:squarederror", "reg:squaredlogerror", "reg:pseudohubererror",
                 "reg:absoluteerror", "reg:quantileerror", "reg:linear", "binary:logitraw",
                 "rank:pairwise", "rank:ndcg", "rank:map")
_LGBM_IDENTITY = ("regression", "regression_l1", "huber", "fair", "quantile", "mape",
                  "lambdarank", "rank_xendcg", "custom", "none")
_LGBM_LOG = ("poisson", "gamma", "tweedie")


def _refuse(model, what):
    raise TypeError(f"{type(model).__name__}: {what} is not supported by the tree readers; "
                    "explain the model with ExactShapley or KernelSHAP.")


def _classes(model):
    """Class labels of a scikit-learn wrapper classifier, else None."""
    classes = getattr(model, "classes_", None)
    return None if classes is None else list(classes)


def _link(model, kind, n_outputs):
    """The layout's ``link`` and ``raw_method`` for a model whose objective's link is
    ``kind`` ("identity", "log", "logit" or "softmax")."""
    classifier = _classes(model) is not None
    if classifier and not ((kind == "logit" and n_outputs == 1) or kind == "softmax"):
        _refuse(model, f"a classifier with a {kind} link")
    if kind == "logit" and not classifier and type(model).__name__ != "Booster":
        _refuse(model, "a regressor with a logistic link")
    link = {"identity": "identity", "log": "exp", "logit": "sigmoid", "softmax": "softmax"}
    return link[kind], "decision_function" if kind in ("logit", "softmax") else "predict"


# ---------------------------------------------------------------------------------- XGBoost
def read_xgboost(model):
    """An XGBRegressor, XGBClassifier (or a subclass, e.g. XGBRF*) or ``xgboost.Booster``.

    Parameters
    ----------
    model : fitted XGBoost scikit-learn model or xgboost.Booster

    Returns
    -------
    TreeEnsemble
        Its raw output is the margin, ``predict(X, output_margin=True)``.

    Raises
    ------
    TypeError
        For a linear booster, multi-output trees, a ``missing`` value other than NaN, an
        objective whose link is not the identity, log, logistic or softmax, or categories that
        are not numbers.
    """
    wrapper = hasattr(model, "get_booster")
    booster = model.get_booster() if wrapper else model
    if wrapper and not (isinstance(model.missing, float) and np.isnan(model.missing)):
        _refuse(model, f"missing={model.missing!r} (only NaN is missing for the trees)")
    learner = json.loads(booster.save_raw(raw_format="json"))["learner"]
    gbm = learner["gradient_booster"]
    if gbm["name"] == "gblinear":
        _refuse(model, "a linear booster (gblinear)")
    weights = gbm.get("weight_drop") if gbm["name"] == "dart" else None
    forest = gbm["gbtree"]["model"] if gbm["name"] == "dart" else gbm["model"]
    param = learner["learner_model_param"]
    K = max(int(param.get("num_class", 0)), int(param.get("num_target", 1)), 1)
    objective = learner["objective"]["name"]
    kind = "softmax" if objective.startswith("multi:") else "logit" if objective in _XGB_LOGIT \
        else "log" if objective in _XGB_LOG else "identity" if objective in _XGB_IDENTITY \
        else None
    if kind is None:
        _refuse(model, f"objective {objective!r}")
    link, raw_method = _link(model, kind, K)
    trees_json = forest["trees"]
    first, last = 0, len(trees_json)
    begin, end = model._get_iteration_range(None) if hasattr(model, "_get_iteration_range") \
        else (0, 0)
    if end > 0:
        indptr = forest["iteration_indptr"]
        first, last = indptr[begin], indptr[end]
    categories, orders = _xgboost_categories(model, forest.get("cats", {}))
    width = max([len(known) for known in categories.values()] + [
        max(t["categories"]) + 1 for t in trees_json if t.get("categories")] + [1])
    trees = []
    for index in range(first, last):
        tree = trees_json[index]
        if int(tree["tree_param"].get("size_leaf_vector", 1)) > 1:
            _refuse(model, "multi-output trees (multi_strategy='multi_output_tree')")
        scale = 1.0 if weights is None else weights[index]
        trees.append(_xgboost_tree(tree, forest["tree_info"][index], K, scale, orders, width))
    n_inputs = int(param["num_feature"])
    return assemble(trees, n_inputs=n_inputs, base=_xgboost_base(param["base_score"], kind, K),
                    categories=categories, float32_inputs=True, link=link,
                    output_names=_classes(model), raw_method=raw_method)


def _xgboost_base(base_score, kind, K):
    """The base margin: ``base_score`` through the objective's link, in float32 as XGBoost."""
    score = np.asarray([float(v) for v in str(base_score).strip("[]").split(",")], np.float32)
    with np.errstate(divide="ignore"):
        if kind == "logit":
            score = -np.log(np.float32(1) / score - np.float32(1))
        elif kind == "log":
            score = np.log(score)
    return np.broadcast_to(score.astype(np.float64), (K,)).copy()


def _xgboost_categories(model, cats):
    """Known categories (and their code order) of features XGBoost recodes (pandas
    categorical columns), from the model's stored category encodings."""
    categories, orders = {}, {}
    for feature, enc in enumerate(cats.get("enc", [])):
        values = enc.get("values", []) if isinstance(enc, dict) else []
        if not len(values):
            continue
        if len(enc.get("offsets", [])):  # strings, stored as bytes and offsets
            _refuse(model, "a categorical feature with string categories (rows are floats; "
                    "code the categories as numbers before fitting)")
        categories[feature], orders[feature] = sorted_categories(
            values, owner=type(model).__name__)
    return categories, orders


def _xgboost_tree(tree, group, K, scale, orders, width):
    """Node arrays of one XGBoost tree (JSON) adding to output ``group`` of K."""
    left = np.asarray(tree["left_children"], dtype=np.int64)
    right = np.asarray(tree["right_children"], dtype=np.int64)
    feature = np.asarray(tree["split_indices"], dtype=np.int64)
    cond = np.asarray(tree["split_conditions"], dtype=np.float32)
    leaf = left < 0
    n = len(left)
    missing_left = np.asarray(tree["default_left"], dtype=bool)
    categorical = np.asarray(tree.get("split_type", np.zeros(n)), dtype=np.int64) == 1
    threshold = np.nextafter(cond, np.float32(-np.inf)).astype(np.float64)  # x < t: x <= t-
    value = np.zeros((n, K))
    value[:, group] = np.where(leaf, cond.astype(np.float64), 0.0) * scale
    cat_left = np.zeros((n, width), dtype=bool)
    segments, sizes = tree.get("categories_segments", []), tree.get("categories_sizes", [])
    for node, start, size in zip(tree.get("categories_nodes", []), segments, sizes,
                                 strict=True):
        codes = np.asarray(tree["categories"][start : start + size], dtype=np.int64)
        in_set = np.zeros(max(width, codes.max(initial=-1) + 1), dtype=bool)
        in_set[codes] = True
        order = orders.get(int(feature[node]))
        cat_left[node] = _fit_width(in_set if order is None else in_set[order], width)
        # the listed categories go right: swap the children so they go "left" in the layout
        left[node], right[node] = right[node], left[node]
        missing_left[node] = not missing_left[node]
    return {"feature": feature, "threshold": threshold, "missing_left": missing_left,
            "left": left, "right": right, "value": value, "categorical": categorical & ~leaf,
            "cat_left": cat_left, "cover": np.asarray(tree["sum_hessian"], dtype=np.float64)}


def _fit_width(bits, width):
    out = np.zeros(width, dtype=bool)
    out[: min(width, len(bits))] = bits[:width]
    return out


# ---------------------------------------------------------------------------------- LightGBM
def read_lightgbm(model):
    """An LGBMRegressor, LGBMClassifier or ``lightgbm.Booster``.

    Parameters
    ----------
    model : fitted LightGBM scikit-learn model or lightgbm.Booster

    Returns
    -------
    TreeEnsemble
        Its raw output is ``predict(X, raw_score=True)`` (divided by the number of iterations
        for ``boosting_type="rf"``, as ``predict`` does).

    Raises
    ------
    TypeError
        For linear trees, ``zero_as_missing`` splits whose test disagrees with where zero goes,
        an objective whose link is not the identity, log, logistic or softmax, or categories
        that are not numbers.
    """
    booster = model.booster_ if hasattr(model, "booster_") else model
    dump = booster.dump_model()
    K = int(dump["num_tree_per_iteration"])
    link, raw_method = _link(model, _lightgbm_kind(model, dump.get("objective", "custom")),
                                 K)
    infos = dump["tree_info"]
    categories, orders = _lightgbm_categories(model, booster, dump)
    scale = K / max(len(infos), 1) if dump.get("average_output") else 1.0
    flat = [_lightgbm_nodes(model, info["tree_structure"]) for info in infos]
    width = max([len(known) for known in categories.values()]
                + [max(codes) + 1 for nodes in flat for codes in nodes["codes"] if codes]
                + [1])
    trees = [_lightgbm_tree(nodes, index % K, K, scale, orders, width)
             for index, nodes in enumerate(flat)]
    return assemble(trees, n_inputs=int(dump["max_feature_idx"]) + 1, base=np.zeros(K),
                    categories=categories, link=link, output_names=_classes(model),
                    raw_method=raw_method)


def _lightgbm_kind(model, objective):
    """The link of a LightGBM objective string (e.g. "binary sigmoid:1")."""
    name, *options = objective.split()
    if name == "binary" and all(o in ("sigmoid:1", "sigmoid:1.0") or not o.startswith("sigmoid")
                                for o in options):
        return "logit"
    if name in ("multiclass", "softmax"):
        return "softmax"
    if "sqrt" in options:
        _refuse(model, "reg_sqrt=True")
    if name in _LGBM_IDENTITY:
        return "identity"
    if name in _LGBM_LOG:
        return "log"
    return _refuse(model, f"objective {objective!r}")


def _lightgbm_categories(model, booster, dump):
    """Known categories (and their code order) of pandas categorical columns: LightGBM codes
    a value by its position among the column's categories (unknown ones become NaN)."""
    pandas = dump.get("pandas_categorical") or []
    if not pandas:
        return {}, {}
    found = re.search(r"^\[categorical_feature: ([0-9,]*)\]$", booster.model_to_string(),
                      re.MULTILINE)
    features = [int(f) for f in found.group(1).split(",") if f] if found else []
    if len(features) != len(pandas):
        _refuse(model, "categorical features given both as pandas categorical columns and as "
                "categorical_feature")
    categories, orders = {}, {}
    for feature, values in zip(features, pandas, strict=True):
        categories[feature], orders[feature] = sorted_categories(
            values, owner=type(model).__name__)
    return categories, orders


def _lightgbm_nodes(model, root):
    """The nodes of one dumped tree in depth-first order: parallel lists."""
    nodes = {"feature": [], "threshold": [], "missing_left": [], "left": [], "right": [],
             "value": [], "codes": [], "cover": []}
    stack = [(root, None, False)]
    while stack:
        node, parent, is_left = stack.pop()
        index = len(nodes["feature"])
        if parent is not None:
            nodes["left" if is_left else "right"][parent] = index
        if "leaf_value" in node or "split_feature" not in node:
            if len(node.get("leaf_coeff", [])):
                _refuse(model, "linear trees (linear_tree=True)")
            for key, item in (("feature", 0), ("threshold", 0.0), ("missing_left", False),
                              ("left", -1), ("right", -1), ("codes", None)):
                nodes[key].append(item)
            nodes["value"].append(float(node.get("leaf_value", 0.0)))
            nodes["cover"].append(float(node.get("leaf_count", 0.0)))
            continue
        threshold, codes, missing_left = _lightgbm_split(model, node)
        for key, item in (("feature", int(node["split_feature"])), ("threshold", threshold),
                          ("missing_left", missing_left), ("left", -1), ("right", -1),
                          ("value", 0.0), ("codes", codes),
                          ("cover", float(node.get("internal_count", 0.0)))):
            nodes[key].append(item)
        stack.append((node["right_child"], index, False))
        stack.append((node["left_child"], index, True))
    return nodes


def _lightgbm_split(model, node):
    """(threshold, categories sent left or None, where NaN goes) of one dumped split."""
    default_left = bool(node.get("default_left", False))
    missing = node.get("missing_type", "None")
    if node["decision_type"] == "==":  # NaN and negative codes go right
        codes = [int(c) for c in str(node["threshold"]).split("||")]
        return 0.0, codes, False
    threshold = float(node["threshold"])
    if missing == "NaN":
        return threshold, None, default_left
    if missing == "Zero":  # |x| <= 1e-35 and NaN go the default way, others compare
        agrees = threshold >= _LGBM_ZERO if default_left else threshold < -_LGBM_ZERO
        if not agrees:
            _refuse(model, "zero_as_missing=True")
        return threshold, None, default_left
    return threshold, None, 0.0 <= threshold  # NaN is taken as 0.0


def _lightgbm_tree(nodes, group, K, scale, orders, width):
    """Node arrays of one flattened LightGBM tree adding to output ``group`` of K."""
    n = len(nodes["feature"])
    value = np.zeros((n, K))
    value[:, group] = np.asarray(nodes["value"]) * scale
    cat_left = np.zeros((n, width), dtype=bool)
    categorical = np.zeros(n, dtype=bool)
    for node, codes in enumerate(nodes["codes"]):
        if codes is None:
            continue
        categorical[node] = True
        in_set = np.zeros(max(width, max(codes) + 1), dtype=bool)
        in_set[codes] = True
        order = orders.get(nodes["feature"][node])
        cat_left[node] = _fit_width(in_set if order is None else in_set[order], width)
    return {"feature": np.asarray(nodes["feature"], dtype=np.int64),
            "threshold": np.asarray(nodes["threshold"], dtype=np.float64),
            "missing_left": np.asarray(nodes["missing_left"], dtype=bool),
            "left": np.asarray(nodes["left"], dtype=np.int64),
            "right": np.asarray(nodes["right"], dtype=np.int64),
            "value": value, "categorical": categorical, "cat_left": cat_left,
            "cover": np.asarray(nodes["cover"], dtype=np.float64)}
