"""Hostile and unusual input for every registered explainer, plugins included.

Everywhere a user passes data (``fit``'s X, ``explain``/``transform``'s X, ``background``,
``baseline``, ``target``), each input gets either the right answer or a ValueError/TypeError
whose message names the argument; never a bare numpy or torch error, never NaN returned
silently. Hypothesis draws the inputs; one tiny torch MLP is explained by every method.
"""

import copy
import functools
import re
import warnings

import numpy as np
import pytest
import torch

import sklxai
from sklxai import GradientExplainer
from sklxai.explainers._shapley import ShapleyExplainer
from torchvision_loader import import_torchvision

# dev dependencies: skip (not fail collection) where they are absent, e.g. on the GPU machine
pytest.importorskip("hypothesis")
pd = pytest.importorskip("pandas")
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

D = 4  # features of the model
COLUMNS = ["age", "hours", "income", "zip"]
NAMES = sorted(sklxai.list_explainers())

# every test runs for every registered explainer
pytestmark = pytest.mark.parametrize("name", NAMES)

# small, fast settings per known name; unknown (future) plugins run with their defaults
FAST = {
    "exact": {},
    "kernelshap": {"n_coalitions": 16},
    "kernel_interactions": {"n_coalitions": 16},
    "permutation": {"n_coalitions": 6},
    # as kernelshap: every coalition of the D players, so a constant feature gets exactly 0
    "leverageshap": {"n_coalitions": 16},
    "msr": {"n_coalitions": 16, "n_trees": 4},
    "sampling": {"n_coalitions": 16},
    "simshap": {"max_epochs": 1, "hidden_sizes": (8,), "n_coalitions": 4, "train_batch_size": 16},
    "fastshap": {"max_epochs": 1, "hidden_sizes": (8,), "n_coalitions": 4, "train_batch_size": 16},
    "integrated_gradients": {"n_steps": 4},
    "gradient_shap": {"n_samples": 4},
    "deeplift": {"baseline": "background"},
    "smoothgrad": {"n_samples": 3},
    "samp": {"n_steps": 4},
    "igos": {"n_iter": 2, "ig_steps": 2},
    "igos++": {"n_iter": 2, "ig_steps": 2},
    # SAG explains images: the 4 columns are a flattened 2x2 image, one patch per pixel
    "sag": {"image_shape": (1, 2, 2), "patch_size": 1, "seed_params": {"n_iter": 2, "ig_steps": 2}},
    "c3lt": {"latent_dim": 2, "hidden_size": 8, "autoencoder_steps": 2, "map_steps": 2,
             "train_batch_size": 16},
    # values are one per x-feature: n_xfeatures=D gives the D players several tests expect
    # (the column count and names are read from get_feature_names_out, PLAYERS_NOT_FEATURES)
    "xnn": {"max_steps": 4, "hidden_size": 8, "validation_fraction": 0.0, "n_xfeatures": D},
    # class activation maps: the D columns are a flattened 1 x D image (IMAGE_MODELS' CNN)
    **{name: {"image_shape": (1, 1, -1)}
       for name in ("gradcam", "gradcam++", "hirescam", "layercam", "scorecam")},
}

#: explainers that wrap another explainer (SmoothGrad) are built around the one named here,
#: which gets the model and the parameters a test passes; the wrapper gets its FAST settings
WRAPPERS = {"smoothgrad": "saliency"}

SETTINGS = settings(max_examples=6, deadline=None, derandomize=True)

_RNG = np.random.default_rng(0)
X_TRAIN = _RNG.normal(size=(30, D))
FRAME = pd.DataFrame(X_TRAIN, columns=COLUMNS)


def _mlp(d=D, dtype=torch.float64):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(d, 8), torch.nn.Tanh(),
                               torch.nn.Linear(8, 2)).to(dtype)


MODELS = {"f64": _mlp(), "f32": _mlp(dtype=torch.float32), "f16": _mlp(dtype=torch.float16),
          "d1": _mlp(d=1)}


def _tree(d=D):
    from sklearn.ensemble import RandomForestClassifier

    Xd = X_TRAIN[:, :d]
    return RandomForestClassifier(5, max_depth=3, random_state=0).fit(
        Xd, (Xd[:, 0] - Xd[:, -1] * Xd[:, 0] > 0).astype(int))


