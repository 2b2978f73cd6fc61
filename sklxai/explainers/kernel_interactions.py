"""KernelInteractions: Shapley interaction indices from a budget of sampled coalitions.

Every index but FSII is linear in the game, I(S) = sum_T c_S(T) v(T), with a coefficient that
depends only on |S|, |T| and |T n S| (:func:`index_coefficients`). The estimator fits an
order-k (or k + 1) Moebius surrogate g of the sampled coalitions by Shapley-kernel least
squares (FSII's own problem: for FSII of order k the fit is the answer), takes g's index
exactly, and adds the index of
the residual game v - g, estimated from the same coalitions by inverse-probability weighting
(regression-adjusted Monte Carlo; a control variate in the spirit of KernelSHAP-IQ). With
every coalition enumerated both parts are exact.
"""

import math

import numpy as np
import torch

from sklxai.explainers._shapley import shared_docstring, shared_params
from sklxai.explainers.interaction_indices import (
    bernoulli_numbers,
    canonical_index,
    interaction_sets,
    moebius_weights,
)
from sklxai.explainers.interactions import ExactInteractions
from sklxai.explainers.solvers import kernel_shap_map, solve_kernel_shap, with_rounding
from sklxai.games.coalitions import (
    StratifiedDesign,
    coalitions_of_size,
    kernel_size_mass,
    uniform_subsets,
)
from sklxai.utils import param_validation as pv


def _sii_coefficients(d, a, t, o):
    """SII's c_S(T) for |S| = a, |T| = t, |T n S| = o (arrays):
    (-1)^(a-o) (t-o)! (d-t-a+o)! / (d-a+1)!."""
    a, t, o = (np.asarray(x, dtype=np.float64) for x in np.broadcast_arrays(a, t, o))
    from scipy.special import gammaln

    log = gammaln(t - o + 1) + gammaln(d - t - a + o + 1) - gammaln(d - a + 2)
    return (-1.0) ** (a - o) * np.exp(log)


def _binomials(d):
    """C(n, k) for 0 <= n, k <= d as a float64 table (0 where k > n)."""
    return np.array([[math.comb(n, k) for k in range(d + 1)] for n in range(d + 1)],
                    dtype=np.float64)


#: the sampled units of each size (with its complement's) are in proportion to its Shapley-kernel
#: mass times (s (d - s)) ** _SIZE_TILT, halfway between the kernel's sizes (0) and uniform
#: sizes (1, leverage-score sampling); the weights keep each size's kernel mass, so only the
#: variance changes (k-SII pair terms 2% closer at d = 16, 512 coalitions, in
#: ``benchmarks/interactions.py``). FSII, a regression and nothing else, takes the exponent
#: of its surrogate's order instead (:func:`_size_tilt`)
_SIZE_TILT = 0.5


def _size_tilt(d, sizes, exponent):
    """(s (d - s)) ** exponent for each size s of ``sizes``: the sampled units per unit of
    Shapley-kernel mass.

    With the exponent k of a Moebius surrogate's order this is close to the leverage score of
    the order-k kernel regression per unit of mass (the sum over the coalitions T of a size of
    mu(T) z_T' A^-1 z_T, over the size's mass): the sizes' shares of units it gives are within
    2-6% of the leverage scores' in total variation for d = 8 to 20 and k = 1, 2, 3 (the
    extreme sizes, most often enumerated, off by up to 45% of their own share). k = 1 is
    close to uniform sizes (Musco & Witter's leverage-score sampling); k = 2, 3 weigh the
    middle sizes more, where more of the terms lie inside a coalition.
    """
    return np.array([t * (d - t) for t in sizes], dtype=np.float64) ** exponent


