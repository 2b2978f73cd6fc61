"""DeepLIFT, DeepSHAP, IntegratedGradients and GradientSHAP on torchvision's own models:
``resnet18`` and a small ``VisionTransformer``, with random weights (nothing downloaded), in
eval mode. Every check compares the attributions' sums with the module's outputs computed
directly, f(x) - f(x') (or minus the mean over a background)."""

import collections

import numpy as np
import pytest
import torch
from torchvision_loader import import_torchvision

from sklxai.explainers._deeplift_rules import NoDeepLiftRule, ReferenceTape
from sklxai.explainers.deeplift import DeepLIFT
from sklxai.explainers.gradient_shap import GradientSHAP
from sklxai.explainers.integrated_gradients import IntegratedGradients

models = import_torchvision().models

SHAPE = (3, 32, 32)


def _resnet18():
    """resnet18 with 10 classes; its batch norms get statistics and affine parameters that are
    not the identity (at torchvision's initialisation the net is positively homogeneous apart
    from the last bias, which would make the path methods exact at any step count)."""
    torch.manual_seed(0)
    net = models.resnet18(num_classes=10)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return net.eval()


def _vit():
    """A ViT on 32x32 images: 8x8 patches (16 tokens and the class token), 2 encoder layers of
    width 32 with 2 heads (nn.MultiheadAttention) and a GELU MLP of width 64, 10 classes.
    torchvision initialises the class token and the head to zeros (a constant output); they
    are drawn at random here."""
    torch.manual_seed(0)
    net = models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                   hidden_dim=32, mlp_dim=64, num_classes=10)
    with torch.no_grad():
        net.class_token.normal_(0.0, 1.0)
        net.heads.head.weight.normal_(0.0, 32**-0.5)
        net.heads.head.bias.normal_(0.0, 0.1)
    return net.eval()


_BUILD = {"resnet18": _resnet18, "vit": _vit}
_CACHE = {}


def _net(name, dtype):
    if (name, dtype) not in _CACHE:
        _CACHE[name, dtype] = _BUILD[name]().to(dtype)
    return _CACHE[name, dtype]


def _images(n, seed):
    return np.random.default_rng(seed).normal(size=(n, *SHAPE))


def _f(net, X, dtype):
    """The module's outputs, computed directly (independently of the explainers)."""
    with torch.no_grad():
        return net(torch.as_tensor(X, dtype=dtype)).double().numpy()


def _sums(exp):
    return exp.values.reshape(len(exp.values), -1).sum(axis=1)


# ---------------------------------------------------------------------- DeepLIFT, DeepSHAP
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("name", list(_BUILD))
def test_deeplift_completeness(name, dtype, tol):
    """sum of values == f_t(x) - f_t(x') for each row's predicted output t, one reference."""
    net = _net(name, dtype)
    X, ref = _images(2, 0), _images(1, 1)[0]
    exp = DeepLIFT(net, baseline=ref, device="cpu").fit(X).explain(X)
    fx, fr = _f(net, X, dtype), _f(net, ref[None], dtype)[0]
    t = fx.argmax(axis=1)
    delta = fx[np.arange(len(X)), t] - fr[t]
    assert np.abs(delta).min() > 1e-2  # a real difference to complete
    assert np.abs(_sums(exp) - delta).max() <= tol * max(1.0, np.abs(delta).max())
    assert exp.values.shape == X.shape
    # the reported relative gaps (against the explainer's own f(x), f(x')) say the same
    assert (exp.diagnostics["completeness_gap"] * np.abs(delta)
            <= tol * max(1.0, np.abs(delta).max())).all()


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("name", list(_BUILD))
def test_deepshap_completeness(name, dtype, tol):
    """DeepSHAP (3 background images): sum of values == f_t(x) - mean_b f_t(b)."""
    net = _net(name, dtype)
    X, bg = _images(2, 0), _images(3, 2)
    exp = DeepLIFT(net, background=bg, baseline="background", device="cpu").fit(X).explain(X)
    fx, fb = _f(net, X, dtype), _f(net, bg, dtype).mean(axis=0)
    t = fx.argmax(axis=1)
    delta = fx[np.arange(len(X)), t] - fb[t]
    assert np.abs(delta).min() > 1e-2
    np.testing.assert_allclose(exp.base_values, fb[t], rtol=0, atol=1e-12)
    assert np.abs(_sums(exp) - delta).max() <= tol * max(1.0, np.abs(delta).max())


