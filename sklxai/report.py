"""The self-contained HTML report of an explanation.

What lives here: :func:`make_report`, which turns an :class:`sklxai.Explanation` (and, optionally,
the explainer that made it and a reference such as exact Shapley values) into ONE HTML file that
opens anywhere offline: every figure is a PNG embedded as a ``data:`` URI, the CSS is inline, and
there are no scripts, fonts or links to fetch (a Content-Security-Policy in the page forbids
them). Everything that comes from the user (title, feature and output names, parameters, extra
details) is HTML-escaped.

What does not: drawing the figures (:mod:`sklxai.plotting` does; this module only embeds them),
computing attributions, or computing metrics (:func:`sklxai.metrics.relative_error` does).
matplotlib (the ``plot`` extra) is needed to make a report; it is imported when one is made.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import numbers
import os
import warnings

import numpy as np

__all__ = ["make_report"]

#: most rows of the per-feature importance table (the rest are counted in a note)
MAX_TABLE_ROWS = 50
#: longest parameter repr shown before it is cut
MAX_REPR = 160

_SECTIONS = (
    ("summary", "Summary"),
    ("interactions", "Interactions"),
    ("importance", "Global importance"),
    ("beeswarm", "Attributions per row"),
    ("waterfalls", "Single rows"),
    ("accuracy", "Accuracy against the reference"),
    ("settings", "Model and explainer settings"),
    ("timing", "Timing"),
)

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
       margin: 0; background: #f6f7f9; line-height: 1.45; }
main { max-width: 1060px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { margin: 0 0 4px; font-size: 1.7em; }
h2 { margin-top: 2em; padding-bottom: 4px; border-bottom: 2px solid #e3e6ea; font-size: 1.3em; }
h3 { font-size: 1.05em; margin-bottom: 4px; }
.sub { color: #666; margin: 0 0 12px; }
nav { margin: 12px 0 4px; font-size: 0.92em; }
nav a { margin-right: 14px; color: #0b62c4; text-decoration: none; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 0.92em; }
th, td { border: 1px solid #dde1e6; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f0f2f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td code { white-space: pre-wrap; word-break: break-all; }
figure { margin: 12px 0 20px; }
figure img { max-width: 100%; height: auto; border: 1px solid #eceef1; }
figcaption { color: #555; font-size: 0.9em; margin-top: 4px; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 6px 12px; margin: 8px 0; }
.muted { color: #777; }
.flex { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
.flex > * { flex: 0 1 auto; min-width: 0; }
"""

