"""Column-wise analysis of fitted scikit-learn preprocessing: which model-space columns each raw
column becomes.

This is what the fast path for Pipelines needs (``docs/design.rst``, "Pipelines and the fast
path"): when every output column of the preprocessing depends on exactly one raw input column,
masking a coalition of raw columns equals masking the matching *groups* of model-space columns,
so the background and the explained rows are transformed once and coalitions are evaluated in
model space, on the device.

:func:`column_groups` proves column-wise-ness *structurally*, from the fitted estimators, and then
checks the claim on the sample it is given. It returns ``(ColumnMap, "")`` or ``(None, reason)``.

What is recognised (exact classes; a subclass may override ``transform`` and is not trusted):

- elementwise, one output per input: ``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler``,
  ``RobustScaler``, ``PowerTransformer``, ``QuantileTransformer``, ``Binarizer``,
  ``OrdinalEncoder``, ``FunctionTransformer(func=None)``, ``"passthrough"``/``None``;
- ``OneHotEncoder``: a block per input column, honouring ``drop``, ``handle_unknown``,
  ``min_frequency``/``max_categories`` (infrequent categories share one column);
- ``SimpleImputer``: columns dropped at fit (all missing, ``keep_empty_features=False``) map to
  nothing; with ``add_indicator=True`` each indicator column maps to its source column;
  ``MissingIndicator`` likewise;
- ``KBinsDiscretizer`` (``ordinal``, ``onehot``, ``onehot-dense``), ``SplineTransformer``;
- feature selectors (``SelectorMixin``: ``SelectKBest``, ``VarianceThreshold``, ...) through
  ``get_support``;
- any transformer that receives a single column (e.g. ``FunctionTransformer(np.log1p)`` or a
  ``PolynomialFeatures`` on one column inside a ``ColumnTransformer``): all its outputs come from
  that column;
- ``ColumnTransformer`` (column selectors as names, ints, masks, slices or callables; any
  ``remainder``; sparse output), ``Pipeline`` and ``FeatureUnion``, nested, whose parts are all
  column-wise. A raw column used by several transformers maps to all their outputs.

Everything else that sees several columns (``PCA``, ``PolynomialFeatures``, ``KNNImputer``, a
custom transformer, ...) is not column-wise, and the reason names the step and its class.

Assumption (scikit-learn's contract): ``transform`` treats rows independently and is deterministic.

A raw column that maps to no output (dropped by the ColumnTransformer, or all-missing at fit) gets
an empty group: the model never sees it, so it is a dummy player and its Shapley value is 0.
"""

from dataclasses import dataclass, field

import numpy as np

from sklxai.utils.validation import is_dataframe

__all__ = ["ColumnMap", "column_groups"]

#: rows of ``X_raw`` used by the final check (enough to catch a wrong rule, cheap to transform)
_MAX_CHECK_ROWS = 1000


@dataclass(eq=False)
class ColumnMap:
    """How the raw columns of a column-wise preprocessor map to its output (model-space) columns.

    Attributes
    ----------
    groups : list of ndarray of int
        One entry per raw column, in raw column order: the sorted indices of the output columns
        computed from that raw column. The groups partition ``range(n_out)``. An empty group
        means the raw column is dropped; its Shapley value is 0.
    raw_names : list of str
        Names of the raw columns (``feature_names_in_`` of the preprocessor, else the DataFrame's
        columns, else ``x0, x1, ...``).
    n_out : int
        Number of output columns.
    owner : ndarray of int, shape (n_out,)
        The raw column each output column comes from (the inverse of ``groups``).
    output_names : list of str or None
        ``get_feature_names_out()`` of the preprocessor, when it has one.
    """

    groups: list
    raw_names: list
    n_out: int
    owner: np.ndarray
    output_names: list = field(default=None)

    @property
    def n_raw(self):
        """Number of raw columns."""
        return len(self.groups)

    @property
    def dropped(self):
        """Names of the raw columns that map to no output column."""
        return [n for n, g in zip(self.raw_names, self.groups) if len(g) == 0]

    def expand_mask(self, mask):
        """Expand a coalition mask over raw columns ``(..., n_raw)`` to model space
        ``(..., n_out)``.

        Works for numpy arrays and torch tensors (``mask[..., owner]``).
        """
        owner = self.owner
        if type(mask).__module__.startswith("torch"):
            import torch

            owner = torch.as_tensor(owner, device=mask.device)
        return mask[..., owner]

    def as_dict(self):
        """``{raw_name: group}``."""
        return dict(zip(self.raw_names, self.groups))


