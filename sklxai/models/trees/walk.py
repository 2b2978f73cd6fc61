"""Walking trees with an explained row and a whole background at once.

For an explained row x and a background row b, the input (x_S, b_not S) reaches a leaf exactly
when S holds every player of a set A (the players on the leaf's path that only x satisfies) and
none of a set B (those only b satisfies); the leaf is out of reach when a player fails for both
(``docs/design.rst``, "Tree ensembles"). :class:`TreeWalk` finds, for rows x and every
background row, all the leaves within reach and their A and B, visiting only those leaves.
Both the exact tree values (:mod:`sklxai.games.trees.interventional`: each leaf's Shapley
values are closed-form in |A| and |B|) and the tree game (:class:`sklxai.games.TreeGame`:
coalition values without model calls) consume what it finds, through one protocol,
:class:`LeafSink`.

A walker is a row x at a node of a tree, with the players already given to x's side (A) and to
b's side (B), and the set of background rows that reach it that way (a bitset). At a node, the
background rows that go where x goes follow x unchanged; those that part from x follow x if the
node's player is x's already, their own way if it is b's, and otherwise split: once following x
with the player added to A, once following their own way with it added to B. A walker that
reaches a leaf holds exactly the background rows for which the leaf's A and B are the walker's.
Background rows that go the same way travel as one walker, so the work is far below rows x
background x leaves. Players and background rows are bits of int64 words (62 per word): at most
62 players. Walkers that follow x move where they are; only the split-offs are new ones.

The walk runs eagerly in torch, one step of every walker at a time, so its cost is the number of
element operations per walker step. Hence the layout: a walker is a few one-dimensional int64
vectors (its row and node in one key, A and B in one word up to 30 players, the background
rows' words), every gather is an ``index_select`` of a one-dimensional table (a node's children
and player are one word), and the compaction of walkers that finished is one gather per vector.
"""

import copy

import numpy as np
import torch

from sklxai.utils.memory import chunk_size

#: players and background rows per int64 word (one bit is left for the sign)
WORD_BITS = 62


