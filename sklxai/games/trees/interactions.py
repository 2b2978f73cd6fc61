"""Exact interaction indices (orders 1 and 2) of tree ensembles, leaf by leaf.

Each index here (k-SII, SII, STII, FSII, BII) is a weighted sum of the game's Moebius
coefficients m(T) over the supersets T of the set S explained,
I(S) = sum_{T superset of S} w_|S|(|T|) m(T), the weights given (the explainer computes them:
:mod:`~sklxai.explainers.tree_interactions`). They depend on |T| and |S| only, so a sum of games has the sum of their terms, and each leaf's game is a
*product game* over the players on its path (its slots)::

    g(S) = prod_{j in S} p_j  prod_{j not in S} q_j,

whose Moebius coefficients are m(T) = prod_{j in T} (p_j - q_j) prod_{j not in T} q_j. The term
of a set S of slots is therefore prod_{j in S} (p_j - q_j) sum_r w_|S|(|S| + r) e_r, with e_r
the coefficients of the polynomial prod_{j not in S} (q_j + (p_j - q_j) t) (players off the
path are dummies: their terms are 0).

- Interventional game, one explained row x and one background row b: p_j = 1 when x satisfies
  every split on j along the path, q_j = 1 when b does (the indicator 1[A in S] 1[B disjoint
  from S] of ``docs/design.rst``). The polynomial is t^a' (1-t)^b' (a', b': the slots of A and
  B outside S), so the terms are closed forms K_s[a', b'] = sum_u w_s(s + a' + u) (-1)^u C(b', u)
  with the sign of the B slots in S: :func:`_count_tables`, averaged over the background as
  batched matrix products (:meth:`InteractionTerms._interventional`).
- Path-dependent game: p_j = x's indicator and q_j = the slot's cover product (see
  :mod:`~sklxai.games.trees.path_dependent`); the polynomials without one or two slots are
  built factor by factor (:func:`product_game_terms`), O(U^4) per leaf and row.

Leaves with at most ``_TABLE_MAX_SLOTS`` players get, at construction, their terms for each of
the 2**U patterns of the slots a row satisfies: for the interventional game the terms of every
(row pattern, background pattern) pair times the leaf's share of background rows per pattern;
explaining a row is then one look-up per leaf, whatever the background's size.
"""

import math

import numpy as np
import torch

from sklxai.games.trees.closed_form import rows_of
from sklxai.games.trees.path_dependent import _cover_fractions, _slots
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


def _count_tables(weights, depth):
    """K[s - 1][a', b'] = sum_u w_s(s + a' + u) (-1)^u C(b', u) for s = 1, 2 and a', b' in
    0..depth: a term of a leaf's interventional indicator with a' A slots and b' B slots
    besides the set's own."""
    tables = []
    for s in (1, 2):
        w = weights[s - 1]
        K = np.zeros((depth + 1, depth + 1))
        for a in range(depth + 1):
            for b in range(depth + 1):
                K[a, b] = sum(w[s + a + u] * (-1) ** u * math.comb(b, u) for u in range(b + 1))
        tables.append(K)
    return np.stack(tables)


def product_game_terms(p, q, w1, w2):
    """Order-1 and order-2 terms of the product games prod_{j in S} p_j prod_{j not in S} q_j.

    Parameters
    ----------
    p, q : float64 tensors (..., U)
    w1, w2 : float64 tensors (U + 2,)
        The Moebius weights of the index's terms of one and of two players, by |T|.

    Returns
    -------
    terms : float64 tensor (..., U, U)
        The pair terms off the diagonal (symmetric), each slot's own term on it.
    """
    U = p.shape[-1]
    delta = p - q
    # coef[..., i, j, r]: coefficient of t^r of prod over the slots other than i and j
    coef = torch.zeros(*p.shape[:-1], U, U, U + 1, dtype=torch.float64, device=p.device)
    coef[..., 0] = 1.0
    eye = torch.eye(U, dtype=torch.bool, device=p.device)
    for k in range(U):
        keep = ~(eye[k][:, None] | eye[k][None, :])  # pairs without slot k
        new = coef * q[..., k, None, None, None]
        new[..., 1:] += coef[..., :-1] * delta[..., k, None, None, None]
        coef = torch.where(keep[..., None], new, coef)
    pair = (coef * w2[2 : U + 3]).sum(dim=-1) * delta[..., :, None] * delta[..., None, :]
    own = (coef.diagonal(dim1=-3, dim2=-2) * w1[1 : U + 2, None]).sum(dim=-2) * delta
    return torch.where(eye, torch.diag_embed(own), pair)


