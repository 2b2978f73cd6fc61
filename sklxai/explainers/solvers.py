"""From coalition values to Shapley values: the solvers that several estimators share.

Each takes a game's values v(S) - v(empty) for rows and coalitions (tensors, as a game returns
them) and gives Shapley values; none knows of models, games or explainers, so any estimator
(ExactShapley, KernelSHAP, the amortized explainers' self-check, a plugin's) can use them.
"""

import torch

from sklxai.games.coalitions import all_masks, shapley_size_weights


def enumeration_weights(d, device=None):
    """Every coalition but the empty and the full one, and the weights that combine their values
    into exact Shapley values (:func:`combine_exact`).

    Over those coalitions T, with s the size of T and w(s) = s! (d-s-1)! / d!::

        phi_i = sum_T [i in T] (w(s-1) + w(s)) v(T) - w(s) v(T)  +  (v(N) - v(empty)) / d

    the last term coming from the empty and the full coalition.

    Returns
    -------
    masks : bool tensor (2**d - 2, d)
    a, b : float64 tensors (2**d - 2,)
    """
    masks = all_masks(d, device=device)
    sizes = masks.sum(dim=1)
    inner = (sizes > 0) & (sizes < d)
    w = torch.as_tensor(shapley_size_weights(d), dtype=torch.float64, device=device)
    s = sizes[inner]
    return masks[inner], w[s - 1] + w[s.clamp(max=d - 1)], w[s.clamp(max=d - 1)]


def combine_exact(values, masks, a, b, total):
    """Exact Shapley values (n, d, k) from v(T) - v(empty) of every inner coalition (n, m, k)
    and v(N) - v(empty) (n, k), with :func:`enumeration_weights`' masks and weights."""
    d = masks.shape[1]
    phi = torch.einsum("nmk,md->ndk", values * a[None, :, None], masks.double())
    phi = phi - torch.einsum("nmk,m->nk", values, b)[:, None, :]
    return phi + (total / d)[:, None, :]


def solve_kernel_shap(masks, weights, values, total):
    """Solve min sum_S w_S (y_S - sum_{i in S} phi_i)^2 subject to sum_i phi_i = total.

    Parameters
    ----------
    masks : tensor (m, d) of 0/1
    weights : tensor (m,)
    values : tensor (n, m, k)
        y_S = v(S) - v(empty) for every row and output.
    total : tensor (n, k)
        v(N) - v(empty): the efficiency constraint.

    Returns
    -------
    phi : tensor (n, d, k), float64; sum over d equals ``total`` to rounding.
    """
    Z = masks.double()
    w = weights.double()
    A = Z.T @ (w[:, None] * Z)  # (d, d), shared by every row and output
    A_inv = torch.linalg.pinv(A)
    b = torch.einsum("md,nmk->ndk", w[:, None] * Z, values.double())
    phi_u = torch.einsum("de,nek->ndk", A_inv, b)
    ones = torch.ones(Z.shape[1], dtype=torch.float64, device=Z.device)
    a1 = A_inv @ ones
    # Lagrange multiplier of the efficiency constraint, then the exact projection onto it
    nu = (phi_u.sum(dim=1) - total) / (ones @ a1)
    phi = phi_u - a1[None, :, None] * nu[:, None, :]
    # remove the last rounding residue so efficiency holds to float64 precision
    return phi + ((total - phi.sum(dim=1)) / Z.shape[1])[:, None, :]
