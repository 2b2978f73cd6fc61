"""LeverageSHAP and RegressionMSR against brute-force Shapley values of table games."""

import math

import numpy as np
import pytest
from sklxai_reference import TableGame, brute_force_shapley, random_table_game

import sklxai
from sklxai import LeverageSHAP, RegressionMSR
from sklxai.games.coalitions import LeverageDesign

ESTIMATORS = {
    "leverage": lambda model, **kw: LeverageSHAP(model, device="cpu", verbose=0, **kw),
    "msr": lambda model, **kw: RegressionMSR(model, device="cpu", verbose=0, n_trees=8, **kw),
}


def _explain(name, d, seed, **params):
    table, value = random_table_game(d, k=2, seed=seed)
    est = ESTIMATORS[name](TableGame(table), background=np.zeros((1, d)), random_state=0,
                           **params).fit(np.zeros((3, d)))
    return est, est.explain(np.ones((2, d))), np.stack(brute_force_shapley(value, d))


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("paired", [True, False])
def test_exact_when_the_budget_covers_every_coalition(name, paired):
    est, exp, ref = _explain(name, 6, seed=1, n_coalitions=2**6 - 2, paired=paired)
    np.testing.assert_allclose(exp.values[0], ref, atol=1e-10)
    np.testing.assert_array_equal(exp.std_errors, 0.0)
    assert est.std_errors_dof_ == math.inf


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_sampled_values_are_efficient_and_near_brute_force(name):
    # a smooth game: an additive part plus a pairwise interaction, sampled at half its budget
    d = 8
    rng = np.random.default_rng(3)
    masks = ((np.arange(2**d)[:, None] >> np.arange(d)) & 1).astype(float)
    table = masks @ rng.normal(size=(d, 2)) + 0.5 * (masks[:, :1] * masks[:, 1:2])

    def value(S):
        return table[sum(2**j for j in S)]

    ref = np.stack(brute_force_shapley(value, d))
    est = ESTIMATORS[name](TableGame(table), background=np.zeros((1, d)), n_coalitions=120,
                           random_state=0).fit(np.zeros((3, d)))
    exp = est.explain(np.ones((2, d)))
    np.testing.assert_allclose(exp.values.sum(axis=1), exp.output - exp.base_values,
                               atol=1e-12)
    assert np.abs(exp.values[0] - ref).max() < 0.05
    assert exp.std_errors.shape == exp.values.shape
    assert np.isfinite(exp.std_errors).all()


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_random_game_values_efficient_with_standard_errors(name):
    est, exp, ref = _explain(name, 7, seed=2, n_coalitions=60)
    np.testing.assert_allclose(exp.values.sum(axis=1), exp.output - exp.base_values,
                               atol=1e-12)
    assert (exp.std_errors > 0).any()
    assert 0 < est.std_errors_dof_ < math.inf


def test_leverage_design_draws_uniform_sizes_with_leverage_weights():
    # leverage scores proportional to 1 / C(d, s): a uniform size, then a uniform coalition
    design = LeverageDesign(14, 8000, paired=True)  # fewer than the 2**14 - 2 coalitions
    masks, weights = design.draw(generator=np.random.default_rng(0))
    half = len(masks) // 2
    np.testing.assert_array_equal(masks[half:], ~masks[:half])
    sizes = masks[:half].sum(axis=1)
    assert 1 <= sizes.min() and sizes.max() <= 13
    share = np.bincount(sizes, minlength=14)[1:] / half
    np.testing.assert_allclose(share, 1 / 13, atol=0.02)  # 4000 draws: sd 0.004
    # within a size, every coalition equally likely: each player in s/d of them
    in_seven = masks[:half][sizes == 7].mean(axis=0)
    np.testing.assert_allclose(in_seven, 0.5, atol=0.08)
    # weights: kernel weight over probability, proportional to 1 / (s (d - s))
    all_sizes = masks.sum(axis=1)
    ratio = weights * all_sizes * (14 - all_sizes)
    np.testing.assert_allclose(ratio, ratio[0])


def test_registered_by_name():
    assert sklxai.get_explainer("leverageshap") is LeverageSHAP
    assert sklxai.get_explainer("msr") is RegressionMSR


@pytest.mark.parametrize("params, error, match", [
    ({"n_coalitions": 1}, ValueError, "n_coalitions must be >= 2"),
    ({"paired": "yes"}, TypeError, "paired must be True or False"),
])
@pytest.mark.parametrize("cls", [LeverageSHAP, RegressionMSR])
def test_fit_refuses_bad_parameters_naming_them(cls, params, error, match):
    from sklearn.linear_model import LinearRegression

    X = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.raises(error, match=match):
        cls(LinearRegression().fit(X, X[:, 0]), **params).fit(X)


