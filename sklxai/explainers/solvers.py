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


def kernel_shap_std_errors(masks, weights, values, phi, *, n_enumerated, paired):
    """Standard errors of :func:`solve_kernel_shap`'s values from its design's own variance.

    For a design of enumerated coalitions (fixed) and sampled ones (independent draws, each
    with its complement when ``paired``: :class:`~sklxai.games.coalitions.StratifiedDesign`'s
    layout), the constrained solution is a smooth function of the sampled draws' sums, so its
    variance is the sandwich (delta-method) estimate of the regression: with
    ``A = Z' W Z``, ``M = A^-1 - A^-1 1 1' A^-1 / (1' A^-1 1)`` (the constrained inverse) and
    the residuals ``r_S = y_S - z_S' phi``, each independent draw u adds
    ``c_u = M sum_{S in u} w_S z_S r_S`` to the solution, and::

        Var(phi) ~ U / (U - d + 1) * sum_u (c_u - mean(c))**2

    over the U independent draws (a coalition and its complement form one draw, for which
    ``c_u = w_S (r_S - r_{N-S}) M z_S`` since ``M 1 = 0``). The factor is the usual
    small-sample correction of a sandwich estimate (HC1) for the d - 1 free values the
    residuals were fitted with; ``U - d + 1`` are the estimate's degrees of freedom
    (:func:`kernel_shap_dof`). The residuals hold whatever noise
    the game's values carry, so a game that samples has its noise counted on the sampled
    coalitions (not on the enumerated ones, which are evaluated once).

    Parameters
    ----------
    masks : tensor (m, d) of 0/1
        The enumerated coalitions first (``n_enumerated`` of them), then the sampled ones: the
        U drawn coalitions, then, when ``paired``, their complements in the same order.
    weights : tensor (m,)
    values : tensor (n, m, k)
        y_S = v(S) - v(empty).
    phi : tensor (n, d, k)
        The solution (:func:`solve_kernel_shap`).
    n_enumerated : int
    paired : bool

    Returns
    -------
    std_errors : tensor (n, d, k), float64
        At least the rounding of float64 sums (:func:`with_rounding`); zero when every
        coalition is enumerated (the values are then exact); NaN when there are no more
        independent draws than d - 1 (no variance can be measured).
    """
    d = phi.shape[1]
    Z = masks.double()
    w = weights.double()
    n_sampled = Z.shape[0] - n_enumerated
    units = n_sampled // 2 if paired else n_sampled
    dof = kernel_shap_dof(n_sampled, d, paired=paired)
    if dof < 1:
        fill = 0.0 if n_sampled == 0 else float("nan")
        return torch.full_like(phi, fill, dtype=torch.float64)
    M = _constrained_inverse(Z, w)[0]
    drawn = slice(n_enumerated, n_enumerated + units)
    G = Z[drawn] @ M  # (U, d): M z_S of each draw
    y = values.double()
    r = y[:, n_enumerated:] - torch.einsum("md,ndk->nmk", Z[n_enumerated:], phi)  # (n, ms, k)
    q = r[:, :units] - r[:, units:] if paired else r  # (n, U, k)
    q = q * w[drawn][None, :, None]
    total = torch.einsum("nuk,ud->ndk", q, G)
    squares = torch.einsum("nuk,ud->ndk", q**2, G**2)
    var = (squares - total**2 / units) * (units / dof)
    return with_rounding(var.clamp(min=0.0).sqrt(), y)


def _constrained_inverse(Z, w):
    """``M = A^-1 - A^-1 1 1' A^-1 / (1' A^-1 1)`` with ``A = Z' W Z`` (the constrained inverse
    of :func:`solve_kernel_shap`), and ``A^-1 1 / (1' A^-1 1)``, the weight of the constraint's
    total in the solution."""
    A_inv = torch.linalg.pinv(Z.T @ (w[:, None] * Z))
    ones = torch.ones(Z.shape[1], dtype=torch.float64, device=Z.device)
    a1 = A_inv @ ones
    return A_inv - torch.outer(a1, a1) / (ones @ a1), a1 / (ones @ a1)


