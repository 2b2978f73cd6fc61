"""Exact interaction indices of tree ensembles, of any order, leaf by leaf.

Each index here (k-SII, SII, STII, FSII, BII) is a weighted sum of the game's Moebius
coefficients m(T) over the supersets T of the set S explained,
I(S) = sum_{T superset of S} w_|S|(|T|) m(T), the weights given (the explainer computes them:
:mod:`~sklxai.explainers.tree_interactions`). They depend on |T| and |S| only, so a sum of
games has the sum of their terms, and each leaf's game is a *product game* over the players on
its path (its slots)::

    g(S) = prod_{j in S} p_j  prod_{j not in S} q_j,

whose Moebius coefficients are m(T) = prod_{j in T} (p_j - q_j) prod_{j not in T} q_j. The term
of a set S of slots is therefore prod_{j in S} (p_j - q_j) sum_r w_|S|(|S| + r) e_r, with e_r
the coefficients of the polynomial prod_{j not in S} (q_j + (p_j - q_j) t) (players off the
path are dummies: their terms are 0). A leaf has a term for every set of 1 to ``max_order`` of
its slots (:func:`slot_subsets`).

- Interventional game, one explained row x and one background row b: p_j = 1 when x satisfies
  every split on j along the path, q_j = 1 when b does (the indicator 1[A in S] 1[B disjoint
  from S] of ``docs/design.rst``). The polynomial is t^a' (1-t)^b' (a', b': the slots of A and
  B outside S), so the term of S (inside A and B) is (-1)^|S in B| K_s[a', b'] with
  K_s[a', b'] = sum_u w_s(s + a' + u) (-1)^u C(b', u): :func:`_count_tables`. Averaged over
  the background as batched matrix products, one per (size of S, slots of S in A)
  (:meth:`InteractionTerms._interventional`).
- Path-dependent game: p_j = x's indicator and q_j = the slot's cover product (see
  :mod:`~sklxai.games.trees.path_dependent`); the polynomials without each set S are built
  factor by factor (:func:`product_game_terms`), O(U^2) per set, leaf and row.

Leaves with at most ``_TABLE_MAX_SLOTS`` players get, at construction, their terms for each of
the 2**U patterns of the slots a row satisfies: for the interventional game the terms of every
(row pattern, background pattern) pair (:func:`pattern_pair_terms`) times the leaf's share of
background rows per pattern, for the path-dependent game the product game's terms of each
pattern. Trees all of whose leaves are within that size are tabulated by groups of sibling
leaves (:class:`~sklxai.games.trees.patterns.PatternTables`, which :class:`~sklxai.TreeShapley`
uses for its values: a group's key fixes each of its leaves' patterns, and its table holds the
leaves' terms summed per set of players), so explaining a row costs one look-up per group and
set, whatever the background's size; the other trees' leaves get tables of their own (a look-up
per leaf) or, beyond the size, their terms per row.
"""

import math
from itertools import combinations

import numpy as np
import torch

from sklxai.games.trees._players import node_players, path_slots
from sklxai.games.trees.closed_form import rows_of
from sklxai.games.trees.path_dependent import _cover_fractions
from sklxai.games.trees.patterns import PatternTables
from sklxai.models.trees.walk import NodeDecisions

#: leaves whose paths hold at most this many players get, at construction, a table of their
#: terms for each of the 2**U patterns of the slots a row satisfies (summed over the
#: background): explaining a row is then a look-up per leaf...
_TABLE_MAX_SLOTS = 8
#: ...while all tables together hold at most this many float64 entries (512 MiB)
_TABLE_ELEMENTS = 2**26
#: elements of the temporaries built at once while building the tables
_CHUNK = 2**22
#: rows explained together on the CPU (their node decisions and terms stay in its caches:
#: 1,000 rows at once took 2-4x longer per row than 100)
_ROWS = 64


def slot_subsets(U, max_order):
    """Every set of 1 to ``max_order`` of U slots, by size then lexicographically: membership,
    bool (n_sets, U).

    Examples
    --------
    >>> slot_subsets(3, 2).astype(int).tolist()
    [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]]
    """
    sets = [c for s in range(1, min(max_order, U) + 1) for c in combinations(range(U), s)]
    member = np.zeros((len(sets), U), dtype=bool)
    for row, c in enumerate(sets):
        member[row, list(c)] = True
    return member


