"""Exact Shapley and Banzhaf values of the path-dependent game of a tree ensemble.

The path-dependent game (Lundberg et al., 2020; shap's ``feature_perturbation=
"tree_path_dependent"``, XGBoost's ``pred_contribs``, LightGBM's ``pred_contrib``) needs no
background: v_x(S) is the trees' expected output when the players outside S are unknown, each
split on such a player sending the row to both children in proportion to the training weight
that reached them (their *covers*, :attr:`~sklxai.models.trees.TreeEnsemble.node_cover`), each
split on a player of S sending it where x goes.

A leaf l therefore adds value_l times a product over the players on its path (its *slots*)::

    v_l(S) = prod_{j in S} a_j  prod_{j not in S} z_j

where a_j = 1 when x satisfies every split on j along the path (else 0) and z_j is the product
of the cover fractions cover(next node) / cover(node) of those splits (the share of the training
weight that the path keeps through them). A product game has closed-form values:

- Shapley: with e^(-i) the coefficients of the polynomial prod_{j != i} (z_j + a_j t),
  phi_i = (a_i - z_i) sum_k w_k e^(-i)_k, w_k = k! (U-1-k)! / U!. Computed from prefix
  products and a backward recursion of weighted suffix sums (:func:`shapley_of_products`),
  without dividing any factor out of the whole product: dividing out cancels catastrophically
  on long paths, which is how the usual path-dependent algorithm loses additivity on deep
  trees. O(U^2) per leaf and row, sums of non-negative terms, in float64 at any depth.
  Leaves with at most ``_TABLE_MAX_SLOTS`` players get their values for all 2**U patterns of a
  at construction, so that a row costs one look-up per leaf.
- Banzhaf: beta_i = (a_i - z_i) prod_{j != i} (a_j + z_j) / 2 (products of the others from
  prefix and suffix products, no division).

Summed over leaves, the Shapley values add up to f(x) minus the covers' expected value
(v(empty) = sum_l value_l prod_j z_j, plus the model's base). With feature groups, the players
are groups: a_j and z_j gather every split on the group's columns along the path.
"""

import math

import numpy as np
import torch

from sklxai.games.trees._players import node_players, path_slots
from sklxai.models.trees.walk import NodeDecisions

#: leaves whose paths hold at most this many players get, at construction, a table of their
#: values for each of the 2**U patterns of the splits x satisfies (a look-up per row)...
_TABLE_MAX_SLOTS = 10
#: ...while all tables together hold at most this many float64 entries (256 MiB)
_TABLE_ELEMENTS = 2**25