def kernel_shap_map(masks, weights):
    """The linear map of :func:`solve_kernel_shap`: its solution is
    ``phi[n, :, k] = values[n, :, k] @ L + total[n, k] * t``.

    Parameters
    ----------
    masks : tensor (m, d) of 0/1
    weights : tensor (m,)

    Returns
    -------
    L : float64 tensor (m, d)
        The weight of each coalition's value in each player's value, ``W Z M``.
    t : float64 tensor (d,)
        The weight of the total (the efficiency constraint's right-hand side).
    """
    Z, w = masks.double(), weights.double()
    M, t = _constrained_inverse(Z, w)
    return (w[:, None] * Z) @ M, t


def shared_noise_weights(coef, masks, counted):
    """Squared weights that give the variance of a linear estimate ``sum_j coef[j] y_j`` when
    the noise of y_j is one draw per distinct coalition (a coalition listed twice carries the
    same noise twice), less the part an estimator's own variance already counts: its spread
    over independent draws counts the noise of the draws' coalitions (``counted``) as if each
    occurrence had its own.

    The variance is ``sum_j out[j] sigma_j**2``, sigma_j**2 the variance of y_j's noise (the same
    for every occurrence of a coalition): ``out[j] = (sum of coef over j's coalition)**2 /
    (its occurrences) - counted[j] * coef[j]**2``.

    Parameters
    ----------
    coef : float64 tensor (m, p)
        The weight of each listed coalition's value in each of p estimates.
    masks : tensor (m, d)
        The coalitions (repeats allowed).
    counted : bool tensor (m,)
        Whether the estimator's own variance counts the coalition's noise (a sampled draw's).

    Returns
    -------
    weights : float64 tensor (m, p)
    """
    _, inverse, counts = torch.unique(masks.bool(), dim=0, return_inverse=True,
                                      return_counts=True)
    summed = torch.zeros(len(counts), coef.shape[1], dtype=torch.float64, device=coef.device)
    summed.index_add_(0, inverse, coef.double())
    shared = summed[inverse] ** 2 / counts[inverse, None].double()
    return shared - counted.double()[:, None] * coef.double() ** 2


def kernel_shap_dof(n_sampled, d, *, paired):
    """Degrees of freedom of :func:`kernel_shap_std_errors`: independent draws less d - 1.

    ``n_sampled`` sampled coalitions (complements included when ``paired``) of d players; 0 or
    less when the standard errors cannot be measured.
    """
    units = n_sampled // 2 if paired else n_sampled
    return units - (d - 1) if n_sampled else 0


#: relative size of the float64 rounding a standard error keeps at least (see with_rounding)
ROUNDING = 1e-12


def with_rounding(std_errors, values):
    """Standard errors with the float64 rounding of the sums that made the values added.

    A value whose every draw agrees (a feature that adds the same amount in every coalition)
    has a sampling standard error of 0, yet is exact only up to rounding: the interval then
    keeps ``ROUNDING`` times the row's largest coalition value |v(S) - v(empty)|, far below any
    sampling error, ``sqrt(se**2 + rounding**2)``.

    Parameters
    ----------
    std_errors : tensor (n, d, k)
    values : tensor (n, ..., k)
        The coalition values the estimate was made of, rows first and outputs last.

    Returns
    -------
    std_errors : tensor (n, d, k)
    """
    scale = values.double().abs().reshape(values.shape[0], -1, values.shape[-1]).amax(dim=1)
    return torch.hypot(std_errors, ROUNDING * scale[:, None, :])


def mean_and_std_error(samples, dim):
    """The mean of independent, identically distributed estimates and its standard error.

    Parameters
    ----------
    samples : tensor
        Estimates, independent along ``dim`` (at least two of them for a standard error).
    dim : int

    Returns
    -------
    mean, std_error : tensors without ``dim``
        ``std_error`` is the sample standard deviation (ddof 1) over ``sqrt(count)``; NaN for a
        single estimate.
    """
    count = samples.shape[dim]
    mean = samples.mean(dim=dim)
    if count < 2:
        return mean, torch.full_like(mean, float("nan"))
    return mean, samples.std(dim=dim, correction=1) / count**0.5
