"""The plot functions; matplotlib is imported inside each one (it is an optional extra)."""

import numbers

import numpy as np

from sklxai._explanation_index import output_position
from sklxai.explanation import Explanation

#: Colours of positive / negative contributions (the shap palette users know).
POSITIVE_COLOR = "#ff0051"
NEGATIVE_COLOR = "#008bfb"
#: Colour of points whose feature value is not numeric (strings, categories) or missing.
NON_NUMERIC_COLOR = "#999999"
#: Colormap of feature values in :func:`beeswarm` (low blue, high red).
FEATURE_CMAP = "coolwarm"
#: Diverging colormap of :func:`image`, centred at 0 (negative blue, positive red).
ATTRIBUTION_CMAP = "RdBu_r"


# ---------------------------------------------------------------------- docstrings
#: The docstring parts every plot shares, filled in by :func:`_plot_doc`.
_DOC_PARTS = {
    "output": (
        "output : int, str or None\n"
        "        For (n, d, k) values, the output: a position or a name, as\n"
        "        :meth:`Explanation.select_output <sklxai.Explanation.select_output>` takes it;\n"
        "        None shows the last output."
    ),
    "ax": (
        "ax : matplotlib Axes, optional\n"
        "        Where to draw; a new figure is created when None.\n\n"
        "    Returns\n"
        "    -------\n"
        "    ax : matplotlib Axes"
    ),
    "examples": (
        "Examples\n"
        "    --------\n"
        "    >>> import numpy as np\n"
        "    >>> from sklxai import Explanation\n"
        "    >>> from sklxai.plotting import {name}"
    ),
}


def _plot_doc(func):
    """Fill a plot's ``{output}``, ``{ax}`` (parameter and return) and ``{examples}`` (header)."""
    if func.__doc__:  # None under python -OO
        for key, text in _DOC_PARTS.items():
            text = text.replace("{name}", func.__name__)
            func.__doc__ = func.__doc__.replace("{" + key + "}", text)
    return func


# ---------------------------------------------------------------------- helpers
def _pyplot():
    """Import pyplot, or fail with the command that installs it."""
    try:
        import matplotlib  # noqa: F401
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "sklxai.plotting needs matplotlib, an optional extra: pip install sklxai[plot]"
        ) from exc
    return plt


def _new_axes(ax, figsize):
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _select(explanation, output=None):
    """Normalise an Explanation to 2-D arrays for one output.

    Returns ``values (n, d)``, ``base (n,)``, ``data (n, d) or None``, ``feature_names`` and the
    output's display name (or None). A one-row explanation (``exp[0]``) gets its row axis back.
    The output is picked by :meth:`~sklxai.Explanation.select_output` (a position or a name);
    None means the last one (for a binary classifier: the positive class).
    """
    has_rows, has_features = explanation._axes()
    if not has_features:
        raise ValueError("this plot needs the feature axis; do not slice a single feature out.")
    key = -1 if output is None else output
    shown = explanation.select_output(key)
    values = np.asarray(shown.values, dtype=float)
    base = np.asarray(shown.base_values, dtype=float)
    data = shown.data
    if not has_rows:
        values, base = values[None], base[None]
        data = None if data is None else np.asarray(data)[None]
    names = shown.output_names
    out_name = names[0] if names is not None and len(names) == 1 else None
    if out_name is None and shown is not explanation:  # several outputs without names
        out_name = f"output {output_position(explanation, key)}"
    base = np.broadcast_to(base, values.shape[:1]).astype(float)
    if data is not None:
        data = np.asarray(data)
        if data.shape != values.shape:
            data = None
    return values, base, data, list(explanation.feature_names), out_name


def _std_errors(explanation, output=None):
    """The standard errors (n, d) of the output :func:`_select` shows, or None.

    Picked exactly as :func:`_select` picks the values (``select_output``, the row axis back).
    """
    if explanation.std_errors is None:
        return None
    shown = explanation.select_output(-1 if output is None else output)
    errors = np.asarray(shown.std_errors, dtype=float)
    return errors if explanation._axes()[0] else errors[None]


