"""What LRP's rules promise, checked without zennit's code: LRP-0 is gradient x input on
bias-free ReLU networks, and on bias-free networks every layer hands down the relevance it gets
(checked at each layer with hooks); the explanation reports the gap."""

import numpy as np
import pytest
import torch
from lrp_zennit_loader import load_zennit

from sklxai_lrp import LRP

load_zennit()

COMPOSITES = ["EpsilonPlus", "EpsilonPlusFlat", "EpsilonGammaBox", "EpsilonAlpha2Beta1"]


def _relu_mlp(bias=False):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 16, bias=bias), torch.nn.ReLU(),
                               torch.nn.Linear(16, 8, bias=bias), torch.nn.ReLU(),
                               torch.nn.Linear(8, 3, bias=bias)).double()


def _relu_cnn(bias=False):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1, bias=bias), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 5, 3, bias=bias), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(45, 3, bias=bias)).double()
    with torch.no_grad():
        net[6].weight.mul_(30.0)  # outputs of order 1
    return net


def _rows(n=6, d=6, seed=1):
    return np.random.default_rng(seed).normal(size=(n, d))


def _images(n=4, seed=1):
    return np.random.default_rng(seed).normal(size=(n, 2, 8, 8))


@pytest.mark.parametrize("composite", ["EpsilonPlus", "EpsilonAlpha2Beta1"])
@pytest.mark.parametrize("target", [None, 1])
def test_lrp_zero_is_gradient_times_input_on_a_bias_free_relu_network(composite, target):
    # no convolutions: both composites give the epsilon rule to every linear layer, and with
    # epsilon near 0 it is LRP-0
    net, X = _relu_mlp(), _rows()
    exp = LRP(net, composite=composite, composite_params={"epsilon": 1e-12}, target=target,
              device="cpu").fit(X).explain(X)
    x = torch.as_tensor(X).requires_grad_(True)
    out = net(x)
    t = out.argmax(1) if target is None else torch.full((6,), target)
    (grad,) = torch.autograd.grad(out.gather(1, t[:, None]).sum(), x)
    expected = (x * grad).detach().numpy()
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(exp.values, expected, rtol=1e-8, atol=1e-10)


def test_lrp_zero_is_not_what_a_large_epsilon_gives():
    net, X = _relu_mlp(), _rows()
    zero = LRP(net, composite_params={"epsilon": 1e-12}, composite="EpsilonPlus",
               device="cpu").fit(X).explain(X)
    large = LRP(net, composite_params={"epsilon": 1.0}, composite="EpsilonPlus",
                device="cpu").fit(X).explain(X)
    assert np.abs(zero.values - large.values).max() > 1e-2
    assert large.diagnostics["completeness_gap"].min() > 1e-2  # epsilon absorbs relevance


class _LayerRelevance:
    """Forward hooks that record, at each layer's output and at the network's input, what the
    backward pass carries there: zennit's rules make it the relevance (for an output relevance
    of 1; the rules are linear in it)."""

    def __init__(self, net):
        self.seen, self.handles = {}, []
        for name, layer in net.named_children():
            self.handles.append(layer.register_forward_hook(
                lambda _m, _i, out, name=name: self._watch(name, out)))
        self.handles.append(net[0].register_forward_pre_hook(
            lambda _m, inputs: self._watch("input", inputs[0])))

    def _watch(self, name, tensor):
        if tensor.requires_grad:  # the explainer's backward pass (not its plain forwards)
            tensor.register_hook(lambda g: self.seen.__setitem__(name, g.detach().clone()))

    def sums(self):
        return {name: g.flatten(1).sum(1).numpy() for name, g in self.seen.items()}

    def remove(self):
        for handle in self.handles:
            handle.remove()


@pytest.mark.parametrize("composite", COMPOSITES)
@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_relevance_is_conserved_at_every_layer_of_a_bias_free_network(composite, model):
    net, X = (_relu_cnn(), _images()) if model == "cnn" else (_relu_mlp(), _rows())
    # tiny stabilisers: what is left is the rules' own conservation
    params = {"epsilon": 1e-9, "stabilizer": 1e-9}
    est = LRP(net, composite=composite, composite_params=params, target=2,
              device="cpu").fit(X)
    hooks = _LayerRelevance(net)
    try:
        exp = est.explain(X)
    finally:
        hooks.remove()
    sums = hooks.sums()
    assert len(sums) == len(net) + 1  # every layer and the input
    f = exp.output
    assert np.abs(f).min() > 1e-2
    for name, total in sums.items():  # relevance at the layer = f_t(x) * what the pass carries
        np.testing.assert_allclose(total * f, f, rtol=1e-4, err_msg=f"layer {name}")
    np.testing.assert_allclose(sums["input"] * f, exp.values.reshape(len(X), -1).sum(1),
                               rtol=1e-10)
    assert exp.diagnostics["completeness_gap"].max() < 1e-4
    assert np.all(exp.base_values == 0)


@pytest.mark.parametrize("composite", COMPOSITES)
def test_the_reported_gap_is_the_relevance_sum_against_the_output(composite):
    X = _images()
    for bias, small in ((False, True), (True, False)):
        net = _relu_cnn(bias=bias)
        exp = LRP(net, composite=composite, target=0, device="cpu").fit(X).explain(X)
        x = torch.as_tensor(X)
        f = net(x)[:, 0].detach().numpy()  # the output, computed here
        gap = np.abs(exp.values.reshape(len(X), -1).sum(1) - f) / np.abs(f)
        np.testing.assert_allclose(exp.diagnostics["completeness_gap"], gap, rtol=1e-9)
        # base values 0: the explanation's absolute efficiency gap is the same sum against f
        np.testing.assert_allclose(exp.efficiency_gap, np.max(gap * np.abs(f)), rtol=1e-9)
        if small:  # default stabilisers (1e-6) on a bias-free network: a small gap
            assert gap.max() < 1e-3
        else:  # the biases take their share of the relevance
            assert gap.max() > 1e-2


def _epsilon_rule_by_hand(layers, x, target, eps):
    """The epsilon rule written out in numpy: ``R_j = a_j w_kj R_k / (z_k + eps sign(z_k))``
    at each linear layer (z including the bias, sign(0) taken as 1), relevance passed through
    the ReLUs, ``R = f_t(x)`` at the explained output."""
    acts, a = [], x
    for i, (W, b) in enumerate(layers):
        acts.append(a)
        z = a @ W.T + b
        a = np.maximum(z, 0.0) if i < len(layers) - 1 else z
    R = np.zeros_like(a)
    R[np.arange(len(x)), target] = a[np.arange(len(x)), target]
    for (W, b), a in zip(reversed(layers), reversed(acts)):
        z = a @ W.T + b
        s = R / (z + np.where(z >= 0, 1.0, -1.0) * eps)
        R = a * (s @ W)
    return R


def test_the_epsilon_rule_with_biases_equals_it_written_by_hand():
    net, X = _relu_mlp(bias=True), _rows()
    for eps in (1e-6, 0.25):
        exp = LRP(net, composite="EpsilonPlus", composite_params={"epsilon": eps}, target=0,
                  device="cpu").fit(X).explain(X)
        layers = [(m.weight.detach().numpy(), m.bias.detach().numpy())
                  for m in net if isinstance(m, torch.nn.Linear)]
        expected = _epsilon_rule_by_hand(layers, X, np.zeros(len(X), dtype=int), eps)
        assert np.abs(expected).max() > 1e-2
        np.testing.assert_allclose(exp.values, expected, rtol=1e-9, atol=1e-12)
