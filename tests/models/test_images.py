"""Images as images: (N, C, H, W) and (N, H, W) arrays and tensors through model preparation,
the gradient and Shapley explainers, persistence, and the errors for wrong shapes."""

import numpy as np
import pytest
import torch

from sklxai import ExactShapley, IntegratedGradients, KernelSHAP
from sklxai.games.grouped import image_patch_groups
from sklxai.models import prepare_model
from sklxai.models.images import ImageAdapter


def _cnn(channels=1, n_out=3, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(channels, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(),
        torch.nn.Linear(4 * 4 * 4, n_out), torch.nn.Softmax(dim=1)).to(dtype)


def _images(n=12, channels=1, seed=0):
    return np.random.default_rng(seed).random((n, channels, 4, 4))


def test_prepare_model_flattens_images_and_wraps_the_model():
    X = _images()
    prepared, rows = prepare_model(_cnn(), X, device="cpu")
    assert rows.shape == (12, 16) and np.array_equal(rows, X.reshape(12, -1))
    assert prepared.input_shape == (1, 4, 4) and prepared.image_shape == (1, 4, 4)
    assert isinstance(prepared.adapter, ImageAdapter)
    expected = _cnn()(torch.as_tensor(X)).detach().numpy()
    np.testing.assert_allclose(prepared.adapter.predict(rows), expected, rtol=1e-12)
    assert prepared.to_input_shape(np.ones((2, 16, 3))).shape == (2, 1, 4, 4, 3)
    assert prepared.to_input_shape(np.ones((2, 5))).shape == (2, 5)  # feature groups


def test_grey_images_reach_a_cnn_with_a_channel_axis():
    X = _images()[:, 0]  # (n, H, W)
    prepared, _ = prepare_model(_cnn(), torch.as_tensor(X), device="cpu")
    assert prepared.input_shape == (4, 4) and prepared.image_shape == (1, 4, 4)
    assert prepared.adapter.model_shape == (1, 4, 4)


@pytest.mark.parametrize("as_tensor", [False, True])
@pytest.mark.parametrize("grey", [False, True])
def test_integrated_gradients_on_images_equals_flattened_rows_with_unflatten(as_tensor, grey):
    X = _images(20)
    cnn = _cnn()
    flat = torch.nn.Sequential(torch.nn.Unflatten(1, (1, 4, 4)), *cnn)
    ref = IntegratedGradients(flat, baseline="zeros", device="cpu").fit(X.reshape(20, -1))
    ref_exp = ref.explain(X[:5].reshape(5, -1))
    Xi = X[:, 0] if grey else X
    Xi = torch.as_tensor(Xi) if as_tensor else Xi
    ig = IntegratedGradients(cnn, baseline="zeros", device="cpu").fit(Xi)
    exp = ig.explain(Xi[:5])
    shape = (5, 4, 4) if grey else (5, 1, 4, 4)
    assert exp.values.shape == shape and exp.data.shape == shape
    assert exp.feature_shape == shape[1:]
    np.testing.assert_allclose(exp.values.reshape(5, -1), ref_exp.values, rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(exp.data.reshape(5, -1), X[:5].reshape(5, -1))
    assert exp.efficiency_gap == pytest.approx(ref_exp.efficiency_gap, abs=1e-12)
    assert ig.transform(Xi[:5]).shape == (5, 16)


def test_integrated_gradients_on_images_matches_captum():
    captum_attr = pytest.importorskip("captum.attr")
    X = _images(6, channels=2)
    cnn = _cnn(channels=2)
    exp = IntegratedGradients(cnn, baseline="zeros", n_steps=32, device="cpu").fit(X).explain(X)
    Xt = torch.as_tensor(X)
    target = cnn(Xt).argmax(dim=1)
    ref = captum_attr.IntegratedGradients(cnn).attribute(
        Xt, baselines=torch.zeros_like(Xt), target=target, n_steps=32,
        method="gausslegendre").detach().numpy()
    assert exp.values.shape == X.shape
    np.testing.assert_allclose(exp.values, ref, rtol=1e-6, atol=1e-9)  # captum: float32 nodes


def test_image_baselines_are_images():
    X = _images(10)
    cnn = _cnn()
    one = IntegratedGradients(cnn, baseline=X[0], device="cpu").fit(X).explain(X[1:3])
    rows = IntegratedGradients(cnn, baseline=np.stack([X[0], X[0]]), device="cpu").fit(X)
    np.testing.assert_allclose(rows.explain(X[1:3]).values, one.values, rtol=1e-12)
    with pytest.raises(ValueError, match=r"baseline has shape \(16,\).*\(1, 4, 4\)"):
        IntegratedGradients(cnn, baseline=np.zeros(16), device="cpu").fit(X)


def test_skorch_net_on_images():
    skorch = pytest.importorskip("skorch")
    X = _images(40).astype(np.float32)
    y = np.arange(40) % 3
    module = _cnn(dtype=torch.float32)[:-1]  # logits; the net adds the softmax
    net = skorch.NeuralNetClassifier(module, max_epochs=1, train_split=None, verbose=0)
    ig = IntegratedGradients(net, device="cpu").fit(X, y)  # an unfitted net: fitted on images
    exp = ig.explain(X[:3])
    assert exp.values.shape == (3, 1, 4, 4)
    np.testing.assert_allclose(ig.prepared_.adapter.predict(X[:3]),
                               ig.model_.predict_proba(X[:3]), rtol=1e-5)


def test_patch_groups_on_images_equal_flattened_rows():
    X = _images(20)
    cnn = _cnn()
    flat = torch.nn.Sequential(torch.nn.Unflatten(1, (1, 4, 4)), *cnn)
    groups = image_patch_groups((1, 4, 4), 2)
    a = ExactShapley(cnn, n_background=5, feature_groups=groups, random_state=0,
                     device="cpu").fit(X).explain(X[:3])
    b = ExactShapley(flat, n_background=5, feature_groups=groups, random_state=0,
                     device="cpu").fit(X.reshape(20, -1)).explain(X[:3].reshape(3, -1))
    assert a.values.shape == (3, 4, 3)  # one value per patch and output
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12, atol=1e-15)
    assert a.efficiency_gap < 1e-12


def test_shapley_values_of_pixels_keep_the_image_shape_with_outputs_last():
    X = np.random.default_rng(0).random((10, 2, 2, 2))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 3)).double()
    exp = ExactShapley(model, n_background=3, device="cpu").fit(X).explain(X[:2])
    assert exp.values.shape == (2, 2, 2, 2, 3) and exp.base_values.shape == (2, 3)
    assert exp.efficiency_gap < 1e-12
    assert exp.select_output(1).values.shape == (2, 2, 2, 2)
    ks = KernelSHAP(model, n_background=3, target=0, device="cpu").fit(X)
    assert ks.transform(X[:2]).shape == (2, 8)