class PathDependentValues:
    """Exact values of the path-dependent game of a tree ensemble, batched over rows and leaves.

    Parameters
    ----------
    trees : sklxai.models.trees.TreeEnsemble
        The trees, on the device where the values are computed, with their ``node_cover``.
    members : list of int arrays
        The input columns of each player (every column in exactly one player).
    index : {"SV", "BV"}
        Shapley or Banzhaf values.

    Attributes
    ----------
    expected_value : float64 tensor (k,)
        v(empty): the trees' output averaged over their covers, plus the model's base.
    buckets : list of _Leaves
        The leaves grouped by the number of players on their paths, with their value tables
        (for each pattern of a) where they hold at most ``_TABLE_MAX_SLOTS`` players and the
        tables fit ``_TABLE_ELEMENTS``.
    n_players : int

    Raises
    ------
    ValueError
        When the trees carry no covers.
    """

    def __init__(self, trees, members, *, index="SV"):
        if trees.node_cover is None:
            raise ValueError("these trees record no node covers (the training weight that "
                             "reached each node), which the path-dependent game needs; explain "
                             "the model with game='marginal' and a background instead.")
        self.trees, self.index, self.n_players = trees, index, len(members)
        P = self.n_players
        _, node_player = node_players(trees, members)
        nodes = trees.path_node.cpu().numpy()  # (L, D), -1 padded
        step_player = np.where(nodes >= 0, node_player[np.maximum(nodes, 0)], P)
        fraction = _cover_fractions(trees, nodes, trees.path_left.cpu().numpy())
        value = trees.leaf_value.cpu().numpy()
        self.expected_value = torch.as_tensor(
            trees.base.cpu().numpy() + (fraction.prod(axis=1) @ value), device=trees.device)
        n_slots, slot, slot_player = path_slots(step_player, P)
        zero = np.ones((len(nodes), nodes.shape[1] + 1))  # z_j of each slot (1 beyond U)
        np.multiply.at(zero, (np.nonzero(step_player < P)[0], slot[step_player < P]),
                       fraction[step_player < P])
        self.buckets, left = [], _TABLE_ELEMENTS
        for U in np.unique(n_slots[n_slots > 0]):  # U == 0: the leaf is in v(empty) only
            where = np.flatnonzero(n_slots == U)
            bucket = _Leaves(int(U), where, np.minimum(slot[where], U), slot_player[where, :U],
                             zero[where, :U], trees.device)
            size = len(where) * 2 ** int(U) * int(U) * trees.n_outputs  # Python ints
            if U <= _TABLE_MAX_SLOTS and size <= left:
                bucket.table, left = self._table(bucket), left - size
            self.buckets.append(bucket)

    def _solve(self, a, z):
        return (banzhaf_of_products if self.index == "BV" else shapley_of_products)(a, z)

    def _table(self, bucket):
        """The values of each leaf of ``bucket`` for every pattern of a, times the leaf's
        values: (Lb * 2**U, U * k), row ``leaf * 2**U + pattern``."""
        U, device = bucket.n_slots, bucket.zero.device
        patterns = ((torch.arange(2**U, device=device)[:, None] >> torch.arange(U, device=device))
                    & 1).double()  # (2**U, U): bit j of the pattern is a_j
        step = max(1, 2**20 // (2**U * U * (U + 1)))  # leaves per pass
        table = torch.cat([
            self._solve(patterns.expand(len(z), -1, -1), z[:, None, :].expand(-1, 2**U, -1))
            for z in bucket.zero.split(step)])
        value = self.trees.leaf_value[bucket.leaves]  # (Lb, k)
        return (table[..., None] * value[:, None, None, :]).reshape(-1, U * value.shape[1])

    def values(self, Zx, budget):
        """Values (n, P + 1, k) of encoded rows Zx (the last player column is padding and
        collects nothing), temporaries of at most about ``budget`` elements."""
        trees, k = self.trees, self.trees.n_outputs
        phi = torch.zeros(len(Zx), self.n_players + 1, k, dtype=torch.float64,
                          device=trees.device)
        nodes = torch.arange(len(trees.feature), device=trees.device)
        decide = NodeDecisions(trees, nodes)
        step = max(1, budget // max(len(nodes), 1))
        for start in range(0, len(Zx), step):  # every node's decision, rows at a time
            decisions = decide(Zx[start : start + step]).T.contiguous()  # (n, N)
            self._add_values(phi[start : start + step], decisions, budget)
        return phi

    def _add_values(self, phi, decisions, budget):
        """Add the values of rows whose decisions at every node are ``decisions`` to phi."""
        trees, n, k = self.trees, len(phi), self.trees.n_outputs
        depth = max(trees.depth, 1)
        for bucket in self.buckets:
            U = bucket.n_slots
            width = U * (U + 1) if bucket.table is None else U
            per_pass = max(1, budget // max(n * (width + depth + k), 1))
            for start in range(0, len(bucket.leaves), per_pass):
                sl = slice(start, start + per_pass)
                leaves, slot = bucket.leaves[sl], bucket.slot[sl]
                path = trees.path_node[leaves]  # (Lc, D), -1 padded
                went = decisions.index_select(1, path.clamp(min=0).reshape(-1))
                failed = (went.reshape(n, *path.shape) != trees.path_left[leaves]) & (path >= 0)
                if bucket.table is not None:  # look the values up by x's pattern
                    missed = torch.zeros(n, len(leaves), dtype=torch.long, device=phi.device)
                    for d in range(path.shape[1]):  # the slots x fails (bit U: padding)
                        missed |= failed[..., d].long() << slot[:, d]
                    bits = ~missed & (2**U - 1)
                    at = bits + (torch.arange(start, start + len(leaves), device=phi.device)
                                 << U)[None, :]
                    per_slot = bucket.table.index_select(0, at.reshape(-1))
                else:
                    fails = torch.zeros(n, len(leaves), U + 1, dtype=torch.int32,
                                        device=phi.device)
                    fails.scatter_add_(2, slot[None].expand(n, -1, -1), failed.to(torch.int32))
                    a = (fails[..., :U] == 0).double()  # (n, Lc, U)
                    contrib = self._solve(a, bucket.zero[sl][None].expand(n, -1, -1))
                    per_slot = contrib[..., None] * trees.leaf_value[leaves][None, :, None, :]
                phi.index_add_(1, bucket.slot_player[sl].reshape(-1),
                               per_slot.reshape(n, -1, k))


class _Leaves:
    """Leaves whose paths hold ``n_slots`` players: their ids, each path step's slot
    (``n_slots`` for padding), each slot's player, its cover product z_j, and (when built) the
    leaves' value tables."""

    def __init__(self, n_slots, leaves, slot, slot_player, zero, device):
        self.table = None
        self.n_slots = n_slots
        self.leaves = torch.as_tensor(leaves, device=device)
        self.slot = torch.as_tensor(slot, device=device)
        self.slot_player = torch.as_tensor(slot_player, device=device)
        self.zero = torch.as_tensor(zero, dtype=torch.float64, device=device)


def shapley_of_products(a, z):
    """Shapley values of the product games v(S) = prod_{j in S} a_j prod_{j not in S} z_j.

    phi_i = (a_i - z_i) S_i with S_i = sum_k w_k e^(-i)_k, e^(-i) the coefficients of
    prod_{j != i} (z_j + a_j t) and w_k = k! (U-1-k)! / U!. Without dividing a factor out of
    the whole product (which cancels catastrophically on long paths): with Pre_i the product
    of the factors before i and T_i[p] = sum_s Suf_i[s] w_{p+s} (Suf_i the product of the
    factors after i), S_i = sum_p Pre_i[p] T_i[p], and T_i follows from T_{i+1} as
    T_i[p] = z_{i+1} T_{i+1}[p] + a_{i+1} T_{i+1}[p+1]. Every term is a sum of products of
    non-negative numbers, so S_i has a relative error of a few U x the float64 epsilon.

    Parameters
    ----------
    a : float64 tensor (..., U)
        0 or 1: whether x satisfies the player's splits.
    z : float64 tensor (..., U)
        In [0, 1]: the player's cover product.

    Returns
    -------
    float64 tensor (..., U)
    """
    U = a.shape[-1]
    w = torch.tensor([math.factorial(s) * math.factorial(U - 1 - s) / math.factorial(U)
                      for s in range(U)] + [0.0], dtype=torch.float64, device=a.device)
    lead = a.shape[:-1]
    a_by_slot = a.movedim(-1, 0).contiguous()[..., None]  # (U, ..., 1): contiguous slices
    z_by_slot = z.movedim(-1, 0).contiguous()[..., None]
    after = torch.empty(U, *lead, U + 1, dtype=torch.float64, device=a.device)  # T_i
    t = after[U - 1]
    t.copy_(w.expand(*lead, U + 1))
    for i in range(U - 2, -1, -1):
        torch.mul(t, z_by_slot[i + 1], out=after[i])
        after[i][..., :-1].addcmul_(t[..., 1:], a_by_slot[i + 1])
        t = after[i]
    pre = torch.zeros(*lead, U + 1, dtype=torch.float64, device=a.device)
    pre[..., 0] = 1.0
    total = []
    for i in range(U):
        total.append((pre * after[i]).sum(dim=-1))
        shifted = pre[..., :-1] * a_by_slot[i]
        pre.mul_(z_by_slot[i])
        pre[..., 1:] += shifted
    return (a - z) * torch.stack(total, dim=-1)


def banzhaf_of_products(a, z):
    """Banzhaf values of the same product games: (a_i - z_i) prod_{j != i} (a_j + z_j) / 2,
    shapes as :func:`shapley_of_products`."""
    half = (a + z) / 2.0
    ones = torch.ones_like(half[..., :1])
    before = torch.cumprod(torch.cat([ones, half[..., :-1]], dim=-1), dim=-1)
    after = torch.cumprod(torch.cat([ones, half.flip(-1)[..., :-1]], dim=-1), dim=-1).flip(-1)
    return (a - z) * before * after


def _cover_fractions(trees, nodes, lefts):
    """cover(next node on the path) / cover(node) of every path step (L, D); 1 for padding,
    1/2 below a node whose cover is 0 (no training weight to divide)."""
    cover = trees.node_cover.cpu().numpy()
    node = np.maximum(nodes, 0)
    after = trees.children[node, np.where(lefts, 0, 1)]
    parent = cover[node]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(parent > 0, cover[np.maximum(after, 0)] / parent, 0.5)
    return np.where(nodes >= 0, fraction, 1.0)