#: explainers of one model family get a model of theirs (scikit-learn tree models compute in
#: float64 and take no torch dtype, so the float32/float16 variants do not apply)
FAMILY_MODELS = {"tree": {"f64": _tree(), "d1": _tree(d=1)},
                 "tree_interactions": {"f64": _tree(), "d1": _tree(d=1)}}


def _two_class_mlp(d=D, dtype=torch.float64):
    """An MLP whose class is the sign of ``x0 + 0.1``: it splits X_TRAIN into two classes, and
    X_TRAIN's first two rows into one of each."""
    model = torch.nn.Sequential(torch.nn.Linear(d, 1), torch.nn.Tanh(), torch.nn.Linear(1, 2))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].weight[0, 0] = 1.0
        model[0].bias.fill_(0.1)
        model[2].weight.copy_(torch.tensor([[-1.0], [1.0]]))
        model[2].bias.zero_()
    return model.to(dtype)


#: explainers that learn from the classes of fit's rows (counterfactual methods, which map rows
#: of one class to another) get a torch model that splits fit's rows between two classes; the
#: random MLP of MODELS predicts one class on all of X_TRAIN
CLASS_MODELS = {"c3lt": {"f64": _two_class_mlp(), "f32": _two_class_mlp(dtype=torch.float32),
                         "f16": _two_class_mlp(dtype=torch.float16), "d1": _two_class_mlp(d=1)}}



class _RowCNN(torch.nn.Module):
    """A CNN on the last axis read as a 1 x d image: a 1x1 convolution ("conv", a 4-D output)
    and a linear head; like an MLP, it maps (..., d) to (..., 2)."""

    def __init__(self, d, act):
        super().__init__()
        self.conv, self.act, self.head = torch.nn.Conv2d(1, 2, 1), act, torch.nn.Linear(2 * d, 2)

    def forward(self, X):
        maps = self.act(self.conv(X.reshape(-1, 1, 1, X.shape[-1])))
        return self.head(maps.flatten(1)).reshape(*X.shape[:-1], 2)


def _row_cnn(d=D, dtype=torch.float64, act=None):
    torch.manual_seed(0)
    return _RowCNN(d, torch.nn.Tanh() if act is None else act).to(dtype)


#: explainers of a layer's feature maps (CAMs) get a CNN with one
IMAGE_MODELS = {name: {"f64": _row_cnn(), "f32": _row_cnn(dtype=torch.float32),
                       "f16": _row_cnn(dtype=torch.float16), "d1": _row_cnn(d=1)}
                for name in ("gradcam", "gradcam++", "hirescam", "layercam", "scorecam")}

#: explainers that train on fit's rows and need at least two of them (a training and a
#: validation row, or a row of each class), beyond the amortized Shapley explainers
NEEDS_TWO_ROWS = {"c3lt"}
#: explainers whose players are not the input features (XNN: its x-features)
PLAYERS_NOT_FEATURES = {"xnn"}
#: explainers whose library imports torchvision when they are fitted (LRP: zennit), loaded
#: first through the test loader (torchvision's C ops need not load)
NEEDS_TORCHVISION = {"lrp"}


def _takes_nan(name):
    """Whether the explainer's model routes missing values itself (tree models): NaN is then
    valid input, and only infinite values are refused."""
    return name in FAMILY_MODELS


def _torch_only(name):
    if name in FAMILY_MODELS:
        pytest.skip(f"{name} explains its own model family, not torch modules")


def _make(name, model="f64", **params):
    cls = sklxai.get_explainer(name)
    if name in NEEDS_TORCHVISION:
        import_torchvision()
    if name in WRAPPERS:
        return cls(_make(WRAPPERS[name], model, **params), random_state=0, **FAST[name])
    kw = {"device": "cpu", "random_state": 0, "n_background": 8, **FAST.get(name, {}), **params}
    if name in FAMILY_MODELS:
        if model not in FAMILY_MODELS[name]:
            pytest.skip(f"{name}: no {model} variant of its model family")
        return cls(FAMILY_MODELS[name][model], **kw)
    return cls({**CLASS_MODELS, **IMAGE_MODELS}.get(name, MODELS)[model], **kw)


def _with_model(name, est, model):
    """``est`` explaining ``model`` (a wrapper's wrapped explainer's model)."""
    return est.set_params(**{"explainer__model" if name in WRAPPERS else "model": model})


