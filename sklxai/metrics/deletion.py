"""Deletion and insertion curves and their areas (Petsiuk et al. 2018, RISE).

Deletion removes the most important features first (replacing them by a baseline) and follows the
model's score for the explained output: a faithful attribution makes it drop fast, so a *lower*
deletion AUC is better. Insertion starts from the baseline and puts the most important features
back first: a *higher* insertion AUC is better.
"""

import numpy as np
import torch

from sklxai.metrics._common import (
    attribution_players,
    order_ranks,
    player_setup,
    prepare,
    resolve_targets,
    target_outputs,
)
from sklxai.utils.validation import check_positive_int

_MODES = ("deletion", "insertion")

#: The start of every example here: a linear model with unit weights (f(x) = x1 + x2 + x3).
_EXAMPLES = """Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai.metrics import {name}
    >>> model = torch.nn.Linear(3, 1, bias=False)
    >>> _ = torch.nn.init.ones_(model.weight)
    >>> X = np.array([[1.0, 2.0, 3.0]])"""


def _with_examples(func):
    """Fill the ``{examples}`` of a docstring with :data:`_EXAMPLES` for this function."""
    if func.__doc__:  # None under python -OO
        examples = _EXAMPLES.replace("{name}", func.__name__)
        func.__doc__ = func.__doc__.replace("{examples}", examples)
    return func


@_with_examples
def deletion_curve(model, X, attributions, *, target=None, baseline=0.0, n_steps=None,
                   step_size=None, image_shape=None, patch_size=None, device="auto",
                   batch_size=None):
    """Model score as the most important features are removed, one step at a time.

    At step j the ``c_j`` features with the largest attributions of each row (ties: the lower
    feature index first) are replaced by ``baseline``; the curve is the model's output for the
    row's target at each step, from the intact row (fraction 0) to the baseline (fraction 1).

    Parameters
    ----------
    model : skorch net, torch.nn.Module, scikit-learn estimator or ModelAdapter
        A fitted model; classifiers are scored on their probabilities.
    X : array-like of shape (n, d), or images
        Rows in the model's input space. Images as the model takes them: an array or tensor of
        shape (n, C, H, W) or (n, H, W) (the image shape is then read from X), or flattened in
        (C, H, W) order with ``image_shape`` (for a model that starts with an ``Unflatten``).
    attributions : Explanation or array-like
        Attributions of these rows: shape (n, d); (n, d, k) for several outputs (the slice of
        each row's scored output is used: ``target``'s, or the predicted one); for images also
        (n, C, H, W) (or (n, C, H, W, k), as explainers return them for image input), or a
        spatial map (n, H, W).
    target : None, int, label or array of int (n,)
        The output scored. None: each row's predicted output at the intact row.
    baseline : float or array-like of shape (d,) or (n, d), default=0.0
        Value that removed features take; for images also one image or one per row.
    n_steps : int, optional
        Number of steps (the curve has ``n_steps + 1`` points, at evenly spread numbers of
        features); coarsens the curve for wide inputs, e.g. 64 for large images.
    step_size : int or float, optional
        Features removed per step (an int), or a fraction of them in (0, 1). Default: one
        feature (one pixel or patch for images) per step. Not together with ``n_steps``.
    image_shape : tuple (C, H, W) or (H, W), optional
        For images: a pixel location is removed with all its channels, and its attribution is
        the sum over channels. Needed for flattened images only; read from image input (and
        checked against it when given).
    patch_size : int, optional
        With ``image_shape``: remove square patches instead of pixels, ranked by the sum of
        their attributions.
    device : "auto", str or torch.device, default="auto"
        Where torch models run.
    batch_size : int, optional
        Model rows per call. Default: the adapter's, capped so that one call's float64 inputs
        fit the memory budget (scikit-learn's ``working_memory`` on the CPU;
        :mod:`sklxai.utils.memory`).

    Returns
    -------
    fractions : ndarray of shape (n_points,)
        Fraction of the features (pixels, patches) removed at each point, from 0 to 1.
    scores : ndarray of shape (n, n_points)
        The model's score for each row's target at each point.

    See Also
    --------
    deletion_auc, insertion_curve

    {examples}
    >>> fractions, scores = deletion_curve(model, X, X, device="cpu")
    >>> fractions.round(2).tolist(), scores.round(2).tolist()
    ([0.0, 0.33, 0.67, 1.0], [[6.0, 3.0, 1.0, 0.0]])
    """
    return _curve("deletion", model, X, attributions, target=target, baseline=baseline,
                  n_steps=n_steps, step_size=step_size, image_shape=image_shape,
                  patch_size=patch_size, device=device, batch_size=batch_size)


@_with_examples
def insertion_curve(model, X, attributions, *, target=None, baseline=0.0, n_steps=None,
                    step_size=None, image_shape=None, patch_size=None, device="auto",
                    batch_size=None):
    """Model score as the most important features are put back onto the baseline.

    Starts from ``baseline`` (fraction 0) and inserts the row's features in decreasing order of
    attribution until the row is intact (fraction 1). Parameters and returns are those of
    :func:`deletion_curve`.

    Parameters
    ----------
    model, X, attributions, target, baseline, n_steps, step_size, image_shape, patch_size, \
device, batch_size
        As in :func:`deletion_curve`.

    Returns
    -------
    fractions : ndarray of shape (n_points,)
        Fraction of the features inserted at each point, from 0 to 1.
    scores : ndarray of shape (n, n_points)

    {examples}
    >>> insertion_curve(model, X, X, device="cpu")[1].round(2).tolist()
    [[0.0, 3.0, 5.0, 6.0]]
    """
    return _curve("insertion", model, X, attributions, target=target, baseline=baseline,
                  n_steps=n_steps, step_size=step_size, image_shape=image_shape,
                  patch_size=patch_size, device=device, batch_size=batch_size)