def _distinct_draws(d, n_coalitions, paired, rng):
    """KernelSHAP's design (:class:`~sklxai.games.coalitions.StratifiedDesign`, rule
    ``"coverage"``) drawn until its sampled part holds as many *distinct* coalitions as the
    budget leaves, as shapiq's coalition sampler does: a repeated draw costs no model call.

    Returns (masks (m, d) of the distinct coalitions, the enumerated ones first; their weights,
    each the sum over its draws; how many are enumerated; the index into ``masks`` of every
    draw, its complements after it when ``paired``; the weight of each draw). The draws are
    independent kernel draws with equal weights, so the estimate is KernelSHAP's with more
    draws than model calls, and the standard errors follow the draws. (The design for budgets
    with fewer units than sampled sizes, and for d = 1; :func:`_stratified_draws` otherwise.)
    """
    if d == 1:
        empty = np.zeros(0)
        return np.zeros((0, 1), dtype=bool), empty, 0, np.zeros(0, dtype=np.int64), empty
    design = StratifiedDesign(d, n_coalitions, rule="coverage", paired=paired)
    enum, e = design.enumerated, len(design.enumerated)
    batch = target = design.n_sampled // 2 if paired else design.n_sampled
    if target == 0:
        return enum, design.enumerated_weights, e, np.zeros(0, dtype=np.int64), np.zeros(0)
    available = sum(math.comb(d, int(s)) for s in design.sizes)
    target = min(target, available // 2 if paired else available)
    bits = 2 ** np.arange(d, dtype=np.int64)
    full = int(bits.sum())
    mass = kernel_size_mass(d)[design.sizes - 1]
    prob = mass / mass.sum()
    first, seen, draws, flips, drawn_sizes = [], {}, [], [], []
    max_draws = 50 * target  # near-full budgets: stop collecting rare coalitions
    while len(seen) < target and len(draws) < max_draws:
        sizes = rng.choice(design.sizes, size=batch, p=prob)
        sampled = uniform_subsets(sizes, d, generator=rng)
        for mask, key, size in zip(sampled, sampled @ bits, sizes):
            key = int(key)
            unit = min(key, full - key) if paired else key
            if unit not in seen:
                seen[unit] = len(first)
                first.append(mask)
            draws.append(seen[unit])
            drawn_sizes.append(size)
            flips.append(paired and not np.array_equal(first[seen[unit]], mask))
            if len(seen) >= target:
                break
    units, draws, flips = len(first), np.asarray(draws), np.asarray(flips, dtype=bool)
    distinct = np.asarray(first, dtype=bool).reshape(-1, d)
    # each draw's weight: its size's kernel mass over its probability, over the draws
    size_weight = dict(zip(design.sizes.tolist(), (mass / prob).tolist()))
    weight = np.array([size_weight[int(t)] for t in drawn_sizes]) / len(draws)
    if paired:  # distinct: the first of each pair, then their complements
        distinct = np.concatenate([distinct, ~distinct])
        index = np.concatenate([draws + units * flips, draws + units * ~flips])
        weight = np.concatenate([weight, weight]) / 2
    else:
        index = draws
    merged = np.bincount(index, weights=weight, minlength=len(distinct))
    masks = np.concatenate([enum, distinct])
    weights = np.concatenate([design.enumerated_weights, merged])
    return masks, weights, e, index + e, weight


def _allocate(target, mass, population):
    """Units per stratum: ``target`` split in proportion to ``mass``, none above its
    ``population``, at least one in each (largest remainders; ``target`` >= the strata)."""
    n = np.ones(len(mass), dtype=np.int64)
    while n.sum() < target:
        open_ = n < population
        share = np.where(open_, mass, 0.0)
        want = (target - n.sum() + n[open_].sum()) * share / share.sum()
        extra = np.minimum(np.floor(want).astype(np.int64), population) - n
        extra = np.where(open_, np.maximum(extra, 0), 0)
        if extra.sum() == 0:  # the rest one at a time, largest remainder first
            gap = np.where(open_, want - n, -np.inf)
            extra[np.argmax(gap)] = 1
        n = n + np.minimum(extra, target - n.sum())
    return n


def _stratified_draws(d, n_coalitions, paired, rng, leverage_order=None):
    """KernelSHAP's enumerated sizes (:class:`~sklxai.games.coalitions.StratifiedDesign`,
    rule ``"coverage"``), then the budget left drawn size by size without replacement: each
    sampled size (with its complement's when ``paired``: one stratum) gets distinct units in
    proportion to its kernel mass times :func:`_size_tilt` (at least one, at most all), a unit
    a uniform coalition of that size (with its complement), each sharing its size's mass
    equally. The tilt's exponent is :data:`_SIZE_TILT`, or with ``leverage_order`` (FSII's
    order) the order of the surrogate that the units will fit (:func:`_surrogate_order`).

    Returns (masks (m, d), the enumerated ones first, then every unit's first coalition, then
    their complements when ``paired``; their kernel weights; how many are enumerated; the
    stratum of each unit; each stratum's sampled fraction), or None where the budget leaves
    fewer units than strata (or d = 1).
    """
    if d == 1:
        return None
    design = StratifiedDesign(d, n_coalitions, rule="coverage", paired=paired)
    enum, e = design.enumerated, len(design.enumerated)
    if len(design.sizes) == 0:  # every coalition enumerated
        return enum, design.enumerated_weights, e, np.zeros(0, dtype=np.int64), np.zeros(0)
    mass = kernel_size_mass(d)
    sizes = [t for t in design.sizes.tolist() if not paired or t <= d - t]
    target = design.n_sampled // 2 if paired else design.n_sampled
    if len(sizes) > target:
        return None
    population = np.array([math.comb(d, t) // (2 if paired and 2 * t == d else 1)
                           for t in sizes])
    stratum_mass = np.array([mass[t - 1] + (mass[d - t - 1] if paired and 2 * t != d else 0)
                             for t in sizes])
    n_units = min(target, int(population.sum()))
    exponent = (_SIZE_TILT if leverage_order is None
                else _surrogate_order(d, leverage_order, n_units))
    counts = _allocate(n_units, stratum_mass * _size_tilt(d, sizes, exponent), population)
    bits = 2 ** np.arange(d, dtype=np.int64)
    full = int(bits.sum())
    units, weights, complements, strata = [], [], [], []
    for h, (t, n) in enumerate(zip(sizes, counts)):
        if 2 * n >= population[h]:  # most of the stratum: choose among all its units
            block = coalitions_of_size(d, t)
            if paired and 2 * t == d:
                block = block[block[:, 0]]  # one of each complementary pair
            chosen = block[rng.choice(len(block), size=n, replace=False)]
        else:
            seen, chosen = set(), []
            while len(chosen) < n:
                for mask in uniform_subsets(np.full(n, t), d, generator=rng):
                    key = int(mask @ bits)
                    key = min(key, full - key) if paired and 2 * t == d else key
                    if key not in seen and len(chosen) < n:
                        seen.add(key)
                        chosen.append(mask)
            chosen = np.asarray(chosen)
        units.append(chosen)
        if paired and 2 * t == d:
            weights.append(np.full(n, mass[t - 1] / (2 * n)))
            complements.append(np.full(n, mass[t - 1] / (2 * n)))
        else:
            weights.append(np.full(n, mass[t - 1] / n))
            complements.append(np.full(n, mass[d - t - 1] / n))
        strata.append(np.full(n, h))
    units = np.concatenate(units)
    parts = [enum, units] + ([~units] if paired else [])
    w = [design.enumerated_weights, *weights] + (complements if paired else [])
    return (np.concatenate(parts), np.concatenate(w), e, np.concatenate(strata),
            counts / population)


#: the surrogate takes the terms of one order more than the index's when the sampled units
#: number at least this many per term of that order (enough to fit them: the first-order
#: terms then get closer, the pair terms stay as they are; see :class:`KernelInteractions`)
_DRAWS_PER_TERM = 2.0


def _surrogate_order(d, max_order, units):
    """The order of the fitted surrogate: ``max_order + 1`` (below d) when ``units``
    independent draws number at least :data:`_DRAWS_PER_TERM` per term of that order, else
    ``max_order``."""
    order = max_order + 1
    if order < d and units >= _DRAWS_PER_TERM * len(interaction_sets(d, order)):
        return order
    return max_order


def _membership(d, sets):
    """(d, len(sets)) 0/1 float matrix of the players in each set, and each set's size."""
    members = np.zeros((d, len(sets)))
    for col, s in enumerate(sets):
        members[list(s), col] = 1.0
    return members, members.sum(axis=0).astype(np.int64)


def _faithful_projection(d, unions, sizes, size_columns=()):
    """FSII's terms of a surrogate as a linear map of its Moebius terms: (p, q + c) for the p
    terms of sizes ``sizes`` and the surrogate's q sets, given |S u R| for each (``unions``,
    (p, q); the first p sets of the surrogate are the terms'), then its c indicators
    1[|T| = s] of the coalition sizes s in ``size_columns`` (0 at the full coalition).

    The constrained Shapley-kernel projection over every coalition: with A[S, S'] and
    K[S, R] = sum over coalitions T containing both of mu(|T|) (a count of coalitions by
    |S u R|; for an indicator, of the coalitions of its size that hold S), the terms are
    M K beta + A^-1 1 g(N) / (1' A^-1 1), M the constrained inverse of A and g(N) the sum of
    the Moebius terms; a surrogate of the terms' order is returned unchanged.
    """
    mass = kernel_size_mass(d)
    binom = _binomials(d)
    per = np.zeros(d + 1)  # the kernel weight of one coalition of size t, 0 for 0 and d
    per[1:d] = mass / binom[d, 1:d]
    # f(u) = sum_t mu(t) C(d - u, t - u): the weight of the coalitions holding u given players
    f = np.array([sum(per[t] * binom[d - u, t - u] for t in range(u, d)) for u in range(d + 1)])
    K = f[unions]
    A_inv = np.linalg.inv(K[:, :len(sizes)])
    a1 = A_inv.sum(axis=1)
    M = A_inv - np.outer(a1, a1) / a1.sum()
    s = np.asarray(size_columns, dtype=np.int64)
    held = np.where(s[None, :] >= sizes[:, None],
                    binom[d - sizes[:, None], np.clip(s[None, :] - sizes[:, None], 0, d)], 0.0)
    K = np.concatenate([K, per[s][None, :] * held], axis=1)
    g_full = np.concatenate([np.ones(unions.shape[1]), np.zeros(len(s))])
    return M @ K + np.outer(a1, g_full) / a1.sum()


def _size_means(t, w, size_columns):
    """For coalitions of sizes ``t`` with weights ``w``: (m, c) 0/1 membership of each in the
    sizes ``size_columns`` and (m, c) each one's weight in its size's weighted mean."""
    own = (np.asarray(t)[:, None] == np.asarray(size_columns, dtype=np.int64)[None, :])
    weighted = own * np.asarray(w, dtype=np.float64)[:, None]
    return own.astype(np.float64), weighted / np.maximum(weighted.sum(axis=0), 1e-300)


def _indicated_sizes(d, masks, e, strata, fractions, order):
    """The sampled sizes that FSII's surrogate gives an indicator 1[|T| = s]: those of the
    strata with two units or more and not every unit drawn, when the coalitions' other sizes
    number at least ``order`` (the surrogate's, else an indicator combination would equal a
    sum of its terms of one size, C(|T|, k); then none)."""
    sampled = masks[e:].sum(axis=1)
    per_unit = np.concatenate([strata, strata])[:len(sampled)]
    counts = np.bincount(strata, minlength=len(fractions))
    open_ = (counts >= 2) & (fractions < 1.0)
    chosen = np.unique(sampled[open_[per_unit]])
    others = np.setdiff1d(np.unique(masks.sum(axis=1)), chosen)
    return chosen.tolist() if len(others) >= order else []


def _less_size_means(y, size_means):
    """The values (n, m, k) less their size's weighted mean in the sizes of ``size_means``
    (:func:`_size_means`' two arrays as tensors; None: ``y`` itself)."""
    if size_means is None:
        return y
    own, means = size_means
    return y - torch.einsum("mc,nck->nmk", own, torch.einsum("mc,nmk->nck", means, y))


def _stratified_variance(parts, strata, keep):
    """The variance (n, p, k) of a sum of the units' contributions, ``parts`` a list of
    (residuals (n, u, k), their influence (u, p)) summed per unit: each unit's contribution,
    summed and squared within its stratum ``strata`` (u,) (sampled without replacement: times
    ``keep``, the finite-population factor 1 - n_h / N_h; none for fewer than two units)."""
    var = 0.0
    for h in range(len(keep)):
        own = strata == h
        n_h = int(own.sum())
        if n_h < 2 or float(keep[h]) == 0.0:
            continue
        sub = [(q[:, own], g[own]) for q, g in parts]
        total = sum(torch.einsum("nuk,up->npk", q, g) for q, g in sub)
        squares = sum(torch.einsum("nuk,up->npk", qa * qb, ga * gb)
                      for qa, ga in sub for qb, gb in sub)
        var = var + float(keep[h]) * n_h / (n_h - 1) * (squares - total**2 / n_h)
    return var


def index_coefficients(index, d, max_order, a, t, o):
    """The coefficient c_S(T) of v(T) in the value of a set S of ``a`` players, for a coalition
    T of ``t`` players of which ``o`` are in S (arrays of equal shape), for every index but
    FSII (whose terms are a regression's, not sums over the coalitions).

    From each index's discrete-derivative definition: SII weighs the derivative at T minus S
    by (t-o)! (d-t-a+o)! / (d-a+1)!; BII by 2^(a-d); STII at the top order k by
    k / (d C(d-1, t-o)), below it the Moebius coefficient of S; k-SII adds the Bernoulli
    combination of SII over the supersets of S of at most k players.

    Examples
    --------
    The Shapley value of player 0 of two: v({0}) and v(N) - v({1}) with weight 1/2 each.

    >>> index_coefficients("SII", 2, 1, [1, 1, 1], [1, 1, 2], [1, 0, 1]).tolist()
    [0.5, -0.5, 0.5]
    """
    a, t, o = (np.asarray(x, dtype=np.int64) for x in np.broadcast_arrays(a, t, o))
    sign = (-1.0) ** (a - o)
    if index == "SII":
        return _sii_coefficients(d, a, t, o)
    if index == "BII":
        return sign * 2.0 ** (a - d).astype(np.float64)
    comb = _binomials(d)
    if index == "STII":
        top = sign * max_order / (d * comb[d - 1, np.clip(t - o, 0, d - 1)])
        below = np.where(o == t, (-1.0) ** (a - t), 0.0)
        return np.where(a == max_order, top, below)
    # k-SII: sum over supersets U of S with |U| <= k of B_(|U|-|S|) SII(U); of the j players
    # added, q lie in T minus S (t - o of them) and j - q outside S and T
    bern = [float(b) for b in bernoulli_numbers(max_order)]
    out = np.zeros(a.shape)
    for j in range(max_order + 1):
        for q in range(j + 1):
            ways = comb[t - o, q] * comb[np.maximum(d - a - t + o, 0), j - q]
            ok = (a + j <= max_order) & (ways > 0)  # else the arguments may be out of range
            sii = _sii_coefficients(d, np.where(ok, a + j, a), t, np.where(ok, o + q, o))
            out += np.where(ok, bern[j] * ways * sii, 0.0)
    return out


@shared_docstring
class KernelInteractions(ExactInteractions):
    """Shapley interaction indices from a budget of sampled coalitions (regression-adjusted).

    For d beyond :class:`ExactInteractions`' reach. The coalitions are KernelSHAP's
    (:class:`~sklxai.games.coalitions.StratifiedDesign`: the extreme sizes enumerated), the
    rest drawn size by size without replacement, each coalition with its complement: every
    sampled size gets distinct coalitions in proportion to its Shapley-kernel mass times
    (s (d - s)) ** a, and shares that mass equally (a stratified sample: the sizes' counts carry
    no noise, and where a size is mostly drawn its finite-population factor shrinks the
    variance); a = 1/2, halfway to uniform sizes, or for FSII, a regression only, the
    surrogate's order: its leverage scores (:func:`_size_tilt`). One draw serves every row, each
    evaluated on the same games as every Shapley explainer (feature groups, pipelines,
    ``target``, devices). On them:

    1. a surrogate g(T) = sum of beta_R over the sets R in T of at most ``surrogate_order_``
       players is fitted by Shapley-kernel weighted least squares with g(N) = v(N)
       (efficiency). ``surrogate_order_`` is ``max_order``, or ``max_order + 1`` when the
       sampled units number at least two per term of that order. With paired sampling the
       first-order terms' error comes from the part of the residual that changes sign
       between a coalition and its complement, which the third-order terms mostly take
       (12x closer first-order k-SII terms on the d = 12 MLP of ``benchmarks/interactions.py``
       at 2,048 coalitions); the pair terms depend on the other part only and are unchanged.
       For FSII g also holds an indicator ``1[|T| = s]`` of each sampled size s (fitted by
       centring the design and the values within their sizes: the part of the residual that
       depends on the size alone leaves the fit's noise), and FSII's terms are the exact
       (every-coalition) FSII projection of g;
    2. for the other indices, which are sums I(S) = sum_T c_S(T) v(T)
       (:func:`index_coefficients`), g's index is exact (a sum over its Moebius terms) and the
       index of the residual v - g is estimated by weighting each sampled coalition by its
       inverse sampling probability (each enumerated one counts once). The residual is small
       where g fits, so the Monte Carlo part carries little variance (a control variate).

    Both steps are exact when every coalition is enumerated (``n_coalitions >= 2**d - 2``),
    where the values equal :class:`ExactInteractions`' to rounding. Orders 1 and 2
    (``max_order``): players and pairs, in shap's (n, d, d) layout.

    Every term comes with its standard error (``std_errors`` of the explanation, in the
    values' layout: a pair's cells hold half of its term's standard error, as they hold half
    of the term): the estimate is a smooth function of independent draws (a coalition and its
    complement one draw), and its delta-method (sandwich) variance is measured from the draws'
    contributions through the fit's residuals, within each size (with the finite-population
    factor), with no extra model calls; 0 when every coalition is enumerated, NaN without
    more draws than the fit's leverage on them. Where the game draws
    (:class:`~sklxai.games.GaussianGame`, :class:`~sklxai.games.CopulaGame`), the game's noise
    that the draws' spread misses (the enumerated coalitions, v(empty), and the share the
    finite-population factor removes) is added from the game's variance of each value through
    its weight in the terms (:ref:`which_game`). A 95% interval is ``values ±
    scipy.stats.t.ppf(0.975, std_errors_dof_) * std_errors``.

    Cost per row: ``n_coalitions`` coalitions (at most 2**d - 2), each evaluated on every
    background row: 4096 x ``n_background`` model calls by default, plus one for the row. The
    default enumerates every coalition (exact) up to d = 12 players; beyond, the error of the
    pair terms against the budget is in ``docs/benchmarks.rst`` (at 2,048 coalitions, half the
    default, 0.7-1.6% at d = 12; at d = 16, 8,192 coalitions give 0.8-1.8%).

    Parameters
    ----------
    index : {"k-SII", "SII", "STII", "FSII", "BII"}
        The interaction index (shapiq's names, any letter case), as for
        :class:`ExactInteractions`.
    max_order : {1, 2}
        Largest interaction order (2: players and pairs).
    n_coalitions : int
        Coalitions evaluated per row (the empty and the full one are extra and free), as for
        :class:`~sklxai.explainers.kernel.KernelSHAP`. To fit the surrogate it needs more
        draws than terms, d (d + 1) / 2 at order 2.
    paired : bool
        Sample coalitions with their complements (paired sampling).
    {shared_parameters}

    Attributes
    ----------
    index_ : str
        ``index`` as shapiq spells it.
    interactions_ : list of tuple of int
        The sets of players with a term (the columns of ``transform``).
    coalitions_ : bool ndarray of shape (m, d)
        The distinct coalitions evaluated (drawn once in ``fit`` from ``random_state``).
    weights_ : ndarray of shape (m,)
        Their kernel weights (each sampled size's mass shared by its sampled coalitions).
    n_enumerated_ : int
        How many of ``coalitions_`` (the first ones) are enumerated; the rest are sampled.
    surrogate_order_ : int
        The order of the fitted surrogate g (``max_order`` or ``max_order + 1``, see above).
    std_errors_dof_ : float
        Degrees of freedom of the standard errors: the sampled units less the fit's leverage
        on them (the trace of its hat matrix over the sampled coalitions) and less one per
        sampled size but one (inf when the values are exact, 0 when they cannot be measured).
    expected_value_ : ndarray of shape (n_outputs,)
        v(empty), the base value.

    Examples
    --------
    A product's only interaction is its pair, found from 200 of the 16,382 coalitions of 14
    players:

    >>> import numpy as np
    >>> import torch
    >>> from sklxai import KernelInteractions
    >>> class Product(torch.nn.Module):
    ...     def forward(self, X):
    ...         return X[:, :1] * X[:, 1:2]
    >>> est = KernelInteractions(Product(), background=np.zeros((1, 14)), n_coalitions=200,
    ...                          random_state=0, device="cpu")
    >>> exp = est.fit(np.zeros((1, 14))).explain(np.ones((1, 14)) * 2)
    >>> np.round(exp.values[0, :2, :2], 8) + 0.0  # + 0.0: no negative zeros
    array([[0., 2.],
           [2., 0.]])
    """

    _parameter_constraints = {
        **{k: v for k, v in ExactInteractions._parameter_constraints.items()
           if k != "max_features"},
        "max_order": pv.options(1, 2),
        "n_coalitions": pv.positive_int(minimum=2),
        "paired": pv.boolean(),
    }

    def __init__(self, model, *, index="k-SII", max_order=2, n_coalitions=4096, paired=True,
                 background=None, n_background=100, target=None, game="marginal",
                 feature_groups=None, surrogate_params=None, fast_path="auto", n_jobs=None,
                 verbose="auto", device="auto", random_state=None, batch_size=None):
        super(ExactInteractions, self).__init__(**shared_params(locals()))
        self.index = index
        self.max_order = max_order
        self.n_coalitions = n_coalitions
        self.paired = paired

    def _fit_shapley(self, d):
        self.index_ = canonical_index(self.index)
        self.interactions_ = interaction_sets(d, self.max_order)
        rng = np.random.default_rng(self._seed)
        fsii = self.index_ == "FSII"
        drawn = _stratified_draws(d, self.n_coalitions, self.paired, rng,
                                  self.max_order if fsii else None)
        self._size_columns = []
        if drawn is None:  # fewer units than sizes: independent kernel draws
            masks, weights, e, index, weight = _distinct_draws(
                d, self.n_coalitions, self.paired, rng)
            units = len(index) // 2 if self.paired else len(index)
            strata, fractions = np.zeros(units, dtype=np.int64), np.zeros(1)
        else:
            masks, weights, e, strata, fractions = drawn
            index = np.arange(e, len(masks))
            weight = weights[e:]
            if fsii:
                self._size_columns = _indicated_sizes(
                    d, masks, e, strata, fractions,
                    _surrogate_order(d, self.max_order, len(strata)))
        self._strata = (torch.as_tensor(strata, device=self.game_.device),
                        torch.as_tensor(1.0 - fractions, device=self.game_.device))
        self.coalitions_, self.weights_, self.n_enumerated_ = masks, weights, e
        n_sampled = len(index)
        units = n_sampled // 2 if self.paired else n_sampled
        self.surrogate_order_ = _surrogate_order(d, self.max_order, units)
        self.std_errors_dof_ = float("inf") if n_sampled == 0 else 0.0
        self._draws = torch.as_tensor(index, device=self.game_.device)
        # every draw as a row of its own (the enumerated coalitions, then each draw)
        self._prepare(d, masks, np.concatenate([np.arange(e), index]),
                      np.concatenate([weights[:e], weight]))
        self._noise = None
        if self._sampling_game() is not None and len(masks):
            self._noise = self._game_noise_weights()

    def _game_noise_weights(self):
        """For a game that draws: each distinct coalition's squared weight in the terms (m, p),
        less what the draws' spread counts of its noise (its draws' influence squared, times
        their stratum's finite-population factor), and v(empty)'s weight (p,)."""
        beta_map, beta_total = kernel_shap_map(self._design, self._weights)
        C, D, full = self._estimate
        L, t = beta_map @ D.T, D @ beta_total
        if C is not None:
            L, t = L + C, t + full
        counted = torch.zeros_like(L)
        if len(self._draws):
            strata, keep = self._strata
            # _std_errors skips a stratum with fewer than two units
            keep = torch.where(torch.bincount(strata, minlength=len(keep)) >= 2, keep, 0.0)
            keep = keep[strata]
            keep = torch.cat([keep, keep]) if self.paired else keep
            counted.index_add_(0, self._draws, keep[:, None] * self._influence**2)
        return L**2 - counted, -(L.sum(dim=0) + t)

    def _prepare(self, d, masks, draws, draw_weights):
        """The coalition-only parts of the estimate, shared by every row: the design of the
        surrogate's terms, the index's coefficients with inverse-probability weights, and
        the matrices of the estimate and of its standard errors. ``draws`` lists the draws (an
        index into ``masks``) with their weights ``draw_weights``: the fit on the distinct
        coalitions with their summed weights is the fit on the draws."""
        device = self.game_.device
        unique_masks, n_unique = masks, len(masks)
        masks, w = masks[draws], np.asarray(draw_weights, dtype=np.float64)
        sets, fitted = self.interactions_, interaction_sets(d, self.surrogate_order_)
        p, q = len(sets), len(fitted)
        members, sizes = _membership(d, sets)
        fit_members, fit_sizes = _membership(d, fitted)
        t = masks.sum(axis=1)
        Z = (masks.astype(np.float64) @ fit_members == fit_sizes[None, :]).astype(np.float64)
        # FSII's size indicators, fitted by centring the design and the values within their
        # sizes (their coefficients are then each size's mean residual; no indicator: nothing)
        own, means = _size_means(t, w, self._size_columns)
        Z_means = means.T @ Z
        Z = Z - own @ Z_means
        self._size_means = None if not self._size_columns else tuple(
            torch.as_tensor(a, device=device) for a in (own, means))
        self._masks = torch.as_tensor(unique_masks, device=device)
        Zu = np.zeros((n_unique, q))
        Zu[draws] = Z
        self._design = torch.as_tensor(Zu, device=device)
        self._weights = torch.as_tensor(self.weights_, device=device)
        self._draw_design = torch.as_tensor(Z[self.n_enumerated_:], device=device)
        if len(masks) == 0:
            return
        # the constrained inverse of the weighted normal equations (see kernel_shap_std_errors)
        A_inv = torch.linalg.pinv(torch.as_tensor(Z.T @ (w[:, None] * Z))).numpy()
        a1 = A_inv.sum(axis=1)
        M = A_inv - np.outer(a1, a1) / a1.sum()
        if len(self._draws):
            # the residual degrees of freedom: the units less the fit's leverage on the sampled
            # draws (the terms the enumerated coalitions pin down cost the draws nothing) and
            # the strata's means
            sampled = slice(self.n_enumerated_, None)
            leverage = float((((w[sampled, None] * Z[sampled]) @ M) * Z[sampled]).sum())
            units = len(self._draws) // 2 if self.paired else len(self._draws)
            leverage += len(self._size_columns)  # each indicator: its size's mean
            self.std_errors_dof_ = max(units - leverage - (len(self._strata[1]) - 1), 0.0)
        shared = (members.T @ fit_members).astype(np.int64)  # |S n R|: term S, fitted set R
        if self.index_ == "FSII":
            # the terms are the exact order-max_order FSII of the fitted surrogate g: its
            # constrained Shapley-kernel projection (the identity when g has no higher terms)
            P = _faithful_projection(d, sizes[:, None] + fit_sizes[None, :] - shared, sizes,
                                     self._size_columns)
            # the indicators' coefficients: their sizes' mean values less the terms' means
            D, C, full = P[:, :q] - P[:, q:] @ Z_means, means @ P[:, q:].T, np.zeros(p)
        else:
            mass = kernel_size_mass(d)
            kernel = mass[t - 1] / _binomials(d)[d, t]
            overlap = (masks.astype(np.float64) @ members).astype(np.int64)  # (m, p): |T n S|
            C = index_coefficients(self.index_, d, self.max_order, sizes[None, :], t[:, None],
                                   overlap) * (w / kernel)[:, None]  # (m, p)
            full = index_coefficients(self.index_, d, self.max_order, sizes, d, sizes)
            # g's index from its terms: I(S) = sum_{R superset of S} w(|R|, |S|) beta_R
            L = np.zeros((p, q))
            for size in range(1, self.max_order + 1):
                mw = moebius_weights(self.index_, d, self.max_order, size)
                rows = sizes == size
                L[rows] = (shared[rows] == size) * np.asarray(mw)[fit_sizes][None, :]
            D = L - C.T @ Z - np.outer(full, np.ones(q))
        Cu = None
        if self.index_ != "FSII" or self._size_columns:
            Cu = np.zeros((n_unique, p))
            np.add.at(Cu, draws, C)  # C.T @ (the draws' values) = Cu.T @ (the distinct ones')
            Cu, full = torch.as_tensor(Cu, device=device), torch.as_tensor(full, device=device)
        self._estimate = (Cu, torch.as_tensor(D, device=device), full)
        influence = C + (w[:, None] * Z) @ M.T @ D.T  # (m, p): a coalition's pull per unit
        self._influence = torch.as_tensor(influence[self.n_enumerated_:], device=device)

    def _coalitions_per_row(self, d):
        return max(1, len(self.coalitions_))

    def _shapley_values(self, X, fx, rng):
        total = fx - self._null
        if len(self.coalitions_) == 0:  # one player takes all of f(x) - E[f], exactly
            return total[:, None, :], self._one_player_errors(total)
        y, var = self._centered_values_and_variances(X, self._masks)
        fitted = _less_size_means(y, self._size_means)  # FSII: within its indicated sizes
        beta = solve_kernel_shap(self._design, self._weights, fitted, total)
        C, D, full = self._estimate
        terms = torch.einsum("pq,nqk->npk", D, beta)
        if C is not None:
            terms = (terms + torch.einsum("mp,nmk->npk", C, y)
                     + full[None, :, None] * total[:, None])
        errors = self._std_errors(y, beta)
        if var is not None:  # the game's draws: what the draws' spread does not count
            coef2, null_coef = self._noise
            errors = self._with_game_noise(errors, torch.einsum("nmk,mp->npk", var, coef2),
                                           null_coef)
        return terms, errors

    def _std_errors(self, y, beta):
        """Delta-method standard errors (n, p, k) from the sampled draws' contributions."""
        n_sampled = len(self._draws)
        dof = self.std_errors_dof_
        shape = (beta.shape[0], len(self.interactions_), beta.shape[2])
        if n_sampled == 0 or dof < 1:
            fill = 0.0 if n_sampled == 0 else float("nan")
            return beta.new_full(shape, fill)
        units = n_sampled // 2 if self.paired else n_sampled
        r = (_less_size_means(y, self._size_means)[:, self._draws]  # the residual of every draw
             - torch.einsum("mp,npk->nmk", self._draw_design, beta))
        G = self._influence  # (ms, p): each sampled coalition's contribution per residual
        if self.paired:  # a coalition and its complement: one draw, the sum of both
            parts = [(r[:, :units], G[:units]), (r[:, units:], G[units:])]
        else:
            parts = [(r, G)]
        var = _stratified_variance(parts, *self._strata)
        var = torch.as_tensor(var, dtype=beta.dtype).expand(shape).clamp(min=0.0)
        var = var * ((units - len(self._strata[1])) / dof)
        return with_rounding(var.sqrt(), y)
