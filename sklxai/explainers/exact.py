"""ExactShapley: Shapley values by enumerating every coalition (the reference estimator)."""

import torch

from sklxai.explainers._shapley import ShapleyExplainer, shared_docstring, shared_params
from sklxai.explainers.solvers import combine_exact, enumeration_weights
from sklxai.games.coalitions import all_masks
from sklxai.games.indices import INDEX, resolve_index
from sklxai.utils import param_validation as pv


@shared_docstring
class ExactShapley(ShapleyExplainer):
    """Exact Shapley values of the marginal (or baseline) game, by full enumeration.

    Evaluates all 2**d coalitions for every row, in large batches on the device, and combines
    them with the Shapley weights: phi_i = sum_{S not containing i} w(``|S|``) (v(S + i) - v(S)),
    w(s) = s! (d-s-1)! / d!. Cost per row: 2**d coalitions, each evaluated on every background
    row: 2**d x ``n_background`` model evaluations, so it is refused past ``max_features``; use
    :class:`KernelSHAP`, :class:`PermutationSHAP` or SimSHAP there. Their default budget (2048
    coalitions per row) costs as much as ExactShapley at d = 11, where KernelSHAP's is exact
    too.

    With ``index="BV"`` it gives Banzhaf values instead, from the same coalition values:
    beta_i = 2**-(d-1) sum_{S not containing i} (v(S + i) - v(S)).

    Parameters
    ----------
    max_features : int
        Largest number of features to enumerate (2**max_features coalitions per row).
    index : {"SV", "BV"}
        "SV": Shapley values. "BV" (or "banzhaf", any case): Banzhaf values, every coalition
        of the others weighted alike; they are not efficient, so the Explanation records
        ``index="BV"`` and has no efficiency gap (its base values are still v(empty)).
    {shared_parameters}

    Attributes
    ----------
    coalitions_ : bool ndarray of shape (2**d, d)
        Every coalition.
    expected_value_ : ndarray of shape (n_outputs,)
        v(empty), the base value.
    index_ : {"SV", "BV"}
        The index computed.
    std_errors_dof_ : float
        Only on a game that draws (:class:`~sklxai.games.GaussianGame`,
        :class:`~sklxai.games.CopulaGame`): ``n_samples - 1``, the degrees of freedom of the
        standard errors of the game's draws that ``explain`` then reports
        (:ref:`which_game`).

    Examples
    --------
    A linear model's exact values are w_j (x_j - mean of the background's column j):

    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklxai import ExactShapley
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> model = LinearRegression().fit(X, X @ [1.0, 2.0, 3.0])
    >>> exp = ExactShapley(model, device="cpu").fit(X).explain(X[:2])
    >>> np.allclose(exp.values, (X[:2] - X.mean(0)) * [1.0, 2.0, 3.0])
    True
    """

    _parameter_constraints = {
        **ShapleyExplainer._parameter_constraints,
        "max_features": pv.positive_int(),
        "index": INDEX,
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 game="marginal", feature_groups=None, surrogate_params=None, fast_path="auto",
                 max_features=20, n_jobs=None, verbose="auto", device="auto",
                 random_state=None, batch_size=None, index="SV"):
        super().__init__(**shared_params(locals()))
        self.max_features = max_features
        self.index = index

    def _fit_shapley(self, d):
        if d > self.max_features:
            raise ValueError(
                f"ExactShapley enumerates 2**d coalitions per row; d={d} features is more than "
                f"max_features={self.max_features} ({2**d:,} coalitions). Use KernelSHAP or "
                "PermutationSHAP (or SimSHAP for many rows), group features, or raise "
                "max_features if you can afford it."
            )
        self.index_ = resolve_index(self.index)
        self._masks, self._a, self._b = enumeration_weights(d, self.game_.device)
        self.coalitions_ = all_masks(d).numpy()
        game = self._sampling_game()
        if game is not None:  # standard errors of the game's draws
            self.std_errors_dof_ = float(game.n_samples - 1)

    def _coalitions_per_row(self, d):
        return 2**d

    def _shapley_values(self, X, fx, rng):
        v, var = self._centered_values_and_variances(X, self._masks)  # (n, m, k)
        d = self._masks.shape[1]
        if self.index_ == "BV":  # +v(T) where i is in T, -v(T) elsewhere; v(N) counts +
            signs = 2.0 * self._masks.double() - 1.0
            phi = torch.einsum("nmk,md->ndk", v, signs) + (fx - self._null)[:, None, :]
            phi = phi / 2.0 ** (d - 1)
            coef2, null_coef = torch.ones_like(signs) / 4.0 ** (d - 1), 2.0 ** (1 - d)
        else:
            phi = combine_exact(v, self._masks, self._a, self._b, fx - self._null)
            m = self._masks.double()
            coef2, null_coef = (m * self._a[:, None] - self._b[:, None]) ** 2, 1.0 / d
        if var is None:
            return phi
        # a sampling game's draws are independent across coalitions: the values' variance is
        # the sum of the squared combination weights times each coalition value's variance,
        # plus the base value's (its weight in every value is -1/d, or -2**(1-d) for Banzhaf)
        return phi, self._with_game_noise(None, torch.einsum("nmk,md->ndk", var, coef2),
                                          null_coef)

    def _make_explanation(self, X, **fields):
        return super()._make_explanation(X, index=self.index_, **fields)
