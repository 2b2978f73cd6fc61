"""Raw tabular data <-> float codes, so that explainers can mask the raw input of a Pipeline.

Explainers work on float arrays: masking a coalition picks, per feature, the value of the explained
row or of a background row. A scikit-learn Pipeline, though, is often fitted on a raw DataFrame
(strings, missing values, ints, bools, pandas categoricals). :class:`TabularEncoder` turns each raw
column into floats, and back, exactly: masking happens on the codes, and the decoded DataFrame, with
the original column names, order and dtypes, goes to the pipeline. Masking never creates new
values, so decoding only ever meets codes the encoder produced.
"""

import numpy as np

from sklxai.utils.validation import is_dataframe, match_columns

__all__ = ["TabularEncoder"]

# Integers beyond 2**53 are not exactly representable as float64.
_MAX_EXACT_INT = 2**53


def _pd():
    import pandas as pd

    return pd


class TabularEncoder:
    """Encode raw tabular columns as float64 codes, and decode codes back to the raw values.

    Each column is encoded one of two ways:

    - **numeric**: columns of a numeric or bool dtype (numpy int/uint/float/bool, pandas nullable
      Int/Float/boolean, or ``object`` columns holding only ints, only floats or only bools) that
      have no missing or infinite values at fit: the code is the value as a float64 (integers
      beyond 2**53 in absolute value are encoded categorically, to stay exact);
    - **categorical**: every other column (strings, pandas ``category``, mixed objects, numeric
      columns with NaN, ...): the codes are ``0 .. V-1`` over the sorted unique values (order of
      first appearance when they cannot be sorted; the categories' own order for a pandas
      ``category`` column, unused categories included), missing values (NaN, None, pd.NA) being
      one more category, the last one.

    :meth:`inverse_transform` restores the original column names, order and dtypes (``int64``
    stays ``int64``, ``bool`` stays ``bool``, ``category`` keeps its categories and ordering,
    ``object`` and ``str`` columns keep their dtype). It is vectorised (one ``take`` on a
    vocabulary per column), since it runs on every batch of model inputs.

    Parameters
    ----------
    None.

    Attributes
    ----------
    feature_names_ : ndarray of str, shape (n_features,)
        The column names seen during fit, as strings (``"x0", "x1", ...`` for arrays).
    n_features_in_ : int
        Number of columns.
    is_categorical_ : ndarray of bool, shape (n_features,)
        Whether each column is encoded categorically.
    categories_ : list
        Per column: the vocabulary (an array of the column's dtype, the code being the position)
        for categorical columns, None for numeric ones. It grows when :meth:`transform` meets
        values unseen at fit.

    Notes
    -----
    A column holding both ``None`` and ``NaN`` has a single missing category; it decodes to the
    first missing value seen.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklxai.models.tabular import TabularEncoder
    >>> X = pd.DataFrame({"age": [30, 40], "job": ["b", None]})
    >>> enc = TabularEncoder().fit(X)
    >>> enc.transform(X)
    array([[30.,  0.],
           [40.,  1.]])
    >>> enc.inverse_transform(np.array([[40.0, 0.0]]))
       age job
    0   40   b
    """

    # ------------------------------------------------------------------------------ fit

    def fit(self, X, y=None):
        """Record the columns of ``X``, their dtypes and, for categorical columns, their values.

        Parameters
        ----------
        X : pandas DataFrame or 2-D ndarray of shape (n_samples, n_features)
            Raw data. For an ndarray (object, string or numeric), columns are positions and
            :meth:`inverse_transform` returns an ndarray of the same dtype.
        y : ignored

        Returns
        -------
        self : TabularEncoder
        """
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit on ``X`` and return its codes, a float64 ndarray of shape (n_samples, n_features)."""
        return self._fit(X)

    def _fit(self, X):
        columns, labels, frame = self._split_columns(X, name="X")
        n = len(columns[0]) if columns else 0
        if n == 0:
            raise ValueError(
                "X has 0 sample(s) while a minimum of 1 is required by TabularEncoder."
            )
        self._is_frame = frame
        if frame:
            names = [str(c) for c in labels]
            if len(set(names)) != len(names):
                raise ValueError(f"X has duplicated column names: {names}.")
            self._columns = labels  # the original column Index, restored on decode
            self._array_dtype = None
        else:
            names = [f"x{j}" for j in range(len(columns))]
            self._columns = None
            self._array_dtype = np.asarray(X).dtype
        self.feature_names_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(columns)
        self._specs = []
        codes = np.empty((n, self.n_features_in_), dtype=np.float64)
        for j, col in enumerate(columns):
            spec, codes[:, j] = _fit_column(col)
            self._specs.append(spec)
        self.is_categorical_ = np.array([s["kind"] == "categorical" for s in self._specs])
        return codes

    @property
    def categories_(self):
        return [s.get("vocab") for s in self._specs]

    # ------------------------------------------------------------------------------ transform

    def transform(self, X):
        """Codes of the raw rows ``X``.

        A DataFrame must have the columns seen during fit; the same columns in another order are
        reordered by name, missing or unexpected columns are refused, naming them. Values of a
        categorical column that were not seen during fit get new codes, appended to that column's
        vocabulary (the vocabulary grows, and :meth:`inverse_transform` decodes them).

        Parameters
        ----------
        X : pandas DataFrame or 2-D ndarray of shape (n_samples, n_features)

        Returns
        -------
        codes : ndarray of shape (n_samples, n_features), float64

        Raises
        ------
        ValueError
            On missing, unexpected or duplicated columns, a wrong number of columns, or a numeric
            column that holds missing, infinite or non-numeric values although it had none at fit.
        """
        self._check_fitted()
        X = self._align(X)
        columns, _, _ = self._split_columns(X, name="X")
        n = len(columns[0])
        codes = np.empty((n, self.n_features_in_), dtype=np.float64)
        for j, (col, spec) in enumerate(zip(columns, self._specs)):
            name = self.feature_names_[j]
            if spec["kind"] == "numeric":
                codes[:, j] = _numeric_codes(col, spec, name)
            else:
                codes[:, j] = _categorical_codes(col, spec, name)
        return codes

    def inverse_transform(self, codes):
        """Raw rows from codes: a DataFrame (or an ndarray, when fitted on one).

        Parameters
        ----------
        codes : array-like of shape (n_samples, n_features)
            Codes produced by :meth:`transform` (or rows mixing, per column, such codes).

        Returns
        -------
        X : pandas DataFrame or ndarray of shape (n_samples, n_features)
            The original column names, order and dtypes, with a fresh RangeIndex.
        """
        self._check_fitted()
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.n_features_in_:
            raise ValueError(
                f"codes must have shape (n_samples, {self.n_features_in_}); got {codes.shape}."
            )
        decoded = [
            _decode_column(codes[:, j], spec, self.feature_names_[j])
            for j, spec in enumerate(self._specs)
        ]
        if not self._is_frame:
            out = np.empty(codes.shape, dtype=self._array_dtype)
            for j, col in enumerate(decoded):
                out[:, j] = col
            return out
        pd = _pd()
        series = {
            j: pd.Series(col, dtype=spec["dtype"], copy=False)
            for j, (col, spec) in enumerate(zip(decoded, self._specs))
        }
        frame = pd.DataFrame(series, copy=False)
        frame.columns = self._columns
        return frame

    # ------------------------------------------------------------------------------ helpers

    def _check_fitted(self):
        if not hasattr(self, "_specs"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                "This TabularEncoder instance is not fitted yet. Call 'fit' with the raw data "
                "first."
            )

    def _align(self, X):
        """Reorder a DataFrame's columns by name; refuse missing or unexpected ones."""
        if X is None:
            raise ValueError("X is None; pass a 2-D array or DataFrame.")
        if not self._is_frame:
            if is_dataframe(X):
                X = X.to_numpy(dtype=object)
            arr = np.asarray(X)
            if arr.ndim != 2 or arr.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has shape {arr.shape}, but TabularEncoder is expecting "
                    f"{self.n_features_in_} features as input (the number seen during fit)."
                )
            return arr
        if not is_dataframe(X):
            raise ValueError(
                f"X must be a DataFrame with the columns seen during fit "
                f"({list(self.feature_names_)}); got {type(X).__name__}."
            )
        return match_columns(X, list(self.feature_names_))

    @staticmethod
    def _split_columns(X, *, name):
        """The columns of X as 1-D arrays (numpy or pandas extension arrays)."""
        if X is None:
            raise ValueError(f"{name} is None; pass a 2-D array or DataFrame.")
        if hasattr(X, "tocsr") or hasattr(X, "todense"):
            raise TypeError(f"{name} is a sparse matrix; pass a dense array or DataFrame.")
        if is_dataframe(X):
            if X.shape[1] == 0:
                raise ValueError(f"{name} has 0 feature(s) while a minimum of 1 is required.")
            cols = []
            for j in range(X.shape[1]):
                series = X.iloc[:, j]
                # numpy-backed columns as ndarrays; extension ones (str, category, Int64) as is
                numpy_backed = isinstance(series.dtype, np.dtype)
                cols.append(series.to_numpy() if numpy_backed else series.array)
            return cols, X.columns, True
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D (n_samples, n_features); got shape {arr.shape}."
            )
        if arr.shape[1] == 0:
            raise ValueError(f"{name} has 0 feature(s) while a minimum of 1 is required.")
        return [arr[:, j] for j in range(arr.shape[1])], None, False


