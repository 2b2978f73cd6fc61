"""DeepLIFT / DeepSHAP: completeness on every operation, closed forms, captum where it is right."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sklxai import get_explainer
from sklxai.explainers._deeplift_rules import NoDeepLiftRule
from sklxai.explainers.deeplift import DeepLIFT


# ---------------------------------------------------------------------- models, one per op
class _Functional(nn.Module):
    """Linear -> act -> Linear with the activation a plain function."""

    def __init__(self, act, d=6):
        super().__init__()
        self.a, self.b, self.act = nn.Linear(d, 8), nn.Linear(8, 3), act

    def forward(self, x):
        return self.b(self.act(self.a(x)))


class _Reused(nn.Module):
    """One nn.ReLU module called twice."""

    def __init__(self, d=6, inplace=False):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(d, 8), nn.Linear(8, 8), nn.Linear(8, 3)
        self.relu = nn.ReLU(inplace=inplace)

    def forward(self, x):
        return self.c(self.relu(self.b(self.relu(self.a(x)))))


class _TensorInplace(nn.Module):
    """An in-place method whose return value is ignored (the tensor itself is used)."""

    def __init__(self, d=6):
        super().__init__()
        self.a, self.b = nn.Linear(d, 8), nn.Linear(8, 3)

    def forward(self, x):
        h = self.a(x)
        h.relu_()
        return self.b(h)


class _ConvPool(nn.Module):
    """conv (bias) -> ReLU -> max-pool -> conv (bias) -> ReLU -> max-pool -> linear, on
    (n, 1, 8, 8) images."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.out = nn.Linear(4 * 2 * 2, 3)

    def forward(self, x):
        h = F.max_pool2d(torch.relu(self.c1(x)), 2)
        h = nn.functional.max_pool2d(F.relu(self.c2(h)), 2, stride=2)
        return self.out(h.flatten(1))


class _ResBlock(nn.Module):
    """A ResNet-like block: conv -> BatchNorm (eval) -> ReLU -> conv -> BatchNorm, plus the
    identity, -> ReLU (one reused in-place module), then global average pooling."""

    def __init__(self, c=3):
        super().__init__()
        self.stem = nn.Conv2d(1, c, 3, padding=1)
        self.c1, self.c2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)
        self.b1, self.b2 = nn.BatchNorm2d(c), nn.BatchNorm2d(c)
        for bn in (self.b1, self.b2):  # statistics that are not the identity
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.3, 0.3)
        self.relu = nn.ReLU(inplace=True)
        self.out = nn.Linear(c, 3)

    def forward(self, x):
        x = self.relu(self.stem(x))
        h = self.relu(self.b1(self.c1(x)))
        h = self.b2(self.c2(h))
        h = self.relu(h + x)
        return self.out(F.adaptive_avg_pool2d(h, 1).flatten(1))


class _ViTBlock(nn.Module):
    """A tiny ViT-like block on (n, 3 tokens x 4): LayerNorm, single-head self-attention
    written out (q k^T / sqrt(d), softmax, @ v), residual, LayerNorm, GELU MLP, residual."""

    def __init__(self, tokens=3, dim=4):
        super().__init__()
        self.tokens, self.dim = tokens, dim
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 8), nn.GELU(), nn.Linear(8, dim))
        self.out = nn.Linear(dim, 3)

    def forward(self, x):
        h = x.view(-1, self.tokens, self.dim)
        z = self.ln1(h)
        att = torch.softmax(self.q(z) @ self.k(z).transpose(-2, -1) / self.dim**0.5, dim=-1)
        h = h + att @ self.v(z)
        h = h + self.mlp(self.ln2(h))
        return self.out(h.mean(1))


class _TorchEncoder(nn.Module):
    """torch's own TransformerEncoderLayer (nn.MultiheadAttention inside) on 3 tokens x 4."""

    def __init__(self):
        super().__init__()
        self.enc = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True)
        self.out = nn.Linear(12, 3)

    def forward(self, x):
        return self.out(self.enc(x.view(-1, 3, 4)).flatten(1))


class _MaskedAttention(nn.Module):
    """Attention with -inf masks: a pre-norm encoder layer with a causal src_mask, then
    F.scaled_dot_product_attention(is_causal=True) (masked scores are -inf for x and x')."""

    def __init__(self):
        super().__init__()
        self.enc = nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True,
                                              norm_first=True)
        self.out = nn.Linear(12, 3)

    def forward(self, x):
        h = x.view(-1, 3, 4)
        h = self.enc(h, src_mask=nn.Transformer.generate_square_subsequent_mask(3).to(h.dtype))
        h = h + F.scaled_dot_product_attention(h, h, h, is_causal=True)
        return self.out(h.flatten(1))


