"""Private helpers shared by the metrics: input checks, players, targets, batched evaluation.

A *player* is what a metric removes or keeps as one unit: a column for tabular data, a pixel
location (all of its channels) or a square patch for images. Every metric works on players and
turns them back into columns only when it builds model inputs.

Images come as (n, C, H, W) or (n, H, W) arrays or tensors (flattened by
:func:`sklxai.models.prepare_model`, which also lets the model take them back as images), or as
flat rows with ``image_shape=``; either way the metrics work on flat rows.
"""

import numpy as np
import torch

from sklxai.explanation import Explanation
from sklxai.models import prepare_model
from sklxai.utils.memory import chunk_size
from sklxai.utils.validation import check_numeric, check_positive_int, check_target



def prepare(model, X, *, device, batch_size):
    """Adapter, X as float64 (n, d), model rows per call, and one image's shape (or None).

    The model goes through :func:`sklxai.models.prepare_model`, as for explainers (raw
    DataFrame columns are encoded; a Pipeline runs whole, on its generic path; images
    (n, C, H, W) or (n, H, W) are flattened, and the shape of one is returned).
    """
    prepared, X = prepare_model(model, X, fast_path=False, device=device, owner="the metric")
    adapter = prepared.adapter
    batch_size = check_positive_int(batch_size, "batch_size", allow_none=True)
    if batch_size is None:
        # wide inputs (images) get fewer rows per call: their float64 rows within the budget
        batch_size = chunk_size(8 * X.shape[1], adapter.device,
                                maximum=adapter.default_batch_size)
    return adapter, X, batch_size, prepared.input_shape


def baseline_rows(baseline, n, d, input_shape=None):
    """``baseline`` (scalar, (d,) or (n, d); for images also one image ``input_shape`` or
    (n, *input_shape)) as a float64 array broadcast to (n, d)."""
    try:
        arr = (check_numeric(baseline, "baseline") if hasattr(baseline, "detach")
               else np.asarray(baseline, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"baseline must be a number or an array of numbers ({exc}).") from None
    if input_shape is not None and arr.shape == tuple(input_shape):
        arr = arr.reshape(d)
    elif input_shape is not None and arr.shape == (n, *input_shape):
        arr = arr.reshape(n, d)
    if arr.ndim == 0 or arr.shape in ((d,), (1, d)):
        arr = np.broadcast_to(arr, (n, d))
    elif arr.shape != (n, d):
        images = "" if input_shape is None else (
            f", or one image {tuple(input_shape)} or one per row {(n, *input_shape)}")
        raise ValueError(
            f"baseline has shape {arr.shape}; give a scalar, one row of shape ({d},), or one "
            f"row per row of X, shape ({n}, {d}){images}."
        )
    if not np.isfinite(arr).all():
        raise ValueError("baseline contains NaN or infinite values.")
    return arr


def resolve_targets(adapter, target, fx):
    """One output index per row: ``target`` checked, or each row's argmax of ``fx`` when None."""
    n, k = fx.shape
    t = check_target(target, k, n, output_names=adapter.output_names)
    if t is None:
        return np.argmax(fx, axis=1).astype(np.int64)
    if np.ndim(t) == 0:
        return np.full(n, t, dtype=np.int64)
    return t


def check_image_shape(image_shape, d, patch_size=None, input_shape=None):
    """Validate ``image_shape`` (and ``patch_size``); returns (C, H, W) or None.

    ``input_shape`` is one image's shape when X held images: ``image_shape`` then defaults to
    it, and when given must describe the same images.
    """
    if input_shape is not None:
        seen = tuple(input_shape) if len(input_shape) == 3 else (1, *input_shape)
        if image_shape is None:
            image_shape = seen
        else:
            given = check_image_shape(image_shape, d)
            if given != seen:
                raise ValueError(
                    f"image_shape={tuple(image_shape)}, but X holds images of shape "
                    f"{tuple(input_shape)}; leave image_shape=None for images (it is read "
                    "from X)."
                )
    if image_shape is None:
        if patch_size is not None:
            raise ValueError("patch_size needs image_shape=(C, H, W) or (H, W) to place patches.")
        return None
    try:
        shape = tuple(int(s) for s in image_shape)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"image_shape must be a tuple (C, H, W) or (H, W); got {image_shape!r}.") from exc
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"image_shape must be a tuple (C, H, W) or (H, W); got {image_shape!r}.")
    if int(np.prod(shape)) != d:
        raise ValueError(
            f"image_shape={tuple(image_shape)} has {int(np.prod(shape))} entries but rows of X "
            f"have {d} columns; X holds images flattened in (C, H, W) order."
        )
    if patch_size is not None:
        patch_size = check_positive_int(patch_size, "patch_size")
        h, w = shape[1:]
        if h % patch_size or w % patch_size:
            raise ValueError(f"patch_size={patch_size} does not divide the image size {h}x{w}.")
    return shape


