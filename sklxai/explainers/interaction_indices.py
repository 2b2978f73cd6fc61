"""Shapley interaction indices from the values of every coalition, batched over rows.

Each index takes a game's values v(S) - v(empty) on all 2**d coalitions (rows and outputs
batched, in :func:`~sklxai.games.coalitions.all_masks`' order) and gives one value per set of
players of sizes 1 to ``max_order``. Nothing here knows of models, games or explainers.

Every index but FSII is a weighted sum of the game's Moebius coefficients
m(T) = sum_{L subset of T} (-1)^(|T| - |L|) v(L) over the supersets T of the set S,
I(S) = sum_{T superset of S} w(|T|, |S|) m(T), which is the same as the discrete-derivative
form of each definition (Fujimoto, Kojadinovic & Marichal 2006):

- SII (Grabisch & Roubens 1999): w = 1 / (|T| - |S| + 1); order 1 gives the Shapley values.
- BII, Banzhaf interactions: w = 2^-(|T| - |S|); order 1 gives the Banzhaf values.
- STII (Sundararajan et al. 2020) of order k: m(S) below the top order, and
  w = 1 / C(|T|, k) at |S| = k.
- k-SII (Bordt & von Luxburg 2023): sum over U with S subset of U, ``|U|`` <= k of
  B_(|U|-|S|) SII(U), B the Bernoulli numbers (B_1 = -1/2); in Moebius form
  w = sum_j B_j C(|T| - |S|, j) / (|T| - |S| - j + 1), j = 0..min(k, |T|) - |S|.

FSII (Tsai, Yeh & Ravikumar 2023) is the best approximation of v by a sum of terms of order
1..k under the Shapley kernel weights (d-1) / (C(d, s) s (d-s)), with v(empty) and v(N) fitted
exactly: a constrained weighted least-squares problem over the inner coalitions, solved by
:func:`~sklxai.explainers.solvers.solve_kernel_shap` on the design 1[T subset of S].
"""

import math
from fractions import Fraction
from itertools import combinations

import torch

from sklxai.explainers.solvers import solve_kernel_shap
from sklxai.games.coalitions import all_masks, kernel_size_mass

#: the indices, as shapiq names them
INDICES = ("k-SII", "SII", "STII", "FSII", "BII")


def canonical_index(index, name="index"):
    """The index named ``index`` (any letter case), as spelled in :data:`INDICES`."""
    if isinstance(index, str):
        for known in INDICES:
            if index.strip().lower() == known.lower():
                return known
    raise ValueError(f"{name} must be one of {list(INDICES)} (any letter case); got {index!r}.")


def interaction_sets(d, max_order):
    """Every set of 1 to ``max_order`` of d players, as sorted tuples: by size, then
    lexicographically (the order of the index values' second axis).

    Examples
    --------
    >>> interaction_sets(3, 2)
    [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]
    """
    return [s for size in range(1, min(max_order, d) + 1) for s in combinations(range(d), size)]


def bernoulli_numbers(n):
    """B_0..B_n as exact fractions, with B_1 = -1/2.

    Examples
    --------
    >>> [str(b) for b in bernoulli_numbers(4)]
    ['1', '-1/2', '1/6', '0', '-1/30']
    """
    b = [Fraction(1)]
    for m in range(1, n + 1):
        b.append(-sum(math.comb(m + 1, j) * b[j] for j in range(m)) / (m + 1))
    return b


def moebius_weights(index, d, max_order, size):
    """w(t) for t = 0..d: the weight of a Moebius coefficient of a coalition of t players in the
    value of a set of ``size`` players (zero where t < size), for every index but FSII."""
    w = [0.0] * (d + 1)
    bern = bernoulli_numbers(max_order)
    for t in range(size, d + 1):
        r = t - size
        if index == "SII":
            w[t] = 1.0 / (r + 1)
        elif index == "BII":
            w[t] = 2.0**-r
        elif index == "STII":
            w[t] = float(r == 0) if size < max_order else 1.0 / math.comb(t, max_order)
        else:  # k-SII
            w[t] = float(sum(bern[j] * math.comb(r, j) / (r - j + 1)
                             for j in range(min(max_order, t) - size + 1)))
    return w


