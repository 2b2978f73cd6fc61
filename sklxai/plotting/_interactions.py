"""Plots of interaction indices (:class:`sklxai.InteractionExplanation`); matplotlib is
imported inside each one, networkx (for the network's layout) only when it is installed."""

import numpy as np

from sklxai._explanation_index import output_position
from sklxai._explanation_interactions import InteractionExplanation, ranked_pairs

from ._plots import (
    FEATURE_CMAP,
    NEGATIVE_COLOR,
    NON_NUMERIC_COLOR,
    POSITIVE_COLOR,
    _category_ticks,
    _feature_index,
    _new_axes,
    _numeric,
    _pyplot,
    _title,
    _x_positions,
)

#: Colormap of :func:`interaction_heatmap` (mean absolute terms: white to dark red).
HEATMAP_CMAP = "Reds"
#: The most cells of :func:`interaction_heatmap` annotated with their number.
MAX_ANNOTATED = 12

_OUTPUT_AX_DOC = (
    "output : int, str or None\n"
    "        For values of shape (n, d, d, k), the output: a position or a name, as\n"
    "        :meth:`InteractionExplanation.select_output\n"
    "        <sklxai.InteractionExplanation.select_output>` takes it; None shows the last output.\n"
    "    ax : matplotlib Axes, optional\n"
    "        Where to draw; a new figure is created when None."
)


def _doc(func):
    if func.__doc__:  # None under python -OO
        func.__doc__ = func.__doc__.replace("{output_ax}", _OUTPUT_AX_DOC)
    return func


def _select(explanation, output):
    """One output of an InteractionExplanation: (the one-output explanation, its name or None)."""
    if not isinstance(explanation, InteractionExplanation):
        raise TypeError(f"interaction plots take an sklxai.InteractionExplanation (from "
                        f"ExactInteractions or KernelInteractions); got "
                        f"{type(explanation).__name__}. Draw Shapley values with "
                        "sklxai.plotting.bar, beeswarm or dependence.")
    key = -1 if output is None else output
    shown = explanation.select_output(key)
    if shown is explanation:
        names = explanation.output_names
        return shown, names[0] if names is not None and len(names) == 1 else None
    names = shown.output_names
    return shown, (names[0] if names else f"output {output_position(explanation, key)}")


def _mean_abs_terms(exp):
    """(d, d): the mean over the rows of each full term's absolute value (order-1 terms on the
    diagonal, each pair's whole term, twice shap's cell, off it)."""
    return np.abs(exp.pair_values).mean(axis=0)


def _strongest_partner(exp, j):
    """The position of the feature that interacts most with feature ``j`` in a one-output
    explanation: the largest mean ``|pair term|`` over the rows (the first on ties)."""
    names = list(exp.feature_names)
    if len(names) < 2:
        raise ValueError("a feature has an interaction partner only among d >= 2 features; "
                         f"this explanation has {len(names)}.")
    strength = _mean_abs_terms(exp)[j].copy()
    strength[j] = -np.inf
    return int(np.argmax(strength))


# ---------------------------------------------------------------------- heatmap
@_doc
def interaction_heatmap(explanation, *, diagonal=False, max_display=20, output=None, ax=None):
    """The mean absolute interaction of every pair of features, as a d x d heatmap.

    Cell (i, j) is the mean over the rows of ``|term of the pair {i, j}|``, the whole term
    (``pair_values``: twice shap's cell, the number :meth:`~sklxai.InteractionExplanation.top_pairs`
    ranks by); the matrix is symmetric. The features are ordered by the mean ``|row sum|`` of
    ``values`` (for k-SII of order 2, the mean ``|Shapley value|``), most important first.

    Parameters
    ----------
    explanation : InteractionExplanation
        Pairwise terms of shape (n, d, d) or (n, d, d, k).
    diagonal : bool, default=False
        Show the order-1 terms (mean ``|own term|``) on the diagonal. By default the diagonal is
        left blank: main effects are often much larger than pairs and would take the colour scale.
    max_display : int, default=20
        Most features shown (the most important ones).
    {output_ax}

    Returns
    -------
    ax : matplotlib Axes
        The heatmap is ``ax.images[0]`` (its array: the matrix drawn, masked where blank).

    Examples
    --------
    >>> import numpy as np
    >>> from sklxai import InteractionExplanation
    >>> from sklxai.plotting import interaction_heatmap
    >>> values = np.array([[[1.0, 0.25, 0.0], [0.25, 2.0, 0.5], [0.0, 0.5, -1.0]]])
    >>> exp = InteractionExplanation(values, np.zeros(1), np.ones((1, 3)), ["a", "b", "c"])
    >>> ax = interaction_heatmap(exp)
    >>> float(ax.images[0].get_array()[0, 2])  # b (the largest row sum) with c
    1.0
    """
    exp, out_name = _select(explanation, output)
    names = list(exp.feature_names)
    order = np.argsort(-np.abs(exp.values.sum(axis=2)).mean(axis=0), kind="stable")
    order = order[:max(1, int(max_display))]
    matrix = _mean_abs_terms(exp)[np.ix_(order, order)]
    shown = np.ma.masked_array(matrix, mask=np.zeros_like(matrix, dtype=bool))
    if not diagonal:
        np.fill_diagonal(shown.mask, True)
    m = len(order)
    ax = _new_axes(ax, (1.6 + 0.5 * m, 1.2 + 0.45 * m))
    top = float(shown.max()) if shown.count() else 1.0
    image = ax.imshow(shown, cmap=HEATMAP_CMAP, vmin=0.0, vmax=top if top > 0 else 1.0)
    ax.figure.colorbar(image, ax=ax, label="mean |interaction|")
    labels = [str(names[j]) for j in order]
    ax.set_xticks(np.arange(m))
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_yticks(np.arange(m))
    ax.set_yticklabels(labels)
    if m <= MAX_ANNOTATED:
        for (r, c), v in np.ndenumerate(matrix):
            if not shown.mask[r, c]:
                ax.text(c, r, f"{v:.2g}" if v > 1e-9 * top else "0", ha="center",
                        va="center", fontsize=8,
                        color="white" if v > 0.6 * top else "#222222")
    _title(ax, f"Interactions ({exp.index}), mean |term|", out_name)
    return ax