class _Gated(nn.Module):
    """Products and a division of two input-dependent tensors: a GLU-like gate, x / (1 + |h|)."""

    def __init__(self, d=6):
        super().__init__()
        self.a, self.g, self.b = nn.Linear(d, 8), nn.Linear(d, 8), nn.Linear(8, 3)

    def forward(self, x):
        h = self.a(x) * torch.sigmoid(self.g(x))
        return self.b(h / (1 + torch.abs(self.g(x))))


class _Norms(nn.Module):
    """GroupNorm on a conv map, RMSNorm, and F.normalize (a Python function of
    torch.nn.functional, run as its parts: a vector norm, clamp_min, a division)."""

    def __init__(self):
        super().__init__()
        self.conv, self.gn = nn.Conv2d(1, 4, 3, padding=1), nn.GroupNorm(2, 4)
        self.rms = nn.RMSNorm(16)
        self.out = nn.Linear(16, 3)

    def forward(self, x):
        h = F.silu(self.gn(self.conv(x)))
        h = F.adaptive_avg_pool2d(h, 2).flatten(1)
        return self.out(F.normalize(self.rms(h), dim=1))


def _mlp(act):
    return nn.Sequential(nn.Linear(6, 8), act, nn.Linear(8, 8), act, nn.Linear(8, 3))


_OPS = {
    "linear_relu_module": lambda: _mlp(nn.ReLU()),
    "functional_relu": lambda: _Functional(F.relu),
    "reused_relu_module": lambda: _Reused(),
    "inplace_relu": lambda: _Reused(inplace=True),
    "tensor_relu_": lambda: _TensorInplace(),
    "gelu": lambda: _mlp(nn.GELU()),
    "functional_gelu_tanh": lambda: _Functional(lambda t: F.gelu(t, approximate="tanh")),
    "silu": lambda: _Functional(F.silu),
    "sigmoid": lambda: _Functional(torch.sigmoid),
    "tanh": lambda: _Functional(torch.tanh),
    "softplus_elu_selu": lambda: _Functional(lambda t: F.selu(F.elu(F.softplus(t)))),
    "conv_relu_maxpool": lambda: _ConvPool(),
    "conv_relu_maxpool_modules": lambda: nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1),
        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 3)),
    "resnet_block": lambda: _ResBlock(),
    "layernorm": lambda: nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Linear(8, 3)),
    "batchnorm_eval": lambda: _mlp_bn(),
    "vit_block": lambda: _ViTBlock(),
    "torch_transformer_layer": lambda: _TorchEncoder(),
    "masked_attention": lambda: _MaskedAttention(),
    "gates_and_division": lambda: _Gated(),
    "group_rms_norm_normalize": lambda: _Norms(),
}


def _mlp_bn():
    net = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    net[1].running_mean.uniform_(-1, 1)
    net[1].running_var.uniform_(0.5, 2)
    return net.eval()


def _data(name, n=5, seed=0):
    rng = np.random.default_rng(seed)
    if name in ("conv_relu_maxpool", "conv_relu_maxpool_modules", "resnet_block",
                "group_rms_norm_normalize"):
        return rng.normal(size=(n, 1, 8, 8))
    if name in ("vit_block", "torch_transformer_layer", "masked_attention"):
        return rng.normal(size=(n, 12))
    return rng.normal(size=(n, 6))


def _f(net, X, dtype):
    """The module's outputs, computed directly (independently of the explainer)."""
    with torch.no_grad():
        return net(torch.as_tensor(X, dtype=dtype)).double().numpy()


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("name", list(_OPS))
def test_completeness_on_every_operation(name, dtype, tol):
    """sum of attributions == f(x) - f(x') on every operation, for each row's own output."""
    torch.manual_seed(0)
    net = _OPS[name]().to(dtype).eval()
    X = _data(name)
    ref = _data(name, n=1, seed=1)[0]
    exp = DeepLIFT(net, baseline=ref, target=None, device="cpu").fit(X).explain(X)
    fx, fr = _f(net, X, dtype), _f(net, ref[None], dtype)[0]
    t = fx.argmax(axis=1)
    delta = fx[np.arange(len(X)), t] - fr[t]
    total = exp.values.reshape(len(X), -1).sum(axis=1)
    assert np.abs(total - delta).max() <= tol * max(1.0, np.abs(delta).max())
    assert np.abs(delta).min() > 1e-3  # a real difference to complete
    assert exp.diagnostics["completeness_gap"].max() < 10 * tol / 1e-3