def _count_tables(weights, depth):
    """K[s - 1][a', b'] = sum_u w_s(s + a' + u) (-1)^u C(b', u) for s = 1..max_order and
    a', b' in 0..depth: a term of a leaf's interventional indicator of a set of s slots with a'
    A slots and b' B slots besides the set's own (weights beyond their length are 0)."""
    k, length = weights.shape

    def w(s, t):
        return weights[s - 1, t] if t < length else 0.0

    K = np.zeros((k, depth + 1, depth + 1))
    for s in range(1, k + 1):
        for a in range(depth + 1):
            for b in range(depth + 1):
                K[s - 1, a, b] = sum(w(s, s + a + u) * (-1) ** u * math.comb(b, u)
                                     for u in range(b + 1))
    return K


def _set_weights(weights, member):
    """W[set, r] = w_s(s + r) for r = 0..U (s: the set's size; 0 beyond the weights)."""
    size = member.sum(dim=1).long()
    r = torch.arange(member.shape[1] + 1, device=member.device)
    t = size[:, None] + r
    padded = torch.cat([weights, weights.new_zeros(len(weights), member.shape[1] + 2)], dim=1)
    return padded[(size - 1)[:, None], t]


def product_game_terms(p, q, weights, member):
    """Terms of the sets ``member`` of the product games prod_{j in S} p_j prod_{j not in S} q_j.

    Parameters
    ----------
    p, q : float64 tensors (..., U)
    weights : float64 tensor (max_order, n)
        The Moebius weights w_s(t) of the index's terms of s = 1.. players (rows), by t = |T|.
    member : bool tensor (n_sets, U)
        The sets of slots (:func:`slot_subsets`).

    Returns
    -------
    terms : float64 tensor (..., n_sets)
    """
    U = p.shape[-1]
    delta = p - q
    # coef[..., set, r]: coefficient of t^r of the product over the slots outside the set
    coef = torch.zeros(*p.shape[:-1], len(member), U + 1, dtype=torch.float64, device=p.device)
    coef[..., 0] = 1.0
    for j in range(U):
        new = coef * q[..., j, None, None]
        new[..., 1:] += coef[..., :-1] * delta[..., j, None, None]
        coef = torch.where(member[:, j, None], coef, new)
    lead = torch.where(member, delta[..., None, :], 1.0).prod(dim=-1)
    return (coef * _set_weights(weights, member)).sum(dim=-1) * lead


