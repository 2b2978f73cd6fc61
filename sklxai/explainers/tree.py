"""TreeShapley: exact Shapley values of tree ensembles, batched on the device.

For one explained row x and one background row b, a leaf's indicator under the hybrid input
(x_S, b_not S) is 1[A in S] 1[B disjoint from S], where A holds the players (features, or groups
of them) on the leaf's path that only x satisfies, B those only b satisfies, and the leaf is
unreachable if a player fails for both (``docs/design.rst``, "Tree ensembles"). Its Shapley
values are closed-form in |A| and |B|:

    phi_i = (|A|-1)! |B|! / (|A|+|B|)!      for i in A,
    phi_i = -|A|! (|B|-1)! / (|A|+|B|)!     for i in B.

Summed over leaves (times their values) and averaged over b, they are the exact values of the
marginal game, the same game as ExactShapley's. Everything is a tensor: per leaf the players on
its path are slots (at most the depth), x_ok (rows, leaves, slots) and b_ok (background, leaves,
slots) come from one evaluation of every path step, and |A|, |B| and the sums over b are batched
matrix products over leaves. Rows, background and leaves are chunked to bound memory.
"""

import math

import numpy as np
import torch

from sklxai.base import BaseExplainer
from sklxai.explainers._groups import FeatureGroupsMixin
from sklxai.explainers._shapley import _progress
from sklxai.utils import param_validation as pv
from sklxai.utils.validation import check_target, resolve_device

#: (leaves x rows x background) products held at once, per device
_ELEMENTS = {"cpu": 2**22, "cuda": 2**26}
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
_MODEL_OUTPUTS = ("auto", "raw", "probability")


