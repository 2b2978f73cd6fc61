"""TabularEncoder: raw columns <-> float codes, exactly; and SklearnAdapter(decoder=...).

Expected values are built in raw space with pandas (row selection, concatenation) or come from the
pipeline's own predict_proba, never from the encoder itself.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from pandas.testing import assert_frame_equal
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklxai.datasets import load_adult
from sklxai.models import SklearnAdapter
from sklxai.models.tabular import TabularEncoder

pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture(scope="module")
def adult():
    X, y = load_adult("train")
    return X.iloc[:500].reset_index(drop=True), y.iloc[:500].reset_index(drop=True)


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.RandomState(0)
    n = 60
    flt = rng.normal(size=n)
    flt[::7] = np.nan
    cat = pd.Categorical(
        rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi", "unused"]
    )
    cat[::9] = np.nan
    ordered = pd.Categorical(
        rng.choice(["s", "m", "l"], n), categories=["s", "m", "l"], ordered=True
    )
    nullable = pd.array(rng.randint(0, 5, n), dtype="Int64")
    nullable[::11] = pd.NA
    strings = pd.Series(rng.choice(["x", "y", "z"], n), dtype="str")
    strings[::5] = np.nan
    return pd.DataFrame({
        "flag": rng.rand(n) > 0.5,
        "colour": cat,
        "size": ordered,
        "score": flt,
        "count": rng.randint(-3, 100, n).astype(np.int64),
        "small": rng.randint(0, 9, n).astype(np.int32),
        "f32": rng.normal(size=n).astype(np.float32),
        "nullable": nullable,
        "name": strings,
        "mixed": pd.Series(rng.choice([1, "a", None], n).tolist(), dtype=object),
    })


def _masked_frame(X, ix, ib, mask):
    """Raw-space masking: column j from X.iloc[ix] where mask[:, j], else from X.iloc[ib]."""
    xs = X.iloc[ix].reset_index(drop=True)
    bs = X.iloc[ib].reset_index(drop=True)
    out = {}
    for j, c in enumerate(X.columns):
        m = mask[:, j]
        out[c] = pd.concat([xs[c][m], bs[c][~m]]).sort_index()
    return pd.DataFrame(out)[list(X.columns)]


# ---------------------------------------------------------------------------------- round trip


def test_round_trip_adult(adult):
    X, _ = adult
    enc = TabularEncoder()
    codes = enc.fit_transform(X)
    assert codes.dtype == np.float64 and codes.shape == X.shape
    assert np.isfinite(codes).all()
    np.testing.assert_array_equal(codes, enc.transform(X))
    assert_frame_equal(enc.inverse_transform(codes), X)
    assert list(enc.feature_names_) == list(X.columns)
    assert enc.n_features_in_ == 14
    expected_cat = [X[c].dtype == object for c in X.columns]
    np.testing.assert_array_equal(enc.is_categorical_, expected_cat)
    # numeric columns keep their values; categorical codes are 0..V-1 over sorted values, NaN last
    np.testing.assert_array_equal(codes[:, 0], X["age"].to_numpy(dtype=float))
    wc = enc.categories_[1]
    assert list(wc[:-1]) == sorted(X["workclass"].dropna().unique())
    assert pd.isna(wc[-1])
    assert (codes[X["workclass"].isna().to_numpy(), 1] == len(wc) - 1).all()


def test_round_trip_synthetic(synthetic):
    X = synthetic
    enc = TabularEncoder().fit(X)
    codes = enc.transform(X)
    assert np.isfinite(codes).all()
    out = enc.inverse_transform(codes)
    assert_frame_equal(out, X)
    assert out["colour"].dtype == X["colour"].dtype  # same categories, unused one included
    assert out["size"].cat.ordered
    np.testing.assert_array_equal(
        enc.is_categorical_,
        [False, True, True, True, False, False, False, True, True, True],
    )
    # pandas category codes are the categories' own codes, missing values last
    colour = codes[:, 1]
    raw = X["colour"].cat.codes.to_numpy()
    np.testing.assert_array_equal(colour, np.where(raw < 0, 4, raw))


def test_numeric_nan_free_nullable_and_object_ints():
    X = pd.DataFrame({
        "i": pd.array([1, 2, 3], dtype="Int64"),
        "b": pd.array([True, False, True], dtype="boolean"),
        "o": pd.Series([1, 5, 7], dtype=object),
        "big": np.array([2**60, 1, 2], dtype=np.int64),
    })
    enc = TabularEncoder().fit(X)
    np.testing.assert_array_equal(enc.is_categorical_, [False, False, False, True])
    codes = enc.transform(X)
    np.testing.assert_array_equal(codes[:, :3], [[1, 1, 1], [2, 0, 5], [3, 1, 7]])
    assert_frame_equal(enc.inverse_transform(codes), X)


def test_arrays_round_trip():
    X_obj, _ = load_adult("train", as_frame=False)
    X_obj = X_obj[:200]
    enc = TabularEncoder().fit(X_obj)
    out = enc.inverse_transform(enc.transform(X_obj))
    assert isinstance(out, np.ndarray) and out.dtype == object and out.shape == X_obj.shape
    for a, b in zip(out.ravel(), X_obj.ravel()):
        assert type(a) is type(b) and (a == b or (a is None and b is None))
    assert list(enc.feature_names_) == [f"x{j}" for j in range(14)]

    X_num = np.array([[1.0, np.nan], [2.5, 3.0], [2.5, np.nan]])
    enc = TabularEncoder().fit(X_num)
    np.testing.assert_array_equal(enc.is_categorical_, [False, True])
    np.testing.assert_array_equal(enc.inverse_transform(enc.transform(X_num)), X_num)


# ---------------------------------------------------------------------------------- masking


@pytest.mark.parametrize("which", ["adult", "synthetic"])
def test_masking_equals_raw_space_masking(which, adult, synthetic):
    X = adult[0] if which == "adult" else synthetic
    enc = TabularEncoder().fit(X)
    codes = enc.transform(X)
    rng = np.random.RandomState(1)
    n, d = 300, X.shape[1]
    ix, ib = rng.randint(len(X), size=n), rng.randint(len(X), size=n)
    mask = rng.rand(n, d) < 0.5
    decoded = enc.inverse_transform(np.where(mask, codes[ix], codes[ib]))
    assert_frame_equal(decoded, _masked_frame(X, ix, ib, mask))


# ---------------------------------------------------------------------------------- columns


def test_column_reorder_accepted(adult):
    X, _ = adult
    enc = TabularEncoder().fit(X)
    shuffled = X[list(X.columns[::-1])]
    np.testing.assert_array_equal(enc.transform(shuffled), enc.transform(X))
    assert list(enc.inverse_transform(enc.transform(shuffled)).columns) == list(X.columns)


def test_missing_and_extra_columns_refused(adult):
    X, _ = adult
    enc = TabularEncoder().fit(X)
    with pytest.raises(ValueError, match=r"missing columns \['workclass'\]"):
        enc.transform(X.drop(columns="workclass"))
    with pytest.raises(ValueError, match=r"unexpected columns \['extra'\]"):
        enc.transform(X.assign(extra=1))
    with pytest.raises(ValueError, match=r"missing columns \['age'\] and unexpected columns"):
        enc.transform(X.rename(columns={"age": "AGE"}))
    with pytest.raises(ValueError, match="must be a DataFrame"):
        enc.transform(X.to_numpy())
    with pytest.raises(ValueError, match="duplicated"):
        TabularEncoder().fit(pd.concat([X[["age"]], X[["age"]]], axis=1))


# ---------------------------------------------------------------------------------- new values


def test_unseen_values_get_new_codes(adult, synthetic):
    X, _ = adult
    enc = TabularEncoder().fit(X)
    size = len(enc.categories_[3])
    new = X.iloc[:3].copy()
    new.loc[0, "education"] = "Zeroth-grade"
    new.loc[1, "education"] = np.nan  # no NaN at fit in this column
    codes = enc.transform(new)
    assert codes[0, 3] == size and codes[1, 3] == size + 1
    assert_frame_equal(enc.inverse_transform(codes), new)
    # the grown vocabulary still decodes the fit data
    assert_frame_equal(enc.inverse_transform(enc.transform(X)), X)

    S = synthetic
    enc = TabularEncoder().fit(S)
    new = S.iloc[:2].copy()
    new["colour"] = pd.Categorical(["purple", "lo"])
    codes = enc.transform(new)
    assert codes[0, 1] == 5  # 4 categories and the missing value, then "purple"
    out = enc.inverse_transform(codes)
    assert list(out["colour"].astype(object)) == ["purple", "lo"]
    assert list(out["colour"].cat.categories) == ["lo", "mid", "hi", "unused", "purple"]


def test_numeric_column_with_new_nan_refused(adult):
    X, _ = adult
    enc = TabularEncoder().fit(X)
    bad = X.iloc[:4].copy()
    bad["age"] = bad["age"].astype(float)
    bad.loc[2, "age"] = np.nan
    with pytest.raises(ValueError, match="'age' contains NaN"):
        enc.transform(bad)
    bad = X.iloc[:4].copy()
    bad["age"] = "old"
    with pytest.raises(ValueError, match="'age' was numeric"):
        enc.transform(bad)


def test_bad_codes_and_not_fitted(adult):
    X, _ = adult
    with pytest.raises(NotFittedError):
        TabularEncoder().transform(X)
    enc = TabularEncoder().fit(X)
    codes = enc.transform(X.iloc[:2])
    codes[0, 1] = 0.5
    with pytest.raises(ValueError, match="'workclass'"):
        enc.inverse_transform(codes)
    codes[0, 1] = 1e3
    with pytest.raises(ValueError, match="'workclass'"):
        enc.inverse_transform(codes)
    with pytest.raises(ValueError, match="shape"):
        enc.inverse_transform(codes[:, :3])


# ---------------------------------------------------------------------------------- pipeline


def test_pipeline_through_decoder(adult):
    X, y = adult
    cat = [c for c in X.columns if X[c].dtype == object]
    num = [c for c in X.columns if c not in cat]
    pipe = Pipeline([
        ("pre", ColumnTransformer([
            ("cat", OneHotEncoder(handle_unknown="ignore"), cat),
            ("num", StandardScaler(), num),
        ])),
        ("clf", LogisticRegression(max_iter=500)),
    ]).fit(X, y)
    enc = TabularEncoder().fit(X)
    codes = enc.transform(X)
    adapter = SklearnAdapter(pipe, decoder=enc)
    assert adapter.decoder is enc and adapter.output_names == [0, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the decoded frame raises no feature-name warning
        np.testing.assert_array_equal(
            pipe.predict_proba(enc.inverse_transform(codes)), pipe.predict_proba(X)
        )
    out = adapter(torch.from_numpy(codes))
    assert out.dtype == torch.float64
    np.testing.assert_array_equal(out.numpy(), pipe.predict_proba(X))
    np.testing.assert_array_equal(adapter.predict(codes, batch_size=128), pipe.predict_proba(X))

    rng = np.random.RandomState(2)
    ix, ib = rng.randint(len(X), size=200), rng.randint(len(X), size=200)
    mask = rng.rand(200, X.shape[1]) < 0.5
    masked = np.where(mask, codes[ix], codes[ib])
    np.testing.assert_array_equal(
        adapter.predict(masked), pipe.predict_proba(_masked_frame(X, ix, ib, mask))
    )
