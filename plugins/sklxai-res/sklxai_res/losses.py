"""Explanation losses: how far a saliency map is from an annotation mask.

``gradia_loss`` is plain explanation supervision (GRADIA): the L1 distance between the map and the
mask. ``res_loss`` is RES (Gao et al., KDD 2022), robust to inaccurate masks: a smoothed-threshold
term ``|tanh(k (map - a)) - sign|`` with a slack, plus the L1 distance to a Gaussian-smoothed
("imputed") mask, as in the reference code's RES-G variant.

All functions work on batches of maps of shape (n, h, w) whose values lie in [0, 1] (see
:func:`sklxai_res.gradcam.normalize_maps`) and masks of the same shape. Mask convention: 1 (or
>= 0.5) marks a pixel that should be salient, 0 (or < 0.5) one that should not, NaN a pixel
with no annotation; NaN pixels are left out of every term.
"""

import math

import torch
import torch.nn.functional as F

__all__ = ["gaussian_blur_masks", "gradia_loss", "res_loss", "res_threshold"]

# added to negative pixels' values when they serve as threshold candidates, so that a
# candidate ranks its own pixel below the threshold (the reference code's epsilon)
_CANDIDATE_EPS = 1e-4


def _check_pair(saliency, mask):
    if saliency.shape != mask.shape or saliency.ndim != 3:
        raise ValueError(
            f"saliency and mask must both have shape (n, height, width); got "
            f"{tuple(saliency.shape)} and {tuple(mask.shape)}."
        )
    known = torch.isfinite(mask)
    if not bool(known.any()):
        raise ValueError(
            "The mask has no annotated pixel (all NaN); leave such rows out of the "
            "explanation loss."
        )
    return known


def gradia_loss(saliency, mask):
    """GRADIA's explanation loss: mean absolute difference between map and mask.

    ``mean over annotated pixels of |saliency - mask|``, pooled over the batch (as the
    reference code's ``L1Loss`` over the batch).

    Parameters
    ----------
    saliency : torch.Tensor of shape (n, h, w)
        Maps scaled to [0, 1].
    mask : torch.Tensor of shape (n, h, w)
        Annotation in [0, 1]; NaN marks unannotated pixels, which are ignored.

    Returns
    -------
    torch.Tensor
        A scalar, differentiable with respect to ``saliency``.

    Raises
    ------
    ValueError
        On a shape mismatch, or when no pixel is annotated.

    Examples
    --------
    >>> import torch
    >>> gradia_loss(torch.tensor([[[0.0, 1.0]]]), torch.tensor([[[1.0, 1.0]]]))
    tensor(0.5000)
    """
    known = _check_pair(saliency, mask)
    return (saliency - mask.nan_to_num(0.0)).abs()[known].mean()


def res_threshold(saliency, mask):
    """RES's threshold ``a``: the value that puts most annotated pixels on their side.

    Candidates are the annotated pixels' values (negatives raised by 1e-4); the score of a
    candidate ``a`` is the fraction of negative pixels (mask < 0.5) strictly below ``a`` plus
    the fraction of positive pixels (mask >= 0.5) at or above it (a term is dropped when there
    are no pixels of its kind). The first best candidate, negatives first in the mask's
    row-major order, then positives, is returned: the reference code's brute-force solver,
    computed here by sorting instead of an O(pixels^2) loop. One threshold per batch, as there.

    Parameters
    ----------
    saliency : torch.Tensor of shape (n, h, w)
        Maps scaled to [0, 1].
    mask : torch.Tensor of shape (n, h, w)
        Annotation in [0, 1] with NaN for unannotated pixels.

    Returns
    -------
    torch.Tensor
        A scalar without gradient.

    Examples
    --------
    >>> import torch
    >>> res_threshold(torch.tensor([[[0.1, 0.9, 0.5]]]), torch.tensor([[[0.0, 1.0, 1.0]]]))
    tensor(0.1001)
    """
    known = _check_pair(saliency, mask)
    with torch.no_grad():
        values = saliency[known]
        positive = mask[known] >= 0.5
        neg, pos = values[~positive], values[positive]
        candidates = torch.cat([neg + _CANDIDATE_EPS, pos])
        score = torch.zeros_like(candidates)
        if neg.numel():
            below = torch.searchsorted(neg.sort().values.contiguous(), candidates, side="left")
            score = score + below.to(score.dtype) / neg.numel()
        if pos.numel():
            under = torch.searchsorted(pos.sort().values.contiguous(), candidates, side="left")
            score = score + (pos.numel() - under).to(score.dtype) / pos.numel()
        return candidates[torch.argmax(score)]


