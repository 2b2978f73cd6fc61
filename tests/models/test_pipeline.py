"""Column-wise analysis of fitted preprocessing (`sklxai.models.pipeline.column_groups`).

Every column-wise case is checked against the data by computations written here, independent of
the module: (1) the groups partition the outputs; (2) giving raw column j the values of other rows
changes exactly the non-constant outputs in groups[j] and nothing else; (3) the identity the fast
path relies on: transforming hybrid raw rows (x on a coalition S, b elsewhere) equals mixing the
transformed rows in model space with the expanded mask.
"""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.feature_selection import SelectKBest, VarianceThreshold, f_regression
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    SplineTransformer,
    StandardScaler,
)

import sklxai.models.pipeline as pipeline_module
from sklxai.datasets import ADULT_COLUMNS, load_adult
from sklxai.models.pipeline import ColumnMap, column_groups

# ----------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def adult():
    """400 random Adult rows: string categoricals with NaN, integer numerics."""
    X, _ = load_adult("train")
    rng = np.random.default_rng(0)
    X = X.iloc[rng.choice(len(X), 400, replace=False)].reset_index(drop=True)
    assert X.isna().any().any()
    return X


@pytest.fixture(scope="module")
def adult_holes(adult):
    """Adult with NaN in a numeric column and an extra all-NaN numeric column."""
    X = adult.copy()
    X["hours_per_week"] = X["hours_per_week"].astype(float)
    X.loc[X.index % 7 == 0, "hours_per_week"] = np.nan
    X["empty"] = np.nan
    return X


NUM = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CAT = [
    "workclass",
    "education",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native_country",
]


def _kbins(encode):
    return KBinsDiscretizer(n_bins=4, encode=encode, quantile_method="averaged_inverted_cdf")


def _adult_cases():
    ohe = lambda **kw: OneHotEncoder(handle_unknown="ignore", **kw)
    return {
        "scaler+onehot": ColumnTransformer([("num", StandardScaler(), NUM), ("cat", ohe(), CAT)]),
        "impute+onehot nested": ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(add_indicator=True), RobustScaler()), NUM),
                (
                    "cat",
                    make_pipeline(
                        SimpleImputer(strategy="constant", fill_value="missing"),
                        OneHotEncoder(drop="first", handle_unknown="ignore"),
                    ),
                    CAT,
                ),
            ]
        ),
        "ordinal+minmax": ColumnTransformer(
            [
                ("num", MinMaxScaler(), NUM),
                (
                    "cat",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value",
                        unknown_value=-1,
                        encoded_missing_value=-2,
                    ),
                    CAT,
                ),
            ]
        ),
        "onehot infrequent+drop": ColumnTransformer(
            [
                (
                    "cat",
                    OneHotEncoder(
                        min_frequency=10,
                        max_categories=6,
                        drop="first",
                        handle_unknown="infrequent_if_exist",
                        sparse_output=False,
                    ),
                    CAT,
                ),
                ("bin", OneHotEncoder(drop="if_binary", sparse_output=False), ["sex"]),
            ],
            remainder="passthrough",
        ),
        "remainder drop": ColumnTransformer(
            [("num", MaxAbsScaler(), ["age", "hours_per_week"]), ("cat", ohe(), ["sex", "race"])],
            remainder="drop",
        ),
        "remainder transformer, sparse": ColumnTransformer(
            [("cat", ohe(), CAT)], remainder=StandardScaler(), sparse_threshold=1.0
        ),
        "columns by index/bool/slice": ColumnTransformer(
            [
                ("idx", StandardScaler(), [12, 0]),  # hours_per_week, age (order kept)
                ("mask", ohe(), [c in ("workclass", "sex") for c in ADULT_COLUMNS]),
                ("slice", ohe(), slice(5, 8)),  # marital_status, occupation, relationship
            ],
            remainder="drop",
        ),
        "columns by callable": ColumnTransformer(
            [
                ("num", StandardScaler(), make_column_selector(dtype_include=np.number)),
                ("cat", ohe(), make_column_selector(dtype_include=object)),
            ]
        ),
        "log1p on one column, kbins": ColumnTransformer(
            [
                ("log", FunctionTransformer(np.log1p), ["capital_gain"]),
                ("log2", FunctionTransformer(np.log1p, feature_names_out="one-to-one"), ["fnlwgt"]),
                ("onehot_bins", _kbins("onehot"), ["age", "hours_per_week"]),
                ("ordinal_bins", _kbins("ordinal"), ["education_num", "age"]),
                ("poly_one_column", PolynomialFeatures(degree=3), ["capital_loss"]),
                ("cat", ohe(), CAT),
            ]
        ),
        "pipeline of column transformer and scaler, pandas output": make_pipeline(
            ColumnTransformer(
                [("num", StandardScaler(), NUM), ("cat", ohe(sparse_output=False), CAT)],
                verbose_feature_names_out=False,
            ),
            MaxAbsScaler(),
            VarianceThreshold(0.0),
        ).set_output(transform="pandas"),
        "column used twice": ColumnTransformer(
            [
                ("scaled", StandardScaler(), ["age", "capital_gain"]),
                ("binned", _kbins("onehot-dense"), ["age"]),
                ("cat", ohe(), ["education", "sex"]),
            ]
        ),
        "1-D selection": ColumnTransformer(
            [
                (
                    "gain",
                    FunctionTransformer(lambda s: np.c_[np.log1p(s.to_numpy()), s.to_numpy() > 0]),
                    "capital_gain",
                ),
                ("cat", ohe(), CAT),
            ]
        ),
    }



