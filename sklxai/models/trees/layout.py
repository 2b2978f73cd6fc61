"""One tensor layout for every tree ensemble, and the ensemble as a batched torch function.

Readers (:mod:`sklxai.models.trees.sklearn_trees` and the others) turn a fitted model into a
:class:`TreeEnsemble`: the nodes of all its trees in flat arrays (feature, threshold, where
missing values go, the categories sent left, the children), and every leaf with its value; the
path that reaches a leaf (the nodes along it and the direction taken at each) is built when
first needed. Both the compiled model (:meth:`TreeEnsemble.raw`, which walks every tree from its
root) and the exact tree explainer (:class:`sklxai.TreeShapley`, which walks the trees or needs,
per leaf, which features x and b each satisfy) work on this layout, so one reader serves both.

Inputs are rows in the model's input space (the columns ``fit`` saw). A model may see them
transformed: scikit-learn trees compare float32 values, HistGradientBoosting encodes
categorical columns as codes of its known categories (unknown ones become missing) and puts
them first. :meth:`TreeEnsemble.encode` applies that, and ``feature_source`` says which input
column each model feature comes from (the players of the explainer are input columns).
"""

import numpy as np
import torch

from sklxai.utils.memory import chunk_size

#: inverse links of the compiled trees: what the model's own method applies to the trees' sum
LINKS = ("identity", "sigmoid", "softmax", "exp", "isolation")


