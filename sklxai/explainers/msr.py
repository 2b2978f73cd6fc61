"""RegressionMSR: regression-adjusted Monte Carlo Shapley values (Witter, Liu & Musco 2025).

A cheap surrogate of each row's game, fitted to sampled coalition values, whose Shapley values
are exact, plus a Monte Carlo estimate of the Shapley values of its residual. Cross-fitted: each
surrogate's residual is estimated on draws it was not fitted to, so the estimate is unbiased
and its standard errors count how the surrogate depends on the draws.
"""

import math

import numpy as np
import torch

from sklxai.explainers._shapley import ShapleyExplainer, shared_docstring, shared_params
from sklxai.explainers.leverage import leverage_coalitions
from sklxai.explainers.solvers import shared_noise_weights, solve_kernel_shap
from sklxai.games.coalitions import (
    coalitions_of_size,
    shapley_size_weights,
    uniform_subsets,
)
from sklxai.utils import param_validation as pv

#: shrinkage of each boosted tree and L2 penalty of its leaf values
_LEARNING_RATE = 0.3
_LEAF_L2 = 1.0
#: at most this many (row, coalition, leaf) entries at once while boosting (float64, 32 MiB)
_BOOST_ENTRIES = 2**22
#: cross-fitting folds: each surrogate is fitted without one fold's draws
_FOLDS = 4


