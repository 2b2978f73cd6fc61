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

- A one-hot split (a categorical column with at most ``one_hot_max_size`` categories) holds
  when the row's category is the split's one; the dump stores only a hash of it. The reader
  matches each split with the known categories (``categories``: the code the input rows hold
  for each, and the category CatBoost was given) through CatBoost's own routing: one row per
  known category, sent through ``calc_leaf_indexes``, where bit i of an oblivious tree's leaf
  index is whether split i holds. The split becomes a categorical node of the layout: the
  matching code goes right, every other code left, and an unknown code (a category CatBoost
  never saw in training, or one the known categories lack) left too, as in CatBoost, where an
  unseen category matches no split. A split that no known category matches is refused (the
  model was trained on a category the data does not hold, whose rows the trees could not
  route). Categorical columns with more categories are encoded by target statistics (CTR
  splits), which depend on the training set's order, and are refused, as are one-hot splits
  of Depthwise and Lossguide trees (their leaf indexes do not say which splits held).

The raw output is ``predict(X, prediction_type="RawFormulaVal")``: a regressor's ``predict``
(``exp`` of it for a Poisson or Tweedie loss), a classifier's margin, whose sigmoid (Logloss,
CrossEntropy) or softmax (MultiClass) is ``predict_proba``. The base ``CatBoost`` class and
``CatBoostRanker`` predict the raw output itself (identity link, whatever the loss).
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


def read_catboost(model, categories=None):
    """A CatBoost model (CatBoostRegressor, CatBoostClassifier, CatBoostRanker or CatBoost)
    with numeric and one-hot categorical features.

    Parameters
    ----------
    model : fitted catboost.CatBoostRegressor, CatBoostClassifier, CatBoostRanker or CatBoost
    categories : dict {input column: dict {code: category}} or None
        For each categorical column the model splits on, its known categories: the float code
        the input rows hold for each, and the category itself (a string or an integer, as
        CatBoost was given it). Needed only when the model has one-hot splits.

    Returns
    -------
    TreeEnsemble
        Its raw output is ``predict(X, prediction_type="RawFormulaVal")``: a regressor's
        ``predict`` (``exp`` link for a Poisson or Tweedie loss), a classifier's margin (one
        output when binary, sigmoid link; one per class with MultiClass, softmax link), the
        ``predict`` of a ranker or of the base ``CatBoost`` class (identity link).

    Raises
    ------
    NotFittedError
        When the model is not fitted.
    TypeError
        For categorical features encoded by target statistics (CTRs), one-hot splits in
        non-symmetric trees, one-hot splits without their ``categories`` or that no known
        category matches, text or embedding features, and for losses whose predictions are
        not the raw output through the identity, exp, sigmoid or softmax
        (RMSEWithUncertainty, MultiClassOneVsAll, multi-label losses).
    """
    name = type(model).__name__
    if not model.is_fitted():
        raise NotFittedError(f"This {name} instance is not fitted yet: call fit before "
                             "reading its trees.")
    dump = _json_dump(model)
    info = dump["features_info"]
    _refuse_unreadable(name, info)
    loss = str(model._object._get_loss_function_name())
    link, raw_method, classes = _link(model, name, loss)
    floats = info.get("float_features", [])
    column = {f["feature_index"]: f["flat_feature_index"] for f in floats}
    cat_column = {f["feature_index"]: f["flat_feature_index"]
                  for f in info.get("categorical_features", [])}
    nan_left = {}
    for feature in floats:
        treatment = feature.get("nan_value_treatment", "AsIs")
        if treatment not in _NAN_LEFT:
            _refuse(name, f"nan_value_treatment {treatment!r}")
        nan_left[feature["feature_index"]] = _NAN_LEFT[treatment]
    scale, bias = dump.get("scale_and_bias", [1.0, [0.0]])
    bias = np.atleast_1d(np.asarray(bias, dtype=np.float64))
    K = len(bias)
    # a model loaded from a file has n_features_in_ 0: its feature names count the columns
    n_inputs = max(int(model.n_features_in_ or 0), len(model.feature_names_ or []),
                   max([*column.values(), *cat_column.values()], default=-1) + 1)
    splits = _Splits(column, nan_left, cat_column)
    if "oblivious_trees" in dump:
        dumped = dump["oblivious_trees"]
        splits.known, splits.right = _match_one_hot(model, name, dumped, cat_column,
                                                    categories, n_inputs)
        trees = [_oblivious_tree(tree, K, scale, splits.at(t))
                 for t, tree in enumerate(dumped)]
    else:
        trees = [_nested_tree(tree, K, scale, splits.at(0)) for tree in dump["trees"]]
        if splits.one_hot_seen:
            _refuse_nested_one_hot(name, model, cat_column)
    return assemble(trees, n_inputs=n_inputs, base=bias, categories=splits.known,
                    float32_inputs=True, link=link, output_names=classes,
                    raw_method=raw_method)


