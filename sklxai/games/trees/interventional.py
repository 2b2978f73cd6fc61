"""Exact Shapley values of the interventional (marginal) game of a tree ensemble.

Summed over leaves (times their values) and averaged over the background, the closed forms of
:mod:`~sklxai.games.trees.closed_form` are the exact values of the marginal game, the game of
:class:`~sklxai.ExactShapley` and :class:`~sklxai.games.MarginalGame`. :class:`InterventionalValues`
chooses, per tree, how its leaves are computed:

- "table": every leaf's path holds at most ``_TABLE_MAX_SLOTS`` players, and the tables of all
  such trees fit ``_TABLE_ELEMENTS``: the background is folded into pattern tables at ``fit``
  (:class:`~sklxai.games.trees.patterns.PatternTables`); a row costs one comparison per node
  and one look-up per group of leaves and player, whatever the background's size;
- "walk": the other trees, up to ``_WALK_MAX_PLAYERS`` players, are walked by (row, set of
  background rows) walkers that visit only the leaves they can reach
  (:class:`~sklxai.models.trees.walk.TreeWalk`);
- "dense": beyond that, products over rows x background x leaves
  (:func:`~sklxai.games.trees.closed_form.leaf_contributions`).

Leaves of dense trees are grouped by the number U of players on their paths (:class:`_Bucket`):
each path step maps to a slot (one per player on the path), each slot to its player.
:class:`~sklxai.TreeShapley` is the estimator built on this.
"""

import numpy as np
import torch

from sklxai.games.trees._players import node_players, path_slots
from sklxai.games.trees.closed_form import leaf_contributions, leaf_weights, rows_of
from sklxai.games.trees.patterns import PatternTables
from sklxai.models.trees.walk import LeafSink, TreeWalk, popcount

#: leaves whose paths hold U players get a table of their values for each of the 2**U ways x
#: can satisfy them, when building it (3**U terms per leaf) is cheap enough...
_TABLE_MAX_SLOTS = 10
#: ...and all tables together hold at most this many float64 entries (512 MiB)
_TABLE_ELEMENTS = 2**26
#: other trees are walked by (row, background row) pairs, the players on a path being bits
#: of an int64 (one is left for the sign)
_WALK_MAX_PLAYERS = 62
#: walked leaves are summed per subset of players when there are at most this many (tables of
#: 2**P entries per row)
_SUBSET_PLAYERS = 16


