"""The marginal game of a tree model, from its trees: coalition values without model calls.

For a row x and a background row b, a tree's output on the hybrid (x_S, b_not S) is the value
of the one leaf within reach, and a leaf is within reach exactly when S holds its set A and
none of its set B (:mod:`sklxai.models.trees.walk`). So the raw output, the sum of the trees,
is a multilinear polynomial of the coalition's indicator s:

    raw(S, b) = base + sum over reachable leaves of value * prod_{j in A} s_j prod_{j in B} (1 - s_j).

:class:`TreeGame` walks the trees once per row (all background rows together), expands each
(A, B) into monomials (prod over B of (1 - s_j) = sum over U in B of (-1)^|U| s^U), and sums
the monomials' coefficients over subsets (a zeta transform, one pass per player): that gives
raw(S, b) for all 2^P coalitions S at once. The model's output transform (a boosted
classifier's sigmoid or softmax) is applied per (S, b), and the mean over b is v_x(S): the same
game as :class:`~sklxai.games.MarginalGame`, to float64 rounding, at a cost that does not grow
with the number of coalitions asked for.

It applies to shallow trees (a mean leaf depth of at most ``MAX_MEAN_DEPTH``: boosted models,
depth-limited forests), with at most ``MAX_PLAYERS`` players, and when the model's outputs are
its trees' sum or a transform of it that :class:`~sklxai.models.trees.TreeEnsemble` knows;
elsewhere it calls the model on hybrids, as :class:`~sklxai.games.MarginalGame` does. Deep
trees (unlimited-depth forests) reach so many leaves per (row, background row) that the model's
own compiled ``predict`` is as fast (measured in ``docs/benchmarks.rst``, "Tree ensembles").

Rows are walked up to ``_WALK_ROWS`` at a time (the walk's cost is mostly per step, shared by
the rows walked together), and their coalition tables are built a few rows at a time, small
enough to stay in the CPU's caches.
"""

import numpy as np
import torch

from sklxai.games.marginal import MarginalGame
from sklxai.models.trees.walk import LeafSink, TreeWalk, set_bits
from sklxai.utils.memory import element_budget
from sklxai.utils.progress import report_progress, share_of_work

#: coalition tables hold 2**P entries per row and background row
MAX_PLAYERS = 16
#: deeper trees (mean depth of their leaves) are evaluated by model calls
MAX_MEAN_DEPTH = 10
#: a leaf reached with B players expands into 2**|B| monomials: when the rows of a pass would
#: expand into more (monomial, background row, output) entries than this, the pass calls the
#: model instead (deep trees, where the model's own predict is as fast: a choice of method)
MAX_EXPANSION = 2**25
#: (row, coalition, background row, output) entries of the tables held at once, a block for the
#: CPU's caches rather than a memory budget: a few rows per pass keep the table (zeroing, expansion, zeta transform, look-ups) in the CPU's caches; more
#: rows per pass were slower on a 2-core AMD EPYC CPU (8 MiB: 2.7 ms a row, 128 MiB: 5.4 ms)
_TABLE_ELEMENTS = 2**20
#: rows walked at once, at most (what they reach is kept until their tables are built)
_WALK_ROWS = 64