ADULT_CASES = list(_adult_cases())


# ----------------------------------------------------------------------------- independent checks


def _dense(T):
    if hasattr(T, "toarray"):
        T = T.toarray()
    if isinstance(T, pd.DataFrame):
        T = T.to_numpy()
    return np.asarray(T, dtype=float)


def _same(a, b):
    return (a == b) | (np.isnan(a) & np.isnan(b))


def _all_shifted(X):
    """d copies of X stacked by rows; in copy j raw column j takes the previous row's value."""
    d, n = X.shape[1], len(X)
    perm = np.roll(np.arange(n), 1)
    copies = []
    for j in range(d):
        if isinstance(X, pd.DataFrame):
            c = X.copy()
            c[X.columns[j]] = X.iloc[perm, j].to_numpy()
        else:
            c = X.copy()
            c[:, j] = X[perm, j]
        copies.append(c)
    if isinstance(X, pd.DataFrame):
        return pd.concat(copies, ignore_index=True)
    return np.concatenate(copies)


def _hybrid(X, rows_x, rows_b, masks):
    """Raw rows taking column j from rows_x where masks[:, j] else from rows_b."""
    if isinstance(X, pd.DataFrame):
        cols = {}
        for j, c in enumerate(X.columns):
            v = X[c].to_numpy()
            cols[c] = np.where(masks[:, j], v[rows_x], v[rows_b])
        return pd.DataFrame(cols).astype(X.dtypes.to_dict())
    return np.where(masks, X[rows_x], X[rows_b])