_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def make_report(explanation, path=None, *, explainer=None, reference=None, output=None,
                title="sklxai report", max_display=10, n_waterfalls=3, waterfall_rows=None,
                timings=None, extra=None, dpi=100):
    """Write a self-contained HTML report of an explanation.

    The report has these sections (each an ``<h2>`` with the ``id`` in brackets): a summary
    (``summary``: method, rows, features, the output shown, the efficiency gap, and for an
    explanation with standard errors the largest one relative to its row's mean ``|phi|``), the
    interactions of an :class:`~sklxai.InteractionExplanation` (``interactions``: its
    :func:`~sklxai.plotting.interaction_heatmap`, :func:`~sklxai.plotting.interaction_network`,
    the :func:`~sklxai.plotting.interaction_dependence` plot of the feature with the largest
    mean ``|row sum|`` and a table of the strongest pairs; the later sections then show each
    feature's row sum of the interaction matrix, for k-SII of order 2 its Shapley value), global
    importance (``importance``: the bar plot and a table of mean ``|phi|`` per feature), the
    beeswarm (``beeswarm``), waterfalls of a few rows (``waterfalls``), the accuracy against
    ``reference`` (``accuracy``: relative error, max abs error, efficiency gaps), the model and
    explainer settings (``settings``: explainer class, ``get_params(deep=False)``, model type,
    adapter, device; then ``extra``) and the timings (``timing``: the explainer's ``fit_time_``
    when it has one, then ``timings``). A section without its input says so instead of going
    missing.

    The file needs nothing else: figures are PNGs embedded as ``data:image/png;base64`` URIs,
    the CSS is inline, and there are no scripts, web fonts or external links. Every string that
    comes from the user (title, feature and output names, parameter reprs, ``extra``) is
    HTML-escaped.

    Parameters
    ----------
    explanation : Explanation or InteractionExplanation
        Tabular attributions of shape (n, d) or (n, d, k), or one row (``exp[0]``), or
        interaction terms of shape (n, d, d) or (n, d, d, k). Image
        attributions are not supported as images: flattened ones are treated as one feature
        per pixel/patch, and values that keep a spatial shape are refused (draw them with
        :func:`sklxai.plotting.image`).
    path : str or path-like, optional
        Where to write the HTML (UTF-8). None: nothing is written, the text is only returned.
    explainer : BaseExplainer, optional
        The (fitted) explainer that produced ``explanation``, for the settings and timing
        sections.
    reference : Explanation, InteractionExplanation or array-like, optional
        Reference attributions of the same rows, e.g. from :class:`sklxai.ExactShapley`: either
        of the same shape as ``explanation.values``, or of the shape of the output shown. For an
        InteractionExplanation, attributions compared with its row sums (an
        InteractionExplanation given as the reference is compared by its row sums too).
    output : int, str or None
        For (n, d, k) values, the output (index or name) the figures and tables show. None:
        the last output, as in :mod:`sklxai.plotting` (for a binary classifier, the positive
        class); the report says which one was picked. Ignored for (n, d) values.
    title : str, default="sklxai report"
        The page title and heading.
    max_display : int, default=10
        Most features in each figure (the rest are summed, as in :func:`sklxai.plotting.bar`).
    n_waterfalls : int, default=3
        Rows drawn as waterfalls when ``waterfall_rows`` is None: the row with the highest
        model output, the one with the lowest, then the first rows not yet drawn.
    waterfall_rows : sequence of int, optional
        Explicit rows to draw as waterfalls (overrides ``n_waterfalls``).
    timings : mapping of str to float, optional
        Extra timings in seconds (e.g. ``{"fit": 1.2, "explain": 0.3}``), shown in the timing
        section after the explainer's own ``fit_time_``.
    extra : mapping, optional
        Further details (e.g. ``{"model accuracy": 0.85}``), shown as a table in the settings
        section; keys and values are shown with ``str`` (floats with 4 significant digits).
    dpi : int, default=100
        Resolution of the embedded figures.

    Returns
    -------
    html : str
        The HTML text (also written to ``path`` when given).

    Raises
    ------
    ImportError
        When matplotlib is not installed (``pip install sklxai[plot]``).
    ValueError
        When the values are not tabular, or ``reference`` does not match them.

    Examples
    --------
    >>> import numpy as np
    >>> from sklxai import Explanation, make_report
    >>> rng = np.random.default_rng(0)
    >>> exp = Explanation(rng.normal(size=(30, 4)), np.zeros(30), rng.normal(size=(30, 4)),
    ...                   ["age", "income", "<b>x</b>", "hours"], method="kernelshap")
    >>> text = make_report(exp, title="My model", reference=exp.values + 0.01)
    >>> text.startswith("<!DOCTYPE html>")
    True
    >>> "&lt;b&gt;x&lt;/b&gt;" in text and "<b>x</b>" not in text
    True
    >>> text.count('<img src="data:image/png;base64,') >= 3
    True

    Write it to a file with ``make_report(exp, "report.html", explainer=explainer)``.
    """
    from sklxai._explanation_interactions import InteractionExplanation

    _matplotlib()
    interactions = None
    if isinstance(explanation, InteractionExplanation):
        interactions, explanation = explanation, _row_sums(explanation)
        if isinstance(reference, InteractionExplanation):
            reference = _row_sums(reference)
    view = _View(explanation, output)
    acc = _accuracy(view, reference) if reference is not None else None
    rows = _waterfall_rows(view, n_waterfalls, waterfall_rows)

    parts = [_summary(view, explainer, title),
             _interactions(interactions, view, max_display, dpi),
             _importance(view, acc, max_display, dpi),
             _beeswarm(view, max_display, dpi),
             _waterfalls(view, rows, max_display, dpi),
             _accuracy_section(acc),
             _settings(view, explainer, extra),
             _timing(explainer, timings)]
    text = _page(title, "\n".join(parts))
    if path is not None:
        with open(os.fspath(path), "w", encoding="utf-8") as f:
            f.write(text)
    return text