def _rules(net, dtype):
    """How many times each (operation, rule) pair runs in one pass of the model."""
    tape = ReferenceTape()
    x = torch.zeros(1, *SHAPE, dtype=dtype, requires_grad=True)
    with torch.enable_grad(), tape:
        net(x.clone())
    return collections.Counter((f.__name__, k) for f, k, *_ in tape.entries)


def test_rules_met_in_resnet18():
    """resnet18's nonlinear operations, one rule each: 17 ReLUs (the stem's and two per each
    of the 8 basic blocks, the module reused in place) and the stem's max pooling; its convs,
    eval batch norms, residual additions, adaptive average pooling, flatten and linear layer
    keep their own (exact) gradient."""
    assert _rules(_net("resnet18", torch.float64), torch.float64) == {
        ("relu", "elementwise"): 1 + 2 * 8, ("max_pool2d", "grouped"): 1}


def test_rules_met_in_the_vit():
    """The ViT's nn.MultiheadAttention runs as its parts (scaled_dot_product_attention split
    into q @ k^T, softmax and @ v), each under its rule: per layer two matrix products, one
    softmax, two layer norms and one GELU; plus the final layer norm. The patch convolution,
    the class-token concatenation, position embedding, reshapes and indexing are linear."""
    counts = _rules(_net("vit", torch.float64), torch.float64)
    assert counts == {("matmul", "bilinear"): 2 * 2, ("softmax", "grouped"): 2,
                      ("layer_norm", "grouped"): 2 * 2 + 1, ("gelu", "elementwise"): 2}


def _calibrated(net):
    """A random-weight net with batch norm statistics measured on 16 random images (eval
    mode); random statistics instead shrink the signal layer by layer in the deeper nets, to an
    output that no longer depends on the image."""
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # the plain average over the calibration pass
        if isinstance(m, torch.nn.Linear) and m.out_features == 10:
            with torch.no_grad():  # torchvision draws some heads at scale 0.01
                m.weight.normal_(0.0, m.in_features**-0.5)
    net.train()
    with torch.no_grad():
        net(torch.randn(16, *SHAPE, generator=torch.Generator().manual_seed(5)))
    return net.eval()


