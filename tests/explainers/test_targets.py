"""Stored training statistics: accumulated SimSHAP targets and FastSHAP's expanded loss."""

import math

import numpy as np
import pytest
import torch
from sklxai_reference import (
    brute_force_shapley,
    random_table_game,
    table_values,
    tanh_classifier_task,
)

from sklxai import FastSHAP, SimSHAP
from sklxai.explainers._targets import CoalitionStats, simshap_weights
from sklxai.explainers._trainer import AmortizedTrainer, kernel_design


def _draw(design, table, n, gen):
    masks, weights = design.draw(n, generator=gen, device=torch.device("cpu"))
    total = torch.as_tensor(table[-1], dtype=torch.float32).expand(n, -1)
    return masks, weights, table_values(table, masks), total


@pytest.mark.parametrize("control", [False, True])
def test_accumulated_draws_stay_unbiased_with_variance_divided_by_their_number(control):
    d, n_rows, n_draws = 6, 3000, 8
    table, value = random_table_game(d, seed=2)
    ref = brute_force_shapley(value, d)
    design = kernel_design(d, 16)
    gen = torch.Generator().manual_seed(0)
    c = None
    if control:
        c = torch.randn(1, d, 2, generator=gen).expand(n_rows, -1, -1).clone()
    store = CoalitionStats.zeros(n_rows, d, 2, "cpu")
    rows = torch.arange(n_rows)
    singles = []
    for _ in range(n_draws):
        one = CoalitionStats.from_draw(*_draw(design, table, n_rows, gen))
        singles.append(one.simshap_targets(control=c))
        store.add(rows, one)
    assert torch.equal(store.count, torch.full((n_rows,), float(n_draws)))
    acc = store.simshap_targets(control=c)
    # the stored target is the average of the draws' own targets (the estimator is linear)
    torch.testing.assert_close(acc, torch.stack(singles).mean(0), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(acc.sum(1).numpy(), np.broadcast_to(table[-1], (n_rows, 2)),
                               atol=1e-4)
    mean, sem = acc.mean(0).numpy(), acc.std(0).numpy() / math.sqrt(n_rows)
    assert np.all(np.abs(mean - ref) < 5 * sem + 1e-4)
    ratio = singles[0].var(0) / acc.var(0)  # about n_draws (independent draws)
    assert 0.7 * n_draws < float(ratio.median()) < 1.4 * n_draws


def test_kernel_loss_is_the_weighted_squared_residual():
    d, n = 5, 40
    table, _ = random_table_game(d, seed=3)
    gen = torch.Generator().manual_seed(1)
    design = kernel_design(d, 12)
    store = CoalitionStats.zeros(n, d, 2, "cpu")
    draws = [_draw(design, table, n, gen) for _ in range(3)]
    for draw in draws:
        store.add(torch.arange(n), CoalitionStats.from_draw(*draw))
    phi = torch.randn(n, d, 2, generator=gen)
    direct = 0.0
    for masks, weights, values, _ in draws:  # the loss written out, per draw
        covered = np.einsum("nmd,ndk->nmk", masks.numpy().astype(float), phi.numpy())
        w = np.broadcast_to(weights.numpy(), masks.shape[:2])  # per row with "sqrt" sizes
        direct += np.einsum("nm,nmk->", w, (values.numpy() - covered) ** 2)
    direct /= 3 * n * 2
    assert float(store.kernel_loss(phi)) == pytest.approx(direct, rel=1e-5)
    grad_phi = phi.clone().requires_grad_(True)
    store.kernel_loss(grad_phi).backward()
    assert grad_phi.grad is not None and torch.isfinite(grad_phi.grad).all()


def test_simshap_weights_are_g_times_d_m_minus_size():
    masks = torch.tensor([[True, False, True, False], [False, False, False, True]])
    g = sum(3 / (s * (4 - s)) for s in range(1, 4)) / 3
    expected = g * (4 * masks.float() - masks.sum(1, keepdim=True).float())
    torch.testing.assert_close(simshap_weights(masks), expected)


def test_nbytes_matches_the_allocated_store():
    store = CoalitionStats.zeros(7, 5, 3, "cpu")
    allocated = sum(getattr(store, f).numel() * 4 for f in ("C", "b", "h", "e", "q", "count",
                                                             "total"))
    assert CoalitionStats.nbytes(7, 5, 3) == allocated


@pytest.fixture(scope="module")
def task():
    X, model = tanh_classifier_task(600, 5, 3, hidden=16)
    return model, X


FAST = {"hidden_sizes": (32,), "max_epochs": 4, "n_coalitions": 16, "train_batch_size": 64,
        "min_epoch_rows": 1, "augment": None,  # one pass over fit's rows per epoch: they count
        "n_background": 10, "device": "cpu", "random_state": 0}


@pytest.mark.parametrize("cls", [SimSHAP, FastSHAP])
def test_refresh_every_draws_again_only_on_schedule(cls, task, monkeypatch):
    model, X = task
    drawn = []
    original = AmortizedTrainer.draw

    def counting(self, rows, *args, **kwargs):
        drawn.append(len(rows))
        return original(self, rows, *args, **kwargs)

    monkeypatch.setattr(AmortizedTrainer, "draw", counting)
    n_valid = round(0.1 * len(X))
    n_train = len(X) - n_valid
    est = cls(model, refresh_every=2, **FAST).fit(X)
    k = est.net_.valid_draws  # a validation row's draws ("auto": 2048 // n_valid of them)
    assert k == 2048 // n_valid
    # epoch 0 draws every training row once and every validation row k times; epochs 1..3
    # redraw the training rows with (i + epoch) even: half of them in each
    assert sum(drawn) == pytest.approx(n_train + k * n_valid + 3 * n_train / 2, abs=3 * 2)
    drawn.clear()
    est = cls(model, refresh_every=None, **FAST).fit(X)
    assert est.refresh_every_ is None
    # nothing stored: every training batch draws, and every validation pass draws k times
    assert sum(drawn) == 4 * (n_train + k * n_valid)
    assert cls(model, **FAST).fit(X).refresh_every_ == 8  # "auto" on the CPU


def test_refresh_every_is_validated(task):
    model, X = task
    with pytest.raises(ValueError, match="refresh_every"):
        SimSHAP(model, refresh_every=0, **FAST).fit(X)
    with pytest.raises((ValueError, TypeError), match="refresh_every"):
        SimSHAP(model, refresh_every="sometimes", **FAST).fit(X)


def test_fitted_explainer_keeps_no_training_store(task):
    import pickle

    model, X = task
    est = SimSHAP(model, **FAST).fit(X)
    assert getattr(est, "_cache", None) is None and getattr(est, "_fit_X", None) is None
    assert len(pickle.dumps(est)) < 2e6