class _MHAWeights(nn.Module):
    """nn.MultiheadAttention (2 heads) returning its weights, whose products run on the
    (batch x heads, tokens, head size) tensors."""

    def __init__(self):
        super().__init__()
        self.att = nn.MultiheadAttention(4, 2, batch_first=True)
        self.out = nn.Linear(12 + 9, 3)

    def forward(self, x):
        h = x.view(-1, 3, 4)
        y, w = self.att(h, h, h, need_weights=True, average_attn_weights=False)
        return self.out(torch.cat([y.flatten(1), w.mean(1).flatten(1)], dim=1))


@pytest.mark.parametrize("name", [*_OPS, "mha_weights"])
def test_one_reference_row_broadcast_equals_every_reference_row(name, monkeypatch):
    """One baseline for all rows: the reference run takes one row and its tensors are
    broadcast to the rows' (or, where the model's shapes refuse it, every row is run); the
    values equal those of the same reference given once per row (run on every row)."""
    torch.manual_seed(0)
    net = (_MHAWeights() if name == "mha_weights" else _OPS[name]()).double().eval()
    X = _data("vit_block" if name == "mha_weights" else name)
    ref = _data("vit_block" if name == "mha_weights" else name, n=1, seed=1)[0]
    runs = []
    rules_run = DeepLIFT._rules_run

    def spy(self, q, r, broadcast):
        out = rules_run(self, q, r, broadcast)  # raises where the broadcast is refused
        runs.append((broadcast, r.shape[0]))
        return out

    monkeypatch.setattr(DeepLIFT, "_rules_run", spy)
    shared = DeepLIFT(net, baseline=ref, device="cpu").fit(X).explain(X)
    assert runs[-1][0] == (name not in _REFERENCE_ROWS_MIXED)
    assert runs[-1][1] == (len(X) if name in _REFERENCE_ROWS_MIXED else 1)
    rows = DeepLIFT(net, baseline=np.repeat(ref[None], len(X), axis=0), device="cpu")
    each = rows.fit(X).explain(X)
    assert runs[-1] == (False, len(X))
    np.testing.assert_allclose(shared.values, each.values, rtol=0, atol=1e-12)


#: models whose operations merge the rows with another axis (multi-head attention with its
#: weights returned: batch x heads), so one reference row cannot be broadcast: every
#: reference row is run
_REFERENCE_ROWS_MIXED = {"mha_weights"}


def test_linear_model_is_difference_times_weight():
    lin = nn.Linear(4, 1).double()
    X = np.random.default_rng(0).normal(size=(7, 4))
    ref = np.array([0.5, -1.0, 2.0, 0.1])
    exp = DeepLIFT(lin, baseline=ref, device="cpu").fit(X).explain(X)
    w = lin.weight.detach().numpy()[0]
    np.testing.assert_allclose(exp.values, (X - ref) * w, rtol=0, atol=1e-14)