# ---------------------------------------------------------------------------------- columns


def _as_numpy(col):
    """A numpy view of a column (NumpyExtensionArray unwrapped); extension arrays unchanged."""
    pd = _pd()
    numpy_array = getattr(pd.arrays, "NumpyExtensionArray", None) or pd.arrays.PandasArray
    # exact type: pandas' python-storage StringArray subclasses it and must keep its dtype
    if type(col) is numpy_array:
        return col.to_numpy()
    return col


def _numeric_decode_dtype(col):
    """The dtype to decode a numeric column to, or None when the column must be categorical."""
    pd = _pd()
    col = _as_numpy(col)
    dtype = col.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind in "biuf":
            return dtype
        if dtype.kind == "O":
            inferred = pd.api.types.infer_dtype(col, skipna=False)
            return {"integer": np.dtype(np.int64), "floating": np.dtype(np.float64),
                    "boolean": np.dtype(bool)}.get(inferred)
        return None
    # pandas nullable numeric / boolean arrays (Int64, Float64, boolean); not categoricals
    if isinstance(dtype, pd.CategoricalDtype):
        return None
    if getattr(dtype, "kind", None) in ("b", "i", "u", "f") and (
        pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    ):
        return dtype
    return None


def _to_float(col):
    """A numeric column as float64 (TypeError/ValueError when it is not numeric)."""
    col = _as_numpy(col)
    if isinstance(col, np.ndarray):
        return np.asarray(col, dtype=np.float64)
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def _fit_column(col):
    """(spec, codes) for one raw column."""
    pd = _pd()
    dtype = _numeric_decode_dtype(col)
    if dtype is not None:
        try:
            values = _to_float(col)
        except (TypeError, ValueError):
            values = None
        ok = values is not None and np.isfinite(values).all()
        if ok and getattr(dtype, "kind", None) in ("i", "u"):
            ok = np.abs(values).max() <= _MAX_EXACT_INT
        if ok:
            obj = _as_numpy(col).dtype == object
            spec = {"kind": "numeric", "decode": dtype, "object": obj,
                    "dtype": np.dtype(object) if obj else col.dtype}
            return spec, values
    col = _as_numpy(col)
    if isinstance(col.dtype, pd.CategoricalDtype):
        n_cat = len(col.dtype.categories)
        col_codes = np.asarray(col.codes, dtype=np.intp)
        na = col_codes < 0
        vocab_codes = np.arange(n_cat + bool(na.any()))
        vocab_codes[n_cat:] = -1
        vocab = pd.Categorical.from_codes(vocab_codes, dtype=col.dtype)
        codes = np.where(na, n_cat, col_codes)
    else:
        try:
            codes, _ = pd.factorize(col, sort=True, use_na_sentinel=True)
        except TypeError:  # values that cannot be compared: order of first appearance
            codes, _ = pd.factorize(col, sort=False, use_na_sentinel=True)
        codes = np.asarray(codes, dtype=np.intp)
        na = codes < 0
        n_unique = int(codes.max()) + 1 if (~na).any() else 0
        # the first occurrence of each value (and of the missing value), taken from the column
        # itself: the vocabulary has the column's exact dtype and objects
        _, first = np.unique(codes[~na], return_index=True)
        positions = np.flatnonzero(~na)[first]
        if na.any():
            positions = np.append(positions, np.flatnonzero(na)[0])
            codes = np.where(na, n_unique, codes)
        vocab = col.take(positions)
    spec = {"kind": "categorical", "vocab": vocab, "dtype": col.dtype}
    _refresh_lookup(spec)
    return spec, codes.astype(np.float64)


