"""ExactInteractions: Shapley interaction indices by enumerating every coalition."""

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from sklxai.explainers._shapley import ShapleyExplainer, shared_docstring, shared_params
from sklxai.explainers.interaction_indices import (
    INDICES,
    canonical_index,
    interaction_sets,
    interaction_values,
)
from sklxai.games.coalitions import all_masks
from sklxai._explanation_interactions import InteractionExplanation
from sklxai.utils import param_validation as pv


@shared_docstring
class ExactInteractions(ShapleyExplainer):
    """Exact Shapley interaction indices of the marginal (or baseline) game, by enumeration.

    Evaluates the game on all 2**d coalitions for every row, as :class:`ExactShapley` does (the
    same games, feature groups, pipelines and devices), and computes an interaction index from
    them (:mod:`sklxai.explainers.interaction_indices`): a value for every set of 1 to
    ``max_order`` players. ``explain`` returns an :class:`~sklxai.InteractionExplanation`,
    whose ``values`` (n, d, d) hold each player's own term on the diagonal and half of each
    pair's term in each of the pair's two cells (shap's layout: for k-SII of order 2 a row
    sums to the player's Shapley value); terms of order 3 and more are in ``higher_order``.
    ``transform`` gives one column per term of :attr:`interactions_`.

    Parameters
    ----------
    index : {"k-SII", "SII", "STII", "FSII", "BII"}
        The interaction index (shapiq's names, any letter case). "k-SII": Shapley interactions
        aggregated to be efficient (all terms sum to the output minus the base value); "SII":
        the Shapley interaction index (its order-1 terms are the Shapley values); "STII":
        Shapley-Taylor; "FSII": faithful Shapley interactions (the best additive approximation
        of order ``max_order`` under the Shapley kernel); "BII": Banzhaf interactions (order 1:
        the Banzhaf values). k-SII, STII and FSII are efficient, SII and BII are not.
    max_order : int
        Largest interaction order (2: players and pairs).
    max_features : int
        Largest number of players to enumerate (2**max_features coalitions per row).
    {shared_parameters}

    Attributes
    ----------
    index_ : str
        ``index`` as shapiq spells it.
    interactions_ : list of tuple of int
        The sets of players with a term, by order then lexicographically: the columns of
        ``transform`` (and of :func:`~sklxai.explainers.interaction_indices.interaction_values`).
    expected_value_ : ndarray of shape (n_outputs,)
        v(empty), the base value.

    Examples
    --------
    A product's only interaction is its pair: x0 * x1 against a background of zeros has the
    pair term x0 * x1 (k-SII), split in halves across the two off-diagonal cells:

    >>> import numpy as np
    >>> import torch
    >>> from sklxai import ExactInteractions
    >>> class Product(torch.nn.Module):
    ...     def forward(self, X):
    ...         return X[:, :1] * X[:, 1:2]
    >>> est = ExactInteractions(Product(), background=np.zeros((1, 3)), device="cpu")
    >>> exp = est.fit(np.zeros((1, 3))).explain(np.array([[2.0, 3.0, 5.0]]))
    >>> exp.values[0]
    array([[0., 3., 0.],
           [3., 0., 0.],
           [0., 0., 0.]])
    """

    _parameter_constraints = {
        **ShapleyExplainer._parameter_constraints,
        "index": pv.Constraint(canonical_index, f"one of {list(INDICES)}, any letter case"),
        "max_order": pv.positive_int(),
        "max_features": pv.positive_int(),
    }

    def __init__(self, model, *, index="k-SII", max_order=2, background=None,
                 n_background=100, target=None, game="marginal", feature_groups=None,
                 surrogate_params=None, fast_path="auto", max_features=20, n_jobs=None,
                 verbose="auto", device="auto", random_state=None, batch_size=None):
        super().__init__(**shared_params(locals()))
        self.index = index
        self.max_order = max_order
        self.max_features = max_features

    def _fit_shapley(self, d):
        if d > self.max_features:
            raise ValueError(
                f"ExactInteractions enumerates 2**d coalitions per row; d={d} players is more "
                f"than max_features={self.max_features} ({2**d:,} coalitions). Group features "
                "(feature_groups), or raise max_features if you can afford it."
            )
        self.index_ = canonical_index(self.index)
        self.interactions_ = interaction_sets(d, self.max_order)
        self._masks = all_masks(d, device=self.game_.device)

    def _coalitions_per_row(self, d):
        return 2**d

    def _n_values(self, d):
        return len(self.interactions_)

    def _shapley_values(self, X, fx, rng):
        # v(empty) and v(N) are set, not evaluated again: the terms then add up to the model's
        # output exactly (efficient indices), as ExactShapley's values do
        n, m, k = X.shape[0], self._masks.shape[0], fx.shape[1]
        values = torch.zeros((n, m, k), dtype=torch.float64, device=fx.device)
        if m > 2:
            values[:, 1:-1] = self._centered_values(X, self._masks[1:-1])
        values[:, -1] = fx - self._null
        return interaction_values(values, self.index_, self.max_order)

    def _players_are_features(self):
        return False  # values are per set of players, never in an image's shape

    def get_feature_names_out(self, input_features=None):
        """Names of ``transform``'s columns: one per term of :attr:`interactions_`, its players'
        names joined by spaces, prefixed by the output when several.

        Parameters
        ----------
        input_features : array-like of str or None
            Must match ``feature_names_in_`` when given.

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self)
        from sklearn.utils.validation import _check_feature_names_in

        _check_feature_names_in(self, input_features)
        players = self._feature_names()
        terms = [" ".join(str(players[i]) for i in s) for s in self.interactions_]
        if self._n_explained_outputs() == 1:
            return np.asarray(terms, dtype=object)
        return np.asarray([f"{out}__{t}" for out in self.output_names_ for t in terms],
                          dtype=object)

    def _make_explanation(self, X, **fields):
        return InteractionExplanation.from_terms(
            fields.pop("values"), self.interactions_, index=self.index_,
            max_order=self.max_order, **{name: fields[name] for name in (
                "base_values", "data", "feature_names", "output_names", "output", "method")})
