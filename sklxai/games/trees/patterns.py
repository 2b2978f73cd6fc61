"""Pattern tables: the background folded into the trees at ``fit``, a row explained by look-ups.

A leaf's *slots* are the distinct players split on along its path, numbered in the order they
first occur from the root (so every node has one slot for its player, the same for all the
leaves below it). A row's *pattern* at a leaf is the set of slots it fails (some split on the
slot's player along the path sends it the other way). The Shapley values of a leaf's indicator
game, averaged over the background (:func:`~sklxai.games.trees.closed_form.value_tables`),
depend on x only through x's pattern and on the background only through the share of its rows
with each pattern. Counted once at ``fit``, the per-leaf tables (2**U patterns x U slots, one
matrix product of the shares) hold every value ``explain`` can need, so its cost does not
depend on the background.

Leaves are looked up in *groups*: the subtree below a node with at most :data:`GROUP_NODES`
inner nodes (a pair of sibling leaves below their parent, or four below their grandparent). A
row's key for a group is its pattern at the group's root with its decisions at the group's
inner nodes: that fixes its pattern at every leaf of the group, so one table indexed by the key
holds the group's leaves' values summed per player (leaf values and outputs folded in). A row
then costs, per group and player of the group, one gather: the keys come from one comparison per
node and row, the failed slots carried from each node to its children down to the groups' roots.
The background goes through the same keys once at ``fit``: counted per group key, they give each
leaf's pattern shares (a key fixes the leaf's pattern). This is the idea of WOODELF (Nadel et
al.), which keys each leaf by the row's decisions along its path.
"""

import numpy as np
import torch

from sklxai.games.trees.closed_form import value_tables
from sklxai.models.trees.walk import NodeDecisions

#: a group holds the leaves below a node with at most this many inner nodes...
GROUP_NODES = 3
#: ...when its key (the slots above the node, the decisions at the inner nodes) has at most
#: this many bits (a leaf alone is a group keyed by its pattern: up to the table limit)
GROUP_KEY_BITS = 8
#: rows per pass, at most: every group's table is read by all the rows of a pass in turn, so
#: the more rows, the fewer of its cache lines are loaded per row
_MAX_ROWS_PER_PASS = 4096
#: groups whose keys are built at once (their temporaries stay in the CPU's caches)
_GROUPS_PER_BLOCK = 64
#: trees are tabulated in parts of at most this many nodes (a pass holds rows x nodes)
_PART_NODES = 2**16