class TreeEnsemble:
    """The trees of a fitted model in one layout (float64 tensors on one device).

    Parameters
    ----------
    feature : int array (N,)
        Model feature split on at each node (-1 at leaves); nodes of all trees, concatenated.
    threshold : float array (N,)
        Numeric splits send x left when ``x <= threshold``.
    missing_left : bool array (N,)
        Where a missing value (NaN) goes.
    categorical : bool array (N,)
        Whether the node splits on a category (left when the category is in ``cat_left``).
    cat_left : bool array (N, C)
        Categories (integer codes 0..C-1) sent left by categorical nodes.
    children : int array (N, 2)
        Left and right child of each node (-1 at leaves); node ids of all trees, concatenated.
    leaf_node : int array (L,)
        The node id of each leaf, the leaves of each tree together and the trees in order.
    leaf_value : float array (L, k)
        What each leaf adds to the output (learning rates and forest averages folded in).
    base : float array (k,)
        The constant added to the sum of the leaves (a boosting model's initial prediction).
    n_inputs : int
        Columns of the model's input rows.
    feature_source : int array (n_features,) or None
        The input column of each model feature (None: the identity).
    categories : dict {model feature: sorted float array} or None
        Known categories of categorical model features: an input value is coded by its
        position there, and unknown values become missing.
    float32_inputs : bool
        Round inputs to float32 before comparing (scikit-learn's trees do).
    link : {"identity", "sigmoid", "softmax", "exp", "isolation"}
        How the model's outputs follow from the raw sum of the trees, :meth:`inverse_link`
        (identity: the raw sum is already what the model predicts, e.g. a forest's averaged
        class probabilities; sigmoid, softmax: a boosted classifier's ``predict_proba``; exp:
        a regressor with a log link, e.g. a Poisson loss, whose ``predict`` is exp(raw);
        isolation: an IsolationForest, whose raw sum is the mean path length over its trees
        normalised by that of a random tree, and whose ``decision_function`` is -2**(-raw) -
        ``output_offset``).
    output_offset : float
        The constant of the "isolation" link (the forest's ``offset_``).
    output_names : list or None
        Class labels or None.
    raw_method : str
        The model method the raw output equals ("predict", "predict_proba" or
        "decision_function"), for messages and docs.
    node_cover : float array (N,) or None
        The training weight that reached each node (sample weights, counts or hessian sums):
        the covers of the path-dependent game. None when the reader has none.

    Attributes
    ----------
    leaf_tree : int tensor (L,)
        The tree each leaf belongs to.
    path_node : int tensor (L, D)
        For each leaf, the nodes on its path from the root (-1 pads paths shorter than D);
        built on first use (deep forests hold many long paths that a walk never needs).
    path_left : bool tensor (L, D)
        Whether the path goes left at that node.
    n_features, n_outputs, n_leaves, depth : int
    """

    def __init__(self, *, feature, threshold, missing_left, categorical, cat_left, children,
                 leaf_node, leaf_value, base, n_inputs, feature_source=None, categories=None,
                 float32_inputs=False, link="identity", output_names=None,
                 raw_method="predict", leaf_tree=None, output_offset=0.0, node_cover=None):
        if link not in LINKS:
            raise ValueError(f"link must be one of {list(LINKS)}; got {link!r}.")
        self.feature = torch.as_tensor(np.asarray(feature), dtype=torch.long)
        self._feature_np = np.asarray(feature, dtype=np.int64)  # for the players of nodes
        self.threshold = torch.as_tensor(np.asarray(threshold, dtype=np.float64))
        self.missing_left = torch.as_tensor(np.asarray(missing_left, dtype=bool))
        self.categorical = torch.as_tensor(np.asarray(categorical, dtype=bool))
        self.cat_left = torch.as_tensor(np.asarray(cat_left, dtype=bool)).reshape(
            len(self.feature), -1)
        # routing rules some ensembles never need (checked once, not at every evaluation)
        self._any_missing_left = bool(self.missing_left.any())
        self._any_categorical = bool(self.categorical.any())
        self.children = np.asarray(children, dtype=np.int64).reshape(len(self.feature), 2)
        self.leaf_node = np.asarray(leaf_node, dtype=np.int64)
        self._parent, self._node_depth = _parents_and_depths(self.children)
        self._paths = None  # (path_node, path_left), built when first asked for
        value = np.asarray(leaf_value, dtype=np.float64)
        self.leaf_value = torch.as_tensor(value.reshape(len(value), -1))
        self.base = torch.as_tensor(np.asarray(base, dtype=np.float64).reshape(-1))
        self.n_inputs = int(n_inputs)
        n_model = int(self.feature.max()) + 1 if len(self.feature) else 0
        source = np.arange(max(n_model, self.n_inputs)) if feature_source is None \
            else np.asarray(feature_source)
        self.feature_source = torch.as_tensor(source, dtype=torch.long)
        self._source_np = np.asarray(source, dtype=np.int64)
        self.categories = {int(f): torch.as_tensor(np.asarray(c, dtype=np.float64))
                           for f, c in (categories or {}).items()}
        self.float32_inputs = bool(float32_inputs)
        self.link = link
        self.output_names = output_names
        self.raw_method = raw_method
        self.output_offset = float(output_offset)
        self.node_cover = None if node_cover is None else torch.as_tensor(
            np.asarray(node_cover, dtype=np.float64))
        self._walker = None  # (successors, roots) as tensors, built when first walked
        self.leaf_tree = torch.as_tensor(np.zeros(len(value), dtype=np.int64) if leaf_tree is None
                                         else np.asarray(leaf_tree), dtype=torch.long)

    # ------------------------------------------------------------------ shape
    @property
    def n_features(self):
        return len(self.feature_source)

    @property
    def n_outputs(self):
        return self.leaf_value.shape[1]

    @property
    def n_leaves(self):
        return self.leaf_value.shape[0]

    @property
    def depth(self):
        return max(1, int(self._node_depth[self.leaf_node].max())) if len(self.leaf_node) else 1

    @property
    def leaf_depth(self):
        """int array (L,): the number of splits on each leaf's path."""
        return self._node_depth[self.leaf_node]

    @property
    def path_node(self):
        return self._leaf_paths()[0]

    @property
    def path_left(self):
        return self._leaf_paths()[1]

    def path_or(self, bits):
        """For each leaf, the bitwise OR of ``bits`` over the nodes on its path.

        Parameters
        ----------
        bits : int64 array (N,)
            One word per node (for example the bit of the player it splits on).

        Returns
        -------
        int64 array (L,)
            Computed top-down, one depth level at a time, without building the paths.
        """
        return _path_or(np.asarray(bits, dtype=np.int64), self._parent, self._node_depth,
                        self.leaf_node)

    def _leaf_paths(self):
        """Every leaf's path, root first, built by walking up from all leaves at once."""
        if self._paths is None:
            node_arr, left_arr = _leaf_paths(self.children, self._parent, self._node_depth,
                                             self.leaf_node, self.depth)
            self._paths = (torch.as_tensor(node_arr, device=self.device),
                           torch.as_tensor(left_arr, device=self.device))
        return self._paths

    # ------------------------------------------------------------------ players
    def feature_players(self, player_of_input):
        """The player of each model feature, given the player of each input column (an int
        array (n_inputs,)): int64 ndarray (n_features,)."""
        return np.asarray(player_of_input, dtype=np.int64)[self._source_np]

    def node_players(self, player_of_input, n_players):
        """The player each node splits on, given the player of each input column:
        int64 ndarray (N,), ``n_players`` at leaves."""
        of_feature = self.feature_players(player_of_input)
        feature = self._feature_np
        return np.where(feature >= 0, of_feature[np.maximum(feature, 0)], n_players)

    def numeric_splits(self):
        """The input columns (int64 ndarray (s,)) and thresholds (float64 ndarray (s,)) of the
        numeric splits; categorical splits are left out (their codes are not ordered)."""
        numeric = (self._feature_np >= 0) & ~self.categorical.cpu().numpy()
        return (self._source_np[self._feature_np[numeric]],
                self.threshold.cpu().numpy()[numeric])

    @property
    def device(self):
        return self.threshold.device

    def to(self, device):
        """The ensemble with every tensor on ``device`` (in place; returns self)."""
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(device))
        self.categories = {f: c.to(device) for f, c in self.categories.items()}
        if self._walker is not None:
            self._walker = tuple(t.to(device) for t in self._walker)
        if self._paths is not None:
            self._paths = tuple(t.to(device) for t in self._paths)
        return self

    # ------------------------------------------------------------------ evaluation
    def encode(self, X):
        """Input rows (n, n_inputs) as the trees see them: (n, n_features) float64."""
        X = X.to(device=self.device, dtype=torch.float64)
        if self.float32_inputs:
            X = X.to(torch.float32).to(torch.float64)
        Z = X[:, self.feature_source]
        for f, known in self.categories.items():
            col = Z[:, f]
            pos = torch.searchsorted(known, col.contiguous()).clamp(max=len(known) - 1)
            hit = known[pos] == col
            Z[:, f] = torch.where(hit, pos.to(torch.float64),
                                  torch.full_like(col, float("nan")))
        return Z

    def rows_go_left(self, Z, nodes):
        """Whether encoded rows Z (n, n_features) go left at ``nodes`` (any shape): bool
        (n, *nodes.shape). Padding nodes (-1) give True."""
        flat = nodes.reshape(-1).clamp(min=0)
        feat = self.feature.index_select(0, flat).clamp(min=0)
        left = self.values_go_left(_columns(Z, feat), flat)  # (n, m)
        return left.reshape(Z.shape[0], *nodes.shape)

    def values_go_left(self, z, nodes):
        """Whether encoded values ``z`` of the nodes' features go left at ``nodes`` (node ids,
        no padding, broadcastable to z's shape): bool, of z's shape. The one routing rule of
        :meth:`rows_go_left` and of a traversal where each row is at its own node."""
        missing = torch.isnan(z)
        left = z <= _gather(self.threshold, nodes)
        if self._any_missing_left:
            left = torch.where(missing, _gather(self.missing_left, nodes), left)
        if self._any_categorical:
            width = self.cat_left.shape[1]
            codes = torch.nan_to_num(z, nan=0.0).long().clamp(0, width - 1)
            in_set = self.cat_left[nodes.expand_as(codes), codes]
            inside = (z >= 0) & (z < width) & (z == torch.floor(z))
            cat = torch.where(missing, _gather(self.missing_left, nodes), in_set & inside)
            left = torch.where(_gather(self.categorical, nodes), cat, left)
        return left

    def follows(self, Z, leaves=slice(None)):
        """Whether each encoded row follows each step of each leaf's path: bool (n, L', D);
        padding steps are followed."""
        nodes, lefts = self.path_node[leaves], self.path_left[leaves]
        ok = self.rows_go_left(Z, nodes) == lefts
        return ok | (nodes < 0)

    def raw(self, X, *, batch_size=None):
        """The model's raw output (``raw_method``) at input rows X: float64 (n, k)."""
        return self.raw_encoded(self.encode(X), batch_size=batch_size)

    def raw_encoded(self, Z, *, batch_size=None):
        """:meth:`raw` of rows already through :meth:`encode`, by walking every tree from its
        root: rows x trees x depth gathers (not rows x leaves x depth), ``batch_size`` rows at
        a time (None: as many as the memory budget holds, :mod:`sklxai.utils.memory`)."""
        if self._walker is None:
            self._walker = tuple(torch.as_tensor(a, device=self.device)
                                 for a in self.successors())
        successors, roots = self._walker
        n_nodes = len(self.feature)
        # a row's temporaries: its node, feature value and decision at every tree
        step = batch_size or chunk_size(32 * max(len(roots), 1), self.device)
        out = [self.base.expand(0, -1)]
        for start in range(0, len(Z), step):
            z = Z[start : start + step]
            state = roots.expand(len(z), -1)  # (n, T): a node id, or n_nodes + a leaf id
            for _ in range(self.depth):
                node = state.clamp(max=n_nodes - 1)
                value = z.gather(1, self.feature[node].clamp(min=0))
                state = successors[state, (~self.values_go_left(value, node)).long()]
            out.append(self.base + self.leaf_value[state - n_nodes].sum(dim=1))
        return torch.cat(out)

    def successors(self):
        """The children of every node and each tree's root, for walking the trees.

        Returns
        -------
        successors : int array (N + L, 2)
            Left and right child of each of the N nodes, a child that is a leaf given as its
            leaf id N + l; the L leaf ids (and the leaves' own node ids) lead to themselves (a
            walk that reached one stays there).
        roots : int array (T,)
            The root of each tree (a leaf id for a tree that is one leaf).
        """
        return _successors(self.children, self._parent, self.leaf_node)

    def inverse_link(self, raw):
        """The model's outputs from raw sums of the trees (n, k): a boosted classifier's
        ``predict_proba``, a log-link regressor's ``predict``, an isolation forest's
        ``decision_function``; the raw sums themselves for the identity link."""
        if self.link == "sigmoid":
            p = torch.sigmoid(raw[:, :1])
            return torch.cat([1 - p, p], dim=1)
        if self.link == "softmax":
            return torch.softmax(raw, dim=1)
        if self.link == "exp":
            return torch.exp(raw)
        if self.link == "isolation":
            return -torch.exp2(-raw) - self.output_offset
        return raw


