"""Model preparation: from what the user gave to one :class:`PreparedModel`.

A user gives a model (a skorch net, a torch module, a scikit-learn estimator or Pipeline, fitted
or not), the data of ``fit`` (an array, a numeric DataFrame or a DataFrame of raw columns), maybe
``y``, the ``fast_path`` choice and a device. :func:`prepare_model` turns these, once, into a
:class:`PreparedModel` holding everything downstream code needs:

- the fitted model and its adapter (a batched torch function on the device);
- the raw-column encoder (DataFrames with strings or missing values, for scikit-learn models);
- the fitted preprocessing of a column-wise Pipeline on its fast path (the adapter is then the
  final torch model's, and rows are masked in model space);
- the players: which model-space columns each raw column (or group of raw columns) owns;
- for a tree model (or a column-wise Pipeline ending in one), its trees in the tensor layout
  (:class:`~sklxai.models.trees.TreeEnsemble`), read once here: the tree explainer, the tree
  game and the amortized explainers all take them from ``prepared.trees``;
- for images, (N, C, H, W) or (N, H, W) arrays or tensors: one image's shape
  (``input_shape``). Rows are flattened here, once, and every explainer, game and metric works
  on flat rows (n, C*H*W); a torch model gets them back as images through an
  :class:`~sklxai.models.images.ImageAdapter`, and explainers give their values the input's
  shape again (:meth:`PreparedModel.to_input_shape`). This is the one place where image shapes
  are handled.

Shapley and gradient explainers, the metrics and plugins all go through it; it knows nothing of
games, coalitions or explainers. Data flows one way: model -> prepared model -> game -> estimator
-> Explanation.
"""

import warnings

import numpy as np
import torch
from sklearn.base import clone

from sklxai.models._base import ModelAdapter, is_skorch_net
from sklxai.models.sklearn_estimator import SklearnAdapter
from sklxai.models.skorch_net import SkorchAdapter
from sklxai.models.torch_module import TorchModuleAdapter
from sklxai.utils.validation import (
    check_images,
    check_tabular,
    column_names,
    input_ndim,
    is_dataframe,
    resolve_device,
)

_FAST_PATH = ("auto", True, False)
#: rows the column-wise analysis of a Pipeline looks at (it is structural; rows only check it)
_ANALYSIS_ROWS = 256