class PatternTables:
    """Exact interventional Shapley values of some trees from per-group pattern tables.

    Parameters
    ----------
    trees : sklxai.models.trees.TreeEnsemble
        The trees, on the device where the values are computed.
    tree_ids : int array
        The trees to tabulate: every path of theirs holds at most ``max_slots`` players.
    node_player : int array (N,)
        The player each node splits on (``n_players`` at leaves and for columns of no player,
        whose splits every hybrid row follows as x and b do).
    n_players : int
    max_slots : int
        The most players on a path of these trees.
    background : float64 tensor (m, n_features) or None
        Encoded background rows (None: ``terms`` that need none).
    budget : int
        Elements of the temporaries built at once.
    index : {"SV", "BV"}
        Shapley or Banzhaf values (:func:`~sklxai.games.trees.closed_form.value_tables`).
    terms : object or None
        What a leaf's table holds, when not its players' values: ``n_targets`` (the columns
        of the result), ``targets(slot_player, n_slots)`` (each leaf's column of each of its
        terms, (L, W), ``n_targets`` beyond), ``n_sets(U)`` (the terms of a leaf of U slots) and
        ``tables(share, U, leaves, slot_player)`` (each leaf's terms for each pattern of the
        slots a row satisfies, (Lb, 2**U, n_sets(U)), from the background's share of each
        pattern, (Lb, 2**U)): :class:`~sklxai.games.trees.interactions.InteractionTerms`'
        interaction terms. None: the players' values.

    Attributes
    ----------
    parts : list of _Part
        The trees in parts of at most ``_PART_NODES`` nodes (a pass of rows holds their
        decisions at every node of a part).
    n_groups, n_leaves : int
        Groups and leaves tabulated.

    Examples
    --------
    The values of every row add up to its output minus the background's mean output:

    >>> import numpy as np, torch
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> from sklxai.games.trees.patterns import PatternTables
    >>> from sklxai.models.trees import read_trees
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> model = GradientBoostingRegressor(n_estimators=10, max_depth=3).fit(X, X[:, 0] * X[:, 1])
    >>> trees = read_trees(model)
    >>> Zb, Zx = trees.encode(torch.as_tensor(X[:50])), trees.encode(torch.as_tensor(X[50:53]))
    >>> tables = PatternTables(trees, np.arange(10), trees.node_players(np.arange(4), 4), 4, 10,
    ...                        Zb, budget=2**20)
    >>> phi = torch.zeros(3, 5, 1, dtype=torch.float64)  # rows, players + 1, outputs
    >>> tables.add_values(phi, Zx, 2**20)
    >>> gap = phi.sum(dim=1) + trees.raw_encoded(Zb).mean(dim=0) - trees.raw_encoded(Zx)
    >>> bool(gap.abs().max() < 1e-12)
    True
    """

    def __init__(self, trees, tree_ids, node_player, n_players, max_slots, background, *,
                 budget, index="SV", terms=None):
        self.trees, self.n_players = trees, n_players
        terms = _PlayerValues(index, n_players) if terms is None else terms
        self.n_targets = terms.n_targets
        sizes = np.bincount(np.cumsum(_parents(trees.children) < 0) - 1)[tree_ids]
        cut = np.cumsum(sizes) // _PART_NODES
        self.parts = []
        for c in np.unique(cut):
            structure = _Structure(trees, tree_ids[cut == c], node_player, n_players,
                                   max_slots, terms)
            if len(structure.group_root):
                self.parts.append(_Part(trees, structure, background, budget, terms))
        self.n_groups = sum(part.n_groups for part in self.parts)
        self.n_leaves = sum(part.n_leaves for part in self.parts)

    def add_values(self, phi, Zx, budget):
        """Add the tabulated trees' values of encoded rows Zx to phi (n, P + 1, k) (with
        ``terms``: (n, n_targets + 1, k)), the temporaries within ``budget`` elements."""
        for part in self.parts:
            part.add_values(phi, Zx, budget, self.n_targets)


class _PlayerValues:
    """The tables of :class:`PatternTables` by default: each leaf's players' Shapley (or
    Banzhaf) values, one column per player."""

    def __init__(self, index, n_players):
        self.index, self.n_targets = index, n_players

    def targets(self, slot_player, n_slots):
        return slot_player  # n_players beyond each leaf's slots

    def n_sets(self, U):
        return U

    def tables(self, share, U, leaves, slot_player):
        return value_tables(share, U, self.index)