def _error_bars(ax, ends, y, errors):
    """± one standard error around the bar ends ``ends`` at heights ``y`` (NaN drawn as none)."""
    errors = np.nan_to_num(np.asarray(errors, dtype=float), nan=0.0)
    ax.errorbar(ends, y, xerr=errors, fmt="none", ecolor="#333333", elinewidth=1.0,
                capsize=3, label="± 1 standard error")


def _numeric(column):
    """A column as float (NaN where a value is not a number), and whether it is numeric at all."""
    column = np.asarray(column)
    if column.dtype.kind in "biuf":
        return column.astype(float), True
    out = np.full(column.shape, np.nan)
    any_number = False
    for i, v in enumerate(column):
        if isinstance(v, (numbers.Number, np.number, np.bool_)):
            out[i] = float(v)
            any_number = True
    # a column is numeric only if every non-missing entry is a number
    all_numbers = all(
        isinstance(v, (numbers.Number, np.number, np.bool_)) or v is None for v in column
    )
    return out, any_number and all_numbers


def _format_value(v):
    if isinstance(v, (numbers.Real, np.floating, np.integer)) and not isinstance(v, bool):
        v = float(v)
        if np.isnan(v):
            return "nan"
        return f"{v:.4g}"
    return str(v)


def _importance_order(values):
    """Feature order by mean |phi| (descending, ties by position) and the importances."""
    imp = np.abs(values).mean(axis=0)
    return np.argsort(-imp, kind="stable"), imp


def _title(ax, what, out_name):
    ax.set_title(what if out_name is None else f"{what}: {out_name}")


def _feature_index(feature, names):
    if isinstance(feature, (numbers.Integral, np.integer)) and not isinstance(feature, bool):
        return int(feature) % len(names)
    try:
        return names.index(feature)
    except ValueError:
        raise KeyError(f"unknown feature {feature!r}; known: {names}") from None


