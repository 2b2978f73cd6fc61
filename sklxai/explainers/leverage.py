"""LeverageSHAP: the KernelSHAP regression on coalitions drawn by their leverage scores."""

import math

import numpy as np
import torch

from sklxai.explainers._shapley import ShapleyExplainer, shared_params
from sklxai.explainers.solvers import kernel_shap_dof, kernel_shap_std_errors, solve_kernel_shap
from sklxai.games.coalitions import LeverageDesign
from sklxai.utils import param_validation as pv


class LeverageSHAP(ShapleyExplainer):
    """Leverage SHAP (Musco & Witter 2025): Kernel SHAP's regression on leverage-score samples.

    Solves the same constrained weighted least-squares problem as
    :class:`~sklxai.explainers.kernel.KernelSHAP` (efficiency holds exactly), on coalitions
    drawn by their leverage scores (:class:`~sklxai.games.coalitions.LeverageDesign`): uniformly
    over every coalition of 1..d-1 players, without replacement and paired with their
    complements, each with its Shapley-kernel weight. This sampling has a proven error bound
    (the regression is solved to within a (1 + eps) factor of its best fit with
    O(d log d + d / eps) samples). The coalitions are drawn once in ``fit`` and serve every
    row. With ``n_coalitions >= 2**d - 2`` every coalition is used and the values are exact.
    On the benchmark's games KernelSHAP, which enumerates the extreme coalition sizes, is
    the more accurate at equal budget (:doc:`/benchmarks`, "Sampling estimators").

    Cost per row: ``n_coalitions`` coalitions, each evaluated on every background row, as
    KernelSHAP.

    Parameters
    ----------
    model, background, n_background, target, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer` (``model``: a fitted skorch net,
        torch.nn.Module, scikit-learn estimator or Pipeline).
    n_coalitions : int
        Coalitions evaluated per row (the empty and the full one are extra and free); the
        budget shared with KernelSHAP.
    paired : bool
        Draw coalitions with their complements.
    game, feature_groups, surrogate_params, n_jobs, verbose
        See :class:`~sklxai.explainers._shapley.ShapleyExplainer`.

    Attributes
    ----------
    coalitions_ : bool ndarray of shape (m, d)
        The coalitions used (drawn once in ``fit`` from ``random_state``).
    weights_ : ndarray of shape (m,)
        Their kernel weights (up to a common factor).
    std_errors_dof_ : float
        Degrees of freedom of the standard errors: independent draws less d - 1 (inf when
        the values are exact, 0 when the standard errors cannot be measured).
    expected_value_ : ndarray of shape (n_outputs,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklxai import LeverageSHAP
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 5)); y = X @ [1.0, -2.0, 0.5, 0.0, 3.0]
    >>> est = LeverageSHAP(Ridge().fit(X, y), n_background=20, n_coalitions=30,
    ...                    random_state=0).fit(X)
    >>> exp = est.explain(X[:3])
    >>> bool(np.allclose(exp.values.sum(axis=1), exp.output - exp.base_values))
    True
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
        rng = np.random.default_rng(self._seed)
        if d == 1:
            masks, weights, n_sampled = np.zeros((0, 1), dtype=bool), np.zeros(0), 0
            self._fpc = 1.0
        else:
            design = LeverageDesign(d, self.n_coalitions, paired=self.paired)
            masks, weights = design.draw(generator=rng)
            n_sampled = 0 if design.exact else len(masks)
            # without replacement: the finite-population correction of the draws' variance
            population = 2 ** (d - 1) - 1 if self.paired else 2**d - 2
            self._fpc = math.sqrt(max(0.0, 1.0 - design.n_units / population))
        self.coalitions_, self.weights_ = masks, weights
        self._n_sampled = n_sampled
        dof = kernel_shap_dof(n_sampled, d, paired=self.paired)
        self.std_errors_dof_ = float("inf") if n_sampled == 0 else float(max(dof, 0))
        device = self.game_.device
        self._masks = torch.as_tensor(masks, device=device)
        self._weights = torch.as_tensor(weights, dtype=torch.float64, device=device)

    def _coalitions_per_row(self, d):
        return max(1, len(self.coalitions_))

    def _shapley_values(self, X, fx, rng):
        total = fx - self._null
        if self._n_players == 1:  # one feature takes all of f(x) - E[f], exactly
            return total[:, None, :], torch.zeros_like(total[:, None, :])
        values = self._centered_values(X, self._masks)
        phi = solve_kernel_shap(self._masks, self._weights, values, total)
        if self._n_sampled == 0:  # every coalition: exact
            return phi, torch.zeros_like(phi)
        errors = kernel_shap_std_errors(self._masks, self._weights, values, phi,
                                        n_enumerated=0, paired=self.paired)
        return phi, errors * self._fpc