@functools.cache
def _fitted(name, model="f64", frame=False):
    """One explainer per (name, model, fit on a DataFrame?), fitted once on clean data."""
    est = _make(name, model)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return est.fit(FRAME if frame else X_TRAIN)
    except TypeError as exc:  # an unknown plugin that needs parameters we cannot guess
        pytest.skip(f"{name} cannot be fitted with default parameters: {exc}")


def _kind(name):
    cls = sklxai.get_explainer(name)
    if issubclass(cls, GradientExplainer):
        return "gradient"
    return "shapley" if issubclass(cls, ShapleyExplainer) else "other"


def _n_cols(est):
    """Columns of transform's output for the fitted explainer (one per player and output; the
    players are the input features except for explainers in ``PLAYERS_NOT_FEATURES``)."""
    return len(est.get_feature_names_out())


def _raises_naming(fn, argument, match=None, types=(ValueError, TypeError)):
    """fn() raises a ValueError/TypeError whose message names ``argument`` (and ``match``)."""
    with pytest.raises(types) as info:
        fn()
    msg = str(info.value)
    assert re.search(rf"(?<![\w.]){re.escape(argument)}(?!\w)", msg), msg
    if match is not None:
        assert re.search(match, msg), msg
    return msg


def _check_values(values, n, cols):
    assert values.shape == (n, cols)
    assert np.isfinite(values).all()


def _ok_or_named_error(fn, n, cols, argument="X"):
    """Either finite values of the right shape, or a clear error naming ``argument``."""
    try:
        values = fn()
    except (ValueError, TypeError) as exc:
        assert re.search(rf"(?<![\w.]){re.escape(argument)}(?!\w)", str(exc)), str(exc)
        return None
    _check_values(values, n, cols)
    return values


# ------------------------------------------------------------------------------------ strategies
def _rows(min_rows=1, max_rows=4, d=D, elements=None):
    if elements is None:
        elements = st.floats(-3, 3, allow_nan=False, width=64)
    return st.integers(min_rows, max_rows).flatmap(
        lambda n: hnp.arrays(np.float64, (n, d), elements=elements))


@st.composite
def _with_non_finite(draw):
    """A finite array with NaN or +-inf written at one drawn position."""
    X = draw(_rows())
    i = draw(st.integers(0, X.shape[0] - 1))
    j = draw(st.integers(0, D - 1))
    X[i, j] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return X, i, j


_BAD_SHAPES = st.one_of(
    st.integers(1, 7).filter(lambda d: d != D).flatmap(
        lambda d: _rows(d=d).map(lambda X: (X, rf"X has {d} features.*expecting {D}"))),
    _rows(1, 1).map(lambda X: (X[0], r"1-D.*reshape")),
    _rows(2, 4).map(lambda X: (X[None], r"2-D")),
    st.just((np.zeros((0, D)), r"0 sample")),
    st.just((np.zeros((3, 0)), r"0 feature")),
)

_CONVERTIBLE = st.sampled_from(["float16", "float32", "int64", "uint8", "bool", "str", "object",
                                "list", "tensor"])


def _as(X, kind):
    """X in another dtype/container, and the float64 array of the same numbers."""
    if kind in ("int64", "uint8"):
        X = np.abs(np.round(X)).astype(kind)
    elif kind in ("float16", "float32", "bool"):
        X = X.astype(kind)
    elif kind == "str":
        return X.astype(str), X.astype(str).astype(np.float64)
    elif kind == "object":
        return X.astype(object), X
    elif kind == "list":
        return X.tolist(), X
    elif kind == "tensor":
        return torch.as_tensor(X), X
    return X, X.astype(np.float64)


_LAYOUTS = st.sampled_from(["stride2", "reversed_rows", "reversed_columns", "fortran",
                            "transposed_copy", "column_slice"])


def _view(X, kind):
    """A non-contiguous view with D columns built from X."""
    if kind == "stride2":
        return np.repeat(X, 2, axis=0)[::2]
    if kind == "reversed_rows":
        return X[::-1]
    if kind == "reversed_columns":
        return X[:, ::-1]
    if kind == "fortran":
        return np.asfortranarray(X)
    if kind == "transposed_copy":
        return X.T.copy().T
    return np.concatenate([X, X], axis=1)[:, :D]  # a column slice of a wider array


