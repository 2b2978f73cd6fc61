"""Tree ensembles in one tensor layout: readers of fitted models, and compiled trees.

:func:`read_trees` turns a supported fitted model into a :class:`TreeEnsemble`
(:mod:`~sklxai.models.trees.layout`), the input of :class:`sklxai.TreeShapley` and of the
compiled trees (:class:`TreeAdapter`: the ensemble as a batched torch function on the device).
"""

from sklxai.models.trees.adapter import TreeAdapter
from sklxai.models.trees.layout import TreeEnsemble
from sklxai.models.trees.readers import is_tree_model, read_trees

__all__ = ["TreeAdapter", "TreeEnsemble", "is_tree_model", "read_trees"]
