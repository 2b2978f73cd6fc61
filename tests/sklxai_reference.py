"""Independent references for the tests: brute-force Shapley values and small games.

A uniquely named module (not ``conftest``) so that plugin test folders, which have their own
``conftest.py``, can never shadow it, whatever order pytest collects the folders in.
"""

import itertools
import math

import numpy as np
import torch


def brute_force_shapley(value, d):
    """Shapley values of a game by the textbook formula, in plain Python.

    ``value(S)`` takes a tuple of feature indices and returns an array of outputs. This shares
    no code with sklxai: it is the independent reference every estimator is tested against.
    """
    cache = {}

    def v(S):
        key = tuple(sorted(S))
        if key not in cache:
            cache[key] = np.asarray(value(key), dtype=np.float64)
        return cache[key]

    phi = [np.zeros_like(v(())) for _ in range(d)]
    for i in range(d):
        others = [j for j in range(d) if j != i]
        for r in range(d):
            w = math.factorial(r) * math.factorial(d - r - 1) / math.factorial(d)
            for S in itertools.combinations(others, r):
                phi[i] = phi[i] + w * (v(S + (i,)) - v(S))
    return np.stack(phi)


def marginal_reference(predict, x, background):
    """Brute-force Shapley values of the marginal game of ``predict`` at row ``x``: (d, k)."""
    x = np.asarray(x, dtype=np.float64)
    d = x.shape[0]

    def value(S):
        Z = np.array(background, dtype=np.float64, copy=True)
        Z[:, list(S)] = x[list(S)]
        out = np.asarray(predict(Z), dtype=np.float64)
        return out.reshape(len(Z), -1).mean(axis=0)

    return brute_force_shapley(value, d)


class TableGame(torch.nn.Module):
    """A torch 'model' that is an arbitrary game: inputs are 0/1 rows, output table[coalition].

    Explained at x = ones with a zero baseline row, its marginal game is exactly ``table``.
    """

    def __init__(self, table):
        super().__init__()
        table = torch.as_tensor(table, dtype=torch.float64)
        if table.dim() == 1:
            table = table[:, None]
        self.register_buffer("table", table)
        d = int(math.log2(table.shape[0]))
        self.register_buffer("powers", 2 ** torch.arange(d))

    def forward(self, X):
        idx = ((X > 0.5).long() * self.powers).sum(dim=1)
        return self.table[idx]


def random_table_game(d, k=2, seed=0):
    """A random game on d players as a table of 2**d rows (v(empty) = 0) and its value(S)."""
    table = np.random.default_rng(seed).normal(size=(2**d, k))
    table[0] = 0.0  # v(empty) = 0: values below are already centred

    def value(S):
        return table[sum(2**j for j in S)]

    return table, value


def table_values(table, masks):
    """v(S) of a table game for bool masks (..., d): float32 tensor (..., k)."""
    codes = (masks.long() << torch.arange(masks.shape[-1])).sum(-1)
    return torch.as_tensor(table, dtype=torch.float32)[codes]


def tanh_classifier_task(n_samples, n_features, n_informative, hidden, seed=0):
    """float32 rows from ``make_classification`` and a seeded, untrained tanh softmax MLP.

    A smooth (n_features -> hidden -> 2) torch model whose Shapley values are non-trivial; the
    amortized explainers' tests train on it and compare with exact values.
    """
    from sklearn.datasets import make_classification

    X, _ = make_classification(n_samples=n_samples, n_features=n_features,
                               n_informative=n_informative, random_state=seed)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(n_features, hidden), torch.nn.Tanh(),
                                torch.nn.Linear(hidden, 2), torch.nn.Softmax(dim=-1))
    return X.astype(np.float32), model
