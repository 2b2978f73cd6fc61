"""Reader of scikit-learn's HistGradientBoosting* models into a :class:`TreeEnsemble`.

The raw output is ``_baseline_prediction`` plus the values of the leaves the row reaches in
every predictor of every iteration (``_predictors[i][k]`` adds to output k; the learning rate is
already in the leaf values): ``predict`` of a regressor (``exp`` of it for a log-link loss such
as Poisson or gamma), ``decision_function`` of a classifier.

The predictors compare float64 inputs (``x <= num_threshold`` goes left, NaN goes as
``missing_go_to_left`` says). With categorical features the model first runs its own
ColumnTransformer (``_preprocessor``): an OrdinalEncoder codes each categorical column by the
position of its value among the sorted categories seen in ``fit`` (unknown values and NaN become
NaN), and the coded columns come first, the numerical ones after them. A categorical node sends
a code left when it is in the node's bitset, right when it is another known code, and NaN where
``missing_go_to_left`` says (``_predictor.pyx``). :meth:`TreeEnsemble.encode` reproduces the
encoder from ``feature_source`` and ``categories``.
"""

import numpy as np

from sklxai.models.trees.layout import assemble, sorted_categories

#: bits in one row of a predictor's category bitsets (8 uint32 words)
_BITSET_BITS = 256


def read_hist_gradient_boosting(model):
    """A HistGradientBoostingRegressor or HistGradientBoostingClassifier.

    Parameters
    ----------
    model : fitted HistGradientBoostingRegressor or HistGradientBoostingClassifier

    Returns
    -------
    TreeEnsemble
        Its raw output is ``predict`` (regressors with the identity link; the ``exp`` link for a
        log link) or ``decision_function`` (classifiers: one output when binary).

    Raises
    ------
    TypeError
        When a categorical feature has non-numeric categories (e.g. strings in a pandas
        categorical column): rows reach the trees as floats.
    """
    source, categories, orders = _model_features(model)
    K = model.n_trees_per_iteration_
    width = max([len(known) for known in categories.values()] or [1])
    trees = [_predictor_arrays(predictor, k, K, orders, width)
             for iteration in model._predictors for k, predictor in enumerate(iteration)]
    classifier = hasattr(model, "classes_")
    if classifier:
        link = "sigmoid" if K == 1 else "softmax"
    else:
        link = _regression_link(model)
    return assemble(trees, n_inputs=model.n_features_in_,
                    base=np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1),
                    feature_source=source, categories=categories, link=link,
                    output_names=list(model.classes_) if classifier else None,
                    raw_method="decision_function" if classifier else "predict")


def _regression_link(model):
    """The layout's ``link`` of a regressor: how ``predict`` follows from the raw output."""
    link = type(model._loss.link).__name__
    if link == "IdentityLink":
        return "identity"
    if link == "LogLink":
        return "exp"
    raise TypeError(f"{type(model).__name__} with loss={model.loss!r} ({link}) is not "
                    "supported: explain it with ExactShapley or KernelSHAP.")


def _model_features(model):
    """The input column of each model feature, the known categories of each categorical model
    feature (sorted) and, per categorical model feature, the code of each sorted category."""
    n = model.n_features_in_
    preprocessor = getattr(model, "_preprocessor", None)
    if preprocessor is None:  # no categorical feature: the model sees the input columns
        return np.arange(n), {}, {}
    is_categorical = np.asarray(model.is_categorical_, dtype=bool)
    out = preprocessor.output_indices_
    source = np.empty(n, dtype=np.int64)
    source[out["encoder"]] = np.flatnonzero(is_categorical)
    source[out.get("numerical", slice(0, 0))] = np.flatnonzero(~is_categorical)
    encoder = preprocessor.named_transformers_["encoder"]
    categories, orders = {}, {}
    start = out["encoder"].start
    for i, values in enumerate(encoder.categories_):
        values = list(values)
        if values and _is_nan(values[-1]):  # the encoder codes missing values as NaN
            values = values[:-1]
        known, order = sorted_categories(values, owner=type(model).__name__)
        categories[start + i], orders[start + i] = known, order
    return source, categories, orders


def _is_nan(value):
    return isinstance(value, (float, np.floating)) and bool(np.isnan(value))


def _predictor_arrays(predictor, k, K, orders, width):
    """Node arrays of one TreePredictor adding to output k of K."""
    nodes = predictor.nodes
    leaf = nodes["is_leaf"].astype(bool)
    categorical = nodes["is_categorical"].astype(bool) & ~leaf
    value = np.zeros((len(nodes), K))
    value[:, k] = nodes["value"]
    cat_left = np.zeros((len(nodes), width), dtype=bool)
    if categorical.any():
        words = np.asarray(predictor.raw_left_cat_bitsets, dtype=np.uint32)
        bits = ((words[:, :, None] >> np.arange(32, dtype=np.uint32)) & 1).astype(bool)
        bits = bits.reshape(len(words), _BITSET_BITS)
        for node in np.flatnonzero(categorical):
            order = orders[int(nodes["feature_idx"][node])]
            cat_left[node, : len(order)] = bits[nodes["bitset_idx"][node], order]
    return {
        "feature": nodes["feature_idx"].astype(np.int64),
        "threshold": nodes["num_threshold"].astype(np.float64),
        "missing_left": nodes["missing_go_to_left"].astype(bool),
        "left": np.where(leaf, -1, nodes["left"].astype(np.int64)),
        "right": np.where(leaf, -1, nodes["right"].astype(np.int64)),
        "value": value,
        "categorical": categorical,
        "cat_left": cat_left,
        "cover": nodes["count"].astype(np.float64),
    }
