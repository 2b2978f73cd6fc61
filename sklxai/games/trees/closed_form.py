"""Closed forms of the Shapley values of one leaf's indicator game, batched.

For one explained row x and one background row b, a leaf's indicator on the hybrid input
(x_S, b_not S) is 1[A in S] 1[B disjoint from S], where A holds the players on the leaf's path
that only x satisfies and B those only b satisfies (the leaf is out of reach when a player fails
for both). Its Shapley values are closed-form in |A| and |B|:

    phi_i = (|A|-1)! |B|! / (|A|+|B|)!      for i in A,
    phi_i = -|A|! (|B|-1)! / (|A|+|B|)!     for i in B.

:func:`leaf_weights` tabulates both; :func:`leaf_contributions` averages them over a background
as batched matrix products over leaves; :func:`value_tables` sums them over the background once
per pattern of the slots x satisfies, so that explaining a row is a table look-up. The players
on a leaf's path are its *slots* (at most the depth), ``x_ok`` / ``b_ok`` say which slots a row
satisfies (every split on the slot's player along the path).
"""

import math

import numpy as np
import torch

from sklxai.utils.memory import element_budget

#: value tables of paths with at most this many slots are one matrix product (its matrix holds
#: 2**U x 2**U x U entries: 4 MiB at 8 slots); beyond, a sum over the 3**U terms
_MATRIX_SLOTS = 8


def leaf_weights(U, device, index="SV"):
    """W[0, a, b] = (a-1)! b! / (a+b)! (a >= 1), W[1, a, b] = a! (b-1)! / (a+b)! (b >= 1).

    With ``index="BV"``, the Banzhaf values of the same indicator game instead: a player of A
    (or B) changes it in 2**(d-a-b) of the 2**(d-1) coalitions of the others, so
    W[0, a, b] = W[1, a, b] = 2**-(a+b-1).
    """
    W = np.zeros((2, U + 1, U + 1))
    for a in range(U + 1):
        for b in range(U + 1):
            if index == "BV":
                W[:, a, b] = [(a >= 1) * 2.0 ** (1 - a - b), (b >= 1) * 2.0 ** (1 - a - b)]
                continue
            if a >= 1:
                W[0, a, b] = math.factorial(a - 1) * math.factorial(b) / math.factorial(a + b)
            if b >= 1:
                W[1, a, b] = math.factorial(a) * math.factorial(b - 1) / math.factorial(a + b)
    return torch.as_tensor(W, device=device)


def leaf_contributions(x_ok, b_ok, weights):
    """Per leaf, row and slot: the mean over background rows of the slot player's Shapley
    value of the leaf's indicator game, (Lc, n, U).

    For a pair (x, b) with A = slots only x satisfies and B = slots only b satisfies, the
    indicator's value is W_A(|A|, |B|) for slots in A, -W_B(|A|, |B|) for slots in B, and 0
    when the leaf is unreachable (a slot neither satisfies).
    """
    X = x_ok.permute(1, 0, 2).to(torch.float64)  # (Lc, n, U)
    B = b_ok.permute(1, 2, 0).to(torch.float64)  # (Lc, U, m)
    both = torch.bmm(X, B)  # (Lc, n, m): slots both satisfy
    pop_x = X.sum(dim=2)[:, :, None]
    pop_b = B.sum(dim=1)[:, None, :]
    a = (pop_x - both).long()
    b = (pop_b - both).long()
    U = X.shape[2]
    reach = (a + b + both.long()) == U
    m = B.shape[2]
    coef_a = torch.where(reach, weights[0][a, b], 0.0) / m
    coef_b = torch.where(reach, weights[1][a, b], 0.0) / m
    Bt = B.transpose(1, 2)  # (Lc, m, U)
    # slots in A: x satisfies and b does not; in B: b satisfies and x does not
    in_a = X * (coef_a.sum(dim=2, keepdim=True) - torch.bmm(coef_a, Bt))
    in_b = (1.0 - X) * torch.bmm(coef_b, Bt)
    return in_a - in_b


def value_tables(share, U, index="SV"):
    """For each leaf and each pattern X of the slots x satisfies (2**U of them), the mean over
    the background of each slot's Shapley value of the leaf's indicator: (L, 2**U, U).

    ``share`` (L, 2**U) holds, per leaf, the share of the background rows with each pattern of
    satisfied slots (bit j: slot j). Given X, a background row b reaches the leaf with x only if
    it satisfies every slot x fails (c, the complement of X: those are B, |B| = U - |X|); the
    slots of X that b fails are A. So the value depends on b only through which subset s of X
    it fails: the table sums, over s, the share of background rows with that pattern (c and X
    minus s satisfied) times W_A(|s|, |c|) for slots in s and -W_B(|s|, |c|) for slots in c.
    """
    L, device = share.shape[0], share.device
    pattern, needed, coef = _pattern_terms(U, device, index)
    if U <= _MATRIX_SLOTS:  # one product: share (L, 2**U) @ the terms summed per pattern
        matrix = torch.zeros(2**U, 2**U, U, dtype=torch.float64, device=device)
        matrix.index_put_((needed, pattern), coef, accumulate=True)
        return (share @ matrix.reshape(2**U, -1)).reshape(L, 2**U, U)
    table = torch.zeros(L, 2**U, U, dtype=torch.float64, device=device)
    step = max(1, element_budget(device) // (2 * len(pattern) * U))  # leaves at once
    for start in range(0, L, step):
        part = share[start : start + step, needed]  # (c, terms)
        table[start : start + step].index_add_(1, pattern, part[..., None] * coef[None])
    return table


def _pattern_terms(U, device, index="SV"):
    """Every (X, s) with s a subset of X over U slots: X (terms,), the background pattern it
    needs (c | (X - s)) (terms,), and each slot's coefficient (terms, U)."""
    full = 2**U - 1
    xs, ss = [], []
    for X in range(2**U):
        s = X
        while True:
            xs.append(X)
            ss.append(s)
            if s == 0:
                break
            s = (s - 1) & X
    X, s = np.asarray(xs), np.asarray(ss)
    c = full & ~X
    slots = 1 << np.arange(U)
    in_s, in_c = (s[:, None] & slots) > 0, (c[:, None] & slots) > 0
    W = leaf_weights(U, "cpu", index).numpy()
    n_a, n_b = in_s.sum(axis=1), in_c.sum(axis=1)
    coef = W[0, n_a, n_b][:, None] * in_s - W[1, n_a, n_b][:, None] * in_c
    return (torch.as_tensor(X, device=device), torch.as_tensor(c | (X & ~s), device=device),
            torch.as_tensor(coef, device=device))


def rows_of(table, index):
    """table[index] for a (L, k) table, through one-dimensional gathers (a row gather of a
    narrow 2-D tensor costs several times more per element on the CPU)."""
    if table.shape[1] == 1:
        return table[:, 0].index_select(0, index)[:, None]
    k = table.shape[1]
    flat = (index[:, None] * k + torch.arange(k, device=index.device)).reshape(-1)
    return table.reshape(-1).index_select(0, flat).reshape(-1, k)