def test_msr_refuses_bad_tree_settings():
    from sklearn.linear_model import LinearRegression

    X = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.raises(ValueError, match="max_depth must be >= 1"):
        RegressionMSR(LinearRegression().fit(X, X[:, 0]), max_depth=0).fit(X)


@pytest.mark.parametrize("d, budget, method", [
    (1, 2048, "kernel"), (6, 62, "kernel"), (12, 8192, "kernel"), (12, 512, "msr"),
    (30, 2048, "msr"), (30, 512, "msr"), (64, 2048, "msr"), (64, 8192, "msr"),
    (64, 512, "msr"), (64, 511, "leverage"), (64, 256, "leverage"), (30, 240, "msr"),
])
def test_sampler_auto_rule(d, budget, method):
    from sklxai.explainers.sampler import choose_method

    assert choose_method(d, budget) == method


@pytest.mark.parametrize("method, cls", [("kernel", "KernelSHAP"), ("leverage", "LeverageSHAP"),
                                         ("msr", "RegressionMSR"),
                                         ("permutation", "PermutationSHAP")])
def test_sampler_gives_its_estimators_values(method, cls):
    d = 6
    table, _ = random_table_game(d, k=2, seed=4)
    common = {"background": np.zeros((1, d)), "n_coalitions": 30, "random_state": 0,
              "device": "cpu", "verbose": 0}
    est = sklxai.ShapleySampler(TableGame(table), method=method, **common)
    exp = est.fit(np.zeros((2, d))).explain(np.ones((2, d)))
    alone = getattr(sklxai, cls)(TableGame(table), **common).fit(np.zeros((2, d)))
    np.testing.assert_array_equal(exp.values, alone.explain(np.ones((2, d))).values)
    assert est.method_ == method
    assert sklxai.get_explainer("sampling") is sklxai.ShapleySampler


# RegressionMSR's standard errors against exact values. Its surrogate is fitted on some draws and
# its Monte Carlo correction estimated on others (cross-fitting), so the standard errors include
# how the surrogate depends on the draws. The 95% intervals use the documented t quantile.
# Each check pools a few hundred intervals: a 95% interval's binomial sd over 300 intervals is
# 1.3 points and the intervals of one fit share its draws (fewer effective trials), so the band
# 90-98% holds correct error bars and refuses standard errors that are off by a third or more
# (coverage 83% at a third too small, 99.5% at a third too large, for normal errors).
COVERAGE_BAND = (0.90, 0.98)


def _noise_game_intervals(d, n_coalitions, seeds):
    """Intervals of RegressionMSR on pure-noise table games (a new game and new draws a seed)."""
    from scipy import stats

    errors, ses, hits = [], [], []
    for seed in range(seeds):
        table, value = random_table_game(d, k=2, seed=100 + seed)
        ref = np.stack(brute_force_shapley(value, d))
        est = RegressionMSR(TableGame(table), background=np.zeros((1, d)), device="cpu",
                            verbose=0, n_coalitions=n_coalitions, random_state=seed)
        exp = est.fit(np.zeros((2, d))).explain(np.ones((1, d)))
        err = np.abs(exp.values[0] - ref)
        hits.append(err <= stats.t.ppf(0.975, est.std_errors_dof_) * exp.std_errors[0])
        errors.append(err)
        ses.append(exp.std_errors[0])
    return (np.concatenate(errors).ravel(), np.concatenate(ses).ravel(),
            np.concatenate(hits).ravel())


def test_msr_standard_errors_have_the_size_of_the_errors_on_a_noise_game():
    # pure noise: the surrogate can only fit the draws' noise. Standard errors that hold it fixed
    # were 0.07 times the errors on such games (8 players, 100 coalitions: mean 0.010 against
    # 0.115). 12 players: at 8, draws repeat coalitions that another fold's surrogate has
    # memorised, and the intervals cover 87-90% (documented in RegressionMSR)
    errors, ses, hits = _noise_game_intervals(12, 300, seeds=20)
    assert len(hits) == 480
    assert ses.mean() * math.sqrt(2 / math.pi) >= 0.7 * errors.mean()
    assert COVERAGE_BAND[0] <= hits.mean() <= COVERAGE_BAND[1]


