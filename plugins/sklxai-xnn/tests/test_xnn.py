"""XNN as an sklxai explainer: hooks, shapes, faithfulness, contributions, maps, estimator
protocol, persistence and hostile inputs (small models, few steps, fixed seeds)."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklxai_xnn import XNN, XNNExplanation

import sklxai
from sklxai.exceptions import AccuracyWarning

FAST = {"max_steps": 150, "hidden_size": 16, "lr": 1e-2, "device": "cpu", "random_state": 0,
        "min_faithfulness": 0.0}


def _cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 10))


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:400] / 16).astype(np.float32).reshape(-1, 1, 8, 8), y[:400]


@pytest.fixture(scope="module")
def digits_net(digits):
    from skorch import NeuralNetClassifier

    X, y = digits
    torch.manual_seed(0)
    return NeuralNetClassifier(_cnn(), criterion=torch.nn.CrossEntropyLoss,
                               optimizer=torch.optim.Adam, lr=0.01, max_epochs=3,
                               train_split=None, verbose=0).fit(X, y)


@pytest.fixture(scope="module")
def fitted(digits, digits_net):
    X, _ = digits
    return XNN(digits_net, n_xfeatures=3, **FAST).fit(X[:300])


@pytest.fixture(scope="module")
def bottleneck():
    """A model whose penultimate layer has 3 units: 3 x-features can reproduce it."""
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.ReLU(), torch.nn.Linear(3, 4))
    X = np.random.default_rng(1).normal(size=(600, 5))
    return model, X


def test_registered_under_its_name():
    assert sklxai.get_explainer("xnn") is XNN


# ---------------------------------------------------------------- hooks
def test_default_layer_is_the_penultimate_one(fitted):
    assert (fitted.layer_, fitted.hooked_, fitted.n_activations_) == ("6", "input", 16)


def test_a_named_layer_is_hooked_at_its_output(digits, digits_net):
    X, _ = digits
    xnn = XNN(digits_net, layer="2", validation_fraction=0.0, **dict(FAST, max_steps=5))
    xnn.fit(X[:50])
    assert (xnn.layer_, xnn.hooked_, xnn.n_activations_) == ("2", "output", 4 * 4 * 4)
    with torch.no_grad():  # the first three modules by hand: conv, relu, pool
        acts = digits_net.module_[:3](torch.as_tensor(X[:50])).reshape(50, -1).double()
    np.testing.assert_allclose(xnn.activation_mean_, acts.mean(0).numpy(), rtol=1e-5,
                               atol=1e-6)


def test_an_unknown_layer_is_refused_naming_the_valid_ones(digits, digits_net):
    X, _ = digits
    with pytest.raises(ValueError, match=r"no layer named 'fc'.*'0', '1', '2'"):
        XNN(digits_net, layer="fc", **FAST).fit(X[:50])
    with pytest.raises(TypeError, match="layer must be a module name"):
        XNN(digits_net, layer=3, **FAST).fit(X[:50])


def test_a_layer_that_runs_twice_is_refused():
    class Twice(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.act, self.out = torch.nn.Linear(3, 3), torch.nn.ReLU(), \
                torch.nn.Linear(3, 2)

        def forward(self, x):
            return self.out(self.act(self.act(self.lin(x))))

    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="ran 2 times"):
        XNN(Twice(), layer="act", **FAST).fit(X)


# ---------------------------------------------------------------- shapes and contributions
def test_explanation_shapes_for_images(fitted, digits):
    X, _ = digits
    exp = fitted.explain(X[300:310])
    assert isinstance(exp, XNNExplanation) and isinstance(exp, sklxai.Explanation)
    assert exp.values.shape == (10, 3) and exp.data.shape == (10, 3)
    assert exp.maps.shape == (10, 3, 1, 8, 8) and exp.inputs.shape == (10, 1, 8, 8)
    assert exp.feature_names == ["xf0", "xf1", "xf2"]
    assert fitted.transform(X[300:310]).shape == (10, 3)
    assert list(fitted.get_feature_names_out()) == ["xf0", "xf1", "xf2"]
    # each row's predicted class is explained, with the model's own logit next to it
    logits = fitted.module_(torch.as_tensor(X[300:310])).detach().double().numpy()
    np.testing.assert_array_equal(exp.targets, logits.argmax(axis=1))
    np.testing.assert_allclose(exp.model_output, logits.max(axis=1), rtol=1e-5)


def test_slicing_keeps_the_maps_of_the_rows_and_explain_writes_nothing(fitted, digits):
    X, _ = digits
    fitted_state = dict(vars(fitted))
    exp = fitted.explain(X[300:306])
    assert vars(fitted) == fitted_state
    part = exp[[4, 1]]
    assert isinstance(part, XNNExplanation) and part.attribution == exp.attribution
    for name in ("values", "data", "maps", "inputs", "targets", "model_output"):
        np.testing.assert_array_equal(getattr(part, name), getattr(exp, name)[[4, 1]])
    one = exp[2, "xf1"]  # one row, one x-feature: that row's maps all the same
    assert isinstance(one, XNNExplanation) and one.values == exp.values[2, 1]
    np.testing.assert_array_equal(one.maps, exp.maps[2])
    assert exp.flatten() is exp and exp.select_output(0) is exp  # one output per row
    both = XNNExplanation.concat([exp[3:], exp[:3]])
    np.testing.assert_array_equal(both.maps, exp.maps[[3, 4, 5, 0, 1, 2]])
    np.testing.assert_array_equal(both.targets, exp.targets[[3, 4, 5, 0, 1, 2]])


def test_images_without_a_channel_axis_and_tensors():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 3))
    X = torch.rand(40, 6, 6)
    xnn = XNN(model, n_xfeatures=2, **FAST).fit(X)
    exp = xnn.explain(X[:4])
    assert xnn.input_shape_ == (6, 6) and xnn.n_features_in_ == 36
    assert exp.maps.shape == (4, 2, 6, 6)


def test_contributions_add_up_to_the_reconstructed_output(fitted, digits):
    X, _ = digits
    exp = fitted.explain(X[300:340])
    assert exp.efficiency_gap < 1e-9
    t = exp.targets
    recon = exp.data @ fitted.readout_weight_.T + fitted.readout_bias_
    np.testing.assert_allclose(exp.output, recon[np.arange(40), t], rtol=1e-12)
    np.testing.assert_allclose(exp.values, exp.data * fitted.readout_weight_[t], rtol=1e-12)


def test_targets(digits, digits_net, fitted):
    X, _ = digits
    exp = clone(fitted).set_params(target=4).fit(X[:300]).explain(X[300:305])
    assert list(exp.targets) == [4] * 5 and exp.output_names == [4]
    rows = np.array([0, 1, 2])
    exp = clone(fitted).set_params(target=rows).fit(X[:300]).explain(X[300:303])
    np.testing.assert_array_equal(exp.targets, rows)
    with pytest.raises(ValueError, match="out of range"):
        clone(fitted).set_params(target=10).fit(X[:300])


# ---------------------------------------------------------------- faithfulness
def test_reconstruction_is_faithful_where_it_is_achievable(bottleneck):
    model, X = bottleneck
    with warnings.catch_warnings():
        warnings.simplefilter("error", AccuracyWarning)
        xnn = XNN(model, n_xfeatures=3, max_steps=500, lr=1e-2, device="cpu",
                  random_state=0).fit(X[:500])
    assert xnn.faithfulness_metric_ == "agreement"
    assert xnn.faithfulness_ >= 0.95 and xnn.output_r2_ > 0.97  # seen: 0.99, 0.995
    exp = xnn.explain(X[500:])
    logits = model(torch.as_tensor(X[500:], dtype=torch.float32)).detach().double().numpy()
    assert np.mean(exp.targets == logits.argmax(1)) == 1.0
    assert np.mean(np.abs(exp.output - exp.model_output)) < 0.1 * logits.std()


def test_low_faithfulness_is_measured_and_warned(bottleneck):
    model, X = bottleneck
    with pytest.warns(AccuracyWarning, match="agreement .* < min_faithfulness 0.99"):
        xnn = XNN(model, n_xfeatures=1, max_steps=1, min_faithfulness=0.99, device="cpu",
                  random_state=0).fit(X[:200])
    assert 0.0 <= xnn.faithfulness_ < 0.99
    assert 0.0 <= xnn.sparsity_ <= 1.0 and xnn.reconstruction_error_ > 0.0


def test_one_output_is_measured_by_r2():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    X = np.random.default_rng(0).normal(size=(200, 3))
    xnn = XNN(model, n_xfeatures=2, **FAST).fit(X)
    assert xnn.faithfulness_metric_ == "r2" and xnn.faithfulness_ == xnn.output_r2_
    assert xnn.explain(X[:3]).output_names == [0]


# ---------------------------------------------------------------- maps
def test_gradient_x_input_maps_by_hand(fitted, digits):
    X, _ = digits
    exp = fitted.explain(X[300:302])
    x = torch.as_tensor(X[300:302]).requires_grad_(True)
    net = fitted.module_
    act = net[:6](x)  # the input of the last Linear
    z = (act.double() - torch.as_tensor(fitted.activation_mean_)) / torch.as_tensor(
        fitted.activation_scale_)
    xf = fitted.xnn_.encoder(z.float())
    (g,) = torch.autograd.grad(xf[:, 1].sum(), x)
    np.testing.assert_allclose(exp.maps[:, 1], (g * x).detach().numpy(), rtol=1e-4, atol=1e-7)


def test_integrated_gradients_maps_are_complete(fitted, digits):
    X, _ = digits
    ig = clone(fitted).set_params(attribution="integrated_gradients", ig_steps=64)
    ig.fit(X[:300])
    exp = ig.explain(X[300:305])
    zero = ig.explain(np.zeros((1, 1, 8, 8), dtype=np.float32)).data
    gap = exp.maps.reshape(5, 3, -1).sum(axis=2) - (exp.data - zero)
    assert np.abs(gap).max() < 0.05 * max(np.abs(exp.data).max(), 1e-6)


# ---------------------------------------------------------------- estimator protocol
def test_get_params_clone_and_determinism(fitted, digits):
    X, _ = digits
    params = fitted.get_params()
    assert params["n_xfeatures"] == 3 and params["layer"] is None
    twin = clone(fitted)
    assert twin.get_params()["model"] is fitted.model and not hasattr(twin, "xnn_")
    twin.fit(X[:300])
    np.testing.assert_array_equal(twin.transform(X[300:320]), fitted.transform(X[300:320]))


def test_fit_leaves_the_users_model_and_rng_alone(digits, digits_net):
    X, _ = digits
    digits_net.module_.train()
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    XNN(digits_net, n_xfeatures=2, **dict(FAST, max_steps=5)).fit(X[:50])
    assert torch.rand(1) == expected
    assert all(m.training for m in digits_net.module_.modules())
    digits_net.module_.eval()


def test_save_and_load(fitted, digits, digits_net, tmp_path):
    X, _ = digits
    path = tmp_path / "xnn.pt"
    fitted.save(path)
    loaded = XNN.load(path, digits_net, device="cpu")
    a, b = fitted.explain(X[300:306]), loaded.explain(X[300:306])
    np.testing.assert_allclose(b.values, a.values)
    np.testing.assert_allclose(b.maps, a.maps)
    assert loaded.faithfulness_ == fitted.faithfulness_
    other = torch.nn.Sequential(*list(_cnn())[:4], torch.nn.Linear(64, 12),
                                torch.nn.ReLU(), torch.nn.Linear(12, 10))
    with pytest.raises(ValueError, match="activations"):
        XNN.load(path, other, device="cpu")


def test_base_parameters_and_the_base_contract(fitted, digits, bottleneck):
    X, _ = digits
    params = fitted.get_params()
    assert {"background", "n_background", "fast_path", "target", "batch_size"} <= set(params)
    assert fitted.background_.shape == (100, 64)  # n_background flat rows, unused by XNN
    assert fitted.prepared_.image_shape == (1, 8, 8) and fitted.module_ is fitted.adapter_.module
    np.testing.assert_array_equal(fitted.transform(X[300:304]), fitted.explain(X[300:304]).values)
    model, Xt = bottleneck
    with pytest.raises(ValueError, match="at least 4 rows"):
        XNN(model, **FAST).fit(Xt[:3])
    few = XNN(model, validation_fraction=0.0, **dict(FAST, max_steps=2)).fit(Xt[:2])
    assert np.isfinite(few.transform(Xt[:3])).all()


def test_an_unfitted_net_is_fitted_on_X_and_y(bottleneck):
    from skorch import NeuralNetClassifier

    _, X = bottleneck
    X = X.astype(np.float32)
    net = NeuralNetClassifier(torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(),
                                                  torch.nn.Linear(6, 2)),
                              criterion=torch.nn.CrossEntropyLoss, max_epochs=2, verbose=0)
    xnn = XNN(net, n_xfeatures=2, **FAST).fit(X[:100], (X[:100, 0] > 0).astype(np.int64))
    assert xnn.model_ is not net and not hasattr(net, "module_")
    assert xnn.module_ is xnn.adapter_.module and xnn.n_outputs_ == 2
    assert xnn.explain(X[100:103]).maps.shape == (3, 2, 5)


def test_a_pipeline_is_explained_on_its_fast_path():
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from skorch import NeuralNetClassifier

    torch.manual_seed(0)
    X = np.random.default_rng(0).normal(size=(60, 2))
    df = pd.DataFrame(X, columns=["a", "b"]).assign(city=["x", "y", "z"] * 20)
    pre = ColumnTransformer([("num", StandardScaler(), ["a", "b"]),
                             ("cat", OneHotEncoder(), ["city"])]).fit(df)
    module = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.Tanh(),
                                 torch.nn.Linear(6, 2)).double()  # takes the float64 columns
    net = NeuralNetClassifier(module, criterion=torch.nn.CrossEntropyLoss).initialize()
    pipe = make_pipeline(pre, net)
    xnn = XNN(pipe, n_xfeatures=2, **FAST).fit(df)
    exp = xnn.explain(df.iloc[:4])
    assert exp.maps.shape == (4, 2, 3) and list(exp.inputs[0]) == list(df.iloc[0])
    # gradient x input in the model's input space, summed over each raw column's columns
    Z = torch.as_tensor(pre.transform(df.iloc[:4])).requires_grad_(True)
    z = (module[:2](Z) - torch.as_tensor(xnn.activation_mean_)) / torch.as_tensor(
        xnn.activation_scale_)
    (g,) = torch.autograd.grad(xnn.xnn_.encoder(z.float())[:, 1].sum(), Z)
    m = (g * Z).detach().numpy()
    by_column = np.stack([m[:, 0], m[:, 1], m[:, 2:].sum(axis=1)], axis=1)
    np.testing.assert_allclose(exp.maps[:, 1], by_column, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="needs the pipeline's fast path"):
        XNN(pipe, fast_path=False, **FAST).fit(df)


def test_a_binary_net_with_one_logit_is_refused(bottleneck):
    from skorch import NeuralNetBinaryClassifier

    _, X = bottleneck
    net = NeuralNetBinaryClassifier(torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(),
                                                        torch.nn.Linear(4, 1))).initialize()
    with pytest.raises(ValueError, match=r"returns 1 of them for the 2 outputs.*net.module_"):
        XNN(net, **FAST).fit(X[:50].astype(np.float32))


# ---------------------------------------------------------------- hostile inputs
def test_hostile_models(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="model is None"):
        XNN(None).fit(X[:20])
    with pytest.raises(TypeError, match="torch.nn.Module or a skorch net"):
        XNN(LogisticRegression()).fit(X[:20].reshape(20, -1))
    from skorch import NeuralNetClassifier

    # an unfitted net is fitted on (X, y), as by every sklxai explainer; without y, refused
    with pytest.raises(ValueError, match="not fitted"):
        XNN(NeuralNetClassifier(_cnn())).fit(X[:20])


def test_hostile_data(fitted, digits, digits_net):
    X, _ = digits
    bad = X[:20].copy()
    bad[3, 0, 2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        XNN(digits_net, **FAST).fit(bad)
    with pytest.raises(ValueError, match="at least 4 rows"):
        XNN(digits_net, **FAST).fit(X[:3])
    with pytest.raises(ValueError, match="5 dimension"):
        XNN(digits_net, **FAST).fit(X[:20, None])
    # the base class validates X (sklxai.utils.check_images), with its own messages
    with pytest.raises(ValueError, match="X must be numeric"):
        XNN(digits_net, **FAST).fit(np.full((5, 1, 8, 8), "a"))
    with pytest.raises(ValueError, match=r"shape \(1, 6, 6\).*\(1, 8, 8\)"):
        fitted.explain(np.zeros((2, 1, 6, 6)))
    with pytest.raises(ValueError, match=r"X has shape \(2, 64\).*images of shape \(1, 8, 8\)"):
        fitted.explain(np.zeros((2, 64)))
    with pytest.raises(ValueError, match="X has 0 sample"):
        fitted.explain(np.zeros((0, 1, 8, 8)))


@pytest.mark.parametrize("param, value, error", [
    ("n_xfeatures", 0, "n_xfeatures"),
    ("attribution", "saliency", "attribution must be one of"),
    ("validation_fraction", 1.0, "validation_fraction must be"),
    ("reconstruction", "l1", "reconstruction must be one of"),
    ("pull_away", -1.0, "pull_away must be"),
    ("max_time", 0, "max_time must be"),
])
def test_bad_parameters_are_refused_at_fit(digits, digits_net, param, value, error):
    X, _ = digits
    with pytest.raises((TypeError, ValueError), match=error):
        XNN(digits_net, **{**FAST, param: value}).fit(X[:20])
