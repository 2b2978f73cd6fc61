"""ExactInteractions on a game that draws reports the standard errors of the game's draws:
its map from coalition values to terms against brute force, and the standard errors against
the spread of independent runs."""

import numpy as np
import pytest
import torch

from sklxai import ExactInteractions
from sklxai.explainers.interaction_indices import (
    INDICES,
    interaction_sets,
    interaction_values,
)
from sklxai.explainers.interactions import term_weights
from sklxai.games import GaussianGame

CORR = np.array([[1.0, 0.8, 0.3, 0.0],
                 [0.8, 1.0, 0.5, 0.0],
                 [0.3, 0.5, 1.0, 0.2],
                 [0.0, 0.0, 0.2, 1.0]])


@pytest.mark.parametrize("index", INDICES)
def test_term_weights_are_the_map_of_interaction_values(index):
    """Each coalition's weight in each term equals the terms of a game that is 1 at that
    coalition and 0 elsewhere (interaction_values on the identity)."""
    for d in (1, 2, 3, 4):
        for order in (1, 2, 3):
            sets = interaction_sets(d, order)
            weights = term_weights(index, d, order, sets)
            identity = torch.eye(2**d, dtype=torch.float64)[:, :, None]
            identity[:, 0] = 0.0  # v(empty) - v(empty)
            brute = interaction_values(identity, index, order)[:, :, 0]
            np.testing.assert_allclose(weights[1:], brute[1:], atol=1e-12)


@pytest.mark.parametrize("index", ["k-SII", "FSII"])
def test_standard_errors_match_the_spread_of_independent_runs(index):
    """25 runs that differ only in the game's seed (independent draws, v(empty)'s too): the
    variance of each term across them against the mean reported variance."""
    rng = np.random.default_rng(0)
    X = rng.multivariate_normal(np.zeros(4), CORR, size=1000)
    w = np.array([1.0, -2.0, 0.5, 1.5])

    class Model(torch.nn.Module):  # a product adds an interaction the linear part does not
        def forward(self, x):
            return x @ torch.as_tensor(w, dtype=x.dtype)[:, None] + x[:, :1] * x[:, 2:3]

    rows = X[:3]
    runs, errors = [], []
    for seed in range(25):
        est = ExactInteractions(Model(), index=index, game=GaussianGame(n_samples=20),
                                random_state=seed, device="cpu").fit(X)
        exp = est.explain(rows)
        runs.append(est.transform(rows))
        errors.append(exp.std_errors)
    assert est.std_errors_dof_ == 19
    assert errors[0].shape == np.shape(exp.values)
    spread = np.var(runs, axis=0, ddof=1)  # (3, terms) over the runs
    # the reported errors in the values' layout: a pair's cells hold half of its term's
    terms = np.mean([_terms(e, est.interactions_) for e in errors], axis=0) ** 2
    ratio = spread.sum() / terms.sum()
    assert 0.7 < ratio < 1.4, ratio
    per_term = spread.sum(axis=0) / terms.sum(axis=0)
    assert np.all((per_term > 0.3) & (per_term < 2.5)), per_term


def _terms(layout, sets):
    """Standard errors per term from the (n, d, d) layout (a pair's cell holds half)."""
    return np.stack([layout[:, s[0], s[0]] if len(s) == 1 else 2 * layout[:, s[0], s[1]]
                     for s in sets], axis=1)