class PreparedModel:
    """A model made ready to explain: adapter, encoders and players, built by
    :func:`prepare_model`.

    Parameters
    ----------
    model : object
        The fitted model explained.
    adapter : ModelAdapter
        ``model`` (or, on the fast path, its final torch step) as a batched torch function.
    n_features : int
        Raw columns of the data the model was prepared on.
    feature_names : ndarray of str or None
        Their names, when ``fit`` got a DataFrame with string column names.
    encoder : sklxai.models.tabular.TabularEncoder or None
        Encodes raw DataFrame columns (strings, missing values) as float codes and back.
    preprocessor : Pipeline or None
        The fitted preprocessing steps of a column-wise Pipeline explained on its fast path.
    column_map : sklxai.models.pipeline.ColumnMap or None
        The model-space columns of each raw column on the fast path.
    allow_nan : bool
        Whether the model takes missing values (NaN) in its input, as its scikit-learn tags say
        (tree models): rows with NaN are then accepted.
    input_shape : tuple or None
        One image's shape, ``X.shape[1:]``, when the model was prepared on images ((C, H, W) or
        (H, W)); None for 2-D tabular data. Rows are always flat: ``n_features`` is
        ``prod(input_shape)``.
    trees : sklxai.models.trees.TreeEnsemble or None
        The trees of the model the adapter runs (the model, or a fast-path Pipeline's last
        step) when it is a tree model whose trees the layout expresses; None otherwise.

    Attributes
    ----------
    fast_path : bool
        Whether rows are preprocessed once and masked in model space.
    final_takes_nan : bool
        On the fast path, whether the final model routes missing values itself (a tree model):
        preprocessed rows may then hold NaN, never infinite values.
    categories : dict or None
        For a model that takes some columns as raw categories (a CatBoost model's
        ``cat_features``), the categories of those columns in the data it was prepared on,
        ``{column: {code: category}}`` (the code rows hold, the category the model is given):
        what :func:`~sklxai.models.trees.read_trees` matches its one-hot splits with. None
        for other models.
    """

    def __init__(self, model, adapter, *, n_features, feature_names=None, encoder=None,
                 preprocessor=None, column_map=None, allow_nan=False, input_shape=None,
                 trees=None):
        self.model = model
        self.adapter = adapter
        self.n_features = n_features
        self.feature_names = feature_names
        self.encoder = encoder
        self.preprocessor = preprocessor
        self.column_map = column_map
        self.allow_nan = allow_nan
        self.input_shape = None if input_shape is None else tuple(input_shape)
        self.trees = trees
        self.final_takes_nan = False  # on the fast path: whether the last step routes NaN
        self.categories = None  # the known categories of a model's categorical columns

    @property
    def fast_path(self):
        return self.preprocessor is not None

    @property
    def image_shape(self):
        """(C, H, W) of one image (C = 1 for (N, H, W) input), or None for tabular data.

        Flat rows are images flattened in this order: ``rows.reshape(n, *image_shape)``.
        """
        if self.input_shape is None:
            return None
        return self.input_shape if len(self.input_shape) == 3 else (1, *self.input_shape)

    def to_input_shape(self, values):
        """Per-feature arrays of flat rows, (n, d) or (n, d, k), in the input's shape.

        For images, ``(n, *input_shape)`` or ``(n, *input_shape, k)`` (outputs last, as in the
        tabular (n, d, k)); anything else (tabular data, one value per feature group) is
        returned unchanged.
        """
        values = np.asarray(values)
        if self.input_shape is None or values.ndim < 2 or values.shape[1] != self.n_features:
            return values
        return values.reshape(values.shape[0], *self.input_shape, *values.shape[2:])

    # ------------------------------------------------------------------ rows
    def validate(self, X, *, name="X", owner="the explainer"):
        """Rows of the prepared data's kind as a float64 array (n, n_features).

        Raw DataFrames go through the encoder; images are checked against the shape seen when
        the model was prepared and flattened (:func:`~sklxai.utils.check_images`); everything
        else is checked against the columns seen then (names reordered, missing ones named).
        """
        if self.input_shape is not None:
            return check_images(X, name=name, image_shape=self.input_shape, owner=owner)[0]
        ndim = input_ndim(X)
        if ndim is not None and ndim > 2:
            raise ValueError(
                f"{name} has {ndim} dimensions (shape {tuple(np.shape(X))}), but {owner} was "
                f"fitted on 2-D rows with {self.n_features} features; fit it on images of "
                f"this shape to explain images, or pass {name} as rows (n, {self.n_features})."
            )
        if self.encoder is not None:
            if not is_dataframe(X):
                raise ValueError(
                    f"{name} must be a DataFrame with the columns seen during fit "
                    f"({list(self.encoder.feature_names_)}); the explainer was fitted on "
                    "raw columns."
                )
            return self.encoder.transform(X)
        return check_tabular(X, name=name, feature_names=self.feature_names,
                             n_features=self.n_features, owner=owner, allow_nan=self.allow_nan)

    def background(self, background, X, n_background, rng, *, owner):
        """The background rows: ``background`` validated like X, or ``n_background`` rows of
        the validated rows X drawn without replacement with ``rng`` (all of them if fewer).
        For images, ``background`` may be images or their flat rows (n, d), the layout of an
        explainer's ``background_``."""
        if background is None:
            n = X.shape[0]
            if n <= n_background:
                return X.copy()
            return X[np.sort(rng.choice(n, size=n_background, replace=False))]
        if self.encoder is not None:
            return self.encoder.transform(background)
        if self.input_shape is not None and input_ndim(background) == 2:
            # flat rows of images, as another explainer's ``background_`` holds them
            return check_tabular(background, name="background", n_features=self.n_features,
                                 owner=owner)
        return self.validate(background, name="background", owner=owner)

    def model_rows(self, X):
        """Validated rows as the adapter's model sees them: X itself, or on the fast path the
        rows through the fitted preprocessing."""
        if self.preprocessor is None:
            return X
        out = self.preprocessor.transform(self.raw_frame(X))
        if hasattr(out, "toarray"):
            out = out.toarray()
        out = np.ascontiguousarray(np.asarray(out, dtype=np.float64))
        # a final tree model routes missing values itself; nothing takes infinite ones
        invalid = np.isinf(out) if self.final_takes_nan else ~np.isfinite(out)
        if invalid.any():
            bad = np.argwhere(invalid)[0]
            raise ValueError(
                "The pipeline's preprocessing turns rows of X into NaN or infinite model inputs "
                f"(first at row {bad[0]}, model column {bad[1]}), which its final torch model "
                "cannot take. A step probably passes missing values through (for example "
                "OrdinalEncoder, whose encoded_missing_value is NaN): impute them in the pipeline."
            )
        return out

    def raw_frame(self, X):
        """Validated rows back in the user's raw form (a DataFrame when fitted on one)."""
        if self.encoder is not None:
            return self.encoder.inverse_transform(X)
        if self.feature_names is not None:
            import pandas as pd

            return pd.DataFrame(X, columns=list(self.feature_names))
        return X

    def data(self, X):
        """What ``Explanation.data`` holds for validated rows: the raw values (an object array
        when the rows are encoded raw columns)."""
        if self.encoder is not None:
            return self.encoder.inverse_transform(X).to_numpy(dtype=object)
        return X

    def outputs(self, rows):
        """The number of model outputs and their names (class labels when the model knows
        them, else 0..k-1), from one run of the model on validated ``rows``."""
        k = self.probe(rows).shape[1]
        names = self.adapter.output_names
        return k, list(range(k) if names is None or len(names) != k else names)

    # ------------------------------------------------------------------ players
    def player_columns(self, groups=None):
        """The model-space columns of each player, a list of int64 arrays.

        Players are the raw columns, or ``groups`` of raw columns (lists of raw column indices,
        as :func:`sklxai.games.grouped.check_feature_groups` returns them). On the fast path a
        raw column owns the model-space columns computed from it (an empty array when the
        preprocessing drops it).
        """
        if groups is None:
            groups = [np.array([j]) for j in range(self.n_features)]
        if self.column_map is None:
            return [np.asarray(g, dtype=np.int64) for g in groups]
        return [np.concatenate([self.column_map.groups[j] for j in g]).astype(np.int64)
                for g in groups]

    def sum_to_players(self, values, groups=None):
        """Model-space attributions (n, d_model) summed over each player's columns: (n, P)."""
        n = values.shape[0]
        return np.stack([values[:, cols].sum(axis=1) if len(cols) else np.zeros(n)
                         for cols in self.player_columns(groups)], axis=1)

    # ------------------------------------------------------------------ checks
    def check_range(self, rows, name, dtype, owner):
        """Refuse finite values too large for ``dtype`` (the precision the model computes in):
        they would turn into inf there, and the attributions into NaN."""
        if self.encoder is not None or self.preprocessor is not None:
            return  # the model sees encoded rows; explain's check of its results applies
        if not dtype.is_floating_point or rows.size == 0:
            return
        limit = torch.finfo(dtype).max
        largest = float(np.abs(rows).max())
        if largest > limit:
            raise ValueError(
                f"{name} holds values up to {largest:.3g} in magnitude, beyond the largest "
                f"{dtype} ({limit:.3g}), the precision {owner} computes in: they would overflow "
                f"to inf. Rescale {name} (for example standardise the features the model is "
                "trained on)."
            )

    def probe(self, rows):
        """Run the model once on validated rows, so a mismatch fails here with a clear message;
        returns the outputs (n, k). Rows the images' shape was found with are not run again."""
        probed = getattr(self.adapter, "probed", None)  # an ImageAdapter's first run
        if probed is not None:
            self.adapter.probed = None
            if probed[0].shape == rows.shape and np.array_equal(probed[0], rows):
                return probed[1]
        try:
            return self.adapter(self.adapter.to_input(self.model_rows(rows)))
        except Exception as exc:
            what = (f"{rows.shape[1]} features" if self.input_shape is None
                    else f"images of shape {self.input_shape}")
            raise ValueError(
                f"The model ({type(self.model).__name__}) failed on rows of X with "
                f"{what}: {type(exc).__name__}: {exc}. Check that X is in the "
                "model's input space."
            ) from exc