def _bit_axes(x, d):
    """``x`` (n, 2**d, k) as a view (n, 2, ..., 2, k): one axis per player."""
    return x.view(x.shape[0], *([2] * d), x.shape[-1])


def moebius_transform(values, d):
    """Moebius coefficients m(T) (n, 2**d, k) of coalition values (n, 2**d, k), in
    O(d 2**d) per row and output."""
    m = values.clone()
    cube = _bit_axes(m, d)
    for axis in range(1, d + 1):
        cube.narrow(axis, 1, 1).sub_(cube.narrow(axis, 0, 1))
    return m


def _superset_sums(x, d):
    """In place: x(S) <- sum over the supersets T of S of x(T)."""
    cube = _bit_axes(x, d)
    for axis in range(1, d + 1):
        cube.narrow(axis, 0, 1).add_(cube.narrow(axis, 1, 1))
    return x


def _set_positions(sets, device):
    """The row of each set in :func:`~sklxai.games.coalitions.all_masks` (its bit pattern)."""
    return torch.tensor([sum(1 << j for j in s) for s in sets], dtype=torch.long, device=device)


def interaction_values(values, index, max_order):
    """Interaction index values of every set of 1 to ``max_order`` players.

    Parameters
    ----------
    values : float64 tensor of shape (n, 2**d, k)
        v(S) - v(empty) for every coalition S, in :func:`~sklxai.games.coalitions.all_masks`'
        order (so ``values[:, 0]`` is 0 and ``values[:, -1]`` is v(N) - v(empty)).
    index : {"k-SII", "SII", "STII", "FSII", "BII"}
        As :func:`canonical_index` spells it.
    max_order : int
        Largest set size; orders above d have no sets.

    Returns
    -------
    terms : float64 tensor of shape (n, len(interaction_sets(d, max_order)), k)
        The value of each set of :func:`interaction_sets`, in that order.
    """
    n_coalitions = values.shape[1]
    d = n_coalitions.bit_length() - 1
    sets = interaction_sets(d, max_order)
    if index == "FSII" and max_order < d:
        return _faithful_values(values, d, sets)
    m = moebius_transform(values, d)
    if index == "FSII":  # every order up to d: the fit is exact, its terms are m itself
        return m[:, _set_positions(sets, values.device)]
    sizes = all_masks(d, device=values.device).sum(dim=1)
    out = []
    for size in range(1, min(max_order, d) + 1):
        w = torch.tensor(moebius_weights(index, d, max_order, size), dtype=values.dtype,
                         device=values.device)
        summed = _superset_sums(m * w[sizes][None, :, None], d)
        out.append(summed[:, _set_positions([s for s in sets if len(s) == size],
                                            values.device)])
    return torch.cat(out, dim=1)


def faithful_design(d, sets, device=None):
    """FSII's regression over the inner coalitions (all_masks' order, the empty and the full
    one left out): the design 1[S subset of T] (2**d - 2, len(sets)) and the Shapley kernel's
    weights (2**d - 2,)."""
    masks = all_masks(d, device=device)[1 : 2**d - 1]
    design = torch.stack([masks[:, list(s)].all(dim=1) for s in sets], dim=1)
    sizes = masks.sum(dim=1)
    mass = torch.as_tensor(kernel_size_mass(d), dtype=torch.float64, device=device)
    counts = torch.tensor([math.comb(d, s) for s in range(d + 1)], dtype=torch.float64,
                          device=device)
    return design, mass[sizes - 1] / counts[sizes]


def _faithful_values(values, d, sets):
    """FSII: the constrained Shapley-kernel least-squares fit of order len(sets[-1]) < d."""
    design, weights = faithful_design(d, sets, values.device)
    return solve_kernel_shap(design, weights, values[:, 1 : 2**d - 1], values[:, -1])