@shared_docstring
class RegressionMSR(ShapleyExplainer):
    """Regression-adjusted Monte Carlo Shapley values (Witter, Liu & Musco 2025).

    For each row, on coalitions that give every coalition size an equal share of the budget
    (drawn once in ``fit``; see below):

    1. a weighted least-squares regression with the Shapley kernel's weights (KernelSHAP's)
       gives a linear surrogate of the game;
    2. a boosted ensemble of ``n_trees`` oblivious trees of depth ``max_depth`` (each level
       splits every node on one coalition indicator; learning rate 0.3, leaf L2 penalty 1) is
       fitted to the linear surrogate's residuals. A leaf of such a tree is the indicator of
       "these players in, those out", whose Shapley values are exact in closed form, so the
       surrogate's Shapley values cost nothing more;
    3. the Shapley values of what is left, v(S) minus the surrogate, are estimated by Monte
       Carlo with maximum sample reuse: phi_i = sum over sizes s of the mean, over the sampled
       coalitions S of size s, of [i in S] / s - [i not in S] / (d - s) times the residual
       r(S) less its mean over the surrogate's own coalitions of size s (a control variate
       that the surrogate's draws fix; exact on the enumerated sizes). Centring each size on
       the mean of the same draws instead costs one draw per size and fold, which doubles the
       variance at two draws a size and fold: on the digits GBDT (d = 64) at 512 coalitions
       the error was 4.4%, against 3.6% with the surrogate's means (three seeds of 24 rows).

    The coalitions: the Shapley value weighs every size alike (the Monte Carlo sum above has
    one term per size), so every size 1..d-1 gets an equal share of the budget. Size pairs
    (s, d - s) are enumerated from the outside in while their share covers all of their
    coalitions; the other sizes are independent draws of a uniform size, then a uniform
    coalition of it, each with its complement when ``paired`` (the draws of
    :class:`~sklxai.games.coalitions.LeverageDesign`), weighted by their kernel weight over
    their probability in the regression. The kernel's own design spends most of the budget on
    the smallest and largest sizes and leaves the middle ones a few draws each, for the
    surrogate to extrapolate and the Monte Carlo terms to estimate from a handful: on the
    digits GBDT (d = 64, 2048 coalitions, two folds and 64 trees) it gave 1.81% error
    against 1.28% for these draws (:doc:`/benchmarks`, "Sampling estimators").

    Cross-fitting: the sampled draws (a coalition and its complement when ``paired``) of each
    size alternate between four folds. Surrogate h is fitted to every coalition except the
    draws of fold h (the enumerated ones included), and its residual's Shapley values are
    estimated on fold h alone; the values are the mean of the four estimates. Given the other
    folds, each estimate is unbiased, and the spread of its fold's terms measures its error,
    the surrogate's dependence on the draws included. The four estimates are correlated (each
    surrogate sees the draws of the three other folds), so the standard error of their mean is
    sqrt(sigma^2 (1 + 3 rho) / 4), with sigma^2 each value's mean within-fold variance and rho
    the folds' correlation, measured per row and output from the spread of the four estimates
    across folds, pooled over the players and never below 0 (:func:`_fold_errors`). Taken as independent
    (rho = 0), the intervals covered 92.4% of the exact values on the Adult MLP at 512
    coalitions (:doc:`/benchmarks`, "Coverage"). A surrogate
    fitted to the same draws as its correction would shrink the residual there: on pure-noise
    8-player games at 100 coalitions such standard errors were 0.07 times the actual errors,
    and the intervals covered 10% of the exact values (``tests/explainers/test_leverage_msr.py``).
    The price: each surrogate sees three quarters of the sampled draws. Four folds measured
    more accurate than two (each surrogate then sees half): 1.17% against 1.28% on the digits
    GBDT and 1.00% against 1.21% on the breast-cancer GBDT (d = 30), at 2048 coalitions and
    64 trees; 128 trees (the default) gave 1.07% on the digits GBDT. The surrogate is boosted
    four times. Where the game draws (:class:`~sklxai.games.GaussianGame`,
    :class:`~sklxai.games.CopulaGame`), the game's noise that the folds' spread misses (the
    enumerated coalitions, a coalition drawn twice, v(empty)) is added from the game's variance
    of each value through its weight in the values: the Shapley weight on an enumerated size,
    the Monte Carlo coefficient on a sampled one (the surrogates' share left out;
    :ref:`which_game`).

    Efficiency holds exactly (each estimate's size terms sum to zero, the surrogates' Shapley
    values to their full coalition's value). A size with fewer than two draws in a fold gets no
    correction in that fold. The boosted surrogate captures the interactions that the linear
    regression misses; on the benchmark's games it is the most accurate sampling estimator at
    every budget measured, from 8 coalitions per player (:doc:`/benchmarks`, "Sampling
    estimators").

    Cost per row: ``n_coalitions`` coalitions, each evaluated on every background row, as
    KernelSHAP, plus boosting ``n_trees`` trees on them four times per row and output (once
    per fold): the benchmark's CPU seconds per row are in :doc:`/benchmarks`.

    Parameters
    ----------
    n_coalitions : int
        Coalitions evaluated per row (the empty and the full one are extra and free); the
        budget shared with KernelSHAP.
    paired : bool
        Sample coalitions with their complements.
    n_trees : int
        Boosted trees of the surrogate (0: the linear surrogate alone).
    max_depth : int
        Depth of each tree: the largest interaction order one tree captures (at most d).
    {shared_parameters}

    Attributes
    ----------
    coalitions_ : bool ndarray of shape (m, d)
        The coalitions used (drawn once in ``fit`` from ``random_state``).
    weights_ : ndarray of shape (m,)
        Their kernel weights over their probabilities (the linear surrogate's regression).
    n_enumerated_ : int
        How many of ``coalitions_`` (the first ones) are enumerated; the rest are sampled.
    std_errors_dof_ : float
        Degrees of freedom of the standard errors: the draws that the folds' estimates use,
        less one per size and fold (inf when the values are exact; 0 when no size has two draws
        in a fold, and the standard errors are NaN).
    expected_value_ : ndarray of shape (n_outputs,)

    Examples
    --------
    Efficiency holds exactly, whatever the budget:

    >>> import numpy as np
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> from sklxai import RegressionMSR
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 6)); y = X[:, 0] * X[:, 1] + X[:, 2]
    >>> gbr = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(X, y)
    >>> est = RegressionMSR(gbr, n_background=20, n_coalitions=40, n_trees=8,
    ...                     random_state=0).fit(X)
    >>> exp = est.explain(X[:2])
    >>> bool(np.allclose(exp.values.sum(axis=1), exp.output - exp.base_values))
    True
    """

    _parameter_constraints = {
        **ShapleyExplainer._parameter_constraints,
        "n_coalitions": pv.positive_int(minimum=2),
        "paired": pv.boolean(),
        "n_trees": pv.positive_int(minimum=0),
        "max_depth": pv.positive_int(minimum=1),
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 game="marginal", feature_groups=None, surrogate_params=None, fast_path="auto",
                 n_coalitions=2048, paired=True, n_trees=128, max_depth=5, n_jobs=None,
                 verbose="auto", device="auto", random_state=None, batch_size=None):
        super().__init__(**shared_params(locals()))
        self.n_coalitions = n_coalitions
        self.paired = paired
        self.n_trees = n_trees
        self.max_depth = max_depth

    def _fit_shapley(self, d):
        masks, weights, self.n_enumerated_ = _size_uniform_coalitions(
            d, self.n_coalitions, self.paired, np.random.default_rng(self._seed))
        self.coalitions_, self.weights_ = masks, weights
        self._folds = _cross_fit_folds(masks, self.n_enumerated_, d, self.paired)
        n_sampled = len(masks) - self.n_enumerated_
        n_free = sum(len(g) - 1 for fold in self._folds for g in fold)
        if n_sampled == 0:
            self.std_errors_dof_ = float("inf")
        else:
            self.std_errors_dof_ = float(max(n_free, 0))
        device = self.game_.device
        self._masks = torch.as_tensor(masks, device=device)
        self._weights = torch.as_tensor(weights, dtype=torch.float64, device=device)
        self._fit_weights = torch.as_tensor(
            np.stack([_fit_weights(weights, self.n_enumerated_, fold, self.paired)
                      for fold in self._folds]), device=device)
        self._noise = None
        if self._sampling_game() is not None and len(masks):
            coef = _value_weights(masks, self.n_enumerated_, self._folds, self.paired)
            counted = torch.arange(len(masks), device=device) >= self.n_enumerated_
            coef = torch.as_tensor(coef, device=device)
            self._noise = (shared_noise_weights(coef, self._masks, counted), -1.0 / d)

    def _coalitions_per_row(self, d):
        return max(1, len(self.coalitions_))

    def _shapley_values(self, X, fx, rng):
        total = fx - self._null
        d = self._n_players
        if d == 1:  # one feature takes all of f(x) - E[f], exactly
            return total[:, None, :], self._one_player_errors(total)
        values, var = self._centered_values_and_variances(X, self._masks)
        phi, errors = self._estimate(values, total)
        if var is not None:  # the game's draws: what the folds' spread does not count
            coef2, null_coef = self._noise
            errors = self._with_game_noise(errors, torch.einsum("nmk,md->ndk", var, coef2),
                                           null_coef)
        return phi, errors

    def _estimate(self, values, total):
        """The values (n, d, k) and their standard errors from the coalition values."""
        d = self._n_players
        if self.n_enumerated_ == len(self.coalitions_):  # every coalition: the regression is exact
            phi = solve_kernel_shap(self._masks, self._weights, values, total)
            return phi, torch.zeros_like(phi)
        # cross-fitting: surrogate h is fitted without the draws of fold h, whose Monte Carlo
        # estimate of its residual's Shapley values is then unbiased and its spread measurable
        Z = self._masks.double()
        n, m, k = values.shape
        phis, residuals = [], []
        for w in self._fit_weights:
            phi = solve_kernel_shap(self._masks, w, values, total)
            phis.append(phi)
            residuals.append(values - torch.einsum("md,ndk->nmk", Z, phi))  # 0 at empty, full
        fulls = [values.new_zeros(n, k)] * _FOLDS
        if self.n_trees:
            # the surrogate also sees the empty and the full coalition, where the residual is 0
            Zs = torch.cat([Z, torch.zeros(1, d, dtype=Z.dtype, device=Z.device),
                            torch.ones(1, d, dtype=Z.dtype, device=Z.device)])
            y = torch.cat([torch.stack(residuals), values.new_zeros(_FOLDS, n, 2, k)], dim=2)
            y = y.permute(0, 1, 3, 2).reshape(_FOLDS * n * k, m + 2)
            train = torch.cat([(self._fit_weights > 0).double(), Z.new_ones(_FOLDS, 2)], dim=1)
            train = train.repeat_interleave(n * k, dim=0)
            tree_phi, fitted = _boost(Zs, y, train, self.n_trees, min(self.max_depth, d))
            fitted = fitted - fitted[:, m : m + 1]  # the surrogate's game: g(S) - g(empty)
            tree_phi = tree_phi.reshape(_FOLDS, n, k, d).permute(0, 1, 3, 2)
            fitted = fitted.reshape(_FOLDS, n, k, m + 2).permute(0, 1, 3, 2)
            for h in range(_FOLDS):
                phis[h] = phis[h] + tree_phi[h]
                fulls[h] = fitted[h, :, m + 1]
                residuals[h] = residuals[h] - fitted[h, :, :m]
        estimates, variances = [], []
        for h, fold in enumerate(self._folds):
            means = _size_means(Z, residuals[h], self._fit_weights[h] > 0)
            correction, var = _monte_carlo(Z, residuals[h], -fulls[h], self.n_enumerated_,
                                           fold, self.paired, means)
            estimates.append(phis[h] + correction)
            variances.append(var)
        phi = sum(estimates) / _FOLDS
        errors = _fold_errors(torch.stack(estimates), torch.stack(variances))
        if self.std_errors_dof_ == 0:  # no size drawn twice in a fold: nothing to measure
            errors = torch.full_like(phi, float("nan"))
        # remove the last rounding residue so efficiency holds to float64 precision
        return phi + ((total - phi.sum(dim=1)) / d)[:, None, :], errors


