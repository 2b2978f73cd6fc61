"""What SAG returns: one structured attention graph per image, and the explanation holding them.

A graph's nodes are sets of patches (sorted tuples of patch indices, row-major over the patch
grid), each with the model's probability of the explained class when only those patches are
shown. Its roots are minimal sufficient sets; its edges go from a set to the sets one patch
smaller. Nothing here runs the model.
"""

from dataclasses import dataclass

import numpy as np

from sklxai import Explanation


@dataclass
class SAGGraph:
    """The structured attention graph of one image.

    Attributes
    ----------
    roots : list of tuples
        The diverse minimal sufficient patch sets kept as roots, each a sorted tuple of patch
        indices (row-major over ``patch_grid``), in the order they were chosen (smallest and
        most confident first). Empty when the search found no sufficient set.
    nodes : dict
        Patch set (sorted tuple) -> the model's probability of ``target`` with only those
        patches shown (the others at the baseline). Holds the roots and their descendants.
    depths : dict
        Patch set -> its depth: 0 for a root, else the fewest patch removals from a root that
        reach it.
    edges : list of (tuple, tuple)
        ``(parent, child)`` pairs of nodes where ``child`` is ``parent`` minus one patch: every
        such pair among ``nodes`` (so a child reached from two parents has two edges).
    candidates : list of tuples
        Every minimal sufficient set the search found, before the diverse roots were chosen.
    target : int
        The class explained.
    full_score : float
        The probability of ``target`` on the whole image.
    baseline_score : float
        The probability of ``target`` with no patch shown (the baseline image).
    need : float
        The probability a set must reach to be sufficient: ``threshold * full_score``.
    patch_grid : tuple (rows, cols)
        Patches per column and per row.
    patch_size : int
        Side of the square patches, in pixels.

    Examples
    --------
    >>> from sklxai_sag import SAGGraph
    >>> g = SAGGraph(roots=[(0, 1)], nodes={(0, 1): 0.95, (0,): 0.4, (1,): 0.2},
    ...              depths={(0, 1): 0, (0,): 1, (1,): 1}, edges=[((0, 1), (0,)), ((0, 1), (1,))],
    ...              candidates=[(0, 1)], target=1, full_score=1.0, baseline_score=0.0,
    ...              need=0.9, patch_grid=(2, 2), patch_size=4)
    >>> g.root_masks().astype(int).tolist()
    [[[1, 1], [0, 0]]]
    >>> g.children((0, 1))
    [(0,), (1,)]
    """

    roots: list
    nodes: dict
    depths: dict
    edges: list
    candidates: list
    target: int
    full_score: float
    baseline_score: float
    need: float
    patch_grid: tuple
    patch_size: int

    @property
    def n_patches(self):
        """Patches in the image: ``rows * cols`` of ``patch_grid``."""
        return int(self.patch_grid[0] * self.patch_grid[1])

    def children(self, node):
        """The nodes one patch smaller than ``node`` in the graph, most probable first."""
        node = tuple(node)
        kids = [c for p, c in self.edges if p == node]
        return sorted(kids, key=lambda c: (-self.nodes[c], c))

    def patch_mask(self, node):
        """``node``'s patches as a boolean (rows, cols) mask of the patch grid."""
        mask = np.zeros(self.n_patches, dtype=bool)
        mask[list(node)] = True
        return mask.reshape(self.patch_grid)

    def root_masks(self):
        """The roots as boolean patch masks of shape (n_roots, rows, cols)."""
        if not self.roots:
            return np.zeros((0, *self.patch_grid), dtype=bool)
        return np.stack([self.patch_mask(r) for r in self.roots])

    def pixel_mask(self, node):
        """``node``'s patches as a boolean (H, W) pixel mask."""
        s = self.patch_size
        return np.kron(self.patch_mask(node), np.ones((s, s), dtype=bool)).astype(bool)

    def to_networkx(self):
        """The graph as a ``networkx.DiGraph`` (needs networkx: ``pip install sklxai[graph]``).

        Nodes are the patch-set tuples, with attributes ``probability``, ``size`` (patches
        shown), ``depth`` and ``root`` (bool); edges go from a set to its one-patch-smaller
        subsets, with attribute ``removed`` (the patch dropped) and ``drop`` (the parent's
        probability minus the child's). Graph attributes: ``target``, ``full_score``,
        ``baseline_score``, ``need``, ``patch_grid``, ``patch_size``.

        Returns
        -------
        graph : networkx.DiGraph

        Examples
        --------
        >>> from sklxai_sag import SAGGraph
        >>> g = SAGGraph(roots=[(0, 1)], nodes={(0, 1): 0.95, (0,): 0.4},
        ...              depths={(0, 1): 0, (0,): 1}, edges=[((0, 1), (0,))],
        ...              candidates=[(0, 1)], target=1, full_score=1.0, baseline_score=0.0,
        ...              need=0.9, patch_grid=(2, 2), patch_size=4)
        >>> G = g.to_networkx()
        >>> G.number_of_nodes(), G.edges[(0, 1), (0,)]["removed"]
        (2, 1)
        """
        try:
            import networkx as nx
        except ImportError:
            raise ImportError(
                "SAGGraph.to_networkx() needs networkx, which is not installed; install the "
                "'graph' extra: pip install sklxai[graph] (or pip install networkx)."
            ) from None
        G = nx.DiGraph(target=self.target, full_score=self.full_score,
                       baseline_score=self.baseline_score, need=self.need,
                       patch_grid=tuple(self.patch_grid), patch_size=self.patch_size)
        roots = set(self.roots)
        for node, prob in self.nodes.items():
            G.add_node(node, probability=prob, size=len(node), depth=self.depths[node],
                       root=node in roots)
        for parent, child in self.edges:
            (removed,) = set(parent) - set(child)
            G.add_edge(parent, child, removed=removed,
                       drop=self.nodes[parent] - self.nodes[child])
        return G