@_with_examples
def deletion_auc(model, X, attributions, **kwargs):
    """Area under the deletion curve of each row (lower is better).

    The trapezoid rule over the fraction of features removed, in [0, 1]; so the area is in the
    units of the model's score (for probabilities, in [0, 1]).

    Parameters
    ----------
    model, X, attributions
        As in :func:`deletion_curve`.
    **kwargs
        ``target``, ``baseline``, ``n_steps``, ``step_size``, ``image_shape``, ``patch_size``,
        ``device``, ``batch_size``: as in :func:`deletion_curve`.

    Returns
    -------
    auc : ndarray of shape (n,)
        One area per row; report ``auc.mean()`` for a data set.

    {examples}
    >>> deletion_auc(model, X, X, device="cpu").round(3).tolist()   # best order
    [2.333]
    >>> deletion_auc(model, X, -X, device="cpu").round(3).tolist()  # worst order
    [3.667]
    """
    return _auc(*deletion_curve(model, X, attributions, **kwargs))


@_with_examples
def insertion_auc(model, X, attributions, **kwargs):
    """Area under the insertion curve of each row (higher is better).

    Parameters
    ----------
    model, X, attributions
        As in :func:`deletion_curve`.
    **kwargs
        As in :func:`deletion_curve`.

    Returns
    -------
    auc : ndarray of shape (n,)
        One area per row (trapezoid rule over the fraction inserted, in [0, 1]).

    {examples}
    >>> insertion_auc(model, X, X, device="cpu").round(3).tolist()
    [3.667]
    """
    return _auc(*insertion_curve(model, X, attributions, **kwargs))


# ------------------------------------------------------------------------------ internals


def _auc(fractions, scores):
    """Trapezoid rule along the last axis (np.trapezoid is numpy >= 2 only)."""
    widths = np.diff(fractions)
    return ((scores[:, 1:] + scores[:, :-1]) * 0.5 * widths).sum(axis=1)


def step_counts(n_players, n_steps=None, step_size=None):
    """Numbers of players removed (inserted) at each point of a curve: 0, ..., n_players."""
    if n_steps is not None and step_size is not None:
        raise ValueError("give n_steps or step_size, not both.")
    if n_steps is not None:
        n_steps = check_positive_int(n_steps, "n_steps")
        counts = np.rint(np.linspace(0, n_players, n_steps + 1)).astype(np.int64)
        return np.unique(counts)  # more steps than features: one feature per step
    if step_size is None:
        step = 1
    elif isinstance(step_size, (float, np.floating)):
        if not 0 < step_size < 1:
            raise ValueError(
                f"step_size={step_size} as a fraction must be in (0, 1); give an int for a "
                "number of features per step."
            )
        step = max(1, int(np.rint(step_size * n_players)))
    else:
        step = check_positive_int(step_size, "step_size")
    counts = np.arange(0, n_players + step, step)
    counts[-1] = min(counts[-1], n_players)
    return np.unique(np.append(counts, n_players))


def _curve(mode, model, X, attributions, *, target, baseline, n_steps, step_size,
           image_shape, patch_size, device, batch_size):
    adapter, X, batch_size, input_shape = prepare(model, X, device=device,
                                                  batch_size=batch_size)
    n, d = X.shape
    shape, owner, n_players, B = player_setup(n, d, baseline, image_shape, patch_size,
                                              input_shape)
    counts = step_counts(n_players, n_steps, step_size)
    targets = resolve_targets(adapter, target, adapter.predict(X, batch_size))
    ranks = order_ranks(attribution_players(attributions, targets, target is not None, shape,
                                            owner, n_players))
    scores = curve_scores(mode, adapter, X, B, targets, ranks, owner, counts, batch_size)
    return counts / n_players, scores


def curve_scores(mode, adapter, X, B, targets, ranks, owner, counts, batch_size):
    """Scores (n, len(counts)) of the deletion or insertion curve, batched on the device.

    Every (row, step) pair is one model input: the mask of step j is ``rank < counts[j]``, built
    on the device from the per-column ranks, so no Python loop runs over the steps.
    """
    if mode not in _MODES:
        raise ValueError(f"metric={mode!r}; use one of {list(_MODES)}.")
    n, d = X.shape
    m = len(counts)
    dev = adapter.device
    out = np.empty((n, m))
    owner_t = torch.as_tensor(owner, device=dev)
    counts_t = torch.as_tensor(counts, device=dev)
    rows_per_block = max(1, batch_size // m)
    for r0 in range(0, n, rows_per_block):
        rows = slice(r0, r0 + rows_per_block)
        x = adapter.to_input(X[rows])[:, None, :]
        b = adapter.to_input(B[rows])[:, None, :]
        col_rank = torch.as_tensor(ranks[rows], device=dev)[:, owner_t][:, None, :]
        r = x.shape[0]
        steps_per_call = max(1, batch_size // r)  # < m only when one row's steps overflow
        for s0 in range(0, m, steps_per_call):
            top = col_rank < counts_t[s0:s0 + steps_per_call][None, :, None]  # (r, s, d)
            z = torch.where(top, b, x) if mode == "deletion" else torch.where(top, x, b)
            s = z.shape[1]
            y = adapter(z.reshape(r * s, d))
            t = np.repeat(targets[rows], s)
            out[rows, s0:s0 + s] = target_outputs(y, t).reshape(r, s)
    return out