def assert_groups_right(pre, X, cmap):
    """Check a claimed column map against the data, with no code from sklxai."""
    T0 = _dense(pre.transform(X))
    n_out = T0.shape[1]
    d = X.shape[1]
    assert isinstance(cmap, ColumnMap)
    assert cmap.n_out == n_out and cmap.n_raw == d and len(cmap.raw_names) == d
    # groups partition the outputs, and owner is their inverse
    allcols = np.sort(np.concatenate(cmap.groups))
    np.testing.assert_array_equal(allcols, np.arange(n_out))
    for j, g in enumerate(cmap.groups):
        assert np.all(cmap.owner[g] == j)
    # shifting raw column j changes exactly the non-constant outputs of groups[j]
    nonconstant = ~_same(T0, T0[:1]).all(axis=0)
    n = len(X)
    T_all = _dense(pre.transform(_all_shifted(X)))  # transforms are row-wise: one call for all j
    for j in range(d):
        Tj = T_all[j * n : (j + 1) * n]
        changed = set(np.flatnonzero(~_same(T0, Tj).all(axis=0)))
        expected = set(cmap.groups[j][nonconstant[cmap.groups[j]]])
        assert changed == expected, (cmap.raw_names[j], changed, expected)
    # the fast-path identity: transform(x_S, b_~S) == where(mask in model space, T(x), T(b))
    rng = np.random.default_rng(1)
    m = 64
    rows_x, rows_b = rng.integers(len(X), size=m), rng.integers(len(X), size=m)
    masks = rng.random((m, d)) < 0.5
    Xi = X.iloc if isinstance(X, pd.DataFrame) else X
    Tx, Tb = _dense(pre.transform(Xi[rows_x])), _dense(pre.transform(Xi[rows_b]))
    Th = _dense(pre.transform(_hybrid(X, rows_x, rows_b, masks)))
    expected = np.where(cmap.expand_mask(masks), Tx, Tb)
    np.testing.assert_allclose(Th, expected, rtol=1e-12, atol=1e-12)


def _check(pre, X):
    cmap, reason = column_groups(pre, X)
    assert cmap is not None, reason
    assert reason == ""
    assert_groups_right(pre, X, cmap)
    return cmap


# ----------------------------------------------------------------------------- column-wise cases


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", ADULT_CASES)
def test_adult_column_transformers(adult, case):
    pre = _adult_cases()[case].fit(adult)
    cmap = _check(pre, adult)
    assert cmap.raw_names == ADULT_COLUMNS


def test_adult_onehot_groups_are_the_categories(adult):
    pre = ColumnTransformer(
        [("num", StandardScaler(), NUM), ("cat", OneHotEncoder(handle_unknown="ignore"), CAT)]
    ).fit(adult)
    cmap = _check(pre, adult)
    names = np.asarray(cmap.output_names)
    for c in NUM:
        assert list(names[cmap.as_dict()[c]]) == [f"num__{c}"]
    for c in CAT:
        group = cmap.as_dict()[c]
        assert len(group) == adult[c].nunique(dropna=False)  # NaN is a category of its own
        assert all(n.startswith(f"cat__{c}_") for n in names[group])


def test_adult_infrequent_and_drop_widths(adult):
    enc = OneHotEncoder(
        min_frequency=10, max_categories=6, drop="first", handle_unknown="infrequent_if_exist"
    )
    pre = ColumnTransformer([("cat", enc, CAT)]).fit(adult)
    cmap = _check(pre, adult)
    for c in CAT:
        counts = adult[c].value_counts(dropna=False)
        n_frequent = min(int((counts >= 10).sum()), 5)  # max_categories keeps 5 + "infrequent"
        has_infrequent = n_frequent < len(counts)
        assert len(cmap.as_dict()[c]) == n_frequent + has_infrequent - 1, c


def test_dropped_columns_get_empty_groups(adult):
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["age"]), ("drop_me", "drop", ["fnlwgt"])], remainder="drop"
    ).fit(adult)
    cmap = _check(pre, adult)
    assert cmap.dropped == [c for c in ADULT_COLUMNS if c != "age"]
    assert list(cmap.groups[0]) == [0]
    assert all(len(g) == 0 for g in cmap.groups[1:])


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
def test_simple_imputer_indicator_and_all_missing_column(adult_holes):
    X = adult_holes
    num = NUM + ["empty"]
    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median", add_indicator=True), num),
            ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder()), CAT),
        ]
    ).fit(X)
    cmap = _check(pre, X)
    groups = cmap.as_dict()
    names = np.asarray(cmap.output_names)
    assert len(groups["empty"]) == 1  # dropped by the imputer, only its indicator is left
    assert list(names[groups["empty"]]) == ["num__missingindicator_empty"]
    assert list(names[groups["hours_per_week"]]) == [
        "num__hours_per_week",
        "num__missingindicator_hours_per_week",
    ]
    assert len(groups["age"]) == 1
    # without the indicator the all-missing column vanishes: an empty group (Shapley value 0)
    pre = ColumnTransformer([("num", SimpleImputer(), num)], remainder="drop").fit(X)
    cmap = _check(pre, X)
    assert "empty" in cmap.dropped and len(cmap.as_dict()["hours_per_week"]) == 1