class TreeShapley(FeatureGroupsMixin, BaseExplainer):
    """Exact Shapley values of tree ensembles and tree Pipelines (interventional TreeSHAP).

    Computes the values of the same marginal game as :class:`~sklxai.ExactShapley`,
    v_x(S) = mean over the background of f(x_S, b_not S), or of the baseline game (one reference
    row, the background mean), exactly and without sampling: each leaf's contribution has a
    closed form (see the module docstring), evaluated in batched tensor operations on the
    device. Trees whose paths hold at most 10 players get per-leaf value tables at ``fit``
    (summed over the background once): ``explain`` then costs leaves x players per row. Other
    trees are walked by (row, set of background rows) walkers that visit only the leaves they
    can reach (products over rows x background x leaves beyond 62 players).

    Supported models: scikit-learn's DecisionTree*, ExtraTree*, RandomForest*, ExtraTrees*,
    GradientBoosting*, HistGradientBoosting* (categorical splits and missing values included)
    and IsolationForest, and XGBoost and LightGBM models when installed; and Pipelines whose
    preprocessing is column-wise and whose last step is one of these (values per raw column).
    Other models raise a TypeError: use ExactShapley or KernelSHAP for them.

    **What is explained** (``model_output``): regressors' ``predict``; forests' and single
    trees' ``predict_proba`` (an average of trees, so exact); gradient-boosted classifiers' raw
    margin, ``decision_function`` (log-odds; one output for a binary model); boosted regressors
    with a log link (Poisson, gamma, Tweedie losses) their raw, log-scale prediction, whose
    exponential ``predict`` returns; an IsolationForest its mean path length over the trees
    normalised by that of a random tree, ``E[h(x)] / c(max_samples_)`` = -log2(-score_samples(x))
    (higher: more normal; ``decision_function`` is -2**(-raw) - ``offset_``, increasing in it).
    A boosted model's ``predict_proba`` (and an isolation forest's scores) is a nonlinear
    function of the summed trees, for which no exact tree algorithm exists: explain it with
    ExactShapley or KernelSHAP, which compute its coalition values from the trees
    (:class:`~sklxai.games.TreeGame`) or run the compiled trees (the same layout as a batched
    torch function) on the device. This is shap's ``model_output="raw"`` choice.

    Parameters
    ----------
    model : fitted tree model or Pipeline ending in one
    background, n_background, target, fast_path, device, random_state
        See :class:`~sklxai.base.BaseExplainer`.
    batch_size : int or None
        Rows explained per chunk (None: as many as the memory bound allows).
    game : {"marginal", "baseline"}
        The marginal game over the background, or the game of one baseline row (the
        background's mean).
    feature_groups : dict, list of lists or None
        Explain groups of columns as single players, as for the other Shapley explainers.
    model_output : {"auto", "raw", "probability"}
        "auto": ``predict`` for regressors, ``predict_proba`` for forests and single trees, the
        raw margin for gradient-boosted classifiers. "raw": the sum of the trees
        (``decision_function`` for boosted classifiers). "probability": ``predict_proba``,
        refused for boosted models (see above).
    verbose : int
        1: a progress bar over the explained rows.

    Attributes
    ----------
    trees_ : sklxai.models.trees.TreeEnsemble
        The model's trees in the tensor layout, on the device.
    expected_value_ : ndarray of shape (n_outputs,)
        The mean model output over the background: the base value.
    feature_groups_ : dict or None
    n_outputs_, output_names_
        The explained outputs (one margin for a binary boosted classifier).

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> from sklxai import TreeShapley
    >>> X, y = make_regression(n_samples=300, n_features=6, random_state=0)
    >>> gbdt = GradientBoostingRegressor(n_estimators=20).fit(X, y)
    >>> exp = TreeShapley(gbdt, n_background=50, device="cpu").fit(X).explain(X[:3])
    >>> bool(abs(exp.values.sum(1) + exp.base_values - gbdt.predict(X[:3])).max() < 1e-9)
    True
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "game": pv.options("marginal", "baseline"),
        "feature_groups": pv.unchecked("dict, list of lists or None (checked against X)"),
        "model_output": pv.options(*_MODEL_OUTPUTS),
        "verbose": pv.unchecked("int (0: silent)"),
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 game="marginal", feature_groups=None, model_output="auto", fast_path="auto",
                 verbose=0, device="auto", random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, device=device, random_state=random_state,
                         batch_size=batch_size)
        self.game = game
        self.feature_groups = feature_groups
        self.model_output = model_output
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y):
        final = self.model_[-1] if self.prepared_.fast_path else self.model_
        if self.prepared_.trees is None:
            from sklxai.models.trees import read_trees

            read_trees(final)  # raises the TypeError that names the supported models
        self.trees_ = self.prepared_.trees.to(resolve_device(self.device))
        self._check_model_output(final)
        members = self._fit_players(X)
        self._n_players = len(members)
        self._background_z = self.trees_.encode(self._as_tensor(self._reference_rows()))
        self._setup_slots(members)
        names = self.trees_.output_names
        k = self.trees_.n_outputs
        if names is not None and len(names) == 2 and k == 1:
            names = [names[1]]  # a binary model's margin: the log-odds of the second class
        self.n_outputs_ = k
        self.output_names_ = list(names) if names is not None and len(names) == self.n_outputs_ \
            else list(range(self.n_outputs_))
        if self.target is not None:
            check_target(self.target, self.n_outputs_, output_names=self.output_names_)
        self.expected_value_ = self.trees_.raw_encoded(self._background_z).mean(
            dim=0).cpu().numpy()

    def _check_model_output(self, final):
        """Refuse ``model_output="probability"`` where it is not the sum of the trees."""
        boosted = self.trees_.output != "identity"
        if self.model_output == "probability" and boosted:
            raise ValueError(
                f"model_output='probability': {type(final).__name__}'s predictions "
                "(predict_proba, a log-link regressor's predict, an isolation forest's scores) "
                "are a nonlinear function of its summed trees, for which no exact tree "
                "algorithm exists. Explain the raw margin (model_output='raw', the default), or "
                "the predictions with ExactShapley or KernelSHAP (they compute them from the "
                "trees)."
            )

    def _reference_rows(self):
        rows = self._model_rows(self.background_)
        return rows.mean(axis=0, keepdims=True) if self.game == "baseline" else rows

    def _as_tensor(self, rows):
        return torch.tensor(np.asarray(rows), dtype=torch.float64, device=self.trees_.device)

    def _setup_slots(self, members):
        """Choose how each tree's leaves are computed (:meth:`_choose_methods`), and group the
        leaves of table and dense trees by the number U of players on their paths
        (:class:`_Bucket`): each path step maps to a slot (one per player on the path), and
        each slot to its player. Walked trees need no slots."""
        trees, P = self.trees_, self._n_players
        player_of_input = np.full(trees.n_inputs, P, dtype=np.int64)
        for p, cols in enumerate(members):
            player_of_input[np.asarray(cols, dtype=np.int64)] = p
        player_of_feature = player_of_input[trees.feature_source.cpu().numpy()]
        owner = trees.leaf_tree.cpu().numpy()
        if P <= _WALK_MAX_PLAYERS:  # players on each path, as bits of a word
            feature = trees.feature.cpu().numpy()
            player = np.where(feature >= 0, player_of_feature[np.maximum(feature, 0)], P)
            on_path = trees.path_or(np.where(player < P, np.left_shift(1, player), 0))
            n_slots = sum((on_path >> p) & 1 for p in range(P)) if P else np.zeros_like(owner)
            method = self._choose_methods(n_slots, owner)
            slotted = np.flatnonzero(method[owner] != "walk")
            _, slot, slot_player = self._slots(slotted, player_of_feature)
        else:
            slotted = np.arange(trees.n_leaves)
            n_slots, slot, slot_player = self._slots(slotted, player_of_feature)
            method = self._choose_methods(n_slots, owner)
        self._buckets = []
        for U in np.unique(n_slots[slotted][n_slots[slotted] > 0]):  # U == 0: constant trees
            for kind in ("table", "dense"):
                where = np.flatnonzero((n_slots[slotted] == U) & (method[owner[slotted]] == kind))
                if not len(where):
                    continue
                bucket = _Bucket(int(U), slotted[where], np.minimum(slot[where], U),
                                 slot_player[where, :U], trees.device)
                if kind == "table":
                    bucket.table = self._tables(bucket)
                self._buckets.append(bucket)
        self._walk = None
        walked = np.flatnonzero(method == "walk")
        if len(walked):
            _, roots = trees.successors()
            self._walk = _Walk(roots[walked], player_of_feature, trees, P, self._background_z)

    def _slots(self, leaves, player_of_feature):
        """For ``leaves``: the number of players on each path, each path step's slot (U for
        padding) and each slot's player (P for padding)."""
        trees, P = self.trees_, self._n_players
        if not len(leaves):  # every tree is walked: no paths to build
            empty = np.zeros((0, 1), dtype=np.int64)
            return np.zeros(0, dtype=np.int64), empty, empty
        nodes = trees.path_node[torch.as_tensor(leaves, device=trees.device)].cpu().numpy()
        feature = trees.feature.cpu().numpy()[np.maximum(nodes, 0)]
        step_player = np.where(nodes >= 0, player_of_feature[np.maximum(feature, 0)], P)
        order = np.argsort(step_player, axis=1, kind="stable")
        ordered = np.take_along_axis(step_player, order, axis=1)
        first = np.ones_like(ordered, dtype=bool)
        first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        first &= ordered < P
        n_slots = first.sum(axis=1)
        slot_sorted = np.where(ordered < P, np.cumsum(first, axis=1) - 1, nodes.shape[1])
        slot = np.empty_like(slot_sorted)
        np.put_along_axis(slot, order, slot_sorted, axis=1)
        slot_player = np.full((len(nodes), nodes.shape[1] + 1), P, dtype=np.int64)
        np.put_along_axis(slot_player, slot, step_player, axis=1)
        return n_slots, slot, slot_player

    def _choose_methods(self, n_slots, owner):
        """Per tree, how its leaves' values are computed: "table" (every leaf's path holds at
        most ``_TABLE_MAX_SLOTS`` players, within the memory budget), else "walk" (a batched
        walk of (row, background row) pairs down the tree, up to 62 players), else "dense"
        (products over rows x background x leaves, :func:`_leaf_contributions`)."""
        n_trees = int(owner.max()) + 1 if len(owner) else 0
        widest = np.zeros(n_trees, dtype=np.int64)
        np.maximum.at(widest, owner, n_slots)
        cost = np.zeros(n_trees)
        np.add.at(cost, owner, np.where(n_slots > 0, 2.0**n_slots * n_slots, 0.0))
        budget, method = _TABLE_ELEMENTS, np.empty(n_trees, dtype=object)
        for t in range(n_trees):
            if widest[t] <= _TABLE_MAX_SLOTS and cost[t] <= budget:
                method[t], budget = "table", budget - cost[t]
            else:
                method[t] = "walk" if self._n_players <= _WALK_MAX_PLAYERS else "dense"
        return method

    def _tables(self, bucket):
        """The value tables of a bucket's leaves (:func:`_value_tables`), built in chunks of
        leaves so that the background's path checks stay within the memory bound."""
        Zb = self._background_z
        step = max(1, _ELEMENTS["cpu"] // max(len(Zb) * (bucket.n_slots + 1), 1))
        return torch.cat([_value_tables(self._slot_ok(Zb, bucket.part(start, step)),
                                        bucket.n_slots)
                          for start in range(0, len(bucket.leaves), step)])

    # ------------------------------------------------------------------ explain
    def _explain(self, X, rng):
        n, P, k = X.shape[0], self._n_players, self.n_outputs_
        Zx_all = self.trees_.encode(self._as_tensor(self._model_rows(X)))
        m = len(self._background_z)
        budget = _ELEMENTS["cuda" if self.trees_.device.type == "cuda" else "cpu"]
        rows = self.batch_size or max(1, min(n, budget // max(m, 1)))
        values = np.empty((n, P, k))
        output = np.empty((n, k))
        with _progress(self, n) as bar:
            for start in range(0, n, rows):
                Zx = Zx_all[start : start + rows]
                phi = self._chunk_values(Zx, budget)
                values[start : start + len(Zx)] = phi[:, :P].cpu().numpy()
                output[start : start + len(Zx)] = self.trees_.raw_encoded(Zx).cpu().numpy()
                bar.update(len(Zx))
        base = np.broadcast_to(self.expected_value_, output.shape).copy()
        return values, base, output

    def _chunk_values(self, Zx, budget):
        """Shapley values (n, P + 1, k) of encoded rows Zx against the background (the last
        player column collects nothing: it is padding)."""
        trees, Zb = self.trees_, self._background_z
        n, m, k = len(Zx), len(Zb), self.n_outputs_
        phi = torch.zeros(n, self._n_players + 1, k, dtype=torch.float64, device=trees.device)
        for bucket in self._buckets:
            U = bucket.n_slots
            per_pass = max(1, budget // max(n * (U * k if bucket.table is not None else m), 1))
            for start in range(0, len(bucket.leaves), per_pass):
                part = bucket.part(start, per_pass)
                x_ok = self._slot_ok(Zx, part)  # (n, Lc, U)
                if part.table is not None:  # look the values up by x's pattern
                    bits = (x_ok.long() << torch.arange(U, device=x_ok.device)).sum(dim=2)
                    rows = torch.arange(len(part.leaves), device=x_ok.device)
                    contrib = part.table[rows[None, :], bits]  # (n, Lc, U)
                else:
                    b_ok = self._slot_ok(Zb, part)
                    contrib = _leaf_contributions(x_ok, b_ok, _leaf_weights(U, x_ok.device))
                    contrib = contrib.permute(1, 0, 2)
                value = trees.leaf_value[part.leaves]  # (Lc, k)
                per_slot = contrib[..., None] * value[None, :, None, :]
                phi.index_add_(1, part.slot_player.reshape(-1), per_slot.reshape(n, -1, k))
        if self._walk is not None:
            self._walk.add_values(phi, Zx, budget)
        return phi

    def _slot_ok(self, Z, bucket):
        """Whether rows Z satisfy every split on each slot's player along each leaf's path of
        ``bucket``: bool (n, Lb, U)."""
        follows = self.trees_.follows(Z, bucket.leaves)  # (n, Lb, D)
        fails = torch.zeros(len(Z), len(bucket.leaves), bucket.n_slots + 1,
                            dtype=torch.float64, device=Z.device)
        fails.scatter_add_(2, bucket.slot[None].expand(len(Z), -1, -1),
                           (~follows).to(torch.float64))
        return fails[..., : bucket.n_slots] == 0


class _Bucket:
    """Leaves whose paths hold ``n_slots`` players: their ids, each path step's slot
    (``n_slots`` for padding), each slot's player, and (when built) their value tables."""

    def __init__(self, n_slots, leaves, slot, slot_player, device, table=None):
        self.n_slots = n_slots
        self.leaves = torch.as_tensor(leaves, device=device)
        self.slot = torch.as_tensor(slot, device=device)
        self.slot_player = torch.as_tensor(slot_player, device=device)
        self.table = table

    def part(self, start, size):
        """The bucket restricted to leaves start..start+size."""
        sl = slice(start, start + size)
        return _Bucket(self.n_slots, self.leaves[sl], self.slot[sl], self.slot_player[sl],
                       self.leaves.device, None if self.table is None else self.table[sl])


class _Walk:
    """Trees whose values come from walking them (:class:`~sklxai.models.trees.walk.TreeWalk`):
    every leaf within reach of a row and a set of background rows adds its closed-form Shapley
    values times the share of the background that reaches it.

    With at most ``_SUBSET_PLAYERS`` players, leaves add their weights to per-row tables
    indexed by the subset A (and B), turned into values once at the end: the work per leaf
    reached does not grow with the number of players.
    """

    def __init__(self, roots, player_of_feature, trees, n_players, background):
        from sklxai.models.trees.walk import TreeWalk

        device = trees.device
        self.trees = trees
        self.walk = TreeWalk(trees, player_of_feature, n_players, background, roots=roots)
        self.n_players = n_players
        self.bits = torch.as_tensor(np.left_shift(1, np.arange(n_players)).astype(np.int64),
                                    device=device)
        self.weights = _leaf_weights(min(n_players, trees.depth), device)
        self.flat_weights = self.weights.reshape(2, -1)
        self.subsets = None
        if n_players <= _SUBSET_PLAYERS:  # membership (2**P, P) and size of every subset
            every = torch.arange(2**n_players, device=device)
            self.subsets = ((every[:, None] & self.bits) != 0).to(torch.float64)
            self.subset_size = self.subsets.sum(dim=1).long()

    def add_values(self, phi, Zx, budget):
        """Add the walked trees' values of rows Zx to phi (n, P+1, k)."""
        rows = self.walk.rows_per_pass(budget)
        if self.subsets is not None:  # and the subset tables (rows x 2**P x k) bounded
            rows = max(1, min(rows, 2**22 // (len(self.subsets) * self.trees.n_outputs)))
        for start in range(0, len(Zx), rows):
            sink = _LeafSink(self, phi[start : start + rows], self.walk.n_background)
            self.walk.run(Zx[start : start + rows], sink)
            sink.finish()


class _LeafSink:
    """Where walkers reaching leaves leave their values, for one pass of rows.

    Each walker adds its leaf's value times the share of the background it carries, weighted
    W_A(|A|, |B|) to the players of A and -W_B(|A|, |B|) to those of B. With few players the
    weighted values are summed per (row, A) and per (row, B) subset first and spread over the
    subsets' players once, in :meth:`finish`; otherwise they go to phi walker by walker.
    """

    def __init__(self, walk, phi, m):
        self.walk, self.phi, self.m = walk, phi, m
        n, k = len(phi), walk.trees.n_outputs
        self.tables = None
        if walk.subsets is not None:
            size = n * len(walk.subsets)
            self.tables = torch.zeros(2, size, k, dtype=torch.float64, device=phi.device)

    def add(self, xi, leaf, a_mask, b_mask, rows):
        """Walkers at leaves."""
        from sklxai.models.trees.walk import popcount

        walk = self.walk
        count = popcount(rows).to(torch.float64) / self.m
        value = _rows_of(walk.trees.leaf_value, leaf) * count[:, None]
        if self.tables is not None:
            n_a = walk.subset_size.index_select(0, a_mask)
            n_b = walk.subset_size.index_select(0, b_mask)
            P, pair = walk.n_players, n_a * walk.weights.shape[2] + n_b
            self.tables[0].index_add_(0, (xi << P) | a_mask,
                                      value * walk.flat_weights[0].index_select(0, pair)[:, None])
            self.tables[1].index_add_(0, (xi << P) | b_mask,
                                      value * walk.flat_weights[1].index_select(0, pair)[:, None])
            return
        in_a = (a_mask[:, None] & walk.bits) != 0  # (s, P)
        in_b = (b_mask[:, None] & walk.bits) != 0
        n_a, n_b = in_a.sum(dim=1), in_b.sum(dim=1)
        coef = (in_a * walk.weights[0][n_a, n_b][:, None]
                - in_b * walk.weights[1][n_a, n_b][:, None])
        self.phi[:, : walk.n_players].index_add_(0, xi, coef[:, :, None] * value[:, None, :])

    def finish(self):
        """Spread the per-subset sums over the subsets' players."""
        if self.tables is None:
            return
        walk, n, k = self.walk, len(self.phi), self.walk.trees.n_outputs
        net = (self.tables[0] - self.tables[1]).reshape(n, len(walk.subsets), k)
        # a subset's A-sum goes to its players, its B-sum is taken from them
        self.phi[:, : walk.n_players] += torch.einsum("nsk,sp->npk", net, walk.subsets)


def _rows_of(table, index):
    """table[index] for a (L, k) table, through one-dimensional gathers (a row gather of a
    narrow 2-D tensor costs several times more per element on the CPU)."""
    if table.shape[1] == 1:
        return table[:, 0].index_select(0, index)[:, None]
    k = table.shape[1]
    flat = (index[:, None] * k + torch.arange(k, device=index.device)).reshape(-1)
    return table.reshape(-1).index_select(0, flat).reshape(-1, k)


def _value_tables(b_ok, U):
    """For each leaf and each pattern X of the slots x satisfies (2**U of them), the mean over
    the background of each slot's Shapley value of the leaf's indicator: (L, 2**U, U).

    Given X, a background row b reaches the leaf with x only if it satisfies every slot x
    fails (c, the complement of X: those are B, |B| = U - |X|); the slots of X that b fails
    are A. So the value depends on b only through which subset s of X it fails: the table sums,
    over s, the share of background rows with that pattern (c and X minus s satisfied) times
    W_A(|s|, |c|) for slots in s and -W_B(|s|, |c|) for slots in c.
    """
    L, m = b_ok.shape[1], b_ok.shape[0]
    device = b_ok.device
    bits = (b_ok.long() << torch.arange(U, device=device)).sum(dim=2)  # (m, L)
    share = torch.zeros(L, 2**U, dtype=torch.float64, device=device)
    share.scatter_add_(1, bits.T.contiguous(), torch.full((L, m), 1.0 / m, dtype=torch.float64,
                                                          device=device))
    pattern, needed, coef = _pattern_terms(U, device)
    table = torch.zeros(L, 2**U, U, dtype=torch.float64, device=device)
    step = max(1, 2**22 // (len(pattern) * U))
    for start in range(0, L, step):
        part = share[start : start + step, needed]  # (c, terms)
        table[start : start + step].index_add_(1, pattern, part[..., None] * coef[None])
    return table


def _pattern_terms(U, device):
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
    W = _leaf_weights(U, "cpu").numpy()
    n_a, n_b = in_s.sum(axis=1), in_c.sum(axis=1)
    coef = W[0, n_a, n_b][:, None] * in_s - W[1, n_a, n_b][:, None] * in_c
    return (torch.as_tensor(X, device=device), torch.as_tensor(c | (X & ~s), device=device),
            torch.as_tensor(coef, device=device))


def _leaf_weights(U, device):
    """W[0, a, b] = (a-1)! b! / (a+b)! (a >= 1), W[1, a, b] = a! (b-1)! / (a+b)! (b >= 1)."""
    W = np.zeros((2, U + 1, U + 1))
    for a in range(U + 1):
        for b in range(U + 1):
            if a >= 1:
                W[0, a, b] = math.factorial(a - 1) * math.factorial(b) / math.factorial(a + b)
            if b >= 1:
                W[1, a, b] = math.factorial(a) * math.factorial(b - 1) / math.factorial(a + b)
    return torch.as_tensor(W, device=device)


def _leaf_contributions(x_ok, b_ok, weights):
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