def _path_or(bits, parent_of, node_depth, leaf_node):
    """:meth:`TreeEnsemble.path_or`: top-down, one depth level at a time."""
    below = np.zeros(len(bits), dtype=np.int64)  # OR over a node's strict ancestors
    order = np.argsort(node_depth, kind="stable")
    levels = np.searchsorted(node_depth[order], np.arange(node_depth.max() + 2))
    for level in range(1, len(levels) - 1):
        nodes = order[levels[level] : levels[level + 1]]
        parent = parent_of[nodes]
        below[nodes] = below[parent] | bits[parent]
    return below[leaf_node]


def _leaf_paths(children, parent_of, node_depth, leaf_node, depth):
    """Every leaf's path, root first (nodes, -1 padded; whether it goes left), built by
    walking up from all leaves at once."""
    leaf_depth = node_depth[leaf_node]
    node_arr = np.full((len(leaf_node), depth), -1, dtype=np.int64)
    left_arr = np.ones(node_arr.shape, dtype=bool)
    rows = np.flatnonzero(leaf_depth > 0)
    current, pos = leaf_node[rows], leaf_depth[rows] - 1
    while len(rows):
        parent = parent_of[current]
        node_arr[rows, pos] = parent
        left_arr[rows, pos] = children[parent, 0] == current
        up = pos > 0
        rows, current, pos = rows[up], parent[up], pos[up] - 1
    return node_arr, left_arr