def test_dataframe_column_order_does_not_matter(adult):
    pre = ColumnTransformer(
        [("num", StandardScaler(), NUM), ("cat", OneHotEncoder(handle_unknown="ignore"), CAT)]
    ).fit(adult)
    a, _ = column_groups(pre, adult)
    b, _ = column_groups(pre, adult[adult.columns[::-1]])
    assert a.raw_names == b.raw_names == ADULT_COLUMNS
    for ga, gb in zip(a.groups, b.groups):
        np.testing.assert_array_equal(ga, gb)


@pytest.mark.filterwarnings("ignore:Bins whose width are too small")
def test_diabetes_numeric_pipelines():
    X, y = load_diabetes(return_X_y=True)
    X = X[:300]
    cases = [
        StandardScaler(),
        make_pipeline(StandardScaler(), QuantileTransformer(n_quantiles=50), PowerTransformer()),
        make_pipeline(RobustScaler(), SplineTransformer(n_knots=4, degree=2)),
        make_pipeline(MinMaxScaler(), SelectKBest(f_regression, k=6), MaxAbsScaler()),
        FeatureUnion([("s", StandardScaler()), ("q", QuantileTransformer(n_quantiles=50))]),
        make_pipeline(_kbins("onehot"), "passthrough"),
    ]
    maps = []
    for pre in cases:
        pre.fit(X, y[:300])
        maps.append(_check(pre, X))
        assert maps[-1].raw_names == [f"x{j}" for j in range(10)]
    # SelectKBest keeps 6 raw columns; the others get empty groups
    selected = cases[3][1].get_support(indices=True)
    assert [j for j, g in enumerate(maps[3].groups) if len(g)] == list(selected)
    # splines and bins: equal-width blocks per column; the union doubles every column
    assert {len(g) for g in maps[2].groups} == {maps[2].n_out // 10}
    assert all(len(g) == 2 for g in maps[4].groups)


def test_breast_cancer_integer_columns_on_arrays():
    X, _ = load_breast_cancer(return_X_y=True)
    X = X[:300]
    pre = ColumnTransformer(
        [
            ("a", StandardScaler(), list(range(10))),
            ("b", PowerTransformer(), [15, 11, 10]),
            ("c", _kbins("onehot"), slice(20, 23)),
        ],
        remainder="drop",
    ).fit(X)
    cmap = _check(pre, X)
    assert [len(g) > 0 for g in cmap.groups] == [
        j < 10 or j in (10, 11, 15) or 20 <= j < 23 for j in range(30)
    ]


# ----------------------------------------------------------------------------- not column-wise


class MixColumns(TransformerMixin, BaseEstimator):
    """A custom transformer whose outputs mix its inputs."""

    def fit(self, X, y=None):
        self.n_features_in_ = np.shape(X)[1]
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=float)
        return np.c_[X, X.sum(axis=1)]


