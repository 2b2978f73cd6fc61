"""BortSGD / BortAdamW steps against the documented formulas, computed independently in numpy."""

import numpy as np
import pytest
import torch
from bort_reference import leaf, numpy_delta
from sklxai_bort import BortAdamW, BortSGD

SHAPES = [(5, 7), (7, 3), (4, 3, 2, 2)]  # wide, tall (other product order), conv weight


@pytest.mark.parametrize("shape", SHAPES)
def test_sgd_step_with_zero_gradient(rng, shape):
    w0 = rng.normal(size=shape)
    p = leaf(w0)
    p.grad = torch.zeros_like(p)
    lr, gamma, c = 0.1, 0.5, 1.3
    BortSGD([p], lr=lr, gamma=gamma, c=c).step()
    expected = w0 - lr * gamma * numpy_delta(w0, c)
    np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_sgd_step_with_gradient_keeps_grad(rng):
    w0, g = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    p = leaf(w0)
    p.grad = torch.tensor(g)
    BortSGD([p], lr=0.05, gamma=2.0).step()
    expected = w0 - 0.05 * (g + 2.0 * numpy_delta(w0, 1.0))
    np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    # the user's gradient is the loss gradient, not the corrected one
    np.testing.assert_array_equal(p.grad.numpy(), g)


def test_sgd_maximize_still_minimizes_penalty(rng):
    w0, g = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    p = leaf(w0)
    p.grad = torch.tensor(g)
    BortSGD([p], lr=0.1, gamma=0.5, maximize=True).step()
    expected = w0 + 0.1 * g - 0.1 * 0.5 * numpy_delta(w0, 1.0)
    np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_sgd_momentum_sees_correction(rng):
    w0 = rng.normal(size=(3, 4))
    p = leaf(w0)
    opt = BortSGD([p], lr=0.1, momentum=0.9, gamma=1.0)
    for _ in range(2):
        p.grad = torch.zeros_like(p)
        opt.step()
    v1 = numpy_delta(w0, 1.0)
    w1 = w0 - 0.1 * v1
    v2 = 0.9 * v1 + numpy_delta(w1, 1.0)
    np.testing.assert_allclose(p.detach().numpy(), w1 - 0.1 * v2, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_adamw_step_with_zero_gradient(rng, shape):
    w0 = rng.normal(size=shape)
    p = leaf(w0)
    p.grad = torch.zeros_like(p)
    lr, gamma, c, wd = 0.1, 0.5, 0.7, 0.01
    BortAdamW([p], lr=lr, gamma=gamma, c=c, weight_decay=wd).step()
    expected = (1 - lr * wd) * (w0 - lr * gamma * numpy_delta(w0, c))
    np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_adamw_correction_is_decoupled_from_moments(rng):
    w0, g = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    p = leaf(w0)
    p.grad = torch.tensor(g)
    lr, gamma, wd, eps = 0.01, 3.0, 0.1, 1e-8
    opt = BortAdamW([p], lr=lr, gamma=gamma, weight_decay=wd, eps=eps)
    opt.step()
    # first Adam step: m_hat = g, v_hat = g**2
    adam = g / (np.abs(g) + eps)
    expected = (1 - lr * wd) * (w0 - lr * gamma * numpy_delta(w0, 1.0)) - lr * adam
    np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(opt.state[p]["exp_avg"].numpy(), 0.1 * g, rtol=1e-12)
    np.testing.assert_array_equal(p.grad.numpy(), g)


@pytest.mark.parametrize("cls", [BortSGD, BortAdamW])
def test_gamma_zero_is_the_base_optimizer(rng, cls):
    base = {BortSGD: torch.optim.SGD, BortAdamW: torch.optim.AdamW}[cls]
    w0, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    p, q = leaf(w0), leaf(w0)
    p.grad, q.grad = torch.tensor(g), torch.tensor(g)
    cls([p], lr=0.1, gamma=0.0).step()
    base([q], lr=0.1).step()
    torch.testing.assert_close(p, q, rtol=0, atol=0)


@pytest.mark.parametrize("cls", [BortSGD, BortAdamW])
def test_biases_and_1d_params_untouched(rng, cls):
    model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.BatchNorm1d(4)).double()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = cls(model.parameters(), lr=0.1, gamma=5.0, weight_decay=0.0)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for name, p in model.named_parameters():
        changed = not torch.equal(p, before[name])
        assert changed == (name == "0.weight"), name


@pytest.mark.parametrize("cls", [BortSGD, BortAdamW])
def test_params_without_grad_are_skipped(cls):
    layer = torch.nn.Linear(3, 2)
    before = layer.weight.detach().clone()
    cls(layer.parameters(), lr=0.1, gamma=5.0).step()
    torch.testing.assert_close(layer.weight, before, rtol=0, atol=0)


@pytest.mark.parametrize("cls", [BortSGD, BortAdamW])
def test_closure_runs_before_correction(rng, cls):
    x = torch.tensor(rng.normal(size=(8, 5)))
    w0 = rng.normal(size=(3, 5))

    def run(use_closure):
        p = leaf(w0)
        opt = cls([p], lr=0.1, gamma=1.0)

        def closure():
            opt.zero_grad()
            loss = (x @ p.T).pow(2).mean()
            loss.backward()
            return loss

        if use_closure:
            loss = opt.step(closure)
        else:
            loss = closure()
            opt.step()
        return p.detach(), loss.detach()

    torch.testing.assert_close(run(True), run(False), rtol=0, atol=0)


@pytest.mark.parametrize("cls", [BortSGD, BortAdamW])
def test_step_hooks_run_once(cls):
    # a plain instance of the base class makes torch wrap the base step with its hook runner
    torch.optim.SGD([torch.zeros(1, requires_grad=True)])
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])
    p = torch.nn.Parameter(torch.randn(3, 3))
    p.grad = torch.zeros_like(p)
    opt = cls([p], lr=0.1)
    calls = []
    opt.register_step_pre_hook(lambda *a: calls.append("pre"))
    opt.register_step_post_hook(lambda *a: calls.append("post"))
    opt.step()
    assert calls == ["pre", "post"]


def test_per_group_gamma_and_c(rng):
    w0 = rng.normal(size=(2, 2, 3))
    p, q = leaf(w0[0]), leaf(w0[1])
    p.grad, q.grad = torch.zeros_like(p), torch.zeros_like(q)
    opt = BortSGD([{"params": [p], "c": 2.0}, {"params": [q], "gamma": 0.0}], lr=0.1, gamma=0.3)
    assert [g["gamma"] for g in opt.param_groups] == [0.3, 0.0]
    assert [g["c"] for g in opt.param_groups] == [2.0, 1.0]
    opt.step()
    expected = w0[0] - 0.1 * 0.3 * numpy_delta(w0[0], 2.0)
    np.testing.assert_allclose(p.detach().numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(q.detach().numpy(), w0[1])
