"""Model adapters: outputs equal the model's own predict_proba / predict; user models untouched.

Every numeric check compares the adapter with the model's own prediction method or with a numpy
computation from the model's weights, never with earlier adapter output.
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, make_classification, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier, NeuralNetRegressor

from sklxai.models import (
    ModelAdapter,
    SklearnAdapter,
    SkorchAdapter,
    TorchModuleAdapter,
    make_adapter,
)
from sklxai.utils.validation import resolve_device

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _net_kwargs(**kw):
    return dict(max_epochs=2, lr=0.05, batch_size=32, verbose=0, train_split=None, **kw)


# ---------------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def multiclass_data():
    X, y = make_classification(
        n_samples=64, n_features=5, n_informative=3, n_redundant=0, n_classes=3,
        random_state=0,
    )
    return X.astype(np.float32), y.astype(np.int64)


@pytest.fixture(scope="module")
def binary_data():
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.RandomState(0)
    idx = rng.choice(len(X), 80, replace=False)
    X = X[idx][:, :6]
    X = (X - X.mean(0)) / X.std(0)
    return X.astype(np.float32), y[idx]


@pytest.fixture(scope="module")
def regression_data():
    X, Y = make_regression(n_samples=64, n_features=4, n_targets=2, noise=0.1, random_state=0)
    Y = (Y - Y.mean(0)) / Y.std(0)
    return X.astype(np.float32), Y.astype(np.float32)


@pytest.fixture(scope="module")
def ce_net(multiclass_data):
    X, y = multiclass_data
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    net = NeuralNetClassifier(
        module, criterion=torch.nn.CrossEntropyLoss, classes=["neg", "mid", "pos"],
        **_net_kwargs(),
    )
    return net.fit(X, y)


# ---------------------------------------------------------------------------------- skorch


def test_skorch_classifier_cross_entropy_applies_softmax(ce_net, multiclass_data):
    X, _ = multiclass_data
    adapter = make_adapter(ce_net, device="cpu")
    assert isinstance(adapter, SkorchAdapter)
    assert adapter.is_classifier
    assert adapter.input_dtype == torch.float32
    assert adapter.output_names == ["neg", "mid", "pos"]

    out = adapter(torch.as_tensor(X)).numpy()
    expected = ce_net.predict_proba(X)
    assert out.shape == (len(X), 3)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # the nonlinearity is a softmax over the module's logits, computed here by hand
    with torch.no_grad():
        logits = ce_net.module_.eval()(torch.as_tensor(X)).double().numpy()
    np.testing.assert_allclose(out, _softmax(logits), atol=1e-6)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_narrow_softmax_is_torch_softmax(dtype):
    """The written-out softmax the skorch adapter uses for few classes on the CPU gives
    torch.softmax's values, for every width it takes and beyond, at large and infinite logits."""
    from sklxai.models.skorch_net import _NARROW_CLASSES, _narrow_softmax

    gen = torch.Generator().manual_seed(0)
    for k in range(1, _NARROW_CLASSES + 4):
        z = (torch.randn(257, k, generator=gen) * 30).to(dtype)
        z[0] = 1e4  # equal large logits
        if k > 1:
            z[1, 0] = -torch.inf
        got, want = _narrow_softmax(z), torch.softmax(z, dim=-1)
        assert got.dtype == dtype
        eps = torch.finfo(dtype).eps
        torch.testing.assert_close(got, want, rtol=8 * eps, atol=8 * eps)


def test_skorch_classifier_nonlinearity_is_the_narrow_softmax(ce_net):
    from sklxai.models.skorch_net import _narrow_softmax

    assert make_adapter(ce_net, device="cpu").output_fn is _narrow_softmax


