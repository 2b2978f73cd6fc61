"""Input validation shared by every explainer: arrays, DataFrames, devices, targets.

Every check names the argument it refuses and says how to fix it, so that bad input fails here,
never deep inside torch.
"""

import functools
import numbers

import numpy as np


def is_dataframe(X):
    """Whether X is a pandas-like DataFrame (has ``columns`` and ``iloc``)."""
    return hasattr(X, "columns") and hasattr(X, "iloc")


def resolve_device(device):
    """Turn ``device`` ("auto", "cpu", "cuda", "cuda:1", a torch.device) into a torch.device."""
    import torch

    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device; use 'auto', 'cpu' or 'cuda'."
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} asks for CUDA, but torch.cuda.is_available() is False; "
            "use device='auto' or device='cpu'."
        )
    return dev


def column_names(X):
    """Feature names of a DataFrame as an object array, or None for arrays."""
    if not is_dataframe(X):
        return None
    names = [str(c) for c in X.columns]
    return np.asarray(names, dtype=object)


def match_columns(X, expected, *, name="X"):
    """A DataFrame's columns in the order of ``expected`` (the names seen during fit).

    The same columns in another order are selected by name rather than refused; missing,
    unexpected or duplicated columns raise a ValueError that names them.
    """
    cols = [str(c) for c in X.columns]
    if cols == expected:
        return X
    missing = [c for c in expected if c not in cols]
    extra = [c for c in cols if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if extra:
            parts.append(f"unexpected columns {extra}")
        raise ValueError(
            f"{name} does not have the columns seen during fit: "
            + " and ".join(parts)
            + f". Expected {expected}."
        )
    if len(set(cols)) != len(cols):
        raise ValueError(f"{name} has duplicated column names: {cols}.")
    return X.iloc[:, [cols.index(c) for c in expected]]


def check_tabular(X, *, name="X", feature_names=None, n_features=None, allow_empty=False,
                  owner="the explainer", allow_nan=False):
    """Validate a 2-D numeric table and return it as a C-contiguous float64 ndarray.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        The data.
    name : str
        Name of the argument, used in error messages.
    feature_names : array of str or None
        Names seen during ``fit``. A DataFrame with the same columns in another order is
        reordered; missing or unexpected columns are refused, naming them.
    n_features : int or None
        Number of features seen during ``fit``.
    allow_empty : bool
        Whether zero rows are acceptable.
    owner : str
        Who expects ``n_features`` (the estimator's class name), for the message.
    allow_nan : bool
        Accept NaN (missing values), for models that route them (tree models); infinite
        values are refused anyway.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    """
    if X is None:
        raise ValueError(f"{name} is None; pass a 2-D array or DataFrame.")
    if hasattr(X, "tocsr") or hasattr(X, "todense"):
        raise TypeError(
            f"{name} is a sparse matrix; sparse input is not supported by explainers (coalitions "
            f"replace features by background values). Pass {name}.toarray()."
        )
    if is_dataframe(X):
        if feature_names is not None:
            X = match_columns(X, [str(c) for c in feature_names], name=name)
        non_numeric = [
            str(c) for c, dt in zip(X.columns, X.dtypes) if not _is_numeric_dtype(dt)
        ]
        if non_numeric:
            raise ValueError(
                f"{name} has non-numeric columns {non_numeric}. Explainers of a model work in "
                "the model's numeric input space; encode these columns first (for example with a "
                "scikit-learn Pipeline whose first steps encode them)."
            )
        arr = X.to_numpy(dtype=np.float64)
    else:
        arr = check_numeric(X, name)
    if arr.ndim == 1:
        raise ValueError(
            f"{name} is 1-D with shape {arr.shape}; explainers expect a 2-D array "
            f"(n_samples, n_features). Reshape your data: {name}.reshape(1, -1) for a single "
            f"row, {name}.reshape(-1, 1) for a single feature."
        )
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features); got shape {arr.shape}.")
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(
            f"{name} has 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    if arr.shape[1] == 0:
        raise ValueError(
            f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features, but {owner} is expecting {n_features} features "
            "as input (the number seen during fit)."
        )
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        first = np.argwhere(bad)[0]
        what = "infinite" if allow_nan else "NaN or infinite"
        raise ValueError(
            f"{name} contains {what} values (first at row {first[0]}, column {first[1]}); "
            "impute or drop them before explaining."
        )
    return np.ascontiguousarray(arr)


def check_numeric(X, name):
    """``X`` (array-like or torch tensor, on any device) as a float64 ndarray of any shape.

    Refuses what cannot be read as real numbers (strings, objects, complex values), naming
    ``name``. Shapes and finiteness are the caller's to check.
    """
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # a torch tensor, maybe on the GPU
        X = X.detach().cpu()
        if X.is_complex():
            raise ValueError(
                f"Complex data not supported: {name} is complex; explainers need real values."
            )
        X = (X.double() if X.dtype.itemsize == 2 else X).numpy()  # numpy lacks bfloat16
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype.kind in "OUSV":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            # keep numpy's exception type: TypeError for objects, ValueError for strings
            raise type(exc)(
                f"{name} must be numeric; it holds values of dtype {arr.dtype} that cannot "
                f"be converted to float ({exc})."
            ) from exc
    elif arr.dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} is complex; explainers need real values."
        )
    elif arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} has unsupported dtype {arr.dtype}.")
    return np.ascontiguousarray(arr, dtype=np.float64)