# ---------------------------------------------------------------------- the data shown
def _row_sums(exp):
    """The Explanation the sections after ``interactions`` show for an InteractionExplanation:
    each feature's row sum of ``values`` (its own term plus half of each of its pairs'; for
    k-SII of order 2, its Shapley value), with the model output only where these add up to it
    (an efficient index without terms of order 3 or more)."""
    from sklxai._explanation_interactions import EFFICIENT
    from sklxai.explanation import Explanation

    adds_up = exp.index in EFFICIENT and not exp.higher_order
    return Explanation(exp.values.sum(axis=2), exp.base_values, exp.data, exp.feature_names,
                       exp.output_names, exp.output if adds_up else None, exp.method)


class _View:
    """The explanation normalised to what the report shows: one output, rows on axis 0."""

    def __init__(self, explanation, output):
        from sklxai._explanation_index import output_position
        from sklxai.plotting._plots import _select, _std_errors

        if not (hasattr(explanation, "values") and hasattr(explanation, "base_values")
                and hasattr(explanation, "feature_names")):
            raise TypeError("make_report needs an sklxai.Explanation; got "
                            f"{type(explanation).__name__}.")
        values = np.asarray(explanation.values)
        has_rows, has_features = explanation._axes()
        if not has_features:
            raise ValueError("make_report needs the feature axis; do not slice a single "
                             "feature out of the explanation.")
        n_axes = int(has_rows) + 1
        n_features = values.shape[1 if has_rows else 0]
        if values.ndim > n_axes + 1 or n_features != len(explanation.feature_names):
            raise ValueError(
                f"make_report supports tabular attributions of shape (n, d) or (n, d, k); got "
                f"values of shape {values.shape} for {len(explanation.feature_names)} feature "
                "names. Image attributions that keep their spatial shape are not supported: "
                "flatten them, or draw them with sklxai.plotting.image.")
        self.exp = explanation
        self.full = values if has_rows else values[None]
        self.n_outputs = self.full.shape[2] if self.full.ndim == 3 else 1
        self.note = None
        # the output shown: picked by Explanation.select_output (None: the last one)
        self.out_idx = output_position(explanation, -1 if output is None else output)
        self.plot_output = self.out_idx
        v, base, data, names, out_name = _select(explanation, self.plot_output)
        self.values, self.base, self.data, self.names = v, base, data, names
        self.std_errors = _std_errors(explanation, self.plot_output)  # (n, d) or None
        self.out_name = out_name
        if self.full.ndim == 3:
            outs = explanation.output_names or list(range(self.n_outputs))
            listed = ", ".join(f"{i}: {o}" for i, o in enumerate(outs))
            how = "as asked" if output is not None else (
                "the last one by default (for a binary classifier, the positive class); pass "
                "output= to choose another")
            self.note = (f"The explanation has {self.n_outputs} outputs ({listed}); the "
                         f"figures and tables show output {self.out_idx} ({out_name}), {how}.")
        self.fx = self.base + self.values.sum(axis=1)
        self.n, self.d = self.values.shape