class TreeGame(MarginalGame):
    """Interventional game of a tree model, computed from its trees.

    v_x(S) = mean over background rows b of f(x_S, b_not S), the game of
    :class:`~sklxai.games.MarginalGame` (and of ``shap.KernelExplainer``), without calling the
    model on hybrid rows: see the module docstring. Values equal the model-call game's to
    float64 rounding; where the trees' structure does not help (more than ``MAX_PLAYERS``
    players, deep trees, an output the trees cannot express) the game calls the model as
    :class:`~sklxai.games.MarginalGame` does.

    Parameters
    ----------
    adapter : ModelAdapter
        The model (its own ``predict``/``predict_proba``), for :meth:`full`, the base value and
        the fallback.
    trees : sklxai.models.trees.TreeEnsemble
        The same model's trees (:func:`~sklxai.models.trees.read_trees`), whose input space is
        the adapter's.
    background : array-like of shape (m, d)
    batch_size : int or None
        Model rows per call, for the fallback.

    Attributes
    ----------
    output_rule_ : {"raw", "inverse_link"} or None
        How the adapter's outputs follow from the trees' sum (the sum itself, or the trees'
        :meth:`~sklxai.models.trees.TreeEnsemble.inverse_link` of it), checked on the
        background at construction (None: neither, and every value is computed by model calls).
    from_trees_ : bool
        Whether values come from the trees (shallow trees whose outputs the trees express);
        False: from model calls.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> from sklxai.games import MarginalGame, TreeGame
    >>> from sklxai.models import make_adapter
    >>> from sklxai.models.trees import read_trees
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> model = GradientBoostingRegressor(n_estimators=20, max_depth=3).fit(X, X[:, 0] * X[:, 1])
    >>> adapter = make_adapter(model, device="cpu")
    >>> tree_game = TreeGame(adapter, read_trees(model), X[:30])
    >>> masks = torch.tensor([[True, False, True, False], [False, True, True, True]])
    >>> a = tree_game.values(X[:2], masks)
    >>> b = MarginalGame(adapter, X[:30]).values(X[:2], masks)
    >>> bool(torch.allclose(a, b.to(a.dtype), rtol=0, atol=1e-10))
    True
    """

    def __init__(self, adapter, trees, background, *, batch_size=None):
        super().__init__(adapter, background, batch_size=batch_size, dedupe="auto")
        self.trees = trees.to(adapter.device) if trees.device != adapter.device else trees
        self._background_z = self.trees.encode(self.background.to(torch.float64))
        self.output_rule_ = self._output_rule()
        depth = trees.leaf_depth.mean() if trees.n_leaves else 0.0
        self.from_trees_ = self.output_rule_ is not None and depth <= MAX_MEAN_DEPTH
        self._walks = {}  # player assignment -> TreeWalk
        self._base_walk = None
        if self.from_trees_:  # the background's decisions at every node, once
            self._base_walk = TreeWalk(self.trees, np.zeros(self.trees.n_inputs, dtype=np.int64), 1,
                                       self._background_z)

    def _output_rule(self):
        """Which transform of the trees' sum the adapter returns, checked on the background."""
        raw = self.trees.raw_encoded(self._background_z)
        want = self._background_output = self.full(self.background).to(torch.float64)
        for name, out in (("raw", raw), ("inverse_link", self.trees.inverse_link(raw))):
            if out.shape == want.shape and torch.allclose(out, want, rtol=1e-9, atol=1e-9):
                return name
        return None

    def empty_value(self):
        """Mean model output over the background, shape (k,) (the model's outputs on the
        background were computed once, to check the output rule)."""
        return self._background_output.mean(dim=0)

    def _mean_output(self, raw):
        """The adapter's outputs of raw sums (r, M, m, k), averaged over the background."""
        if self.output_rule_ == "raw":
            return raw.mean(dim=2)
        if self.trees.link == "sigmoid":  # the two columns follow from the mean of one
            p = torch.sigmoid(raw[..., :1]).mean(dim=2)
            return torch.cat([1 - p, p], dim=-1)
        r, M, m, k = raw.shape
        return self.trees.inverse_link(raw.reshape(-1, k)).reshape(r, M, m, -1).mean(dim=2)

    def values(self, X, masks, *, groups=None):
        """Coalition values; see :meth:`sklxai.games.Game.values` (same arguments, same
        result)."""
        X = self.as_tensor(X)
        masks = torch.as_tensor(masks, device=X.device).bool()
        players = self._players(X, groups)
        if players is None or masks.dim() not in (2, 3) or masks.shape[-1] != players[1]:
            return super().values(X, masks, groups=groups)
        player_of_input, P = players
        self._check_width(X.shape[1])
        if masks.dim() == 3 and masks.shape[0] != X.shape[0]:
            return super().values(X, masks, groups=groups)
        walk = self._walk(player_of_input, P)
        codes = (masks.long() << torch.arange(P, device=masks.device)).sum(dim=-1)
        Zx = self.trees.encode(X.to(torch.float64))
        m, k = len(self.background), self.trees.n_outputs
        # rows walked together (the walk's cost per step is mostly per call: many rows amortise
        # it), and rows per coalition table (a few, to stay in the CPU's caches)
        per_walk = max(1, min(walk.rows_per_pass(element_budget(X.device)), _WALK_ROWS))
        per_table = max(1, _TABLE_ELEMENTS // (2**P * m * k))
        out = []
        for start in range(0, len(X), per_walk):
            end = min(start + per_walk, len(X))
            terms = self._terms(walk, Zx[start:end], P)
            for first in range(start, end, per_table):
                part = slice(first, min(first + per_table, end))
                table = self._raw_table(terms, first - start, part.stop - part.start, P)
                if table is None:  # too many monomials (deep trees): call the model
                    sub = masks if masks.dim() == 2 else masks[part]
                    with share_of_work(part.start, part.stop, len(X)):  # its progress reports
                        out.append(super().values(X[part], sub, groups=groups))
                    continue
                # raw(S, b) of each row's coalitions -> outputs -> mean over the background
                r = len(table)
                idx = codes.expand(r, -1) if codes.dim() == 1 else codes[part]
                raw = table[torch.arange(r, device=idx.device)[:, None], idx]  # (r, M, m, k)
                out.append(self._mean_output(raw))
                report_progress(part.stop, len(X))  # to an explainer's bar, if one listens
        return torch.cat(out)

    def _players(self, X, groups):
        """(player of each input column, number of players), or None when the structure
        cannot serve (no output rule, too many players, columns in several or no groups)."""
        if not self.from_trees_:
            return None
        d = X.shape[1]
        if groups is None:
            P, player = d, np.arange(d)
        else:
            member = groups.detach().cpu().numpy() > 0
            if member.shape[1] != d or not (member.sum(axis=0) == 1).all():
                return None
            P, player = member.shape[0], member.argmax(axis=0)
        if P > MAX_PLAYERS:
            return None
        return player, P

    def _walk(self, player_of_input, P):
        """The walk for this assignment of columns to players (built once)."""
        key = (P, tuple(int(p) for p in player_of_input))
        if key not in self._walks:
            self._walks[key] = self._base_walk.with_players(player_of_input, P)
        return self._walks[key]

    def _terms(self, walk, Zx, P):
        """What the rows Zx reach: each distinct (row, A, B), as the sorted keys
        row << 2P | A << P | B, with its leaves' values summed per background row (u, m, k)."""
        sink = _Terms()
        walk.run(Zx, sink)
        m, k, device = walk.n_background, self.trees.n_outputs, Zx.device
        if not sink.parts:
            return (torch.zeros(0, dtype=torch.long, device=device),
                    torch.zeros(0, m, k, dtype=torch.float64, device=device))
        xi, leaf, a_mask, b_mask, rows = (torch.cat(c) for c in zip(*sink.parts, strict=True))
        key = (xi << (2 * P)) | (a_mask << P) | b_mask
        uniq, inverse = torch.unique(key, return_inverse=True)
        weight = torch.zeros(len(uniq), m, k, dtype=torch.float64, device=device)
        value = self.trees.leaf_value.index_select(0, leaf)  # (s, k)
        walker, b = set_bits(rows)  # each (leaf reached, background row) pair
        weight.index_put_((inverse.index_select(0, walker), b), value.index_select(0, walker),
                          accumulate=True)
        return uniq, weight

    def _raw_table(self, terms, first, n, P):
        """raw(S, b) for every coalition S of the rows first..first+n of a walk's ``terms``:
        (n, 2**P, m, k), or None when their leaves expand into more than ``MAX_EXPANSION``
        monomial entries."""
        uniq, weight = terms
        m, k, device = weight.shape[1], weight.shape[2], uniq.device
        bounds = torch.tensor([first, first + n], device=device) << (2 * P)
        lo, hi = torch.searchsorted(uniq, bounds).tolist()  # the rows' keys: a sorted slice
        uniq, weight = uniq[lo:hi], weight[lo:hi]
        table = torch.zeros(n, 2**P, m, k, dtype=torch.float64, device=device)
        table[:, 0] += self.trees.base  # the constant monomial
        if not len(uniq):
            return _zeta(table, P)
        u_row, u_a = (uniq >> (2 * P)) - first, (uniq >> P) & ((1 << P) - 1)
        u_b = uniq & ((1 << P) - 1)
        size_b = _popcount_small(u_b, P)
        widest = int(size_b.max())
        if int((2 ** size_b).sum()) * m * k > MAX_EXPANSION:
            return None
        # the players of each B, lowest first: column i holds the i-th one's bit (or 0)
        lows, rest = torch.zeros(len(u_b), max(widest, 1), dtype=torch.long, device=device), u_b
        for i in range(widest):
            lows[:, i] = rest & -rest
            rest = rest ^ lows[:, i]
        flat = table.view(n * 2**P, m, k)
        for size in torch.unique(size_b).tolist():  # all subsets U of B, B of one size at once
            sel = torch.nonzero(size_b == size).squeeze(1)
            pick = (torch.arange(2**size, device=device)[:, None]
                    >> torch.arange(size, device=device)) & 1  # (2**size, size)
            subsets = (lows.index_select(0, sel)[:, None, :size] * pick).sum(dim=2)
            sign = 1.0 - 2.0 * (pick.sum(dim=1) % 2).to(torch.float64)  # (-1)**|U|
            index = (u_row.index_select(0, sel) * 2**P)[:, None] \
                + (u_a.index_select(0, sel)[:, None] | subsets)
            flat.index_add_(0, index.reshape(-1), (weight.index_select(0, sel)[:, None]
                                                   * sign[None, :, None, None]).reshape(-1, m, k))
        return _zeta(table, P)


class _Terms(LeafSink):
    """A walk's sink that keeps what reaches leaves."""

    def __init__(self):
        self.parts = []

    def add(self, xi, leaf, a_mask, b_mask, rows):
        self.parts.append((xi, leaf, a_mask, b_mask, rows))


def _zeta(table, P):
    """Sum each coalition's coefficients over its subsets, in place: (n, 2**P, m, k)."""
    n, _, m, k = table.shape
    for j in range(P):
        view = table.view(n, 2 ** (P - j - 1), 2, 2**j, m, k)
        view[:, :, 1] += view[:, :, 0]
    return table


def _popcount_small(words, P):
    """Set bits of int64 words below bit P."""
    count = torch.zeros_like(words)
    for j in range(P):
        count += (words >> j) & 1
    return count