def _successors(children, parent_of, leaf_node):
    """:meth:`TreeEnsemble.successors`."""
    n_nodes, n_leaves = len(children), len(leaf_node)
    as_id = np.arange(n_nodes)  # a node's id in a walk: itself, or N + l for leaf l
    as_id[leaf_node] = n_nodes + np.arange(n_leaves)
    successors = np.repeat(np.arange(n_nodes + n_leaves)[:, None], 2, axis=1)
    inner = children[:, 0] >= 0
    successors[:n_nodes][inner] = as_id[children[inner]]
    roots = as_id[np.flatnonzero(parent_of < 0)]  # trees are concatenated in order
    return successors, roots


def _parents_and_depths(children):
    """Each node's parent (-1 at roots) and depth (0 at roots), level by level."""
    n_nodes = len(children)
    parent = np.full(n_nodes, -1, dtype=np.int64)
    inner = np.flatnonzero(children[:, 0] >= 0)
    parent[children[inner, 0]] = inner
    parent[children[inner, 1]] = inner
    depth = np.zeros(n_nodes, dtype=np.int64)
    level, frontier = 0, np.flatnonzero(parent < 0)
    while len(frontier):
        kids = children[frontier]
        kids = kids[kids[:, 0] >= 0].reshape(-1)
        level += 1
        depth[kids] = level
        frontier = kids
    return parent, depth


