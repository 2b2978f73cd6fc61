"""The CAM explainers: Grad-CAM++'s general formula against autograd element by element, the
explainers' shapes, targets, batching, skorch nets, persistence and bad input."""

import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

import sklxai
from sklxai_cam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM

ALL = [GradCAM, HiResCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM]


def _cnn(out_fn=None):
    torch.manual_seed(0)
    layers = [("conv1", torch.nn.Conv2d(1, 2, 3)), ("act1", torch.nn.Tanh()),
              ("flat", torch.nn.Flatten()), ("fc", torch.nn.Linear(18, 3))]
    if out_fn is not None:
        layers.append(("out", out_fn))
    return torch.nn.Sequential(OrderedDict(layers)).double()


def _images(n=4, seed=1):
    return torch.randn(n, 1, 5, 5, generator=torch.Generator().manual_seed(seed)).double()


def _grad_cam_pp_by_hand(cnn, images, targets):
    """The general formula, each derivative by its own autograd call, row by row."""
    maps = []
    for r in range(images.shape[0]):
        A = cnn.act1(cnn.conv1(images[r:r + 1])).detach().requires_grad_(True)
        y = cnn.out(cnn.fc(cnn.flat(A)))[0, targets[r]]
        (g,) = torch.autograd.grad(y, A, create_graph=True)
        d2, d3 = torch.zeros_like(A), torch.zeros_like(A)
        for e in np.ndindex(*A.shape):
            (h,) = torch.autograd.grad(g[e], A, create_graph=True)
            (t,) = torch.autograd.grad(h[e], A, retain_graph=True)
            d2[e], d3[e] = h[e].detach(), t[e]
        A, g = A.detach(), g.detach()
        maps.append(_combine(A, g, d2, d3))
    return torch.cat(maps).numpy()


def _combine(A, g, d2, d3):
    w = torch.zeros(A.shape[1], dtype=A.dtype)
    for c in range(A.shape[1]):
        for i in range(A.shape[2]):
            for j in range(A.shape[3]):
                den = 2 * d2[0, c, i, j] + A[0, c].sum() * d3[0, c, i, j]
                alpha = d2[0, c, i, j] / den if den != 0 else 0.0
                w[c] += alpha * max(float(g[0, c, i, j]), 0.0)
    return (w[:, None, None] * A[0]).sum(dim=0)[None]


def test_grad_cam_plus_plus_is_the_general_formula_with_exact_derivatives():
    cnn, images = _cnn(torch.nn.Softmax(dim=1)), _images()
    est = GradCAMPlusPlus(cnn, cam_layer="act1", device="cpu").fit(images.numpy())
    exp = est.explain(images.numpy())
    targets = cnn(images).argmax(1).numpy()
    expected = _grad_cam_pp_by_hand(cnn, images, targets)
    np.testing.assert_allclose(exp.diagnostics["layer_maps"], expected, rtol=1e-9, atol=1e-12)
    assert np.abs(expected).max() > 1e-3
    # third derivatives matter: the exponential shortcut (alpha = g^2 / (2 g^2 + sum A g^3))
    # of the softmax's gradient gives another map
    A = cnn.act1(cnn.conv1(images)).detach().requires_grad_(True)
    y = cnn.out(cnn.fc(cnn.flat(A)))[torch.arange(4), torch.as_tensor(targets)]
    (g,) = torch.autograd.grad(y.sum(), A)
    shortcut = g**2 / (2 * g**2 + A.detach().sum(dim=(2, 3), keepdim=True) * g**3)
    w = (shortcut * g.clamp_min(0)).sum(dim=(2, 3), keepdim=True)
    assert np.abs((w * A.detach()).sum(1).numpy() - expected).max() > 1e-3


def test_grad_cam_plus_plus_of_exp_of_a_linear_score_is_the_papers_closed_form():
    cnn = _cnn(_Exp())
    cnn.act1 = torch.nn.Identity()  # the logit is linear in the layer's output
    images = _images()
    exp = GradCAMPlusPlus(cnn, cam_layer="act1", target=1, device="cpu").fit(
        images.numpy()).explain(images.numpy())
    A = cnn.conv1(images).detach()
    g = cnn.fc.weight[1].detach().view(1, *A.shape[1:])  # d logit / dA
    alpha = g**2 / (2 * g**2 + A.sum(dim=(2, 3), keepdim=True) * g**3)
    alpha = torch.where(g != 0, alpha, 0)
    w = (alpha * g.clamp_min(0)).sum(dim=(2, 3), keepdim=True)
    y = torch.exp(cnn.fc(cnn.flat(A))[:, 1])  # d exp(S) / dA = exp(S) dS / dA
    expected = (w * A).sum(1) * y[:, None, None]
    np.testing.assert_allclose(exp.diagnostics["layer_maps"], expected.detach().numpy(),
                               rtol=1e-9)


class _Exp(torch.nn.Module):
    def forward(self, x):
        return torch.exp(x)


