"""TreeInteractions: exact interaction indices of tree ensembles, from the trees.

The estimator is :class:`~sklxai.TreeShapley`'s (the same models, model preparation, games,
feature groups and memory budget) with another algorithm,
:class:`~sklxai.games.trees.interactions.InteractionTerms` (each leaf's game is a product game
whose interaction terms have closed forms), and :class:`~sklxai.ExactInteractions`'
explanation (an :class:`~sklxai.InteractionExplanation`) and output names.
"""

import math

from sklxai.explainers.interaction_indices import (
    INDICES,
    canonical_index,
    interaction_sets,
    moebius_weights,
)
from sklxai.explainers.interactions import ExactInteractions
from sklxai.explainers.tree import TreeShapley
from sklxai.games.trees.interactions import InteractionTerms
from sklxai.utils import param_validation as pv


class TreeInteractions(TreeShapley):
    """Exact interaction indices of tree ensembles and tree Pipelines, of any order.

    Computes the terms of :class:`~sklxai.ExactInteractions` (the same index of the same
    marginal or baseline game over the background) without evaluating any coalition: each
    leaf's game (for one explained row and one background row, or the path-dependent game's
    product over the players on the leaf's path) is a product game whose Moebius coefficients
    are products, so that every term is a closed form per leaf, summed over leaves and
    averaged over the background in batched tensor operations. Trees whose paths hold at most
    8 players get, at ``fit``, tables of their terms for each pattern of the path's players a
    row can satisfy (the background folded in), summed over small groups of sibling leaves as
    :class:`~sklxai.TreeShapley`'s value tables are, so that ``explain`` costs a comparison per
    node and a look-up per group of leaves and set of players, whatever the background's size
    (other leaves: tables of their own, or the terms per row). ``game="path_dependent"`` gives
    the terms of the path-dependent game (no background: the trees' training covers), whose
    k-SII is shap's ``shap_interaction_values`` and XGBoost's ``pred_interactions``.

    Supported: the indices k-SII, SII, STII, FSII and BII (Banzhaf interactions) of any order
    (``max_order``: a leaf has terms for the sets of 1 to ``max_order`` of the players on its
    path, so the work grows with the trees' depth, not with the number of players); the models
    of :class:`~sklxai.TreeShapley`. Terms of order 3 and more are in the explanation's
    ``higher_order``, as :class:`~sklxai.ExactInteractions` gives them.

    Parameters
    ----------
    model : fitted tree model or Pipeline ending in one
        As for :class:`~sklxai.TreeShapley`.
    index : {"k-SII", "SII", "STII", "FSII", "BII"}
        The interaction index (any letter case), as for :class:`~sklxai.ExactInteractions`.
        k-SII, STII and FSII are efficient (all terms sum to the output minus the base value).
    max_order : int
        Largest interaction order (2: players and pairs; 3 and more: the explanation's
        ``higher_order`` holds those terms, ``transform`` has a column for each).
    background, n_background, target, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer`.
    game : {"marginal", "baseline", "path_dependent"}
        As for :class:`~sklxai.TreeShapley`.
    feature_groups, model_output, verbose
        As for :class:`~sklxai.TreeShapley`.

    Attributes
    ----------
    index_ : str
        ``index`` as shapiq spells it.
    interactions_ : list of tuple of int
        The sets of players with a term (the columns of ``transform``).
    trees_ : sklxai.models.trees.TreeEnsemble
        The model's trees in the tensor layout, on the device.
    expected_value_ : ndarray of shape (n_outputs,)
        v(empty), the base value.
    feature_groups_ : dict or None
    n_outputs_, output_names_
        The explained outputs.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> from sklxai import TreeInteractions
    >>> X, y = make_regression(n_samples=300, n_features=5, random_state=0)
    >>> gbdt = GradientBoostingRegressor(n_estimators=20, max_depth=3).fit(X, y)
    >>> exp = TreeInteractions(gbdt, n_background=50, device="cpu").fit(X).explain(X[:3])
    >>> exp.values.shape
    (3, 5, 5)
    >>> total = exp.values.sum(axis=(1, 2)) + exp.base_values
    >>> bool(abs(total - gbdt.predict(X[:3])).max() < 1e-9)
    True

    Order 3: the terms of the 10 sets of three players are in ``higher_order``, and k-SII
    stays efficient:

    >>> exp3 = TreeInteractions(gbdt, max_order=3, n_background=50,
    ...                         device="cpu").fit(X).explain(X[:3])
    >>> len(exp3.higher_order)
    10
    >>> total3 = exp3.values.sum(axis=(1, 2)) + sum(exp3.higher_order.values()) + exp3.base_values
    >>> bool(abs(total3 - gbdt.predict(X[:3])).max() < 1e-9)
    True
    """

    _parameter_constraints = {
        **TreeShapley._parameter_constraints,
        "index": pv.Constraint(canonical_index, f"one of {list(INDICES)}, any letter case"),
        "max_order": pv.positive_int(),
    }

    def __init__(self, model, *, index="k-SII", max_order=2, background=None, n_background=100,
                 target=None, game="marginal", feature_groups=None, model_output="auto",
                 fast_path="auto", verbose="auto", device="auto", random_state=None,
                 batch_size=None):
        super().__init__(model, background=background, n_background=n_background,
                         target=target, game=game, feature_groups=feature_groups,
                         model_output=model_output, fast_path=fast_path, verbose=verbose,
                         device=device, random_state=random_state, batch_size=batch_size)
        self.index = index
        self.max_order = max_order

    def _algorithm(self, members):
        self.index_ = canonical_index(self.index)
        self.interactions_ = interaction_sets(len(members), self.max_order)
        self._width = len(self.interactions_)
        n = self.trees_.path_node.shape[1] + 1
        weights = [index_weights(self.index_, self.max_order, s, n)
                   for s in range(1, self.max_order + 1)]
        return InteractionTerms(self.trees_, members, self._background_z, weights=weights,
                                interactions=self.interactions_, budget=self._budget())

    def _players_are_features(self):
        return False  # values are per set of players

    get_feature_names_out = ExactInteractions.get_feature_names_out
    _make_explanation = ExactInteractions._make_explanation


def index_weights(index, max_order, size, n):
    """w_size(t) for t = 0..n: the weight of the Moebius coefficient of a set of t players in
    the term of a set of ``size`` players (0 below ``size``).

    k-SII, SII, STII and BII: :func:`~sklxai.explainers.interaction_indices.moebius_weights`.
    FSII of order k (Tsai, Yeh & Ravikumar 2023, Theorem 19): w_s(s) = 1, w_s(t) = 0 for
    s < t <= k and w_s(t) = (-1)^(k-s) s / (k+s) C(k, s) C(t-1, k) / C(t+k-1, k+s) above k.

    Examples
    --------
    >>> index_weights("FSII", 2, 2, 4)
    [0.0, 0.0, 1.0, 0.5, 0.3]
    """
    if index != "FSII":
        return moebius_weights(index, n, max_order, size)
    k, s = max_order, size
    w = [0.0] * (n + 1)
    for t in range(s, n + 1):
        if t == s:
            w[t] = 1.0
        elif t > k:
            w[t] = ((-1) ** (k - s) * s / (k + s) * math.comb(k, s) * math.comb(t - 1, k)
                    / math.comb(t + k - 1, k + s))
    return w
