"""Raw-column explanations of fitted Pipelines: the fast path equals the generic path."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)

from sklxai import ExactShapley, KernelSHAP, PermutationSHAP

pd = pytest.importorskip("pandas")


class _MLP(torch.nn.Module):
    """Casts its input, as skorch users do for pipelines that output float64."""

    def __init__(self, d, k=2):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.ReLU(),
                                       torch.nn.Linear(16, k))

    def forward(self, X):
        return self.net(X.float())


def _skorch(d, k=2):
    from skorch import NeuralNetClassifier

    torch.manual_seed(0)
    return NeuralNetClassifier(_MLP(d, k), criterion=torch.nn.CrossEntropyLoss, max_epochs=2,
                               lr=0.05, train_split=None, verbose=0)


@pytest.fixture(scope="module")
def adult():
    from sklxai.datasets import ADULT_CATEGORICAL, load_adult

    X, y = load_adult("train")
    X, y = X.iloc[:1500].drop(columns=["fnlwgt", "education"]), y.iloc[:1500].to_numpy()
    cat = [c for c in X.columns if c in ADULT_CATEGORICAL]
    num = [c for c in X.columns if c not in ADULT_CATEGORICAL]
    return X, y, cat, num


def _adult_pipe(adult, encoder="onehot"):
    X, y, cat, num = adult
    enc = (make_pipeline(SimpleImputer(strategy="most_frequent"),
                         OneHotEncoder(handle_unknown="ignore", sparse_output=False))
           if encoder == "onehot" else
           OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                          encoded_missing_value=-1))  # a NaN code would reach the net
    pre = ColumnTransformer([("num", StandardScaler(), num), ("cat", enc, cat)])
    width = pre.fit_transform(X).shape[1]
    return make_pipeline(pre, _skorch(width)).fit(X, y)


@pytest.mark.parametrize("encoder", ["onehot", "ordinal"])
@pytest.mark.parametrize("make, kw", [(ExactShapley, {}), (KernelSHAP, {"n_coalitions": 300}),
                                      (PermutationSHAP, {"n_coalitions": 44})])
def test_fast_path_equals_generic_path_on_raw_adult(adult, encoder, make, kw):
    X, y, cat, num = adult
    pipe = _adult_pipe(adult, encoder)
    common = dict(n_background=10, random_state=0, device="cpu", **kw)
    fast = make(pipe, fast_path=True, **common).fit(X)
    generic = make(pipe, fast_path=False, **common).fit(X)
    assert fast.prepared_.fast_path and not generic.prepared_.fast_path
    rows = X.iloc[100:104]
    ef, eg = fast.explain(rows), generic.explain(rows)
    assert ef.feature_names == list(X.columns) == eg.feature_names
    assert ef.values.shape == (4, X.shape[1], 2)
    np.testing.assert_allclose(ef.values, eg.values, atol=1e-5)
    # efficiency on the pipeline's own predict_proba, per raw column
    np.testing.assert_allclose(ef.values.sum(axis=1) + ef.base_values,
                               pipe.predict_proba(rows), atol=1e-5)
    assert ef.data[0, list(X.columns).index("workclass")] == rows["workclass"].iloc[0]


def test_numeric_pipeline_fast_equals_generic_and_reordered_columns():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :7]
    pipe = make_pipeline(MinMaxScaler(), _skorch(7)).fit(X, y.to_numpy())
    kw = dict(n_background=8, device="cpu", random_state=0)
    fast = ExactShapley(pipe, **kw).fit(X)
    generic = ExactShapley(pipe, fast_path=False, **kw).fit(X)
    assert fast.prepared_.fast_path
    rows = X.iloc[:3]
    np.testing.assert_allclose(fast.explain(rows).values, generic.explain(rows).values,
                               atol=1e-5)
    np.testing.assert_allclose(fast.explain(rows[X.columns[::-1]]).values,
                               fast.explain(rows).values)
    with pytest.raises(ValueError, match="missing columns"):
        fast.explain(rows.drop(columns=[X.columns[0]]))


def test_non_column_wise_step_takes_the_generic_path_and_says_so():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :6]
    pipe = make_pipeline(StandardScaler(), PCA(n_components=3), _skorch(3)).fit(X, y.to_numpy())
    with pytest.warns(UserWarning, match="not column-wise.*PCA"):
        est = KernelSHAP(pipe, n_background=5, device="cpu", random_state=0).fit(X)
    assert not est.prepared_.fast_path
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exp = est.explain(X.iloc[:2])  # said once, at fit
    np.testing.assert_allclose(exp.values.sum(1) + exp.base_values, pipe.predict_proba(X.iloc[:2]),
                               atol=1e-5)
    with pytest.raises(ValueError, match="not column-wise"):
        KernelSHAP(pipe, fast_path=True, device="cpu").fit(X)


def test_raw_columns_with_a_scikit_learn_pipeline_generic(adult):
    from sklearn.linear_model import LogisticRegression

    X, y, cat, num = adult
    pre = ColumnTransformer([("num", StandardScaler(), num),
                             ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                                   OneHotEncoder(handle_unknown="ignore")), cat)])
    pipe = make_pipeline(pre, LogisticRegression(max_iter=500)).fit(X, y)
    est = KernelSHAP(pipe, n_background=10, random_state=0).fit(X)
    exp = est.explain(X.iloc[:3])
    assert exp.feature_names == list(X.columns)
    np.testing.assert_allclose(exp.values.sum(1) + exp.base_values, pipe.predict_proba(X.iloc[:3]),
                               atol=1e-8)
    with pytest.raises(ValueError, match="DataFrame"):
        est.explain(X.iloc[:3].to_numpy())


def test_explainer_as_a_pipeline_step_with_names_and_pandas_output():
    from sklearn.linear_model import LogisticRegression

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:300, :5]
    scaler = StandardScaler().set_output(transform="pandas")
    clf = LogisticRegression().fit(scaler.fit_transform(X), y.iloc[:300])
    pipe = make_pipeline(scaler, KernelSHAP(clf, n_background=10, target=1, random_state=0))
    out = pipe.fit(X).transform(X.iloc[:4])
    assert out.shape == (4, 5)
    assert list(pipe.get_feature_names_out()) == list(X.columns)
    pipe.set_output(transform="pandas")
    frame = pipe.transform(X.iloc[:4])
    assert list(frame.columns) == list(X.columns)
    np.testing.assert_allclose(frame.to_numpy(), out)


def test_grid_search_over_the_explained_pipelines_parameters():
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X, y = X.iloc[:200, :4], y.iloc[:200]
    unfitted = make_pipeline(StandardScaler(), LogisticRegression())

    def efficiency_and_fit(est, X, y):
        # the explainer's model was refitted for each candidate: score that model's accuracy
        return float((est.model_.predict(X) == y).mean())

    search = GridSearchCV(KernelSHAP(unfitted, n_background=10, n_coalitions=16, random_state=0),
                          {"model__logisticregression__C": [1e-4, 1.0]},
                          scoring=efficiency_and_fit, cv=2).fit(X, y)
    assert search.best_params_ == {"model__logisticregression__C": 1.0}
    assert search.best_estimator_.model_.steps[-1][1].C == 1.0
    assert not hasattr(unfitted.steps[-1][1], "coef_")  # the user's pipeline stays unfitted
    fitted = clone(unfitted).fit(X, y)
    assert clone(KernelSHAP(fitted)).model is fitted  # a fitted model is shared, not refitted