class InteractionTerms:
    """Exact interaction terms of orders 1 and 2 of a tree ensemble's interventional (against
    background rows) or path-dependent game, batched over rows, leaves and background rows.

    Parameters
    ----------
    trees : sklxai.models.trees.TreeEnsemble
        The trees, on the device where the terms are computed.
    members : list of int arrays
        The input columns of each player.
    background : float64 tensor (m, n_features) or None
        Encoded background rows (one for the baseline game); None: the path-dependent game.
    weights : float array (2, 2 * depth + 3)
        The index's Moebius weights w_s(t) of the terms of one (row 0) and two (row 1)
        players, by t = |T| (``depth``: the trees' largest depth).
    max_order : {1, 2}
    positions : int array (P + 1, P + 1)
        The column of each term: [i, i] player i's own term, [i, j] (i < j) the pair's; row
        and column P (padding) point at a column past the last, which is dropped.

    Attributes
    ----------
    expected_value : float64 tensor (k,) or None
        For the path-dependent game, v(empty): the trees' output averaged over their covers.
    """

    def __init__(self, trees, members, background, *, weights, max_order, positions):
        self.trees, self.max_order, self.n_players = trees, max_order, len(members)
        P = self.n_players
        player_of_input = np.full(trees.n_inputs, P, dtype=np.int64)
        for p, cols in enumerate(members):
            player_of_input[np.asarray(cols, dtype=np.int64)] = p
        node_player = trees.node_players(player_of_input, P)
        nodes = trees.path_node.cpu().numpy()
        step_player = np.where(nodes >= 0, node_player[np.maximum(nodes, 0)], P)
        n_slots, slot, slot_player = _slots(step_player, P)
        D, device = nodes.shape[1], trees.device
        self.positions = torch.as_tensor(positions, device=device)
        self.n_terms = int(positions.max())
        self._decide = NodeDecisions(trees, torch.arange(len(trees.feature), device=device))
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (2, 2 * D + 3):
            raise ValueError(f"weights must have shape (2, {2 * D + 3}) for trees of depth {D}; "
                             f"got {weights.shape}.")
        self._weights = list(torch.as_tensor(weights, device=device))
        self._tables = torch.as_tensor(_count_tables(weights, D), device=device)
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
        self.buckets, left = [], _TABLE_ELEMENTS
        for U in np.unique(n_slots[n_slots > 0]):  # U == 0: constant leaves, no terms
            where = np.flatnonzero(n_slots == U)
            bucket = _Bucket(int(U), where, np.minimum(slot[where], U), slot_player[where, :U],
                             None if zero is None else zero[where, :U], self.positions,
                             max_order, device)
            size = len(where) * 2 ** int(U) * bucket.keep.sum().item()
            if U <= _TABLE_MAX_SLOTS and size <= left:
                bucket.table, left = self._table(bucket), left - size
            self.buckets.append(bucket)

    def _table(self, bucket):
        """The terms of each leaf of ``bucket`` for each pattern of the slots a row satisfies
        (bit j: slot j), summed over the background: (Lb * 2**U, terms kept), row
        ``leaf * 2**U + pattern``."""
        U, device = bucket.n_slots, bucket.leaves.device
        patterns = ((torch.arange(2**U, device=device)[:, None]
                     >> torch.arange(U, device=device)) & 1).to(torch.float64)  # (2**U, U)
        step = max(1, _CHUNK // (2**U * U * U * (U + 1)))  # leaves (or patterns) per pass
        if self._background is None:  # q = the leaf's cover products, p = the pattern
            return torch.cat([
                product_game_terms(patterns.expand(len(z), -1, -1),
                                   z[:, None, :].expand(-1, 2**U, -1), *self._weights)
                [..., bucket.keep].reshape(-1, int(bucket.keep.sum()))
                for z in bucket.zero.split(step)])
        # the terms of every (row pattern, background pattern) pair, then the background's
        # share of each pattern per leaf
        matrix = torch.cat([
            product_game_terms(patterns.expand(len(q), -1, -1),
                               q[:, None, :].expand(-1, 2**U, -1), *self._weights)
            [..., bucket.keep] for q in patterns.split(step)])  # (2**U bg, 2**U x, kept)
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
        step = _ROWS if Zx.device.type == "cpu" else len(Zx)
        return torch.cat([self._block(Zx[start : start + step], budget)
                          for start in range(0, len(Zx), step)])

    def _block(self, Zx, budget):
        """:meth:`values` of a block of rows."""
        trees, n, k = self.trees, len(Zx), self.trees.n_outputs
        out = torch.zeros(n, self.n_terms + 1, k, dtype=torch.float64, device=trees.device)
        decisions = self._decide(Zx).T.contiguous()
        m = 1 if self._background is None else len(self._background)
        for bucket in self.buckets:
            U, leaves, slot, keep = bucket.n_slots, bucket.leaves, bucket.slot, bucket.keep
            if bucket.table is not None:
                width = 2 * U + 2 * int(keep.sum()) * (k + 1)
            elif self._background is None:
                width = U**3 + U * U * k
            else:
                width = (m + k) * (U * U + 2)
            per_pass = max(1, budget // max(n * width + m * U * U * 3, 1))
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
                                               *self._weights)[..., keep]
                else:
                    B = self._satisfied(self._background, leaves[sl], slot[sl], U)
                    terms = self._interventional(X.transpose(0, 1), B.permute(1, 2, 0))
                    terms = terms.transpose(0, 1)[..., keep]
                weighted = terms[..., None] * trees.leaf_value[leaves[sl]][None, :, None, :]
                out.index_add_(1, bucket.pos[sl].reshape(-1), weighted.reshape(n, -1, k))
        return out[:, :-1]

    def _interventional(self, X, B):
        """Mean over the background of the terms of each leaf's indicator game, (Lc, n, U, U):
        X (Lc, n, U) the slots each row satisfies, B (Lc, U, m) those each background row
        does."""
        Lc, n, U = X.shape
        m = B.shape[2]
        both = torch.bmm(X, B)
        a = (X.sum(dim=2)[:, :, None] - both).long()
        b = (B.sum(dim=1)[:, None, :] - both).long()
        reach = ((a + b + both.long()) == U).to(torch.float64) / m
        K1, K2 = self._tables[0], self._tables[1]

        def coef(K, da, db):
            return reach * K[(a - da).clamp(min=0), (b - db).clamp(min=0)]  # (Lc, n, m)

        NB = 1.0 - B
        Bt, NBt = B.transpose(1, 2), NB.transpose(1, 2)  # (Lc, m, U)
        NX = 1.0 - X
        own = X * torch.bmm(coef(K1, 1, 0), NBt) - NX * torch.bmm(coef(K1, 0, 1), Bt)

        def outer(L, R):  # (Lc, m, U * U)
            return (L[:, :, :, None] * R[:, :, None, :]).reshape(Lc, m, U * U)

        def pairs(c, L, R):
            return torch.bmm(c, outer(L, R)).reshape(Lc, n, U, U)

        xx = X[..., :, None] * X[..., None, :]
        nn = NX[..., :, None] * NX[..., None, :]
        xn = X[..., :, None] * NX[..., None, :]
        ab = pairs(coef(K2, 1, 1), NBt, Bt)
        pair = (xx * pairs(coef(K2, 2, 0), NBt, NBt) + nn * pairs(coef(K2, 0, 2), Bt, Bt)
                - xn * ab - xn.transpose(-1, -2) * ab.transpose(-1, -2))
        eye = torch.eye(U, dtype=torch.bool, device=X.device)
        return torch.where(eye, torch.diag_embed(own), pair)


class _Bucket:
    """Leaves whose paths hold ``n_slots`` players: their ids, each path step's slot
    (``n_slots`` for padding), each slot's player, the slots' cover products (path-dependent
    game), which (slot, slot) cells are terms (``keep``: the diagonal, and above it for pairs),
    their columns (``pos``, (Lb, kept)) and, when built, the leaves' tables of terms."""

    def __init__(self, n_slots, leaves, slot, slot_player, zero, positions, max_order, device):
        U = n_slots
        self.table, self.n_slots = None, U
        self.leaves = torch.as_tensor(leaves, device=device)
        self.slot = torch.as_tensor(slot, device=device)
        player = torch.as_tensor(slot_player, device=device)
        self.zero = None if zero is None else torch.as_tensor(zero, dtype=torch.float64,
                                                               device=device)
        eye = torch.eye(U, dtype=torch.bool, device=device)
        self.keep = torch.ones_like(eye).triu() if max_order >= 2 else eye
        self.pos = positions[player[:, :, None], player[:, None, :]][:, self.keep]
