"""Readers of scikit-learn's tree models (``tree_`` based) into a :class:`TreeEnsemble`.

DecisionTree*, ExtraTree*, RandomForest*, ExtraTrees*, GradientBoosting* and IsolationForest.
Their trees compare float32 inputs (``float32_inputs``) and route missing values as
``tree_.missing_go_to_left`` says. Forests average their trees (1/T folded into the leaves);
gradient boosting adds ``learning_rate`` times its trees to a constant initial prediction (its
raw output, ``decision_function`` for classifiers); an isolation forest's raw output is its mean
path length over the trees, normalised (its scores are a function of it).
"""

import numpy as np

from sklxai.models.trees.layout import _parents_and_depths, assemble


def _tree_arrays(tree_, scale, *, classifier):
    """Node arrays of one fitted ``sklearn.tree._tree.Tree``; leaf values times ``scale``."""
    value = np.asarray(tree_.value, dtype=np.float64)  # (n_nodes, n_outputs, n_classes)
    if classifier:  # class fractions (normalised, whatever the sklearn version stored)
        value = value[:, 0, :] / np.maximum(value[:, 0, :].sum(axis=1, keepdims=True), 1e-300)
    else:
        value = value[:, :, 0]
    missing = getattr(tree_, "missing_go_to_left", None)
    n = tree_.node_count
    return {
        "feature": np.asarray(tree_.feature, dtype=np.int64),
        "threshold": np.asarray(tree_.threshold, dtype=np.float64),
        "missing_left": np.zeros(n, bool) if missing is None else np.asarray(missing, bool),
        "left": np.asarray(tree_.children_left, dtype=np.int64),
        "right": np.asarray(tree_.children_right, dtype=np.int64),
        "value": value * scale,
        "cover": np.asarray(tree_.weighted_n_node_samples, dtype=np.float64),
    }


def read_decision_tree(model):
    """A DecisionTree* / ExtraTree* model (``predict``, or ``predict_proba`` of a classifier)."""
    classifier = hasattr(model, "classes_")
    _check_single_output(model, classifier)
    tree = _tree_arrays(model.tree_, 1.0, classifier=classifier)
    k = tree["value"].shape[1]
    return assemble([tree], n_inputs=model.n_features_in_, base=np.zeros(k),
                    float32_inputs=True, link="identity",
                    output_names=list(model.classes_) if classifier else None,
                    raw_method="predict_proba" if classifier else "predict")


def read_forest(model):
    """A RandomForest* / ExtraTrees* model: the average of its trees."""
    classifier = hasattr(model, "classes_")
    _check_single_output(model, classifier)
    scale = 1.0 / len(model.estimators_)
    trees = [_tree_arrays(est.tree_, scale, classifier=classifier) for est in model.estimators_]
    k = trees[0]["value"].shape[1]
    return assemble(trees, n_inputs=model.n_features_in_, base=np.zeros(k), float32_inputs=True,
                    link="identity",
                    output_names=list(model.classes_) if classifier else None,
                    raw_method="predict_proba" if classifier else "predict")


def read_gradient_boosting(model):
    """A GradientBoosting* model: initial prediction + learning_rate x its trees (the raw
    output: ``predict`` of a regressor, ``decision_function`` of a classifier)."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    init = model.init_
    if not (init == "zero" or isinstance(init, (DummyClassifier, DummyRegressor))):
        raise TypeError(
            f"{type(model).__name__} with init={type(init).__name__} has a non-constant initial "
            "prediction, which is not a tree: explain it with ExactShapley or KernelSHAP."
        )
    stages = model.estimators_  # (n_stages, K)
    K = stages.shape[1]
    trees = []
    for stage in stages:
        for j, est in enumerate(stage):
            arrays = _tree_arrays(est.tree_, model.learning_rate, classifier=False)
            value = np.zeros((len(arrays["value"]), K))
            value[:, j] = arrays["value"][:, 0]  # tree j of a stage adds to output j
            arrays["value"] = value
            trees.append(arrays)
    base = np.asarray(model._raw_predict_init(np.zeros((1, model.n_features_in_))),
                      dtype=np.float64)[0]
    classifier = hasattr(model, "classes_")
    link = "identity" if not classifier else ("sigmoid" if K == 1 else "softmax")
    return assemble(trees, n_inputs=model.n_features_in_, base=base, float32_inputs=True,
                    link=link,
                    output_names=list(model.classes_) if classifier else None,
                    raw_method="decision_function" if classifier else "predict")


def read_isolation_forest(model):
    """An IsolationForest: raw output E[h(x)] / c(max_samples_), the mean over the trees of the
    path length h (the leaf's depth plus c(the leaf's training samples), the expected path
    length of a random tree grown on them) normalised by c(max_samples_); ``score_samples`` is
    -2**(-raw) and ``decision_function`` -2**(-raw) - ``offset_`` (the "isolation" link)."""
    T, d = len(model.estimators_), model.n_features_in_
    scale = _average_path_length(np.asarray([model.max_samples_]))[0] * T
    trees = []
    for est, features in zip(model.estimators_, model.estimators_features_, strict=True):
        tree_ = est.tree_
        arrays = _tree_arrays(tree_, 1.0, classifier=False)
        _, depth = _parents_and_depths(np.stack([arrays["left"], arrays["right"]], axis=1))
        length = depth + _average_path_length(np.asarray(tree_.n_node_samples, dtype=np.float64))
        # scikit-learn divides by T c(max_samples_) unless that is 0 (max_samples_ == 1),
        # where every score is 2**-1
        arrays["value"] = (length / scale if scale else np.full(len(length), 1.0 / T))[:, None]
        if len(features) != d:  # trees fitted on a subset of the columns, in this order
            feature = arrays["feature"]
            arrays["feature"] = np.where(feature >= 0, np.asarray(features)[
                np.maximum(feature, 0)], feature)
        trees.append(arrays)
    return assemble(trees, n_inputs=d, base=np.zeros(1), float32_inputs=True,
                    link="isolation", output_offset=float(model.offset_),
                    raw_method="the normalised mean path length, -log2(-score_samples)")


def _average_path_length(n_samples):
    """c(n): the average path length of an unsuccessful search in a binary search tree of n
    points, as the isolation forest paper (Liu et al., 2008) and scikit-learn define it."""
    n = np.asarray(n_samples, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def _check_single_output(model, classifier):
    if classifier and np.ndim(model.classes_[0]) > 0:
        raise TypeError(f"multi-output {type(model).__name__} classifiers are not supported; "
                        "explain one output at a time with ExactShapley or KernelSHAP.")
