"""The Bort constraint: which weights it binds, its correction term, and how far a model is from it.

Bort (Zhang et al., "Bort: Towards Explainable Neural Networks with Bounded Orthogonal
Constraint", ICLR 2023) keeps the rows of every Linear/Conv weight ``W`` (a conv weight is read
as ``W.reshape(out_channels, -1)``) orthogonal and of norm ``sqrt(c)``, i.e. ``W W^T = c I``.
The penalty ``||W W^T - c I||_F^2 / 4`` has the gradient

    Delta(W) = (W W^T - c I) W,

which the optimizers in :mod:`sklxai_bort.optim` add, weighted by ``gamma``, to their update.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

__all__ = ["BORT_LAYERS", "bort_correction", "bort_param_groups", "orthogonality_error"]

#: Layer types whose ``weight`` the helpers treat as constrained. Transposed convolutions are
#: left out on purpose: their weight is laid out (in_channels, out_channels, ...), so the row
#: constraint would bind input channels instead of filters.
BORT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _check_gamma(gamma, name="gamma"):
    """Return ``gamma`` as a float after checking it is a finite number >= 0.

    Parameters
    ----------
    gamma : float
        The weight of the Bort correction; 0 disables it.
    name : str, default="gamma"
        How the value is named in the error message.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If ``gamma`` is not a real number.
    ValueError
        If ``gamma`` is negative, infinite or NaN.
    """
    value = _as_float(gamma, name)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{name} must be a finite number >= 0, got {gamma!r}")
    return value


def _check_c(c, name="c"):
    """Return ``c`` as a float after checking it is a finite number > 0.

    Parameters
    ----------
    c : float
        The boundedness constant: the target squared norm of each weight row.
    name : str, default="c"
        How the value is named in the error message.

    Returns
    -------
    float

    Raises
    ------
    TypeError
        If ``c`` is not a real number.
    ValueError
        If ``c`` is not > 0, or is infinite or NaN.
    """
    value = _as_float(c, name)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{name} must be a finite number > 0, got {c!r}")
    return value


def _as_float(value, name):
    # bool is a numbers.Real, but gamma=True is surely a mistake
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}: {value!r}")
    return float(value)


def bort_correction(weight, c=1.0):
    """The Bort correction ``Delta(W) = (W W^T - c I) W`` of one weight tensor.

    This is the gradient of ``||W W^T - c I||_F^2 / 4`` with respect to ``W``: descending along
    it makes the rows of ``W`` orthogonal (orthogonality) with squared norm ``c`` (boundedness).

    Parameters
    ----------
    weight : torch.Tensor of shape (out, ...)
        A real weight with ``ndim >= 2``; trailing dimensions are flattened, so a conv weight
        ``(out_channels, in_channels, *kernel)`` is read as ``(out_channels, -1)``.
    c : float, default=1.0
        The boundedness constant, > 0.

    Returns
    -------
    torch.Tensor
        ``Delta(W)``, of the same shape, dtype and device as ``weight``. Not tracked by
        autograd when called under ``torch.no_grad()``, as the optimizers do.

    Raises
    ------
    ValueError
        If ``weight`` has fewer than 2 dimensions, or ``c`` is not > 0.

    Examples
    --------
    >>> import torch
    >>> from sklxai_bort import bort_correction
    >>> bort_correction(torch.eye(3)).abs().max().item()  # orthonormal rows: nothing to correct
    0.0
    >>> bort_correction(2 * torch.eye(2), c=1.0)  # rows too long: (4 - 1) * 2 = 6
    tensor([[6., 0.],
            [0., 6.]])
    """
    c = _check_c(c)
    if weight.ndim < 2:
        raise ValueError(f"weight must have at least 2 dimensions, got shape {tuple(weight.shape)}")
    w = weight.reshape(weight.shape[0], -1)
    # (W W^T) W == W (W^T W): take the order whose inner product is the smaller Gram matrix
    if w.shape[0] <= w.shape[1]:
        delta = (w @ w.T) @ w
    else:
        delta = w @ (w.T @ w)
    return (delta - c * w).reshape(weight.shape)


def _constrained_weights(module):
    """The distinct ``weight`` parameters of the :data:`BORT_LAYERS` in ``module``, in order."""
    seen = set()
    for layer in module.modules():
        if not isinstance(layer, BORT_LAYERS):
            continue
        weight = getattr(layer, "weight", None)
        # lazy layers hold an UninitializedParameter until their first forward pass
        if weight is None or isinstance(weight, nn.parameter.UninitializedParameter):
            continue
        if id(weight) not in seen:  # tied weights count once
            seen.add(id(weight))
            yield weight


def bort_param_groups(module, gamma=None, c=None):
    """Split a module's parameters into a Bort group and a group without the correction.

    The Bort group holds the weights of the module's Linear and Conv1d/2d/3d layers (see
    :data:`BORT_LAYERS`); every other parameter (biases, normalization, embeddings, transposed
    convolutions, ...) goes to a group with ``gamma=0``. Pass the result to
    :class:`~sklxai_bort.BortSGD` or :class:`~sklxai_bort.BortAdamW` in place of
    ``module.parameters()`` to choose by layer type rather than by ``ndim``.

    Parameters
    ----------
    module : torch.nn.Module
        The model whose parameters are split.
    gamma : float, optional
        The correction weight of the Bort group, >= 0. Omitted: the optimizer's ``gamma``.
    c : float, optional
        The boundedness constant of the Bort group, > 0. Omitted: the optimizer's ``c``.

    Returns
    -------
    list of dict
        Param groups (``{"params": [...], ...}``), empty groups left out: first the Bort group,
        then the rest with ``"gamma": 0.0``.

    Raises
    ------
    TypeError
        If ``module`` is not a :class:`torch.nn.Module`.
    ValueError
        If ``module`` has no parameters, or ``gamma`` / ``c`` is out of range.

    Examples
    --------
    >>> import torch
    >>> from sklxai_bort import BortAdamW, bort_param_groups
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    >>> groups = bort_param_groups(model, gamma=0.1)
    >>> [len(g["params"]) for g in groups], [g.get("gamma") for g in groups]
    ([1, 3], [0.1, 0.0])
    >>> opt = BortAdamW(groups, lr=1e-3)
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    bort_group = {"params": list(_constrained_weights(module))}
    if gamma is not None:
        bort_group["gamma"] = _check_gamma(gamma)
    if c is not None:
        bort_group["c"] = _check_c(c)
    chosen = {id(p) for p in bort_group["params"]}
    rest = {"params": [p for p in module.parameters() if id(p) not in chosen], "gamma": 0.0}
    groups = [g for g in (bort_group, rest) if g["params"]]
    if not groups:
        raise ValueError(f"module has no parameters: {type(module).__name__}")
    return groups