class SAGExplanation(Explanation):
    """An :class:`sklxai.Explanation` of SAG, with each image's graph in :attr:`graphs`.

    ``values`` hold, for each pixel, the number of roots whose patches contain it (0 for a
    pixel in no root; the same value in every channel), in the input's shape: (n, C, H, W) for
    images, (n, d) for flattened rows. A pixel many roots share is one the model's confident
    explanations keep agreeing on. ``base_values`` are the probability of each image's
    explained class on the baseline image and ``output`` that on the full image. The values
    are counts, not additive attributions: they do not sum to ``output - base_values``.

    The graphs are one of its fields, one per row: slicing the rows slices them
    (``exp[1:3].graphs`` are the graphs of images 1 and 2, ``exp[0].graphs`` the first image's
    graph itself, as ``exp[0].values`` are its values), and :meth:`flatten`,
    :meth:`select_output` and :meth:`concat` keep them. ``save``/``load`` keep the arrays
    only.

    Parameters
    ----------
    values, base_values, data, feature_names, output_names, output, method, feature_shape, \
diagnostics
        As :class:`sklxai.Explanation`.
    graphs : list of SAGGraph, or one SAGGraph
        One graph per explained row; one graph for an explanation of one row without its row
        axis (``exp[0]``).

    Attributes
    ----------
    graphs : list of SAGGraph, or one SAGGraph
    """

    _row_fields = ("graphs",)

    def __init__(self, values, base_values, data, feature_names, output_names=None,
                 output=None, method=None, feature_shape=None, diagnostics=None, graphs=None):
        super().__init__(values, base_values, data, feature_names, output_names=output_names,
                         output=output, method=method, feature_shape=feature_shape,
                         diagnostics=diagnostics)
        if graphs is None:
            graphs = []
        self.graphs = graphs if isinstance(graphs, SAGGraph) else list(graphs)