def prepare_model(model, X, y=None, *, fast_path="auto", device="auto", owner="the explainer"):
    """Turn what the user gave into a :class:`PreparedModel` and fit's validated rows.

    Parameters
    ----------
    model : skorch net, torch.nn.Module, scikit-learn estimator or Pipeline, or ModelAdapter
        Fitted, or unfitted when ``y`` is given (a clone is then fitted on ``(X, y)``).
    X : array-like or DataFrame of shape (n_samples, n_features), or images
        Data in the model's input space (raw columns for a Pipeline). Images: an array or torch
        tensor of shape (n, C, H, W) or (n, H, W); a torch model is then called on images of
        that shape (or (n, 1, H, W) when it refuses (n, H, W)), probed once here, and a
        scikit-learn model on the flat rows.
    y : array-like or None
        Only used to fit an unfitted ``model``.
    fast_path : "auto", True or False
        For a Pipeline ending in a skorch net or torch module: "auto" takes the fast path when
        every preprocessing step is column-wise (else warns and runs the whole pipeline on
        CPU), True requires it, False never takes it.
    device : "auto", str or torch.device
        Where torch models run.
    owner : str
        Who asks (the explainer's class name), for messages.

    Returns
    -------
    prepared : PreparedModel
    X : ndarray of shape (n_samples, n_features), float64
        fit's rows, validated (raw DataFrame columns encoded, images flattened).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklxai.models import prepare_model
    >>> X = np.random.default_rng(0).normal(size=(20, 3))
    >>> prepared, rows = prepare_model(LinearRegression().fit(X, X.sum(1)), X)
    >>> prepared.adapter.predict(rows[:2]).shape, prepared.player_columns()[2]
    ((2, 1), array([2]))
    """
    if fast_path not in _FAST_PATH:
        raise ValueError(f"fast_path must be 'auto', True or False; got {fast_path!r}.")
    ndim = input_ndim(X)
    if ndim is not None and ndim > 2:
        return _prepare_images(model, X, y, device=device, owner=owner)
    encoder = _raw_encoder(X, model)
    allow_nan = _takes_nan(model)
    X_arr = encoder.transform(X) if encoder is not None else check_tabular(
        X, name="X", owner=owner, allow_nan=allow_nan)
    names = column_names(X)
    if names is None or not all(isinstance(c, str) for c in X.columns):
        names = None
    fitted = _fit_model(model, X, X_arr, y, owner)
    prepared = PreparedModel(fitted, None, n_features=X_arr.shape[1], feature_names=names,
                             encoder=encoder, allow_nan=allow_nan)
    prepared.adapter = _make_adapter(prepared, X, fast_path, device, owner)
    prepared.trees = _final_trees(prepared, X_arr)
    return prepared, X_arr


