"""Tests for the bundled UCI Adult data set (sklxai.datasets.load_adult)."""

import gzip
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from sklxai.datasets import ADULT_CATEGORICAL, ADULT_NUMERIC, load_adult

try:
    import pandas as pd
except ImportError:  # the as_frame=False path must work without pandas
    pd = None

needs_pandas = pytest.mark.skipif(pd is None, reason="pandas is not installed")

COLUMNS = [
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
N_ROWS = {"train": 32561, "test": 16281}
RAW_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "adult"
RAW_FILES = {"train": "adult.data", "test": "adult.test"}
PACKAGE_FILES = ["adult_train.csv.gz", "adult_test.csv.gz"]


def test_column_constants():
    assert len(ADULT_NUMERIC) == 6
    assert len(ADULT_CATEGORICAL) == 8
    assert set(ADULT_NUMERIC) | set(ADULT_CATEGORICAL) == set(COLUMNS)
    assert not set(ADULT_NUMERIC) & set(ADULT_CATEGORICAL)
    # listed in the same relative order as the columns of X
    assert ADULT_NUMERIC == [c for c in COLUMNS if c in ADULT_NUMERIC]
    assert ADULT_CATEGORICAL == [c for c in COLUMNS if c in ADULT_CATEGORICAL]


@needs_pandas
@pytest.mark.parametrize("split", ["train", "test"])
def test_frame_shape_columns_dtypes(split):
    X, y = load_adult(split)
    assert isinstance(X, pd.DataFrame)
    assert isinstance(y, pd.Series)
    assert X.shape == (N_ROWS[split], 14)
    assert y.shape == (N_ROWS[split],)
    assert list(X.columns) == COLUMNS
    assert X.index.equals(y.index)
    for col in ADULT_NUMERIC:
        assert X[col].dtype == np.int64, col
    for col in ADULT_CATEGORICAL:
        assert X[col].dtype == object, col
        values = X[col].dropna()
        assert len(values) > 0
        assert all(type(v) is str for v in values), col
        assert not values.isin(["?", ""]).any(), col
        assert (values == values.str.strip()).all(), col
    assert y.name == "income_over_50k"
    assert y.dtype == np.int64


@needs_pandas
@pytest.mark.parametrize("split", ["train", "test"])
def test_target_values(split):
    _, y = load_adult(split)
    assert set(np.unique(y)) == {0, 1}
    assert 0.22 < y.mean() < 0.26


@needs_pandas
def test_known_rows_and_missing():
    X, y = load_adult("train")
    first = X.iloc[0]
    assert first["age"] == 39
    assert first["workclass"] == "State-gov"
    assert first["native_country"] == "United-States"
    assert y.iloc[0] == 0
    assert y.mean() == pytest.approx(7841 / 32561)
    # '?' became missing, and only in these three columns
    n_missing = X.isna().sum()
    assert set(n_missing[n_missing > 0].index) == {"workclass", "occupation", "native_country"}
    assert n_missing["workclass"] == 1836
    assert n_missing["occupation"] == 1843
    assert n_missing["native_country"] == 583

    X_test, y_test = load_adult("test")
    assert X_test.iloc[0]["age"] == 25
    assert X_test.iloc[0]["education"] == "11th"
    assert y_test.iloc[0] == 0


@needs_pandas
@pytest.mark.parametrize("split", ["train", "test"])
def test_array_matches_frame(split):
    X_df, y_df = load_adult(split)
    X, y = load_adult(split, as_frame=False)
    assert isinstance(X, np.ndarray) and isinstance(y, np.ndarray)
    assert X.dtype == object and X.shape == X_df.shape
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, y_df.to_numpy())
    for j, col in enumerate(COLUMNS):
        if col in ADULT_NUMERIC:
            assert all(type(v) is int for v in X[:, j]), col
            np.testing.assert_array_equal(X[:, j].astype(np.int64), X_df[col].to_numpy())
        else:
            missing = X_df[col].isna().to_numpy()
            assert all(v is None for v in X[missing, j]), col
            assert all(type(v) is str for v in X[~missing, j]), col
            assert X[~missing, j].tolist() == X_df[col][~missing].tolist(), col


@needs_pandas
def test_results_are_independent_copies():
    X1, y1 = load_adult(as_frame=False)
    X1[0, 0] = -1
    y1[0] = 7
    X2, y2 = load_adult(as_frame=False)
    assert X2[0, 0] == 39 and y2[0] == 0
    df1, s1 = load_adult()
    df1.loc[0, "age"] = -1
    df1.loc[1, "workclass"] = "changed"
    s1.iloc[0] = 7
    df2, s2 = load_adult()
    assert df2.loc[0, "age"] == 39 and df2.loc[1, "workclass"] == "Self-emp-not-inc"
    assert s2.iloc[0] == 0


@pytest.mark.parametrize("split", ["validation", "TRAIN", None, 0, ["train"]])
def test_bad_split_raises(split):
    with pytest.raises(ValueError, match="split") as info:
        load_adult(split)
    assert "'train'" in str(info.value) and "'test'" in str(info.value)


def test_as_frame_is_keyword_only():
    with pytest.raises(TypeError):
        load_adult("train", False)


def test_works_without_pandas(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    X, y = load_adult("test", as_frame=False)
    assert X.shape == (N_ROWS["test"], 14)
    assert y.dtype == np.int64
    with pytest.raises(ImportError, match=r"pip install sklxai\[pandas\]"):
        load_adult("test")


@pytest.mark.skipif(not RAW_DIR.is_dir(), reason="raw UCI Adult files not available")
@pytest.mark.parametrize("split", ["train", "test"])
def test_row_counts_match_raw_files(split):
    lines = (RAW_DIR / RAW_FILES[split]).read_text().splitlines()
    rows = [ln.split(",") for ln in lines if ln.count(",") == 14]
    X, y = load_adult(split, as_frame=False)
    assert len(rows) == N_ROWS[split] == len(X)
    raw_y = [int(r[-1].strip().rstrip(".") == ">50K") for r in rows]
    np.testing.assert_array_equal(y, raw_y)
    raw_age = [int(r[0]) for r in rows]
    assert X[:, 0].tolist() == raw_age


@pytest.mark.parametrize("name", PACKAGE_FILES)
def test_package_data_files_are_small_gzip(name):
    path = resources.files("sklxai.datasets") / "data" / name
    assert path.is_file()
    data = path.read_bytes()
    assert data[:2] == b"\x1f\x8b"  # gzip magic
    assert len(data) < 1_000_000
    header = gzip.decompress(data).split(b"\n", 1)[0].decode()
    assert header.split(",") == COLUMNS + ["income"]


def test_license_file_is_bundled():
    text = (resources.files("sklxai.datasets") / "data" / "ADULT_LICENSE.txt").read_text()
    assert "CC BY 4.0" in text
    assert "https://archive.ics.uci.edu/dataset/2/adult" in text
