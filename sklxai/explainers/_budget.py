"""How an amortized explainer's ``fit`` keeps to its time budget (``max_time="auto"``).

A default ``fit`` (SimSHAP, FastSHAP) ends within :data:`AUTO_FIT_SECONDS` whatever the model
and the number of rows: the game's cost is measured on a few rows first (:func:`coalition_cost`),
which says what the validation will cost (its rows are cut to fit
:data:`VALIDATION_SECONDS`) and how many background rows a training target can average
(``background_samples="auto"``); training gets what is left of the budget after the work
before it and the validation's expected cost.

Where the first epoch's draws with the whole background would take more than
:data:`DRAW_SHARE` of the training budget (a slow game: a generic Pipeline runs on every
coalition), the background rows a target averages are cut to what that share affords by this
measurement, as long as a second one, made with the training's own call shape, agrees
(:func:`draw_cost`: a draw is a ``sampled_values`` call and a ``full`` call, whose fixed cost,
a Pipeline's per call, is paid once per training batch of the first epoch and once per
validation draw). Where it does not, the draws are planned from the second measurement: the
hybrid rows that complete a small fit set are halved (fewer training batches, more coalitions
each, the same coalitions per epoch: see ``augment`` and ``n_coalitions``), down to
:data:`~sklxai.explainers._amortized.AUTO_SMALL_FIT_ROWS`, while the first epoch's draws with
one background row per coalition exceed that share; then each target averages as many
background rows as the share affords (at least 1).
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
#: model rows of the larger draw that :func:`draw_cost` times (a training batch of 256 rows x
#: 4 coalitions x 4 background rows), and the background rows per coalition it uses
_PROBE_DRAW_MODEL_ROWS, _PROBE_SAMPLES = 4096, 4


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


def draw_cost(game, X, n_players, n_coalitions, samples):
    """Seconds of a training draw: its fixed cost and its cost per model row.

    A training draw (:func:`~sklxai.explainers._trainer.draw_stats` with background rows
    sampled) is a ``game.sampled_values`` call on rows x coalitions x background rows and a
    ``game.full`` call on the rows. Two such draws are timed on the rows of ``X`` (model space;
    random coalitions from their own generator: the explainer's draws are not touched): one of
    1 row, 1 background row, and one of ``_PROBE_DRAW_MODEL_ROWS`` model rows
    (``n_coalitions`` coalitions of the ``n_players`` players, feature groups where the game
    has them, and ``samples`` background rows a row: a training batch's shape). The fixed
    cost (a Pipeline's per call: converting the rows, the preprocessing's overhead) is the
    small draw's time, the cost per model row the difference per additional row, kept at least
    1/20 of the large draw's average.

    Returns
    -------
    per_draw : float
        Seconds of a draw however small.
    per_model_row : float
        Seconds per additional model row (row x coalition x background row).
    """
    gen = torch.Generator(device=game.device).manual_seed(0)
    rows = max(1, min(len(X), _PROBE_DRAW_MODEL_ROWS // (n_coalitions * samples)))
    Xt = game.as_tensor(X[:rows])
    masks = torch.rand(rows, n_coalitions, n_players, generator=gen, device=game.device) < 0.5
    times = []
    for n, k in ((1, 1), (rows, samples)):
        begin = time.perf_counter()
        with torch.no_grad():
            game.sampled_values(Xt[:n], masks[:n], k, generator=gen)
            game.full(Xt[:n])
        times.append(time.perf_counter() - begin)
    large = rows * n_coalitions * samples
    per_row = max(times[1] - times[0], times[1] / 20) / large
    return times[0], per_row


def _first_epoch(est, n_train, n_valid, coalitions, cost):
    """Draws and model rows per background row of the first epoch: training rows are drawn
    for batch by batch, each validation batch ``validation_coalitions // (2 m)`` times."""
    m, validation = coalitions
    batches = math.ceil(n_train / est.train_batch_size)
    valid_batches = math.ceil(n_valid / est.train_batch_size) if n_valid else 0
    draws = batches + valid_batches * max(1, validation // (2 * m))
    return draws * cost[0], (n_train * m + n_valid * validation) * cost[1]


def _plan_draws(est, X, n_train, n_valid, seconds, coalitions, floor, samples):
    """(training rows, background rows per coalition) whose first epoch's draws fit
    ``seconds`` on a slow game: ``samples`` (the rows per coalition that the game values' cost
    affords) with every training row where the draws' own cost affords them too; else the
    training rows are halved (not below ``floor``) while the draws with 1 background row
    exceed it, then the background rows are as many as fit (at least 1; None: the whole
    background)."""
    size = len(est._background_model)
    cost = draw_cost(est.game_, X, est._n_players, coalitions(n_train)[0],
                     min(size, _PROBE_SAMPLES))
    fixed, per_sample = _first_epoch(est, n_train, n_valid, coalitions(n_train), cost)
    if fixed + samples * per_sample <= seconds:
        return n_train, samples
    while n_train // 2 >= floor and sum(_first_epoch(est, n_train, n_valid,
                                                     coalitions(n_train), cost)) > seconds:
        n_train //= 2
    fixed, per_sample = _first_epoch(est, n_train, n_valid, coalitions(n_train), cost)
    fewer = max(1, int((seconds - fixed) / max(per_sample, 1e-12)))
    return n_train, (fewer if fewer < size else None)


def plan_fit(est, X, train, valid, start, coalitions=None, floor=None):
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
    coalitions : callable or None
        ``coalitions(n_train) -> (n_coalitions, validation_coalitions)`` as "auto" resolves
        them for that many training rows; None: the training rows are kept.
    floor : int or None
        The fewest training rows a slow game's plan keeps (the hybrid rows that complete a
        small fit set are the last rows of ``train``; None or ``len(train)``: all are kept).

    Returns
    -------
    max_time : float or None
        Training seconds (``max_time`` with "auto" resolved).
    background_samples : int or None
        Background rows per coalition in training targets ("auto" resolved).
    validation_rows : int
        Held-out rows the validation measures the error on.
    n_train : int
        The training rows to keep: the first ``n_train`` of ``train`` (all but where a slow
        game's first epoch cannot afford them, see the module's description).
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
        # the first epoch's draws, whole background (validation: validation_coalitions_ each)
        epoch = (n_train * m + n_valid * est.validation_coalitions_) * cost
        if (max_time is not None and sampled and est.game_.supports_sampled_values
                and epoch > DRAW_SHARE * max_time):
            # a slow game: the draws planned with their own cost (see the module)
            coalitions = coalitions or (lambda n: (m, est.validation_coalitions_))
            floor = n_train if floor is None else min(floor, n_train)
            fewer = max(1, int(len(est._background_model) * DRAW_SHARE * max_time / epoch))
            probe = time.perf_counter()
            n_train, samples = _plan_draws(est, X, n_train, n_valid, DRAW_SHARE * max_time,
                                           coalitions, floor, fewer)
            if est.max_time == "auto":  # the measurement's own seconds
                max_time = max(max_time - (time.perf_counter() - probe), 0.0)
    return max_time, samples, rows, n_train