def _accuracy(view, reference):
    """Accuracy of the explanation against reference values (a dict of numbers)."""
    from sklxai.metrics import relative_error

    ref_exp = reference if hasattr(reference, "values") else None
    try:
        ref = np.asarray(getattr(reference, "values", reference), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"reference must hold numbers ({exc}).") from None
    full = np.asarray(view.full, dtype=np.float64)
    if view.n == 1 and ref.ndim in (full.ndim - 1, view.values.ndim - 1):
        ref = ref[None]  # one row without its row axis, like ``exp[0]``
    rel_all = None
    if ref.shape == full.shape:
        rel_all = relative_error(full, ref) if view.n_outputs > 1 else None
        ref_sel = ref[:, :, view.out_idx] if full.ndim == 3 else ref
    elif ref.shape == view.values.shape:
        ref_sel = ref
    else:
        raise ValueError(
            f"reference values have shape {ref.shape}, but the explanation's are {full.shape} "
            f"(or {view.values.shape} for the output shown); explain the same rows.")
    diff = view.values - ref_sel
    acc = {
        "relative_error": relative_error(view.values, ref_sel),
        "relative_error_all": rel_all,
        "max_abs_error": float(np.max(np.abs(diff))) if diff.size else 0.0,
        "mean_abs_error": float(np.mean(np.abs(diff))) if diff.size else 0.0,
        "per_feature_abs_error": np.abs(diff).mean(axis=0),
        "reference_importance": np.abs(ref_sel).mean(axis=0),
        "efficiency_gap": view.exp.efficiency_gap,
        "reference_efficiency_gap": None,
        "reference_method": None,
        "base_gap": None,
        "n_rows": int(view.n),
    }
    if ref_exp is not None:
        acc["reference_method"] = getattr(ref_exp, "method", None)
        try:
            acc["reference_efficiency_gap"] = ref_exp.efficiency_gap
        except (AttributeError, ValueError):  # an Explanation-like object without it
            pass
        ref_base = np.asarray(getattr(ref_exp, "base_values", np.nan), dtype=np.float64)
        if ref.ndim == 3 and ref_base.ndim >= 1 and ref_base.shape[-1] == view.n_outputs:
            ref_base = ref_base[..., view.out_idx]  # (n, k) or one row's (k,)
        ref_base = np.atleast_1d(ref_base)
        if ref_base.shape in ((view.n,), (1,)) and np.isfinite(ref_base).all():
            acc["base_gap"] = float(np.max(np.abs(view.base - ref_base)))
    return acc


def _waterfall_rows(view, n_waterfalls, rows):
    """(row, caption) pairs: explicit rows, else highest and lowest output, then first rows."""
    if rows is not None:
        out = []
        for r in rows:
            if not isinstance(r, (numbers.Integral, np.integer)) or isinstance(r, bool):
                raise TypeError(f"waterfall_rows must be row indices; got {r!r}.")
            if not -view.n <= int(r) < view.n:
                raise ValueError(f"waterfall row {int(r)} out of range for {view.n} rows.")
            out.append((int(r) % view.n, f"row {int(r) % view.n}"))
        return out
    n_waterfalls = max(0, min(int(n_waterfalls), view.n))
    chosen = []
    if view.n and n_waterfalls:
        fx = np.where(np.isfinite(view.fx), view.fx, np.nan)
        if np.isfinite(fx).any():
            chosen.append((int(np.nanargmax(fx)), "highest model output"))
            low = int(np.nanargmin(fx))
            if low != chosen[0][0]:
                chosen.append((low, "lowest model output"))
        taken = {r for r, _ in chosen}
        for r in range(view.n):
            if len(chosen) >= n_waterfalls:
                break
            if r not in taken:
                chosen.append((r, "in order"))
                taken.add(r)
        chosen = chosen[:n_waterfalls]
    return [(r, f"row {r}: {why}") for r, why in chosen]


# ---------------------------------------------------------------------- figures
def _matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "make_report draws figures with matplotlib, an optional extra: "
            "pip install sklxai[plot]") from exc


