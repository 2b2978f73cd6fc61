"""LeverageSHAP: the KernelSHAP regression on coalitions drawn by their leverage scores."""

import numpy as np

from sklxai.explainers.kernel import KernelSHAP
from sklxai.games.coalitions import LeverageDesign


class LeverageSHAP(KernelSHAP):
    """Leverage SHAP (Musco & Witter 2025): Kernel SHAP's regression on leverage-score samples.

    Solves the same constrained weighted least-squares problem as
    :class:`~sklxai.explainers.kernel.KernelSHAP` (efficiency holds exactly), on coalitions
    drawn by their leverage scores (:class:`~sklxai.games.coalitions.LeverageDesign`): a size
    uniform over 1..d-1, then a uniform coalition of it, independently and paired with their
    complements, each weighted by its kernel weight over its probability. This sampling has a
    proven error bound (the regression is solved to within a (1 + eps) factor of its best fit
    with O(d log d + d / eps) samples); the paper's Bernoulli sampling without replacement is
    not implemented. The coalitions are drawn once in ``fit`` and serve every row; the
    standard errors are KernelSHAP's sandwich estimate over the independent draws. With
    ``n_coalitions >= 2**d - 2`` every coalition is used and the values are exact.

    Cost per row: ``n_coalitions`` coalitions, each evaluated on every background row, as
    KernelSHAP.

    Parameters
    ----------
    model, background, n_background, target, fast_path, device, random_state, batch_size
        As for :class:`~sklxai.explainers.kernel.KernelSHAP`.
    n_coalitions, paired, game, feature_groups, surrogate_params, n_jobs, verbose
        As for KernelSHAP; ``paired`` draws coalitions with their complements.

    Attributes
    ----------
    coalitions_, weights_, std_errors_dof_, expected_value_
        As for KernelSHAP (the weights up to a common factor).
    n_enumerated_ : int
        ``len(coalitions_)`` when the budget covers every coalition (exact values), else 0.

    Examples
    --------
    A linear model's values sum to its output less the base value, as every row's do:

    >>> from sklxai import LeverageSHAP
    >>> from sklearn.linear_model import Ridge
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 5)); y = X @ [1.0, -2.0, 0.5, 0.0, 3.0]
    >>> est = LeverageSHAP(Ridge().fit(X, y), n_background=20, n_coalitions=30,
    ...                    random_state=0).fit(X)
    >>> exp = est.explain(X[:3])
    >>> bool(np.allclose(exp.values.sum(axis=1), exp.output - exp.base_values))
    True
    """

    def _draw_coalitions(self, d, rng):
        # independent draws: no finite-population correction of the standard errors
        return (*leverage_coalitions(d, self.n_coalitions, self.paired, rng), 1.0)


def leverage_coalitions(d, n_coalitions, paired, rng):
    """LeverageSHAP's coalitions: (masks (m, d), weights (m,), how many of them, the first
    ones, are enumerated: all of them when the budget covers every coalition, else none), drawn
    from :class:`~sklxai.games.coalitions.LeverageDesign` with ``rng``; none for one player."""
    if d == 1:
        return np.zeros((0, 1), dtype=bool), np.zeros(0), 0
    design = LeverageDesign(d, n_coalitions, paired=paired)
    masks, weights = design.draw(generator=rng)
    return masks, weights, len(masks) if design.exact else 0