def test_skorch_classifier_nll_with_softmax_module_is_identity(multiclass_data):
    X, y = multiclass_data
    torch.manual_seed(1)
    module = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.Softmax(dim=-1))
    net = NeuralNetClassifier(module, **_net_kwargs()).fit(X, y)  # default NLLLoss
    assert isinstance(net.criterion_, torch.nn.NLLLoss)
    adapter = make_adapter(net, device="cpu")
    assert adapter.output_names == [0, 1, 2]
    out = adapter(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(out, net.predict_proba(X), atol=1e-6)
    # no second softmax on top of the module's own
    W = module[0].weight.detach().double().numpy()
    b = module[0].bias.detach().double().numpy()
    np.testing.assert_allclose(out, _softmax(X.astype(np.float64) @ W.T + b), atol=1e-6)


@pytest.mark.parametrize("squeeze", [True, False], ids=["logits(n,)", "logits(n,1)"])
def test_skorch_binary_classifier_gives_two_columns(binary_data, squeeze):
    X, y = binary_data

    class Logit(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(X.shape[1], 1)

        def forward(self, x):
            out = self.lin(x)
            return out[:, 0] if squeeze else out

    torch.manual_seed(2)
    net = NeuralNetBinaryClassifier(Logit, **_net_kwargs()).fit(X, y.astype(np.float32))
    adapter = make_adapter(net, device="cpu")
    assert adapter.is_classifier
    assert [int(c) for c in adapter.output_names] == [0, 1]
    out = adapter(torch.as_tensor(X)).numpy()
    assert out.shape == (len(X), 2)
    np.testing.assert_allclose(out, net.predict_proba(X), atol=1e-6)
    W = net.module_.lin.weight.detach().double().numpy()
    b = net.module_.lin.bias.detach().double().numpy()
    p = _sigmoid(X.astype(np.float64) @ W.T + b)[:, 0]
    np.testing.assert_allclose(out, np.stack([1 - p, p], axis=1), atol=1e-6)


@pytest.mark.parametrize("n_out", [1, 2])
def test_skorch_regressor_equals_predict(regression_data, n_out):
    X, Y = regression_data
    torch.manual_seed(3)
    module = torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, n_out)
    )
    net = NeuralNetRegressor(module, **_net_kwargs()).fit(X, Y[:, :n_out])
    adapter = make_adapter(net, device="cpu")
    assert not adapter.is_classifier
    assert adapter.output_names is None
    assert adapter.input_dtype == torch.float32
    out = adapter(torch.as_tensor(X)).numpy()
    assert out.shape == (len(X), n_out)
    np.testing.assert_allclose(out, net.predict(X).reshape(len(X), n_out), atol=1e-6)


def test_float64_numpy_input_is_accepted(ce_net, multiclass_data):
    X, _ = multiclass_data
    X64 = X.astype(np.float64)
    adapter = make_adapter(ce_net, device="cpu")
    Xt = adapter.to_input(X64)
    assert Xt.dtype == torch.float32 and Xt.device.type == "cpu"
    assert adapter.to_input(torch.as_tensor(X64)).dtype == torch.float32
    # small batches: the concatenation of batches is the whole answer, as a float64 ndarray
    out = adapter.predict(X64, batch_size=7)
    assert out.dtype == np.float64 and out.shape == (len(X), 3)
    np.testing.assert_allclose(out, ce_net.predict_proba(X), atol=1e-6)


def test_unfitted_skorch_net_raises_not_fitted():
    net = NeuralNetClassifier(torch.nn.Linear(3, 2), verbose=0)
    with pytest.raises(NotFittedError, match=r"(?s)NeuralNetClassifier.*fit"):
        make_adapter(net, device="cpu")
    with pytest.raises(NotFittedError, match="initialize"):
        SkorchAdapter(net, device="cpu")


# ---------------------------------------------------------------------------------- user's module untouched


def test_adapter_does_not_move_or_change_the_users_module(ce_net, multiclass_data):
    X, _ = multiclass_data
    before = {k: v.clone() for k, v in ce_net.module_.state_dict().items()}
    adapter = make_adapter(ce_net, device="cpu")
    # same device: no copy is made, the adapter calls the user's own module
    assert adapter.module is ce_net.module_
    adapter.predict(X)
    after = ce_net.module_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.device.type == "cpu" for p in ce_net.module_.parameters())