# ---------------------------------------------------------------------- dependence
@_doc
def interaction_dependence(explanation, feature, X=None, *, show="row_sum", color=None,
                           output=None, ax=None):
    """A feature's value against its attribution, coloured by its strongest partner's value.

    One point per row: x is ``feature``'s value, y its attribution, and the colour the value of
    the feature it interacts with most (blue low, red high, grey missing or not numeric), so
    that an interaction shows as the colours separating along y.

    The partner (when ``color`` is None) is the feature with the largest mean ``|pair term|``
    with ``feature`` over the rows (the first in feature order on ties).

    Parameters
    ----------
    explanation : InteractionExplanation
        Pairwise terms of shape (n, d, d) or (n, d, d, k).
    feature : int or str
        The feature, by position or name.
    X : array-like of shape (n, d), optional
        The feature values of the explained rows, one column per feature (a DataFrame or an
        array); None: the explanation's ``data``.
    show : {"row_sum", "main"}, default="row_sum"
        The y axis. ``"row_sum"``: the feature's row sum of ``values``, its own term plus
        half of each of its pairs' (for k-SII of order 2: its Shapley value). ``"main"``: its
        own (order-1) term only, ``values[:, i, i]``.
    color : int, str or None
        The feature whose value colours the points; None: the strongest partner.
    {output_ax}

    Returns
    -------
    ax : matplotlib Axes
        The points are ``ax.collections[0]``, their colour array the partner's values; the
        colour bar is labelled with the partner's name.

    Examples
    --------
    >>> import numpy as np
    >>> from sklxai import InteractionExplanation
    >>> from sklxai.plotting import interaction_dependence
    >>> x = np.random.default_rng(0).normal(size=(20, 3))
    >>> values = np.zeros((20, 3, 3))
    >>> values[:, 0, 2] = values[:, 2, 0] = x[:, 0] * x[:, 2] / 2
    >>> exp = InteractionExplanation(values, np.zeros(20), x, ["a", "b", "c"])
    >>> ax = interaction_dependence(exp, "a")
    >>> ax.get_title()
    'a, coloured by c'
    """
    exp, out_name = _select(explanation, output)
    names = list(exp.feature_names)
    n = len(exp)
    data = exp.data if X is None else np.asarray(X)
    if data.ndim != 2 or data.shape != (n, len(names)):
        raise ValueError(f"X must hold the {n} explained rows, one column per feature: shape "
                         f"({n}, {len(names)}); got {data.shape}. Pass the rows given to "
                         "explain(), or leave X out to use the explanation's data.")
    if show not in ("row_sum", "main"):
        raise ValueError(f"show must be 'row_sum' or 'main'; got {show!r}.")
    j = _feature_index(feature, names)
    partner = (_strongest_partner(exp, j) if color is None
               else _feature_index(color, names))
    y = exp.values[:, j].sum(axis=1) if show == "row_sum" else exp.values[:, j, j]
    xs, cats = _x_positions(data[:, j])
    hue, _ = _numeric(data[:, partner])
    ax = _new_axes(ax, (7.0, 4.2))
    ax.axhline(0.0, color="#888888", lw=0.8, zorder=0)
    cmap = _pyplot().get_cmap(FEATURE_CMAP).with_extremes(bad=NON_NUMERIC_COLOR)
    points = ax.scatter(xs, y, c=hue, cmap=cmap, s=16, alpha=0.9, linewidths=0,
                        plotnonfinite=True)
    _category_ticks(ax, cats)
    ax.figure.colorbar(points, ax=ax, label=str(names[partner]))
    ax.set_xlabel(str(names[j]))
    ax.set_ylabel(f"{'row sum' if show == 'row_sum' else 'main effect'} of {names[j]}")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    _title(ax, f"{names[j]}, coloured by {names[partner]}", out_name)
    return ax


