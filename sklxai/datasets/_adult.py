"""Loader for the bundled UCI Adult (Census Income) data set."""

import csv
import functools
import gzip
from importlib import resources

import numpy as np

__all__ = ["ADULT_CATEGORICAL", "ADULT_NUMERIC", "load_adult"]

#: The 14 feature columns of :func:`load_adult`, in order.
ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
]

#: Integer-valued feature columns of :func:`load_adult` (int64).
ADULT_NUMERIC = [
    "age",
    "fnlwgt",
    "education_num",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
]

#: String-valued feature columns of :func:`load_adult` (may hold missing values).
ADULT_CATEGORICAL = [
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
]

_TARGET_NAME = "income_over_50k"
_FILES = {"train": "adult_train.csv.gz", "test": "adult_test.csv.gz"}
_LABELS = {"<=50K": 0, ">50K": 1}
_MISSING = "?"


@functools.cache
def _read_split(split):
    """Parse one bundled file once; return ``(columns, y)`` as read-only arrays.

    ``columns`` maps each feature name to an int64 array (numeric columns) or an
    object array of str/None (categorical columns). Callers must copy before
    handing anything to users.
    """
    path = resources.files("sklxai.datasets") / "data" / _FILES[split]
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="ascii", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        expected = ADULT_COLUMNS + ["income"]
        if header != expected:  # pragma: no cover - guards the bundled files
            raise RuntimeError(
                f"unexpected header in bundled file {_FILES[split]!r}: {header}"
            )
        rows = list(reader)

    fields = list(zip(*rows))
    numeric = set(ADULT_NUMERIC)
    columns = {}
    for name, values in zip(ADULT_COLUMNS, fields):
        if name in numeric:
            col = np.array(values, dtype=np.int64)
        else:
            col = np.empty(len(values), dtype=object)
            col[:] = [None if v == _MISSING else v for v in values]
        col.flags.writeable = False
        columns[name] = col
    y = np.array([_LABELS[v] for v in fields[-1]], dtype=np.int64)
    y.flags.writeable = False
    return columns, y


def load_adult(split="train", *, as_frame=True):
    """Load the UCI Adult (Census Income) data set bundled with sklxai.

    The task is to predict whether a person's yearly income exceeds $50K from
    14 census attributes (6 integer, 8 categorical). The data ship inside the
    package, so nothing is downloaded.

    Parameters
    ----------
    split : {"train", "test"}, default="train"
        Which of the two original files to load: ``"train"`` is ``adult.data``
        (32561 rows), ``"test"`` is ``adult.test`` (16281 rows).
    as_frame : bool, default=True
        If True, return a pandas DataFrame and Series (needs pandas). If False,
        return NumPy arrays; this path does not need pandas.

    Returns
    -------
    X : pandas.DataFrame or ndarray of shape (n_samples, 14)
        The features, columns in this order: age, workclass, fnlwgt, education,
        education_num, marital_status, occupation, relationship, race, sex,
        capital_gain, capital_loss, hours_per_week, native_country (see
        ``ADULT_NUMERIC`` and ``ADULT_CATEGORICAL``).

        - ``as_frame=True``: numeric columns have dtype ``int64``; categorical
          columns have dtype ``object`` and hold Python ``str``, with missing
          values (``"?"`` in the original files) as ``NaN``. ``object`` is used
          rather than pandas' string dtype so that the result is the same with
          pandas 2 and 3.
        - ``as_frame=False``: an ``object`` ndarray holding Python ``int`` for
          the numeric columns and ``str`` for the categorical ones, with
          missing values as ``None``.

        Missing values occur only in workclass, occupation and native_country.
    y : pandas.Series or ndarray of shape (n_samples,)
        int64, 1 when the income is above $50K, else 0. As a Series it is named
        ``"income_over_50k"``. About 24% of the rows are positive.

    Raises
    ------
    ValueError
        If `split` is not ``"train"`` or ``"test"``.
    ImportError
        If ``as_frame=True`` and pandas is not installed.

    Notes
    -----
    Barry Becker and Ronny Kohavi (1996), *Adult*, UCI Machine Learning
    Repository, https://archive.ics.uci.edu/dataset/2/adult, licensed under
    CC BY 4.0. The bundled copies differ from the original files only in
    form: whitespace around fields was stripped, the first (non-data) line of
    ``adult.test`` and the trailing ``"."`` of its labels were removed, a header
    row was added, and the files are gzip-compressed CSV. See
    ``sklxai/datasets/data/ADULT_LICENSE.txt``.

    Examples
    --------
    >>> from sklxai.datasets import load_adult
    >>> X, y = load_adult()
    >>> X.shape, y.shape
    ((32561, 14), (32561,))
    >>> list(X.columns[:3])
    ['age', 'workclass', 'fnlwgt']
    >>> X_test, y_test = load_adult("test", as_frame=False)
    >>> X_test.shape, X_test.dtype, y_test.dtype
    ((16281, 14), dtype('O'), dtype('int64'))
    >>> X_test[0, :4].tolist()
    [25, 'Private', 226802, '11th']
    """
    if not isinstance(split, str) or split not in _FILES:
        raise ValueError(
            f"split must be one of {sorted(_FILES)}, got split={split!r}"
        )

    if as_frame:
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "load_adult(as_frame=True) needs pandas; install it with "
                "`pip install sklxai[pandas]`, or call load_adult(..., as_frame=False) "
                "to get NumPy arrays."
            ) from exc

    columns, y = _read_split(split)

    if as_frame:
        data = {}
        for name in ADULT_COLUMNS:
            col = columns[name]
            if col.dtype == object:
                col = np.where(col == None, np.nan, col)
                data[name] = pd.Series(col, dtype=object, name=name, copy=False)
            else:
                data[name] = pd.Series(col.copy(), dtype=np.int64, name=name, copy=False)
        X = pd.DataFrame(data, columns=ADULT_COLUMNS)
        y_out = pd.Series(y.copy(), name=_TARGET_NAME, dtype=np.int64)
        return X, y_out

    X = np.empty((len(y), len(ADULT_COLUMNS)), dtype=object)
    for j, name in enumerate(ADULT_COLUMNS):
        col = columns[name]
        X[:, j] = col.tolist() if col.dtype != object else col
    return X, y.copy()
