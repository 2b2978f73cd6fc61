"""How an amortized explainer checks itself: the error it measures at ``fit`` (with its warning
and its place in saved files), and ``score``'s agreement with fresh unbiased targets."""

import re
import warnings

import torch

from sklxai.exceptions import AccuracyWarning
from sklxai.explainers._trainer import draw_stats, kernel_design
from sklxai.explainers._validation import ErrorReport, measure_explainer

#: the fields of an ErrorReport, as a saved file keeps them
_FIELDS = ("error", "interval", "reference", "noise", "n_rows", "seconds")


def measured_error(est, rows, X, tree=None):
    """The :class:`~sklxai.explainers._validation.ErrorReport` of a fitted amortized explainer
    on held-out rows of fit, or None when ``validation_reference`` is None; warns with an
    :class:`~sklxai.exceptions.AccuracyWarning` above ``tolerance``, at the caller of ``fit``."""
    if est.validation_reference is None:
        return None
    report = measure_explainer(est, rows, X, tree)
    if report.error > est.tolerance:
        warnings.warn(AccuracyWarning(
            f"{type(est).__name__}'s values are off by {report.describe()}: above "
            f"tolerance={est.tolerance:.0%}. Train longer (max_time, max_epochs), fit on "
            "more rows, or use an exact explainer for this model: TreeShapley ('tree') for "
            "tree models, ExactShapley ('exact') for up to ~16 players, KernelSHAP "
            "('kernelshap') otherwise."), stacklevel=5)
    return report


def report_state(report):
    """An ErrorReport (or None) as JSON-ready metadata of a saved explainer."""
    return None if report is None else {name: getattr(report, name) for name in _FIELDS}


def report_from_state(state):
    """The ErrorReport that :func:`report_state` wrote (None for none).

    Files that kept its fields as six explainer attributes (``validation_error_``,
    ``validation_interval_``, ...; the number of rows only in ``validation_report_``'s text)
    are read too.
    """
    if not state:
        return None
    if "validation_error_" in state:
        if state["validation_error_"] is None:
            return None
        n_rows = re.search(r"on (\d+) held-out rows", state["validation_report_"] or "")
        state = {"error": state["validation_error_"], "interval": state["validation_interval_"],
                 "reference": state["validation_reference_"],
                 "noise": state["validation_noise_"],
                 "n_rows": int(n_rows.group(1)) if n_rows else None,
                 "seconds": state["validation_time_"]}
    return ErrorReport(**dict(state, interval=tuple(state["interval"])))


def agreement_score(est, Xt):
    """Minus the mean squared difference between a fitted amortized explainer's values on
    model rows ``Xt`` (a tensor on the game's device) and SimSHAP's unbiased per-row
    targets, drawn with a fixed seed from its game (see ``AmortizedShapley.score``)."""
    gen = torch.Generator(device=Xt.device).manual_seed(12345)
    design = kernel_design(est._n_players, 4 * est.n_coalitions_)
    total_err, count = 0.0, 0
    for start in range(0, len(Xt), est.train_batch_size):
        chunk = Xt[start : start + est.train_batch_size]
        stats = draw_stats(est.game_, est._null, design, chunk, gen)
        target = stats.simshap_targets()
        phi = est._predict(chunk, stats.total)
        total_err += float(((phi - target) ** 2).sum())
        count += target.numel()
    return -total_err / count