class InterventionalValues:
    """Exact interventional Shapley values of a tree ensemble against fixed background rows.

    Parameters
    ----------
    trees : sklxai.models.trees.TreeEnsemble
        The trees, on the device where the values are computed.
    members : list of int arrays
        The input columns of each player (every column in at most one player).
    background : float64 tensor (m, n_features)
        Background rows through :meth:`~sklxai.models.trees.TreeEnsemble.encode` (one row for
        the baseline game).
    budget : int
        Elements of the temporaries built at once (the tables are built in chunks of it).
    index : {"SV", "BV"}
        Shapley values, or Banzhaf values (the closed forms' weights are ``2**-(|A|+|B|-1)``).

    Attributes
    ----------
    buckets : list of _Bucket
        Leaves of dense trees grouped by the number of players on their paths.
    patterns : PatternTables or None
        The table trees, if any.
    walked : _WalkedTrees or None
        The walked trees, if any.
    n_players : int
    """

    def __init__(self, trees, members, background, *, budget, index="SV"):
        self.trees, self.background, self.n_players = trees, background, len(members)
        self.index = index
        P = self.n_players
        player_of_input, node_player = node_players(trees, members)
        owner = trees.leaf_tree.cpu().numpy()
        if P <= _WALK_MAX_PLAYERS:  # players on each path, as bits of a word
            on_path = trees.path_or(np.where(node_player < P, np.left_shift(1, node_player), 0))
            n_slots = sum((on_path >> p) & 1 for p in range(P)) if P else np.zeros_like(owner)
            method = self._choose_methods(n_slots, owner)
            slotted = np.flatnonzero(method[owner] == "dense")
            _, slot, slot_player = self._slots(slotted, node_player)
        else:
            slotted = np.arange(trees.n_leaves)
            n_slots, slot, slot_player = self._slots(slotted, node_player)
            method = self._choose_methods(n_slots, owner)
        self.buckets = []
        for U in np.unique(n_slots[slotted][n_slots[slotted] > 0]):  # U == 0: constant trees
            where = np.flatnonzero((n_slots[slotted] == U) & (method[owner[slotted]] == "dense"))
            if len(where):
                self.buckets.append(_Bucket(int(U), slotted[where], np.minimum(slot[where], U),
                                            slot_player[where, :U], trees.device))
        self.patterns = None
        tabled = np.flatnonzero(method == "table")
        if len(tabled):
            self.patterns = PatternTables(trees, tabled, node_player, P, _TABLE_MAX_SLOTS,
                                          background, budget=budget, index=index)
        self.walked = None
        walked = np.flatnonzero(method == "walk")
        if len(walked):
            _, roots = trees.successors()
            self.walked = _WalkedTrees(roots[walked], player_of_input, trees, P, background,
                                       index)

    def _slots(self, leaves, node_player):
        """For ``leaves``: the number of players on each path, each path step's slot (U for
        padding) and each slot's player (P for padding)."""
        trees, P = self.trees, self.n_players
        if not len(leaves):  # every tree is walked: no paths to build
            empty = np.zeros((0, 1), dtype=np.int64)
            return np.zeros(0, dtype=np.int64), empty, empty
        nodes = trees.path_node[torch.as_tensor(leaves, device=trees.device)].cpu().numpy()
        return path_slots(np.where(nodes >= 0, node_player[np.maximum(nodes, 0)], P), P)

    def _choose_methods(self, n_slots, owner):
        """Per tree, "table", "walk" or "dense" (see the module docstring)."""
        n_trees = int(owner.max()) + 1 if len(owner) else 0
        widest = np.zeros(n_trees, dtype=np.int64)
        np.maximum.at(widest, owner, n_slots)
        cost = np.zeros(n_trees)
        # a leaf's share of its group's table: about 2**U entries per slot and output
        np.add.at(cost, owner, np.where(n_slots > 0, 2.0**n_slots * n_slots, 0.0)
                  * self.trees.n_outputs)
        left, method = _TABLE_ELEMENTS, np.empty(n_trees, dtype=object)
        for t in range(n_trees):
            if widest[t] <= _TABLE_MAX_SLOTS and cost[t] <= left:
                method[t], left = "table", left - cost[t]
            else:
                method[t] = "walk" if self.n_players <= _WALK_MAX_PLAYERS else "dense"
        return method

    def values(self, Zx, budget):
        """Shapley values (n, P + 1, k) of encoded rows Zx against the background (the last
        player column collects nothing: it is padding), temporaries within ``budget``."""
        trees, Zb = self.trees, self.background
        n, m, k = len(Zx), len(Zb), trees.n_outputs
        phi = torch.zeros(n, self.n_players + 1, k, dtype=torch.float64, device=trees.device)
        if self.patterns is not None:
            self.patterns.add_values(phi, Zx, budget)
        for bucket in self.buckets:
            U = bucket.n_slots
            per_pass = max(1, budget // max(n * m, 1))
            for start in range(0, len(bucket.leaves), per_pass):
                part = bucket.part(start, per_pass)
                x_ok = self._slot_ok(Zx, part)  # (n, Lc, U)
                b_ok = self._slot_ok(Zb, part)
                contrib = leaf_contributions(x_ok, b_ok, leaf_weights(U, x_ok.device, self.index))
                value = trees.leaf_value[part.leaves]  # (Lc, k)
                per_slot = contrib.permute(1, 0, 2)[..., None] * value[None, :, None, :]
                phi.index_add_(1, part.slot_player.reshape(-1), per_slot.reshape(n, -1, k))
        if self.walked is not None:
            self.walked.add_values(phi, Zx, budget)
        return phi

    def _slot_ok(self, Z, bucket):
        """Whether rows Z satisfy every split on each slot's player along each leaf's path of
        ``bucket``: bool (n, Lb, U)."""
        follows = self.trees.follows(Z, bucket.leaves)  # (n, Lb, D)
        fails = torch.zeros(len(Z), len(bucket.leaves), bucket.n_slots + 1,
                            dtype=torch.float64, device=Z.device)
        fails.scatter_add_(2, bucket.slot[None].expand(len(Z), -1, -1),
                           (~follows).to(torch.float64))
        return fails[..., : bucket.n_slots] == 0


class _Bucket:
    """Leaves whose paths hold ``n_slots`` players: their ids, each path step's slot
    (``n_slots`` for padding) and each slot's player."""

    def __init__(self, n_slots, leaves, slot, slot_player, device):
        self.n_slots = n_slots
        self.leaves = torch.as_tensor(leaves, device=device)
        self.slot = torch.as_tensor(slot, device=device)
        self.slot_player = torch.as_tensor(slot_player, device=device)

    def part(self, start, size):
        """The bucket restricted to leaves start..start+size."""
        sl = slice(start, start + size)
        return _Bucket(self.n_slots, self.leaves[sl], self.slot[sl], self.slot_player[sl],
                       self.leaves.device)


class _WalkedTrees:
    """Trees whose values come from walking them (:class:`~sklxai.models.trees.walk.TreeWalk`):
    every leaf within reach of a row and a set of background rows adds its closed-form Shapley
    values times the share of the background that reaches it.

    With at most ``_SUBSET_PLAYERS`` players, leaves add their weights to per-row tables
    indexed by the subset A (and B), turned into values once at the end: the work per leaf
    reached does not grow with the number of players.
    """

    def __init__(self, roots, player_of_input, trees, n_players, background, index="SV"):
        device = trees.device
        self.trees = trees
        self.walk = TreeWalk(trees, player_of_input, n_players, background, roots=roots)
        self.n_players = n_players
        self.bits = torch.as_tensor(np.left_shift(1, np.arange(n_players)).astype(np.int64),
                                    device=device)
        self.weights = leaf_weights(min(n_players, trees.depth), device, index)
        self.flat_weights = self.weights.reshape(2, -1)
        self.subsets = None
        if n_players <= _SUBSET_PLAYERS:  # membership (2**P, P) and size of every subset
            every = torch.arange(2**n_players, device=device)
            self.subsets = ((every[:, None] & self.bits) != 0).to(torch.float64)
            self.subset_size = self.subsets.sum(dim=1).long()

    def add_values(self, phi, Zx, budget):
        """Add the walked trees' values of rows Zx to phi (n, P+1, k)."""
        rows = self.walk.rows_per_pass(budget)
        if self.subsets is not None:  # and the subset tables (2 x rows x 2**P x k) bounded
            rows = max(1, min(rows, budget // (2 * len(self.subsets) * self.trees.n_outputs)))
        for start in range(0, len(Zx), rows):
            self.walk.run(Zx[start : start + rows],
                          _ShapleySink(self, phi[start : start + rows], self.walk.n_background))


class _ShapleySink(LeafSink):
    """Where walkers reaching leaves leave their values, for one pass of rows.

    Each walker adds its leaf's value times the share of the background it carries, weighted
    W_A(|A|, |B|) to the players of A and -W_B(|A|, |B|) to those of B. With few players the
    weighted values are summed per (row, A) and per (row, B) subset first and spread over the
    subsets' players once, in :meth:`finish`; otherwise they go to phi walker by walker.
    """

    def __init__(self, walked, phi, m):
        self.walked, self.phi, self.m = walked, phi, m
        n, k = len(phi), walked.trees.n_outputs
        self.tables = None
        if walked.subsets is not None:
            size = n * len(walked.subsets)
            self.tables = torch.zeros(2, size, k, dtype=torch.float64, device=phi.device)

    def add(self, xi, leaf, a_mask, b_mask, rows):
        walked = self.walked
        count = popcount(rows).to(torch.float64) / self.m
        value = rows_of(walked.trees.leaf_value, leaf) * count[:, None]
        if self.tables is not None:
            n_a = walked.subset_size.index_select(0, a_mask)
            n_b = walked.subset_size.index_select(0, b_mask)
            P, pair = walked.n_players, n_a * walked.weights.shape[2] + n_b
            flat = walked.flat_weights
            self.tables[0].index_add_(0, (xi << P) | a_mask,
                                      value * flat[0].index_select(0, pair)[:, None])
            self.tables[1].index_add_(0, (xi << P) | b_mask,
                                      value * flat[1].index_select(0, pair)[:, None])
            return
        in_a = (a_mask[:, None] & walked.bits) != 0  # (s, P)
        in_b = (b_mask[:, None] & walked.bits) != 0
        n_a, n_b = in_a.sum(dim=1), in_b.sum(dim=1)
        coef = (in_a * walked.weights[0][n_a, n_b][:, None]
                - in_b * walked.weights[1][n_a, n_b][:, None])
        self.phi[:, : walked.n_players].index_add_(0, xi, coef[:, :, None] * value[:, None, :])

    def finish(self):
        """Spread the per-subset sums over the subsets' players."""
        if self.tables is None:
            return
        walked, n, k = self.walked, len(self.phi), self.walked.trees.n_outputs
        net = (self.tables[0] - self.tables[1]).reshape(n, len(walked.subsets), k)
        # a subset's A-sum goes to its players, its B-sum is taken from them
        self.phi[:, : walked.n_players] += torch.einsum("nsk,sp->npk", net, walked.subsets)
