"""SAG: structured attention graphs (Shitole et al., NeurIPS 2021).

An image often holds several small sets of patches that each, shown alone, keep the model
confident. SAG finds such minimal sufficient sets by beam search seeded by an attribution map,
keeps a few diverse ones as roots, and builds the graph of their subsets as patches are removed,
with the model's confidence at every node. The search is sklxai's own
(:class:`sklxai.metrics.SufficientSetSearch`, the search of the sub-explanation counting metric);
this module adds the seed, the diverse roots and the graph.
"""

import numbers

import numpy as np
import torch
import torch.nn.functional as F

import sklxai
from sklxai import BaseExplainer
from sklxai.metrics import SufficientSetSearch, patch_players
from sklxai.utils import param_validation as pv
from sklxai.utils.validation import check_numeric, check_tabular
from sklxai_sag.graph import SAGExplanation, SAGGraph

_BASELINES = ("zeros", "blur")


def _seed_constraint(value, name):
    if value is None or isinstance(value, str) or callable(value):
        return
    raise TypeError(
        f"{name} must be None, the name of a registered explainer (e.g. 'igos') or a callable "
        f"seed(X, targets) -> attributions; got {type(value).__name__}."
    )


def _dict_or_none(value, name):
    if value is not None and not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict of parameters or None; got "
                        f"{type(value).__name__}.")


def _image_shape_constraint(value, name):
    if value is None:
        return
    try:
        shape = tuple(int(s) for s in value)
        ok = len(shape) in (2, 3) and min(shape) >= 1 and all(
            not isinstance(s, bool) and float(s) == int(s) for s in value)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be None or a tuple (C, H, W) or (H, W) of positive ints; "
                         f"got {value!r}.")


