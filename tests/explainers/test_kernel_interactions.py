"""KernelInteractions against ExactInteractions (enumeration of every coalition).

ExactInteractions is itself checked against each index's discrete-derivative definition and
shapiq (tests/explainers/test_interactions.py); here the sampling estimator must equal it when
its budget covers every coalition, approach it as the budget grows, and its standard errors
must give intervals that cover its terms at their stated rate.
"""

import math
from itertools import combinations

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from sklxai import ExactInteractions, InteractionExplanation, KernelInteractions
from sklxai.explainers.kernel_interactions import _size_tilt, index_coefficients
from sklxai.games.coalitions import kernel_size_mass

INDICES = ["k-SII", "SII", "STII", "FSII", "BII"]


def _mlp(d, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.Tanh(), torch.nn.Linear(16, 16),
                               torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()


def _data(d, n=40, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def _pairs(values):
    d = values.shape[1]
    i, j = np.triu_indices(d, 1)
    return values[:, i, j]


def _relative_error(estimate, exact):
    a, b = _pairs(estimate), _pairs(exact)
    return float(np.mean(np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)))


@pytest.mark.parametrize("index", INDICES)
@pytest.mark.parametrize("max_order", [1, 2])
def test_equals_exact_interactions_when_every_coalition_is_enumerated(index, max_order):
    d = 6
    X = _data(d)
    model = _mlp(d)
    kw = dict(index=index, max_order=max_order, background=X[:8], device="cpu")
    exact = ExactInteractions(model, **kw).fit(X).explain(X[:5])
    est = KernelInteractions(model, n_coalitions=2**d - 2, random_state=0, **kw).fit(X)
    exp = est.explain(X[:5])
    assert est.n_enumerated_ == 2**d - 2
    np.testing.assert_allclose(exp.values, exact.values, rtol=0, atol=1e-8)
    assert np.isinf(est.std_errors_dof_)
    assert np.all(exp.std_errors < 1e-9)  # exact: only float64 rounding


def test_equals_exact_with_groups_and_several_outputs():
    X = _data(6, n=120)
    clf = LogisticRegression().fit(X, (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
                                   + (X[:, 3] > 0.5))
    groups = {"a": [0, 1], "b": [2], "c": [3, 4], "d": [5]}
    kw = dict(feature_groups=groups, background=X[:10], device="cpu")
    exact = ExactInteractions(clf, **kw).fit(X).explain(X[:4])
    exp = KernelInteractions(clf, n_coalitions=100, **kw).fit(X).explain(X[:4])
    assert exp.values.shape == (4, 4, 4, 3) == exp.std_errors.shape
    np.testing.assert_allclose(exp.values, exact.values, rtol=0, atol=1e-8)


@pytest.mark.parametrize("index", ["k-SII", "SII", "STII", "BII"])
def test_coefficients_give_the_index_of_a_random_game(index):
    # sum_T c_S(T) v(T) over every coalition equals ExactInteractions' index computation
    from sklxai.explainers.interaction_indices import interaction_sets, interaction_values

    d = 5
    v = np.random.default_rng(1).normal(size=2**d)
    v[0] = 0.0
    masks = (np.arange(2**d)[:, None] >> np.arange(d)) & 1
    sets = interaction_sets(d, 2)
    expected = interaction_values(torch.as_tensor(v)[None, :, None], index, 2)[0, :, 0]
    for col, s in enumerate(sets):
        overlap = masks[:, list(s)].sum(axis=1)
        c = index_coefficients(index, d, 2, np.full(2**d, len(s)), masks.sum(axis=1), overlap)
        assert abs(c @ v - float(expected[col])) < 1e-12


@pytest.mark.parametrize("kind", ["mlp", "gbdt"])
def test_error_shrinks_with_the_budget(kind):
    d = 10 if kind == "mlp" else 8
    X = _data(d, n=300)
    if kind == "mlp":
        model = _mlp(d)
    else:
        y = X[:, 0] * X[:, 1] + np.sin(X[:, 2]) * X[:, 3] + X[:, 4]
        model = GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0).fit(X, y)
    kw = dict(background=X[:10], device="cpu")
    rows = X[20:24]
    exact = ExactInteractions(model, **kw).fit(X).explain(rows)
    budgets = [64, 128, 200] if kind == "gbdt" else [128, 256, 768]
    errors = [np.mean([_relative_error(
        KernelInteractions(model, n_coalitions=b, random_state=s, **kw).fit(X).explain(rows)
        .values, exact.values) for s in range(3)]) for b in budgets]
    assert errors[0] > errors[1] > errors[2] > 0
    assert errors[2] < 0.6 * errors[0]


class _TableGame(torch.nn.Module):
    """A game given by its table of coalition values: rows of 0/1 (a coalition, as the
    baseline game's masked rows are for x = 1 against a background of zeros) -> the table's
    value: a random pairwise polynomial plus independent noise on every coalition."""

    def __init__(self, d, seed):
        super().__init__()
        rng = np.random.default_rng(seed)
        masks = (np.arange(2**d)[:, None] >> np.arange(d)) & 1
        pairs = np.triu(rng.normal(size=(d, d)), 1)
        v = masks @ rng.normal(size=d) + np.einsum("mi,ij,mj->m", masks, pairs, masks)
        self.table = torch.nn.Parameter(torch.as_tensor(v + rng.normal(size=2**d)),
                                        requires_grad=False)
        self.register_buffer("bits", torch.as_tensor(2 ** np.arange(d)))

    def forward(self, X):
        return self.table[(X.round().long() * self.bits).sum(dim=1)][:, None]


@pytest.mark.parametrize("index", ["k-SII", "FSII"])
def test_95_percent_intervals_cover_about_95_percent(index):
    d, hits = 10, []
    x = np.ones((1, d))
    for seed in range(24):  # 24 games and draws x 55 terms: 1,320 intervals
        game = _TableGame(d, seed).double()
        kw = dict(index=index, background=np.zeros((1, d)), device="cpu")
        exact = ExactInteractions(game, **kw).fit(x).explain(x)
        est = KernelInteractions(game, n_coalitions=500, random_state=seed, **kw).fit(x)
        exp = est.explain(x)
        t = stats.t.ppf(0.975, est.std_errors_dof_)
        i, j = np.triu_indices(d)  # each player's own term and each pair's once
        hits.append(np.abs(exp.values - exact.values)[0, i, j] <= t * exp.std_errors[0, i, j])
    hits = np.concatenate(hits)
    assert hits.size >= 1000
    assert 0.90 <= hits.mean() <= 0.99



def test_intervals_cover_with_a_third_order_surrogate():
    # enough draws for the third-order surrogate (2 per term): its leverage, not its term
    # count, sets the degrees of freedom, so the intervals neither shrink nor swell
    d, hits = 12, []
    x = np.ones((1, d))
    for seed in range(13):  # 13 games and draws x 78 terms: 1,014 intervals
        game = _TableGame(d, seed).double()
        kw = {"background": np.zeros((1, d)), "device": "cpu"}
        exact = ExactInteractions(game, **kw).fit(x).explain(x)
        est = KernelInteractions(game, n_coalitions=2048, random_state=seed, **kw).fit(x)
        assert est.surrogate_order_ == 3
        exp = est.explain(x)
        t = stats.t.ppf(0.975, est.std_errors_dof_)
        i, j = np.triu_indices(d)
        hits.append(np.abs(exp.values - exact.values)[0, i, j] <= t * exp.std_errors[0, i, j])
    hits = np.concatenate(hits)
    assert hits.size >= 1000
    assert 0.90 <= hits.mean() <= 0.99


class _Cubic(torch.nn.Module):
    """A polynomial with terms of one, two and three players: its game (x against a zero
    background) has Moebius terms up to order three only."""

    def __init__(self, d, seed):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.a = torch.nn.Parameter(torch.as_tensor(rng.normal(size=d)), requires_grad=False)
        self.register_buffer("b", torch.as_tensor(np.triu(rng.normal(size=(d, d)), 1)))
        i, j, k = np.indices((d, d, d))
        c = np.where((i < j) & (j < k), rng.normal(size=(d, d, d)), 0.0)
        self.register_buffer("c", torch.as_tensor(c))

    def forward(self, X):
        return (X @ self.a + torch.einsum("ni,ij,nj->n", X, self.b, X)
                + torch.einsum("ni,ijk,nj,nk->n", X, self.c, X, X))[:, None]


@pytest.mark.parametrize("index", INDICES)
def test_third_order_surrogate_is_exact_on_a_third_order_game(index):
    # the fitted surrogate is the game itself, so every index follows from it exactly: FSII
    # by the exact projection of its terms, the others by their Moebius weights
    d = 12
    x, kw = np.ones((1, d)), {"index": index, "background": np.zeros((1, d)), "device": "cpu"}
    exact = ExactInteractions(_Cubic(d, 0).double(), **kw).fit(x).explain(x)
    est = KernelInteractions(_Cubic(d, 0).double(), n_coalitions=2048, random_state=0,
                             **kw).fit(x)
    assert est.surrogate_order_ == 3 and est.n_enumerated_ < 2**d - 2
    np.testing.assert_allclose(est.explain(x).values, exact.values, rtol=0, atol=1e-9)

def test_std_errors_are_in_the_values_layout_and_survive_slicing_and_saving(tmp_path):
    d = 9
    X = _data(d)
    exp = KernelInteractions(_mlp(d), n_coalitions=300, background=X[:5], random_state=0,
                             device="cpu").fit(X).explain(X[:3])
    se = exp.std_errors
    assert se.shape == exp.values.shape
    np.testing.assert_array_equal(se, np.swapaxes(se, 1, 2))  # a pair's two cells
    assert np.all(se > 0)
    exp.save(tmp_path / "e.npz")
    back = InteractionExplanation.load(tmp_path / "e.npz")
    np.testing.assert_array_equal(back.std_errors, se)
    np.testing.assert_array_equal(exp[1:].std_errors, se[1:])
    np.testing.assert_array_equal(InteractionExplanation.concat([exp[:1], exp[1:]]).std_errors,
                                  se)


def test_efficient_indices_add_up_to_the_output():
    d = 12
    X = _data(d)
    for index in ["k-SII", "STII", "FSII"]:
        exp = KernelInteractions(_mlp(d), index=index, n_coalitions=300, background=X[:5],
                                 random_state=0, device="cpu").fit(X).explain(X[:3])
        assert exp.efficiency_gap < 1e-10


def test_refuses_orders_above_two():
    X = _data(4)
    with pytest.raises(ValueError, match="max_order must be one of"):
        KernelInteractions(_mlp(4), max_order=3, background=X[:5]).fit(X)


def test_sampled_coalitions_are_distinct_and_keep_the_kernel_mass():
    d, budget = 12, 500
    X = _data(d)
    est = KernelInteractions(_mlp(d), n_coalitions=budget, background=X[:4], random_state=0,
                             device="cpu").fit(X)
    keys = est.coalitions_ @ (2 ** np.arange(d))
    assert len(np.unique(keys)) == len(keys) == budget  # every model call a new coalition
    sizes = est.coalitions_.sum(axis=1)
    assert sizes.min() >= 1 and sizes.max() < d
    # drawn size by size without replacement: every size keeps its Shapley-kernel mass
    for s in range(1, d):
        np.testing.assert_allclose(est.weights_[sizes == s].sum(), (d - 1) / (s * (d - s)),
                                   rtol=1e-12)
    # each sampled coalition comes with its complement (paired), as one unit
    sampled = est.coalitions_[est.n_enumerated_:]
    units = len(sampled) // 2
    np.testing.assert_array_equal(sampled[units:], ~sampled[:units])
    strata = len(np.unique(np.minimum(sizes, d - sizes)[est.n_enumerated_:]))
    # the residual degrees of freedom: the units less the fit's leverage on the sampled
    # coalitions (the constrained hat matrix's diagonal, from a basis of the constraint's
    # null space) and the strata's means
    sets = [s for k in (1, 2) for s in combinations(range(d), k)]
    Z = np.stack([est.coalitions_[:, list(s)].all(axis=1) for s in sets], axis=1).astype(float)
    null = np.linalg.svd(np.ones((1, len(sets))))[2][1:].T  # directions keeping sum(beta)
    root = np.sqrt(est.weights_)[:, None] * Z @ null
    hat = np.einsum("mi,ij,mj->m", root, np.linalg.inv(root.T @ root), root)
    leverage = hat[est.n_enumerated_:].sum()
    assert 0 < leverage < len(sets) - 1
    np.testing.assert_allclose(est.std_errors_dof_, units - leverage - (strata - 1),
                               rtol=1e-9)


def _leverage_shares(d, order):
    """Each size's share of the leverage scores mu(T) z_T' A^-1 z_T of the order-``order``
    Shapley-kernel regression, every coalition enumerated (A = Z' diag(mu) Z)."""
    masks = ((np.arange(1, 2**d - 1)[:, None] >> np.arange(d)) & 1).astype(bool)
    sets = [s for k in range(1, order + 1) for s in combinations(range(d), k)]
    Z = np.stack([masks[:, list(s)].all(axis=1) for s in sets], axis=1).astype(float)
    t = masks.sum(axis=1)
    mu = (d - 1) / (np.array([math.comb(d, int(s)) for s in t]) * t * (d - t))
    A = Z.T @ (mu[:, None] * Z)
    leverage = mu * np.einsum("mi,ij,mj->m", Z, np.linalg.inv(A), Z)
    shares = np.bincount(t, weights=leverage, minlength=d)[1:]
    return shares / shares.sum()


@pytest.mark.parametrize("order", [1, 2, 3])
def test_fsii_size_tilt_follows_the_leverage_scores_of_its_regression(order):
    # FSII's draws per size: kernel mass x (s (d - s)) ** order, within 5% of the exact
    # leverage scores' shares in total variation (measured 4.6%, 3.4%, 3.8% at d = 10);
    # k-SII's tilt (exponent 1/2) is far from them at orders 2 and 3 (19%, 29%)
    d = 10
    sizes = np.arange(1, d)
    leverage = _leverage_shares(d, order)

    def distance(exponent):
        shares = kernel_size_mass(d) * _size_tilt(d, sizes, exponent)
        return 0.5 * np.abs(shares / shares.sum() - leverage).sum()

    assert distance(order) < 0.05
    if order > 1:
        assert distance(0.5) > 0.15


def test_fsii_draws_more_middle_sizes_than_k_sii():
    d = 12
    X = _data(d)
    counts = {}
    for index in ["k-SII", "FSII"]:
        est = KernelInteractions(_mlp(d), index=index, n_coalitions=500, background=X[:4],
                                 random_state=0, device="cpu").fit(X)
        sizes = est.coalitions_[est.n_enumerated_:].sum(axis=1)
        counts[index] = np.bincount(np.minimum(sizes, d - sizes), minlength=d // 2 + 1)
        assert counts[index].sum() == 500 - est.n_enumerated_
    # the order-2 leverage scores put more units on size 6 (and its pair), fewer on the outer
    # sampled sizes
    assert counts["FSII"][6] > counts["k-SII"][6]
    sampled = np.flatnonzero(counts["k-SII"])
    assert counts["FSII"][sampled[0]] < counts["k-SII"][sampled[0]]


class _PairsAndSize(torch.nn.Module):
    """A game of pairs plus a function of the coalition's size: x = 1 against a zero
    background makes each masked row a coalition T, and the output is
    sum_i a_i T_i + sum_{i<j} b_ij T_i T_j + h(|T|)."""

    def __init__(self, d, h, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.a = torch.nn.Parameter(torch.as_tensor(rng.normal(size=d)), requires_grad=False)
        self.register_buffer("b", torch.as_tensor(np.triu(rng.normal(size=(d, d)), 1)))
        self.register_buffer("h", torch.as_tensor(h))

    def forward(self, X):
        size = X.sum(dim=1).round().long()
        return (X @ self.a + torch.einsum("ni,ij,nj->n", X, self.b, X) + self.h[size])[:, None]


def test_fsii_is_exact_on_pairs_plus_a_function_of_the_sampled_sizes():
    # FSII's surrogate holds an indicator of each sampled size, so a game of pairs plus any
    # h(|T|) on those sizes is fitted exactly from 500 of the 4,094 coalitions; its terms are
    # then the exact FSII (ExactInteractions on every coalition), though h is no sum of pairs
    d = 12
    x, kw = np.ones((1, d)), {"index": "FSII", "background": np.zeros((1, d)), "device": "cpu"}
    probe = KernelInteractions(_PairsAndSize(d, np.zeros(d + 1)).double(), n_coalitions=500,
                               random_state=0, **kw).fit(x)
    sizes = probe.coalitions_[probe.n_enumerated_:].sum(axis=1)
    h = np.zeros(d + 1)
    for s in np.unique(sizes):  # each sampled size: two coalitions or more, not all of them
        assert 2 <= (sizes == s).sum() < math.comb(d, int(s))
        h[s] = np.random.default_rng(int(s)).normal(scale=3.0)
    game = _PairsAndSize(d, h).double()
    exact = ExactInteractions(game, **kw).fit(x).explain(x)
    est = KernelInteractions(game, n_coalitions=500, random_state=0, **kw).fit(x)
    assert est.surrogate_order_ == 2 and est.n_enumerated_ < 2**d - 2
    np.testing.assert_array_equal(est.coalitions_, probe.coalitions_)
    np.testing.assert_allclose(est.explain(x).values, exact.values, rtol=0, atol=1e-9)
    # the pairs alone are not the game: their FSII differs from h's share by far more
    pairs_only = ExactInteractions(_PairsAndSize(d, np.zeros(d + 1)).double(), **kw).fit(
        x).explain(x)
    assert np.abs(pairs_only.values - exact.values).max() > 1e-3