def _refresh_lookup(spec):
    pd = _pd()
    vocab = spec["vocab"]
    obj = np.asarray(vocab, dtype=object)
    na = np.asarray(pd.isna(obj), dtype=bool)
    spec["na_code"] = int(np.flatnonzero(na)[0]) if na.any() else None
    spec["lookup"] = pd.Index(obj, dtype=object)
    spec["size"] = len(vocab)


def _numeric_codes(col, spec, name):
    try:
        values = _to_float(col)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Column {name!r} was numeric during fit but holds non-numeric values now ({exc})."
        ) from exc
    finite = np.isfinite(values)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise ValueError(
            f"Column {name!r} contains NaN or infinite values (first at row {row}) but had none "
            "during fit, so it is encoded as numeric. Fit the explainer on data where this "
            "column has missing values too, or impute them."
        )
    if getattr(spec["decode"], "kind", None) in ("i", "u") and values.size:
        if np.abs(values).max() > _MAX_EXACT_INT:
            raise ValueError(
                f"Column {name!r} holds integers beyond 2**53 in absolute value, which float64 "
                "codes cannot represent exactly."
            )
    return values


def _categorical_codes(col, spec, name):
    pd = _pd()
    values = np.asarray(_as_numpy(col), dtype=object)
    na = np.asarray(pd.isna(values), dtype=bool)
    codes = np.empty(len(values), dtype=np.intp)
    present = ~na
    codes[present] = spec["lookup"].get_indexer(values[present])
    unseen = present.copy()
    unseen[present] = codes[present] < 0
    new_values = []
    if unseen.any():
        new_values = list(pd.unique(values[unseen]))
        try:
            new_values = sorted(new_values)
        except TypeError:
            pass
    if na.any() and spec["na_code"] is None:
        new_values.append(values[np.flatnonzero(na)[0]])
    if new_values:
        _extend_vocab(spec, new_values, name)
        codes[unseen] = spec["lookup"].get_indexer(values[unseen])
    if na.any():
        codes[na] = spec["na_code"]
    return codes.astype(np.float64)