def categorical_inputs(model):
    """The input columns a CatBoost model takes as categories (its ``cat_features``): indices
    when fitted, as the parameter gives them (indices or names) when not."""
    if model.is_fitted():
        return [int(j) for j in model.get_cat_feature_indices()]
    return list(model.get_params().get("cat_features") or [])


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


def _refuse_unreadable(name, info):
    """Refuse categorical features encoded by target statistics, text and embedding features,
    naming the ways out."""
    if info.get("ctrs"):
        ids = {f["feature_index"]: f.get("feature_id") or str(f["flat_feature_index"])
               for f in info.get("categorical_features", [])}
        ctr = sorted({ids.get(element.get("cat_feature_index"), "?")
                      for c in info["ctrs"] for element in c.get("elements", [])
                      if "cat_feature_index" in element})
        raise TypeError(
            f"{name} encodes the categorical column(s) {ctr} by target statistics (CTR "
            "splits): they have more categories than one_hot_max_size, so CatBoost splits on "
            "statistics of the training targets, computed in the training set's order, which "
            "no tree algorithm can attribute to the column's categories. Refit the model with "
            "one_hot_max_size above the number of categories of each categorical column (it "
            "then splits on single categories, which TreeShapley reads), or explain it through "
            "its predictions with ExactShapley or KernelSHAP."
        )
    for kind in ("text_features", "embedding_features"):
        if info.get(kind):
            _refuse(name, kind.replace("_", " "))


def _refuse_nested_one_hot(name, model, cat_column):
    names = [model.feature_names_[j] if model.feature_names_ else j
             for j in sorted(cat_column.values())]
    raise TypeError(
        f"{name} has one-hot splits on the categorical column(s) {names} in Depthwise or "
        "Lossguide trees (grow_policy): CatBoost stores hashes of their categories, which the "
        "reader matches with the categories through the leaf indexes of symmetric trees only. "
        "Refit the model with grow_policy='SymmetricTree' (the default), or explain it through "
        "its predictions with ExactShapley or KernelSHAP."
    )


def _link(model, name, loss):
    """(link, raw_method, class labels or None) of a model trained with ``loss``."""
    if loss in _REFUSED_LOSSES:
        _refuse(name, f"loss_function {loss!r}")
    if name not in ("CatBoostRegressor", "CatBoostClassifier"):
        # CatBoost and CatBoostRanker: predict is the raw output, whatever the loss
        classes = getattr(model, "classes_", None) if loss in _CLASSIFICATION else None
        if classes is not None and len(classes) == 2:
            classes = classes[1:]  # a binary margin: the log-odds of the second class
        return "identity", "predict", None if classes is None else list(classes)
    if loss in _CLASSIFICATION:
        classes = model.classes_
        return (_CLASSIFICATION[loss], "decision_function",
                None if classes is None else list(classes))
    if name == "CatBoostClassifier":
        _refuse(name, f"a classifier with loss_function {loss!r}")
    exp = loss.startswith(_LOG_LINK)
    return ("exp" if exp else "identity"), "predict", None


def _match_one_hot(model, name, trees, cat_column, categories, n_inputs):
    """The known codes of the categorical columns the oblivious ``trees`` split on, as the
    layout keeps them ({column: sorted float32 codes}), and per tree {split index: the codes
    for which that one-hot split holds}, read from CatBoost's ``calc_leaf_indexes`` on one
    row per known category: bit i of an oblivious tree's leaf index is split i's outcome."""
    one_hot = [{i: cat_column[s["cat_feature_index"]] for i, s in enumerate(tree["splits"])
                if s.get("split_type") == "OneHotFeature"} for tree in trees]
    used = sorted({col for per in one_hot for col in per.values()})
    if not used:
        return {}, [{} for _ in trees]
    names = list(model.feature_names_ or range(n_inputs))
    known = _known_categories(name, categories, used, names)
    import catboost
    import pandas as pd

    columns, offset, first = {}, {}, 0
    n_rows = sum(len(codes) for codes, _ in known.values())
    cat_inputs = sorted(set(categorical_inputs(model)) | set(cat_column.values()))
    for j in range(n_inputs):
        if j in cat_inputs:
            default = known[j][1][0] if j in known else ""
            columns[names[j]] = pd.Series([default] * n_rows, dtype=object)
        else:
            columns[names[j]] = np.zeros(n_rows)
    frame = pd.DataFrame(columns)
    for col in used:  # the probe rows of a column: its known categories, the rest fixed
        codes, values = known[col]
        frame.iloc[first : first + len(codes), col] = pd.Series(values, dtype=object).values
        offset[col] = slice(first, first + len(codes))
        first += len(codes)
    pool = catboost.Pool(frame, cat_features=cat_inputs)
    leaves = np.asarray(model.calc_leaf_indexes(pool), dtype=np.int64)
    right = []
    for t, per in enumerate(one_hot):
        holds = {}
        for i, col in per.items():
            bit = ((leaves[offset[col], t] >> i) & 1).astype(bool)
            if not bit.any():
                codes, values = known[col]
                shown = ", ".join(repr(v) for v in values[:5])
                raise TypeError(
                    f"{name} splits on a category of column {names[col]!r} that none of its "
                    f"known categories ({shown}{', ...' if len(values) > 5 else ''}) is: the "
                    "model was trained on a category the data given to fit does not hold, "
                    "and the trees cannot route its rows (CatBoost stores only a hash of it). "
                    "Fit the explainer on data holding every category of that column the "
                    "model was trained on (its training data), or explain the model with "
                    "ExactShapley or KernelSHAP, which call its predict."
                )
            holds[i] = known[col][0][bit]
        right.append(holds)
    return {col: np.sort(codes) for col, (codes, _) in known.items()}, right