class _NotColumnWise(Exception):
    """Raised inside the analysis; its message becomes the returned reason."""


def column_groups(preprocessor, X_raw, *, check=True):
    """Map each raw input column of a fitted preprocessor to the output columns it becomes.

    Parameters
    ----------
    preprocessor : fitted transformer
        The preprocessing before the model: a fitted ``Pipeline`` of transformers (e.g.
        ``pipe[:-1]``), a ``ColumnTransformer``, or a single transformer. Its last step must have
        ``transform``.
    X_raw : DataFrame or array-like of shape (n_samples, n_raw)
        A sample of raw input as the preprocessor receives it (a few hundred rows suffice). A
        DataFrame is put in ``feature_names_in_`` order. Used to propagate shapes through the steps
        and to check the structural map; at most 1000 rows are used by the check.
    check : bool, default=True
        Verify the structural map on ``X_raw``: for each raw column ``j``, giving column ``j`` the
        values of other rows (a cyclic shift) must change only outputs in ``groups[j]``. Needs at
        least two rows; a safety net against a wrong rule, not the proof.

    Returns
    -------
    column_map : ColumnMap or None
        The map when the preprocessing is column-wise, else None.
    reason : str
        ``""`` when column-wise; otherwise why not, naming the step (its path of names inside the
        preprocessor) and its class.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the preprocessor is not fitted.
    ValueError
        If ``X_raw`` lacks columns the preprocessor was fitted on, or has the wrong width.
    TypeError
        If the preprocessor has no ``transform`` (e.g. a whole Pipeline ending in a model).

    Examples
    --------
    >>> cmap, reason = column_groups(pipe[:-1], X_background)   # doctest: +SKIP
    >>> if cmap is None:
    ...     print("generic path:", reason)
    """
    if not hasattr(preprocessor, "transform"):
        raise TypeError(
            f"{type(preprocessor).__name__} has no transform; pass the preprocessing steps only "
            "(e.g. pipeline[:-1]), not a pipeline that ends in a model."
        )
    X, raw_names = _normalise_raw(preprocessor, X_raw)
    X = X.iloc[:_MAX_CHECK_ROWS] if is_dataframe(X) else X[:_MAX_CHECK_ROWS]
    n_raw = _n_columns(X)
    T0 = preprocessor.transform(X)  # user errors (wrong data) propagate here
    n_out = _n_columns(T0)

    try:
        owner, _ = _owner(preprocessor, X, None)
    except _NotColumnWise as exc:
        return None, str(exc)
    except Exception as exc:  # an unexpected estimator state: be safe, take the generic path
        return None, (
            f"could not analyse {type(preprocessor).__name__}: {type(exc).__name__}: {exc}"
        )

    owner = np.asarray(owner, dtype=np.intp)
    if owner.shape[0] != n_out:
        return None, (
            f"structural analysis predicts {owner.shape[0]} output columns but "
            f"{type(preprocessor).__name__}.transform gives {n_out}"
        )
    if owner.size and (owner.min() < 0 or owner.max() >= n_raw):
        return None, "structural analysis gave an output column without a raw source"

    groups = [np.flatnonzero(owner == j) for j in range(n_raw)]
    cmap = ColumnMap(
        groups=groups,
        raw_names=raw_names,
        n_out=n_out,
        owner=owner,
        output_names=_output_names(preprocessor, n_out),
    )
    if check:
        reason = _check_on_sample(preprocessor, X, cmap)
        if reason:
            return None, reason
    return cmap, ""