def _value_weights(masks, n_enumerated, folds, paired):
    """The weight (m, d) of each coalition's value in the values, for the game's noise: an
    enumerated coalition's Shapley weight (its size's term is exact), a sampled one's Monte
    Carlo coefficient ([i in S] / s - [i not in S] / (d - s) over its size's draws in its
    fold, over the folds); the surrogates' dependence on the values (their size means
    included) is left out."""
    m, d = masks.shape
    Z = masks.astype(np.float64)
    sizes = masks.sum(axis=1)
    w = shapley_size_weights(d)  # w(s) = s! (d - s - 1)! / d!, s = 0..d-1
    e = n_enumerated
    coef = np.zeros((m, d))
    s = sizes[:e]
    coef[:e] = np.where(Z[:e] > 0, w[np.clip(s - 1, 0, d - 1)][:, None],
                        -w[np.clip(s, 0, d - 1)][:, None])
    units = (m - e) // 2 if paired else m - e
    for fold in folds:
        for group in fold:
            draws = np.asarray(group) + e
            coalitions = np.concatenate([draws, draws + units]) if paired else draws
            for size in np.unique(sizes[coalitions]):
                at = coalitions[sizes[coalitions] == size]
                a = Z[at] / size - (1 - Z[at]) / (d - size)
                coef[at] = a / len(at) / _FOLDS
    return coef