def players(d, image_shape=None, patch_size=None):
    """The player of each column: an int array (d,) with values in 0..P-1, and P.

    Tabular data: one player per column. Images: one per pixel location (all channels
    together), or one per patch (row-major order, as :func:`sklxai.games.image_patch_groups`).
    """
    if image_shape is None:
        return np.arange(d), d
    c, h, w = image_shape
    rows, cols = np.divmod(np.arange(h * w), w)
    if patch_size is None:
        spatial = np.arange(h * w)
    else:
        spatial = (rows // patch_size) * (w // patch_size) + cols // patch_size
    n_players = int(spatial.max()) + 1
    return np.tile(spatial, c), n_players


def attribution_matrix(attributions, n, d, targets, *, target_given, image_shape=None,
                       name="attributions"):
    """Attributions as a float64 (n, d) array of columns, or (n, H*W) for spatial-only maps.

    Accepts an :class:`Explanation` (its ``values``) or an array or tensor of shape (n, d),
    (n, d, k) (the slice of each row's entry of ``targets`` is taken: the given target, or
    without one the output the caller resolved, each row's predicted output), and for images
    (n, C, H, W), (n, H, W) or (n, H * W), each with an output axis k last where several
    outputs are explained (as explainers return them for image input).
    """
    values = attributions.values if isinstance(attributions, Explanation) else attributions
    try:
        values = (check_numeric(values, name) if hasattr(values, "detach")
                  else np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold numbers ({exc}).") from None
    if values.ndim < 2 or values.shape[0] != n:
        raise ValueError(
            f"{name} has shape {values.shape}; expected one row of attributions per row of X "
            f"({n} rows), e.g. shape ({n}, {d})."
        )
    shapes = {(d,)}
    if image_shape is not None:
        _c, h, w = image_shape
        shapes |= {tuple(image_shape), (h, w), (h * w,)}
    if values.shape[1:] not in shapes and values.ndim >= 4 and values.shape[1:-1] in shapes:
        values = values.reshape(n, -1, values.shape[-1])  # image values, outputs last
        d_values = values.shape[1]
    else:
        d_values = d
    if values.shape[1:] in shapes:
        out = values.reshape(n, -1)
    elif values.ndim == 3 and values.shape[1] == d_values:
        k = values.shape[2]
        if k == 1:
            out = values[:, :, 0]
        elif targets.max() >= k:
            given = "target indices go" if target_given else "the predicted outputs go"
            raise ValueError(
                f"{given} up to {targets.max()} but {name} has {k} outputs; pass the "
                "attributions of every model output, or target= naming the scored output."
            )
        else:
            out = values[np.arange(n), :, targets]
    else:
        expected = f"({n}, {d}) or ({n}, {d}, k)"
        if image_shape is not None:
            expected += f", ({n}, {', '.join(map(str, image_shape))}) or ({n}, {h}, {w})"
        raise ValueError(f"{name} has shape {values.shape}; expected {expected}.")
    if not np.isfinite(out).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return out


def player_scores(attr, player_of_col, n_players):
    """Sum the attributions of each player's columns: (n, P)."""
    if attr.shape[1] == player_of_col.shape[0]:
        owner = player_of_col
    else:  # a spatial-only map (n, H*W): the first channel's players
        owner = player_of_col[: attr.shape[1]]
    if n_players == len(owner) and np.array_equal(owner, np.arange(n_players)):
        return attr  # one column per player: nothing to pool
    out = np.zeros((attr.shape[0], n_players))
    np.add.at(out, (slice(None), owner), attr)
    return out


def player_setup(n, d, baseline, image_shape, patch_size, input_shape=None):
    """What every perturbation metric checks first: ``(shape, owner, n_players, B)``.

    ``shape`` is the checked image shape (or None; read from ``input_shape``, one image's
    shape when X held images, if ``image_shape`` is None), ``owner`` and ``n_players`` the
    player of each column (see :func:`players`) and ``B`` the baseline as (n, d) rows.
    """
    shape = check_image_shape(image_shape, d, patch_size, input_shape)
    owner, n_players = players(d, shape, patch_size)
    return shape, owner, n_players, baseline_rows(baseline, n, d, input_shape)


def attribution_players(attributions, targets, target_given, shape, owner, n_players, *,
                        name="attributions"):
    """The attributions of the ``len(targets)`` rows summed per player: (n, P).

    :func:`attribution_matrix` (over the ``len(owner)`` columns) then :func:`player_scores`.
    """
    attr = attribution_matrix(attributions, len(targets), len(owner), targets,
                              target_given=target_given, image_shape=shape, name=name)
    return player_scores(attr, owner, n_players)


def order_ranks(scores):
    """Rank of each player, 0 for the largest score; ties go to the lower index first."""
    n, p = scores.shape
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty((n, p), dtype=np.int64)
    ranks[np.arange(n)[:, None], order] = np.arange(p)
    return ranks


def target_outputs(out, targets):
    """Pick column ``targets[i]`` of row i of a (m, k) tensor, as a float64 ndarray (m,)."""
    t = torch.as_tensor(targets, device=out.device)
    return out.gather(1, t[:, None])[:, 0].double().cpu().numpy()


def masked_scores(adapter, X, B, targets, rows, keep_players, player_of_col, batch_size):
    """Target scores of rows ``X[rows]`` with only the players in ``keep_players`` kept.

    Parameters
    ----------
    X, B : ndarrays (n, d)
        Inputs and baselines; removed columns take the baseline's value.
    targets : int ndarray (n,)
    rows : int ndarray (m,)
        Which row of X each evaluation is about.
    keep_players : bool ndarray (m, P)
    player_of_col : int ndarray (d,)
    batch_size : int
        Model rows per call.

    Returns
    -------
    scores : ndarray (m,)
    """
    m = len(rows)
    out = np.empty(m)
    owner = torch.as_tensor(player_of_col, device=adapter.device)
    for s in range(0, m, batch_size):
        r = rows[s:s + batch_size]
        keep = torch.as_tensor(keep_players[s:s + batch_size], device=adapter.device)[:, owner]
        z = torch.where(keep, adapter.to_input(X[r]), adapter.to_input(B[r]))
        out[s:s + batch_size] = target_outputs(adapter(z), targets[r])
    return out
