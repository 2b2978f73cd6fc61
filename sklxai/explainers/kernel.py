"""KernelSHAP: Shapley values as a constrained weighted least-squares fit over coalitions.

The coalition design (:class:`~sklxai.games.coalitions.StratifiedDesign`, shap's rule) and the
solver (:func:`~sklxai.explainers.solvers.solve_kernel_shap`) are shared, so other estimators
can reuse them.
"""

import numpy as np
import torch

from sklxai.explainers._shapley import ShapleyExplainer, shared_docstring, shared_params
from sklxai.explainers.solvers import (
    kernel_shap_dof,
    kernel_shap_map,
    kernel_shap_std_errors,
    shared_noise_weights,
    solve_kernel_shap,
)
from sklxai.games.coalitions import StratifiedDesign
from sklxai.utils import param_validation as pv


@shared_docstring
class KernelSHAP(ShapleyExplainer):
    """Kernel SHAP (Lundberg & Lee 2017) on batched torch games.

    Fits the Shapley values as the solution of a weighted least-squares problem over coalitions,
    with the efficiency constraint (values sum to f(x) - E[f]) solved exactly. The same
    coalitions serve every row, so the system is factorised once and all rows are solved in one
    batched product. With ``n_coalitions >= 2**d - 2`` all coalitions are used and the result is
    the exact Shapley value. Otherwise the extreme coalition sizes are enumerated and the rest
    sampled from the Shapley kernel (:class:`~sklxai.games.coalitions.StratifiedDesign`, the
    rule of ``shap.KernelExplainer``).

    Every value comes with its standard error (``Explanation.std_errors``), from the design's
    own variance: the sampled coalitions are independent draws (a coalition and its complement
    one draw when ``paired``), and the sandwich estimate of the constrained regression
    (:func:`~sklxai.explainers.solvers.kernel_shap_std_errors`) gives each value's variance
    over them, for each row, with no extra model calls. Where the game draws
    (:class:`~sklxai.games.GaussianGame`, :class:`~sklxai.games.CopulaGame`), the residuals
    hold its noise on the sampled coalitions as independent draws; what they miss (the
    enumerated coalitions, a coalition drawn more than once, which is one game value, and
    v(empty)) is added from the game's variance of each value through the values' weights in
    the solution (:func:`~sklxai.explainers.solvers.kernel_shap_map`; :ref:`which_game`).
    A 95% interval is ``values ± t *
    std_errors`` with t the 97.5% quantile of Student's t with ``std_errors_dof_`` degrees of
    freedom (``scipy.stats.t.ppf(0.975, std_errors_dof_)``; hundreds at the usual budgets, so
    t is about 1.96, the normal quantile); ``docs/benchmarks.rst`` reports how often such
    intervals cover the exact values. The standard errors are 0 when every coalition is
    enumerated (exact values; the game's noise alone where it draws) and NaN when fewer than d
    draws are sampled. The coalitions are
    shared by every row, so the rows' errors are correlated: each interval covers its value at
    the stated rate, but the rows of one fit are not independent trials.

    Cost per row: ``n_coalitions`` coalitions, each evaluated on every background row: 2048 x
    ``n_background`` model evaluations by default (at most 2**d - 2 coalitions). The default
    enumerates every coalition, so it is exact, up to d = 11 features.

    Parameters
    ----------
    n_coalitions : int
        Coalitions evaluated per row (the empty and the full one are extra and free); the
        budget shared with PermutationSHAP.
    paired : bool
        Sample coalitions with their complements (paired sampling, Covert & Lee 2021).
    {shared_parameters}

    Attributes
    ----------
    coalitions_ : bool ndarray of shape (m, d)
        The coalitions used (drawn once in ``fit`` from ``random_state``).
    weights_ : ndarray of shape (m,)
        Their kernel weights.
    n_enumerated_ : int
        How many of ``coalitions_`` (the first ones) are enumerated; the rest are sampled.
    std_errors_dof_ : float
        Degrees of freedom of the standard errors: independent draws less d - 1 (inf when
        the values are exact, 0 when the standard errors cannot be measured).
    expected_value_ : ndarray of shape (n_outputs,)

    Examples
    --------
    Every class of ``predict_proba`` is explained at once:

    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklxai import KernelSHAP
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 4)); y = (X[:, 0] > 0).astype(int)
    >>> clf = LogisticRegression().fit(X, y)
    >>> exp = KernelSHAP(clf, n_background=20, random_state=0).fit(X).explain(X[:3])
    >>> exp.values.shape
    (3, 4, 2)
    """

    _parameter_constraints = {
        **ShapleyExplainer._parameter_constraints,
        "n_coalitions": pv.positive_int(minimum=2),
        "paired": pv.boolean(),
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 game="marginal", feature_groups=None, surrogate_params=None, fast_path="auto",
                 n_coalitions=2048, paired=True, n_jobs=None, verbose="auto", device="auto",
                 random_state=None, batch_size=None):
        super().__init__(**shared_params(locals()))
        self.n_coalitions = n_coalitions
        self.paired = paired

    def _fit_shapley(self, d):
        masks, weights, self.n_enumerated_, self._error_scale = self._draw_coalitions(
            d, np.random.default_rng(self._seed))
        self.coalitions_, self.weights_ = masks, weights
        n_sampled = len(masks) - self.n_enumerated_
        dof = kernel_shap_dof(n_sampled, d, paired=self.paired)
        self.std_errors_dof_ = float("inf") if n_sampled == 0 else float(max(dof, 0))
        device = self.game_.device
        self._masks = torch.as_tensor(masks, device=device)
        self._weights = torch.as_tensor(weights, dtype=torch.float64, device=device)
        self._noise = None
        if self._sampling_game() is not None and len(masks):
            # the values' weights in the solution: the game's noise on a coalition listed twice
            # is one draw, on an enumerated one the sandwich does not see, and v(empty)'s is in
            # every value
            L, t = kernel_shap_map(self._masks, self._weights)
            counted = torch.arange(len(masks), device=device) >= self.n_enumerated_
            self._noise = (shared_noise_weights(L, self._masks, counted), -(L.sum(dim=0) + t))

    def _draw_coalitions(self, d, rng):
        """The coalitions (m, d), their kernel weights (m,), how many of them (the first ones)
        are enumerated rather than sampled, and a factor of the standard errors (1 for draws
        with replacement). Subclasses draw other designs for the same regression."""
        return (*kernel_coalitions(d, self.n_coalitions, self.paired, rng), 1.0)

    def _coalitions_per_row(self, d):
        return max(1, len(self.coalitions_))

    def _shapley_values(self, X, fx, rng):
        total = fx - self._null
        if self._n_players == 1:  # one feature takes all of f(x) - E[f], exactly
            return total[:, None, :], self._one_player_errors(total)
        values, var = self._centered_values_and_variances(X, self._masks)
        phi = solve_kernel_shap(self._masks, self._weights, values, total)
        errors = kernel_shap_std_errors(self._masks, self._weights, values, phi,
                                        n_enumerated=self.n_enumerated_, paired=self.paired)
        errors = errors * self._error_scale
        if var is not None:  # the game's draws: what the sandwich does not count
            coef2, null_coef = self._noise
            errors = self._with_game_noise(errors, torch.einsum("nmk,md->ndk", var, coef2),
                                           null_coef)
        return phi, errors


def kernel_coalitions(d, n_coalitions, paired, rng):
    """KernelSHAP's coalitions: (masks (m, d), kernel weights (m,), how many of them, the first
    ones, are enumerated), drawn from :class:`~sklxai.games.coalitions.StratifiedDesign` with
    ``rng``; none for one player."""
    if d == 1:
        return np.zeros((0, 1), dtype=bool), np.zeros(0), 0
    design = StratifiedDesign(d, n_coalitions, rule="coverage", paired=paired)
    masks, weights = design.draw(1, generator=rng)
    return masks[0], weights, len(design.enumerated)