def _figure(draw, figsize, dpi, alt):
    """Draw with ``draw(ax)`` on a pyplot-free Figure; an ``<img>`` with the PNG inline."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    try:
        draw(ax)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    except Exception as exc:  # noqa: BLE001 - one broken figure must not lose the report
        warnings.warn(f"make_report: the figure '{alt}' could not be drawn: "
                      f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=3)
        return (f'<p class="note">This figure could not be drawn: '
                f'{_e(type(exc).__name__)}: {_e(exc)}</p>')
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _height(n_items, per_item, pad):
    return per_item * max(1, n_items) + pad


# ---------------------------------------------------------------------- sections
def _section(sid, body):
    heading = dict(_SECTIONS)[sid]
    return f'<section id="{sid}">\n<h2>{_e(heading)}</h2>\n{body}\n</section>'


def _summary(view, explainer, title):
    exp = view.exp
    method = exp.method or (type(explainer).__name__ if explainer is not None else None)
    rows = [
        ("method", _e(method) if method else '<span class="muted">not recorded</span>'),
        ("rows explained", f"{view.n}"),
        ("features", f"{view.d}"),
        ("output shown", _e(view.out_name) if view.out_name is not None else
         '<span class="muted">the single output explained</span>'),
        ("mean model output f(x)", _num(np.nanmean(view.fx)) if view.n else "-"),
        ("mean base value E[f(X)]", _num(np.nanmean(view.base)) if view.n else "-"),
        ("efficiency gap max |base + sum(phi) - f(x)|",
         _num(exp.efficiency_gap) if exp.efficiency_gap is not None else
         '<span class="muted">model output not recorded</span>'),
    ]
    relative = relative_std_error(view.values, view.std_errors)
    if relative is not None:
        rows.append(("largest standard error / the row's mean |phi|",
                     _e(_describe_relative(relative))))
    measured = _measured_error(explainer)
    if measured is not None:
        rows.append(("self-measured error (validation_error_)", _e(measured.describe())))
    body = _table(("", ""), rows, header=False)
    if view.note:
        body += f'\n<p class="note">{_e(view.note)}</p>'
    return _section("summary", body)


def relative_std_error(values, std_errors, output=None):
    """The largest standard error relative to its row's mean ``|value|``, per row.

    Parameters
    ----------
    values, std_errors : ndarray of shape (n, d) or (n, d, k), or None
        An explanation's values and standard errors (None: nothing to show).
    output : int or None
        For (n, d, k) values, the output to measure (None: every output, a row and output
        counting as a row).

    Returns
    -------
    summary : dict or None
        ``max`` (the largest over rows of ``max_j se_j / mean_j |phi_j|``), ``row`` (its row),
        ``median`` (over rows); None without standard errors or values. Rows whose values are
        all zero, or whose standard errors are NaN, are left out.
    """
    if std_errors is None:
        return None
    values, errors = np.asarray(values, dtype=float), np.asarray(std_errors, dtype=float)
    if values.ndim == 1:  # one row
        values, errors = values[None], errors[None]
    if values.ndim == 3:
        if output is not None:
            values, errors = values[:, :, output], errors[:, :, output]
        else:  # every (row, output) as a row
            values, errors = (a.transpose(0, 2, 1).reshape(-1, a.shape[1])
                              for a in (values, errors))
    scale = np.abs(values).mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = errors.max(axis=1) / scale
    ok = np.isfinite(ratio)
    if not ok.any():
        return None
    best = int(np.flatnonzero(ok)[np.argmax(ratio[ok])])
    k = 1 if np.ndim(std_errors) < 3 or output is not None else np.shape(std_errors)[2]
    return {"max": float(ratio[best]), "row": best // k, "median": float(np.median(ratio[ok]))}


def _describe_relative(relative):
    """One line for :func:`relative_std_error`'s summary."""
    return (f"{relative['max']:.1%} (row {relative['row']}); median over rows "
            f"{relative['median']:.1%}")


def _measured_error(explainer):
    """The error report an amortized explainer measured at fit, or None (any other one)."""
    from sklxai.explainers._amortized import AmortizedShapley

    return explainer.validation_report_ if isinstance(explainer, AmortizedShapley) else None