@pytest.mark.parametrize("cls", ALL)
def test_values_are_maps_at_the_inputs_size_for_any_batching(cls):
    cnn, images = _cnn(torch.nn.Softmax(dim=1)), _images(5).numpy()
    whole = cls(cnn, cam_layer="act1", device="cpu").fit(images).explain(images)
    assert whole.values.shape == (5, 1, 5, 5) and whole.feature_shape == (1, 5, 5)
    assert whole.diagnostics["layer_maps"].shape == (5, 3, 3)
    assert (whole.values >= 0).all()
    parts = cls(cnn, cam_layer="act1", internal_batch_size=2, device="cpu").fit(images)
    np.testing.assert_allclose(parts.explain(images).values, whole.values, rtol=1e-10,
                               atol=1e-14)
    assert parts.transform(images).shape == (5, 25)


def test_target_default_layer_and_relu():
    cnn, images = _cnn(), _images().numpy()
    est = HiResCAM(cnn, target=2, relu=False, device="cpu").fit(images)
    assert est.cam_layer_ == "act1" and est.layer_shape_ == (2, 3, 3)
    exp = est.explain(images)
    A = cnn.act1(cnn.conv1(torch.as_tensor(images))).detach()
    w = cnn.fc.weight[2].detach().view(1, 2, 3, 3)  # gradient of a linear head
    np.testing.assert_allclose(exp.diagnostics["layer_maps"], (w * A).sum(1).numpy(),
                               rtol=1e-10, atol=1e-12)
    assert (exp.values < 0).any()


def test_a_skorch_classifier_and_save_load(tmp_path):
    from skorch import NeuralNetClassifier

    net = NeuralNetClassifier(_cnn().float(), criterion=torch.nn.CrossEntropyLoss,
                              device="cpu").initialize()  # outputs: softmax probabilities
    images = _images().float().numpy()
    est = sklxai.get_explainer("gradcam")(net, cam_layer="act1", device="cpu").fit(images)
    exp = est.explain(images)
    module = net.module_
    with torch.enable_grad():
        A = module.act1(module.conv1(torch.as_tensor(images)))
        proba = torch.softmax(module.fc(module.flat(A)), dim=1)
        t = proba.argmax(1)
        (g,) = torch.autograd.grad(proba[torch.arange(4), t].sum(), A)
    expected = (g.mean(dim=(2, 3), keepdim=True) * A).sum(1).detach().numpy()
    np.testing.assert_allclose(exp.diagnostics["layer_maps"], expected, rtol=1e-4, atol=1e-6)
    path = tmp_path / "cam.pkl"
    path.write_bytes(pickle.dumps(est))
    again = pickle.loads(path.read_bytes())
    np.testing.assert_array_equal(again.explain(images).values, exp.values)


def test_bad_input_is_refused_naming_it():
    cnn, images = _cnn(), _images().numpy()
    with pytest.raises(ValueError, match="Unknown layer 'conv9'.*'conv1'"):
        GradCAM(cnn, cam_layer="conv9", device="cpu").fit(images)
    with pytest.raises(TypeError, match="cam_layer must be a layer name"):
        GradCAM(cnn, cam_layer=3, device="cpu").fit(images)
    with pytest.raises(ValueError, match="explains images"):
        GradCAM(torch.nn.Linear(4, 2).double(), device="cpu").fit(np.zeros((5, 4)))
    with pytest.raises(RuntimeError, match="feature map of shape"):
        GradCAM(cnn, cam_layer="fc", device="cpu").fit(images)
    est = GradCAM(cnn, cam_layer="act1", device="cpu").fit(images)
    with pytest.raises(ValueError, match="X"):
        est.explain(np.zeros((2, 1, 6, 6)))
    bad = images.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="X"):
        est.explain(bad)


class _FlatCNN(torch.nn.Module):
    """The CNN of _cnn() on flattened rows (n, 25)."""

    def __init__(self, cnn):
        super().__init__()
        self.cnn = cnn

    def forward(self, X):
        return self.cnn(X.reshape(-1, 1, 5, 5))


@pytest.mark.parametrize("shape", [(1, 5, 5), (5, 5), (1, -1, 5)])
def test_flattened_rows_with_image_shape_give_the_maps_of_the_images(shape):
    cnn, images = _cnn(), _images().numpy()
    on_images = LayerCAM(cnn, cam_layer="act1", device="cpu").fit(images).explain(images)
    flat = LayerCAM(_FlatCNN(cnn), cam_layer="cnn.act1", image_shape=shape, device="cpu")
    exp = flat.fit(images.reshape(4, 25)).explain(images.reshape(4, 25))
    assert flat.image_shape_ == (1, 5, 5) and exp.values.shape == (4, 25)
    np.testing.assert_allclose(exp.values, on_images.values.reshape(4, 25), rtol=1e-12)
    with pytest.raises(ValueError, match="image_shape=\\(1, 4, 4\\) holds 16 values"):
        LayerCAM(_FlatCNN(cnn), image_shape=(1, 4, 4), device="cpu").fit(images.reshape(4, 25))
    with pytest.raises(ValueError, match="image_shape must be None or a tuple"):
        LayerCAM(cnn, image_shape=(1, 0, 5), device="cpu").fit(images)