def input_ndim(X):
    """Number of axes of ``X`` (array, tensor, nested list or DataFrame) without copying it;
    None when it has no regular shape."""
    if is_dataframe(X):
        return 2
    shape = getattr(X, "shape", None)
    if shape is not None:
        return len(shape)
    try:
        return np.ndim(X)
    except (TypeError, ValueError):  # ragged lists: the full check says what is wrong
        return None


def check_images(X, *, name="X", image_shape=None, owner="the explainer"):
    """Validate a batch of images and return it as flat float64 rows, with one image's shape.

    Images are ``(n, C, H, W)`` (channels first, as torch convolutions take them) or
    ``(n, H, W)``, as numpy arrays, torch tensors (on any device) or nested lists. Rows are the
    images flattened in C order, so row ``i`` is ``X[i].reshape(-1)``; this is the layout every
    explainer and metric works in, and ``rows.reshape(n, *shape)`` gives the images back.

    Parameters
    ----------
    X : array-like or torch.Tensor of shape (n, C, H, W) or (n, H, W)
        The images.
    name : str
        Name of the argument, used in error messages.
    image_shape : tuple or None
        The shape of one image seen during ``fit`` (``X.shape[1:]`` there); X must match it.
    owner : str
        Who expects ``image_shape`` (the estimator's class name), for the message.

    Returns
    -------
    rows : ndarray of shape (n, prod(shape)), float64
    shape : tuple
        One image's shape, ``X.shape[1:]``: (C, H, W) or (H, W).

    Examples
    --------
    >>> import numpy as np
    >>> from sklxai.utils import check_images
    >>> rows, shape = check_images(np.zeros((5, 1, 8, 8)))
    >>> rows.shape, shape
    ((5, 64), (1, 8, 8))
    """
    if X is None:
        raise ValueError(f"{name} is None; pass images of shape (n, C, H, W) or (n, H, W).")
    if is_dataframe(X) or hasattr(X, "tocsr") or hasattr(X, "todense"):
        raise ValueError(
            f"{name} is a {type(X).__name__}; images must be an array or tensor of shape "
            "(n, C, H, W) or (n, H, W)."
        )
    arr = check_numeric(X, name)
    if arr.ndim not in (3, 4):
        if arr.ndim > 4:
            raise ValueError(
                f"{name} has {arr.ndim} dimensions (shape {arr.shape}); explainers take 2-D "
                "tables (n_samples, n_features) or batches of images (n, C, H, W) or (n, H, W). "
                f"Reshape {name} to one of these (e.g. fold extra axes into the channels)."
            )
        expected = "" if image_shape is None else f" (n, {', '.join(map(str, image_shape))})"
        raise ValueError(
            f"{name} has shape {arr.shape}, but {owner} was fitted on images of shape "
            f"{image_shape}; pass a batch of images{expected}, with the row axis first."
        )
    shape = tuple(int(s) for s in arr.shape[1:])
    if arr.shape[0] == 0:
        raise ValueError(
            f"{name} has 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required."
        )
    if 0 in shape:
        raise ValueError(f"{name} has an empty image axis (shape={arr.shape}).")
    if image_shape is not None and shape != tuple(image_shape):
        hint = ""
        if len(shape) == 2 and tuple(image_shape) == (1, *shape):
            hint = f" Add the channel axis: {name}[:, None]."
        elif len(shape) == 3 and shape[0] == 1 and tuple(image_shape) == shape[1:]:
            hint = f" Drop the channel axis: {name}[:, 0]."
        raise ValueError(
            f"{name} holds images of shape {shape}, but {owner} was fitted on images of shape "
            f"{tuple(image_shape)}; pass images of the shape seen in fit, "
            f"(n, {', '.join(map(str, image_shape))}).{hint}"
        )
    rows = arr.reshape(arr.shape[0], -1)
    bad = ~np.isfinite(rows)
    if bad.any():
        first = np.unravel_index(int(np.argmax(bad)), arr.shape)
        raise ValueError(
            f"{name} contains NaN or infinite values (first at index {tuple(map(int, first))}); "
            "replace them before explaining."
        )
    return np.ascontiguousarray(rows), shape


