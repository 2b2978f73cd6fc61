"""The explanation network and its loss, against hand computations."""

import numpy as np
import pytest
import torch
from sklxai_xnn import XNNLoss, XNNModule, pull_away_term
from sklxai_xnn.network import reconstruction_loss


def _pull_away_by_hand(V):
    m = V.shape[1]
    total = 0.0
    for i in range(m):
        for j in range(m):
            if i != j:
                a, b = V[:, i], V[:, j]
                total += (a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) ** 2
    return total / (m * (m - 1))


def test_pull_away_term_matches_a_hand_computation():
    V = np.random.default_rng(0).normal(size=(7, 4))
    got = float(pull_away_term(torch.as_tensor(V)))
    assert got == pytest.approx(_pull_away_by_hand(V), rel=1e-6)
    # its extremes: orthogonal columns, parallel columns; one column has nothing to pull from
    assert float(pull_away_term(torch.eye(3, dtype=torch.float64))) == 0.0
    par = torch.tensor([[1.0, 2.0, -3.0], [2.0, 4.0, -6.0]], dtype=torch.float64)
    assert float(pull_away_term(par)) == pytest.approx(1.0)
    assert float(pull_away_term(torch.ones(5, 1))) == 0.0


def test_loss_is_the_weighted_sum_of_its_terms():
    g = torch.Generator().manual_seed(0)
    xf, Y_hat = torch.rand(6, 3, generator=g), torch.randn(6, 2, generator=g)
    Z_hat, bases = torch.randn(6, 5, generator=g), torch.randn(4, 3, generator=g)
    y_true = torch.randn(6, 7, generator=g)
    loss = XNNLoss(2, "sparse", 0.5, 0.2, 0.3)
    faith = ((Y_hat - y_true[:, :2]) ** 2).mean()
    rec = torch.log1p((Z_hat - y_true[:, 2:]) ** 2).mean()
    expected = faith + 0.5 * rec + 0.2 * xf.abs().mean() + 0.3 * pull_away_term(bases)
    got = loss((xf, Y_hat, Z_hat, bases), y_true)
    assert float(got) == pytest.approx(float(expected), rel=1e-6)
    assert float(reconstruction_loss(Z_hat, y_true[:, 2:], "mse")) == pytest.approx(
        float(((Z_hat - y_true[:, 2:]) ** 2).mean()), rel=1e-6)


def test_module_outputs_and_non_negative_xfeatures():
    torch.manual_seed(0)
    net = XNNModule(n_inputs=10, n_outputs=3, n_xfeatures=4, hidden_size=8)
    xf, y, z, bases = net(torch.randn(5, 10))
    assert xf.shape == (5, 4) and y.shape == (5, 3) and z.shape == (5, 10)
    assert bases.shape == (8, 4) and bool((xf >= 0).all())
    torch.testing.assert_close(y, net.readout(xf))