# ----------------------------------------------------------------------------- input handling


def _n_columns(X):
    shape = getattr(X, "shape", None)
    if shape is None:
        X = np.asarray(X)
        shape = X.shape
    return 1 if len(shape) == 1 else int(shape[1])


def _normalise_raw(preprocessor, X_raw):
    names_in = getattr(preprocessor, "feature_names_in_", None)
    if is_dataframe(X_raw):
        if names_in is not None:
            missing = [c for c in names_in if c not in X_raw.columns]
            if missing:
                raise ValueError(
                    f"X_raw is missing columns the preprocessor was fitted on: {missing}"
                )
            X = X_raw[list(names_in)]
        else:
            X = X_raw
        raw_names = [str(c) for c in X.columns]
    else:
        X = X_raw if hasattr(X_raw, "shape") else np.asarray(X_raw)
        if getattr(X, "ndim", 2) != 2:
            raise ValueError(f"X_raw must be 2-D, got shape {X.shape}")
        raw_names = (
            [str(c) for c in names_in]
            if names_in is not None
            else [f"x{j}" for j in range(X.shape[1])]
        )
    n_in = getattr(preprocessor, "n_features_in_", None)
    if n_in is not None and _n_columns(X) != n_in:
        raise ValueError(f"X_raw has {_n_columns(X)} columns, the preprocessor expects {n_in}")
    return X, raw_names


def _output_names(preprocessor, n_out):
    try:
        names = [str(n) for n in preprocessor.get_feature_names_out()]
    except Exception:
        return None
    return names if len(names) == n_out else None


# ----------------------------------------------------------------------------- structural rules


def _is_passthrough(est):
    return est is None or (isinstance(est, str) and est == "passthrough")


def _join(path, name):
    return name if path is None else f"{path}/{name}"


def _describe(est, path):
    if path is None:
        return type(est).__name__
    return f"step {path!r} ({type(est).__name__})"


def _elementwise_classes():
    from sklearn import preprocessing as p

    return {
        p.StandardScaler,
        p.MinMaxScaler,
        p.MaxAbsScaler,
        p.RobustScaler,
        p.PowerTransformer,
        p.QuantileTransformer,
        p.Binarizer,
        p.OrdinalEncoder,
    }