def _is_numeric_dtype(dtype):
    kind = getattr(dtype, "kind", None)
    return kind in ("b", "i", "u", "f")


def check_target(target, n_outputs, n_rows=None, *, output_names=None):
    """Validate ``target``: None, an output index/label, or one index per row.

    Returns None, an int, or an int ndarray of shape (n_rows,).
    """
    if target is None:
        return None
    if isinstance(target, (numbers.Integral, np.integer)) and not isinstance(target, bool):
        idx = int(target)
        if not -n_outputs <= idx < n_outputs:
            raise ValueError(
                f"target={target} is out of range: the model has {n_outputs} output(s), "
                f"valid indices are 0..{n_outputs - 1}."
            )
        return idx % n_outputs
    if isinstance(target, (str, numbers.Number)) or np.ndim(target) == 0:
        # a class label, e.g. target="yes"
        if output_names is not None:
            for i, label in enumerate(output_names):
                # True is not the output named 1 (nor False 0) unless the labels are booleans
                if label == target and _is_bool(label) == _is_bool(target):
                    return i
        raise ValueError(
            f"target={target!r} is neither an output index (0..{n_outputs - 1}) "
            f"nor one of the output names {list(output_names) if output_names is not None else []}."
        )
    arr = np.asarray(target)
    if arr.ndim != 1:
        raise ValueError(f"target must be an int or a 1-D array of ints; got shape {arr.shape}.")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"target array must hold integer output indices; got dtype {arr.dtype}.")
    if n_rows is not None and arr.shape[0] != n_rows:
        raise ValueError(
            f"target has {arr.shape[0]} entries but X has {n_rows} rows; give one output "
            "index per row, or a single int."
        )
    if arr.size and (arr.min() < 0 or arr.max() >= n_outputs):
        raise ValueError(
            f"target holds indices outside 0..{n_outputs - 1} (the model has {n_outputs} outputs)."
        )
    return arr.astype(np.int64)


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def check_positive_int(value, name, *, minimum=1, allow_none=False):
    """Check that ``value`` is an int >= ``minimum`` (or None when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an int >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}.")
    return int(value)


def seed_from(random_state):
    """Draw a 32-bit seed from ``random_state`` (None, int or RandomState/Generator)."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return _seed_of_int(int(random_state))
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(2**31 - 1))


@functools.lru_cache(maxsize=64)
def _seed_of_int(seed):
    # an int always gives the same seed; building a RandomState costs about 0.1 ms, a share
    # of a fast explainer's fit on a few rows
    return int(np.random.RandomState(seed).randint(2**31 - 1))


def check_finite_results(X, arrays, *, owner, dtype):
    """Refuse NaN or inf attributions or model outputs rather than return them silently.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The explained rows (their magnitude goes into the message).
    arrays : sequence of array-like with n rows
        Values, base values, outputs.
    owner : str
        The explainer's class name.
    dtype : torch.dtype
        The precision the model computes in.
    """
    n = X.shape[0]
    ok = np.ones(n, dtype=bool)
    for arr in arrays:
        ok &= np.isfinite(np.asarray(arr, dtype=np.float64).reshape(n, -1)).all(axis=1)
    if ok.all():
        return
    rows = np.flatnonzero(~ok)
    mag = np.abs(X[rows])
    raise ValueError(
        f"{owner} got NaN or infinite model outputs or attributions for {len(rows)} row(s) of X "
        f"(first: row {rows[0]}; largest magnitude in them "
        f"{float(mag[np.isfinite(mag)].max(initial=0.0)):.3g}). Large values overflow the "
        f"model's computations ({dtype}): rescale X (and the data the explainer was fitted on), "
        "or check that the model's output is finite on these rows."
    )