# ------------------------------------------------------------------------------------ X at explain
@SETTINGS
@given(case=_with_non_finite())
def test_nan_and_inf_in_X_are_refused_with_their_position(name, case):
    X, i, j = case
    est = _fitted(name)
    if _takes_nan(name) and np.isnan(X[i, j]):
        _check_values(est.transform(X), len(X), _n_cols(est))
        return
    _raises_naming(lambda: est.transform(X), "X",
                   rf"(NaN or )?infinite.*row {i}, column {j}")
    _raises_naming(lambda: est.explain(pd.DataFrame(X, columns=[f"x{k}" for k in range(D)])),
                   "X", r"(NaN or )?infinite")


@SETTINGS
@given(case=_BAD_SHAPES)
def test_wrong_shapes_and_empty_X_are_refused(name, case):
    X, match = case
    est = _fitted(name)
    _raises_naming(lambda: est.transform(X), "X", match)


def test_none_sparse_complex_and_strings_are_refused(name):
    sparse = pytest.importorskip("scipy.sparse")
    est = _fitted(name)
    _raises_naming(lambda: est.transform(None), "X", "None")
    _raises_naming(lambda: est.transform(sparse.csr_matrix(X_TRAIN[:2])), "X", "sparse")
    _raises_naming(lambda: est.transform(X_TRAIN[:2].astype(complex)), "X", "complex")
    _raises_naming(lambda: est.transform(np.array([["a", "b", "c", "d"]])), "X", "numeric")
    _raises_naming(lambda: est.transform(np.array([[1.0, "male", 2, 3]], dtype=object)),
                   "X", "numeric")
    _raises_naming(lambda: est.transform([[1.0, 2.0], [3.0]]), "X", "converted")


@SETTINGS
@given(X=_rows(), kind=_CONVERTIBLE)
def test_other_dtypes_and_containers_give_the_values_of_the_same_numbers(name, X, kind):
    est = _fitted(name)
    converted, reference = _as(X, kind)
    values = est.transform(converted)
    _check_values(values, len(X), _n_cols(est))
    np.testing.assert_allclose(values, est.transform(reference), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(X=_rows(), kind=_LAYOUTS)
def test_non_contiguous_views_give_the_values_of_their_copy(name, X, kind):
    est = _fitted(name)
    view = _view(X, kind)
    values = est.transform(view)
    np.testing.assert_array_equal(values, est.transform(np.ascontiguousarray(view)))
    _check_values(values, len(view), _n_cols(est))


@SETTINGS
@given(X=_rows(1, 1))
def test_a_single_row(name, X):
    est = _fitted(name)
    exp = est.explain(X)
    assert exp.values.shape[:2] == (1, D) and np.isfinite(exp.values).all()
    assert np.isfinite(exp.base_values).all()


@SETTINGS
@given(X=_rows(elements=st.floats(-3, 3, width=64)), exponent=st.integers(1, 300))
def test_huge_finite_values_give_finite_values_or_a_clear_error(name, X, exponent):
    X = X * 10.0**exponent
    # float64 model: finite values (tanh saturates) or an error naming X, never NaN
    _ok_or_named_error(lambda: _fitted(name).transform(X), len(X), _n_cols(_fitted(name)))
    # float32 model: what float32 cannot hold is refused up front, naming X
    est32 = _fitted(name, "f32")
    if np.abs(X).max() > np.finfo(np.float32).max:
        _raises_naming(lambda: est32.transform(X), "X", r"float32.*Rescale X")
    else:
        _ok_or_named_error(lambda: est32.transform(X), len(X), _n_cols(est32))


def test_float16_model(name):
    est = _fitted(name, "f16")
    _check_values(est.transform(X_TRAIN[:3]), 3, _n_cols(est))  # float64 values out
    _raises_naming(lambda: est.transform(X_TRAIN[:3] * 1e5), "X", r"float16 \(6.55e\+04\)")


class _Exp(torch.nn.Module):
    def forward(self, X):
        return torch.exp(X)


class _Square(torch.nn.Module):
    def forward(self, X):
        return X * X


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_model_whose_output_overflows_is_reported_not_returned_as_inf(name):
    _torch_only(name)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(D, 2), _Exp()).double()  # finite for |x| ~ 1
    if name in IMAGE_MODELS:  # a CAM needs feature maps: exp(mean of x^2) through a 1x1 conv
        cnn = _row_cnn(act=_Square())
        with torch.no_grad():
            cnn.conv.weight.fill_(1.0), cnn.conv.bias.zero_()
            cnn.head.weight.fill_(1.0 / (2 * D)), cnn.head.bias.zero_()
        model = torch.nn.Sequential(cnn, _Exp()).double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = _with_model(name, _make(name), model).fit(X_TRAIN)
    _check_values(est.transform(X_TRAIN[:2]), 2, _n_cols(est))
    X = X_TRAIN[:3] * 1e4  # exp overflows to inf for every row
    _raises_naming(lambda: est.transform(X), "X", r"NaN or infinite model outputs.*row\(s\) of X")