class SAG(BaseExplainer):
    """Structured attention graphs (Shitole et al., NeurIPS 2021) of an image classifier.

    The image is cut into square patches of ``patch_size`` pixels (8 x 8 digits with 2: a 4 x 4
    grid of 16 patches, numbered row-major). A set S of patches is *sufficient* when the model's
    probability of the explained class c, on the image with only S shown and every other pixel
    at the baseline, is at least ``threshold`` times its probability on the full image, and
    *minimal* when no single patch can be dropped from S with S staying sufficient. For each
    explained image SAG:

    1. computes a seed attribution map for class c (I-GOS, as in the paper, by default) and sums
       it per patch;
    2. runs a beam search for minimal sufficient sets (sklxai's
       :class:`~sklxai.metrics.SufficientSetSearch`, shared with
       :func:`sklxai.metrics.count_sub_explanations`): sets grow one patch at a time from the
       empty set, sufficient ones are recorded, and the ``beam_width`` insufficient sets with
       the largest seed attribution are grown by every other patch. All candidate sets of one
       step, over all images, are scored in one batched forward pass;
    3. keeps up to ``n_roots`` diverse roots: minimal sets taken smallest first (then most
       probable), each kept when it shares at most ``max_overlap`` patches with every root
       kept before;
    4. builds the graph below the roots: at each level every node's one-patch-smaller subsets
       are scored (one batched pass per level, over all images), each node keeps its
       ``max_children`` most probable ones as children, down to ``max_depth`` removals from a
       root (empty sets are not expanded). A subset reached from several nodes is one node, and
       every pair of nodes one patch apart is an edge, so the result is a DAG.

    The returned :class:`~sklxai_sag.SAGExplanation` is an ordinary
    :class:`sklxai.Explanation` whose ``values`` are, per pixel, the number of roots that
    contain its patch (the input's shape: (n, C, H, W) for images), with ``graphs``, one
    :class:`~sklxai_sag.SAGGraph` per image (roots, nodes with probabilities, edges; networkx
    export and :func:`~sklxai_sag.plot_sag`). ``base_values`` are the probability at the
    baseline image, ``output`` that at the full image. The graphs are the explanation's:
    ``explain`` writes nothing on the explainer.

    Parameters
    ----------
    model : fitted skorch net, torch.nn.Module or scikit-learn estimator
        An image classifier. Its outputs should be probabilities (a skorch classifier's are; a
        bare module should end in a softmax), since sufficiency is a fraction of the full
        image's output. ``seed="igos"`` needs a differentiable model (skorch or torch); with
        ``seed=None`` any model works.
    background, n_background, fast_path, device, random_state, batch_size
        See :class:`sklxai.BaseExplainer`. The background rows only serve to fit the seed
        explainer; ``random_state`` is passed on to it.
    target : None, int, label or array of int
        The class explained. None (default): each image's predicted class. An int or label:
        that class for every image. An array: one class per image.
    image_shape : tuple (C, H, W), (H, W) or None
        Needed only when the images are given as flattened rows (n, C*H*W) (the model takes
        such rows); None (default) reads the shape from ``fit``'s images (n, C, H, W) or
        (n, H, W). Tabular data (2-D X without ``image_shape``) is refused: SAG explains images.
    patch_size : int, default=2
        Side of the square patches, in pixels; must divide H and W. The patch grid is
        (H / patch_size) x (W / patch_size).
    threshold : float in (0, 1], default=0.9
        A set is sufficient when its probability is at least ``threshold`` times the full
        image's.
    baseline : "zeros", "blur", float or array-like, default="zeros"
        What hidden patches show: "zeros" (black), "blur" (a Gaussian blur of the image itself,
        ``blur_sigma``), a number for every pixel, or one image ((C, H, W), or a flat row (d,)).
    blur_sigma : float or None
        Standard deviation, in pixels, of ``baseline="blur"``. None: a tenth of the larger
        image side (at least 0.5).
    seed : "igos", str, callable or None, default="igos"
        The attribution map that ranks the beam. A name is looked up with
        :func:`sklxai.get_explainer` (I-GOS, registered as "igos" by the sklxai-igos plugin, is
        the paper's choice); it is built as ``cls(model, device=..., random_state=...,
        batch_size=..., **seed_params)``, fitted on the background and asked for each image's
        explained class. A callable is called as ``seed(X, targets)`` with X as ``explain``
        received it and must return attributions of shape (n, C, H, W), (n, H, W) or (n, d).
        None ranks the beam by the model's probability of each set instead.
    seed_params : dict or None
        Parameters of the seed explainer (e.g. ``{"n_iter": 5}`` for I-GOS).
    beam_width : int, default=5
        Insufficient sets kept per search step and image.
    max_size : int or None
        Largest set searched (None: every patch). With fewer, an image may get no root.
    n_roots : int, default=3
        Most roots kept per image.
    max_overlap : int, default=1
        Most patches two roots may share.
    max_depth : int, default=3
        Patch removals below a root.
    max_children : int, default=2
        Children kept per node: its most probable one-patch-smaller subsets.

    Attributes
    ----------
    image_shape_ : tuple (C, H, W)
        The image shape used.
    patch_grid_ : tuple (rows, cols)
        Patches per column and per row.
    n_patches_ : int
    player_of_col_ : ndarray of shape (C * H * W,)
        The patch of each column of a flattened image.
    seed_explainer_ : BaseExplainer or None
        The fitted seed explainer (None for a callable or ``seed=None``).

    See Also
    --------
    sklxai.metrics.count_sub_explanations : the number of minimal sufficient sets, as a metric.

    Notes
    -----
    Choices where the paper is silent or this implementation departs from it: minimality is
    checked one patch at a time (the search's definition); the baseline defaults to zeros
    (black, the background of digits; "blur" is available); roots are chosen smallest first;
    children are a node's most probable subsets (the removals that cost least confidence,
    where the paper's figures show the graph down to where confidence collapses).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai_sag import SAG
    >>> class TwoWays(torch.nn.Module):  # class 1 iff the top-left or the bottom-right patch
    ...     def forward(self, X):
    ...         img = X.reshape(-1, 4, 4)
    ...         on = torch.maximum(img[:, :2, :2].amin((1, 2)), img[:, 2:, 2:].amin((1, 2)))
    ...         return torch.stack([1 - on, on], dim=1)
    >>> X = np.ones((1, 4, 4))
    >>> exp = SAG(TwoWays(), seed=None, device="cpu").fit(X).explain(X)
    >>> exp.graphs[0].roots, exp.values.shape
    ([(0,), (3,)], (1, 4, 4))
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "image_shape": pv.Constraint(_image_shape_constraint, "None or (C, H, W) or (H, W)"),
        "patch_size": pv.positive_int(),
        "threshold": pv.real_in(0, 1, inclusive=(False, True)),
        "baseline": pv.unchecked("'zeros', 'blur', a number, or one image (C, H, W) or row (d,)"),
        "blur_sigma": pv.real_in(0, float("inf"), allow_none=True),
        "seed": pv.Constraint(_seed_constraint, "None, an explainer name or a callable"),
        "seed_params": pv.Constraint(_dict_or_none, "a dict or None"),
        "beam_width": pv.positive_int(),
        "max_size": pv.positive_int(allow_none=True),
        "n_roots": pv.positive_int(),
        "max_overlap": pv.positive_int(minimum=0),
        "max_depth": pv.positive_int(minimum=0),
        "max_children": pv.positive_int(),
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 fast_path="auto", image_shape=None, patch_size=2, threshold=0.9,
                 baseline="zeros", blur_sigma=None, seed="igos", seed_params=None, beam_width=5,
                 max_size=None, n_roots=3, max_overlap=1, max_depth=3, max_children=2,
                 device="auto", random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, device=device, random_state=random_state,
                         batch_size=batch_size)
        self.image_shape = image_shape
        self.patch_size = patch_size
        self.threshold = threshold
        self.baseline = baseline
        self.blur_sigma = blur_sigma
        self.seed = seed
        self.seed_params = seed_params
        self.beam_width = beam_width
        self.max_size = max_size
        self.n_roots = n_roots
        self.max_overlap = max_overlap
        self.max_depth = max_depth
        self.max_children = max_children

    # ------------------------------------------------------------------ parameters
    def _check_params(self):
        b = self.baseline
        if isinstance(b, str) and b not in _BASELINES:
            raise ValueError(f"baseline must be one of {list(_BASELINES)}, a number or one "
                             f"image (C, H, W) / row (d,); got {b!r}.")
        if isinstance(b, bool):
            raise TypeError("baseline must be 'zeros', 'blur', a number or an image; got a bool.")

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y):
        self.image_shape_ = self._fit_image_shape(X.shape[1])
        d_model = self._model_rows(self.background_[:1]).shape[1]
        if d_model != X.shape[1]:
            raise ValueError(
                f"the model's input has {d_model} columns but X's images have {X.shape[1]} "
                "values; SAG hides patches of the image the model takes: give the model the "
                "images themselves (not a Pipeline that maps columns to groups)."
            )
        self.player_of_col_, self.n_patches_ = patch_players(self.image_shape_, self.patch_size)
        _c, h, w = self.image_shape_
        self.patch_grid_ = (h // self.patch_size, w // self.patch_size)
        self.baseline_ = self._resolve_baseline(X.shape[1])
        self.seed_explainer_ = self._fit_seed()

    def _fit_image_shape(self, d):
        """(C, H, W): that of fit's images, or ``image_shape`` for flattened rows."""
        seen = self.prepared_.image_shape
        if d < 2:
            raise ValueError(
                f"X has {d} feature per row; SAG needs at least 2 features (pixels forming "
                "several patches): pass images (n, C, H, W) or (n, H, W)."
            )
        if self.image_shape is None:
            if seen is None:
                raise ValueError(
                    f"X is 2-D (n_samples, {d}): SAG explains images, so pass X as images "
                    "(n, C, H, W) or (n, H, W), or, if the rows are flattened images that the "
                    "model takes as rows, give image_shape=(C, H, W). Tabular data has no "
                    "patches; use a Shapley explainer for it."
                )
            return seen
        shape = tuple(int(s) for s in self.image_shape)
        shape = (1, *shape) if len(shape) == 2 else shape
        if seen is not None and shape != seen:
            raise ValueError(f"image_shape={tuple(self.image_shape)}, but X holds images of "
                             f"shape {self.prepared_.input_shape}; leave image_shape=None for "
                             "images (it is read from X).")
        if int(np.prod(shape)) != d:
            raise ValueError(
                f"image_shape={tuple(self.image_shape)} holds {int(np.prod(shape))} values but "
                f"rows of X have {d} features; X must hold images flattened in (C, H, W) order."
            )
        return shape

    def _resolve_baseline(self, d):
        """The baseline as one flat row (d,), or None for "blur" (computed per image)."""
        b = self.baseline
        if isinstance(b, str):
            return np.zeros(d) if b == "zeros" else None
        owner = f"{type(self).__name__} (from fit's X)"
        if isinstance(b, numbers.Real):
            row = np.full((1, d), float(b))
        else:
            arr = check_numeric(b, "baseline")
            shape = self.prepared_.input_shape
            if shape is not None and arr.shape in (shape, self.image_shape_):
                arr = arr.reshape(-1)
            elif shape is not None and arr.ndim != 1:
                raise ValueError(
                    f"baseline has shape {arr.shape}; give one image of shape {shape} (or one "
                    f"flat row of shape ({d},)), or 'zeros', 'blur' or a number."
                )
            if arr.ndim != 1:
                raise ValueError(
                    f"baseline has shape {arr.shape}; expected one flat image row, a 1-D array "
                    f"of shape ({d},) (not a 2-D table), or 'zeros', 'blur' or a number."
                )
            row = check_tabular(arr.reshape(1, -1), name="baseline", n_features=d, owner=owner)
        if not np.isfinite(row).all():
            raise ValueError("baseline contains NaN or infinite values; give finite numbers.")
        self._check_range(row, "baseline")
        return np.asarray(row, dtype=np.float64)[0]

    def _fit_seed(self):
        """The fitted seed explainer, or None for a callable or ``seed=None``."""
        if self.seed is None or callable(self.seed):
            return None
        try:
            cls = sklxai.get_explainer(self.seed)
        except ValueError as exc:
            raise ValueError(f"seed={self.seed!r} is not a registered explainer ({exc}); pass "
                             "a registered name such as 'igos', a callable or None.") from None
        params = dict(self.seed_params or {})
        if self.prepared_.input_shape is None and "image_shape" in cls._get_param_names():
            params.setdefault("image_shape", self.image_shape_)  # flattened rows are images
        try:
            est = cls(self.model_, device=self.device, random_state=self.random_state,
                      batch_size=self.batch_size, **params)
        except TypeError as exc:
            raise TypeError(f"seed_params={self.seed_params!r} are not parameters of the seed "
                            f"explainer {self.seed!r} ({exc}).") from None
        return est.fit(self._as_given(self.background_))

    def _as_given(self, rows):
        """Flat rows in the kind ``fit`` received: images (n, *input_shape) or rows."""
        if self.prepared_.input_shape is None:
            return rows
        return rows.reshape(rows.shape[0], *self.prepared_.input_shape)

    # ------------------------------------------------------------------ explain
    def _make_explanation(self, X, **fields):
        """A :class:`~sklxai_sag.SAGExplanation`: the base's fields and each image's graph."""
        return SAGExplanation(**fields)

    def _n_explained_outputs(self):
        return 1

    def _explain_target(self, X, target):
        n = X.shape[0]
        Xm = np.array(self._model_rows(X), dtype=np.float64, order="C")  # a copy: no view
        fx = self.adapter_.predict(Xm, batch_size=self.batch_size)
        if target is None:
            targets = np.argmax(fx, axis=1).astype(np.int64)
            output_names = [self.output_names_[0]] if self.n_outputs_ == 1 else None
        elif np.ndim(target) == 0:
            targets = np.full(n, target, dtype=np.int64)
            output_names = [self.output_names_[target]]
        else:
            targets, output_names = np.asarray(target, dtype=np.int64), None
        full = fx[np.arange(n), targets]
        B = self._baseline_rows(Xm)
        guide = self._seed_guide(X, targets)
        batch = self.batch_size if self.batch_size is not None else max(
            1, min(self.adapter_.default_batch_size, 2**25 // Xm.shape[1]))
        search = SufficientSetSearch(self.adapter_, Xm, B, targets, self.player_of_col_,
                                     need=self.threshold * full, beam_width=self.beam_width,
                                     guide=guide, batch_size=batch)
        max_size = self.n_patches_ if self.max_size is None else min(self.max_size,
                                                                     self.n_patches_)
        search.run(max_size)
        graphs = self._graphs(search, targets, full)
        counts = np.zeros((n, self.n_patches_))
        for i, g in enumerate(graphs):
            for root in g.roots:
                counts[i, list(root)] += 1
        values = counts[:, self.player_of_col_]
        base = np.array([g.baseline_score for g in graphs], dtype=np.float64)
        return values, base, full.astype(np.float64), output_names, {"graphs": graphs}

    def _baseline_rows(self, Xm):
        """The baseline of each row: (n, d)."""
        if self.baseline_ is not None:
            return np.broadcast_to(self.baseline_, Xm.shape)
        return self._blur(Xm)

    def _blur(self, rows):
        """A Gaussian blur of each flattened image (reflect padding), as (n, d) float64."""
        c, h, w = self.image_shape_
        sigma = self.blur_sigma if self.blur_sigma is not None else max(0.5, max(h, w) / 10)
        radius = max(1, int(np.ceil(3 * sigma)))
        k = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64)
                              / sigma) ** 2)
        k = k / k.sum()
        img = torch.as_tensor(rows, dtype=torch.float64).reshape(-1, 1, h, w)
        pad_h, pad_w = min(radius, h - 1), min(radius, w - 1)
        img = F.pad(img, (pad_w, pad_w, pad_h, pad_h), mode="reflect" if max(pad_h, pad_w)
                    else "constant")
        kh = k[radius - pad_h: radius + pad_h + 1].view(1, 1, -1, 1)
        kw = k[radius - pad_w: radius + pad_w + 1].view(1, 1, 1, -1)
        out = F.conv2d(F.conv2d(img, kh / kh.sum()), kw / kw.sum())
        return out.reshape(rows.shape[0], c * h * w).numpy()

    def _seed_guide(self, X, targets):
        """The seed attributions summed per patch, (n, P), or None (rank by probability)."""
        if self.seed is None:
            return None
        n, d = X.shape
        X = np.array(X, dtype=np.float64, order="C")  # a fresh copy, whatever view X was
        if self.seed_explainer_ is not None:
            values = self._seed_values(X, targets)
            if values.ndim == 3:  # an explainer that ignores target: take each row's class
                values = values[np.arange(n), :, targets]
        else:
            values = self.seed(self._as_given(X), targets)
            try:
                values = (check_numeric(values, "seed's output") if hasattr(values, "detach")
                          else np.asarray(values, dtype=np.float64))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"seed returned something that is not numbers ({exc}); it "
                                 "must return attributions (n, C, H, W), (n, H, W) or (n, d)."
                                 ) from None
        _c, h, w = self.image_shape_
        values = np.asarray(values, dtype=np.float64)
        flat = values.reshape(values.shape[0], -1) if values.ndim >= 2 else values
        if values.ndim < 2 or flat.shape[0] != n or flat.shape[1] not in (d, h * w):
            raise ValueError(
                f"seed returned attributions of shape {values.shape}; expected one map per "
                f"image, ({n}, {', '.join(map(str, self.image_shape_))}), ({n}, {h}, {w}) or "
                f"({n}, {d})."
            )
        if not np.isfinite(flat).all():
            raise ValueError("seed returned NaN or infinite attributions.")
        owner = self.player_of_col_[: flat.shape[1]]
        guide = np.zeros((n, self.n_patches_))
        np.add.at(guide, (slice(None), owner), flat)
        return guide

    def _seed_values(self, X, targets):
        """The seed explainer's attributions of each row's class, (n, d); the seed explainer
        is given back its own ``target`` afterwards."""
        est = self.seed_explainer_
        own = est.target
        try:
            return est.set_params(target=targets).explain(self._as_given(X)).flatten().values
        finally:
            est.set_params(target=own)

    # ------------------------------------------------------------------ roots and graphs
    def _roots(self, search, i):
        """Up to ``n_roots`` minimal sets of image i sharing at most ``max_overlap`` patches."""
        cands = search.minimal_sets(i)
        ordered = sorted(cands, key=lambda s: (len(s), -search.cache[i][frozenset(s)], s))
        roots = []
        for s in ordered:
            if len(roots) == self.n_roots:
                break
            if all(len(set(s) & set(r)) <= self.max_overlap for r in roots):
                roots.append(s)
        return cands, roots

    def _graphs(self, search, targets, full):
        """Expand every image's roots level by level; each level is one batched pass."""
        n = len(targets)
        empty = frozenset()
        search.score([(i, empty) for i in range(n)])
        depths, cands, roots = [], [], []
        for i in range(n):
            c, r = self._roots(search, i)
            cands.append(c)
            roots.append(r)
            depths.append({frozenset(s): 0 for s in r})
        frontier = [[frozenset(s) for s in r] for r in roots]
        for depth in range(1, self.max_depth + 1):
            pairs = [(i, node - {p}) for i in range(n) for node in frontier[i]
                     for p in sorted(node)]
            if not pairs:
                break
            search.score(pairs)  # every subset of this level, all images: one batched pass
            nxt = [[] for _ in range(n)]
            for i in range(n):
                for node in frontier[i]:
                    subsets = [node - {p} for p in sorted(node)]
                    subsets.sort(key=lambda s: (-search.cache[i][s], sorted(s)))
                    for child in subsets[: self.max_children]:
                        if child not in depths[i]:
                            depths[i][child] = depth
                            if child:
                                nxt[i].append(child)
            frontier = nxt
        graphs = []
        for i in range(n):
            nodes = {tuple(sorted(s)): search.cache[i][s] for s in depths[i]}
            by_size = {}
            for s in nodes:
                by_size.setdefault(len(s), set()).add(s)
            edges = [(p, c) for p in sorted(nodes, key=lambda s: (-len(s), s))
                     for c in sorted(by_size.get(len(p) - 1, ()))
                     if set(c) < set(p)]
            graphs.append(SAGGraph(
                roots=roots[i], nodes=nodes,
                depths={tuple(sorted(s)): d for s, d in depths[i].items()}, edges=edges,
                candidates=cands[i], target=int(targets[i]), full_score=float(full[i]),
                baseline_score=search.cache[i][empty], need=float(search.need[i]),
                patch_grid=self.patch_grid_, patch_size=int(self.patch_size)))
        return graphs
