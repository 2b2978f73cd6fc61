"""The conditional games against independent computations: the Gaussian game against the
closed form of a linear model, the copula game against a Monte Carlo ground truth of its data
law, the empirical game against its weighted formula by brute force."""

import itertools

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.linear_model import LinearRegression

from sklxai.games import CopulaGame, EmpiricalGame, GaussianGame, MarginalGame
from sklxai.games.conditional import normal_pool, pair_keys, pool_indices
from sklxai.models import make_adapter

CORR = np.array([[1.0, 0.8, 0.3, 0.0],
                 [0.8, 1.0, 0.5, 0.0],
                 [0.3, 0.5, 1.0, 0.2],
                 [0.0, 0.0, 0.2, 1.0]])


def _linear(X, beta=(1.0, -2.0, 0.5, 1.5)):
    model = LinearRegression().fit(X, X @ np.asarray(beta) + 0.3)
    return model, make_adapter(model, device="cpu")


def _all_masks(d):
    return np.array(list(itertools.product([False, True], repeat=d)))


def _gaussian_closed_form(model, mean, cov, x, mask):
    """beta . E[X | x_S] + intercept for a normal N(mean, cov): E[X_R | x_S] is linear in x_S."""
    s, r = np.flatnonzero(mask), np.flatnonzero(~mask)
    z = x.astype(float).copy()
    if len(r):
        z[r] = mean[r]
        if len(s):
            z[r] += cov[np.ix_(r, s)] @ np.linalg.solve(cov[np.ix_(s, s)], x[s] - mean[s])
    return model.coef_ @ z + model.intercept_


def test_draws_take_pool_rows_uniformly_and_the_pool_is_standard_normal():
    pool = normal_pool(3, 3, "cpu")
    assert pool.shape == (2**16, 3)
    assert stats.kstest(pool.numpy().ravel(), "norm").pvalue > 1e-3
    assert np.abs(np.corrcoef(pool.numpy().T) - np.eye(3)).max() < 4 / np.sqrt(len(pool))
    rows = torch.arange(600, dtype=torch.float64).reshape(300, 2)
    keys = pair_keys(rows, torch.arange(300), torch.zeros(300, 2, dtype=torch.bool), seed=3)
    idx = pool_indices(keys, 40, 64).numpy().ravel()  # 12,000 picks of 64 rows
    counts = np.bincount(idx, minlength=64)
    assert stats.chisquare(counts).pvalue > 1e-3
    # a fixed function of (row, coalition, seed): another seed or coalition, other keys
    other = pair_keys(rows[:1], torch.arange(1), torch.zeros(1, 2, dtype=torch.bool), seed=4)
    kept = pair_keys(rows[:1], torch.arange(1), torch.ones(1, 2, dtype=torch.bool), seed=3)
    assert len({int(keys[0]), int(other[0]), int(kept[0])}) == 3
    # the pool is drawn on the CPU: the same numbers wherever the game runs
    np.testing.assert_array_equal(normal_pool(3, 3, "cpu").numpy(), pool.numpy())


def test_gaussian_game_equals_the_closed_form_within_its_standard_errors():
    rng = np.random.default_rng(0)
    X = rng.multivariate_normal(np.zeros(4), CORR, size=20000)
    model, adapter = _linear(X)
    game = GaussianGame(n_samples=400, random_state=0).fit(adapter, X, X[:100])
    # the fitted normal is the data's (Ledoit-Wolf shrinks a 20,000-row estimate very little)
    assert np.abs(game.covariance_ - CORR).max() < 0.05
    rows = X[:5]
    masks = _all_masks(4)
    v, var = game.values_and_variances(rows, torch.as_tensor(masks))
    truth = np.array([[_gaussian_closed_form(model, game.mean_, game.covariance_, x, m)
                       for m in masks] for x in rows])
    z = (v[..., 0].numpy() - truth)[:, 1:-1] / np.sqrt(var[..., 0].numpy()[:, 1:-1])
    assert np.abs(z).max() < 3 and 0.5 < np.mean(z**2) < 1.6
    # v(N) = f(x) exactly, and the base value is E f under the fitted normal
    np.testing.assert_allclose(v[:, -1, 0].numpy(), model.predict(rows), rtol=1e-6)
    base = model.coef_ @ game.mean_ + model.intercept_
    assert abs(float(game.empty_value()[0]) - base) < 3 * float(game.empty_variance()[0]) ** 0.5