def assemble(trees, *, n_inputs, base, **options):
    """A :class:`TreeEnsemble` from per-tree node arrays.

    Parameters
    ----------
    trees : list of dict
        One per tree, with node arrays ``feature``, ``threshold``, ``missing_left``, ``left``,
        ``right`` (-1 at leaves; node 0 is the root), ``value`` (n_nodes, k: what a leaf adds,
        scaled), and optionally ``categorical`` (bool), ``cat_left`` (bool (n_nodes, C)) and
        ``cover`` (float: the training weight that reached each node; the ensemble's
        ``node_cover`` when every tree has it).
    n_inputs : int
    base : array-like (k,)
    **options
        Passed to :class:`TreeEnsemble` (``feature_source``, ``categories``, ``output``...).
    """
    n_cat = max([t["cat_left"].shape[1] for t in trees if "cat_left" in t] or [1])
    feature, threshold, missing, categorical, cat_left = [], [], [], [], []
    children, leaf_nodes, values, owner = [], [], [], []
    covers = [np.asarray(t["cover"], dtype=np.float64) for t in trees if "cover" in t]
    offset = 0
    for index, tree in enumerate(trees):
        n_nodes = len(tree["feature"])
        left = np.asarray(tree["left"], dtype=np.int64)
        right = np.asarray(tree["right"], dtype=np.int64)
        feature.append(np.where(left < 0, -1, tree["feature"]))
        threshold.append(np.asarray(tree["threshold"], dtype=np.float64))
        missing.append(np.asarray(tree["missing_left"], dtype=bool))
        categorical.append(np.asarray(tree.get("categorical", np.zeros(n_nodes, bool)), bool))
        cats = np.zeros((n_nodes, n_cat), dtype=bool)
        if "cat_left" in tree:
            cats[:, : tree["cat_left"].shape[1]] = tree["cat_left"]
        cat_left.append(cats)
        kids = np.stack([left, right], axis=1)
        children.append(np.where(kids >= 0, kids + offset, -1))
        leaves = np.flatnonzero(left < 0)
        leaf_nodes.append(leaves + offset)
        values.append(np.asarray(tree["value"], dtype=np.float64).reshape(n_nodes, -1)[leaves])
        owner.append(np.full(len(leaves), index))
        offset += n_nodes
    return TreeEnsemble(
        feature=np.concatenate(feature), threshold=np.concatenate(threshold),
        missing_left=np.concatenate(missing), categorical=np.concatenate(categorical),
        cat_left=np.concatenate(cat_left), children=np.concatenate(children),
        leaf_node=np.concatenate(leaf_nodes), leaf_value=np.concatenate(values), base=base,
        n_inputs=n_inputs, leaf_tree=np.concatenate(owner),
        node_cover=np.concatenate(covers) if trees and len(covers) == len(trees) else None,
        **options)


def sorted_categories(values, *, owner):
    """Known categories in code order (code = position) as :class:`TreeEnsemble` wants them.

    Parameters
    ----------
    values : sequence
        The categories a model knows, the i-th coded i (missing values left out).
    owner : str
        The model, for the message.

    Returns
    -------
    known : float64 array
        The categories sorted (``categories`` of a :class:`TreeEnsemble`).
    order : int array
        The code of each sorted category: a node's ``cat_left`` over codes, indexed by
        ``order``, is its ``cat_left`` over positions in ``known``.

    Raises
    ------
    TypeError
        When a category is not a number (rows reach the trees as floats).
    """
    values = list(values)
    try:
        known = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        known = None
    numbers = (int, float, np.number, np.bool_)
    if known is None or not all(isinstance(v, numbers) for v in values):
        shown = ", ".join(repr(v) for v in values[:5])
        raise TypeError(
            f"{owner} has a categorical feature with non-numeric categories ({shown}"
            f"{', ...' if len(values) > 5 else ''}): its trees cannot be evaluated on float "
            "rows. Fit it on numeric category codes instead (e.g. an OrdinalEncoder step in a "
            "Pipeline in front of it), or explain it with ExactShapley or KernelSHAP on the raw "
            "DataFrame."
        )
    order = np.argsort(known, kind="stable")
    return known[order], order


def _gather(table, index):
    """table[index] for a node table and an index tensor of any shape, through index_select
    (several times faster than advanced indexing on the CPU)."""
    return table.index_select(0, index.reshape(-1)).reshape(index.shape)


def _columns(Z, index):
    """Z[:, index]: numpy's take on the CPU (several times faster than torch's gathers along
    the second axis there), torch elsewhere."""
    if Z.device.type == "cpu":
        return torch.from_numpy(np.take(Z.numpy(), index.numpy(), axis=1))
    return Z[:, index]