def _final_trees(prepared, X_arr):
    """The :class:`~sklxai.models.trees.TreeEnsemble` of the model the adapter runs (a
    fast-path Pipeline's last step, or the model), or None when it is not a tree model the
    layout expresses. A compiled-trees adapter's trees are taken as they are (read once).
    A model that takes raw categories gets those of fit's rows ``X_arr`` (``categories``)."""
    from sklxai.models.trees import is_tree_model, read_trees
    from sklxai.models.trees.adapter import TreeAdapter
    from sklxai.models.trees.readers import categorical_inputs

    if isinstance(prepared.adapter, TreeAdapter):
        return prepared.adapter.trees
    final = prepared.model[-1] if prepared.fast_path else prepared.model
    if not is_tree_model(final):
        return None
    columns = categorical_inputs(final)
    if columns and prepared.encoder is not None and not prepared.fast_path:
        prepared.categories = _known_categories(prepared.encoder, X_arr, columns)
    try:
        return read_trees(final, categories=prepared.categories)
    except TypeError:  # a tree model the layout cannot express (e.g. a non-constant init)
        return None


def _known_categories(encoder, X_arr, columns):
    """{column: {code: category}} of the categorical input ``columns``: each code fit's rows
    hold there, and the raw value the encoder decodes it to (missing values left out)."""
    import pandas as pd

    known = {}
    for j in columns:
        codes = np.unique(X_arr[:, j])
        rows = np.repeat(X_arr[:1], len(codes), axis=0)
        rows[:, j] = codes
        values = encoder.inverse_transform(rows).iloc[:, j].tolist()
        known[int(j)] = {float(c): v for c, v in zip(codes, values, strict=True)
                         if not pd.isna(v)}
    return known