def _fold_errors(estimates, variances):
    """Standard errors (n, d, k) of the mean of the folds' estimates (F, n, d, k), from each
    fold's own variance (F, n, d, k) and the folds' correlation, measured per row and output.

    The folds' estimates are unbiased with variance sigma^2 (measured within each fold) but
    correlated: the surrogates share three quarters of their draws. For F exchangeable
    estimates with covariance c, the mean has variance (sigma^2 + (F - 1) c) / F, and their
    sample variance across folds has expectation sigma^2 - c; the correlation
    rho = c / sigma^2 = 1 - E[spread] / sigma^2 is estimated pooled over the players (a
    row's d players give it (F - 1) d degrees of freedom), clipped to [0, 1]: never below the
    independent folds' standard errors. On folds that are independent the clipping biases the
    standard errors up (by about 8% at d = 30); letting rho go negative instead made the 95%
    intervals cover 87-89% on the small games of ``tests/explainers/test_leverage_msr.py``,
    where the pooled estimate of rho is noisy.
    """
    folds = estimates.shape[0]
    within = variances.mean(dim=0)
    between = estimates.var(dim=0)
    scale = within.sum(dim=1, keepdim=True)
    rho = torch.where(scale > 0, 1 - between.sum(dim=1, keepdim=True) / scale,
                      torch.zeros_like(scale)).clamp(0.0, 1.0)
    return (within * (1 + (folds - 1) * rho) / folds).sqrt()