def _extend_vocab(spec, new_values, name):
    """Append values unseen at fit to a categorical column's vocabulary, in the column's dtype."""
    pd = _pd()
    vocab = spec["vocab"]
    dtype = vocab.dtype
    old = np.asarray(vocab, dtype=object)
    new = np.empty(len(new_values), dtype=object)
    new[:] = new_values
    both = np.concatenate([old, new])
    try:
        if isinstance(dtype, pd.CategoricalDtype):
            added = [v for v in new_values if not pd.isna(v)]
            dtype = pd.CategoricalDtype(list(dtype.categories) + added, ordered=dtype.ordered)
            vocab = pd.Categorical(both, dtype=dtype)
        elif isinstance(dtype, np.dtype):
            vocab = both if dtype == object else np.asarray(both, dtype=dtype)
        else:
            vocab = pd.array(both, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Column {name!r} holds values unseen during fit ({new_values[:5]}) that cannot be "
            f"stored in its fit dtype {dtype} ({exc})."
        ) from exc
    spec["vocab"] = vocab
    spec["dtype"] = vocab.dtype
    _refresh_lookup(spec)


def _decode_column(codes, spec, name):
    """One column of raw values from its codes (vectorised)."""
    if spec["kind"] == "numeric":
        dtype = spec["decode"]
        if isinstance(dtype, np.dtype):
            out = codes.astype(dtype, copy=False)
            return out.astype(object) if spec["object"] else out
        return _pd().array(codes, dtype=np.float64).astype(dtype)
    idx = codes.astype(np.intp)
    if idx.size and not (
        np.array_equal(idx, codes) and idx.min() >= 0 and idx.max() < spec["size"]
    ):
        raise ValueError(
            f"Codes of column {name!r} must be integers in 0..{spec['size'] - 1} (codes that "
            "transform produced)."
        )
    return spec["vocab"].take(idx)