def test_gaussian_game_error_falls_as_one_over_root_n_samples():
    rng = np.random.default_rng(1)
    X = rng.multivariate_normal(np.zeros(4), CORR, size=4000)
    model, adapter = _linear(X)
    masks = _all_masks(4)[1:-1]
    rows = X[:40]
    sizes = np.array([16, 64, 256, 1024])
    errors = []
    for n in sizes:
        game = GaussianGame(n_samples=int(n), random_state=0).fit(adapter, X, X[:10])
        truth = np.array([[_gaussian_closed_form(model, game.mean_, game.covariance_, x, m)
                           for m in masks] for x in rows])
        v = game.values(rows, torch.as_tensor(masks))[..., 0].numpy()
        errors.append(np.sqrt(np.mean((v - truth) ** 2)))
    slope = np.polyfit(np.log(sizes), np.log(errors), 1)[0]
    assert -0.6 < slope < -0.4, (slope, errors)


@pytest.mark.parametrize("make", [lambda: GaussianGame(n_samples=300, random_state=0),
                                  lambda: CopulaGame(n_samples=300, random_state=0),
                                  lambda: EmpiricalGame()])
def test_with_independent_features_conditional_equals_marginal(make):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(3000, 3))
    model, adapter = _linear(X, beta=(1.0, -2.0, 0.5))
    game = make().fit(adapter, X, X[:2000])
    marginal = MarginalGame(adapter, X)
    rows = X[3000 - 4:]
    masks = torch.as_tensor(_all_masks(3))
    v, var = game.values_and_variances(rows, masks)
    v_m = marginal.values(rows, masks).double()
    if isinstance(game, EmpiricalGame):  # the weighted mean's own error over the background
        var = _empirical_weighted_variance(game, model, rows, masks.numpy())
    # the marginal game's error as an estimate of E f: the background mean's
    var_m = np.var(model.predict(X)) / len(X)
    z = (v - v_m)[..., 0].numpy() / np.sqrt(np.asarray(var)[..., 0] + var_m + 1e-30)
    assert np.abs(z[:, 1:-1]).max() < 3


def _empirical_weights(game, x, mask, background, cov):
    """shapr's weights, by brute force: scaled Mahalanobis distance, Gaussian kernel, eta."""
    s = np.flatnonzero(mask)
    if len(s) in (0, len(mask)):
        return np.full(len(background), 1.0 / len(background))
    inv = np.linalg.pinv(cov[np.ix_(s, s)])
    w = np.empty(len(background))
    for b, row in enumerate(background):
        diff = x[s] - row[s]
        w[b] = np.exp(-(diff @ inv @ diff) / len(s) ** 2 / (2 * game.sigma**2))
    w /= w.sum()
    order = np.argsort(-w)
    cumulative = np.cumsum(w[order])
    last = order[np.searchsorted(cumulative, game.eta - 1e-12)]
    w[w < w[last]] = 0.0
    return w / w.sum()


def _empirical_weighted_variance(game, model, rows, masks):
    background = game.background.numpy()
    out = np.empty((len(rows), len(masks), 1))
    for i, x in enumerate(rows):
        for j, m in enumerate(masks):
            w = _empirical_weights(game, x, m, background, np.cov(background.T))
            f = model.predict(np.where(m, x, background))
            out[i, j, 0] = np.sum(w**2) * np.var(f)  # var of a weighted mean of iid terms
    return out


def test_empirical_game_equals_its_weighted_formula_by_brute_force():
    rng = np.random.default_rng(3)
    X = rng.multivariate_normal(np.zeros(4), CORR, size=400)
    model, adapter = _linear(X)
    background = X[:60]
    game = EmpiricalGame(sigma=0.3, eta=0.9).fit(adapter, X, background)
    cov = np.cov(X.T)
    np.testing.assert_allclose(game.covariance_, cov, rtol=1e-10)
    rows = X[100:103]
    masks = _all_masks(4)
    v = game.values(rows, torch.as_tensor(masks))[..., 0].numpy()
    brute = np.array([[_empirical_weights(game, x, m, background, cov)
                       @ model.predict(np.where(m, x, background)) for m in masks]
                      for x in rows])
    np.testing.assert_allclose(v, brute, rtol=1e-9, atol=1e-9)
    # eta truncates: with a small bandwidth few rows carry 90% of the weight
    w = _empirical_weights(game, rows[0], masks[5], background, cov)
    assert 0 < np.count_nonzero(w) < len(background)