def _size_uniform_coalitions(d, budget, paired, rng):
    """RegressionMSR's coalitions: (masks (m, d), kernel weights (m,), how many of them, the
    first ones, are enumerated), every size 1..d-1 given an equal share of the budget.

    Size pairs (s, d - s) are enumerated from the outside in while their equal share of the
    remaining budget covers all of their coalitions (the coverage rule of
    :class:`~sklxai.games.coalitions.StratifiedDesign` with a uniform mass over sizes instead
    of the kernel's); the rest are independent draws of a uniform remaining size, then a
    uniform coalition of it (with its complement when ``paired``), as
    :class:`~sklxai.games.coalitions.LeverageDesign` draws. Each coalition's weight is its
    Shapley-kernel weight (d - 1) / (C(d, s) s (d - s)), over its probability times the draws
    for a sampled one. A budget of every coalition takes them all (exact values)."""
    if d == 1 or budget >= 2**d - 2:
        return leverage_coalitions(d, budget, paired, rng)
    left = list(range(1, d))
    enumerated, weights = [], []
    for s in range(1, d // 2 + 1):
        pair = [s] if 2 * s == d else [s, d - s]
        count = sum(math.comb(d, t) for t in pair)
        remaining = budget - len(enumerated)
        if count > remaining or remaining * len(pair) / len(left) < count:
            break
        for t in pair:
            enumerated.extend(coalitions_of_size(d, t))
            weights.extend([(d - 1) / (math.comb(d, t) * t * (d - t))] * math.comb(d, t))
            left.remove(t)
    masks = np.asarray(enumerated, dtype=bool).reshape(-1, d)
    remaining = budget - len(masks)
    if remaining > 0 and left:
        draws = max(remaining // 2 if paired else remaining, 1)
        sampled = uniform_subsets(rng.choice(left, size=draws), d, generator=rng)
        if paired:
            sampled = np.concatenate([sampled, ~sampled])
        sizes = sampled.sum(axis=1)
        # kernel weight over the probability 1 / (len(left) C(d, s)) of a sampled coalition
        # (complements included: the remaining sizes are symmetric), over the draws
        weights.extend((d - 1) * len(left) / (sizes * (d - sizes) * len(sampled)))
        masks = np.concatenate([masks, sampled])
    return masks, np.asarray(weights, dtype=np.float64), len(enumerated)


def _cross_fit_folds(masks, n_enumerated, d, paired):
    """The sampled draws in two folds, each grouped by size: two lists of int arrays of draw
    indices (within the sampled block; a draw is a coalition, or a coalition and its complement
    when paired), one per size (size pair when paired). Each size's draws alternate between the
    folds; a fold keeps a size only if it has at least two of its draws."""
    sampled = masks[n_enumerated:]
    units = len(sampled) // 2 if paired else len(sampled)
    sizes = sampled[:units].sum(axis=1)
    keys = np.minimum(sizes, d - sizes) if paired else sizes
    groups = [np.flatnonzero(keys == key) for key in np.unique(keys)]
    return [[g[h::_FOLDS] for g in groups if len(g[h::_FOLDS]) >= 2] for h in range(_FOLDS)]


def _fit_weights(weights, n_enumerated, fold, paired):
    """Kernel weights of surrogate h's regression: those of the coalitions that fold h does not
    evaluate, the sampled ones scaled up to the sampled mass."""
    w = weights.copy()
    units = (len(w) - n_enumerated) // 2 if paired else len(w) - n_enumerated
    held = np.concatenate([np.zeros(0, dtype=int)] + list(fold)) + n_enumerated
    if paired:
        held = np.concatenate([held, held + units])
    w[held] = 0.0
    kept = len(w) - n_enumerated - len(held)
    if kept:
        w[n_enumerated:] *= (len(w) - n_enumerated) / kept
    return w


def _size_means(Z, residual, train):
    """Mean of the residual (n, m, k) over the coalitions where ``train`` (m,) holds, per size:
    (n, d + 1, k), 0 for a size without such coalitions."""
    sizes = Z.sum(dim=1).long()
    onehot = torch.nn.functional.one_hot(sizes, Z.shape[1] + 1).double() * train[:, None]
    counts = onehot.sum(dim=0)
    sums = torch.einsum("nmk,ms->nsk", residual, onehot)
    return sums / counts.clamp(min=1.0)[None, :, None]


def _monte_carlo(Z, residual, residual_full, n_enumerated, groups, paired, means):
    """Shapley values of the residual game by size-stratified Monte Carlo over the draws of
    ``groups``, and their standard errors. Z (m, d) float64, residual (n, m, k) at Z,
    residual_full (n, k) at the full coalition (0 at the empty one), means (n, d + 1, k) the
    residual's mean per size over the surrogate's own draws (:func:`_size_means`).

    Each size's estimate is the mean over its draws of the coefficients
    [i in S] / s - [i not in S] / (d - s) (mean 0 over the size) times the residual less its
    size's mean over the surrogate's draws: a control variate fixed before this fold's draws
    (the surrogate and its draws do not see them), so the estimate is unbiased and each draw's
    term independent of the others. Centring on the fold's own mean instead costs a draw per
    size (divisor: draws less one), which doubles the variance at two draws a size and fold
    (d = 64 at 512 coalitions). Exact on the enumerated sizes.
    """
    n, m, k = residual.shape
    d = Z.shape[1]
    sizes = Z.sum(dim=1).long()
    phi = (residual_full / d)[:, None, :].expand(n, d, k).clone()
    # enumerated sizes: each size complete, so its centred mean is the exact term
    enum = torch.arange(n_enumerated, device=Z.device)
    for s in torch.unique(sizes[enum]).tolist():
        idx = enum[sizes[enum] == s]
        phi += _size_terms(Z[idx], residual[:, idx], s, d).mean(dim=1)
    var = torch.zeros_like(phi)
    units = (m - n_enumerated) // 2 if paired else m - n_enumerated
    for group in groups:
        draws = torch.as_tensor(group, device=Z.device) + n_enumerated
        coalitions = torch.cat([draws, draws + units]) if paired else draws
        g = len(group)
        draw_of = torch.arange(g, device=Z.device).repeat(len(coalitions) // g)
        per_draw = torch.zeros(n, g, d, k, dtype=phi.dtype, device=phi.device)
        for s in torch.unique(sizes[coalitions]).tolist():  # each size its own control
            at = sizes[coalitions] == s
            count = int(at.sum())
            terms = _size_terms(Z[coalitions[at]], residual[:, coalitions[at]], s, d,
                                means[:, s])
            per_draw.index_add_(1, draw_of[at], terms / count)
        phi += per_draw.sum(dim=1)
        spread = per_draw - per_draw.mean(dim=1, keepdim=True)
        var += spread.pow(2).sum(dim=1) * g / (g - 1)
    return phi, var


def _size_terms(Z, residual, s, d, mean=None):
    """Per-coalition terms ([i in S] / s - [i not in S] / (d - s)) (r(S) - mean) of coalitions
    of one size s: (n, c, d, k); ``mean`` (n, k), the coalitions' own mean when None."""
    a = Z / s - (1 - Z) / (d - s)  # (c, d)
    if mean is None:
        mean = residual.mean(dim=1)
    centred = residual - mean[:, None, :]
    return torch.einsum("cd,nck->ncdk", a, centred)


def _boost(Z, y, train, n_trees, depth):
    """Boosted oblivious trees fitted to y (r, m) on the coalitions Z (m, d) where train (r, m)
    is 1 (0: left out of the fit, predicted only), row by row.

    Returns the Shapley values (r, d) of each row's ensemble as a game, S -> g(1_S) - g(0), and
    its values (r, m) at every coalition. A leaf of an oblivious tree of depth t is "P in, N
    out" for disjoint P, N with |P| + |N| = t: its Shapley values are (|P|-1)! |N|! / t! for the
    players of P and -|P|! (|N|-1)! / t! for those of N.
    """
    rows, m = y.shape
    per_block = max(1, _BOOST_ENTRIES // (m * 2**depth))
    phis, fits = [], []
    for start in range(0, rows, per_block):
        block = slice(start, start + per_block)
        phi, fit = _boost_block(Z, y[block], train[block], n_trees, depth)
        phis.append(phi)
        fits.append(fit)
    return torch.cat(phis), torch.cat(fits)


def _boost_block(Z, y, train, n_trees, depth):
    rows, m = y.shape
    d = Z.shape[1]
    leaves = 2**depth
    fitted = torch.zeros_like(y)
    phi = torch.zeros(rows, d, dtype=y.dtype, device=y.device)
    at = torch.arange(rows, device=y.device)
    codes = torch.arange(leaves, device=y.device)
    present = torch.stack([(codes >> (depth - 1 - t)) & 1 for t in range(depth)], 1).bool()
    p = present.sum(dim=1).tolist()
    f = math.factorial
    gain_in = torch.tensor([f(q - 1) * f(depth - q) / f(depth) if q else 0.0 for q in p],
                           dtype=y.dtype, device=y.device)
    gain_out = torch.tensor([f(q) * f(depth - q - 1) / f(depth) if q < depth else 0.0
                             for q in p], dtype=y.dtype, device=y.device)
    coef = torch.where(present, gain_in[:, None], -gain_out[:, None])  # (leaves, depth)
    for _ in range(n_trees):
        g = (y - fitted) * train
        leaf = torch.zeros(rows, m, dtype=torch.long, device=y.device)
        used = torch.zeros(rows, d, dtype=torch.bool, device=y.device)
        split = []
        for level in range(depth):
            member = torch.zeros(rows, 2**level, m, dtype=y.dtype, device=y.device)
            member.scatter_(1, leaf[:, None, :], train[:, None, :])
            weighted = member * g[:, None, :]
            s_all, c_all = weighted.sum(dim=2), member.sum(dim=2)
            s_in, c_in = weighted @ Z, member @ Z  # (rows, nodes, d)
            s_out, c_out = s_all[..., None] - s_in, c_all[..., None] - c_in
            gain = (s_in**2 / (c_in + _LEAF_L2) + s_out**2 / (c_out + _LEAF_L2)).sum(dim=1)
            j = gain.masked_fill(used, -1.0).argmax(dim=1)
            used[at, j] = True
            split.append(j)
            leaf = leaf * 2 + Z[:, j].T.long()
        member = torch.zeros(rows, leaves, m, dtype=y.dtype, device=y.device)
        member.scatter_(1, leaf[:, None, :], train[:, None, :])
        value = _LEARNING_RATE * (member * g[:, None, :]).sum(dim=2) / (member.sum(dim=2)
                                                                        + _LEAF_L2)
        fitted = fitted + torch.gather(value, 1, leaf)
        contribution = value @ coef  # (rows, depth): each level's player
        for t, j in enumerate(split):
            phi[at, j] += contribution[:, t]
    return phi, fitted