# ---------------------------------------------------------------------- network
@_doc
def interaction_network(explanation, *, top=10, output=None, ax=None):
    """The strongest pairs as a graph: nodes are features, edges the ``top`` pairs.

    Edges are the pairs :meth:`~sklxai.InteractionExplanation.top_pairs` ranks first (the
    largest mean ``|pair term|``), each as wide as its mean ``|term|`` (the widest 8 points),
    red when the pair's mean term is positive, blue when negative. A node's area grows with
    its mean ``|own term|``. The layout is networkx's Kamada-Kawai layout (deterministic,
    started from the circle; connected features near each other) when networkx is installed
    (``pip install sklxai[graph]``), else the features on a circle in their order.

    Parameters
    ----------
    explanation : InteractionExplanation
        Pairwise terms of shape (n, d, d) or (n, d, d, k), d >= 2.
    top : int, default=10
        How many pairs are drawn.
    {output_ax}

    Returns
    -------
    ax : matplotlib Axes
        The edges are ``ax.collections[0]`` (a LineCollection, one segment per pair in
        ``top_pairs`` order, its widths the line widths); the nodes ``ax.collections[1]``, and
        each node's name is a text at its position.

    Examples
    --------
    >>> import numpy as np
    >>> from sklxai import InteractionExplanation
    >>> from sklxai.plotting import interaction_network
    >>> values = np.array([[[1.0, 0.25, 0.0], [0.25, 2.0, 0.5], [0.0, 0.5, -1.0]]])
    >>> exp = InteractionExplanation(values, np.zeros(1), np.ones((1, 3)), ["a", "b", "c"])
    >>> ax = interaction_network(exp, top=2)
    >>> len(ax.collections[0].get_segments())
    2
    """
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be an int >= 1 (how many pairs are drawn); got {top!r}.")
    exp, out_name = _select(explanation, output)
    names = list(exp.feature_names)
    d = len(names)
    if d < 2:
        raise ValueError(f"interaction_network needs d >= 2 features; this explanation has {d}.")
    first, second, strength, mean = ranked_pairs(exp, top)
    widest = strength.max() if len(strength) and strength.max() > 0 else 1.0
    ax = _new_axes(ax, (6.4, 6.0))  # first: without matplotlib, its ImportError
    from matplotlib.collections import LineCollection

    pos = _layout(d, zip(first, second))
    segments = [(pos[i], pos[j]) for i, j in zip(first, second)]
    colors = [POSITIVE_COLOR if m >= 0 else NEGATIVE_COLOR for m in mean]
    ax.add_collection(LineCollection(segments, linewidths=0.5 + 7.5 * strength / widest,
                                     colors=colors, alpha=0.75, zorder=1))
    own = np.abs(np.diagonal(exp.values, axis1=1, axis2=2)).mean(axis=0)
    sizes = 150 + 450 * own / (own.max() if own.max() > 0 else 1.0)
    ax.scatter(pos[:, 0], pos[:, 1], s=sizes, color="#f0f2f5", edgecolors="#555555",
               zorder=2)
    for k, name in enumerate(names):
        ax.text(pos[k, 0], pos[k, 1], str(name), ha="center", va="center", fontsize=9,
                zorder=3)
    ax.set_xlim(pos[:, 0].min() - 0.3, pos[:, 0].max() + 0.3)
    ax.set_ylim(pos[:, 1].min() - 0.3, pos[:, 1].max() + 0.3)
    ax.set_aspect("equal")
    ax.axis("off")
    _title(ax, f"Top {len(strength)} interactions ({exp.index})", out_name)
    return ax


def _layout(d, edges):
    """(d, 2) node positions: networkx's Kamada-Kawai layout when installed, else a circle."""
    try:
        import networkx as nx
    except ImportError:
        return _circle(d)
    graph = nx.Graph()
    graph.add_nodes_from(range(d))
    graph.add_edges_from((int(i), int(j)) for i, j in edges)
    where = nx.kamada_kawai_layout(graph, pos=dict(enumerate(_circle(d))), weight=None)
    pos = np.array([where[k] for k in range(d)], dtype=float)
    return pos / np.abs(pos).max()


def _circle(d):
    """(d, 2): d points on the unit circle, clockwise from the top."""
    angle = np.pi / 2 - 2 * np.pi * np.arange(d) / d
    return np.column_stack([np.cos(angle), np.sin(angle)])
