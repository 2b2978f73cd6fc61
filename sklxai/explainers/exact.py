"""ExactShapley: Shapley values by enumerating every coalition (the reference estimator)."""

from sklxai.explainers._shapley import ShapleyExplainer, shared_docstring, shared_params
from sklxai.explainers.solvers import combine_exact, enumeration_weights
from sklxai.games.coalitions import all_masks
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

    Parameters
    ----------
    max_features : int
        Largest number of features to enumerate (2**max_features coalitions per row).
    {shared_parameters}

    Attributes
    ----------
    coalitions_ : bool ndarray of shape (2**d, d)
        Every coalition.
    expected_value_ : ndarray of shape (n_outputs,)
        v(empty), the base value.

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
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 game="marginal", feature_groups=None, surrogate_params=None, fast_path="auto",
                 max_features=20, n_jobs=None, verbose="auto", device="auto",
                 random_state=None, batch_size=None):
        super().__init__(**shared_params(locals()))
        self.max_features = max_features

    def _fit_shapley(self, d):
        if d > self.max_features:
            raise ValueError(
                f"ExactShapley enumerates 2**d coalitions per row; d={d} features is more than "
                f"max_features={self.max_features} ({2**d:,} coalitions). Use KernelSHAP or "
                "PermutationSHAP (or SimSHAP for many rows), group features, or raise "
                "max_features if you can afford it."
            )
        self._masks, self._a, self._b = enumeration_weights(d, self.game_.device)
        self.coalitions_ = all_masks(d).numpy()

    def _coalitions_per_row(self, d):
        return 2**d

    def _shapley_values(self, X, fx, rng):
        v = self._centered_values(X, self._masks)  # (n, m, k)
        return combine_exact(v, self._masks, self._a, self._b, fx - self._null)