def test_dropout_in_train_mode_is_deterministic_and_mode_is_restored(multiclass_data):
    X, y = multiclass_data
    torch.manual_seed(4)
    module = torch.nn.Sequential(
        torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(16, 3)
    )
    net = NeuralNetClassifier(
        module, criterion=torch.nn.CrossEntropyLoss, **_net_kwargs()
    ).fit(X, y)
    net.module_.train()
    adapter = make_adapter(net, device="cpu")
    Xt = torch.as_tensor(X)
    first = adapter(Xt).numpy()
    second = adapter(Xt).numpy()
    assert net.module_.training, "the adapter must give the module back in train mode"
    assert all(m.training for m in net.module_.modules())
    np.testing.assert_array_equal(first, second)
    # eval-mode outputs, computed without the adapter
    net.module_.eval()
    with torch.no_grad():
        expected = torch.softmax(net.module_(Xt), dim=-1).numpy()
    np.testing.assert_allclose(first, expected, atol=1e-6)
    np.testing.assert_allclose(first, net.predict_proba(X), atol=1e-6)


def test_frozen_submodules_keep_their_own_mode_and_statistics():
    torch.manual_seed(5)
    bn = torch.nn.BatchNorm1d(4)
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), bn, torch.nn.Dropout(0.3),
                                 torch.nn.Linear(4, 2))
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    module.train()
    module[0].eval()  # a user-frozen submodule inside a training module
    mean, var = bn.running_mean.clone(), bn.running_var.clone()
    adapter = TorchModuleAdapter(module, device="cpu")
    X = torch.randn(10, 3)
    out = adapter(X)
    # batch-norm ran with its running statistics and did not update them
    assert torch.equal(bn.running_mean, mean) and torch.equal(bn.running_var, var)
    assert bn.num_batches_tracked.item() == 0
    assert [m.training for m in module.modules()] == [True, False, True, True, True]
    with torch.no_grad():
        h = module[0](X)
        h = (h - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias
        expected = module[3](h)
    torch.testing.assert_close(out, expected)


# ---------------------------------------------------------------------------------- bare torch modules


def test_torch_module_one_dim_output_becomes_a_column():
    torch.manual_seed(6)
    lin = torch.nn.Linear(3, 1)

    class Squeezed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lin

        def forward(self, x):
            return self.lin(x)[:, 0]

    adapter = make_adapter(Squeezed(), device="cpu")
    assert isinstance(adapter, TorchModuleAdapter)
    X = np.random.RandomState(0).randn(7, 3)
    out = adapter.predict(X)
    assert out.shape == (7, 1)
    W = lin.weight.detach().double().numpy()
    b = lin.bias.detach().double().numpy()
    np.testing.assert_allclose(out, X @ W.T + b, atol=1e-5)


def test_torch_module_tuple_output_takes_the_first_element():
    torch.manual_seed(7)

    class TwoHeads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(3, 2)
            self.b = torch.nn.Linear(3, 5)

        def forward(self, x):
            return self.a(x), self.b(x)

    model = TwoHeads()
    adapter = make_adapter(model, device="cpu")
    X = torch.randn(6, 3)
    out = adapter(X)
    assert out.shape == (6, 2)
    torch.testing.assert_close(out, model.a(X).detach())


def test_torch_module_float64_parameters_set_input_dtype():
    lin = torch.nn.Linear(2, 1).double()
    adapter = make_adapter(lin, device="cpu")
    assert adapter.input_dtype == torch.float64
    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    w = lin.weight.detach().numpy()[0]
    b = lin.bias.item()
    np.testing.assert_allclose(adapter.predict(X)[:, 0], X @ w + b, rtol=1e-12)


# ---------------------------------------------------------------------------------- scikit-learn


@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(
        n_samples=90, n_features=4, n_informative=3, n_redundant=0, n_classes=3,
        random_state=1,
    )
    labels = np.array(["a", "b", "c"])[y]
    return X, labels


def test_sklearn_logistic_regression_predict_proba(clf_data):
    X, y = clf_data
    model = LogisticRegression().fit(X, y)
    adapter = make_adapter(model)
    assert isinstance(adapter, SklearnAdapter)
    assert adapter.method == "predict_proba" and adapter.is_classifier
    assert adapter.output_names == ["a", "b", "c"]
    assert adapter.device.type == "cpu" and adapter.input_dtype == torch.float64
    out = adapter.predict(X, batch_size=16)
    np.testing.assert_allclose(out, model.predict_proba(X), rtol=1e-12, atol=1e-12)
    # by hand: multinomial softmax of the linear scores
    np.testing.assert_allclose(out, _softmax(X @ model.coef_.T + model.intercept_), atol=1e-10)


def test_sklearn_linear_svc_uses_decision_function(clf_data):
    X, y = clf_data
    multi = LinearSVC(random_state=0).fit(X, y)
    adapter = make_adapter(multi)
    assert adapter.method == "decision_function" and not adapter.is_classifier
    out = adapter.predict(X)
    assert out.shape == (len(X), 3)
    np.testing.assert_allclose(out, X @ multi.coef_.T + multi.intercept_, atol=1e-10)
    assert adapter.output_names == ["a", "b", "c"]

    yb = np.where(y == "a", "no", "yes")
    binary = LinearSVC(random_state=0).fit(X, yb)
    adapter = make_adapter(binary)
    out = adapter.predict(X)
    assert out.shape == (len(X), 1)
    np.testing.assert_allclose(out[:, 0], binary.decision_function(X), atol=1e-12)
    # one score, for the positive class
    assert adapter.output_names == ["yes"]


def test_sklearn_ridge_uses_predict():
    X, Y = make_regression(n_samples=40, n_features=3, n_targets=2, random_state=2)
    model = Ridge(alpha=0.5).fit(X, Y[:, 0])
    adapter = make_adapter(model)
    assert adapter.method == "predict" and not adapter.is_classifier
    assert adapter.output_names is None
    out = adapter.predict(X)
    assert out.shape == (40, 1)
    np.testing.assert_allclose(out[:, 0], X @ model.coef_ + model.intercept_, atol=1e-9)

    multi = Ridge(alpha=0.5).fit(X, Y)
    np.testing.assert_allclose(make_adapter(multi).predict(X), multi.predict(X), atol=1e-12)


def test_sklearn_pipeline_fitted_on_dataframe_gets_named_columns(clf_data):
    pd = pytest.importorskip("pandas")
    X, y = clf_data
    cols = ["age", "income", "hours", "score"]
    df = pd.DataFrame(X, columns=cols)

    seen = []

    class SpyScaler(StandardScaler):
        def transform(self, X, copy=None):
            seen.append(X)
            return super().transform(X, copy=copy)

    pipe = make_pipeline(SpyScaler(), LogisticRegression()).fit(df, y)
    seen.clear()
    adapter = make_adapter(pipe)
    assert adapter.method == "predict_proba"
    assert adapter.output_names == ["a", "b", "c"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = adapter.predict(X, batch_size=32)
    assert [len(s) for s in seen] == [32, 32, 26]
    # the pipeline received DataFrames with the fitted names (so sklearn checks them)
    assert all(isinstance(s, pd.DataFrame) and list(s.columns) == cols for s in seen)
    expected = pipe.predict_proba(df)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    # by hand, from the fitted parameters
    Z = (X - pipe[0].mean_) / pipe[0].scale_
    np.testing.assert_allclose(out, _softmax(Z @ pipe[1].coef_.T + pipe[1].intercept_),
                               atol=1e-10)


def test_sklearn_estimator_fitted_on_dataframe_receives_dataframe(clf_data):
    pd = pytest.importorskip("pandas")
    X, y = clf_data
    cols = ["age", "income", "hours", "score"]
    received = []

    class SpyLR(LogisticRegression):
        def predict_proba(self, X):
            received.append(X)
            return super().predict_proba(X)

    model = SpyLR().fit(pd.DataFrame(X, columns=cols), y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = make_adapter(model).predict(X[:10])
    assert len(received) == 1
    assert isinstance(received[0], pd.DataFrame)
    assert list(received[0].columns) == cols
    np.testing.assert_allclose(received[0].to_numpy(), X[:10])
    expected = LogisticRegression.predict_proba(model, pd.DataFrame(X[:10], columns=cols))
    np.testing.assert_allclose(out, expected, atol=1e-12)


def test_sklearn_adapter_refuses_a_method_the_estimator_lacks():
    X, y = make_regression(n_samples=20, n_features=2, random_state=0)
    model = Ridge().fit(X, y)
    with pytest.raises(ValueError, match=r"predict_proba.*Ridge"):
        SklearnAdapter(model, method="predict_proba")


def test_sklearn_adapter_explicit_method(clf_data):
    X, y = clf_data
    model = LogisticRegression().fit(X, y)
    adapter = SklearnAdapter(model, method="decision_function")
    assert not adapter.is_classifier
    np.testing.assert_allclose(adapter.predict(X), X @ model.coef_.T + model.intercept_,
                               atol=1e-10)


# ---------------------------------------------------------------------------------- dispatch


class _NoPredict:
    pass


@pytest.mark.parametrize("obj", [_NoPredict(), "a string", 3.5])
def test_make_adapter_rejects_unsupported_objects(obj):
    with pytest.raises(TypeError, match=type(obj).__name__):
        make_adapter(obj)


def test_make_adapter_passes_a_model_adapter_through():
    adapter = TorchModuleAdapter(torch.nn.Linear(2, 1), device="cpu")
    assert make_adapter(adapter) is adapter

    class Custom(ModelAdapter):
        def forward(self, X):
            return X.sum(dim=1)

    custom = Custom()
    assert make_adapter(custom, device="cpu") is custom
    np.testing.assert_allclose(custom.predict(np.array([[1.0, 2.0], [3.0, 4.0]])),
                               [[3.0], [7.0]])


# ---------------------------------------------------------------------------------- devices


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_resolve_device_cuda_without_cuda_is_refused():
    with pytest.raises(ValueError, match="cuda"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="cuda"):
        make_adapter(torch.nn.Linear(2, 1), device="cuda")
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.gpu
@cuda
def test_cpu_skorch_net_explained_on_cuda(ce_net, multiclass_data):
    X, _ = multiclass_data
    expected = ce_net.predict_proba(X)
    adapter = make_adapter(ce_net, device="cuda")
    assert adapter.device.type == "cuda"
    assert adapter.module is not ce_net.module_
    assert all(p.device.type == "cuda" for p in adapter.module.parameters())
    out = adapter.predict(X.astype(np.float64))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert adapter(torch.as_tensor(X, device="cuda")).device.type == "cuda"
    # the user's net still lives on the CPU and still predicts the same
    assert all(p.device.type == "cpu" for p in ce_net.module_.parameters())
    np.testing.assert_allclose(ce_net.predict_proba(X), expected, atol=0)


@pytest.mark.gpu
@cuda
def test_auto_device_picks_cuda_when_available():
    assert resolve_device("auto").type == "cuda"
    lin = torch.nn.Linear(3, 2)
    adapter = make_adapter(lin, device="auto")
    assert adapter.device.type == "cuda"
    assert lin.weight.device.type == "cpu"
    X = np.random.RandomState(0).randn(5, 3)
    W = lin.weight.detach().double().numpy()
    b = lin.bias.detach().double().numpy()
    np.testing.assert_allclose(adapter.predict(X), X @ W.T + b, atol=1e-5)


def test_torch_adapter_runs_many_rows_in_cache_sized_pieces_on_the_cpu():
    """Without gradients, rows beyond twice the piece size go through the module in pieces of
    _CPU_PIECE_ROWS rows; the outputs are the module's own on all rows at once."""
    from sklxai.models import torch_module

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    sizes = []
    net.register_forward_hook(lambda module, inputs, output: sizes.append(len(inputs[0])))
    adapter = make_adapter(net, device="cpu")
    step = torch_module._CPU_PIECE_ROWS
    X = torch.randn(2 * step + 5, 5)
    with torch.no_grad():
        out = adapter(X)
        expected = net(X)
    assert sizes[:-1] == [step, step, 5]
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    sizes.clear()
    adapter.forward(X.requires_grad_(True)).sum().backward()  # with gradients: one call
    assert sizes == [len(X)]