def _prepare_images(model, X, y, *, device, owner):
    """:func:`prepare_model` for images (n, C, H, W) or (n, H, W): flat rows, and a torch
    model wrapped so that it gets them back as images (probed once)."""
    from sklxai.models.images import image_adapter

    X_arr, shape = check_images(X, name="X", owner=owner)
    images = X_arr.reshape(X_arr.shape[0], *shape)
    fitted = _fit_model(model, images if takes_tensors(model) else X_arr, X_arr, y, owner,
                        image_shape=shape)
    prepared = PreparedModel(fitted, None, n_features=X_arr.shape[1], input_shape=shape)
    adapter = make_adapter(fitted, device=device)
    if takes_tensors(fitted):
        adapter = image_adapter(adapter, X_arr, shape, model=fitted, name="X")
    else:  # scikit-learn models take the flattened images: the width must be theirs
        width = _n_features_of(fitted)
        if width is not None and width != X_arr.shape[1]:
            raise ValueError(
                f"X has {len(shape) + 1} dimensions, images of shape {shape} "
                f"({X_arr.shape[1]} values each), but the model ({type(fitted).__name__}) "
                f"takes 2-D rows of {width} features. Pass X as a 2-D array (n_samples, "
                f"{width}), or images of {width} values."
            )
    prepared.adapter = adapter
    return prepared, X_arr


def _n_features_of(model):
    """The number of columns a fitted scikit-learn model takes (``n_features_in_``), or None
    when it does not say."""
    from sklearn.pipeline import Pipeline

    est = model[0] if isinstance(model, Pipeline) else model
    try:
        return int(est.n_features_in_)
    except (AttributeError, TypeError, ValueError):
        return None


