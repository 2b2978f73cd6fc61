"""Readers of scikit-learn's tree models (``tree_`` based) into a :class:`TreeEnsemble`.

DecisionTree*, ExtraTree*, RandomForest*, ExtraTrees* and GradientBoosting*. Their trees compare
float32 inputs (``float32_inputs``) and route missing values as ``tree_.missing_go_to_left``
says. Forests average their trees (1/T folded into the leaves); gradient boosting adds
``learning_rate`` times its trees to a constant initial prediction (its raw output,
``decision_function`` for classifiers).
"""

import numpy as np

from sklxai.models.trees.layout import assemble


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
    }


def read_decision_tree(model):
    """A DecisionTree* / ExtraTree* model (``predict``, or ``predict_proba`` of a classifier)."""
    classifier = hasattr(model, "classes_")
    _check_single_output(model, classifier)
    tree = _tree_arrays(model.tree_, 1.0, classifier=classifier)
    k = tree["value"].shape[1]
    return assemble([tree], n_inputs=model.n_features_in_, base=np.zeros(k),
                    float32_inputs=True, output="identity",
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
                    output="identity",
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
    output = "identity" if not classifier else ("sigmoid" if K == 1 else "softmax")
    return assemble(trees, n_inputs=model.n_features_in_, base=base, float32_inputs=True,
                    output=output,
                    output_names=list(model.classes_) if classifier else None,
                    raw_method="decision_function" if classifier else "predict")


def _check_single_output(model, classifier):
    if classifier and np.ndim(model.classes_[0]) > 0:
        raise TypeError(f"multi-output {type(model).__name__} classifiers are not supported; "
                        "explain one output at a time with ExactShapley or KernelSHAP.")