def test_msr_intervals_cover_exact_values_of_a_gbdt():
    from scipy import stats
    from sklearn.ensemble import GradientBoostingRegressor

    from sklxai import TreeShapley

    rng = np.random.default_rng(0)
    # 600 intervals: a 95% coverage's sampling error is 0.9 points (1.3 at 300)
    d, rows, seeds = 10, 6, 10
    X = rng.uniform(size=(400, d))
    y = 10 * np.sin(np.pi * X[:, 0] * X[:, 1]) + 5 * X[:, 2] * X[:, 3] * X[:, 4] + X[:, 5]
    gbr = GradientBoostingRegressor(n_estimators=60, max_depth=4, random_state=0).fit(X, y)
    background = X[:20]
    Xe = X[200:200 + rows * seeds]
    exact = TreeShapley(gbr, background=background, device="cpu",
                        verbose=0).fit(X).explain(Xe).values
    errors, hits = [], []
    for seed in range(seeds):  # new draws and new rows a seed
        part = slice(seed * rows, (seed + 1) * rows)
        est = RegressionMSR(gbr, background=background, n_coalitions=256, n_trees=16,
                            random_state=seed, device="cpu", verbose=0).fit(X)
        exp = est.explain(Xe[part])
        err = np.abs(exp.values - exact[part])
        np.testing.assert_allclose(exp.values.sum(axis=1), exp.output - exp.base_values,
                                   atol=1e-10)
        hits.append(err <= stats.t.ppf(0.975, est.std_errors_dof_) * exp.std_errors)
        errors.append(err)
    hits = np.concatenate(hits).ravel()
    assert len(hits) == seeds * rows * d
    assert np.concatenate(errors).max() > 1e-3  # sampled, not exact
    assert COVERAGE_BAND[0] <= hits.mean() <= COVERAGE_BAND[1]


def test_msr_design_enumerates_covered_sizes_and_weighs_draws_by_the_kernel():
    from itertools import combinations

    from sklxai.explainers.msr import _size_uniform_coalitions

    d, budget = 10, 200
    # equal shares: sizes 1 and 9 (20 coalitions) fit 200 * 2 / 9; sizes 2 and 8 (90) do not
    # fit 180 * 2 / 7
    masks, weights, n_enum = _size_uniform_coalitions(d, budget, True, np.random.default_rng(0))
    expected = {frozenset(c) for s in (1, 9) for c in combinations(range(d), s)}
    assert n_enum == 20 and {frozenset(np.flatnonzero(m)) for m in masks[:n_enum]} == expected
    sampled = masks[n_enum:]
    half = len(sampled) // 2
    np.testing.assert_array_equal(sampled[half:], ~sampled[:half])
    assert set(sampled.sum(axis=1)) <= set(range(2, 9))
    # the weighted sum over a draw is unbiased for the kernel-weighted sum over every coalition
    rng = np.random.default_rng(1)
    table = rng.normal(size=2**d)
    every = ((np.arange(1, 2**d - 1)[:, None] >> np.arange(d)) & 1).astype(bool)
    sizes = every.sum(axis=1)
    kernel = (d - 1) / (np.array([math.comb(d, s) for s in sizes]) * sizes * (d - sizes))
    exact = kernel @ table[1 : 2**d - 1]
    code = 2 ** np.arange(d)
    sums = []
    for seed in range(300):
        m, w, _ = _size_uniform_coalitions(d, budget, True, np.random.default_rng(seed))
        sums.append(w @ table[m.astype(int) @ code])
    sums = np.asarray(sums)
    assert abs(sums.mean() - exact) < 4 * sums.std() / np.sqrt(len(sums))


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.8])
def test_msr_fold_errors_count_the_folds_correlation(rho):
    # four exchangeable fold estimates with variance sigma^2 and correlation rho: their mean's
    # variance is sigma^2 (1 + 3 rho) / 4 (closed form), what the standard errors must estimate
    import torch

    from sklxai.explainers.msr import _fold_errors

    gen = torch.Generator().manual_seed(0)
    folds, n, d, k, sigma = 4, 400, 30, 1, 2.0
    common = torch.randn(1, n, d, k, generator=gen, dtype=torch.float64)
    own = torch.randn(folds, n, d, k, generator=gen, dtype=torch.float64)
    estimates = sigma * (math.sqrt(rho) * common + math.sqrt(1 - rho) * own)
    variances = torch.full_like(estimates, sigma**2)
    errors = _fold_errors(estimates, variances)
    expected = sigma**2 * (1 + 3 * rho) / 4
    if rho == 0.0:  # rho is clipped at 0: on independent folds the errors may only be larger
        assert expected * 0.97 <= errors.pow(2).mean().item() <= expected * 1.25
    else:
        assert errors.pow(2).mean().item() == pytest.approx(expected, rel=0.06)
    # the actual spread of the mean over the rows and players agrees with the closed form
    assert estimates.mean(dim=0).var().item() == pytest.approx(expected, rel=0.06)