@torch.no_grad()
def orthogonality_error(module, c=1.0):
    """How far the Linear/Conv weights of a model are from ``W W^T = c I``.

    For each constrained weight ``W`` (shape ``(m, -1)`` after flattening) this computes the
    relative error ``||W W^T - c I||_F / ||c I||_F`` (with ``||c I||_F = c sqrt(m)``) and
    returns the mean over the layers. It is 0 exactly when every weight has orthogonal rows of
    squared norm ``c``; a model of zero weights scores 1. A "tall" weight (``m`` rows, fewer
    than ``m`` columns) cannot have ``m`` orthogonal rows, so its error is at least
    ``sqrt((m - n) / m)`` for ``n`` columns.

    Parameters
    ----------
    module : torch.nn.Module or torch.Tensor
        A model (its :data:`BORT_LAYERS` weights are measured) or a single weight with
        ``ndim >= 2``.
    c : float, default=1.0
        The boundedness constant, > 0; use the one the model was trained with.

    Returns
    -------
    float
        The mean relative error, >= 0.

    Raises
    ------
    TypeError
        If ``module`` is neither a module nor a tensor.
    ValueError
        If there is no Linear/Conv weight to measure, or ``c`` is not > 0.

    Examples
    --------
    >>> import torch
    >>> from sklxai_bort import orthogonality_error
    >>> orthogonality_error(torch.eye(4))
    0.0
    >>> layer = torch.nn.Linear(8, 4)
    >>> with torch.no_grad():
    ...     _ = layer.weight.copy_(torch.linalg.qr(torch.randn(8, 4)).Q.T)  # orthonormal rows
    >>> orthogonality_error(layer) < 1e-5
    True
    """
    c = _check_c(c)
    if isinstance(module, torch.Tensor):
        if module.ndim < 2:
            raise ValueError(
                f"module must be a weight with ndim >= 2, got shape {tuple(module.shape)}"
            )
        weights = [module]
    elif isinstance(module, nn.Module):
        weights = list(_constrained_weights(module))
        if not weights:
            raise ValueError(
                f"module has no Linear/Conv weight to measure: {type(module).__name__}"
            )
    else:
        raise TypeError(f"module must be a torch.nn.Module or a Tensor, got {type(module).__name__}")
    errors = []
    for weight in weights:
        w = weight.detach().reshape(weight.shape[0], -1).double()
        eye = torch.eye(w.shape[0], dtype=w.dtype, device=w.device)
        gap = torch.linalg.matrix_norm(w @ w.T - c * eye)
        errors.append(gap.item() / (c * math.sqrt(w.shape[0])))
    return sum(errors) / len(errors)