# ---------------------------------------------------------------------- bar
@_plot_doc
def bar(explanation, *, max_display=10, output=None, ax=None):
    """Global importance: mean ``|attribution|`` per feature, largest on top.

    Parameters
    ----------
    explanation : Explanation
        Values of shape (n, d) or (n, d, k).
    max_display : int, default=10
        Most bars drawn. When there are more features, the ``max_display - 1`` most important
        are drawn and the rest are summed into one "N other features" bar at the bottom.
    output : int, str, "all" or None
        For (n, d, k) values, the output to show: a position or a name, as
        :meth:`Explanation.select_output <sklxai.Explanation.select_output>` takes it; None
        shows the last output (the positive class of a binary classifier). ``"all"`` stacks one segment per output,
        features ordered by the summed importance.
    {ax}
        When the explanation has standard errors (``std_errors``, from a sampling explainer),
        each bar of one output carries an error bar of ± the mean of its rows' standard errors
        (the most the mean ``|attribution|`` moves by one standard error of each row, whatever the
        correlation of the rows' errors; the "other features" bar sums those of its features).

    {examples}
    >>> rng = np.random.default_rng(0)
    >>> exp = Explanation(rng.normal(size=(20, 4)), np.zeros(20), rng.normal(size=(20, 4)),
    ...                   ["a", "b", "c", "d"])
    >>> ax = bar(exp, max_display=3)
    >>> len(ax.patches)
    3
    """
    if output == "all" and np.ndim(explanation.values) == 3:
        return _bar_stacked(explanation, max_display=max_display, ax=ax)
    values, _, _, names, out_name = _select(explanation, output)
    order, imp = _importance_order(values)
    labels, widths = _top_with_rest(order, imp, names, max_display)
    ax = _new_axes(ax, (6.4, 0.45 * len(labels) + 1.4))
    y = np.arange(len(labels))[::-1]
    bars = ax.barh(y, widths, color=POSITIVE_COLOR, height=0.7)
    top = max(widths) if len(widths) else 0.0
    errors = _std_errors(explanation, output)
    ends = widths
    if errors is not None:
        _, spread = _top_with_rest(order, errors.mean(axis=0), names, max_display)
        _error_bars(ax, widths, y, spread)
        ends = [w + e for w, e in zip(widths, np.nan_to_num(spread))]
        top = max([top, *ends])
    for rect, w, end in zip(bars, widths, ends):
        ax.text(end + 0.01 * (top or 1.0), rect.get_y() + rect.get_height() / 2, f"+{w:.3g}",
                va="center", ha="left", fontsize=9)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_xlim(0, (top or 1.0) * 1.18)
    ax.set_xlabel("mean(|attribution|)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    _title(ax, "Global importance", out_name)
    return ax


def _top_with_rest(order, imp, names, max_display):
    max_display = max(1, int(max_display))
    if len(order) <= max_display:
        return [str(names[i]) for i in order], [float(imp[i]) for i in order]
    shown, rest = order[: max_display - 1], order[max_display - 1:]
    labels = [str(names[i]) for i in shown] + [f"{len(rest)} other features"]
    widths = [float(imp[i]) for i in shown] + [float(imp[rest].sum())]
    return labels, widths


def _bar_stacked(explanation, *, max_display, ax):
    values = np.asarray(explanation.values, dtype=float)
    if values.ndim == 2:  # one row
        values = values[None]
    names = list(explanation.feature_names)
    k = values.shape[2]
    out_names = explanation.output_names or [f"output {j}" for j in range(k)]
    imp_k = np.abs(values).mean(axis=0)  # (d, k)
    order, _ = _importance_order(imp_k.sum(axis=1)[None])
    ax = _new_axes(ax, (6.4, 0.45 * min(len(names), max_display) + 1.4))
    plt = _pyplot()
    colors = plt.get_cmap("tab10")
    left = None
    for j in range(k):
        labels, widths = _top_with_rest(order, imp_k[:, j], names, max_display)
        y = np.arange(len(labels))[::-1]
        left = np.zeros(len(labels)) if left is None else left
        ax.barh(y, widths, left=left, color=colors(j % 10), label=str(out_names[j]), height=0.7)
        left = left + np.asarray(widths)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_xlabel("mean(|attribution|)")
    ax.legend(loc="lower right", frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title("Global importance: all outputs")
    return ax


# ---------------------------------------------------------------------- beeswarm
def _swarm_offsets(x, nbins=100, width=0.4):
    """Vertical offsets that spread points sharing similar x (a simple beeswarm)."""
    n = len(x)
    if n == 0:
        return np.zeros(0)
    span = np.ptp(x)
    quant = np.round(nbins * (x - x.min()) / (span if span > 0 else 1.0)).astype(int)
    offsets = np.zeros(n)
    layer = np.zeros(n)
    rng = np.random.default_rng(0)
    perm = rng.permutation(n)  # deterministic, but not biased by row order
    counts = {}
    for i in perm:
        c = counts.get(quant[i], 0)
        counts[quant[i]] = c + 1
        layer[i] = ((c + 1) // 2) * (1 if c % 2 else -1)
    top = np.abs(layer).max()
    if top > 0:
        offsets = layer * (width / top)
    return offsets


@_plot_doc
def beeswarm(explanation, *, max_display=10, output=None, ax=None):
    """Every row's attribution for the most important features, coloured by feature value.

    One horizontal strip per feature (ordered by mean ``|attribution|``, most important on top);
    points are spread vertically where they crowd, and coloured from low (blue) to high (red)
    value of that feature, normalised per feature between its 5th and 95th percentiles.
    Non-numeric values (strings of a raw pipeline column) and missing values are grey.

    Parameters
    ----------
    explanation : Explanation
        Values of shape (n, d) or (n, d, k).
    max_display : int, default=10
        Number of features drawn (the most important ones).
    {output}
    {ax}
        Its collections hold one scatter per displayed feature (labelled with the name);
        the colorbar lives in its own axes of the same figure.

    {examples}
    >>> rng = np.random.default_rng(0)
    >>> exp = Explanation(rng.normal(size=(50, 3)), np.zeros(50), rng.normal(size=(50, 3)),
    ...                   ["a", "b", "c"])
    >>> ax = beeswarm(exp)
    >>> len(ax.collections)
    3
    """
    plt = _pyplot()
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    values, _, data, names, out_name = _select(explanation, output)
    order, _ = _importance_order(values)
    shown = order[: max(1, int(max_display))]
    ax = _new_axes(ax, (7.0, 0.45 * len(shown) + 1.6))
    cmap = plt.get_cmap(FEATURE_CMAP)
    ax.axvline(0.0, color="#888888", lw=0.8, zorder=0)
    for pos, j in enumerate(shown):
        y0 = len(shown) - 1 - pos
        phi = values[:, j]
        colors = np.tile(np.array(_to_rgba(NON_NUMERIC_COLOR)), (len(phi), 1))
        if data is not None:
            num, is_numeric = _numeric(data[:, j])
            ok = np.isfinite(num)
            if is_numeric and ok.any():
                lo, hi = np.nanpercentile(num[ok], [5, 95])
                if hi <= lo:
                    lo, hi = np.nanmin(num[ok]), np.nanmax(num[ok])
                scaled = np.clip((num[ok] - lo) / (hi - lo), 0, 1) if hi > lo else np.full(
                    ok.sum(), 0.5)
                colors[ok] = cmap(scaled)
        ax.scatter(phi, y0 + _swarm_offsets(phi), c=colors, s=16, linewidths=0,
                   alpha=0.85, label=str(names[j]), rasterized=len(phi) > 500)
    ax.set_yticks(np.arange(len(shown))[::-1])
    ax.set_yticklabels([str(names[j]) for j in shown])
    ax.set_ylim(-0.6, len(shown) - 0.4)
    ax.set_xlabel("attribution (impact on the output)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    sm = ScalarMappable(norm=Normalize(0, 1), cmap=cmap)
    sm.set_array([])
    cbar = ax.figure.colorbar(sm, ax=ax, ticks=[0, 1], aspect=40, pad=0.02)
    cbar.set_ticklabels(["low", "high"])
    cbar.set_label("feature value")
    cbar.outline.set_visible(False)
    _title(ax, "Attributions", out_name)
    return ax


def _to_rgba(color):
    from matplotlib.colors import to_rgba

    return to_rgba(color)


# ---------------------------------------------------------------------- waterfall
@_plot_doc
def waterfall(explanation, row=0, *, max_display=10, output=None, ax=None):
    """One row's attributions, from the base value to the model output.

    The walk starts at the base value E[f(X)] (bottom), adds the contributions of the
    features, smallest first, and ends at f(x) = base value + sum of the attributions (top);
    the largest contributions are the top bars, red when they push the output up, blue when
    they push it down. Beyond ``max_display - 1`` features the rest are summed into one
    "N other features" bar. Labels read "name = value" with the row's feature value.

    Parameters
    ----------
    explanation : Explanation
        Values of shape (n, d) or (n, d, k), or a single row (``exp[0]``).
    row : int, default=0
        The row drawn (ignored for a one-row explanation).
    max_display : int, default=10
        Most bars drawn.
    {output}
    {ax}
        ``ax.patches`` are the bars from bottom to top; the last one ends at f(x). When the
        explanation has standard errors (``std_errors``), each bar's end carries an error bar
        of ± its standard error (the "other features" bar: the sum of theirs, a bound).

    {examples}
    >>> exp = Explanation(np.array([[0.5, -0.2, 0.1]]), np.array([1.0]),
    ...                   np.array([[3.0, 1.0, 2.0]]), ["a", "b", "c"])
    >>> ax = waterfall(exp)
    >>> last = ax.patches[-1]
    >>> round(float(last.get_x() + last.get_width()), 6)
    1.4
    """
    values, base, data, names, out_name = _select(explanation, output)
    errors = _std_errors(explanation, output)
    r = row if explanation._axes()[0] else 0
    phi, b = values[r], float(base[r])
    x = None if data is None else data[r]
    order = np.argsort(-np.abs(phi), kind="stable")
    max_display = max(1, int(max_display))
    if len(order) > max_display:
        shown, rest = order[: max_display - 1], order[max_display - 1:]
    else:
        shown, rest = order, order[:0]
    labels = [
        str(names[j]) if x is None else f"{names[j]} = {_format_value(x[j])}" for j in shown
    ]
    contribs = [float(phi[j]) for j in shown]
    spread = None if errors is None else [float(errors[r, j]) for j in shown]
    if len(rest):
        labels.append(f"{len(rest)} other features")
        contribs.append(float(phi[rest].sum()))
        if spread is not None:
            spread.append(float(errors[r, rest].sum()))
    # draw bottom (smallest / others) to top (largest); positions top-down like the labels
    n_bars = len(contribs)
    ax = _new_axes(ax, (7.0, 0.5 * n_bars + 1.6))
    start = b
    span = max(abs(c) for c in contribs) if contribs else 1.0
    for k in range(n_bars - 1, -1, -1):
        c = contribs[k]
        y = n_bars - 1 - k
        color = POSITIVE_COLOR if c >= 0 else NEGATIVE_COLOR
        ax.barh(y, c, left=start, color=color, height=0.65)
        if spread is not None:
            _error_bars(ax, [start + c], [y], [spread[k]])
        ax.text(start + c + (0.02 if c >= 0 else -0.02) * (span or 1.0), y,
                f"{c:+.3g}", va="center", ha="left" if c >= 0 else "right", fontsize=9,
                color=color)
        start += c
    fx = start
    ax.axvline(b, color="#888888", ls="--", lw=0.8)
    ax.axvline(fx, color="#333333", ls="--", lw=0.8)
    ax.text(b, -0.9, f"E[f(X)] = {b:.4g}", ha="center", va="top", fontsize=9)
    ax.text(fx, n_bars - 0.2, f"f(x) = {fx:.4g}", ha="center", va="bottom", fontsize=9)
    ax.set_yticks(np.arange(n_bars)[::-1])
    ax.set_yticklabels(labels)
    ax.set_ylim(-1.6, n_bars + 0.5)
    lo = min(b, fx, *(np.cumsum([b] + contribs[::-1]).tolist()))
    hi = max(b, fx, *(np.cumsum([b] + contribs[::-1]).tolist()))
    pad = 0.15 * ((hi - lo) or 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel("model output")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    _title(ax, "Waterfall" if not explanation._axes()[0] else f"Waterfall (row {row})", out_name)
    return ax


# ---------------------------------------------------------------------- dependence
@_plot_doc
def dependence(explanation, feature, *, output=None, ax=None):
    """A feature's value against its attribution, one point per row.

    Numeric features are drawn on their own scale; non-numeric ones (strings of a raw pipeline
    column) are placed at one position per category (sorted), with a little horizontal jitter.

    Parameters
    ----------
    explanation : Explanation
        Values of shape (n, d) or (n, d, k), with ``data``.
    feature : int or str
        The feature, by position or name.
    {output}
    {ax}

    {examples}
    >>> x = np.linspace(0, 1, 30)[:, None]
    >>> exp = Explanation(2 * x - 1, np.zeros(30), x, ["age"])
    >>> ax = dependence(exp, "age")
    >>> ax.get_xlabel()
    'age'
    """
    values, _, data, names, out_name = _select(explanation, output)
    if data is None:
        raise ValueError("dependence() needs the explanation's data (the feature values).")
    j = _feature_index(feature, names)
    phi = values[:, j]
    xs, cats = _x_positions(data[:, j])
    ax = _new_axes(ax, (6.4, 4.2))
    ax.axhline(0.0, color="#888888", lw=0.8, zorder=0)
    ax.scatter(xs, phi, s=14, color=POSITIVE_COLOR, alpha=0.8, linewidths=0)
    _category_ticks(ax, cats)
    ax.set_xlabel(str(names[j]))
    ax.set_ylabel(f"attribution of {names[j]}")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    _title(ax, f"Dependence of {names[j]}", out_name)
    return ax


def _x_positions(column):
    """A feature's values as x positions, and its categories (None when it is numeric).

    Numeric values are their own positions; a non-numeric column (strings of a raw pipeline
    column) puts each category at one position (sorted), with a little horizontal jitter.
    """
    num, is_numeric = _numeric(column)
    if is_numeric:
        return num, None
    cats = sorted({str(v) for v in column})
    pos = {c: i for i, c in enumerate(cats)}
    xs = np.array([pos[str(v)] for v in column], dtype=float)
    return xs + np.random.default_rng(0).uniform(-0.15, 0.15, size=len(xs)), cats


def _category_ticks(ax, cats):
    """Label the x positions of :func:`_x_positions`' categories (nothing when numeric)."""
    if cats is not None:
        ax.set_xticks(np.arange(len(cats)))
        ax.set_xticklabels(cats, rotation=30 if len(cats) > 4 else 0,
                           ha="right" if len(cats) > 4 else "center")


# ---------------------------------------------------------------------- image
@_plot_doc
def image(explanation_or_values, row=0, *, image_shape=None, image=None, output=None, ax=None):
    """Pixel (or patch) attributions as a heat map, over the grayscale image when given.

    The colormap is diverging and centred at 0 with symmetric limits ``[-m, m]``, ``m`` the
    largest ``|attribution|``: red pixels are evidence for the output, blue against it.

    Parameters
    ----------
    explanation_or_values : Explanation, ndarray or torch.Tensor
        Attributions: an explanation of images (values (n, C, H, W[, k]) or (n, H, W[, k]),
        as explainers return them for image input), an array of images (n, C, H, W) or
        (n, H, W), or flat values (n, d), (n, d, k), (d,) with ``image_shape``, ``d`` the
        number of pixels ``prod(image_shape)``.
    row : int, default=0
        The row drawn.
    image_shape : tuple or None
        For flat values: ``(h, w)``, or ``(h, w, c)`` channel-last (channels are summed for the
        heat map). None (default): read from the explanation or the array, channels first
        (C, H, W) or (H, W); the channels are summed.
    image : ndarray or torch.Tensor, optional
        The input image, drawn in grayscale under a semi-transparent heat map: (C, H, W),
        (H, W) or anything with ``prod(image_shape)`` or ``h * w`` entries. None: no image.
    output : int, str or None
        For attributions of several outputs, the output (a position or, for an explanation, a
        name, as :meth:`Explanation.select_output <sklxai.Explanation.select_output>` takes
        it); None shows the last.
    {ax}
        ``ax.images[-1]`` is the heat map.

    Examples
    --------
    >>> import numpy as np
    >>> from sklxai.plotting import image
    >>> phi = np.random.default_rng(0).normal(size=(1, 64))
    >>> ax = image(phi, image_shape=(8, 8))
    >>> lo, hi = ax.images[-1].get_clim()
    >>> bool(np.isclose(lo, -hi))
    True
    >>> ax = image(phi.reshape(1, 1, 8, 8))   # images, channels first: no image_shape needed
    """
    plt = _pyplot()
    if image_shape is None:
        explanation_or_values, image_shape = _channels_first(explanation_or_values)
        if image is not None:  # channels first too: its grey level, (H, W)
            image = _as_float_array(image)
            h, w = image_shape[:2]
            if image.size != h * w and image.size % (h * w) == 0:
                image = image.reshape(-1, h, w).mean(axis=0)
    shape = tuple(int(s) for s in image_shape)
    size = int(np.prod(shape))
    out_name = None
    if hasattr(explanation_or_values, "values") and hasattr(explanation_or_values, "base_values"):
        values, _, _, _, out_name = _select(explanation_or_values.flatten(), output)
        attr = values[row]
    else:
        attr = np.asarray(explanation_or_values, dtype=float)
        if attr.size != size:
            attr = attr[row]
        if attr.size != size and attr.ndim >= 1:
            attr = _array_output(attr, output)
    if attr.size != size:
        raise ValueError(f"attributions of size {attr.size} do not fit image_shape {shape}.")
    attr = np.asarray(attr, dtype=float).reshape(shape)
    if attr.ndim == 3:
        attr = attr.sum(axis=-1)
    m = float(np.nanmax(np.abs(attr))) if attr.size else 0.0
    m = m if m > 0 else 1.0
    ax = _new_axes(ax, (4.2, 4.0))
    alpha = 1.0
    if image is not None:
        img = np.asarray(image, dtype=float)
        h, w = shape[:2]
        if img.size == h * w:
            gray = img.reshape(h, w)
        elif img.size == size and len(shape) == 3:
            gray = img.reshape(shape).mean(axis=-1)
        else:
            raise ValueError(f"image of size {img.size} does not fit image_shape {shape}.")
        ax.imshow(gray, cmap="gray", interpolation="nearest")
        alpha = 0.6
    im = ax.imshow(attr, cmap=plt.get_cmap(ATTRIBUTION_CMAP), vmin=-m, vmax=m, alpha=alpha,
                   interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="attribution")
    ax.set_xticks([])
    ax.set_yticks([])
    _title(ax, "Attributions", out_name)
    return ax


def _array_output(attr, output):
    """One output of one row's attributions (..., k) given as an array, picked as
    :meth:`~sklxai.Explanation.select_output` picks it (a position; None: the last one)."""
    flat = attr.reshape(-1, attr.shape[-1])
    row = Explanation(flat, np.zeros(flat.shape[1]), np.zeros(flat.shape[0]),
                      [f"x{i}" for i in range(flat.shape[0])])
    return row.select_output(-1 if output is None else output).values


def _as_float_array(x):
    """An array or torch tensor (on any device) as a float ndarray."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=float)


def _channels_first(explanation_or_values):
    """For :func:`image` without ``image_shape``: attributions as (n, H, W, C) channel-last
    values (or an Explanation) and the ``(H, W, C)`` shape that ``image`` then reads them in.

    The shape comes from the explanation's ``feature_shape`` or from the array: (n, C, H, W)
    or (n, H, W) images, channels first as the explainers return them.
    """
    obj = explanation_or_values
    if hasattr(obj, "values") and hasattr(obj, "base_values"):
        shape = obj.feature_shape
        if shape is None:
            raise ValueError("image_shape is required for an explanation of flat rows; pass "
                             "image_shape=(h, w), or explain the images as (n, C, H, W).")
        if len(shape) == 2:
            return obj, shape
        # channels last, so that the flat order matches image_shape=(H, W, C)
        c, h, w = shape
        has_rows, _ = obj._axes()
        moved = np.moveaxis(obj.values, 1 if has_rows else 0, 3 if has_rows else 2)
        data = np.moveaxis(obj.data, 1 if has_rows else 0, 3 if has_rows else 2)
        flat = obj._replace(values=moved, data=data, feature_shape=(h, w, c))
        return flat, (h, w, c)
    values = _as_float_array(obj)
    if values.ndim == 4:  # (n, C, H, W)
        return np.moveaxis(values, 1, 3), values.shape[2:] + values.shape[1:2]
    if values.ndim == 3:  # (n, H, W)
        return values, values.shape[1:]
    raise ValueError(
        f"attributions of shape {values.shape} need image_shape: pass image_shape=(h, w), or "
        "images of shape (n, C, H, W) or (n, H, W)."
    )