def _make_adapter(prepared, X, fast_path, device, owner):
    """The adapter of the model; for a Pipeline ending in a torch model or a tree model whose
    preprocessing is column-wise, the adapter of that final model (the fast path: sets
    ``preprocessor`` and ``column_map`` of ``prepared``)."""
    model = prepared.model
    final = _torch_final_step(model)
    if final is not None and fast_path is not False:
        from sklxai.models.pipeline import column_groups

        sample = X.iloc[:_ANALYSIS_ROWS] if is_dataframe(X) else np.asarray(X)[:_ANALYSIS_ROWS]
        column_map, reason = column_groups(model[:-1], sample)
        if column_map is not None:
            prepared.preprocessor, prepared.column_map = model[:-1], column_map
            prepared.final_takes_nan = _takes_nan(final)
            return make_adapter(final, device=device)
        if fast_path is True:
            raise ValueError(f"fast_path=True, but the pipeline is not column-wise: {reason}")
        warnings.warn(
            f"{owner}: the pipeline's preprocessing is not column-wise ({reason}); the whole "
            "pipeline runs on CPU (the generic path).", UserWarning, stacklevel=4,
        )
    elif fast_path is True:
        raise ValueError(
            "fast_path=True needs a Pipeline whose last step is a skorch net, a torch "
            f"module or a supported tree model; got {type(model).__name__}."
        )
    if prepared.encoder is not None:
        return SklearnAdapter(model, decoder=prepared.encoder)
    return make_adapter(model, device=device)


def _fit_model(model, X, X_arr, y, owner, image_shape=None):
    """``model`` if fitted, else a clone fitted on (X, y) (skorch nets get the label dtypes
    their loss expects, and images in ``image_shape``)."""
    from sklearn.exceptions import NotFittedError

    check_model_supported(model)
    if is_fitted_model(model):
        return model
    if y is None:
        raise NotFittedError(
            f"{owner} requires y to be passed, but the target y is None: the model "
            f"({type(model).__name__}) is not fitted. Fit it before explaining it, or pass y to "
            "the explainer's fit so that a clone of it is fitted on (X, y)."
        )
    fitted = _clone(model)
    if is_skorch_net(fitted):
        from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

        y = np.asarray(y)
        if isinstance(fitted, NeuralNetClassifier):
            y = y.astype(np.int64)
        elif isinstance(fitted, NeuralNetBinaryClassifier):
            y = y.astype(np.float32)
        elif y.ndim == 1:
            y = y.astype(np.float32)[:, None]
        rows = X_arr if image_shape is None else X_arr.reshape(-1, *image_shape)
        return fitted.fit(rows.astype(np.float32), y)
    return fitted.fit(X, y)


def _clone(model):
    """An unfitted copy of ``model`` with its parameters: scikit-learn's ``clone``, or a
    CatBoost model's own ``copy`` (``clone`` refuses CatBoost's list parameters, such as
    ``cat_features``, which its constructor copies)."""
    if type(model).__module__.partition(".")[0] == "catboost" and hasattr(model, "copy"):
        return model.copy()
    return clone(model)


def _takes_nan(model):
    """Whether the model routes missing values itself (its scikit-learn ``allow_nan`` tag)."""
    if takes_tensors(model):
        return False
    from sklearn.utils import get_tags

    try:
        return bool(get_tags(model).input_tags.allow_nan)
    except Exception:  # not a scikit-learn estimator: assume it does not
        return False


def _raw_encoder(X, model):
    """A fitted TabularEncoder when X is a DataFrame with non-numeric or missing values and the
    model can take such columns (not a torch module or skorch net: those take numbers, and
    ``check_tabular`` then names the columns to encode), or when the model takes some columns
    as raw categories (a CatBoost model's ``cat_features``: integers or strings, which float
    rows would not give it back)."""
    from sklxai.models.trees.readers import categorical_inputs

    if takes_tensors(model):
        return None
    categorical = categorical_inputs(model)
    if not is_dataframe(X):
        if categorical:
            raise ValueError(
                f"X is an array, but {type(model).__name__} takes the columns {categorical} "
                "as categories (cat_features), which must reach it as the integers or strings "
                "it was given, never as an array's float rows. Pass X as a pandas DataFrame "
                "with those columns as the model was given them."
            )
        return None
    numeric = all(getattr(dt, "kind", None) in ("b", "i", "u", "f") for dt in X.dtypes)
    if numeric and not X.isna().to_numpy().any() and not categorical:
        return None
    from sklxai.models.tabular import TabularEncoder

    return TabularEncoder().fit(X)


