"""The correction term, the error measure, the param-group helper, and convergence to W W^T = cI."""

import math

import numpy as np
import pytest
import torch
from bort_reference import numpy_delta
from sklxai_bort import (
    BortAdamW,
    BortSGD,
    bort_correction,
    bort_param_groups,
    orthogonality_error,
)


@pytest.mark.parametrize("shape", [(5, 7), (7, 3), (4, 3, 2, 2), (2, 3, 5)])
def test_correction_matches_numpy(rng, shape):
    w = rng.normal(size=shape)
    out = bort_correction(torch.tensor(w), c=0.8)
    assert out.shape == w.shape
    np.testing.assert_allclose(out.numpy(), numpy_delta(w, 0.8), rtol=1e-12, atol=1e-12)


def test_correction_is_gradient_of_penalty(rng):
    w = torch.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    penalty = torch.linalg.matrix_norm(w @ w.T - 1.5 * torch.eye(3, dtype=w.dtype)) ** 2 / 4
    penalty.backward()
    torch.testing.assert_close(bort_correction(w.detach(), c=1.5), w.grad)


def test_orthogonality_error_values(rng):
    q = np.linalg.qr(rng.normal(size=(6, 4)))[0].T  # 4 orthonormal rows of length 6
    assert orthogonality_error(torch.tensor(q)) < 1e-12
    assert orthogonality_error(torch.tensor(q * math.sqrt(2.0)), c=2.0) < 1e-12
    assert orthogonality_error(torch.zeros(3, 5)) == pytest.approx(1.0)
    # 2 I: ||4I - I||_F / ||I||_F = 3
    assert orthogonality_error(2 * torch.eye(3)) == pytest.approx(3.0)
    # the mean over Linear/Conv layers; other layers are ignored
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.zero_()
        model[2].weight.copy_(torch.eye(2, 3))
    assert orthogonality_error(model) == pytest.approx(0.5)


def test_param_groups_split_by_layer_type():
    model = torch.nn.Sequential(
        torch.nn.Embedding(10, 4), torch.nn.Conv1d(4, 4, 3), torch.nn.BatchNorm1d(4),
        torch.nn.Flatten(), torch.nn.Linear(8, 2),
    )
    model.append(model[4])  # a tied layer is listed once
    groups = bort_param_groups(model, gamma=0.5, c=2.0)
    weights = {id(model[1].weight), id(model[4].weight)}
    assert {id(p) for p in groups[0]["params"]} == weights
    assert groups[0]["gamma"] == 0.5 and groups[0]["c"] == 2.0
    assert groups[1]["gamma"] == 0.0
    all_ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(all_ids) == sorted(id(p) for p in model.parameters())
    # omitted keys come from the optimizer
    opt = BortSGD(bort_param_groups(model), lr=0.1, gamma=0.2)
    assert [g["gamma"] for g in opt.param_groups] == [0.2, 0.0]


def test_param_groups_keep_embedding_uncorrected():
    model = torch.nn.Sequential(torch.nn.Embedding(5, 3), torch.nn.Linear(3, 3))
    emb = model[0].weight.detach().clone()
    opt = BortSGD(bort_param_groups(model), lr=0.1, gamma=1.0)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    torch.testing.assert_close(model[0].weight, emb, rtol=0, atol=0)
    assert not torch.equal(model[1].weight, model[1].weight.detach() * 0)


def _bort_only(model, opt, steps):
    """Run ``steps`` optimizer steps with a zero loss gradient: the correction alone."""
    for _ in range(steps):
        opt.zero_grad()
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()


@pytest.mark.parametrize("cls", [BortSGD, BortAdamW])
@pytest.mark.parametrize("layer", [lambda: torch.nn.Linear(16, 4), lambda: torch.nn.Conv2d(2, 4, 3)])
def test_training_drives_error_to_zero(cls, layer):
    torch.manual_seed(0)
    model = layer()
    start = orthogonality_error(model)
    assert start > 0.3
    opt = cls(model.parameters(), lr=0.05, gamma=1.0, weight_decay=0.0)
    _bort_only(model, opt, 200)
    assert orthogonality_error(model) < 1e-4


def test_large_gamma_orthogonalizes_while_fitting():
    torch.manual_seed(0)
    X = torch.randn(128, 16)
    y = X @ torch.randn(16, 4) / 4  # its least-squares weight is not orthogonal
    runs = {}
    for gamma in (0.0, 20.0):
        torch.manual_seed(1)
        model = torch.nn.Linear(16, 4)
        opt = BortAdamW(model.parameters(), lr=0.02, gamma=gamma, weight_decay=0.0)
        for _ in range(200):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(X), y)
            loss.backward()
            opt.step()
        runs[gamma] = orthogonality_error(model), loss.item()
    assert runs[20.0][0] < 0.2 < runs[0.0][0]
    assert runs[20.0][1] < 0.2 * torch.var(y).item()  # and still fits
