"""The exact training targets of the amortized explainers (``targets`` "tree" and "exact").

"tree": :class:`~sklxai.TreeShapley`'s values, where the model's trees sum to the explained
outputs. "exact": every coalition's value from a tree game (:class:`~sklxai.games.TreeGame`,
any transform of the trees' sum, a boosted classifier's ``predict_proba`` included), combined
into exact Shapley values. They cost a few milliseconds a row, so under a time budget they are
computed for as many of fit's rows as :data:`EXACT_TARGET_SHARE` of it affords (measured on the
first rows), a random subset of fit's rows when that is fewer; "auto" prefers sampled targets
when fewer than :data:`MIN_EXACT_ROWS` rows are affordable.
"""

import time

import numpy as np

from sklxai.explainers._budget import AUTO_FIT_SECONDS
from sklxai.explainers._validation import (
    EXACT_TARGET_PLAYERS,
    exact_targets_ok,
    game_exact_values,
    tree_reference_ok,
)

#: the share of the time budget exact game targets may take
EXACT_TARGET_SHARE = 0.3
#: "auto" takes exact game targets only when at least this many rows are affordable
MIN_EXACT_ROWS = 1024
#: the rows the exact targets' cost is measured on
_PROBE_ROWS = 16


def resolve_targets(est, X):
    """``est.targets`` with "auto" resolved, and the rows exact game targets can afford.

    "tree" where TreeShapley gives the outputs, else "exact" where the game gives every
    coalition's value from the trees (and, for "auto", at least :data:`MIN_EXACT_ROWS` rows are
    affordable), else "sampled"; "tree" and "exact" are refused where they cannot be.

    Parameters
    ----------
    est : AmortizedShapley
        Fitted up to its game.
    X : ndarray of shape (n, n_features)
        fit's validated rows.

    Returns
    -------
    targets : {"sampled", "tree", "exact"}
    exact_rows : int or None
        With "exact" under a time budget: how many rows' exact targets fit
        :data:`EXACT_TARGET_SHARE` of it; None otherwise.
    """
    tree_ok, exact_ok = tree_reference_ok(est), exact_targets_ok(est)
    if est.targets == "tree" and not tree_ok:
        raise ValueError(
            "targets='tree' needs a tree model whose trees sum to the explained outputs "
            "(a regressor or a forest; not a boosted classifier's predict_proba) and the "
            "marginal or baseline game; use targets='exact' for a boosted classifier, or "
            "'sampled' (or 'auto')."
        )
    if est.targets == "exact" and not exact_ok:
        raise ValueError(
            f"targets='exact' needs a game that computes every coalition's value from a "
            f"tree model's trees (shallow trees, the marginal or baseline game) and at most "
            f"{EXACT_TARGET_PLAYERS} players; this explainer has {est._n_players} players "
            "and its game calls the model. Use targets='sampled' (or 'auto')."
        )
    if est.targets in ("sampled", "tree") or (est.targets == "auto" and tree_ok):
        return ("tree" if est.targets == "auto" else est.targets), None
    if not exact_ok:
        return "sampled", None
    rows = affordable_rows(est, X)
    if est.targets == "auto" and rows is not None and rows < min(MIN_EXACT_ROWS, len(X)):
        return "sampled", None
    return "exact", rows


def affordable_rows(est, X):
    """Rows whose exact game targets take at most :data:`EXACT_TARGET_SHARE` of the time budget
    (``max_time``, or the whole fit's under "auto"), measured on the first rows of X; None
    without a budget."""
    budget = AUTO_FIT_SECONDS if est.max_time == "auto" else est.max_time
    if budget is None:
        return None
    probe = est._model_rows(X[:_PROBE_ROWS])
    start = time.perf_counter()
    game_exact_values(est.game_, est._null, probe, est._n_players)
    per_row = (time.perf_counter() - start) / len(probe)
    return max(2, int(EXACT_TARGET_SHARE * budget / max(per_row, 1e-9)))


def exact_subset(X, rows, seed):
    """fit's rows, or a random subset (in order) of ``rows`` of them when fewer are affordable."""
    if rows is None or rows >= len(X):
        return X
    keep = np.sort(np.random.default_rng([seed, 11]).choice(len(X), size=rows, replace=False))
    return X[keep]


def exact_targets(est, rows, X, tree):
    """Exact values (n, d, k) of the training rows (``rows`` validated, ``X`` in model space)
    for ``est.targets_`` "tree" or "exact"; None for "sampled"."""
    if est.targets_ == "sampled":
        return None
    shape = (len(rows), est._n_players, est.n_outputs_)
    if est.targets_ == "tree":
        return np.asarray(tree.values(rows), dtype=np.float64).reshape(shape)
    return game_exact_values(est.game_, est._null, X, est._n_players).reshape(shape)