class _Part:
    """The tables of some trees (one :class:`_Structure`) and what explaining reads."""

    def __init__(self, trees, s, background, budget, terms):
        self.trees, device = trees, trees.device
        self.k = k = trees.n_outputs
        self.n_leaves, self.n_groups = len(s.leaves), len(s.group_root)

        def as_t(a):
            return torch.as_tensor(np.asarray(a), device=device)

        self._inner = as_t(s.inner)
        self._decide = NodeDecisions(trees, self._inner)  # the inner nodes are by feature
        self._levels = [tuple(as_t(a) for a in level) for level in s.key_levels]
        self._n_upper = s.n_upper
        n_columns = np.bincount(s.col_group, minlength=self.n_groups)
        size = (2 ** s.group_key_bits) * n_columns * k
        offset = np.concatenate([[0], np.cumsum(size)]).astype(np.int64)
        # blocks of groups: their roots' rows, inner nodes' decision rows and columns
        self._blocks = []
        for g0 in range(0, self.n_groups, _GROUPS_PER_BLOCK):
            g = np.arange(g0, min(g0 + _GROUPS_PER_BLOCK, self.n_groups))
            columns = []
            for c in range(int(n_columns[g].max())):
                have = g[n_columns[g] > c]  # a prefix: groups are sorted by columns
                players = as_t(s.col_player[s.col_start[have] + c])
                columns.append((len(have), c * k, players * k))
            self._blocks.append((
                as_t(s.upper_row[s.group_root[g]]),
                as_t(s.group_inner_count[g].astype(np.int16))[:, None],
                as_t(offset[g])[:, None], as_t(n_columns[g] * k)[:, None],
                as_t(s.group_dec_row[g].T.copy()), columns))
        if background is None:  # terms that do not depend on a background
            share = torch.zeros(int(s.key_offset[-1]), dtype=torch.float64, device=device)
        else:
            share = self._key_counts(s, background, budget) / max(len(background), 1)
        self.table = self._tables(s, share, budget, terms, offset, n_columns)
        if device.type == "cpu":
            self._table_np = self.table.numpy()

    # ------------------------------------------------------------------ fit
    def _key_counts(self, s, background, budget):
        """Background rows per (group, key): float64, group g's keys from
        ``s.key_offset[g]``; one pass of the background's rows, as of explained rows."""
        device = self.trees.device
        counts = torch.zeros(int(s.key_offset[-1]), dtype=torch.float64, device=device)
        for Zb in background.split(self._rows_per_pass(budget)):
            dec = self._decisions(Zb)
            fails = _carry(dec, self._levels, self._n_upper, len(Zb))
            for i, block in enumerate(self._blocks):
                g = np.arange(i * _GROUPS_PER_BLOCK,
                              min((i + 1) * _GROUPS_PER_BLOCK, self.n_groups))
                first, last = int(s.key_offset[g[0]]), int(s.key_offset[g[-1] + 1])
                at = torch.as_tensor(s.key_offset[g] - first, device=device)[:, None]
                counts[first:last] += torch.bincount(
                    (at + self._keys(dec, fails, block)).reshape(-1),
                    minlength=last - first).to(torch.float64)
        return counts

    def _tables(self, s, share, budget, terms, offset, n_columns):
        """The groups' tables, flat: for group g, key q, column c and output o the entry
        ``offset[g] + (q * columns[g] + c) * k + o`` (and one entry past them, where slots of
        no player's columns go). ``share``: the background's share of each group key."""
        device, k = self.trees.device, self.k
        table = torch.zeros(int(offset[-1]) + 1, dtype=torch.float64, device=device)
        # each leaf's failed slots inside its group, for each decision pattern at the group's
        # inner nodes: those of the nodes where the decision parts from the leaf's path
        step_j, step_left, step_bit = s.leaf_steps
        inside = np.zeros((len(s.leaves), 2**GROUP_NODES), dtype=np.int64)
        for h in range(step_j.shape[1]):
            went_left = (np.arange(2**GROUP_NODES)[None] >> step_j[:, h, None]) & 1
            inside |= np.where(went_left != step_left[:, h, None], step_bit[:, h, None], 0)
        inside = torch.as_tensor(inside, device=device)
        key_bits = s.group_key_bits[s.leaf_group]
        for U in np.unique(s.leaf_slots):
            if U == 0:  # no player on the path: nothing to share out
                continue
            bucket = np.flatnonzero(s.leaf_slots == U)
            for bits in np.unique(key_bits[bucket]):
                same = bucket[key_bits[bucket] == bits]
                width = max(terms.n_sets(int(U)), 2 ** int(U))
                step = max(1, budget // (2**int(bits) * width * k * 4))
                for first in range(0, len(same), step):
                    self._fill(table, s, same[first : first + step], int(U), int(bits),
                               share, inside, offset, n_columns, terms)
        return table

    def _fill(self, table, s, leaves, U, bits, share, inside, offset, n_columns, terms):
        """Add the values of ``leaves`` (U slots each, all of groups with ``bits``-bit keys)
        to their groups' tables at every key: each key fixes the leaf's failed slots, so the
        background's share of each of the leaf's patterns is a sum of its keys' shares, and
        the leaf's value table (by the closed form) follows."""
        device, k = self.trees.device, self.k
        g = s.leaf_group[leaves]
        key = torch.arange(2**bits, device=device)[None]  # (1, K)
        n_inner = torch.as_tensor(s.group_inner_count[g], device=device)[:, None]
        decisions = key & ((1 << n_inner) - 1)
        lt = torch.as_tensor(leaves, device=device)
        fail = (key >> n_inner) | inside[lt].gather(1, decisions)  # (Lb, K)
        keys_share = share[torch.as_tensor(s.key_offset[g], device=device)[:, None] + key]
        pattern_share = torch.zeros(len(leaves), 2**U, dtype=torch.float64, device=device)
        pattern_share.scatter_add_(1, fail, keys_share)
        # the closed form's patterns are the slots satisfied, ours those failed
        ids = s.leaves[leaves]
        per_leaf = terms.tables(pattern_share.flip(1), U, ids, s.slot_player[leaves, :U])
        W = per_leaf.shape[2]  # (Lb, 2**U, W): by the pattern failed
        vals = per_leaf.flip(1).gather(1, fail[..., None].expand(-1, -1, W))  # (Lb, K, W)
        cols = torch.as_tensor(s.leaf_col[leaves][:, :W], device=device)  # -1: no player
        stride = torch.as_tensor(n_columns[g] * k, device=device)[:, None, None]
        at = (torch.as_tensor(offset[g], device=device)[:, None, None] + key[..., None] * stride
              + cols[:, None, :] * k)
        player = (cols >= 0)[:, None, :]
        value = self.trees.leaf_value[torch.as_tensor(ids, device=device)]
        for o in range(k):
            table.index_add_(0, torch.where(player, at + o, len(table) - 1).reshape(-1),
                             (vals * value[:, o, None, None]).reshape(-1))

    # ------------------------------------------------------------------ explain
    def _decisions(self, Z):
        """Whether rows Z go left at the inner nodes: bool (inner nodes + 1, n), node-major,
        the last row False (where a group without that inner node reads)."""
        dec = self._decide(Z)
        return torch.cat([dec, dec.new_zeros(1, len(Z))])

    def add_values(self, phi, Zx, budget, P):
        """Add these trees' values of encoded rows Zx to phi (n, P + 1, k)."""
        k = self.k
        for start in range(0, len(Zx), self._rows_per_pass(budget)):
            Z = Zx[start : start + self._rows_per_pass(budget)]
            n = len(Z)
            dec = self._decisions(Z)  # (inner + 1, n)
            fails = _carry(dec, self._levels, self._n_upper, n)
            out = torch.zeros((P + 1) * k, n, dtype=torch.float64, device=Z.device)
            for block in self._blocks:
                _, _, offset, stride, _, columns = block
                base = offset + self._keys(dec, fails, block) * stride
                for n_groups, at, target in columns:
                    index = base[:n_groups] + at
                    for o in range(k):
                        out.index_add_(0, target + o, self._take(index + o if o else index))
            phi[start : start + n] += out.reshape(P + 1, k, n).permute(2, 0, 1)

    @staticmethod
    def _keys(dec, fails, block):
        """The keys of a block's groups (int16 (groups, n), at most 10 bits): the failed slots
        at the group's root, then the decisions at its inner nodes."""
        root_row, n_inner, _, _, dec_rows, _ = block
        key = fails.index_select(0, root_row) << n_inner
        for j, rows_j in enumerate(dec_rows):
            key |= dec.index_select(0, rows_j).to(torch.int16) << j
        return key

    def _rows_per_pass(self, budget):
        """Rows per pass: their decisions, failed slots and one block's keys within
        ``budget`` elements, at most :data:`_MAX_ROWS_PER_PASS`."""
        per_row = len(self._inner) + 2 * self._n_upper + 4 * _GROUPS_PER_BLOCK
        return max(1, min(_MAX_ROWS_PER_PASS, budget // per_row))

    def _take(self, index):
        """table[index]; numpy's take on the CPU (several times faster than torch's)."""
        if index.device.type == "cpu":
            return torch.from_numpy(self._table_np.take(index.numpy()))
        return self.table.take(index)


def _parents(children):
    """Each node's parent (-1 at roots)."""
    inner = np.flatnonzero(children[:, 0] >= 0)
    parent = np.full(len(children), -1, dtype=np.int64)
    parent[children[inner, 0]] = inner
    parent[children[inner, 1]] = inner
    return parent


def _carry(dec, levels, n_out, n):
    """Failed slots carried down the trees: int16 (n_out, n); every tree's root fails none,
    and each level's nodes take their parent's failed slots, with the parent's slot added
    where the row's decision parts from the node's side."""
    fails = torch.zeros(n_out, n, dtype=torch.int16, device=dec.device)
    for child, parent, dec_row, is_left, bit in levels:
        parted = dec.index_select(0, dec_row) != is_left[:, None]
        fails.index_copy_(0, child, fails.index_select(0, parent) | (parted * bit[:, None]))
    return fails


class _Structure:
    """The tabulated trees' nodes, slots, groups and levels (numpy, built once)."""

    def __init__(self, trees, tree_ids, node_player, P, max_slots, terms):
        children = np.asarray(trees.children)
        N = len(children)
        inner_all = np.flatnonzero(children[:, 0] >= 0)
        parent = _parents(children)
        is_left = np.zeros(N, dtype=bool)
        is_left[children[inner_all, 0]] = True
        tree_of = np.cumsum(parent < 0) - 1
        roots = np.flatnonzero((parent < 0) & np.isin(tree_of, tree_ids)
                               & (children[:, 0] >= 0))  # one-leaf trees are constant
        # top-down: every node's slot count and, for inner nodes, their player's slot bit
        slots_at = np.zeros(N, dtype=np.int64)
        bit = np.zeros(N, dtype=np.int64)
        leaf_id = np.full(N, -1, dtype=np.int64)
        leaf_id[trees.leaf_node] = np.arange(len(trees.leaf_node))
        levels, frontier = [], roots
        seen = np.full((len(roots), max_slots + 1), P, dtype=np.int64)
        leaf_nodes, leaf_seen = [], []
        while len(frontier):
            levels.append(frontier)
            inner = children[frontier, 0] >= 0
            leaf_nodes.append(frontier[~inner])
            leaf_seen.append(seen[~inner])
            u, seen = frontier[inner], seen[inner]
            p = node_player[u]
            match = seen == p[:, None]
            found = match.any(axis=1) | (p >= P)
            slot = np.where(match.any(axis=1), match.argmax(axis=1), slots_at[u])
            bit[u] = np.where(p >= P, 0, np.left_shift(1, slot))
            new = ~found
            seen = seen.copy()
            seen[np.flatnonzero(new), slots_at[u][new]] = p[new]
            kids = children[u].reshape(-1)  # left, right of each node
            slots_at[kids] = np.repeat(slots_at[u] + new, 2)
            frontier, seen = kids, np.repeat(seen, 2, axis=0)
        node_levels = levels
        kept = np.concatenate(levels) if levels else np.zeros(0, dtype=np.int64)
        self.leaves = leaf_id[np.concatenate(leaf_nodes)] if leaf_nodes else kept
        leaf_node = trees.leaf_node[self.leaves]
        leaf_seen = np.concatenate(leaf_seen) if leaf_seen else np.zeros((0, max_slots + 1))
        self.leaf_slots = slots_at[leaf_node]
        # inner nodes below each node, bottom-up; groups: maximal subtrees within the limits
        n_inner = np.zeros(N, dtype=np.int64)
        for frontier in reversed(node_levels):
            inner = frontier[children[frontier, 0] >= 0]
            n_inner[inner] = 1 + n_inner[children[inner, 0]] + n_inner[children[inner, 1]]
        leafy = children[:, 0] < 0
        candidate = leafy | ((n_inner <= GROUP_NODES) & (slots_at + n_inner <= GROUP_KEY_BITS))
        is_root = candidate & ((parent < 0) | ~candidate[np.maximum(parent, 0)])
        group_root = kept[is_root[kept]]
        group_of = np.full(N, -1, dtype=np.int64)
        group_of[group_root] = np.arange(len(group_root))
        for frontier in node_levels[1:]:
            below = frontier[(group_of[frontier] < 0) & candidate[frontier]]
            group_of[below] = group_of[parent[below]]
        # per group: its columns (distinct players of its leaves' slots)
        n_l = len(self.leaves)
        self.leaf_group = group_of[leaf_node]
        slot_player = leaf_seen[:, :max_slots] if n_l else np.zeros((0, max_slots), np.int64)
        self.slot_player = slot_player.astype(np.int64)
        # each leaf's terms' targets (its players for values); T: none
        T = terms.n_targets
        target = terms.targets(self.slot_player, self.leaf_slots)
        use = target < T
        pair = self.leaf_group[:, None] * (T + 1) + target
        uniq = np.unique(pair[use])
        col_group, col_player = uniq // (T + 1), uniq % (T + 1)
        n_columns = np.bincount(col_group, minlength=len(group_root))
        # groups sorted by their number of columns, most first (explain slices them)
        order = np.argsort(-n_columns, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        group_root = group_root[order]
        group_of[group_of >= 0] = rank[group_of[group_of >= 0]]
        self.leaf_group = rank[self.leaf_group] if n_l else self.leaf_group
        col_group = rank[col_group]
        col_sort = np.lexsort((col_player, col_group))
        col_group, col_player = col_group[col_sort], col_player[col_sort]
        self.col_group, self.col_player = col_group, col_player
        n_columns = np.bincount(col_group, minlength=len(group_root))
        self.col_start = np.concatenate([[0], np.cumsum(n_columns)[:-1]]).astype(np.int64)
        pair = self.leaf_group[:, None] * (T + 1) + target
        col_key = col_group * (T + 1) + col_player
        self.leaf_col = np.where(use, np.searchsorted(col_key, pair)
                                 - self.col_start[self.leaf_group][:, None], -1)
        self.group_root = group_root
        self.group_inner_count = n_inner[group_root]
        self.group_key_bits = slots_at[group_root] + self.group_inner_count
        self.key_offset = np.concatenate([[0], np.cumsum(2**self.group_key_bits)])
        # inner nodes in a group: their place j in the group's key (by node id)
        in_group = kept[(children[kept, 0] >= 0) & (group_of[kept] >= 0)]
        in_group = in_group[np.lexsort((in_group, group_of[in_group]))]
        g_in = group_of[in_group]
        first = np.searchsorted(g_in, np.arange(len(group_root)))
        j_of = np.zeros(N, dtype=np.int64)
        j_of[in_group] = np.arange(len(in_group)) - first[g_in]
        # each leaf's steps inside its group: (j, went left, slot bit) of each inner node
        steps = max(1, GROUP_NODES)
        self.leaf_steps = (np.zeros((n_l, steps), np.int64), np.zeros((n_l, steps), np.int64),
                           np.zeros((n_l, steps), np.int64))
        cur = leaf_node.copy()
        for h in range(steps):
            up = (cur >= 0) & (parent[np.maximum(cur, 0)] >= 0)
            up &= group_of[np.maximum(parent[np.maximum(cur, 0)], 0)] == self.leaf_group
            up &= ~np.isin(cur, group_root)
            par = parent[np.maximum(cur, 0)]
            self.leaf_steps[0][up, h] = j_of[par[up]]
            self.leaf_steps[1][up, h] = is_left[cur[up]]
            self.leaf_steps[2][up, h] = bit[par[up]]
            cur = np.where(up, par, -1)
        # decision rows: every inner node of the tabulated trees, by feature (a feature's
        # nodes compare one column of the rows); the row after them is False (padding)
        feature = trees.feature.cpu().numpy()
        inner = kept[children[kept, 0] >= 0]
        self.inner = inner[np.argsort(feature[inner], kind="stable")]
        dec_row = np.full(N, len(self.inner), dtype=np.int64)
        dec_row[self.inner] = np.arange(len(self.inner))
        # each group's inner nodes' decision rows, by their place in its key
        self.group_dec_row = np.full((len(group_root), max(1, GROUP_NODES)), len(self.inner),
                                     dtype=np.int64)
        self.group_dec_row[g_in, j_of[in_group]] = dec_row[in_group]
        # failed slots are carried to the groups' roots, through the nodes above them
        upper = kept[(~candidate[kept]) | is_root[kept]]
        self.upper_row = np.full(N, -1, dtype=np.int64)
        self.upper_row[upper] = np.arange(len(upper))
        self.n_upper = len(upper)
        self.key_levels = _levels([f[self.upper_row[f] >= 0] for f in node_levels[1:]],
                                  self.upper_row, parent, dec_row, is_left, bit)


def _levels(levels, row, parent, dec_row, is_left, bit):
    """Per level below the roots: (rows of its nodes, their parents' rows, the parents'
    decision rows, whether each node is a left child, the parents' slot bits)."""
    out = []
    for nodes in levels:
        if not len(nodes):
            continue
        par = parent[nodes]
        out.append((row[nodes], row[par], dec_row[par], is_left[nodes],
                    bit[par].astype(np.int16)))
    return out