def test_one_relu_rescale_rule_by_hand():
    """f(x) = w2 relu(w1 . x + b1) + b2: values_i = (x_i - x'_i) w1_i w2 * secant slope."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(3, 1), nn.ReLU(), nn.Linear(1, 1)).double()
    w1, b1 = net[0].weight.detach().numpy()[0], float(net[0].bias.detach()[0])
    w2 = float(net[2].weight.detach()[0, 0])
    rng = np.random.default_rng(1)
    X, ref = rng.normal(size=(20, 3)) * 2, rng.normal(size=3)
    exp = DeepLIFT(net, baseline=ref, device="cpu").fit(X).explain(X)
    h, h0 = X @ w1 + b1, ref @ w1 + b1
    relu = lambda t: np.maximum(t, 0)
    slope = (relu(h) - relu(h0)) / (h - h0)
    np.testing.assert_allclose(exp.values, (X - ref) * w1 * (slope * w2)[:, None], atol=1e-13)
    assert ((h > 0) != (h0 > 0)).any()  # some rows cross the kink (the secant matters)


@pytest.mark.parametrize("pool, shape, kw", [
    (F.max_pool2d, (3, 2, 7, 7), {"kernel_size": 3, "stride": 2, "padding": 1}),
    (F.max_pool2d, (3, 2, 7, 7), {"kernel_size": 2, "ceil_mode": True}),
    (F.max_pool1d, (3, 2, 9), {"kernel_size": 3, "stride": 1}),
    (F.max_pool3d, (2, 2, 4, 5, 5), {"kernel_size": 2, "stride": 1}),
])
def test_max_pooling_rule_equals_the_general_grouped_rule(pool, shape, kw):
    """The max pooling rule reads the midpoint's Jacobian from its argmax indices; the general
    grouped rule (double backward through the pooling) gives the same multipliers, overlapping
    windows, padding, ceil mode and ties (integer values) included."""
    from sklxai.explainers._deeplift_rules import (
        _group_sum,
        _Grouped,
        _max_pool_indices,
        _MaxPool,
    )

    gen = torch.Generator().manual_seed(0)
    v = torch.randint(-3, 4, shape, generator=gen).double()  # ties in most windows
    ref = torch.randn(shape, generator=gen, dtype=torch.float64).round()
    fn = lambda t: pool(t, **kw)
    group_sum = _group_sum(pool, (v,), kw)
    y_ref = fn(ref)
    g = torch.randn(fn(v).shape, generator=gen, dtype=torch.float64)
    grads = []
    for rule, extra in ((_Grouped, ()), (_MaxPool, (_max_pool_indices(pool, (v,), kw),))):
        q = v.clone().requires_grad_(True)
        out = rule.apply(fn, *extra, group_sum, q, ref, y_ref)
        (grad,) = torch.autograd.grad(out, q, g)
        grads.append(grad)
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=1e-12)
    assert (grads[0] != 0).any()  # the multipliers do not all vanish


def test_deepshap_is_mean_of_single_reference_runs():
    torch.manual_seed(0)
    net = _ViTBlock().double()
    rng = np.random.default_rng(0)
    X, bg = rng.normal(size=(4, 12)), rng.normal(size=(5, 12))
    shap = DeepLIFT(net, background=bg, baseline="background", device="cpu").fit(X).explain(X)
    # each row's explained output is its predicted one in both
    singles = [DeepLIFT(net, baseline=b, device="cpu").fit(X).explain(X) for b in bg]
    np.testing.assert_allclose(shap.values, np.mean([s.values for s in singles], axis=0),
                               atol=1e-13)
    fbg = _f(net, bg, torch.float64)
    t = _f(net, X, torch.float64).argmax(1)
    np.testing.assert_allclose(shap.base_values, fbg.mean(0)[t], atol=1e-13)
    np.testing.assert_allclose(shap.values.sum(1), shap.output - shap.base_values, atol=1e-12)


def test_images_keep_their_shape_and_batches_do_not_matter():
    torch.manual_seed(0)
    net = _ConvPool().double()
    X = _data("conv_relu_maxpool", n=6)
    a = DeepLIFT(net, device="cpu").fit(X).explain(X)
    b = DeepLIFT(net, device="cpu", internal_batch_size=4).fit(X).explain(X)
    assert a.values.shape == X.shape
    np.testing.assert_allclose(a.values, b.values, atol=1e-14)


def test_registered():
    assert get_explainer("deeplift") is DeepLIFT


# ---------------------------------------------------------------------- refusals
class _Sorts(nn.Module):
    def forward(self, x):
        return torch.sort(x, dim=1).values[:, :2]


class _WhereRelu(nn.Module):
    def forward(self, x):
        return torch.where(x > 0, x, torch.zeros_like(x)).sum(1, keepdim=True)


class _Branches(nn.Module):
    def forward(self, x):
        if float(x.sum()) > 0:
            return torch.tanh(x).sum(1, keepdim=True)
        return x.sum(1, keepdim=True)


@pytest.mark.parametrize("net, match", [
    (_Sorts(), "no rule for the operation .*sort"),
    (_WhereRelu(), "where.* mask or index that differs"),
    (_Branches(), "data-dependent control flow"),
])
def test_operations_without_a_rule_are_refused(net, match):
    X = np.abs(np.random.default_rng(0).normal(size=(3, 4))) + 0.5
    est = DeepLIFT(net.double(), device="cpu", target=0).fit(X)
    with pytest.raises((NoDeepLiftRule, RuntimeError), match=match):
        est.explain(X)


# ---------------------------------------------------------------------- captum
captum_attr = pytest.importorskip("captum.attr")


def test_equals_captum_on_a_module_mlp():
    """Modules only (captum hooks them): both give the same values."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Sigmoid(),
                        nn.Linear(8, 3)).double()
    rng = np.random.default_rng(0)
    X, ref = rng.normal(size=(10, 6)), rng.normal(size=6)
    exp = DeepLIFT(net, baseline=ref, device="cpu", target=1).fit(X).explain(X)
    theirs = captum_attr.DeepLift(net).attribute(
        torch.as_tensor(X), baselines=torch.as_tensor(ref[None]), target=1).detach().numpy()
    np.testing.assert_allclose(exp.values, theirs, atol=1e-6)