def takes_tensors(model):
    """Whether ``model`` is called on numeric tensors (a torch module, skorch net or adapter)."""
    return isinstance(model, (torch.nn.Module, ModelAdapter)) or is_skorch_net(model)


def _torch_final_step(model):
    """The last step of a Pipeline when it is a skorch net, a torch module or a tree model that
    runs as compiled trees (:func:`~sklxai.models.trees.is_tree_model`), else None."""
    from sklearn.pipeline import Pipeline

    from sklxai.models.trees import is_tree_model
    from sklxai.models.trees.readers import categorical_inputs

    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        return None
    final = model.steps[-1][1]
    if isinstance(final, ModelAdapter):
        return None
    # a model taking raw categories needs them decoded, which the fast path does not do
    tree = is_tree_model(final) and not categorical_inputs(final)
    return final if takes_tensors(final) or tree else None


def is_fitted_model(model):
    """Whether ``model`` can be called as is (fitted estimator, initialized net, torch module)."""
    if isinstance(model, (torch.nn.Module, ModelAdapter)):
        return True
    if is_skorch_net(model):
        return hasattr(model, "module_")
    from sklxai.models.trees import is_tree_model

    if is_tree_model(model):  # includes XGBoost and LightGBM Boosters, which have no sklearn state
        return True
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError:
        return False
    except TypeError:  # not an estimator at all
        return callable(model)
    return True


def make_adapter(model, *, device="auto"):
    """Wrap ``model`` in the adapter that fits it.

    Parameters
    ----------
    model : skorch net, torch.nn.Module, scikit-learn estimator or ModelAdapter
        A fitted model. A ModelAdapter is returned unchanged. A tree model that
        :func:`~sklxai.models.trees.read_trees` reads (also XGBoost, LightGBM, CatBoost) gets, on a
        CUDA device, a :class:`~sklxai.models.trees.adapter.TreeAdapter`: its compiled trees,
        with the outputs the generic adapter gives (``predict``, or ``predict_proba`` of
        classifiers). On the CPU it keeps its own compiled ``predict``, 10-40x faster there than
        torch's gathers (measured on Adult forests and boosted models); XGBoost and LightGBM
        Boosters, which take no arrays, get compiled trees on the CPU too.
    device : "auto", str or torch.device
        Where torch models and tree models run. "auto" picks CUDA when available. Other
        scikit-learn estimators always run on CPU.

    Returns
    -------
    adapter : ModelAdapter

    Examples
    --------
    >>> import torch
    >>> from sklxai.models import make_adapter
    >>> adapter = make_adapter(torch.nn.Linear(3, 1), device="cpu")
    >>> adapter(torch.zeros(4, 3)).shape
    torch.Size([4, 1])
    """
    check_model_supported(model)
    if isinstance(model, ModelAdapter):
        return model
    if isinstance(model, torch.nn.Module):
        return TorchModuleAdapter(model, device=device)
    if is_skorch_net(model):
        return SkorchAdapter(model, device=device)
    from sklxai.models.trees import is_tree_model

    takes_arrays = hasattr(model, "get_params")  # a scikit-learn API estimator
    on_gpu = resolve_device(device).type == "cuda"
    if is_tree_model(model) and (on_gpu or not takes_arrays):  # compiled trees
        from sklxai.models.trees.adapter import TreeAdapter

        try:
            return TreeAdapter(model, device=device)
        except TypeError:  # a setting the trees cannot express (e.g. a non-constant init)
            pass
    return SklearnAdapter(model)


def check_model_supported(model):
    """Raise a TypeError, saying what is supported, for a model no adapter can wrap."""
    if takes_tensors(model):
        return
    if hasattr(model, "predict_proba") or hasattr(model, "predict"):
        return
    raise TypeError(
        f"model of type {type(model).__name__} is not supported: pass a fitted skorch net, a "
        "torch.nn.Module, or a scikit-learn estimator with predict_proba or predict."
    )
