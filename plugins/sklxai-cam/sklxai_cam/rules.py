"""The CAM weightings: each turns one layer's activations A (n, c, h, w) and one score per row
into raw maps (n, h, w), before any ReLU, resizing or scaling.

``G = d score / d A``, sums over the channel axis c and the spatial axes (h, w):

* Grad-CAM (:func:`sklxai_cam.layers.grad_cam`): ``sum_c mean_hw(G_c) A_c``;
* HiResCAM (Draelos and Carin, 2020): ``sum_c G_c * A_c``;
* LayerCAM (Jiang et al., 2021): ``sum_c relu(G_c) * A_c``;
* Grad-CAM++ (Chattopadhay et al., 2018), the general form with the exact second and third
  derivatives of the score: ``sum_c w_c A_c``, ``w_c = sum_hw alpha_c relu(G_c)``,
  ``alpha = D2 / (2 D2 + sum_hw(A_c) D3)`` (0 where the denominator is 0), with ``D2`` and
  ``D3`` the diagonal second and third derivatives ``d^2 score / dA_e^2``,
  ``d^3 score / dA_e^3`` of every element e of A;
* Score-CAM (Wang et al., 2020): ``sum_c softmax_c(score(x * M_c)) A_c`` with ``M_c`` channel
  c upsampled to the input's size and scaled to [0, 1] (see :mod:`sklxai_cam.cam`).
"""

import torch

from sklxai_cam.layers import normalize_maps, resize_maps

__all__ = ["grad_cam_plus_plus", "hires_cam", "layer_cam", "score_cam_masks",
           "diagonal_derivatives"]


def _gradient(scores, activation):
    (grads,) = torch.autograd.grad(scores.sum(), activation, retain_graph=True)
    return grads


def hires_cam(scores, activation):
    """HiResCAM maps: ``sum_c (d score / d A_c) * A_c``.

    Parameters
    ----------
    scores : torch.Tensor of shape (n,)
        One score per row, computed from ``activation`` (row i's from row i only).
    activation : torch.Tensor of shape (n, c, h, w)

    Returns
    -------
    torch.Tensor of shape (n, h, w)
        The raw maps (no ReLU), detached.

    Examples
    --------
    >>> import torch
    >>> A = torch.ones(1, 2, 2, 2, requires_grad=True)
    >>> hires_cam((3 * A).sum(dim=(1, 2, 3)), A)
    tensor([[[6., 6.],
             [6., 6.]]])
    """
    return (_gradient(scores, activation) * activation).sum(dim=1).detach()


def layer_cam(scores, activation):
    """LayerCAM maps: ``sum_c relu(d score / d A_c) * A_c``.

    Parameters
    ----------
    scores : torch.Tensor of shape (n,)
    activation : torch.Tensor of shape (n, c, h, w)

    Returns
    -------
    torch.Tensor of shape (n, h, w)
        The raw maps (no ReLU), detached.

    Examples
    --------
    >>> import torch
    >>> A = torch.ones(1, 2, 1, 1, requires_grad=True)
    >>> layer_cam((A[:, 0] - A[:, 1]).sum(dim=(1, 2)), A)
    tensor([[[1.]]])
    """
    return (_gradient(scores, activation).clamp_min(0) * activation).sum(dim=1).detach()


def _batched_grad(outputs, activation, grad_outputs):
    """``grad(outputs, activation)`` for each of the stacked ``grad_outputs`` (k, *outputs);
    zeros where ``outputs`` does not depend on ``activation``."""
    k = grad_outputs.shape[0]
    if not outputs.requires_grad:
        return activation.new_zeros((k, *activation.shape))
    (grads,) = torch.autograd.grad(outputs, activation, grad_outputs=grad_outputs,
                                   is_grads_batched=True, create_graph=True,
                                   retain_graph=True, allow_unused=True)
    return activation.new_zeros((k, *activation.shape)) if grads is None else grads