def _interactions(inter, view, max_display, dpi):
    """The heatmap, network and dependence plot of an InteractionExplanation, and its top pairs."""
    if inter is None:
        return _section("interactions", '<p class="muted">This explanation holds no interaction '
                        "terms: explain with <code>ExactInteractions</code> or "
                        "<code>KernelInteractions</code> to see which pairs of features act "
                        "together.</p>")
    from sklxai._explanation_interactions import ranked_pairs
    from sklxai.plotting import interaction_dependence, interaction_heatmap, interaction_network

    one = inter.select_output(-1 if view.plot_output is None else view.plot_output)
    gap = one.efficiency_gap
    order = "" if not one.higher_order else (
        f" and {len(one.higher_order)} terms of order 3 to {one.max_order} (not drawn)")
    intro = (f"<p>Index <b>{_e(one.index)}</b>: each feature's own term and each pair's"
             f"{_e(order)}; "
             + (f"all terms add up to the model output within {_num(gap)}. " if gap is not None
                else "")
             + "The sections below show each feature's row sum of the interaction matrix (its "
             "own term plus half of each of its pairs'"
             + ("; for k-SII of order 2, its Shapley value" if one.index == "k-SII" else "")
             + ").</p>")
    shown = min(view.d, max(1, int(max_display)))
    first, second, mean_abs, mean = ranked_pairs(one, max(1, int(max_display)))
    heat = _figure(lambda ax: interaction_heatmap(one, max_display=max_display, ax=ax),
                   (1.6 + 0.5 * shown, 1.2 + 0.45 * shown), dpi, "interaction heatmap")
    net = _figure(lambda ax: interaction_network(one, top=max(1, int(max_display)), ax=ax),
                  (6.0, 5.6), dpi, "interaction network")
    strongest = int(np.argmax(np.abs(view.values).mean(axis=0)))
    dep = _figure(lambda ax: interaction_dependence(one, strongest, ax=ax), (6.4, 4.0), dpi,
                  "interaction dependence plot")
    rows = [(str(r), _e(view.names[i]), _e(view.names[j]), _num(a), _num(m))
            for r, (i, j, a, m) in enumerate(zip(first, second, mean_abs, mean), 1)]
    table = _table(("#", "feature", "feature", "mean |term|", "mean term"), rows, num_from=3)
    name = view.names[strongest]
    body = (intro
            + f'<div class="flex"><figure>{heat}<figcaption>Mean |term| of every pair over the '
            f"{view.n} rows (the whole pair term; diagonal left blank).</figcaption></figure>\n"
            f"<figure>{net}<figcaption>The strongest pairs: edges as wide as their mean "
            "|term|, red when the mean term is positive, blue when negative.</figcaption>"
            f"</figure></div>\n<figure>{dep}<figcaption>{_e(name)} (the largest mean |row sum|)"
            " against its row sum, coloured by the feature it interacts with most."
            f"</figcaption></figure>\n<h3>Strongest pairs</h3>\n{table}")
    return _section("interactions", body)


def _importance(view, acc, max_display, dpi):
    from sklxai.plotting import bar

    imp = np.abs(view.values).mean(axis=0)
    signed = view.values.mean(axis=0)
    order = np.argsort(-imp, kind="stable")
    shown = min(view.d, max(1, int(max_display)))
    fig = _figure(lambda ax: bar(view.exp, max_display=max_display, output=view.plot_output,
                                 ax=ax),
                  (6.4, _height(shown, 0.45, 1.4)), dpi, "global importance bar plot")
    header = ["#", "feature", "mean |phi|", "mean phi"]
    if acc is not None:
        header += ["reference mean |phi*|", "mean |phi - phi*|"]
    rows = []
    for rank, j in enumerate(order[:MAX_TABLE_ROWS], 1):
        row = [str(rank), _e(view.names[j]), _num(imp[j]), _num(signed[j])]
        if acc is not None:
            row += [_num(acc["reference_importance"][j]), _num(acc["per_feature_abs_error"][j])]
        rows.append(row)
    table = _table(header, rows, num_from=2)
    if view.d > MAX_TABLE_ROWS:
        table += (f'\n<p class="muted">{view.d - MAX_TABLE_ROWS} less important features are '
                  "not listed.</p>")
    body = (f'<div class="flex"><figure>{fig}<figcaption>Mean |attribution| per feature over '
            f"the {view.n} rows, largest on top.</figcaption></figure>\n<div>{table}</div></div>")
    return _section("importance", body)


def _beeswarm(view, max_display, dpi):
    from sklxai.plotting import beeswarm

    shown = min(view.d, max(1, int(max_display)))
    fig = _figure(lambda ax: beeswarm(view.exp, max_display=max_display,
                                      output=view.plot_output, ax=ax),
                  (7.5, _height(shown, 0.45, 1.6)), dpi, "beeswarm plot")
    body = (f"<figure>{fig}<figcaption>One point per row and feature: its attribution (x), "
            "coloured by the feature's value (blue low, red high, grey not numeric)."
            "</figcaption></figure>")
    return _section("beeswarm", body)