def gaussian_blur_masks(mask, sigma):
    """RES-G's imputation: blur the positive part of each mask and rescale it to max 1.

    NaN pixels count as 0 in the blur. The kernel is a Gaussian of standard deviation ``sigma``
    pixels truncated at ``max(1, floor(2 sigma))`` pixels, with reflected borders: for the
    default 0.8 a 3x3 kernel, as the reference's ``cv2.GaussianBlur(m, (3, 3), 0)``. Each
    blurred map is divided by its maximum (+1e-6).

    Parameters
    ----------
    mask : torch.Tensor of shape (n, h, w)
        Annotation in [0, 1] with NaN for unannotated pixels.
    sigma : float
        Standard deviation in pixels of the mask's resolution; 0 returns the mask (NaN -> 0,
        negatives -> 0) unblurred and unscaled.

    Returns
    -------
    torch.Tensor of shape (n, h, w)
        Imputed soft masks in [0, 1].

    Examples
    --------
    >>> import torch
    >>> m = torch.zeros(1, 5, 5)
    >>> m[0, 2, 2] = 1.0
    >>> gaussian_blur_masks(m, 0.8)[0, 2, 1:4]
    tensor([0.4578, 1.0000, 0.4578])
    """
    positive = mask.nan_to_num(0.0).clamp(min=0.0)
    if sigma == 0:
        return positive
    radius = max(1, math.floor(2 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=positive.dtype, device=positive.device)
    kernel_1d = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel_1d = kernel_1d / kernel_1d.sum()
    kernel = (kernel_1d[:, None] * kernel_1d[None, :])[None, None]
    padded = F.pad(positive[:, None], (radius,) * 4, mode="reflect")
    blurred = F.conv2d(padded, kernel)[:, 0]
    return blurred / (blurred.flatten(1).max(dim=1).values[:, None, None] + 1e-6)


def res_loss(saliency, mask, *, sharpness=5.0, slack=0.0, threshold="auto", blur_sigma=0.8):
    """RES's explanation loss: a robust thresholded term plus alignment with the imputed mask.

    With ``s = +1`` on positive pixels (mask >= 0.5) and ``-1`` on negative ones, and means
    taken over the batch's annotated pixels::

        robust     = relu(mean |tanh(sharpness * (saliency - a)) - s| - slack)
        imputation = mean |saliency - gaussian_blur_masks(mask, blur_sigma)|
        loss       = robust + imputation

    The tanh saturates once a pixel is clearly on its side of ``a``, so a pixel the mask gets
    wrong costs at most a bounded amount instead of pulling the map towards it, and the slack
    forgives a total error up to ``slack``. ``a`` is :func:`res_threshold` of the current maps
    (no gradient) unless a number is given.

    Parameters
    ----------
    saliency : torch.Tensor of shape (n, h, w)
        Maps scaled to [0, 1].
    mask : torch.Tensor of shape (n, h, w)
        Annotation in [0, 1] with NaN for unannotated pixels.
    sharpness : float, default=5.0
        ``k`` in ``tanh(k (map - a))`` (5 in the reference code).
    slack : float, default=0.0
        ``eta``: the robust term is zero until its mean error exceeds it (0 in the reference
        code's defaults).
    threshold : "auto" or float, default="auto"
        ``a``; "auto" solves for it on every batch (:func:`res_threshold`).
    blur_sigma : float, default=0.8
        Gaussian imputation of the mask for the alignment term (:func:`gaussian_blur_masks`);
        0 aligns with the raw mask.

    Returns
    -------
    torch.Tensor
        A scalar, differentiable with respect to ``saliency``.

    Raises
    ------
    ValueError
        On a shape mismatch, or when no pixel is annotated.

    Examples
    --------
    >>> import torch
    >>> sal = torch.tensor([[[0.0, 1.0]]])
    >>> res_loss(sal, torch.tensor([[[0.0, 1.0]]]), threshold=0.5, blur_sigma=0.0)
    tensor(0.0134)
    """
    known = _check_pair(saliency, mask)
    a = res_threshold(saliency, mask) if isinstance(threshold, str) else threshold
    signs = torch.where(mask.nan_to_num(0.0) >= 0.5, 1.0, -1.0).to(saliency.dtype)
    smoothed = torch.tanh(sharpness * (saliency - a))
    robust = torch.relu((smoothed - signs).abs()[known].mean() - slack)
    imputed = gaussian_blur_masks(mask.to(saliency.dtype), blur_sigma)
    imputation = (saliency - imputed).abs()[known].mean()
    return robust + imputation
