"""RegressionMSR: regression-adjusted Monte Carlo Shapley values (Witter, Liu & Musco 2025).

A cheap surrogate of each row's game, fitted to the sampled coalition values, whose Shapley
values are exact, plus a Monte Carlo estimate of the Shapley values of its residual, from the
same samples (maximum sample reuse: every coalition serves every feature).
"""

import math

import numpy as np
import torch

from sklxai.explainers._shapley import ShapleyExplainer, shared_params
from sklxai.explainers.solvers import solve_kernel_shap
from sklxai.games.coalitions import StratifiedDesign
from sklxai.utils import param_validation as pv

#: shrinkage of each boosted tree and L2 penalty of its leaf values
_LEARNING_RATE = 0.3
_LEAF_L2 = 1.0
#: at most this many (row, coalition, leaf) entries at once while boosting (float64, 32 MiB)
_BOOST_ENTRIES = 2**22


class RegressionMSR(ShapleyExplainer):
    """Regression-adjusted Monte Carlo Shapley values (Witter, Liu & Musco 2025).

    For each row, on the coalitions of :class:`~sklxai.explainers.kernel.KernelSHAP`'s design
    (:class:`~sklxai.games.coalitions.StratifiedDesign`, drawn once in ``fit``):

    1. the KernelSHAP regression gives a linear surrogate of the game;
    2. a boosted ensemble of ``n_trees`` oblivious trees of depth ``max_depth`` (each level
       splits every node on one coalition indicator; learning rate 0.3, leaf L2 penalty 1) is
       fitted to the linear surrogate's residuals. A leaf of such a tree is the indicator of
       "these players in, those out", whose Shapley values are exact in closed form, so the
       surrogate's Shapley values cost nothing more;
    3. the Shapley values of what is left, v(S) minus the surrogate, are estimated by Monte
       Carlo with maximum sample reuse: phi_i = sum over sizes s of the mean over the sampled
       coalitions S of size s of ([i in S] / s - [i not in S] / (d - s)) r(S), centred within
       each size (exact on the enumerated sizes).

    The estimate is unbiased for the surrogate's game correction whatever the surrogate, and
    efficiency holds exactly (each size's correction sums to zero). The standard errors are
    those of the Monte Carlo correction (draws grouped by size, the surrogate held fixed).
    The boosted surrogate captures the interactions that the linear regression misses; on the
    benchmark's games it is the most accurate sampling estimator (:doc:`/benchmarks`,
    "Sampling estimators").

    Cost per row: ``n_coalitions`` coalitions, each evaluated on every background row, as
    KernelSHAP, plus boosting ``n_trees`` trees on them per row and output (a few tenths of a
    second per row and output at 2048 coalitions on one CPU core).

    Parameters
    ----------
    model, background, n_background, target, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer` (``model``: a fitted skorch net,
        torch.nn.Module, scikit-learn estimator or Pipeline).
    n_coalitions : int
        Coalitions evaluated per row (the empty and the full one are extra and free); the
        budget shared with KernelSHAP.
    paired : bool
        Sample coalitions with their complements.
    n_trees : int
        Boosted trees of the surrogate (0: the linear surrogate alone).
    max_depth : int
        Depth of each tree: the largest interaction order one tree captures (at most d).
    game, feature_groups, surrogate_params, n_jobs, verbose
        See :class:`~sklxai.explainers._shapley.ShapleyExplainer`.

    Attributes
    ----------
    coalitions_ : bool ndarray of shape (m, d)
        The coalitions used (drawn once in ``fit`` from ``random_state``).
    weights_ : ndarray of shape (m,)
        Their kernel weights (the linear surrogate's regression).
    n_enumerated_ : int
        How many of ``coalitions_`` (the first ones) are enumerated; the rest are sampled.
    std_errors_dof_ : float
        Degrees of freedom of the standard errors: independent draws less the sizes they
        fall in (inf when the values are exact, 0 when they cannot be measured).
    expected_value_ : ndarray of shape (n_outputs,)

    Examples
    --------
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
                 n_coalitions=2048, paired=True, n_trees=64, max_depth=5, n_jobs=None,
                 verbose="auto", device="auto", random_state=None, batch_size=None):
        super().__init__(**shared_params(locals()))
        self.n_coalitions = n_coalitions
        self.paired = paired
        self.n_trees = n_trees
        self.max_depth = max_depth

    def _fit_shapley(self, d):
        rng = np.random.default_rng(self._seed)
        if d == 1:
            masks, weights = np.zeros((0, 1), dtype=bool), np.zeros(0)
            self.n_enumerated_ = 0
        else:
            design = StratifiedDesign(d, self.n_coalitions, rule="coverage", paired=self.paired)
            masks, weights = design.draw(1, generator=rng)
            masks = masks[0]
            self.n_enumerated_ = len(design.enumerated)
        self.coalitions_, self.weights_ = masks, weights
        self._groups = _draw_groups(masks, self.n_enumerated_, d, self.paired)
        n_draws = sum(len(g) for g in self._groups)
        if n_draws == 0:
            self.std_errors_dof_ = float("inf")
        else:
            self.std_errors_dof_ = float(max(n_draws - len(self._groups), 0))
        device = self.game_.device
        self._masks = torch.as_tensor(masks, device=device)
        self._weights = torch.as_tensor(weights, dtype=torch.float64, device=device)

    def _coalitions_per_row(self, d):
        return max(1, len(self.coalitions_))

    def _shapley_values(self, X, fx, rng):
        total = fx - self._null
        d = self._n_players
        if d == 1:  # one feature takes all of f(x) - E[f], exactly
            return total[:, None, :], torch.zeros_like(total[:, None, :])
        values = self._centered_values(X, self._masks)
        phi = solve_kernel_shap(self._masks, self._weights, values, total)
        if not self._groups:  # every coalition enumerated: the regression is exact
            return phi, torch.zeros_like(phi)
        Z = self._masks.double()
        residual = values - torch.einsum("md,ndk->nmk", Z, phi)  # 0 at the empty and full one
        n, m, k = residual.shape
        depth = min(self.max_depth, d)
        if self.n_trees:
            # the surrogate also sees the empty and the full coalition, where the residual is 0
            Zs = torch.cat([Z, torch.zeros(1, d, dtype=Z.dtype, device=Z.device),
                            torch.ones(1, d, dtype=Z.dtype, device=Z.device)])
            y = torch.cat([residual, residual.new_zeros(n, 2, k)], dim=1)
            y = y.permute(0, 2, 1).reshape(n * k, m + 2)
            tree_phi, fitted = _boost(Zs, y, self.n_trees, depth)
            fitted = fitted - fitted[:, m : m + 1]  # the surrogate's game: g(S) - g(empty)
            phi = phi + tree_phi.reshape(n, k, d).permute(0, 2, 1)
            full = fitted[:, m + 1].reshape(n, k)
            residual = residual - fitted[:, :m].reshape(n, k, m).permute(0, 2, 1)
        else:
            full = residual.new_zeros(n, k)
        correction, errors = _monte_carlo(Z, residual, -full, self.n_enumerated_,
                                          self._groups, self.paired)
        phi = phi + correction
        # remove the last rounding residue so efficiency holds to float64 precision
        return phi + ((total - phi.sum(dim=1)) / d)[:, None, :], errors


def _draw_groups(masks, n_enumerated, d, paired):
    """The sampled draws grouped by size: a list of int arrays of draw indices (within the
    sampled block), one per size (or size pair when paired) with at least two draws."""
    sampled = masks[n_enumerated:]
    units = len(sampled) // 2 if paired else len(sampled)
    sizes = sampled[:units].sum(axis=1)
    keys = np.minimum(sizes, d - sizes) if paired else sizes
    groups = [np.flatnonzero(keys == key) for key in np.unique(keys)]
    return [g for g in groups if len(g) >= 2]


def _monte_carlo(Z, residual, residual_full, n_enumerated, groups, paired):
    """Shapley values of the residual game by size-stratified Monte Carlo, and their standard
    errors. Z (m, d) float64, residual (n, m, k) at Z, residual_full (n, k) at the full
    coalition (0 at the empty one)."""
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
        draw_of = torch.arange(len(group), device=Z.device).repeat(len(coalitions) // len(group))
        per_draw = torch.zeros(n, len(group), d, k, dtype=phi.dtype, device=phi.device)
        for s in torch.unique(sizes[coalitions]).tolist():  # each size its own centred mean
            at = sizes[coalitions] == s
            terms = _size_terms(Z[coalitions[at]], residual[:, coalitions[at]], s, d)
            per_draw.index_add_(1, draw_of[at], terms / int(at.sum()))
        phi += per_draw.sum(dim=1)
        g = len(group)
        var += per_draw.pow(2).sum(dim=1) * g / (g - 1)  # each draw's terms sum to 0
    return phi, var.sqrt()


def _size_terms(Z, residual, s, d):
    """Centred per-coalition terms ([i in S] / s - [i not in S] / (d - s)) (r(S) - mean r) of
    coalitions of one size s: (n, c, d, k)."""
    a = Z / s - (1 - Z) / (d - s)  # (c, d)
    centred = residual - residual.mean(dim=1, keepdim=True)
    return torch.einsum("cd,nck->ncdk", a, centred)


def _boost(Z, y, n_trees, depth):
    """Boosted oblivious trees fitted to y (r, m) on coalitions Z (m, d), row by row.

    Returns the Shapley values (r, d) of each row's ensemble as a game, S -> g(1_S) - g(0), and
    its fitted values (r, m). A leaf of an oblivious tree of depth t is "P in, N out" for
    disjoint P, N with |P| + |N| = t: its Shapley values are (|P|-1)! |N|! / t! for the
    players of P and -|P|! (|N|-1)! / t! for those of N.
    """
    rows, m = y.shape
    per_block = max(1, _BOOST_ENTRIES // (m * 2**depth))
    phis, fits = [], []
    for start in range(0, rows, per_block):
        phi, fit = _boost_block(Z, y[start : start + per_block], n_trees, depth)
        phis.append(phi)
        fits.append(fit)
    return torch.cat(phis), torch.cat(fits)


def _boost_block(Z, y, n_trees, depth):
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
        g = y - fitted
        leaf = torch.zeros(rows, m, dtype=torch.long, device=y.device)
        used = torch.zeros(rows, d, dtype=torch.bool, device=y.device)
        split = []
        for level in range(depth):
            member = torch.zeros(rows, 2**level, m, dtype=y.dtype, device=y.device)
            member.scatter_(1, leaf[:, None, :], 1.0)
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
        member.scatter_(1, leaf[:, None, :], 1.0)
        value = _LEARNING_RATE * (member * g[:, None, :]).sum(dim=2) / (member.sum(dim=2)
                                                                        + _LEAF_L2)
        fitted = fitted + torch.gather(value, 1, leaf)
        contribution = value @ coef  # (rows, depth): each level's player
        for t, j in enumerate(split):
            phi[at, j] += contribution[:, t]
    return phi, fitted