def _cover_terms(z, weights, member):
    """The path-dependent terms of leaves with cover products z (L, U) for each pattern of the
    slots a row satisfies (bit j: slot j): (L, 2**U, sets), :func:`product_game_terms` of the
    pattern and z, in chunks of leaves."""
    U, device = z.shape[1], z.device
    patterns = ((torch.arange(2**U, device=device)[:, None]
                 >> torch.arange(U, device=device)) & 1).to(torch.float64)  # (2**U, U)
    step = max(1, _CHUNK // (2**U * len(member) * (U + 1)))  # leaves per pass
    return torch.cat([
        product_game_terms(patterns.expand(len(part), -1, -1),
                           part[:, None, :].expand(-1, 2**U, -1), weights, member)
        for part in z.split(step)])


def pattern_pair_terms(U, K, member):
    """The terms of the interventional indicator game of a leaf with U slots for every pair of
    patterns of the slots the background row (first axis) and the row explained (second) satisfy
    (bit j: slot j): (2**U, 2**U, n_sets), from the closed forms ``K`` (:func:`_count_tables`).

    The leaf is reached when every slot is satisfied by one of the two rows; A holds the slots
    only x satisfies, B those only b does. A set S of slots has a term when S lies in A | B:
    (-1)^|S & B| K_s[|A| - |S & A|, |B| - |S & B|].
    """
    device = member.device
    every = torch.arange(2**U, device=device)
    count = ((every[:, None] >> torch.arange(U, device=device)) & 1).sum(dim=1)  # popcounts
    sets = (member.long() << torch.arange(U, device=device)).sum(dim=1)  # (n_sets,)
    size = count[sets]
    rows = max(1, _CHUNK // (2**U * len(sets)))  # background patterns at once
    out = []
    for b in every.split(rows):
        x, b = every[None, :], b[:, None]
        a_bits, b_bits = x & ~b, b & ~x
        reach = ((x | b) == 2**U - 1)[..., None]
        in_a, in_b = count[sets & a_bits[..., None]], count[sets & b_bits[..., None]]
        inside = reach & (in_a + in_b == size)
        value = K[size - 1, (count[a_bits][..., None] - in_a).clamp(min=0),
                  (count[b_bits][..., None] - in_b).clamp(min=0)]
        out.append(torch.where(inside, (1.0 - 2.0 * (in_b % 2)) * value, 0.0))
    return torch.cat(out)


def _sided_sets(member):
    """For each (size s, number alpha of the set's slots in A), every (set, side of each of
    its slots) with alpha slots on the A side: (s, alpha, set rows, on A (g, U), on B (g, U))."""
    groups = []
    member = member.cpu().numpy()
    sizes = member.sum(axis=1)
    for s in np.unique(sizes):
        rows = np.flatnonzero(sizes == s)
        for alpha in range(s + 1):
            sets, on_a, on_b = [], [], []
            for row in rows:
                slots = np.flatnonzero(member[row])
                for chosen in combinations(slots, alpha):
                    a = np.zeros(member.shape[1], dtype=bool)
                    a[list(chosen)] = True
                    sets.append(row)
                    on_a.append(a)
                    on_b.append(member[row] & ~a)
            groups.append((int(s), alpha, np.asarray(sets), np.asarray(on_a), np.asarray(on_b)))
    return groups


class InteractionTerms:
    """Exact interaction terms of orders 1 to ``max_order`` of a tree ensemble's
    interventional (against background rows) or path-dependent game, batched over rows, leaves
    and background rows.

    Parameters
    ----------
    trees : sklxai.models.trees.TreeEnsemble
        The trees, on the device where the terms are computed.
    members : list of int arrays
        The input columns of each player.
    background : float64 tensor (m, n_features) or None
        Encoded background rows (one for the baseline game); None: the path-dependent game.
    weights : float array (max_order, n), n > depth
        The index's Moebius weights w_s(t) of the terms of s = 1..max_order players (row s - 1),
        by t = |T| (``depth``: the trees' largest depth).
    interactions : list of tuple of int
        The sets of players with a term, in the order of the terms' columns (every set of 1 to
        ``max_order`` players that a path can hold).
    budget : int
        Elements of the temporaries built at once while building the tables.

    Attributes
    ----------
    expected_value : float64 tensor (k,) or None
        For the path-dependent game, v(empty): the trees' output averaged over their covers.
    n_terms : int
    patterns : PatternTables or None
        The trees whose paths hold at most ``_TABLE_MAX_SLOTS`` players (while their tables
        fit ``_TABLE_ELEMENTS``), in pattern tables of leaf groups (a look-up per group of
        leaves and column instead of per leaf and set of slots).
    buckets : list of _Bucket
        The other leaves, by the number of players on their paths.
    """

    def __init__(self, trees, members, background, *, weights, interactions, budget):
        self.trees, self.n_players = trees, len(members)
        P = self.n_players
        _, node_player = node_players(trees, members)
        nodes = trees.path_node.cpu().numpy()
        step_player = np.where(nodes >= 0, node_player[np.maximum(nodes, 0)], P)
        n_slots, slot, slot_player = path_slots(step_player, P)
        D, device = nodes.shape[1], trees.device
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 2 or weights.shape[1] <= D:
            raise ValueError(f"weights must have shape (max_order, n) with n > {D} for trees "
                             f"of depth {D}; got {weights.shape}.")
        self.max_order = len(weights)
        self.n_terms = len(interactions)
        column = {tuple(s): c for c, s in enumerate(interactions)}
        self._weights = torch.as_tensor(weights, device=device)
        self._tables = torch.as_tensor(_count_tables(weights, D), device=device)
        self._decide = NodeDecisions(trees, torch.arange(len(trees.feature), device=device))
        self.expected_value, zero = None, None
        self._background = None
        if background is None:
            fraction = _cover_fractions(trees, nodes, trees.path_left.cpu().numpy())
            self.expected_value = torch.as_tensor(
                trees.base.cpu().numpy() + fraction.prod(axis=1) @ trees.leaf_value.cpu().numpy(),
                device=device)
            zero = np.ones((len(nodes), D + 1))
            on = step_player < P
            np.multiply.at(zero, (np.nonzero(on)[0], slot[on]), fraction[on])
        else:
            self._background = self._decide(background).T.contiguous()  # (m, N)
        # trees of short paths: tables of leaf groups
        covers = None if zero is None else (self._weights, torch.as_tensor(zero, device=device),
                                            torch.as_tensor(slot_player, device=device))
        terms = _SetTerms(column, self.max_order, self._tables, covers)
        owner = trees.leaf_tree.cpu().numpy()
        tabled, left = self._choose_tabled(n_slots, owner, terms, _TABLE_ELEMENTS)
        self.patterns, listed = None, n_slots > 0
        if len(tabled):
            self.patterns = PatternTables(
                trees, tabled, node_player, P, int(n_slots[np.isin(owner, tabled)].max()),
                background, budget=budget, terms=terms)
            listed &= ~np.isin(owner, tabled)
        self.buckets = []
        for U in np.unique(n_slots[listed]):  # U == 0: constant leaves, no terms
            where = np.flatnonzero(listed & (n_slots == U))
            bucket = _Bucket(int(U), where, np.minimum(slot[where], U), slot_player[where, :U],
                             None if zero is None else zero[where, :U], column,
                             self.max_order, device)
            size = len(where) * 2 ** int(U) * len(bucket.member)
            if U <= _TABLE_MAX_SLOTS and size <= left:
                bucket.table, left = self._table(bucket), left - size
            self.buckets.append(bucket)

    def _choose_tabled(self, n_slots, owner, terms, left):
        """The trees whose paths hold at most ``_TABLE_MAX_SLOTS`` players, while their
        tables (about 2**U entries per leaf, term and output) fit ``left`` entries; and what
        is left."""
        n_trees = int(owner.max()) + 1 if len(owner) else 0
        widest = np.zeros(n_trees, dtype=np.int64)
        np.maximum.at(widest, owner, n_slots)
        cost = np.zeros(n_trees)
        sets = np.array([terms.n_sets(int(U)) for U in range(int(n_slots.max(initial=0)) + 1)])
        np.add.at(cost, owner, 2.0**n_slots * sets[n_slots] * self.trees.n_outputs)
        tabled = []
        for t in np.flatnonzero((widest <= _TABLE_MAX_SLOTS) & (widest > 0)):
            if cost[t] <= left:
                tabled.append(t)
                left -= cost[t]
        return np.asarray(tabled, dtype=np.int64), left

    def _table(self, bucket):
        """The terms of each leaf of ``bucket`` for each pattern of the slots a row satisfies
        (bit j: slot j), summed over the background: (Lb * 2**U, sets), row
        ``leaf * 2**U + pattern``."""
        U, device, member = bucket.n_slots, bucket.leaves.device, bucket.member
        if self._background is None:  # q = the leaf's cover products, p = the pattern
            return _cover_terms(bucket.zero, self._weights, member).reshape(-1, len(member))
        # the terms of every (row pattern, background pattern) pair, then the background's
        # share of each pattern per leaf
        matrix = pattern_pair_terms(U, self._tables, member)  # (2**U bg, 2**U x, sets)
        share = torch.zeros(len(bucket.leaves), 2**U, dtype=torch.float64, device=device)
        m = len(self._background)
        per = max(1, _CHUNK // max(m * self.trees.path_node.shape[1], 1))
        bits = 2 ** torch.arange(U, device=device, dtype=torch.float64)
        for start in range(0, len(bucket.leaves), per):
            sl = slice(start, start + per)
            B = self._satisfied(self._background, bucket.leaves[sl], bucket.slot[sl], U)
            code = (B * bits).sum(dim=-1).long().T  # (Lc, m)
            share[sl].scatter_add_(1, code, torch.full_like(code, 1.0 / m, dtype=torch.float64))
        return (share @ matrix.reshape(2**U, -1)).reshape(-1, matrix.shape[-1])

    def _satisfied(self, decisions, leaves, slot, U):
        """Whether each row satisfies every split on each slot of ``leaves``: (n, Lc, U)."""
        path = self.trees.path_node[leaves]
        went = decisions.index_select(1, path.clamp(min=0).reshape(-1))
        failed = (went.reshape(len(decisions), *path.shape) != self.trees.path_left[leaves]) \
            & (path >= 0)
        fails = torch.zeros(len(decisions), len(leaves), U + 1, dtype=torch.int32,
                            device=decisions.device)
        fails.scatter_add_(2, slot[None].expand(len(decisions), -1, -1), failed.to(torch.int32))
        return (fails[..., :U] == 0).to(torch.float64)

    def values(self, Zx, budget):
        """Terms (n, n_terms, k) of encoded rows Zx, temporaries of about ``budget`` elements."""
        k = self.trees.n_outputs
        out = torch.zeros(len(Zx), self.n_terms + 1, k, dtype=torch.float64,
                          device=self.trees.device)
        if self.patterns is not None:
            self.patterns.add_values(out, Zx, budget)
        step = _ROWS if Zx.device.type == "cpu" else len(Zx)
        if self.buckets:
            for start in range(0, len(Zx), step):
                self._block(out[start : start + step], Zx[start : start + step], budget)
        return out[:, :-1]

    def _block(self, out, Zx, budget):
        """Add the buckets' terms of a block of rows to ``out`` (n, n_terms + 1, k)."""
        trees, n, k = self.trees, len(Zx), self.trees.n_outputs
        decisions = self._decide(Zx).T.contiguous()
        m = 1 if self._background is None else len(self._background)
        for bucket in self.buckets:
            U, leaves, slot, n_sets = bucket.n_slots, bucket.leaves, bucket.slot, len(bucket.member)
            if bucket.table is not None:
                width, fixed = 2 * U + 2 * n_sets * (k + 1), 0
            elif self._background is None:
                width, fixed = n_sets * (U + 3 + k), 0
            else:  # per leaf: the background's sides of the widest group of sets
                width = 3 * m + n_sets * (k + 2) + bucket.widest
                fixed = m * (U + 2 * bucket.widest)
            per_pass = max(1, budget // max(n * width + fixed, 1))
            for start in range(0, len(leaves), per_pass):
                sl = slice(start, start + per_pass)
                X = self._satisfied(decisions, leaves[sl], slot[sl], U)  # (n, Lc, U)
                if bucket.table is not None:  # look the terms up by the row's pattern
                    bits = 2 ** torch.arange(U, device=X.device, dtype=torch.float64)
                    at = (X * bits).sum(dim=-1).long() + (
                        torch.arange(start, start + X.shape[1], device=X.device) << U)
                    terms = rows_of(bucket.table, at.reshape(-1)).reshape(n, X.shape[1], -1)
                elif self._background is None:
                    terms = product_game_terms(X, bucket.zero[sl][None].expand(n, -1, -1),
                                               self._weights, bucket.member)
                else:
                    B = self._satisfied(self._background, leaves[sl], slot[sl], U)
                    terms = self._interventional(X.transpose(0, 1), B.permute(1, 2, 0), bucket)
                    terms = terms.transpose(0, 1)
                weighted = terms[..., None] * trees.leaf_value[leaves[sl]][None, :, None, :]
                out.index_add_(1, bucket.pos[sl].reshape(-1), weighted.reshape(n, -1, k))

    def _interventional(self, X, B, bucket):
        """Mean over the background of the terms of each leaf's indicator game, (Lc, n, sets):
        X (Lc, n, U) the slots each row satisfies, B (Lc, U, m) those each background row
        does. A set S of slots with alpha of them in A (x satisfies, b fails) and the others
        in B has the term (-1)^(s - alpha) K_s[a - alpha, b - s + alpha]: for each (s, alpha)
        a matrix product of those coefficients (rows x background) with the background's side
        of each (set, sides) ((1 - b_j) on A, b_j on B), times the row's side."""
        Lc, n, U = X.shape
        m = B.shape[2]
        both = torch.bmm(X, B)
        a = (X.sum(dim=2)[:, :, None] - both).long()
        b = (B.sum(dim=1)[:, None, :] - both).long()
        reach = ((a + b + both.long()) == U).to(torch.float64) / m
        Bt = B.transpose(1, 2)  # (Lc, m, U)
        out = torch.zeros(Lc, n, len(bucket.member), dtype=torch.float64, device=X.device)
        for s, alpha, sets, on_a, on_b in bucket.sided:
            c = reach * self._tables[s - 1][(a - alpha).clamp(min=0),
                                            (b - s + alpha).clamp(min=0)]  # (Lc, n, m)
            b_side = torch.ones(Lc, m, len(sets), dtype=torch.float64, device=X.device)
            x_side = torch.ones(Lc, n, len(sets), dtype=torch.float64, device=X.device)
            for j in range(U):
                if on_a[:, j].any():
                    b_side *= torch.where(on_a[:, j], 1.0 - Bt[..., j, None], 1.0)
                    x_side *= torch.where(on_a[:, j], X[..., j, None], 1.0)
                if on_b[:, j].any():
                    b_side *= torch.where(on_b[:, j], Bt[..., j, None], 1.0)
                    x_side *= torch.where(on_b[:, j], 1.0 - X[..., j, None], 1.0)
            sign = -1.0 if (s - alpha) % 2 else 1.0
            out.index_add_(2, sets, sign * x_side * torch.bmm(c, b_side))
        return out


class _SetTerms:
    """What :class:`~sklxai.games.trees.patterns.PatternTables` tabulates for the terms: a
    leaf of U slots has a term for each set of 1 to ``max_order`` of them
    (:func:`slot_subsets`), in the column of its players' set (``column``). Interventional
    game: its table is the background's share of each pattern times the terms of every
    (row pattern, background pattern) pair (:func:`pattern_pair_terms`, one matrix per U).
    Path-dependent game (``covers``: the weights, every leaf's cover products and players by
    slot): the product game's terms of each pattern and the leaf's cover products."""

    def __init__(self, column, max_order, K, covers=None):
        self.column, self.max_order, self.K, self.covers = column, max_order, K, covers
        self.n_targets = len(column)
        self._matrix = {}

    def n_sets(self, U):
        return sum(math.comb(U, s) for s in range(1, min(self.max_order, U) + 1))

    def targets(self, slot_player, n_slots):
        L = len(slot_player)
        out = np.full((L, max(1, self.n_sets(int(n_slots.max(initial=0))))), self.n_targets,
                      dtype=np.int64)
        for U in np.unique(n_slots[n_slots > 0]):
            rows = np.flatnonzero(n_slots == U)
            member = slot_subsets(int(U), self.max_order)
            out[rows, : len(member)] = _columns(slot_player[rows, :U], member, self.column)
        return out

    def tables(self, share, U, leaves, slot_player):
        device = share.device
        member = torch.as_tensor(slot_subsets(U, self.max_order), device=device)
        if self.covers is None:
            if U not in self._matrix:
                self._matrix[U] = pattern_pair_terms(U, self.K, member).reshape(2**U, -1)
            return (share @ self._matrix[U]).reshape(len(share), 2**U, -1)
        weights, zero, players = self.covers
        leaves = torch.as_tensor(leaves, device=device)
        # each slot's cover product, found by its player among the leaf's
        slot_player = torch.as_tensor(slot_player, device=device)
        same = players[leaves][:, None, :] == slot_player[..., None]
        return _cover_terms((same * zero[leaves][:, None, :]).sum(dim=-1), weights, member)


class _Bucket:
    """Leaves whose paths hold ``n_slots`` players: their ids, each path step's slot
    (``n_slots`` for padding), the slots' cover products (path-dependent game), the sets of
    slots with a term (``member``, :func:`slot_subsets`), the (set, sides) groups of the
    interventional terms (``sided``, :func:`_sided_sets`), each leaf's column of each set
    (``pos``, (Lb, sets); the column past the last where a set is not a term) and, when built,
    the leaves' tables of terms."""

    def __init__(self, n_slots, leaves, slot, slot_player, zero, column, max_order, device):
        U = n_slots
        self.table, self.n_slots = None, U
        self.leaves = torch.as_tensor(leaves, device=device)
        self.slot = torch.as_tensor(slot, device=device)
        self.zero = None if zero is None else torch.as_tensor(zero, dtype=torch.float64,
                                                               device=device)
        member = slot_subsets(U, max_order)
        self.member = torch.as_tensor(member, device=device)
        self.sided = [(s, alpha, torch.as_tensor(sets, device=device),
                       torch.as_tensor(on_a, device=device), torch.as_tensor(on_b, device=device))
                      for s, alpha, sets, on_a, on_b in _sided_sets(self.member)]
        self.widest = max(len(g[2]) for g in self.sided)
        self.pos = torch.as_tensor(_columns(slot_player, member, column), device=device)


def _columns(slot_player, member, column):
    """The column of each leaf's (rows of ``slot_player``, (L, U)) set of slots (``member``):
    its players' set looked up in ``column`` (sets of players -> columns), len(column) where it
    has none. (L, sets)."""
    L, U = slot_player.shape
    width = int(member.sum(axis=1).max())
    # each set's slots, padded with U (a slot of player P: sorts last, dropped)
    index = np.full((len(member), width), U, dtype=np.int64)
    for row, m in enumerate(member):
        slots = np.flatnonzero(m)
        index[row, : len(slots)] = slots
    P = int(slot_player.max()) + 1 if slot_player.size else 0
    players = np.concatenate([slot_player, np.full((L, 1), P)], axis=1)[:, index]
    players = np.sort(players, axis=2).reshape(-1, width)
    unique, inverse = np.unique(players, axis=0, return_inverse=True)
    found = np.array([column.get(tuple(int(p) for p in row if p < P), len(column))
                      for row in unique], dtype=np.int64)
    return found[inverse.reshape(-1)].reshape(L, len(member))