@pytest.mark.parametrize("name", ["functional_relu", "gelu", "conv_relu_maxpool",
                                  "conv_relu_maxpool_modules", "layernorm", "vit_block"])
def test_captum_misses_completeness_where_ours_holds(name):
    """captum's DeepLift hooks nn.Module activations of a fixed list: a functional F.relu and
    nn.GELU keep their plain gradient, its max-pooling rule misses with conv biases, layer
    norm has no rule, so its values do not sum to f(x) - f(x'); ours do."""
    torch.manual_seed(0)
    net = _OPS[name]().double().eval()
    X, ref = _data(name, n=20), _data(name, n=1, seed=1)[0]
    delta = _f(net, X, torch.float64)[:, 0] - _f(net, ref[None], torch.float64)[0, 0]
    theirs = captum_attr.DeepLift(net).attribute(
        torch.as_tensor(X), baselines=torch.as_tensor(ref[None]), target=0).detach().numpy()
    ours = DeepLIFT(net, baseline=ref, device="cpu", target=0).fit(X).explain(X).values
    assert np.abs(theirs.reshape(20, -1).sum(1) - delta).max() > 1e-2
    assert np.abs(ours.reshape(20, -1).sum(1) - delta).max() < 1e-12


@pytest.mark.parametrize("name", ["reused_relu_module", "inplace_relu"])
def test_captum_refuses_a_reused_relu_module(name):
    torch.manual_seed(0)
    net = _OPS[name]().double()
    X = _data(name, n=3)
    with pytest.raises(RuntimeError, match="detected that does not contain"):
        captum_attr.DeepLift(net).attribute(torch.as_tensor(X), target=0)
    exp = DeepLIFT(net, device="cpu", target=0).fit(X).explain(X)
    np.testing.assert_allclose(exp.values.sum(1), exp.output - exp.base_values, atol=1e-12)


def test_deepshap_equals_shap_on_a_module_mlp():
    """shap's DeepExplainer (modules only, no reuse, no pooling): the same values."""
    shap = pytest.importorskip("shap")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Sigmoid(),
                        nn.Linear(8, 3)).double()
    rng = np.random.default_rng(0)
    X, bg = rng.normal(size=(10, 6)), rng.normal(size=(7, 6))
    theirs = np.asarray(shap.DeepExplainer(net, torch.as_tensor(bg)).shap_values(
        torch.as_tensor(X)))[..., 1]
    ours = DeepLIFT(net, background=bg, baseline="background", device="cpu",
                    target=1).fit(X).explain(X)
    assert np.abs(theirs).max() > 1e-2
    np.testing.assert_allclose(ours.values, theirs, atol=1e-10)


@pytest.mark.parametrize("name", ["conv_relu_maxpool", "layernorm", "gelu"])
def test_shap_misses_additivity_where_ours_holds(name):
    """shap's DeepExplainer on max pooling, layer norm and GELU: its values miss
    f(x) - mean f(background); ours (DeepSHAP) do not."""
    shap = pytest.importorskip("shap")
    torch.manual_seed(0)
    net = _OPS[name]().double().eval()
    X, bg = _data(name, n=6), _data(name, n=4, seed=1)
    theirs = np.asarray(shap.DeepExplainer(net, torch.as_tensor(bg)).shap_values(
        torch.as_tensor(X), check_additivity=False))[..., 0].reshape(6, -1)
    gap = _f(net, X, torch.float64)[:, 0] - _f(net, bg, torch.float64)[:, 0].mean()
    ours = DeepLIFT(net, background=bg, baseline="background", device="cpu",
                    target=0).fit(X).explain(X).values.reshape(6, -1)
    assert np.abs(theirs.sum(1) - gap).max() > 1e-2
    assert np.abs(ours.sum(1) - gap).max() < 1e-12
