"""ExactInteractions: Shapley interaction indices by enumerating every coalition."""

import math

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from sklxai._explanation_interactions import InteractionExplanation
from sklxai.explainers._shapley import ShapleyExplainer, shared_docstring, shared_params
from sklxai.explainers.interaction_indices import (
    INDICES,
    canonical_index,
    faithful_design,
    interaction_sets,
    interaction_values,
    moebius_weights,
)
from sklxai.explainers.solvers import kernel_shap_map
from sklxai.games.coalitions import all_masks
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

    On a game that draws (:class:`~sklxai.games.GaussianGame`,
    :class:`~sklxai.games.CopulaGame`) every term comes with the standard error of the game's
    draws (``std_errors`` of the explanation, in the values' layout: a pair's cells hold half
    of its term's standard error), from the game's variance of each coalition value through
    the index's weights (:func:`term_weights`), v(empty)'s included, as ExactShapley's.

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
    std_errors_dof_ : float
        Only on a game that draws: ``n_samples - 1``, the degrees of freedom of the standard
        errors (:ref:`which_game`).

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
        self._noise = None
        game = self._sampling_game()
        if game is not None:  # standard errors of the game's draws
            self.std_errors_dof_ = float(game.n_samples - 1)
            weights = term_weights(self.index_, d, self.max_order, self.interactions_,
                                   self.game_.device)
            # v(empty) is subtracted from every other value (v(N) = f(x) draws nothing)
            self._noise = (weights[1:-1] ** 2, -weights[1:].sum(dim=0))

    def _coalitions_per_row(self, d):
        return 2**d

    def _n_values(self, d):
        return len(self.interactions_)

    def _shapley_values(self, X, fx, rng):
        # v(empty) and v(N) are set, not evaluated again: the terms then add up to the model's
        # output exactly (efficient indices), as ExactShapley's values do
        n, m, k = X.shape[0], self._masks.shape[0], fx.shape[1]
        values = torch.zeros((n, m, k), dtype=torch.float64, device=fx.device)
        var = values[:, 1:-1]  # no inner coalition for one player
        if m > 2:
            values[:, 1:-1], var = self._centered_values_and_variances(X, self._masks[1:-1])
        values[:, -1] = fx - self._null
        terms = interaction_values(values, self.index_, self.max_order)
        if self._noise is None:
            return terms
        # the game's draws are independent across coalitions: each term's variance is the sum
        # of its squared weights times each coalition value's variance, plus v(empty)'s
        coef2, null_coef = self._noise
        return terms, self._with_game_noise(None, torch.einsum("nmk,mp->npk", var, coef2),
                                            null_coef)

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
        errors = fields.pop("std_errors", None)  # where the game draws
        return InteractionExplanation.from_terms(
            fields.pop("values"), self.interactions_, index=self.index_,
            max_order=self.max_order, std_errors=errors, **{name: fields[name] for name in (
                "base_values", "data", "feature_names", "output_names", "output", "method")})


def term_weights(index, d, max_order, sets, device=None):
    """The weight of each coalition's value v(T) - v(empty) in each term, (2**d, len(sets))
    float64 in :func:`~sklxai.games.coalitions.all_masks`' order: the linear map of
    :func:`~sklxai.explainers.interaction_indices.interaction_values` (its terms are
    ``values[n, :, k] @ weights``).

    For every index but FSII the terms are I(S) = sum over T superset of S of
    w(|T|, |S|) m(T), m the Moebius coefficients
    (:func:`~sklxai.explainers.interaction_indices.moebius_weights`), so v(L)'s weight in I(S)
    is the sum over the supersets T of S and L of w(|T|, |S|) (-1)^(|T| - |L|): with
    u = |S u L|, sum_j C(d - u, j) w(u + j, |S|) (-1)^(u + j - |L|). For FSII of order below
    d it is the regression's map
    (:func:`~sklxai.explainers.solvers.kernel_shap_map`), of order d and more the Moebius
    transform's signs (-1)^(|S| - |T|) on the subsets T of S.
    """
    masks = all_masks(d).numpy()
    members = np.zeros((d, len(sets)))
    for col, s in enumerate(sets):
        members[list(s), col] = 1.0
    sizes = members.sum(axis=0).astype(np.int64)
    t = masks.sum(axis=1).astype(np.int64)
    overlap = (masks.astype(np.float64) @ members).astype(np.int64)  # |T n S|
    if index != "FSII":
        table = _moebius_table(index, d, max_order, sorted(set(sizes.tolist())))
        weights = table[sizes[None, :], t[:, None], overlap]
        return torch.as_tensor(weights, dtype=torch.float64, device=device)
    if max_order >= d:  # the Moebius coefficients themselves
        subset = overlap == t[:, None]
        weights = np.where(subset, (-1.0) ** (sizes[None, :] - t[:, None]), 0.0)
        return torch.as_tensor(weights, dtype=torch.float64, device=device)
    design, kernel = faithful_design(d, sets, device)
    inner, total = kernel_shap_map(design, kernel)
    empty = torch.zeros(1, len(sets), dtype=torch.float64, device=inner.device)
    return torch.cat([empty, inner, total[None, :]])


def _moebius_table(index, d, max_order, sizes):
    """v(L)'s weight in a term of a set S, by (|S|, |L|, |S n L|): (max size + 1, d + 1,
    d + 1) (see :func:`term_weights`)."""
    table = np.zeros((max(sizes) + 1, d + 1, d + 1))
    for a in sizes:
        w = moebius_weights(index, d, max_order, a)
        for size in range(d + 1):
            for o in range(min(a, size) + 1):
                u = a + size - o  # |S u L|
                table[a, size, o] = sum(math.comb(d - u, j) * w[u + j] * (-1.0) ** (u + j - size)
                                        for j in range(d - u + 1))
    return table