def _known_categories(name, categories, used, names):
    """{column: (float32-rounded codes, categories)} of the columns ``used`` by one-hot
    splits, checked."""
    missing = [names[col] for col in used if col not in (categories or {})]
    if missing:
        raise TypeError(
            f"{name} has one-hot splits on the categorical column(s) {missing}, which CatBoost "
            "stores as hashes of the categories: read_trees needs categories={column: {code: "
            "category}}, the code input rows hold for each category and the category itself. "
            "Explainers pass those of the data given to fit: give them a DataFrame with the "
            "categorical columns as CatBoost was given them (strings or integers)."
        )
    known = {}
    for col in used:
        pairs = list(categories[col].items())
        codes = np.asarray([code for code, _ in pairs], dtype=np.float64)
        rounded = codes.astype(np.float32).astype(np.float64)
        if not len(pairs) or not np.isfinite(codes).all() or \
                len(np.unique(rounded)) != len(codes):
            raise TypeError(
                f"categories[{col}] must map distinct finite codes, distinct in float32 too "
                f"(the trees compare float32 inputs), to the categories of column "
                f"{names[col]!r}; got {len(pairs)} codes. Encode its categories as small "
                "integer codes (the explainers' encoding of a DataFrame does)."
            )
        known[col] = (rounded, [value for _, value in pairs])
    return known


class _Splits:
    """What a dumped split becomes in the layout: numeric splits by border, one-hot splits by
    the codes matched with their category (``known``, ``right``: :func:`_match_one_hot`)."""

    def __init__(self, column, nan_left, cat_column):
        self.column, self.nan_left, self.cat_column = column, nan_left, cat_column
        self.known, self.right = {}, [{}]
        self.one_hot_seen = False
        self.width = 1

    def at(self, tree):
        """The splits of tree ``tree``: a function of (split index, dumped split)."""
        self.width = max([len(c) for c in self.known.values()] or [1])
        return lambda index, split: self._node(tree, index, split)

    def _node(self, tree, index, split):
        """(input column, threshold, NaN goes left, cat_left row or None) of one split."""
        kind = split.get("split_type")
        if kind == "OneHotFeature":
            self.one_hot_seen = True
            col = self.cat_column[split["cat_feature_index"]]
            if col not in self.known:  # non-symmetric trees: refused after the walk
                return col, 0.0, True, np.ones(self.width, dtype=bool)
            known = self.known[col]
            left = np.zeros(self.width, dtype=bool)
            left[: len(known)] = ~np.isin(known, self.right[tree][index])
            return col, 0.0, True, left  # unknown codes (missing) match no split: left
        if kind != "FloatFeature":
            _refuse("CatBoost", f"a {kind!r} split")
        feature = split["float_feature_index"]
        return self.column[feature], float(split["border"]), self.nan_left[feature], None


def _oblivious_tree(tree, K, scale, split_at):
    """Node arrays of one oblivious tree, expanded to a full binary tree in heap order (node
    i's children are 2i+1 and 2i+2): level l tests ``splits[D - 1 - l]``, and the leaves come
    last, in CatBoost's order."""
    splits = tree["splits"]
    D = len(splits)
    n_inner, n_leaves = 2**D - 1, 2**D
    n = n_inner + n_leaves
    level = np.floor(np.log2(np.arange(n) + 1)).astype(np.int64)  # depth of each node
    tests = [split_at(D - 1 - lev, splits[D - 1 - lev]) for lev in range(D)]
    inner = np.arange(n) < n_inner
    feature = np.zeros(n, dtype=np.int64)
    threshold = np.zeros(n)
    missing_left = np.zeros(n, dtype=bool)
    width = max([len(t[3]) for t in tests if t[3] is not None] or [1])
    categorical = np.zeros(n, dtype=bool)
    cat_left = np.zeros((n, width), dtype=bool)
    for lev, (col, border, nan, left_codes) in enumerate(tests):
        at = level == lev
        feature[at], threshold[at], missing_left[at] = col, border, nan
        if left_codes is not None:
            categorical[at], cat_left[at] = True, left_codes
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
            "categorical": categorical, "cat_left": cat_left,
            "left": left, "right": right, "value": value, "cover": cover}


def _nested_tree(root, K, scale, split_at):
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
        col, border, nan, _ = split_at(None, node["split"])
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