# ------------------------------------------------------------------------------------ DataFrames
@SETTINGS
@given(order=st.permutations(COLUMNS), X=_rows())
def test_reordered_dataframe_columns_give_the_same_values(name, order, X):
    est = _fitted(name, frame=True)
    right = pd.DataFrame(X, columns=COLUMNS)
    np.testing.assert_array_equal(est.transform(right[order]), est.transform(right))
    names = list(est.explain(right[order]).feature_names)
    assert names == list(est.explain(right).feature_names)
    if name not in PLAYERS_NOT_FEATURES:
        assert names == COLUMNS


@SETTINGS
@given(drop=st.sets(st.sampled_from(COLUMNS), max_size=2),
       extra=st.sets(st.sampled_from(["city", "age2", "0"]), max_size=2), X=_rows())
def test_missing_or_extra_dataframe_columns_are_named(name, drop, extra, X):
    est = _fitted(name, frame=True)
    df = pd.DataFrame(X, columns=COLUMNS).drop(columns=sorted(drop))
    for col in sorted(extra):
        df[col] = 1.0
    if not drop and not extra:
        _check_values(est.transform(df), len(X), _n_cols(est))
        return
    msg = _raises_naming(lambda: est.transform(df), "X", "columns seen during fit")
    for col in drop:
        assert re.search(rf"missing columns \[[^]]*'{col}'", msg), msg
    for col in extra:
        assert re.search(rf"unexpected columns \[[^]]*'{col}'", msg), msg


def test_dataframe_with_strings_or_missing_values_for_a_torch_model(name):
    _torch_only(name)
    df = FRAME.assign(zip=["a", "b", "c"] * 10)
    _raises_naming(lambda: _make(name).fit(df), "X", r"non-numeric columns \['zip'\]")
    est = _fitted(name, frame=True)
    _raises_naming(lambda: est.transform(FRAME.iloc[:3].assign(zip="a")), "X",
                   r"non-numeric columns \['zip'\]")
    with_na = FRAME.iloc[:3].astype("Float64")
    with_na.iloc[1, 2] = pd.NA
    _raises_naming(lambda: est.transform(with_na), "X", r"NaN or infinite.*row 1, column 2")
    _check_values(est.transform(FRAME.iloc[:3].astype("Float64")), 3, _n_cols(est))