class TreeWalk:
    """The walk of explained rows through trees, against one background.

    Parameters
    ----------
    trees : TreeEnsemble
        The trees, on their device.
    player_of_input : int array (n_inputs,)
        The player (0..n_players-1) of each input column of the trees.
    n_players : int
        At most 62.
    background : float64 tensor (m, n_features)
        Background rows, already through :meth:`TreeEnsemble.encode`.
    roots : int array or None
        The walk ids of the roots of the trees to walk (None: every tree).

    Attributes
    ----------
    n_background : int
    """

    def __init__(self, trees, player_of_input, n_players, background, roots=None):
        device = trees.device
        self.trees = trees
        successors, all_roots = trees.successors()
        if len(successors) > _ID_MASK:
            raise ValueError(f"a tree walk takes at most {_ID_MASK} nodes and leaves; the trees "
                             f"have {len(successors)}.")
        self.roots = torch.as_tensor(all_roots if roots is None else roots, device=device)
        n_nodes = len(trees.feature)
        # walk ids (nodes, then leaves) take the key's low S bits
        self._key_shift = int(len(successors) - 1).bit_length()
        self._children = successors[:n_nodes, 0] | (successors[:n_nodes, 1] << _RIGHT_SHIFT)
        self._set_players(player_of_input, n_players)
        self.n_background = len(background)
        # bitsets of the background rows going left at each node (N, W), packed chunk by chunk
        # (unpacked it is m x N), kept as W vectors
        self._decide = NodeDecisions(trees, torch.arange(n_nodes, device=device))
        # rows at once, whole words of them: decisions, then float64
        step = max(1, chunk_size(16 * n_nodes, device) // WORD_BITS) * WORD_BITS
        b_left = torch.cat([pack_rows(self._decide(background[start : start + step]).T)
                            for start in range(0, len(background), step)], dim=1)
        self.b_left = [word.contiguous() for word in b_left.unbind(1)]

    def _set_players(self, player_of_input, n_players):
        """Each node's word: its left and right children's walk ids and its player (bits
        0-27, 28-55 and 56-61), so that one gather reads all three."""
        if n_players > WORD_BITS:
            raise ValueError(f"a tree walk takes at most {WORD_BITS} players; got {n_players}.")
        player = self.trees.node_players(player_of_input, n_players)
        self.node_word = torch.as_tensor(self._children | (player << _PLAYER_SHIFT),
                                         device=self.trees.device)
        self.n_players = n_players
        self._one_word = n_players <= 30  # A and B in one word

    def with_players(self, player_of_input, n_players):
        """The same walk (trees, background) with another assignment of columns to players:
        only the players' bits change, the background's decisions are shared."""
        other = copy.copy(self)
        other._set_players(player_of_input, n_players)
        return other

    def rows_per_pass(self, budget):
        """Explained rows walked together: their walkers (rows x trees) within ``budget``
        elements, and their decisions (rows x 2**S walk ids, bool) within the memory budget
        (:mod:`sklxai.utils.memory`)."""
        decisions = chunk_size(1 << self._key_shift, self.trees.device)
        return max(1, min(budget // max(8 * len(self.roots), 1), decisions))

    def run(self, Zx, sink):
        """Walk encoded rows Zx (n, n_features) through the trees; every walker that reaches a
        leaf goes to the :class:`LeafSink`'s ``add``, and its ``finish`` is called once at the
        end."""
        n, T, device = len(Zx), len(self.roots), Zx.device
        # x's decisions at node v of row i at i * 2**S + v, the walkers' key (below); the
        # entries past the nodes (leaf ids, padding) are never read: walkers at leaves stop
        x_left = torch.empty(n, 1 << self._key_shift, dtype=torch.bool, device=device)
        x_left[:, : len(self.trees.feature)] = self.decisions(Zx)
        key = (torch.arange(n, device=device).repeat_interleave(T) << self._key_shift) \
            | self.roots.repeat(n)
        players = [torch.zeros_like(key) for _ in range(1 if self._one_word else 2)]
        everyone = pack_rows(torch.ones(self.n_background, 1, dtype=torch.bool,
                                        device=device))[0]
        rows = [torch.full_like(key, int(word)) for word in everyone]
        self._walk(sink, x_left.reshape(-1), [key, *players, *rows])
        sink.finish()

    def decisions(self, Z):
        """Whether each row of Z goes left at each node: bool (n, N), every node at once
        (False at leaves)."""
        n_nodes = len(self.trees.feature)
        out = torch.empty(len(Z), n_nodes, dtype=torch.bool, device=Z.device)
        step = chunk_size(16 * n_nodes, Z.device)  # rows at once
        for start in range(0, len(Z), step):
            out[start : start + step] = self._decide(Z[start : start + step]).T
        return out

    def _walk(self, sink, x_flat, state):
        """Walk walkers ``state``, a list of one-dimensional vectors: the key (the row i and
        the walk id v as i * 2**S + v), A and B (one word, B shifted by 32, with at most 30
        players; else two) and the background rows' words. One-dimensional, so that every
        gather is an index_select: on the CPU, torch's take and row gathers of 2-D tensors
        cost several times more per element."""
        id_mask = (1 << self._key_shift) - 1
        b_shift = 32 if self._one_word else 0  # where B's bits are, in the word ib
        ib = 0 if self._one_word else 1
        first_row = 2 if self._one_word else 3
        state = self._settle(sink, state, len(state[0]))
        while len(state[0]):
            # The walkers' own vectors are updated in place and temporaries reused where the
            # order allows: each fresh large tensor costs page faults on the CPU.
            key, rows = state[0], state[first_row:]
            node = key & id_mask
            word = self.node_word.index_select(0, node)
            x_right = x_flat.index_select(0, key).long()
            x_right -= 1  # all ones where x goes right, else zero
            # rows going x's way (same: left where x goes left, right where x goes right);
            # ``rows`` becomes the rows parting from x
            same = []
            for w, r in enumerate(rows):
                s = self.b_left[w].index_select(0, node)
                s ^= x_right
                s &= r
                r ^= s
                same.append(s)
            other = rows
            in_a = state[1] >> (word >> _PLAYER_SHIFT)
            in_a &= 1  # 1 where the node's player is x's
            # parting rows split off unless the player is x's already: they follow their own
            # way (the player added to B, a no-op when it is b's), and, when the player is no
            # one's yet, they also follow x with it added to A
            parting = nonzero_rows(other)
            parting &= in_a == 0
            split = _nonzero(parting)
            s_key, s_word, s_right, *s_players = (
                t.index_select(0, split) for t in (key, word, x_right, *state[1:first_row]))
            s_other = [o.index_select(0, split) for o in other]
            s_a = 1 << (s_word >> _PLAYER_SHIFT)
            s_b = s_a << b_shift
            fresh = _nonzero((s_players[ib] & s_b) == 0)
            f_word, f_right = s_word.index_select(0, fresh), s_right.index_select(0, fresh)
            s_base, f_base = s_key & ~id_mask, s_key.index_select(0, fresh) & ~id_mask
            # the rest (and the rows that go x's way) follow x, moved where they are
            key ^= node
            key |= _child(word, x_right)
            keep_a = in_a.neg_()
            for s, o in zip(same, other):
                o &= keep_a
                s |= o
            out = [torch.cat([key, s_base | _child(s_word, ~s_right),  # the other child
                              f_base | _child(f_word, f_right)])]
            for j, p in enumerate(s_players):  # A gets the player on x's way, B on b's
                out.append(torch.cat([state[1 + j], p | s_b if j == ib else p,
                                      (p | s_a if j == 0 else p).index_select(0, fresh)]))
            out.extend(torch.cat([s, so, so.index_select(0, fresh)])
                       for s, so in zip(same, s_other))
            state = self._settle(sink, out, len(key))

    def _settle(self, sink, state, n_followers):
        """Hand the walkers that reached a leaf to ``sink`` and drop them with the walkers that
        carry no background row (only the first ``n_followers``, which followed x, can be empty:
        split-offs carry rows by construction), in one compaction."""
        n_nodes, id_mask = len(self.trees.feature), (1 << self._key_shift) - 1
        first_row = 2 if self._one_word else 3
        node = state[0] & id_mask
        at_leaf = node >= n_nodes
        keep = ~at_leaf
        keep[:n_followers] &= nonzero_rows([r[:n_followers] for r in state[first_row:]])
        done = _nonzero(at_leaf)
        if len(done):
            key, *players = (t.index_select(0, done) for t in state[:first_row])
            if self._one_word:
                players = [players[0] & 0xFFFFFFFF, players[0] >> 32]
            rows = torch.stack([r.index_select(0, done) for r in state[first_row:]], dim=1)
            sink.add(key >> self._key_shift, (key & id_mask) - n_nodes, *players, rows)
        kept = _nonzero(keep)
        if len(kept) == len(keep):
            return state
        return [t.index_select(0, kept) for t in state]


class LeafSink:
    """Where a :class:`TreeWalk` leaves the walkers that reach leaves: the one protocol of
    every consumer of a walk (exact Shapley values, the tree game's coalition terms).

    Subclasses implement :meth:`add`, and :meth:`finish` when they sum something up at the end.
    """

    def add(self, xi, leaf, a_mask, b_mask, rows):
        """Walkers at leaves, as vectors of one entry per walker: ``xi`` the row's index in
        the walked rows, ``leaf`` the leaf's id, ``a_mask`` and ``b_mask`` the players of A and
        B as bits, ``rows`` the background rows the walker carries as (s, W) bitsets
        (:func:`set_bits`, :func:`popcount`)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def finish(self):
        """Called once after the walk."""


#: a node's word (:meth:`TreeWalk._set_players`): walk ids of 28 bits, the player above them
_RIGHT_SHIFT, _PLAYER_SHIFT = 28, 56
_ID_MASK = (1 << _RIGHT_SHIFT) - 1


def _child(word, right):
    """The child of each node word: the right one where ``right`` is all ones, else the left."""
    return (word >> (right & _RIGHT_SHIFT)) & _ID_MASK


class NodeDecisions:
    """Whether rows go left at some nodes, node-major: the nodes that split on one feature
    compare the one column they read (a broadcast, not a gather of rows x nodes values).

    Parameters
    ----------
    trees : TreeEnsemble
    nodes : int tensor (N',)
        Node ids; leaves among them decide False.
    """

    def __init__(self, trees, nodes):
        self.trees, self.nodes = trees, nodes
        feature = trees.feature.index_select(0, nodes).cpu().numpy()
        order = np.argsort(feature, kind="stable")
        self._order = torch.as_tensor(order, device=nodes.device)
        self._sorted = nodes.index_select(0, self._order)
        f = feature[order]
        cut = np.flatnonzero(np.diff(f)) + 1
        starts, ends = np.concatenate([[0], cut]), np.concatenate([cut, [len(f)]])
        # with categorical splits anywhere, the routing rule looks categories up by (node,
        # row): the column is expanded to one row per node
        self._expand = bool(trees.categorical.any())
        self._segments = [(int(f[a]), int(a), int(b)) for a, b in zip(starts, ends, strict=True)
                          if b > a and f[a] >= 0]
        self._identity = bool((order == np.arange(len(order))).all())

    def __call__(self, Z):
        """Whether the rows of Z (n, n_features) go left at the nodes: bool (N', n)."""
        Zt = Z.T.contiguous()
        dec = torch.zeros(len(self.nodes), len(Z), dtype=torch.bool, device=Z.device)
        for f, a, b in self._segments:
            z = Zt[f][None]
            if self._expand:
                z = z.expand(b - a, -1)
            dec[a:b] = self.trees.values_go_left(z, self._sorted[a:b, None])
        if not self._identity:  # back to the nodes' order
            dec = torch.empty_like(dec).index_copy_(0, self._order, dec)
        return dec


def _nonzero(mask):
    """Indices of the set entries of a bool vector (numpy's is several times faster on CPU)."""
    if mask.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(mask.numpy()))
    return torch.nonzero(mask).squeeze(1)


def pack_rows(decisions):
    """Bitsets of rows: bool (m, N) -> int64 (N, W), row r at bit r % 62 of word r // 62."""
    m, n_nodes = decisions.shape
    words = -(-m // WORD_BITS)
    out = torch.empty(n_nodes, words, dtype=torch.long, device=decisions.device)
    for w in range(words):
        block = decisions[w * WORD_BITS : (w + 1) * WORD_BITS].to(torch.float64)
        # each half word as a product with powers of two: exact in float64 (below 2**31)
        low = min(len(block), 31)
        powers = 2.0 ** torch.arange(31, dtype=torch.float64, device=decisions.device)
        out[:, w] = (powers[:low] @ block[:low]).long()
        if len(block) > low:
            out[:, w] |= (powers[: len(block) - low] @ block[low:]).long() << 31
    return out


def set_bits(words):
    """The set bits of (s, W) int64 words (bits 0..61 used) as (row index, bit number) pairs,
    bit number w * 62 + j for bit j of word w: the background rows of walkers, without
    unpacking every bit (walkers at leaves carry few rows)."""
    rows_out, bits_out = [], []
    for w in range(words.shape[1]):
        index = torch.nonzero(words[:, w]).squeeze(1)
        rest = words[:, w].index_select(0, index)
        while len(index):
            low = rest & -rest
            rows_out.append(index)
            bits_out.append(torch.log2(low.to(torch.float64)).long() + w * WORD_BITS)
            rest = rest ^ low
            left = torch.nonzero(rest).squeeze(1)
            index, rest = index.index_select(0, left), rest.index_select(0, left)
    if not rows_out:
        empty = torch.zeros(0, dtype=torch.long, device=words.device)
        return empty, empty
    return torch.cat(rows_out), torch.cat(bits_out)


def nonzero_rows(words):
    """Whether each row of W int64 word vectors (s,) has a set bit: bool (s,)."""
    out = words[0] != 0
    for word in words[1:]:
        out |= word != 0
    return out


def popcount(words):
    """Set bits of each row of (s, W) int64 words (bits 0..61 used): int64 (s,)."""
    if words.device.type == "cpu" and hasattr(np, "bitwise_count"):  # numpy >= 2: popcnt
        bits = np.bitwise_count(words.numpy())
        count = bits[:, 0].astype(np.int64)
        for w in range(1, bits.shape[1]):  # column by column: numpy's row sums are slow
            count += bits[:, w]
        return torch.from_numpy(count)
    x = words - ((words >> 1) & 0x5555555555555555)
    x = (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0F
    x = x + (x >> 8)
    x = x + (x >> 16)
    x = (x + (x >> 32)) & 0x7F
    return x.sum(dim=1)