def _waterfalls(view, rows, max_display, dpi):
    from sklxai.plotting import waterfall

    if not rows:
        return _section("waterfalls", '<p class="muted">No rows were drawn.</p>')
    shown = min(view.d, max(1, int(max_display)))
    figs = []
    for r, caption in rows:
        fig = _figure(lambda ax, r=r: waterfall(view.exp, r, max_display=max_display,
                                                output=view.plot_output, ax=ax),
                      (7.0, _height(shown, 0.5, 1.6)), dpi, f"waterfall of row {r}")
        figs.append(f"<figure>{fig}<figcaption>{_e(caption)}: from the base value E[f(X)] to "
                    f"f(x) = {_num(view.fx[r])}.</figcaption></figure>")
    return _section("waterfalls", "\n".join(figs))


def _accuracy_section(acc):
    if acc is None:
        return _section("accuracy", '<p class="muted">No reference was given: pass '
                        "<code>reference=</code> (e.g. the explanation of "
                        "<code>ExactShapley</code> on the same rows) to compare against it.</p>")
    rows = [("rows compared", str(acc["n_rows"])),
            ("reference method", _e(acc["reference_method"]) if acc["reference_method"]
             else '<span class="muted">not recorded</span>'),
            ("relative error (output shown)", _pct(acc["relative_error"]))]
    if acc["relative_error_all"] is not None:
        rows.append(("relative error (all outputs)", _pct(acc["relative_error_all"])))
    rows += [("max |phi - phi*|", _num(acc["max_abs_error"])),
             ("mean |phi - phi*|", _num(acc["mean_abs_error"])),
             ("efficiency gap of the explanation", _num(acc["efficiency_gap"])),
             ("efficiency gap of the reference", _num(acc["reference_efficiency_gap"]))]
    if acc["base_gap"] is not None:
        rows.append(("max |base value - reference base value|", _num(acc["base_gap"])))
    body = _table(("", ""), rows, header=False)
    body += ('\n<p class="muted">Relative error = mean over rows of ||phi - phi*||<sub>2</sub> '
             "divided by the mean over rows of ||phi*||<sub>2</sub> "
             "(<code>sklxai.metrics.relative_error</code>). The efficiency gap is "
             "max |base value + sum of phi - model output|.</p>")
    return _section("accuracy", body)


def _settings(view, explainer, extra):
    parts = []
    if explainer is None:
        parts.append('<p class="muted">No explainer was given (pass <code>explainer=</code> '
                     "to list its settings).</p>")
    else:
        rows = [("explainer class", f"<code>{_e(_type_name(explainer))}</code>")]
        model = getattr(explainer, "model_", getattr(explainer, "model", None))
        if model is not None:
            rows.append(("model type", f"<code>{_e(_type_name(model))}</code>"))
            steps = getattr(model, "steps", None)
            if isinstance(steps, list):
                listed = ", ".join(f"{name}: {type(step).__name__}" for name, step in steps)
                rows.append(("pipeline steps", _e(listed)))
        adapter = getattr(explainer, "adapter_", None)
        if adapter is not None:
            rows.append(("adapter", _e(type(adapter).__name__)))
        device = getattr(adapter, "device", None) if adapter is not None else None
        rows.append(("device", _e(device if device is not None else
                                  f"{getattr(explainer, 'device', '?')} (not fitted)")))
        prepared = getattr(explainer, "prepared_", None)  # any fitted explainer, or none
        if prepared is not None and prepared.fast_path:
            rows.append(("pipeline fast path", "yes: masking in model space on the device"))
        background = getattr(explainer, "background_", None)
        if background is not None:
            rows.append(("background rows", str(np.shape(background)[0])))

        for attr in ("n_features_in_", "n_outputs_", "output_names_"):
            if hasattr(explainer, attr):
                rows.append((attr, _e(_short(getattr(explainer, attr)))))
        parts.append("<h3>Explainer and model</h3>" + _table(("", ""), rows, header=False))
        try:
            params = explainer.get_params(deep=False)
        except Exception as exc:  # noqa: BLE001 - a broken get_params is shown, not raised
            params, err = {}, exc
            parts.append(f'<p class="note">get_params failed: {_e(err)}</p>')
        if params:
            prow = [(_e(k), f"<code>{_e(_short(v))}</code>") for k, v in sorted(params.items())]
            parts.append("<h3>Parameters (<code>get_params(deep=False)</code>)</h3>"
                         + _table(("parameter", "value"), prow))
    if extra:
        erow = [(_e(k), _e(_fmt(v))) for k, v in dict(extra).items()]
        parts.append("<h3>Details</h3>" + _table(("", ""), erow, header=False))
    return _section("settings", "\n".join(parts))