def _owner(est, X, path):
    """``(owner, Xt)``: for each output column of ``est`` the input column it comes from, and the
    transformed sample. Raises :class:`_NotColumnWise`."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import SelectorMixin
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        KBinsDiscretizer,
        OneHotEncoder,
        SplineTransformer,
    )

    n_in = _n_columns(X)
    if _is_passthrough(est):
        return np.arange(n_in), X
    if isinstance(est, str):  # "drop" outside a ColumnTransformer/FeatureUnion
        raise _NotColumnWise(f"step {path or 'preprocessor'!r} is {est!r}, not a transformer")

    cls = type(est)
    if cls is Pipeline:
        return _owner_pipeline(est, X, path)
    if cls is ColumnTransformer:
        return _owner_column_transformer(est, X, path)
    if cls is FeatureUnion:
        return _owner_feature_union(est, X, path)

    Xt = est.transform(X)
    n_out = _n_columns(Xt)

    if n_in == 1:  # whatever it does, every output comes from the one column it sees
        return np.zeros(n_out, dtype=np.intp), Xt

    if cls in _elementwise_classes() or (cls is FunctionTransformer and est.func is None):
        owner = np.arange(n_in)
    elif cls is OneHotEncoder:
        owner = _owner_one_hot(est)
    elif cls is SimpleImputer:
        owner = _owner_simple_imputer(est, n_in)
    elif cls is MissingIndicator:
        owner = np.asarray(est.features_, dtype=np.intp)
    elif cls is KBinsDiscretizer:
        owner = np.arange(n_in) if est.encode == "ordinal" else _owner_one_hot(est._encoder)
    elif cls is SplineTransformer:
        if n_out % n_in:
            raise _NotColumnWise(f"{_describe(est, path)}: {n_out} outputs for {n_in} inputs")
        owner = np.repeat(np.arange(n_in), n_out // n_in)  # feature-major blocks of splines
    elif isinstance(est, SelectorMixin) and cls.transform is SelectorMixin.transform:
        owner = np.asarray(est.get_support(indices=True), dtype=np.intp)
    elif cls is FunctionTransformer:
        raise _NotColumnWise(
            f"{_describe(est, path)} applies {getattr(est.func, '__name__', est.func)!r} to "
            f"{n_in} columns at once: it may mix them (use it on single columns inside a "
            "ColumnTransformer)"
        )
    else:
        raise _NotColumnWise(
            f"{_describe(est, path)} sees {n_in} columns and is not a known column-wise "
            "transformer: its outputs may mix raw columns"
        )

    owner = np.asarray(owner, dtype=np.intp)
    if owner.shape[0] != n_out:
        raise _NotColumnWise(
            f"{_describe(est, path)}: expected {owner.shape[0]} output columns, transform gives "
            f"{n_out}"
        )
    return owner, Xt


def _owner_one_hot(enc):
    if hasattr(enc, "_n_features_outs"):
        widths = list(enc._n_features_outs)
    else:  # pragma: no cover - older/newer scikit-learn without the private attribute
        widths = [len(c) for c in enc.categories_]
        drop = getattr(enc, "drop_idx_", None)
        infrequent = getattr(enc, "infrequent_categories_", None)
        for i in range(len(widths)):
            if infrequent is not None and infrequent[i] is not None:
                widths[i] -= len(infrequent[i]) - 1
            if drop is not None and drop[i] is not None:
                widths[i] -= 1
    return np.repeat(np.arange(len(widths)), widths)


def _is_nan_array(values):
    values = np.asarray(values)
    if values.dtype.kind in "fc":
        return np.isnan(values)
    return np.array([isinstance(v, float) and v != v for v in values.ravel()], dtype=bool)


def _owner_simple_imputer(imp, n_in):
    if getattr(imp, "keep_empty_features", False):
        kept = np.arange(n_in)
    else:
        kept = np.flatnonzero(~_is_nan_array(imp.statistics_))
    parts = [kept]
    indicator = getattr(imp, "indicator_", None)
    if getattr(imp, "add_indicator", False) and indicator is not None:
        parts.append(np.asarray(indicator.features_, dtype=np.intp))
    return np.concatenate(parts)


def _owner_pipeline(pipe, X, path):
    owner = np.arange(_n_columns(X))
    Xt = X
    for name, step in pipe.steps:
        sub, Xt = _owner(step, Xt, _join(path, name))
        owner = owner[sub]
    return owner, Xt


def _owner_feature_union(union, X, path):
    # outputs are the parts side by side; transformer_weights scale columns, they do not mix them
    owners = []
    for name, trans in union.transformer_list:
        if isinstance(trans, str) and trans == "drop":
            continue
        sub, _ = _owner(trans, X, _join(path, name))
        owners.append(sub)
    owner = np.concatenate(owners) if owners else np.zeros(0, dtype=np.intp)
    return owner, union.transform(X)


def _owner_column_transformer(ct, X, path):
    from sklearn.utils import _safe_indexing

    n_in = _n_columns(X)
    # positions of the ColumnTransformer's own input columns inside X
    names_in = getattr(ct, "feature_names_in_", None)
    if names_in is not None and is_dataframe(X):
        cols = list(X.columns)
        missing = [c for c in names_in if c not in cols]
        if missing:
            raise _NotColumnWise(f"{_describe(ct, path)} misses columns {missing}")
        X = X[list(names_in)]
        position = np.array([cols.index(c) for c in names_in], dtype=np.intp)
    else:
        position = np.arange(n_in)

    Xt = ct.transform(X)
    n_out = _n_columns(Xt)
    owner = np.full(n_out, -1, dtype=np.intp)

    for name, trans, columns in ct.transformers_:
        indices = np.asarray(ct._transformer_to_input_indices[name], dtype=np.intp)
        out = ct.output_indices_[name]
        width = out.stop - out.start
        if isinstance(trans, str) and trans == "drop":
            continue
        if indices.size == 0:
            if width:
                raise _NotColumnWise(
                    f"{_describe(ct, path)}: '{name}' selects no column but outputs {width}"
                )
            continue
        sub_path = _join(path, name)
        if _is_passthrough(trans):
            sub = np.arange(indices.size)
        else:
            key = indices[0] if np.isscalar(columns) else indices  # 1-D selection stays 1-D
            Xs = _safe_indexing(X, key, axis=1)
            sub, _ = _owner(trans, Xs, sub_path)
        if len(sub) != width:
            raise _NotColumnWise(
                f"step {sub_path!r} ({type(trans).__name__}): analysis gives {len(sub)} output "
                f"columns, the ColumnTransformer records {width}"
            )
        owner[out] = indices[sub]

    if (owner < 0).any():
        raise _NotColumnWise(f"{_describe(ct, path)}: some output columns have no known source")
    return position[owner], Xt


# ----------------------------------------------------------------------------- check on the sample


def _dense(T):
    if hasattr(T, "toarray"):
        T = T.toarray()
    elif is_dataframe(T):
        T = T.to_numpy()
    T = np.asarray(T)
    return T[:, None] if T.ndim == 1 else T


def _equal(a, b):
    if a.dtype.kind in "biufc" and b.dtype.kind in "biufc":
        eq = a == b
        if a.dtype.kind in "fc" or b.dtype.kind in "fc":
            eq |= np.isnan(a) & np.isnan(b)
        return eq
    import pandas as pd

    na_a, na_b = pd.isna(a), pd.isna(b)
    eq = np.asarray(a == b, dtype=bool) if a.shape == b.shape else np.zeros(a.shape, bool)
    return (eq & ~na_a & ~na_b) | (na_a & na_b)


def _shifted_copies(X, n_raw):
    """``n_raw`` copies of ``X`` stacked by rows; in copy ``j`` raw column ``j`` takes the value of
    the previous row (cyclically). Transforms act row by row, so one call checks every column."""
    m = X.shape[0]
    shifted = np.roll(np.arange(m), 1)
    rows = np.tile(np.arange(m), (n_raw, 1))  # rows[b]: which row column b's copy reads
    take = np.tile(rows.ravel()[:, None], (1, n_raw))  # (n_raw * m, n_raw) row index per column
    for j in range(n_raw):
        take[j * m : (j + 1) * m, j] = shifted
    if is_dataframe(X):
        import pandas as pd

        cols = {
            k: X.iloc[:, k].iloc[take[:, k]].reset_index(drop=True) for k in range(n_raw)
        }
        out = pd.concat(cols, axis=1)
        out.columns = X.columns
        return out
    return np.asarray(X)[take, np.arange(n_raw)]


def _check_on_sample(preprocessor, X, cmap):
    n_raw = cmap.n_raw
    budget = 20_000_000 // max(cmap.n_out * n_raw, 1)  # cells of the dense check
    m = min(X.shape[0], _MAX_CHECK_ROWS, max(16, budget))
    if m < 2 or n_raw == 0:
        return ""
    Xc = X.iloc[:m] if is_dataframe(X) else X[:m]
    try:
        T0 = _dense(preprocessor.transform(Xc))
        T = _dense(preprocessor.transform(_shifted_copies(Xc, n_raw)))
    except Exception as exc:
        return (
            "check on the sample failed: transforming rows with one column shifted raised "
            f"{type(exc).__name__}: {exc}"
        )
    for j in range(n_raw):
        Tj = T[j * m : (j + 1) * m]
        changed = np.flatnonzero(~_equal(T0, Tj).all(axis=0))
        outside = np.setdiff1d(changed, cmap.groups[j])
        if outside.size:
            names = cmap.output_names
            shown = [names[k] if names else int(k) for k in outside[:5]]
            return (
                f"check on the sample failed: changing raw column {cmap.raw_names[j]!r} changed "
                f"output columns {shown} that the structural map gives to other raw columns"
            )
    return ""
