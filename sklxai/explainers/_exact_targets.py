"""The exact training targets of the amortized explainers (``targets`` "tree" and "exact").

"tree": :class:`~sklxai.TreeShapley`'s values, where the model's trees sum to the explained
outputs. "exact": every coalition's value from a tree game (:class:`~sklxai.games.TreeGame`,
any transform of the trees' sum, a boosted classifier's ``predict_proba`` included), combined
into exact Shapley values; when that would take more than :data:`EXACT_TARGET_SHARE` of the
time budget, each chunk of rows gets the exact values of a random subset of the background
rows instead (unbiased estimates of the whole background's, see
:func:`~sklxai.explainers._validation.game_exact_values`).
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

#: the share of the time budget exact targets may take (fewer background rows beyond it)
EXACT_TARGET_SHARE = 0.3
#: the rows the exact targets' cost is measured on
_PROBE_ROWS = 16


def resolve_targets(est):
    """``est.targets`` with "auto" resolved: "tree" where TreeShapley gives the outputs, else
    "exact" where the game gives every coalition's value from the trees, else "sampled";
    "tree" and "exact" refused where they cannot be."""
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
    if est.targets != "auto":
        return est.targets
    return "tree" if tree_ok else "exact" if exact_ok else "sampled"


def exact_targets(est, rows, X, tree):
    """Exact values (n, d, k) of the training rows (``rows`` validated, ``X`` in model space)
    for ``est.targets_`` "tree" or "exact", and the background rows per chunk of rows used
    (None: the whole background); (None, None) for "sampled"."""
    if est.targets_ == "sampled":
        return None, None
    shape = (len(rows), est._n_players, est.n_outputs_)
    if est.targets_ == "tree":
        return np.asarray(tree.values(rows), dtype=np.float64).reshape(shape), None
    P, probe = est._n_players, min(len(X), _PROBE_ROWS)
    start = time.perf_counter()
    first = game_exact_values(est.game_, est._null, X[:probe], P)
    per_row = (time.perf_counter() - start) / probe
    budget = AUTO_FIT_SECONDS if est.max_time == "auto" else est.max_time
    m = len(est._background_model)
    if budget is None or per_row * len(X) <= EXACT_TARGET_SHARE * budget:
        rest = game_exact_values(est.game_, est._null, X[probe:], P)
        return np.concatenate([first, rest]).reshape(shape), None
    # the tree game's cost grows with its background rows
    size = max(1, int(m * EXACT_TARGET_SHARE * budget / (per_row * len(X))))
    values = game_exact_values(est.game_, est._null, X, P, background_rows=size,
                               generator=np.random.default_rng([est._seed, 1]))
    return values.reshape(shape), size
