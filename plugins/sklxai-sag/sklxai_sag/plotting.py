"""Drawing a structured attention graph: the image with each root's patches, the DAG beneath.

matplotlib is imported when :func:`plot_sag` is called, not with the package.
"""

import numpy as np


def plot_sag(graph, image, *, max_nodes_per_level=8, thumb_size=0.8, fig=None):
    """Draw one image's structured attention graph.

    The top row shows the image and, for each root, the image with only the root's patches
    shown (the others washed out) and its probability. Beneath, the DAG: one row per depth
    (roots first), each node drawn as the image with only its patches shown, labelled with
    the probability of the explained class, and lines from each node to its children.

    Parameters
    ----------
    graph : SAGGraph
        One image's graph (``explanation.graphs[i]``).
    image : array-like of shape (C, H, W), (H, W) or (C * H * W,)
        The image explained (``X[i]``), any value range (shown scaled to [0, 1]).
    max_nodes_per_level : int, default=8
        Most nodes drawn per depth (the most probable); edges to hidden nodes are not drawn.
    thumb_size : float, default=0.8
        Width of a node's thumbnail, as a fraction of the horizontal spacing.
    fig : matplotlib Figure or None
        Figure to draw into (cleared); None creates one.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklxai_sag import SAGGraph, plot_sag
    >>> g = SAGGraph(roots=[(0, 3)], nodes={(0, 3): 0.95, (0,): 0.4, (3,): 0.3},
    ...              depths={(0, 3): 0, (0,): 1, (3,): 1}, edges=[((0, 3), (0,)), ((0, 3), (3,))],
    ...              candidates=[(0, 3)], target=1, full_score=1.0, baseline_score=0.0,
    ...              need=0.9, patch_grid=(2, 2), patch_size=2)
    >>> fig = plot_sag(g, np.ones((4, 4)))
    >>> len(fig.axes)
    3
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot_sag needs matplotlib, which is not installed; install the "
                          "'plot' extra: pip install sklxai[plot].") from None
    rgb = _as_rgb(image, graph)
    levels = {}
    for node, depth in graph.depths.items():
        levels.setdefault(depth, []).append(node)
    levels = {depth: sorted(nodes, key=lambda s: (-graph.nodes[s], s))[:max_nodes_per_level]
              for depth, nodes in levels.items()}
    n_levels = max(levels) + 1 if levels else 0
    width = max([len(v) for v in levels.values()] + [len(graph.roots) + 1, 3])
    if fig is None:
        fig = plt.figure(figsize=(1.3 * width, 1.6 * (n_levels + 1.3)))
    else:
        fig.clf()
    top = 1.3 / (n_levels + 1.3)
    for j in range(len(graph.roots) + 1):
        ax = fig.add_axes([j / width + 0.01, 1 - top + 0.02, 1 / width - 0.02, top - 0.06])
        if j == 0:
            ax.imshow(rgb, interpolation="nearest")
            ax.set_title(f"class {graph.target}: p={graph.full_score:.2f}", fontsize=8)
        else:
            root = graph.roots[j - 1]
            ax.imshow(_shown(rgb, graph.pixel_mask(root)), interpolation="nearest")
            ax.set_title(f"root {j}: p={graph.nodes[root]:.2f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    dag = fig.add_axes([0, 0, 1, 1 - top])
    dag.set_xlim(0, 1)
    dag.set_ylim(-0.5, max(n_levels, 1) - 0.5)
    dag.invert_yaxis()
    dag.axis("off")
    pos = {}
    for depth, nodes in levels.items():
        for k, node in enumerate(nodes):
            pos[node] = ((k + 0.5) / len(nodes), depth)
    for parent, child in graph.edges:
        if parent in pos and child in pos:
            (x0, y0), (x1, y1) = pos[parent], pos[child]
            if y1 > y0:
                dag.plot([x0, x1], [y0 + 0.3, y1 - 0.3], color="0.6", lw=0.8, zorder=1)
    half_w = thumb_size / (2 * width)
    for node, (x, y) in pos.items():
        dag.imshow(_shown(rgb, graph.pixel_mask(node)), extent=(x - half_w, x + half_w,
                   y + 0.3, y - 0.3), interpolation="nearest", zorder=2, aspect="auto")
        dag.text(x, y + 0.42, f"{graph.nodes[node]:.2f}", ha="center", va="center",
                 fontsize=7, color="C3" if graph.nodes[node] >= graph.need else "0.2")
    return fig


def _as_rgb(image, graph):
    """The image as (H, W, 3) floats in [0, 1]."""
    img = np.asarray(image, dtype=np.float64)
    h, w = (graph.patch_grid[0] * graph.patch_size, graph.patch_grid[1] * graph.patch_size)
    if img.size % (h * w):
        raise ValueError(f"image has {img.size} values; expected an image of {h}x{w} pixels "
                         "(C, H, W), (H, W) or flattened, as the graph's patch grid says.")
    img = img.reshape(-1, h, w)
    img = np.repeat(img[:1], 3, axis=0) if img.shape[0] != 3 else img
    img = img.transpose(1, 2, 0)
    lo, hi = img.min(), img.max()
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def _shown(rgb, mask):
    """The image with the pixels outside ``mask`` washed out (a light blue-grey)."""
    out = rgb.copy()
    wash = np.array([0.72, 0.76, 0.88])
    out[~mask] = 0.25 * out[~mask] + 0.75 * wash
    return out