_MORE = {
    # hardswish, hardsigmoid, squeeze-and-excitation gates (products of two varying tensors)
    "mobilenet_v3_small": (lambda: models.mobilenet_v3_small(num_classes=10),
                           {("hardswish", "elementwise"): 19, ("relu", "elementwise"): 14,
                            ("hardsigmoid", "elementwise"): 9, ("mul", "bilinear"): 9}),
    # SiLU, sigmoid gates, stochastic depth (the identity in eval mode)
    "efficientnet_b0": (lambda: models.efficientnet_b0(num_classes=10),
                        {("silu", "elementwise"): 49, ("sigmoid", "elementwise"): 16,
                         ("mul", "bilinear"): 16}),
    # concatenated branches, max pooling with ceil_mode
    "squeezenet1_1": (lambda: models.squeezenet1_1(num_classes=10),
                      {("relu", "elementwise"): 26, ("max_pool2d", "grouped"): 3}),
    # channel split, concatenation and shuffle (view, transpose)
    "shufflenet_v2_x0_5": (lambda: models.shufflenet_v2_x0_5(num_classes=10),
                           {("relu", "elementwise"): 37, ("max_pool2d", "grouped"): 1}),
    # shifted windows (roll, padding, -inf masks), relative position bias, patch merging
    "swin": (lambda: models.SwinTransformer(
        patch_size=[4, 4], embed_dim=16, depths=[2, 1], num_heads=[2, 2], window_size=[4, 4],
        num_classes=10), {("layer_norm", "grouped"): 9, ("matmul", "bilinear"): 6,
                          ("softmax", "grouped"): 3, ("gelu", "elementwise"): 3}),
    # layer norm over channels (permute), depthwise convolution, layer scale
    "convnext": (lambda: models.ConvNeXt(
        [models.convnext.CNBlockConfig(8, 16, 1), models.convnext.CNBlockConfig(16, None, 1)],
        num_classes=10), {("layer_norm", "grouped"): 5, ("gelu", "elementwise"): 2}),
    # dense concatenation, average pooling in the transitions
    "densenet": (lambda: models.DenseNet(growth_rate=8, block_config=(2, 2),
                                         num_init_features=8, num_classes=10),
                 {("relu", "elementwise"): 11, ("max_pool2d", "grouped"): 1}),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", list(_MORE))
def test_deeplift_completeness_on_more_torchvision_architectures(name, dtype):
    """Small or small-input versions of other torchvision families: the rules met are
    counted, and the values sum to f_t(x) - f_t(x'): to 1e-10 in float64; in float32 to 1e-6
    of the sum of the values' absolute values, the terms that cancel down to the difference
    (up to 900 times it here) and whose float32 rounding sets the gap."""
    build, rules = _MORE[name]
    torch.manual_seed(0)
    net = _calibrated(build()).to(dtype)
    assert _rules(net, dtype) == rules
    X, ref = _images(2, 0), _images(1, 1)[0]
    exp = DeepLIFT(net, baseline=ref, device="cpu").fit(X).explain(X)
    fx, fr = _f(net, X, dtype), _f(net, ref[None], dtype)[0]
    t = fx.argmax(axis=1)
    delta = fx[[0, 1], t] - fr[t]
    assert np.abs(delta).min() > 1e-2
    gap = np.abs(_sums(exp) - delta)
    if dtype == torch.float64:
        assert gap.max() <= 1e-10 * max(1.0, np.abs(delta).max())
    else:
        terms = np.abs(exp.values).reshape(len(X), -1).sum(axis=1)
        assert (gap <= 1e-6 * np.maximum(1.0, terms)).all()


class _FusedAttention(torch.nn.Module):
    """Self-attention through torch's fused kernel (the one nn.MultiheadAttention's fast path
    calls): DeepLIFT has no rule for it and must refuse it rather than keep its gradient."""

    def __init__(self):
        super().__init__()
        self.mha = torch.nn.MultiheadAttention(4, 2, batch_first=True)

    def forward(self, x):
        h = x.view(-1, 3, 4)
        m = self.mha
        out, _ = torch._native_multi_head_attention(
            h, h, h, 4, 2, m.in_proj_weight, m.in_proj_bias, m.out_proj.weight,
            m.out_proj.bias, need_weights=False)
        return out.flatten(1)


def test_fused_attention_is_refused():
    X = _images(2, 0)[:, 0, 0, :12]
    with pytest.raises(NoDeepLiftRule, match="no rule for the operation .*multi_head_attention"):
        DeepLIFT(_FusedAttention().double(), device="cpu", target=0).fit(X).explain(X)


def test_a_model_in_training_mode_is_explained_in_eval_mode():
    """Batch norm with the batch's statistics has no DeepLIFT rule; the model is run in eval
    mode (as at prediction), so a resnet18 left in training mode gets the eval model's values,
    and its modes are restored afterwards."""
    X, ref = _images(2, 0), _images(1, 1)[0]
    net = _resnet18().train()
    exp = DeepLIFT(net, baseline=ref, device="cpu").fit(X).explain(X)
    plain = DeepLIFT(_net("resnet18", torch.float32), baseline=ref, device="cpu").fit(X).explain(X)
    np.testing.assert_array_equal(exp.values, plain.values)
    assert all(m.training for m in net.modules())


def test_frozen_weights_and_no_grad_change_nothing():
    """A frozen model (parameters without gradients, as pretrained models are often used)
    explained inside ``torch.no_grad()``: the same values as before, still complete (the
    attention still runs as its parts, not through the fused kernel)."""
    X, ref = _images(2, 0), _images(1, 1)[0]
    net = _net("vit", torch.float64)
    frozen = _vit().double().requires_grad_(False)
    plain = DeepLIFT(net, baseline=ref, device="cpu").fit(X).explain(X)
    with torch.no_grad():
        exp = DeepLIFT(frozen, baseline=ref, device="cpu").fit(X).explain(X)
    np.testing.assert_array_equal(exp.values, plain.values)
    fx, fr = _f(net, X, torch.float64), _f(net, ref[None], torch.float64)[0]
    t = fx.argmax(axis=1)
    np.testing.assert_allclose(_sums(exp), fx[[0, 1], t] - fr[t], rtol=0, atol=1e-12)


# ---------------------------------------------------------------------- path methods
@pytest.mark.parametrize("name, dtype, steps, final", [
    # ReLU kinks: measured 0.31, 0.060, 0.0071 (row 0) and 0.26, 0.041, 0.0070 (row 1)
    ("resnet18", torch.float32, (8, 32, 128), 1e-2),
    # smooth (GELU, softmax, layer norm): 0.041, 1.1e-4, 1.1e-5, 1.6e-11 (row 0)
    ("vit", torch.float64, (4, 8, 16, 32), 1e-10),
])
def test_integrated_gradients_gap_shrinks_with_steps(name, dtype, steps, final):
    """IG's completeness gap is its quadrature error (Gauss-Legendre): it shrinks as n_steps
    grows, to below ``final`` relative to f(x) - f(x')."""
    net = _net(name, dtype)
    X, ref = _images(2, 0), _images(1, 1)[0]
    fx, fr = _f(net, X, dtype), _f(net, ref[None], dtype)[0]
    t = fx.argmax(axis=1)
    delta = fx[[0, 1], t] - fr[t]
    gaps = []
    for n in steps:
        exp = IntegratedGradients(net, baseline=ref, n_steps=n, device="cpu").fit(X).explain(X)
        gaps.append(np.abs(_sums(exp) - delta) / np.abs(delta))
    gaps = np.array(gaps)
    assert (np.diff(gaps, axis=0) < 0).all()
    assert gaps[-1].max() < final
    assert gaps[0].min() > 10 * final  # the first step count is visibly short


@pytest.mark.parametrize("name", list(_BUILD))
def test_gradient_shap_complete_in_expectation(name):
    """E[sum of values] = f_t(x) - mean_b f_t(b). Eight independent runs (seeds 0-7) of 16
    samples each: their mean sum is within 5 standard errors (of the eight sums' spread) of
    the target, and each run's gap within 4 times the sum of its reported per-pixel standard
    errors (the standard deviation of a sum is at most the sum of the standard deviations)."""
    net = _net(name, torch.float32)
    X, bg = _images(2, 0), _images(4, 2)
    fx, fb = _f(net, X, torch.float32), _f(net, bg, torch.float32).mean(axis=0)
    t = fx.argmax(axis=1)
    delta = fx[[0, 1], t] - fb[t]
    sums = []
    for seed in range(8):
        exp = GradientSHAP(net, background=bg, n_samples=16, device="cpu",
                           random_state=seed).fit(X).explain(X)
        sums.append(_sums(exp))
        bound = 4 * exp.std_errors.reshape(2, -1).sum(axis=1)
        assert (np.abs(sums[-1] - delta) < bound).all()
    sums = np.array(sums)
    se = sums.std(axis=0, ddof=1) / np.sqrt(len(sums))
    assert (se > 0).all()
    assert (np.abs(sums.mean(axis=0) - delta) < 5 * se).all()