def test_save_and_load_an_explainer_of_images(tmp_path):
    X = _images(10)
    cnn = _cnn()
    ig = IntegratedGradients(cnn, device="cpu").fit(X)
    ig.save(tmp_path / "ig.npz")
    back = IntegratedGradients.load(tmp_path / "ig.npz", cnn, device="cpu")
    assert back.prepared_.input_shape == (1, 4, 4)
    np.testing.assert_allclose(back.explain(X[:2]).values, ig.explain(X[:2]).values)


def test_a_scikit_learn_model_gets_the_flattened_images():
    from sklearn.linear_model import LogisticRegression

    X = _images(30)
    y = np.arange(30) % 2
    clf = LogisticRegression().fit(X.reshape(30, -1), y)
    exp = KernelSHAP(clf, n_background=5, target=1, n_coalitions=64, random_state=0,
                     device="cpu").fit(X).explain(X[:2])
    assert exp.values.shape == (2, 1, 4, 4) and exp.efficiency_gap < 1e-9
    with pytest.raises(ValueError, match=r"X has 4 dimensions.*2-D rows of 16 features"):
        KernelSHAP(clf, device="cpu").fit(X[:, :, :2])


# ---------------------------------------------------------------------------------- errors
def test_a_channel_count_the_model_refuses_is_a_clear_error():
    with pytest.raises(ValueError, match=r"refuses images of shape \(3, 4, 4\) from X.*"
                                         r"channels first") as info:
        IntegratedGradients(_cnn(), device="cpu").fit(_images(channels=3))
    assert isinstance(info.value.__cause__, RuntimeError)


def test_five_dimensional_input_is_refused():
    with pytest.raises(ValueError, match=r"X has 5 dimensions.*\(n, C, H, W\)"):
        IntegratedGradients(_cnn(), device="cpu").fit(_images()[:, None])
    ig = IntegratedGradients(_cnn(), device="cpu").fit(_images())
    with pytest.raises(ValueError, match=r"X has 5 dimensions"):
        ig.explain(_images()[:, None])


def test_images_of_another_shape_than_in_fit_are_refused():
    ig = IntegratedGradients(_cnn(), device="cpu").fit(_images())
    with pytest.raises(ValueError, match=r"X holds images of shape \(4, 4\).*fitted on images "
                                         r"of shape \(1, 4, 4\).*X\[:, None\]"):
        ig.explain(_images()[:, 0])
    with pytest.raises(ValueError, match=r"X has shape \(2, 16\).*fitted on images"):
        ig.explain(_images()[:2].reshape(2, -1))
    with pytest.raises(ValueError, match=r"X holds images of shape \(1, 2, 8\)"):
        ig.explain(_images().reshape(-1, 1, 2, 8))


def test_images_given_to_an_explainer_fitted_on_rows_are_refused():
    lin = torch.nn.Linear(16, 2).double()
    ig = IntegratedGradients(lin, device="cpu").fit(_images().reshape(12, -1))
    with pytest.raises(ValueError, match=r"X has 4 dimensions.*fitted on 2-D rows with 16"):
        ig.explain(_images())


def test_a_model_of_rows_given_images_is_refused_at_fit():
    lin = torch.nn.Linear(4, 2).double()  # would run along the images' last axis
    with pytest.raises(ValueError, match=r"X has 3 dimensions.*takes 2-D rows"):
        IntegratedGradients(lin, device="cpu").fit(_images()[:, 0])


def test_background_may_be_images_or_their_flat_rows():
    X = _images(10)
    cnn = _cnn()
    a = ExactShapley(cnn, background=X[:3], feature_groups=image_patch_groups((1, 4, 4), 2),
                     device="cpu").fit(X)
    b = ExactShapley(cnn, background=a.background_, device="cpu",
                     feature_groups=image_patch_groups((1, 4, 4), 2)).fit(X)
    np.testing.assert_array_equal(a.background_, X[:3].reshape(3, -1))
    np.testing.assert_allclose(a.explain(X[:2]).values, b.explain(X[:2]).values)
    with pytest.raises(ValueError, match="background has 5 features"):
        ExactShapley(cnn, background=np.zeros((2, 5)), device="cpu").fit(X)
