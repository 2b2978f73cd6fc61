"""PermutationSHAP: Shapley values as averaged marginal contributions along permutations."""

import numpy as np
import torch

from sklxai.explainers._shapley import ShapleyExplainer, shared_docstring, shared_params
from sklxai.explainers.solvers import mean_and_std_error, with_rounding
from sklxai.utils import param_validation as pv


@shared_docstring
class PermutationSHAP(ShapleyExplainer):
    """Permutation sampling of Shapley values (Strumbelj & Kononenko), antithetic by default.

    For each row, features are added to the coalition in random orders; each feature's value is
    its average marginal contribution. With ``antithetic=True`` every permutation is followed by
    its reverse, which lowers the variance. Every permutation's contributions sum to
    f(x) - E[f], so efficiency holds exactly; the estimate is unbiased.

    Every value comes with its standard error (``Explanation.std_errors``), from the
    permutations' own variance: the sample standard deviation of the independent estimates
    (each antithetic pair's average, or each permutation when ``antithetic=False``) over the
    square root of their count, per row. Where the game draws
    (:class:`~sklxai.games.GaussianGame`, :class:`~sklxai.games.CopulaGame`), that spread holds
    the noise of each coalition value as an independent draw; a prefix that recurs in several
    permutations is one game value, and v(empty)'s draws are in every permutation, so their
    share is added from the game's variance of each value (:ref:`which_game`). A 95% interval is ``values ± t * std_errors``
    with t the 97.5% quantile of Student's t with ``std_errors_dof_`` (the count of independent
    estimates less one) degrees of freedom, ``scipy.stats.t.ppf(0.975, std_errors_dof_)``:
    the count is small at a large d (16 pairs for d = 64 at 2048 coalitions, t = 2.13), where
    the normal quantile 1.96 would cover less often; ``docs/benchmarks.rst`` reports the
    coverage measured. A value that every permutation agrees on keeps the float64 rounding of
    its sums as its standard error
    (:func:`~sklxai.explainers.solvers.with_rounding`). NaN with a single estimate.

    Cost per row: ``n_permutations_ * (d - 1)`` coalitions (about ``n_coalitions``), each
    evaluated on every background row: 2048 x ``n_background`` model evaluations by default.
    At small d the default is within about 1% relative error of the exact values (512
    permutations for 5 features).

    Parameters
    ----------
    n_coalitions : int
        Coalitions evaluated per row, the budget shared with KernelSHAP: each permutation
        evaluates d - 1 of them, so ``max(1, n_coalitions // (d - 1))`` permutations are drawn
        per row (rounded up to even when ``antithetic``).
    antithetic : bool
        Pair every permutation with its reverse.
    {shared_parameters}

    Attributes
    ----------
    game_ : sklxai.games.Game
    n_permutations_ : int
        Permutations drawn per row.
    std_errors_dof_ : float
        Degrees of freedom of the standard errors: independent estimates (antithetic pairs, or
        permutations) less one; inf for one feature (exact values).
    expected_value_ : ndarray of shape (n_outputs,)

    Examples
    --------
    A linear model's values are exact from any permutation: w_j (x_j - mean of b_j).

    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from sklxai import PermutationSHAP
    >>> X, y = load_diabetes(return_X_y=True)
    >>> ridge = Ridge().fit(X, y)
    >>> est = PermutationSHAP(ridge, n_background=30, n_coalitions=90, random_state=0).fit(X)
    >>> phi = est.explain(X[:2]).values
    >>> bool(abs(phi - (X[:2] - est.background_.mean(0)) * ridge.coef_).max() < 1e-9)
    True
    """

    _parameter_constraints = {
        **ShapleyExplainer._parameter_constraints,
        "n_coalitions": pv.positive_int(),
        "antithetic": pv.boolean(),
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 game="marginal", feature_groups=None, surrogate_params=None, fast_path="auto",
                 n_coalitions=2048, antithetic=True, n_jobs=None, verbose="auto", device="auto",
                 random_state=None, batch_size=None):
        super().__init__(**shared_params(locals()))
        self.n_coalitions = n_coalitions
        self.antithetic = antithetic

    def _fit_shapley(self, d):
        p = max(1, self.n_coalitions // max(d - 1, 1))
        self.n_permutations_ = p + (p % 2) if self.antithetic else p
        units = self.n_permutations_ // 2 if self.antithetic else self.n_permutations_
        self.std_errors_dof_ = float("inf") if d == 1 else float(units - 1)

    def _coalitions_per_row(self, d):
        return self.n_permutations_ * max(d - 1, 1)

    def _shapley_values(self, X, fx, rng):
        n, d = X.shape[0], self._n_players
        P = self.n_permutations_
        total = fx - self._null  # (n, k)
        if d == 1:  # exact
            return total[:, None, :], self._one_player_errors(total)
        n_draw = P // 2 if self.antithetic else P
        # drawn on the CPU from numpy so that CPU and GPU runs use the same permutations
        order = np.argsort(rng.random((n, n_draw, d)), axis=2)
        if self.antithetic:
            order = np.concatenate([order, order[:, :, ::-1]], axis=1)
        rank = np.argsort(order, axis=2)  # rank[i] = position of feature i
        rank = torch.as_tensor(rank, device=X.device)
        steps = torch.arange(1, d, device=X.device)
        # prefix of length t holds the features whose rank is < t
        masks = rank[:, :, None, :] < steps[None, None, :, None]  # (n, P, d-1, d)
        v, var = self._centered_values_and_variances(X, masks.reshape(n, P * (d - 1), d))
        k = v.shape[-1]
        v = v.reshape(n, P, d - 1, k)
        zero = torch.zeros(n, P, 1, k, dtype=v.dtype, device=v.device)
        full = total[:, None, None, :].expand(n, P, 1, k)
        path = torch.cat([zero, v, full], dim=2)  # values along each permutation, (n,P,d+1,k)
        gains = path[:, :, 1:] - path[:, :, :-1]  # gain at each position
        per_feature = torch.gather(gains, 2, rank[..., None].expand(n, P, d, k))
        if self.antithetic:  # a permutation and its reverse: one independent estimate
            units = (per_feature[:, :n_draw] + per_feature[:, n_draw:]) / 2
        else:
            units = per_feature
        errors = with_rounding(mean_and_std_error(units, 1)[1], path)
        if var is not None:  # the game's draws: what the spread over permutations misses
            order = torch.as_tensor(order, device=X.device)
            first = (rank == 0).double().mean(dim=1)  # (n, d): v(empty)'s weight is -first
            errors = self._with_game_noise(errors, _repeated_coalition_variance(order, masks, var),
                                           -first)
        return per_feature.mean(dim=1), errors


def _repeated_coalition_variance(order, masks, var):
    """The variance (n, d, k) that the game's noise adds to the permutation estimate through
    coalitions that recur in a row's permutations, beyond the spread over permutations.

    A prefix S of a permutation enters the estimate of the feature that completes it (+1/P)
    and of the next one (-1/P). The same (S, i) pair met c times in a row's P permutations
    carries one draw of S's noise c times: variance c**2 sigma_S**2 / P**2, of which the spread
    over permutations, which takes every occurrence as independent, counts c sigma_S**2 / P**2.
    order (n, P, d) the permutations, masks (n, P, d - 1, d) their prefixes, var
    (n, P (d - 1), k) the variance of each prefix's value. Coalitions are told apart by a
    random 64-bit code of each feature summed over its members (wrapping): two distinct ones
    share a key with probability 2**-64.
    """
    n, P, steps, d = masks.shape
    k = var.shape[-1]
    generator = torch.Generator().manual_seed(0)
    codes = torch.randint(-2**62, 2**62, (2, d), generator=generator).to(masks.device)
    keys = (masks.long() * codes[0]).sum(dim=-1)  # (n, P, steps): the prefix's key
    features = torch.stack([order[:, :, :steps], order[:, :, 1:]], dim=-1)  # (n, P, steps, 2)
    entries = torch.stack([torch.arange(n, device=masks.device)[:, None, None, None]
                           .expand_as(features), keys[..., None] + codes[1][features]], dim=-1)
    _, inverse, counts = torch.unique(entries.reshape(-1, 2), dim=0, return_inverse=True,
                                      return_counts=True)
    repeats = (counts[inverse] - 1).double().reshape(n, P, steps, 2, 1)
    extra = repeats * var.reshape(n, P, steps, 1, k)
    out = torch.zeros(n, d, k, dtype=torch.float64, device=var.device)
    out.scatter_add_(1, features.reshape(n, -1, 1).expand(-1, -1, k), extra.reshape(n, -1, k))
    return out / P**2