def _timing(explainer, timings):
    rows = []
    fit_time = getattr(explainer, "fit_time_", None) if explainer is not None else None
    if fit_time is not None:
        rows.append(("explainer training (fit_time_)", _seconds(fit_time)))
    for label, value in dict(timings or {}).items():
        rows.append((_e(label), _seconds(value)))
    if not rows:
        body = ('<p class="muted">No timings were recorded (pass <code>timings=</code>, e.g. '
                '<code>{"fit": 1.2, "explain": 0.3}</code> in seconds).</p>')
    else:
        body = _table(("", "seconds"), rows, num_from=1)
    return _section("timing", body)


def _page(title, body):
    from sklxai import __version__

    toc = " ".join(f'<a href="#{sid}">{_e(name)}</a>' for sid, name in _SECTIONS)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{_e(title)}</h1>\n"
        f'<p class="sub">Made by sklxai {_e(__version__)} on {stamp}.</p>\n'
        f"<nav>{toc}</nav>\n{body}\n</main>\n</body>\n</html>\n"
    )


# ---------------------------------------------------------------------- formatting
def _e(value):
    """HTML-escape anything (quotes included)."""
    return html.escape(str(value), quote=True)


def _table(columns, rows, *, header=True, num_from=None):
    lines = ["<table>"]
    if header:
        lines.append("<tr>" + "".join(f"<th>{_e(h)}</th>" for h in columns) + "</tr>")
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            if not header and i == 0:
                cells.append(f"<th>{cell}</th>")
            elif num_from is not None and i >= num_from:
                cells.append(f'<td class="num">{cell}</td>')
            else:
                cells.append(f"<td>{cell}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _num(value):
    if value is None:
        return '<span class="muted">-</span>'
    value = float(value)
    if not np.isfinite(value):
        return _e(value)
    return f"{value:.4g}" if value == 0 or 1e-3 <= abs(value) < 1e5 else f"{value:.3e}"


def _pct(value):
    return f"{100 * float(value):.3f}%"


def _seconds(value):
    try:
        return f"{float(value):.3f}"
    except (TypeError, ValueError):
        return _e(value)


def _fmt(value):
    if isinstance(value, (numbers.Real, np.floating)) and not isinstance(
            value, (bool, numbers.Integral, np.integer)):
        return f"{float(value):.4g}"
    return str(value)


def _type_name(obj):
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _short(value):
    """A short, one-line description of a parameter value (arrays and models summarised)."""
    if isinstance(value, np.ndarray):
        return f"ndarray of shape {value.shape}, dtype {value.dtype}"
    shape = getattr(value, "shape", None)
    if shape is not None and not np.isscalar(value) and hasattr(value, "__len__"):
        return f"{type(value).__name__} of shape {tuple(shape)}"
    if hasattr(value, "get_params") or hasattr(value, "state_dict") or hasattr(value,
                                                                               "predict"):
        return f"{type(value).__name__} ({type(value).__module__})"
    if isinstance(value, (list, tuple)):  # numpy scalars as plain numbers: [0, 1], not np.int64
        value = type(value)(v.item() if isinstance(v, np.generic) else v for v in value)
    elif isinstance(value, np.generic):
        value = value.item()
    text = " ".join(repr(value).split())
    return text if len(text) <= MAX_REPR else text[: MAX_REPR - 3] + "..."