def _copula_data(n, rng):
    """Gaussian-copula data: a log-normal (skewed), a normal and a discrete (integer) column."""
    C = np.array([[1.0, 0.7, 0.5], [0.7, 1.0, 0.6], [0.5, 0.6, 1.0]])
    Z = rng.multivariate_normal(np.zeros(3), C, size=n)
    return _from_latent(Z), C


def _from_latent(Z):
    return np.column_stack([np.exp(Z[:, 0]), Z[:, 1], np.round(3 * Z[:, 2])])


def _copula_truth(model, C, x, mask, rng, n=200000):
    """E f(X) given X_S = x_S under the true copula, by Monte Carlo: the latent normal given
    the kept continuous columns' latent values exactly, the kept discrete value by rejection."""
    latent = np.array([np.log(x[0]), x[1], np.nan])
    cont = [j for j in (0, 1) if mask[j]]
    rest = [j for j in range(3) if j not in cont]
    Z = np.empty((n, 3))
    Z[:, cont] = latent[cont]
    if cont:
        A = C[np.ix_(rest, cont)] @ np.linalg.inv(C[np.ix_(cont, cont)])
        mean = A @ latent[cont]
        cov = C[np.ix_(rest, rest)] - A @ C[np.ix_(cont, rest)]
    else:
        mean, cov = np.zeros(len(rest)), C[np.ix_(rest, rest)]
    Z[:, rest] = rng.multivariate_normal(mean, cov, size=n)
    Xs = _from_latent(Z)
    if mask[2]:
        Xs = Xs[Xs[:, 2] == x[2]]
    Xs[:, mask] = x[mask]
    f = model.predict(Xs)
    return f.mean(), f.var() / len(f)


def test_copula_game_matches_a_monte_carlo_ground_truth():
    rng = np.random.default_rng(4)
    X, C = _copula_data(30000, rng)
    model = LinearRegression().fit(X, X @ [1.0, -1.0, 0.7])
    game = CopulaGame(n_samples=2000, random_state=0).fit(
        make_adapter(model, device="cpu"), X, X[:10])
    rows = np.array([[np.exp(0.8), 0.5, 2.0], [np.exp(-0.5), -1.0, -1.0]])
    masks = _all_masks(3)[1:-1]
    v, var = game.values_and_variances(rows, torch.as_tensor(masks))
    for i, x in enumerate(rows):
        for j, m in enumerate(masks):
            truth, truth_var = _copula_truth(model, C, x, m, rng)
            err = float(v[i, j, 0]) - truth
            se = np.sqrt(float(var[i, j, 0]) + truth_var)
            assert abs(err) < 3 * se, (x, m, err, se)
    # draws take only values seen in fit's data: the discrete column stays discrete
    draws = game._draws(game.as_tensor(rows), torch.tensor([0]),
                        torch.tensor([[True, True, False]]), 50)
    assert set(np.unique(draws[..., 2].numpy())) <= set(np.unique(X[:, 2]))


def test_values_do_not_depend_on_batches_or_chunks():
    rng = np.random.default_rng(5)
    X = rng.multivariate_normal(np.zeros(4), CORR, size=500)
    _, adapter = _linear(X)
    masks = torch.as_tensor(_all_masks(4))
    a = GaussianGame(n_samples=64, random_state=1).fit(adapter, X, X[:10])
    b = GaussianGame(n_samples=64, random_state=1, batch_size=100).fit(adapter, X, X[:10])
    whole = a.values(X[:6], masks)
    # the same draws: equal up to the model's own rounding in batches of other sizes
    np.testing.assert_allclose(whole.numpy(), b.values(X[:6], masks).numpy(), rtol=1e-13)
    np.testing.assert_allclose(whole[2:3].numpy(), b.values(X[2:3], masks).numpy(),
                               rtol=1e-13)
    other = GaussianGame(n_samples=64, random_state=2).fit(adapter, X, X[:10])
    assert not torch.equal(whole, other.values(X[:6], masks))


def test_unfitted_and_bad_settings_are_refused():
    rng = np.random.default_rng(6)
    X = rng.normal(size=(50, 3))
    _, adapter = _linear(X, beta=(1.0, 1.0, 1.0))
    with pytest.raises(RuntimeError, match="not fitted"):
        GaussianGame().values(np.zeros((1, 3)), torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="n_samples"):
        GaussianGame(n_samples=0).fit(adapter, X, X)
    with pytest.raises(ValueError, match="sigma"):
        EmpiricalGame(sigma=-1.0).fit(adapter, X, X)
    with pytest.raises(ValueError, match="eta"):
        EmpiricalGame(eta=0.0).fit(adapter, X, X)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        GaussianGame().fit(adapter, bad, X)
