"""The terms of C3LT's objective (Khorram & Li, CVPR 2022; reference code khorrams/c3lt).

For a batch ``x`` of the source class and a batch ``x'`` of the target class, with encoder E,
decoder G and maps g (source -> target), h (target -> source):

- classification: ``NLL(f(G(g(E(x)))), target) + NLL(f(G(h(E(x')))), source)``, halved;
- proximity: each counterfactual against its own query, :func:`proximity_loss`;
- cycle consistency: :func:`cycle_loss`, in input space and in latent space.

Inputs have their own shape: images ``(n, C, H, W)`` or ``(n, H, W)``, rows ``(n, d)``.
"""

import torch


def classification_loss(log_proba, target):
    """Mean negative log-likelihood of class index ``target`` (the reference's ``nll``).

    Parameters
    ----------
    log_proba : tensor of shape (n, k)
        Log-probabilities of the classifier on the decoded counterfactuals.
    target : int

    Returns
    -------
    loss : scalar tensor
    """
    return -log_proba[:, target].mean()


def difference_mask(x, x_cf):
    """Squared difference of each pair, scaled to [0, 1] per sample (the reference's
    ``gen_masks(mode="mse")``; a pair with no difference gives a zero mask)."""
    m = (x_cf - x).pow(2).reshape(x.shape[0], -1)
    m = m - m.min(dim=1, keepdim=True).values
    m = m / m.max(dim=1, keepdim=True).values.clamp_min(1e-12)
    return m.reshape(x.shape)


def smoothness(mask):
    """Mean squared difference of neighbouring values along the last two axes (height and
    width), the two directions averaged; 0 for tabular rows, which have no neighbours."""
    if mask.dim() < 3:
        return mask.new_zeros(())
    dh = (mask[..., 1:, :] - mask[..., :-1, :]).pow(2).reshape(mask.shape[0], -1).mean(dim=1)
    dw = (mask[..., :, 1:] - mask[..., :, :-1]).pow(2).reshape(mask.shape[0], -1).mean(dim=1)
    return (dh + dw).mean() / 2


def binariness(mask):
    """Mean of ``min(m, 1 - m)``: 0 for a binary mask (the reference's ``entropy_loss``)."""
    return torch.minimum(mask, 1.0 - mask).mean()


def proximity_loss(x, x_cf, *, scale, smoothness_weight, entropy_weight):
    """C3LT's proximity term: the mean absolute change, in units of ``scale`` (the data's
    range), plus the smoothness and binariness of the change's mask, weighted and normalised
    as in the reference code: ``(L1 + p1 * smooth + p2 * entropy) / (1 + p1 + p2)``.

    Parameters
    ----------
    x, x_cf : tensor of shape (n, *input_shape)
        Queries and their counterfactuals.
    scale : float
        The data's range (max - min): the L1 term is unit-free, as the reference's images in
        [-1, 1] make it.
    smoothness_weight, entropy_weight : float
        The reference's ``p1`` and ``p2``.

    Returns
    -------
    loss : scalar tensor
    """
    mask = difference_mask(x, x_cf)
    l1 = (x_cf - x).abs().mean() / scale
    total = l1 + smoothness_weight * smoothness(mask) + entropy_weight * binariness(mask)
    return total / (1.0 + smoothness_weight + entropy_weight)


def cycle_loss(x, x_cycle, z, z_cycle, *, scale):
    """Cycle consistency of one direction: ``|x - G(h(g(E(x))))|`` (in units of ``scale``)
    and ``|E(x) - h(g(E(x)))|``, mean absolute values, averaged.

    The reference compares the images also in two layers of its MNIST classifier (a
    perceptual loss); a generic classifier has no agreed layers, so only the input-space term
    is kept here.
    """
    pixels = (x_cycle - x).abs().mean() / scale
    latent = (z_cycle - z).abs().mean()
    return (pixels + latent) / 2
