"""The spurious-marker digits benchmark: sklearn's 8x8 digits with a shortcut and noisy masks.

In the training split a 2x2 marker in the top-left corner spells the label (4 bits, the code
``label + 1``), so a model can classify from the corner alone; in the test split the marker
spells a random label, so only a model that reads the digit generalizes. Optional label noise
on the training split makes the marker more predictive than the digit. The annotation masks
are the digit strokes, optionally corrupted (dilated, eroded, half missing) to mimic inaccurate
human annotation. Nothing is downloaded: the digits ship with scikit-learn.
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, check_random_state

__all__ = ["CORRUPTIONS", "corrupt_masks", "make_spurious_digits", "stroke_masks"]

#: The mask corruptions :func:`corrupt_masks` draws from.
CORRUPTIONS = ("dilate", "erode", "drop_half")

_MARKER = (slice(0, 2), slice(0, 2))  # rows, columns of the corner marker
_MARKER_BITS = ((0, 0), (0, 1), (1, 0), (1, 1))


def stroke_masks(images, threshold=0.25):
    """Binary masks of the digit strokes: pixels brighter than ``threshold``.

    Parameters
    ----------
    images : ndarray of shape (n, H, W)
        Images scaled to [0, 1].
    threshold : float, default=0.25
        Brightness above which a pixel is stroke.

    Returns
    -------
    ndarray of shape (n, H, W), float32
        1 on strokes, 0 elsewhere.

    Examples
    --------
    >>> stroke_masks(np.array([[[0.0, 0.9]]]))
    array([[[0., 1.]]], dtype=float32)
    """
    return (np.asarray(images) > threshold).astype(np.float32)


def _shifts(masks, fill):
    """The 3x3 neighbourhood of every pixel, as an array (9, n, H, W); outside = fill."""
    n, h, w = masks.shape
    padded = np.full((n, h + 2, w + 2), fill, dtype=masks.dtype)
    padded[:, 1:-1, 1:-1] = masks
    return np.stack(
        [padded[:, 1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w] for dr in (-1, 0, 1) for dc in (-1, 0, 1)]
    )


def corrupt_masks(masks, noise, *, random_state=None):
    """Corrupt a fraction of binary masks, each by one corruption drawn from :data:`CORRUPTIONS`.

    - ``"dilate"``: grow by one pixel (3x3 square): the mask spills onto the background, and
      near the corner onto the marker;
    - ``"erode"``: shrink by one pixel (a pixel stays only if its 4 neighbours are mask):
      thin strokes mostly vanish;
    - ``"drop_half"``: the top, bottom, left or right half of the mask is lost.

    Parameters
    ----------
    masks : ndarray of shape (n, H, W)
        Binary masks (0/1).
    noise : float in [0, 1]
        Fraction of masks corrupted (each mask independently with this probability).
    random_state : int, RandomState or None, default=None
        Seeds which masks are corrupted and how.

    Returns
    -------
    ndarray of shape (n, H, W), float32
        The corrupted masks (a copy).

    Examples
    --------
    >>> m = np.zeros((1, 5, 5)); m[0, 2, 2] = 1
    >>> int(corrupt_masks(m, 1.0, random_state=0).sum()) in (0, 9)
    True
    """
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be a fraction in [0, 1]; got {noise!r}.")
    rng = check_random_state(random_state)
    masks = np.asarray(masks, dtype=np.float32)
    out = masks.copy()
    n, h, w = masks.shape
    hit = rng.random_sample(n) < noise
    kind = rng.randint(len(CORRUPTIONS), size=n)
    side = rng.randint(4, size=n)
    dilated = _shifts(masks, 0.0).max(axis=0)
    cross = _shifts(masks, 0.0)[[1, 3, 4, 5, 7]]
    eroded = cross.min(axis=0)
    halves = np.ones((4, h, w), dtype=np.float32)
    halves[0, : h // 2] = 0  # top half lost
    halves[1, h // 2 :] = 0  # bottom half lost
    halves[2, :, : w // 2] = 0  # left half lost
    halves[3, :, w // 2 :] = 0  # right half lost
    for i in np.flatnonzero(hit):
        name = CORRUPTIONS[kind[i]]
        if name == "dilate":
            out[i] = dilated[i]
        elif name == "erode":
            out[i] = eroded[i]
        else:
            out[i] = masks[i] * halves[side[i]]
    return out


def _add_marker(images, codes):
    """Write the 4-bit code of each row into the top-left 2x2 corner (1 = bit set)."""
    marked = images.copy()
    for bit, (r, c) in enumerate(_MARKER_BITS):
        marked[:, r, c] = (codes >> bit) & 1
    return marked


def make_spurious_digits(
    *, test_size=0.5, noise=0.0, annotated=1.0, label_noise=0.0, random_state=None
):
    """Digits with a label-revealing corner marker in training only, and noisy stroke masks.

    Parameters
    ----------
    test_size : float, default=0.5
        Fraction of the 1797 digits held out (stratified).
    noise : float in [0, 1], default=0.0
        Fraction of training masks corrupted by :func:`corrupt_masks`.
    annotated : float in (0, 1], default=1.0
        Fraction of training rows that have a mask; the others get an all-NaN mask.
    label_noise : float in [0, 1), default=0.0
        Fraction of training labels replaced by a random other class before the marker is
        written, so the marker spells the noisy label: it then predicts the training label
        better than the digit does, and plain training learns the shortcut (the
        Colored-MNIST recipe). Test labels stay clean.
    random_state : int, RandomState or None, default=None
        Seeds the split, the test markers, the corruption and the annotated rows.

    Returns
    -------
    Bunch
        ``X_train``, ``X_test``: float32 images (n, 1, 8, 8) in [0, 1], with the marker;
        ``y_train``, ``y_test``: int64 labels; ``masks_train``: float32 (n, 8, 8) noisy masks
        (NaN rows: not annotated); ``true_masks_train``, ``true_masks_test``: the clean
        stroke masks (0 on the marker); ``marker_test``: the label the test marker spells.

    Examples
    --------
    >>> data = make_spurious_digits(noise=0.5, random_state=0)
    >>> data.X_train.shape[1:], data.masks_train.shape[1:]
    ((1, 8, 8), (8, 8))
    """
    rng = check_random_state(random_state)
    images, labels = load_digits(return_X_y=True)
    images = (images.reshape(-1, 8, 8) / 16.0).astype(np.float32)
    labels = labels.astype(np.int64)
    im_tr, im_te, y_tr, y_te = train_test_split(
        images, labels, test_size=test_size, stratify=labels,
        random_state=rng.randint(2**31 - 1),
    )
    true_tr, true_te = stroke_masks(im_tr), stroke_masks(im_te)
    for true in (true_tr, true_te):
        true[:, _MARKER[0], _MARKER[1]] = 0.0
    flipped = rng.random_sample(len(y_tr)) < label_noise
    y_tr = np.where(flipped, (y_tr + rng.randint(1, 10, size=len(y_tr))) % 10, y_tr)
    marker_te = rng.randint(10, size=len(y_te)).astype(np.int64)
    X_tr = _add_marker(im_tr, y_tr + 1)[:, None]
    X_te = _add_marker(im_te, marker_te + 1)[:, None]
    masks = corrupt_masks(true_tr, noise, random_state=rng)
    if annotated < 1.0:
        masks[rng.random_sample(len(masks)) >= annotated] = np.nan
    return Bunch(
        X_train=X_tr, X_test=X_te, y_train=y_tr, y_test=y_te, masks_train=masks,
        true_masks_train=true_tr, true_masks_test=true_te, marker_test=marker_te,
    )
