"""The games of tree models, computed from their trees (:mod:`sklxai.models.trees`' layout).

- :mod:`~sklxai.games.trees.game`: :class:`TreeGame`, the marginal game of a tree model without
  model calls on hybrid rows (every coalition's value from the trees' structure);
- :mod:`~sklxai.games.trees.interventional`: :class:`InterventionalValues`, the exact Shapley
  values of that game (what :class:`~sklxai.TreeShapley` computes);
- :mod:`~sklxai.games.trees.closed_form`: the Shapley values of one leaf's indicator game,
  batched over rows, background rows and leaves.

Both walk the trees through :class:`~sklxai.models.trees.walk.TreeWalk` and its one sink
protocol, :class:`~sklxai.models.trees.walk.LeafSink`.
"""

from sklxai.games.trees.game import TreeGame
from sklxai.games.trees.interventional import InterventionalValues

__all__ = ["InterventionalValues", "TreeGame"]
