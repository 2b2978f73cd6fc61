"""KernelInteractions: Shapley interaction indices from a budget of sampled coalitions.

Every index but FSII is linear in the game, I(S) = sum_T c_S(T) v(T), with a coefficient that
depends only on |S|, |T| and |T n S| (:func:`index_coefficients`). The estimator fits the
order-k Moebius surrogate g of the sampled coalitions by Shapley-kernel least squares (FSII's
own problem: for FSII the fit is the answer), takes g's index exactly, and adds the index of
the residual game v - g, estimated from the same coalitions by inverse-probability weighting
(regression-adjusted Monte Carlo; a control variate in the spirit of KernelSHAP-IQ). With
every coalition enumerated both parts are exact.
"""

import math

import numpy as np
import torch

from sklxai._explanation_interactions import InteractionExplanation
from sklxai.explainers._shapley import shared_docstring, shared_params
from sklxai.explainers.interaction_indices import (
    bernoulli_numbers,
    canonical_index,
    interaction_sets,
    moebius_weights,
)
from sklxai.explainers.interactions import ExactInteractions
from sklxai.explainers.solvers import solve_kernel_shap, with_rounding
from sklxai.games.coalitions import StratifiedDesign, kernel_size_mass
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


def _distinct_draws(d, n_coalitions, paired, rng):
    """KernelSHAP's design (:class:`~sklxai.games.coalitions.StratifiedDesign`, rule
    ``"coverage"``) drawn until its sampled part holds as many *distinct* coalitions as the
    budget leaves, as shapiq's coalition sampler does: a repeated draw costs no model call.

    Returns (masks (m, d) of the distinct coalitions, the enumerated ones first; their weights,
    each the sum over its draws; how many are enumerated; the index into ``masks`` of every
    draw, its complements after it when ``paired``; the weight of one draw). The draws are
    independent kernel draws with equal weights, so the estimate is KernelSHAP's with more
    draws than model calls, and the standard errors follow the draws.
    """
    if d == 1:
        return np.zeros((0, 1), dtype=bool), np.zeros(0), 0, np.zeros(0, dtype=np.int64), 0.0
    design = StratifiedDesign(d, n_coalitions, rule="coverage", paired=paired)
    enum, e = design.enumerated, len(design.enumerated)
    batch = target = design.n_sampled // 2 if paired else design.n_sampled
    if target == 0:
        return enum, design.enumerated_weights, e, np.zeros(0, dtype=np.int64), 0.0
    available = sum(math.comb(d, int(s)) for s in design.sizes)
    target = min(target, available // 2 if paired else available)
    bits = 2 ** np.arange(d, dtype=np.int64)
    full = int(bits.sum())
    first, seen, draws, flips = [], {}, [], []
    max_draws = 50 * target  # near-full budgets: stop collecting rare coalitions
    while len(seen) < target and len(draws) < max_draws:
        sampled = design.draw(1, generator=rng)[0][0, e:e + batch]
        for mask, key in zip(sampled, sampled @ bits):
            key = int(key)
            unit = min(key, full - key) if paired else key
            if unit not in seen:
                seen[unit] = len(first)
                first.append(mask)
            draws.append(seen[unit])
            flips.append(paired and not np.array_equal(first[seen[unit]], mask))
            if len(seen) >= target:
                break
    units, draws, flips = len(first), np.asarray(draws), np.asarray(flips, dtype=bool)
    distinct = np.asarray(first, dtype=bool).reshape(-1, d)
    if paired:  # distinct: the first of each pair, then their complements
        distinct = np.concatenate([distinct, ~distinct])
        index = np.concatenate([draws + units * flips, draws + units * ~flips])
    else:
        index = draws
    weight = design.rest_mass / len(index)
    merged = np.bincount(index, minlength=len(distinct)) * weight
    masks = np.concatenate([enum, distinct])
    weights = np.concatenate([design.enumerated_weights, merged])
    return masks, weights, e, index + e, weight


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
    (:class:`~sklxai.games.coalitions.StratifiedDesign`: the extreme sizes enumerated, the
    rest drawn from the Shapley kernel with their complements), drawn until the sampled part
    holds as many distinct coalitions as the budget leaves (as shapiq's sampler does: a
    repeated draw counts in the fit and costs no model call), one draw for every row, each
    evaluated on the same games as every Shapley explainer (feature groups, pipelines,
    ``target``, devices). On them:

    1. the order-``max_order`` surrogate g(T) = sum of beta_R over the sets R in T of at
       most ``max_order`` players is fitted by Shapley-kernel weighted least squares with
       g(N) = v(N) (efficiency). That is FSII's definition over the sampled coalitions, so for
       ``index="FSII"`` the fit is the answer;
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
    contributions through the fit's residuals, with no extra model calls; 0 when every
    coalition is enumerated, NaN without more draws than terms. A 95% interval is ``values ±
    scipy.stats.t.ppf(0.975, std_errors_dof_) * std_errors``.

    Cost per row: ``n_coalitions`` coalitions (at most 2**d - 2), each evaluated on every
    background row: 4096 x ``n_background`` model calls by default, plus one for the row. The
    default enumerates every coalition (exact) up to d = 12 players; beyond, the error of the
    pair terms against the budget is in ``docs/benchmarks.rst`` (at 2,048 coalitions, half the
    default, 0.7-2.1% at d = 12; at d = 16, 8,192 coalitions give 0.8-1.8%).

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
        Their kernel weights (a sampled coalition's summed over the draws that hit it).
    n_enumerated_ : int
        How many of ``coalitions_`` (the first ones) are enumerated; the rest are sampled.
    std_errors_dof_ : float
        Degrees of freedom of the standard errors: independent draws less the terms fitted
        but one (inf when the values are exact, 0 when they cannot be measured).
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
        masks, weights, e, index, weight = _distinct_draws(
            d, self.n_coalitions, self.paired, np.random.default_rng(self._seed))
        self.coalitions_, self.weights_, self.n_enumerated_ = masks, weights, e
        n_sampled = len(index)
        units = n_sampled // 2 if self.paired else n_sampled
        self.std_errors_dof_ = (float("inf") if n_sampled == 0
                                else float(max(units - (len(self.interactions_) - 1), 0)))
        self._draws = torch.as_tensor(index, device=self.game_.device)
        # every draw as a row of its own (the enumerated coalitions, then each draw)
        self._prepare(d, masks, np.concatenate([np.arange(e), index]),
                      np.concatenate([weights[:e], np.full(n_sampled, weight)]))

    def _prepare(self, d, masks, draws, draw_weights):
        """The coalition-only parts of the estimate, shared by every row: the design of the
        surrogate's terms, the index's coefficients with inverse-probability weights, and
        the matrices of the estimate and of its standard errors. ``draws`` lists the draws (an
        index into ``masks``) with their weights ``draw_weights``: the fit on the distinct
        coalitions with their summed weights is the fit on the draws."""
        device = self.game_.device
        unique_masks, n_unique = masks, len(masks)
        masks, weights = masks[draws], draw_weights
        sets = self.interactions_
        p = len(sets)
        members = np.zeros((d, p))
        for col, s in enumerate(sets):
            members[list(s), col] = 1.0
        sizes = members.sum(axis=0).astype(np.int64)  # |S| of each term
        t = masks.sum(axis=1)
        overlap = masks.astype(np.float64) @ members  # (m, p): |T n S|
        Z = (overlap == sizes[None, :]).astype(np.float64)  # 1[S subset of T]
        w = np.asarray(weights, dtype=np.float64)
        self._masks = torch.as_tensor(unique_masks, device=device)
        Zu = np.zeros((n_unique, p))
        Zu[draws] = Z
        self._design = torch.as_tensor(Zu, device=device)
        self._weights = torch.as_tensor(self.weights_, device=device)
        self._draw_design = torch.as_tensor(Z[self.n_enumerated_:], device=device)
        if len(masks) == 0:
            return
        # the constrained inverse of the weighted normal equations (see kernel_shap_std_errors)
        A_inv = np.linalg.pinv(Z.T @ (w[:, None] * Z))
        a1 = A_inv.sum(axis=1)
        M = A_inv - np.outer(a1, a1) / a1.sum()
        if self.index_ == "FSII":
            self._estimate = None
            influence = (w[:, None] * Z) @ M.T  # (m, p): a coalition's pull on the fit per unit
        else:
            mass = kernel_size_mass(d)
            kernel = mass[t - 1] / _binomials(d)[d, t]
            C = index_coefficients(self.index_, d, self.max_order, sizes[None, :], t[:, None],
                                   overlap.astype(np.int64)) * (w / kernel)[:, None]  # (m, p)
            full = index_coefficients(self.index_, d, self.max_order, sizes, d, sizes)
            # g's index from its terms: I(S) = sum_{R superset of S} w(|R|, |S|) beta_R
            L = np.zeros((p, p))
            for size in range(1, self.max_order + 1):
                mw = moebius_weights(self.index_, d, self.max_order, size)
                rows = sizes == size
                contains = (members[:, rows].T @ members) == size  # S (rows) subset of R
                L[rows] = contains * np.asarray(mw)[sizes][None, :]
            D = L - C.T @ Z - np.outer(full, np.ones(p))
            Cu = np.zeros((n_unique, p))
            np.add.at(Cu, draws, C)  # C.T @ (the draws' values) = Cu.T @ (the distinct ones')
            self._estimate = (torch.as_tensor(Cu, device=device),
                              torch.as_tensor(D, device=device),
                              torch.as_tensor(full, device=device))
            influence = C + (w[:, None] * Z) @ M.T @ D.T
        self._influence = torch.as_tensor(influence[self.n_enumerated_:], device=device)

    def _coalitions_per_row(self, d):
        return max(1, len(self.coalitions_))

    def _shapley_values(self, X, fx, rng):
        total = fx - self._null
        if len(self.coalitions_) == 0:  # one player takes all of f(x) - E[f], exactly
            return total[:, None, :], torch.zeros_like(total[:, None, :])
        y = self._centered_values(X, self._masks)
        beta = solve_kernel_shap(self._design, self._weights, y, total)
        if self._estimate is None:
            terms = beta
        else:
            C, D, full = self._estimate
            terms = (torch.einsum("mp,nmk->npk", C, y) + full[None, :, None] * total[:, None]
                     + torch.einsum("pq,nqk->npk", D, beta))
        return terms, self._std_errors(y, beta)

    def _std_errors(self, y, beta):
        """Delta-method standard errors (n, p, k) from the sampled draws' contributions."""
        n_sampled = len(self._draws)
        dof = self.std_errors_dof_
        if n_sampled == 0 or dof < 1:
            fill = 0.0 if n_sampled == 0 else float("nan")
            return torch.full_like(beta, fill)
        units = n_sampled // 2 if self.paired else n_sampled
        r = (y[:, self._draws]  # the residual of every draw
             - torch.einsum("mp,npk->nmk", self._draw_design, beta))
        G = self._influence  # (ms, p): each sampled coalition's contribution per residual
        if self.paired:  # a coalition and its complement: one draw, the sum of both
            parts = [(r[:, :units], G[:units]), (r[:, units:], G[units:])]
        else:
            parts = [(r, G)]
        total = sum(torch.einsum("nuk,up->npk", q, g) for q, g in parts)
        squares = sum(torch.einsum("nuk,up->npk", qa * qb, ga * gb)
                      for qa, ga in parts for qb, gb in parts)
        var = (squares - total**2 / units).clamp(min=0.0) * (units / dof)
        return with_rounding(var.sqrt(), y)

    def _make_explanation(self, X, **fields):
        errors = fields.pop("std_errors", None)
        return InteractionExplanation.from_terms(
            fields.pop("values"), self.interactions_, index=self.index_,
            max_order=self.max_order, std_errors=errors, **{name: fields[name] for name in (
                "base_values", "data", "feature_names", "output_names", "output", "method")})
