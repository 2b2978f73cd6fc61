"""How an amortized explainer's ``fit`` keeps to its time budget (``max_time="auto"``).

A default ``fit`` (SimSHAP, FastSHAP) ends within :data:`AUTO_FIT_SECONDS` whatever the model
and the number of rows: the game's cost is measured on a few rows first (:func:`coalition_cost`),
which says what the validation will cost (its rows are cut to fit
:data:`VALIDATION_SECONDS`) and how many background rows a training target can average
(``background_samples="auto"``); training gets what is left of the budget after the work
before it and the validation's expected cost.
"""

import math
import time

import torch

from sklxai.explainers._validation import KERNEL_COALITIONS, resolve_reference, tree_reference_ok

#: max_time="auto": seconds for a whole fit (preparation, training and validation); the budget
#: is checked between training batches and the chunks of an epoch's draws, and the epoch's
#: validation pass and the end of training come on top (15 s on a generic Pipeline of the
#: default benchmark), so that a default fit ends within 150 s
AUTO_FIT_SECONDS = 120.0
#: the validation's rows are cut so that its expected cost stays below this (at least 1 row)
VALIDATION_SECONDS = 25.0
#: background_samples="auto": an epoch's new draws take at most this share of the budget
DRAW_SHARE = 0.25
#: rows and coalitions of the measurement of the game's cost
_PROBE_ROWS, _PROBE_COALITIONS = 8, 256


def coalition_cost(game, X, n_players):
    """Seconds per coalition value of one row (the whole background), measured on the game.

    The game is called twice, on one row and ``_PROBE_COALITIONS // 8`` coalitions, then on
    ``_PROBE_ROWS`` rows of ``X`` (model space) and ``_PROBE_COALITIONS`` coalitions (random
    ones from their own generator: the explainer's draws are not touched); the cost is the
    difference of the two times per additional value, so that a call's fixed overhead (a
    Pipeline's, a DataFrame's) does not count as the large calls of training and validation
    make it negligible. It is kept between 1/20 of the large call's average cost and that
    average (a noisy machine can make the difference meaningless).
    """
    gen = torch.Generator().manual_seed(0)
    masks = (torch.rand(_PROBE_COALITIONS, n_players, generator=gen) < 0.5).to(game.device)
    Xt = game.as_tensor(X[:_PROBE_ROWS])
    small, large = _PROBE_COALITIONS // 8, len(Xt) * len(masks)
    times = []
    for rows, coalitions in ((Xt[:1], masks[:small]), (Xt, masks)):
        start = time.perf_counter()
        game.values(rows, coalitions)
        times.append(time.perf_counter() - start)
    average = times[1] / large
    marginal = (times[1] - times[0]) / max(large - small, 1)
    return min(max(marginal, average / 20), average)


def plan_fit(est, X, train, valid, start):
    """The budget of an amortized explainer's training and validation.

    Parameters
    ----------
    est : AmortizedShapley
        Fitted up to its game and ``targets_``.
    X : ndarray of shape (n, n_features)
        The training rows in model space (fit's rows, then any hybrids).
    train, valid : int arrays or None
        The training and validation indices into X (None: the trainer's own split).
    start : float
        ``time.perf_counter()`` when ``fit`` began.

    Returns
    -------
    max_time : float or None
        Training seconds (``max_time`` with "auto" resolved).
    background_samples : int or None
        Background rows per coalition in training targets ("auto" resolved).
    validation_rows : int
        Held-out rows the validation measures the error on.
    """
    n_valid = len(valid) if valid is not None else math.ceil(len(X) * est.validation_fraction)
    n_train = len(train) if train is not None else len(X) - n_valid
    d, m = est._n_players, est.n_coalitions_
    reference = (None if est.validation_reference is None else
                 resolve_reference(est.validation_reference, d, tree_reference_ok(est)))
    sampled = est.targets_ == "sampled"
    costly = reference in ("exact", "kernel") or (sampled and est.background_samples == "auto")
    cost = coalition_cost(est.game_, X, d) if costly else 0.0
    rows = min(est.validation_rows, max(n_valid, 1))
    validation = 0.0
    if reference in ("exact", "kernel"):
        per_row = cost * (2**d if reference == "exact" else 2 * KERNEL_COALITIONS)
        rows = max(1, min(rows, int(VALIDATION_SECONDS / max(per_row, 1e-12))))
        validation = rows * per_row
    max_time = est.max_time
    if max_time == "auto":
        max_time = max(AUTO_FIT_SECONDS - (time.perf_counter() - start) - validation, 0.0)
    samples = est.background_samples
    if samples == "auto":
        samples = None
        size = len(est._background_model)
        # the first epoch's draws, whole background (validation: validation_coalitions_ each)
        epoch = (n_train * m + n_valid * est.validation_coalitions_) * cost
        if (max_time is not None and sampled and est.game_.supports_sampled_values
                and epoch > DRAW_SHARE * max_time):
            fewer = max(1, int(size * DRAW_SHARE * max_time / epoch))
            samples = fewer if fewer < size else None
    return max_time, samples, rows
