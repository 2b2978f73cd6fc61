"""Which reader reads which model: the dispatch from a fitted model to a TreeEnsemble.

scikit-learn's models are known by class name. XGBoost's and LightGBM's readers
(:mod:`~sklxai.models.trees.boosters`) and CatBoost's (:mod:`~sklxai.models.trees.catboost`) are
only looked up for a model of those libraries, once the library imports: an absent or broken
xgboost, lightgbm or catboost never breaks ``import sklxai``, nor the reading of other models.
"""

import importlib

from sklxai.models.trees import hist_gradient_boosting, sklearn_trees

#: class name -> reader (scikit-learn); the optional readers are in _OPTIONAL below
_READERS = {
    "DecisionTreeRegressor": sklearn_trees.read_decision_tree,
    "DecisionTreeClassifier": sklearn_trees.read_decision_tree,
    "ExtraTreeRegressor": sklearn_trees.read_decision_tree,
    "ExtraTreeClassifier": sklearn_trees.read_decision_tree,
    "RandomForestRegressor": sklearn_trees.read_forest,
    "RandomForestClassifier": sklearn_trees.read_forest,
    "ExtraTreesRegressor": sklearn_trees.read_forest,
    "ExtraTreesClassifier": sklearn_trees.read_forest,
    "GradientBoostingRegressor": sklearn_trees.read_gradient_boosting,
    "GradientBoostingClassifier": sklearn_trees.read_gradient_boosting,
    "IsolationForest": sklearn_trees.read_isolation_forest,
    "HistGradientBoostingRegressor": hist_gradient_boosting.read_hist_gradient_boosting,
    "HistGradientBoostingClassifier": hist_gradient_boosting.read_hist_gradient_boosting,
}

#: library -> (module of sklxai.models.trees, its reader, the classes it reads, subclasses too)
_OPTIONAL = {
    "xgboost": ("boosters", "read_xgboost", ("XGBRegressor", "XGBClassifier", "Booster")),
    "lightgbm": ("boosters", "read_lightgbm", ("LGBMRegressor", "LGBMClassifier", "Booster")),
    "catboost": ("catboost", "read_catboost", ("CatBoostRegressor", "CatBoostClassifier",
                                               "CatBoostRanker", "CatBoost")),
}

SUPPORTED = sorted(_READERS) + [f"{name} ({library})" for library, (_, _, names) in
                                _OPTIONAL.items() for name in names]


def _reader(model):
    library = type(model).__module__.partition(".")[0]
    if library == "sklearn":
        return _READERS.get(type(model).__name__)
    if library not in _OPTIONAL:
        return None
    home, reader, names = _OPTIONAL[library]
    try:  # the library is imported already (the model is one of its objects), unless broken
        module = importlib.import_module(library)
        readers = importlib.import_module(f"sklxai.models.trees.{home}")
    except Exception:
        return None
    classes = tuple(getattr(module, name) for name in names if hasattr(module, name))
    return getattr(readers, reader) if isinstance(model, classes) else None


def is_tree_model(model):
    """Whether ``model`` is a fitted tree model of a kind :func:`read_trees` reads.

    A model of a supported kind may still be refused by its reader (with a TypeError) for a
    setting the tree layout cannot express (for example a non-constant ``init``).
    """
    if _reader(model) is None:
        return False
    return type(model).__name__ == "Booster" or getattr(model, "n_features_in_", None) is not None


def read_trees(model, *, categories=None):
    """The trees of a fitted ``model`` as a :class:`~sklxai.models.trees.TreeEnsemble`.

    Parameters
    ----------
    model : fitted tree model
    categories : dict {input column: dict {code: category}} or None
        The known categories of the columns that ``model`` takes as raw categories
        (:func:`categorical_inputs`, a CatBoost model's ``cat_features``): the float code
        input rows hold for each category, and the category as the model was given it. Only
        CatBoost models with one-hot splits need them; other readers take none.

    Raises
    ------
    TypeError
        For a model no reader supports, naming those supported, and for a setting of a
        supported model its reader cannot express.
    """
    reader = _reader(model)
    if reader is None:
        raise TypeError(
            f"{type(model).__name__} is not a supported tree model; supported: "
            f"{', '.join(SUPPORTED)}. Explain other models with ExactShapley or KernelSHAP."
        )
    if categories is None or not categorical_inputs(model):
        return reader(model)
    return reader(model, categories=categories)


def categorical_inputs(model):
    """The input columns that ``model`` takes as raw categories, not numbers: a CatBoost
    model's ``cat_features`` (indices when fitted, as given when not); empty for other models.

    Rows must reach such a model with their own dtypes (strings or integers, never floats),
    and :func:`read_trees` needs those columns' ``categories``.
    """
    if _reader(model) is None or type(model).__module__.partition(".")[0] != "catboost":
        return []
    from sklxai.models.trees.catboost import categorical_inputs as catboost_inputs

    return catboost_inputs(model)