@functools.cache
def _pipelines_passing_nan():
    """Fitted Pipelines whose OrdinalEncoder passes missing values on to a skorch net as NaN:
    column-wise (the fast path), and with a float32 cast that only the generic path runs."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder
    from skorch import NeuralNetClassifier

    df = pd.DataFrame({"a": X_TRAIN[:, 0], "b": X_TRAIN[:, 1], "c": X_TRAIN[:, 2],
                       "city": ["x", "y", None] * 10})
    pre = ColumnTransformer([("num", "passthrough", ["a", "b", "c"]),
                             ("cat", OrdinalEncoder(), ["city"])]).fit(df)
    net = NeuralNetClassifier(_mlp(dtype=torch.float32),
                              criterion=torch.nn.CrossEntropyLoss).initialize()
    to32 = FunctionTransformer(lambda Z: np.asarray(Z, dtype=np.float32)).fit(df)
    return df, make_pipeline(pre, net), make_pipeline(pre, to32, net)


def test_pipeline_that_passes_nan_to_the_torch_model_is_refused(name):
    _torch_only(name)
    df, column_wise, generic = _pipelines_passing_nan()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # fast path: the preprocessed rows are checked before they reach the net
        _raises_naming(lambda: _with_model(name, _make(name), column_wise).fit(df), "X",
                       r"NaN or infinite model inputs.*impute them in the pipeline")
        if _kind(name) == "shapley":  # generic path: the NaN outputs are caught
            est = _with_model(name, _make(name), generic)
            _raises_naming(lambda: est.fit(df).transform(df.iloc[:3]), "X", r"NaN or infinite")


# ------------------------------------------------------------------------------------ fit's X
@SETTINGS
@given(case=_with_non_finite())
def test_fit_refuses_non_finite_X(name, case):
    X, i, j = case
    if _takes_nan(name) and np.isnan(X[i, j]):
        return  # a missing value, which the model routes
    _raises_naming(lambda: _make(name).fit(X), "X", rf"row {i}, column {j}")


@SETTINGS
@given(case=_BAD_SHAPES)
def test_fit_refuses_wrong_shapes(name, case):
    X, match = case
    if "features" in match:  # the model, not the explainer, knows its width: probed at fit
        match = "failed on rows of X"
    _raises_naming(lambda: _make(name).fit(X), "X", match)


def test_fit_refuses_values_beyond_the_models_precision(name):
    _raises_naming(lambda: _make(name, "f32").fit(X_TRAIN * 1e300), "X", "float32")


@pytest.mark.parametrize("n", [1, 2])
def test_fit_on_one_or_two_rows(name, n):
    est = _make(name)
    kind = _kind(name)
    amortized = kind == "shapley" and "refresh_every" in est.get_params()
    if (amortized or name in NEEDS_TWO_ROWS) and n == 1:  # a network cannot be trained and validated on one row
        _raises_naming(lambda: est.fit(X_TRAIN[:n]), "X", "n_samples=1")
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X_TRAIN[:n])
    _check_values(est.transform(X_TRAIN[:3]), 3, _n_cols(est))


def test_single_feature_model(name):
    est = _make(name, "d1")
    X = X_TRAIN[:, :1]
    try:
        est.fit(X)
    except ValueError as exc:  # amortized estimators need two players
        assert re.search(r"at least 2 features", str(exc)), str(exc)
        return
    values = est.transform(X[:3])
    _check_values(values, 3, _n_cols(est))
    if _kind(name) == "shapley":  # one player: phi = f(x) - E_b f(b), efficiency
        exp = est.explain(X[:3])
        # the one player's values (an interaction explainer's one (1, 1) cell) and the base
        values = exp.values.reshape(3, -1, *exp.base_values.shape[1:]).sum(axis=1)
        np.testing.assert_allclose(values + exp.base_values, exp.output, atol=1e-10)


def test_constant_feature_gets_zero_shapley_value(name):
    X = X_TRAIN.copy()
    X[:, 2] = 1.5  # the same value in every row: a dummy player of the marginal game
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = _make(name).fit(X)
    exp = est.explain(X[:3])
    assert np.isfinite(exp.values).all()
    amortized = "refresh_every" in est.get_params()
    if _kind(name) == "shapley" and not amortized:  # exact, kernel, permutation: exactly 0
        np.testing.assert_allclose(exp.values[:, 2], 0.0, atol=1e-8)
    elif name in ("integrated_gradients", "gradient_shap", "deeplift"):
        # baseline "mean" (every background row for gradient_shap and deeplift) equals the
        # constant: no path, no difference
        np.testing.assert_allclose(exp.values[:, 2], 0.0, atol=1e-12)


# ------------------------------------------------------------------------------------ background
@SETTINGS
@given(n_bg=st.integers(31, 80), n_fit=st.integers(2, 6))
def test_background_larger_than_the_data(name, n_bg, n_fit):
    bg = np.random.default_rng(n_bg).normal(size=(n_bg, D))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = _make(name, background=bg, n_background=n_fit).fit(X_TRAIN[:n_fit])
    assert est.background_.shape == (n_bg, D)
    _check_values(est.transform(X_TRAIN[:2]), 2, _n_cols(est))
    drawn = _make(name, n_background=500).fit(X_TRAIN[:n_fit])  # more than there are rows
    assert drawn.background_.shape == (n_fit, D)


@SETTINGS
@given(case=st.one_of(_with_non_finite().map(lambda c: (c[0], "NaN or infinite")),
                      _BAD_SHAPES.map(lambda c: (c[0], c[1].replace("X", "background")))))
def test_bad_background_is_refused(name, case):
    bg, match = case
    if _takes_nan(name) and match == "NaN or infinite":
        if np.isnan(bg).any():
            return  # missing values in background rows are routed by the model
        match = "infinite"
    _raises_naming(lambda: _make(name, background=bg).fit(X_TRAIN), "background", match)


def test_background_dataframe_reordered_missing_and_overflowing(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = _make(name, background=FRAME.iloc[:6][COLUMNS[::-1]]).fit(FRAME)
        b = _make(name, background=FRAME.iloc[:6]).fit(FRAME)
    np.testing.assert_array_equal(a.background_, b.background_)
    np.testing.assert_array_equal(a.transform(FRAME.iloc[:2]), b.transform(FRAME.iloc[:2]))
    _raises_naming(lambda: _make(name, background=FRAME.iloc[:6, :3]).fit(FRAME), "background",
                   r"missing columns \['zip'\]")
    _raises_naming(lambda: _make(name, "f32", background=X_TRAIN[:5] * 1e300).fit(X_TRAIN),
                   "background", "float32")


@pytest.mark.parametrize("baseline, match", [
    (np.full(D, np.nan), "NaN or infinite"), (np.zeros(D + 1), f"expecting {D}"),
    (np.zeros((2, 2, D)), "2-D"), ("nope", "baseline must be"),
])
def test_bad_baseline_is_refused(name, baseline, match):
    if "baseline" not in _make(name).get_params():
        pytest.skip(f"{name} has no baseline parameter")
    _raises_naming(lambda: _make(name, baseline=baseline).fit(X_TRAIN), "baseline", match)


def test_baseline_beyond_the_models_precision_is_refused(name):
    if "baseline" not in _make(name).get_params():
        pytest.skip(f"{name} has no baseline parameter")
    _raises_naming(lambda: _make(name, "f32", baseline=np.full(D, 1e300)).fit(X_TRAIN),
                   "baseline", "float32")


# ------------------------------------------------------------------------------------ target
def _needs_target(name):
    if "target" not in _make(name).get_params():
        pytest.skip(f"{name} has no target parameter")


@SETTINGS
@given(target=st.one_of(st.integers(2, 10**6), st.integers(-10**6, -3)))
def test_target_out_of_range_is_refused_at_fit(name, target):
    _needs_target(name)
    _raises_naming(lambda: _make(name, target=target).fit(X_TRAIN), "target", "out of range")


@pytest.mark.parametrize("target, match", [
    ("yes", "neither an output index"), (1.5, "neither an output index"),
    (True, "neither an output index"),  # not the output named 1
    (np.array([0, 2, 1]), r"outside 0\.\.1"), (np.array([0.0, 1.0, 1.0]), "integer"),
    (np.zeros((3, 1), dtype=int), "1-D"),
])
def test_bad_target_is_refused_at_fit(name, target, match):
    _needs_target(name)
    _raises_naming(lambda: _make(name, target=target).fit(X_TRAIN), "target", match)


@SETTINGS
@given(n=st.integers(1, 4), m=st.integers(0, 6))
def test_per_row_target_of_the_wrong_length_is_refused_at_explain(name, n, m):
    _needs_target(name)
    est = copy.deepcopy(_fitted(name)).set_params(target=np.zeros(m, dtype=np.int64))
    if m == n:
        _check_values(est.transform(X_TRAIN[:n]), n, _n_cols(est))
    else:
        _raises_naming(lambda: est.transform(X_TRAIN[:n]), "target",
                       rf"{m} entries but X has {n} rows")


@SETTINGS
@given(targets=st.lists(st.integers(0, 1), min_size=1, max_size=4))
def test_per_row_target_selects_each_rows_output(name, targets):
    _needs_target(name)
    n = len(targets)
    base = copy.deepcopy(_fitted(name))
    per_row = base.set_params(target=np.array(targets)).explain(X_TRAIN[:n]).values
    # (n, D), or (n, D, D) for interaction terms: the output axis is gone either way
    assert per_row.shape[:2] == (n, D) and per_row.shape[2:] in ((), (D,))
    assert np.isfinite(per_row).all()
    for t in (0, 1):
        rows = [r for r in range(n) if targets[r] == t]
        if rows:
            single = base.set_params(target=t).explain(X_TRAIN[:n]).values
            np.testing.assert_allclose(per_row[rows], single[rows], rtol=1e-10, atol=1e-12)