class SneakyScaler(StandardScaler):
    """A StandardScaler subclass that mixes columns: subclasses are not trusted."""

    def transform(self, X, copy=None):
        Z = super().transform(X, copy=copy)
        return Z + Z[:, :1]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "make, names",
    [
        (lambda: make_pipeline(StandardScaler(), PCA(3)), ["'pca'", "PCA"]),
        (
            lambda: ColumnTransformer(
                [("s", StandardScaler(), [0, 1]), ("poly", PolynomialFeatures(), [2, 3, 4])]
            ),
            ["'poly'", "PolynomialFeatures"],
        ),
        (lambda: FunctionTransformer(np.log1p), ["FunctionTransformer"]),
        (
            lambda: ColumnTransformer([("logs", FunctionTransformer(np.log1p), [0, 1])]),
            ["'logs'", "FunctionTransformer"],
        ),
        (lambda: make_pipeline(MinMaxScaler(), MixColumns()), ["'mixcolumns'", "MixColumns"]),
        (lambda: SneakyScaler(), ["SneakyScaler"]),
        (lambda: KNNImputer(), ["KNNImputer"]),
        (
            lambda: make_pipeline(
                FeatureUnion([("s", StandardScaler()), ("pca", PCA(2))]), MaxAbsScaler()
            ),
            ["'featureunion/pca'", "PCA"],
        ),
        (
            lambda: Pipeline(
                [("ct", ColumnTransformer([("inner", make_pipeline(PCA(2)), [0, 1, 2])]))]
            ),
            ["'ct/inner/pca'", "PCA"],
        ),
    ],
)
def test_not_column_wise_names_the_step(make, names):
    X, y = load_diabetes(return_X_y=True)
    X = X[:100]
    pre = make().fit(X, y[:100])
    cmap, reason = column_groups(pre, X)
    assert cmap is None
    for name in names:
        assert name in reason, reason


def test_not_column_wise_on_adult(adult):
    pre = make_pipeline(
        ColumnTransformer(
            [("num", StandardScaler(), NUM), ("cat", OneHotEncoder(sparse_output=False), CAT)]
        ),
        PCA(5),
    ).fit(adult)
    cmap, reason = column_groups(pre, adult)
    assert cmap is None and "PCA" in reason and "'pca'" in reason


def test_check_on_sample_catches_a_wrong_rule(adult, monkeypatch):
    pre = ColumnTransformer([("cat", OneHotEncoder(), ["sex", "race"])]).fit(adult)
    right = pipeline_module._owner_one_hot

    def wrong(enc):
        return right(enc)[::-1].copy()  # right widths, wrong sources

    monkeypatch.setattr(pipeline_module, "_owner_one_hot", wrong)
    cmap, reason = column_groups(pre, adult)
    assert cmap is None and "check on the sample failed" in reason
    cmap, reason = column_groups(pre, adult, check=False)
    assert cmap is not None  # the structural map alone cannot see it


# ----------------------------------------------------------------------------- API details


def test_expand_mask_numpy_and_torch(adult):
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["age"]), ("cat", OneHotEncoder(), ["sex", "race"])]
    ).fit(adult[["age", "sex", "race"]])
    cmap, _ = column_groups(pre, adult[["age", "sex", "race"]])
    mask = np.array([[True, False, True], [False, True, False]])
    expanded = cmap.expand_mask(mask)
    assert expanded.shape == (2, cmap.n_out)
    for j, g in enumerate(cmap.groups):
        assert (expanded[:, g] == mask[:, [j]]).all()
    t = cmap.expand_mask(torch.as_tensor(mask))
    assert isinstance(t, torch.Tensor)
    np.testing.assert_array_equal(t.numpy(), expanded)


def test_errors(adult):
    pre = ColumnTransformer([("num", StandardScaler(), NUM)]).fit(adult)
    with pytest.raises(ValueError, match="hours_per_week"):
        column_groups(pre, adult.drop(columns="hours_per_week"))
    with pytest.raises(NotFittedError):
        column_groups(StandardScaler(), adult[NUM])
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(adult[NUM], adult["sex"])
    with pytest.raises(TypeError, match=r"pipeline\[:-1\]"):
        column_groups(model, adult[NUM])
    cmap, reason = column_groups(model[:-1], adult[NUM])
    assert reason == "" and cmap.n_out == len(NUM)