def diagonal_derivatives(scores, activation, chunk=32):
    """First, diagonal second and diagonal third derivatives of each row's score with respect
    to every element of its activation.

    Each element e of a row's activation gets ``d s / dA_e``, ``d^2 s / dA_e^2`` and
    ``d^3 s / dA_e^3`` (exact, by autograd: two more backward passes per element, ``chunk``
    elements at a time, for all rows at once). The cost grows with c * h * w.

    Parameters
    ----------
    scores : torch.Tensor of shape (n,)
        Row i's score depends on row i of ``activation`` only.
    activation : torch.Tensor of shape (n, c, h, w)
    chunk : int, default=32
        Elements differentiated per batched backward pass.

    Returns
    -------
    tuple of torch.Tensor, each of shape (n, c, h, w)
        The first, second and third derivatives, detached.

    Examples
    --------
    >>> import torch
    >>> A = torch.full((1, 1, 1, 2), 2.0, requires_grad=True)
    >>> d1, d2, d3 = diagonal_derivatives((A ** 3).sum(dim=(1, 2, 3)), A)
    >>> d1.flatten().tolist(), d2.flatten().tolist(), d3.flatten().tolist()
    ([12.0, 12.0], [12.0, 12.0], [6.0, 6.0])
    """
    (g,) = torch.autograd.grad(scores.sum(), activation, create_graph=True, retain_graph=True)
    n, m = activation.shape[0], activation[0].numel()
    d2 = activation.new_zeros((n, m))
    d3 = activation.new_zeros((n, m))
    for start in range(0, m, chunk):
        idx = torch.arange(start, min(start + chunk, m), device=activation.device)
        k = idx.numel()
        basis = activation.new_zeros((k, n, m))
        basis[torch.arange(k), :, idx] = 1.0
        hess = _batched_grad(g, activation, basis.view(k, *activation.shape))
        second = hess.reshape(k, n, m)[torch.arange(k), :, idx]  # (k, n)
        pick = activation.new_zeros((k, k, n))
        pick[torch.arange(k), torch.arange(k)] = 1.0
        third = _batched_grad(second, activation, pick).reshape(k, n, m)[torch.arange(k), :, idx]
        d2[:, idx] = second.detach().T
        d3[:, idx] = third.detach().T
    shape = activation.shape
    return g.detach(), d2.view(shape), d3.view(shape)


def grad_cam_plus_plus(scores, activation, chunk=32):
    """Grad-CAM++ maps from the general formula with exact second and third derivatives.

    ``alpha_e = D2_e / (2 D2_e + sum_hw(A_c) D3_e)`` for element e of channel c (0 where the
    denominator is 0), ``w_c = sum_hw alpha relu(G)``, map ``sum_c w_c A_c`` (see
    :func:`diagonal_derivatives`). With the score ``exp(S)`` of a score S that is linear in A,
    this is the paper's closed form (its eq. 19) of S; for other scores it is not.

    Parameters
    ----------
    scores : torch.Tensor of shape (n,)
    activation : torch.Tensor of shape (n, c, h, w)
    chunk : int, default=32
        See :func:`diagonal_derivatives`.

    Returns
    -------
    torch.Tensor of shape (n, h, w)
        The raw maps (no ReLU), detached.

    Examples
    --------
    >>> import torch
    >>> A = torch.ones(1, 1, 2, 2, requires_grad=True)
    >>> grad_cam_plus_plus(torch.exp(A.sum(dim=(1, 2, 3))), A).shape
    torch.Size([1, 2, 2])
    """
    g, d2, d3 = diagonal_derivatives(scores, activation, chunk=chunk)
    A = activation.detach()
    denom = 2 * d2 + A.sum(dim=(2, 3), keepdim=True) * d3
    alpha = torch.where(denom != 0, d2 / torch.where(denom != 0, denom, 1), 0)
    weights = (alpha * g.clamp_min(0)).sum(dim=(2, 3), keepdim=True)
    return (weights * A).sum(dim=1)


def score_cam_masks(activation, size):
    """Score-CAM's masks: each channel upsampled (bilinear) to ``size`` and scaled to [0, 1].

    Parameters
    ----------
    activation : torch.Tensor of shape (n, c, h, w)
    size : tuple of int (height, width)

    Returns
    -------
    torch.Tensor of shape (n, c, height, width)
        A constant channel gives a mask of zeros.

    Examples
    --------
    >>> import torch
    >>> score_cam_masks(torch.arange(4.0).view(1, 1, 2, 2), (2, 2))
    tensor([[[[0.0000, 0.3333],
              [0.6667, 1.0000]]]])
    """
    n, c = activation.shape[:2]
    up = resize_maps(activation.detach().reshape(n * c, *activation.shape[2:]), size)
    return normalize_maps(up, eps=1e-7).view(n, c, *up.shape[1:])
