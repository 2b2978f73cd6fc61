"""Counting minimal sufficient explanations (Shitole et al., NeurIPS 2021, "One explanation is
not enough: structured attention graphs for image classification").

An image usually holds several small sets of patches that *each* suffice for the model's
decision. A set S of patches is *sufficient* when the model's score for the target on the image
with only S kept (everything else at the baseline) reaches ``threshold`` times its score on the
full image, and *minimal* when no single patch can be dropped from S with S staying sufficient.
Beam search over patch sets finds them; their number per image says how many distinct
explanations the model accepts.

:func:`count_sub_explanations` is the metric. Its search, :class:`SufficientSetSearch` (with
:func:`patch_players`, the patch of each column), is public so that explainers built on minimal
sufficient explanations (the ``sag`` plugin's structured attention graphs) reuse it.
"""

import numbers
from dataclasses import dataclass

import numpy as np

from sklxai.metrics._common import (
    attribution_players,
    check_image_shape,
    masked_scores,
    player_setup,
    players,
    prepare,
    resolve_targets,
)
from sklxai.utils.validation import check_positive_int


@dataclass
class SubExplanations:
    """Minimal sufficient explanations found for each image.

    Attributes
    ----------
    counts : ndarray of shape (n,)
        Number of minimal sufficient explanations found per image.
    sets : list of n lists of tuples
        For each image, its minimal sufficient sets, each a sorted tuple of patch indices
        (row-major over the patch grid), smallest sets first.
    scores : list of n ndarrays
        The model's target score with only each set kept, aligned with ``sets``.
    full_scores : ndarray of shape (n,)
        The target score on each full image.
    targets : ndarray of shape (n,)
        The output explained for each image.
    patch_grid : tuple (rows, cols)
        Patches per column and per row of an image.
    """

    counts: np.ndarray
    sets: list
    scores: list
    full_scores: np.ndarray
    targets: np.ndarray
    patch_grid: tuple

    def masks(self, i):
        """Image ``i``'s sets as boolean patch masks of shape (n_sets, rows, cols)."""
        rows, cols = self.patch_grid
        out = np.zeros((len(self.sets[i]), rows * cols), dtype=bool)
        for j, s in enumerate(self.sets[i]):
            out[j, list(s)] = True
        return out.reshape(-1, rows, cols)


def count_sub_explanations(model, X, *, image_shape=None, patch_size, target=None, threshold=0.9,
                           beam_width=5, max_size=None, baseline=0.0, attributions=None,
                           device="auto", batch_size=None):
    """Find the minimal sufficient explanations (MSEs) of each image by beam search.

    Sets grow one patch at a time from single patches up to ``max_size``. At each size, every
    set is scored; the sufficient ones are recorded and not grown further, and the
    ``beam_width`` best insufficient ones (highest score, or highest attribution when
    ``attributions`` is given) are grown by each remaining patch. Supersets of recorded sets are
    skipped. A recorded set from which one patch can be dropped while staying sufficient is
    replaced by its sufficient subsets (checked the same way), so every reported set is minimal
    in that sense, and none contains another.

    Parameters
    ----------
    model : skorch net, torch.nn.Module, scikit-learn estimator or ModelAdapter
        A fitted classifier (scores are probabilities) taking the images.
    X : array-like or tensor of shape (n, C, H, W), (n, H, W) or (n, C * H * W)
        Images as the model takes them, or flattened in (C, H, W) order.
    image_shape : tuple (C, H, W) or (H, W), optional
        Required for flattened images; read from X otherwise.
    patch_size : int
        Side of the square patches; must divide H and W (8x8 digits with 2: 16 patches).
    target : None, int, label or array of int (n,)
        The output explained. None: each image's predicted class.
    threshold : float in (0, 1], default=0.9
        A set is sufficient when its score is at least ``threshold`` times the full image's.
    beam_width : int, default=5
        Insufficient sets kept per size and image.
    max_size : int, optional
        Largest set searched (default: every patch). With fewer, an image may get no MSE.
    baseline : float or array-like of shape (d,) or (n, d), default=0.0
        What the patches outside a set show.
    attributions : Explanation or array-like, optional
        Guides the beam: sets are ranked by the sum of their patches' attributions instead of
        by the model's score. Shapes as in :func:`~sklxai.metrics.deletion_curve`.
    device : "auto", str or torch.device, default="auto"
    batch_size : int, optional
        Model rows per call. All sets of one size, over all images, are scored in batches.

    Returns
    -------
    result : SubExplanations
        ``result.counts`` (n,) and ``result.sets`` (the patch sets of each image). If the
        baseline image alone is sufficient, an image's only MSE is the empty set ``()``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai.metrics import count_sub_explanations
    >>> class Either(torch.nn.Module):   # "yes" iff the top-left or the bottom-right patch is on
    ...     def forward(self, X):
    ...         img = X.reshape(-1, 4, 4)
    ...         on = torch.maximum(img[:, :2, :2].amin((1, 2)), img[:, 2:, 2:].amin((1, 2)))
    ...         return torch.stack([1 - on, on], dim=1)
    >>> res = count_sub_explanations(Either(), np.ones((1, 16)), image_shape=(4, 4),
    ...                              patch_size=2, device="cpu")
    >>> res.counts.tolist(), res.sets[0]
    ([2], [(0,), (3,)])
    """
    if patch_size is None:
        raise ValueError("patch_size is required: the side of the square patches.")
    adapter, X, batch_size, input_shape = prepare(model, X, device=device,
                                                  batch_size=batch_size)
    n, d = X.shape
    if image_shape is None and input_shape is None:
        raise ValueError("image_shape is required for flattened images: pass X as images "
                         "(n, C, H, W) or (n, H, W), or give image_shape=(C, H, W).")
    shape, owner, n_patches, B = player_setup(n, d, baseline, image_shape, patch_size,
                                              input_shape)
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not (
            0 < threshold <= 1):
        raise ValueError(f"threshold={threshold!r} must be a number in (0, 1].")
    beam_width = check_positive_int(beam_width, "beam_width")
    max_size = check_positive_int(max_size, "max_size", allow_none=True)
    max_size = n_patches if max_size is None else min(max_size, n_patches)
    fx = adapter.predict(X, batch_size)
    targets = resolve_targets(adapter, target, fx)
    full = fx[np.arange(n), targets]
    guide = None
    if attributions is not None:
        guide = attribution_players(attributions, targets, target is not None, shape, owner,
                                    n_patches)

    search = SufficientSetSearch(adapter, X, B, targets, owner, need=threshold * full,
                                 beam_width=beam_width, guide=guide, batch_size=batch_size)
    search.run(max_size)
    sets, scores = [], []
    for i in range(n):
        found = search.minimal_sets(i)
        sets.append(found)
        scores.append(np.array([search.cache[i][frozenset(s)] for s in found]))
    gh, gw = shape[1] // patch_size, shape[2] // patch_size
    return SubExplanations(np.array([len(s) for s in sets]), sets, scores, full, targets,
                           (gh, gw))


def patch_players(image_shape, patch_size):
    """The patch of each column of a flattened image, for :class:`SufficientSetSearch`.

    Parameters
    ----------
    image_shape : tuple (C, H, W) or (H, W)
        One image's shape; rows are the image flattened in (C, H, W) order.
    patch_size : int
        Side of the square patches; must divide H and W.

    Returns
    -------
    player_of_col : int ndarray of shape (C * H * W,)
        The patch of each column, row-major over the patch grid (all channels of a pixel
        belong to its patch).
    n_patches : int
        ``(H // patch_size) * (W // patch_size)``.

    Examples
    --------
    >>> from sklxai.metrics import patch_players
    >>> owner, n = patch_players((4, 4), 2)
    >>> n, owner.reshape(4, 4).tolist()
    (4, [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    """
    try:
        d = int(np.prod([int(s) for s in image_shape]))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"image_shape must be a tuple (C, H, W) or (H, W); got {image_shape!r}.") from exc
    shape = check_image_shape(image_shape, d, patch_size)
    return players(d, shape, patch_size)


class SufficientSetSearch:
    """Beam search for minimal sufficient sets of players, for many images at once.

    The search of :func:`count_sub_explanations`, public so that explainers built on minimal
    sufficient explanations (e.g. structured attention graphs) share it. A *player* is a group
    of columns (an image patch, see :func:`patch_players`); a set of players is *sufficient* for
    row i when the model's ``targets[i]`` score on the row with only those players kept (every
    other column at the baseline's value) is at least ``need[i]``.

    :meth:`run` grows sets one player at a time from the empty set. At each size every
    candidate of every row is scored in batched model calls; sufficient sets are recorded and
    not grown further, and the ``beam_width`` best insufficient ones (highest score, or highest
    sum of ``guide`` over their players) are grown by each remaining player. Supersets of
    recorded sets are skipped. A recorded set from which one player can be dropped while
    staying sufficient is replaced by its sufficient subsets (checked the same way), so every
    recorded set is minimal in that sense, and none contains another. Every score computed is
    kept in :attr:`cache`; :meth:`score` evaluates further sets through the same cache.

    Parameters
    ----------
    adapter : sklxai.models.ModelAdapter
        The model as a batched torch function of flat rows (an explainer's ``adapter_``, or
        :func:`sklxai.models.prepare_model`'s ``.adapter``).
    X : ndarray of shape (n, d)
        The rows (flattened images), float64.
    baseline : ndarray of shape (n, d)
        What the columns of removed players show, one row per row of X.
    targets : int ndarray of shape (n,)
        The output scored for each row.
    player_of_col : int ndarray of shape (d,)
        The player of each column, values 0 .. P-1.
    need : ndarray of shape (n,)
        The score a set must reach to be sufficient, per row.
    beam_width : int, default=5
        Insufficient sets kept per size and row.
    guide : ndarray of shape (n, P) or None, default=None
        Per-player attributions that rank the beam (sum over a set's players); None ranks by
        the model's score.
    batch_size : int, default=256
        Model rows per call.

    Attributes
    ----------
    n_players : int
        P, the number of players.
    cache : list of n dicts
        ``cache[i][frozenset(players)]``: row i's score with only those players kept, for
        every set scored so far.
    found : list of n sets of frozensets
        The minimal sufficient sets recorded by :meth:`run` (empty before it).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai.metrics import SufficientSetSearch, patch_players
    >>> from sklxai.models import prepare_model
    >>> class Either(torch.nn.Module):   # "yes" iff the top-left or the bottom-right patch is on
    ...     def forward(self, X):
    ...         img = X.reshape(-1, 4, 4)
    ...         on = torch.maximum(img[:, :2, :2].amin((1, 2)), img[:, 2:, 2:].amin((1, 2)))
    ...         return torch.stack([1 - on, on], dim=1)
    >>> X = np.ones((1, 16))
    >>> adapter = prepare_model(Either(), X, device="cpu")[0].adapter
    >>> owner, _ = patch_players((4, 4), 2)
    >>> search = SufficientSetSearch(adapter, X, np.zeros_like(X), np.array([1]), owner,
    ...                              need=np.array([0.9]))
    >>> search.run(max_size=4).minimal_sets(0)
    [(0,), (3,)]
    >>> search.score([(0, frozenset({1, 2}))]).tolist()
    [0.0]
    """

    def __init__(self, adapter, X, baseline, targets, player_of_col, *, need, beam_width=5,
                 guide=None, batch_size=256):
        self.adapter, self.X, self.B = adapter, X, baseline
        self.targets = np.asarray(targets, dtype=np.int64)
        self.owner = np.asarray(player_of_col, dtype=np.int64)
        self.n_players = int(self.owner.max()) + 1
        self.P, self.batch_size = self.n_players, batch_size
        self.need = np.asarray(need, dtype=np.float64)
        self.beam_width, self.guide = beam_width, guide
        n = X.shape[0]
        self.cache = [{} for _ in range(n)]   # frozenset -> score, per image
        self.found = [set() for _ in range(n)]

    def run(self, max_size):
        """Search sets of up to ``max_size`` players for every row; returns self."""
        n = self.X.shape[0]
        empty = frozenset()
        self.score([(i, empty) for i in range(n)])
        beams = {}
        for i in range(n):
            if self.sufficient(i, empty):  # the baseline alone suffices: nothing is needed
                self.found[i].add(empty)
            else:
                beams[i] = [empty]
        for _ in range(max_size):
            if not beams:
                break
            candidates = {}
            for i, beam in beams.items():
                grown = {s | {p} for s in beam for p in range(self.P) if p not in s}
                candidates[i] = [s for s in grown if not self._covers_found(i, s)]
            self.score([(i, s) for i, c in candidates.items() for s in c])
            pending, beams = [], {}
            for i, cands in candidates.items():
                pending += [(i, s) for s in cands if self.sufficient(i, s)]
                rest = [s for s in cands if not self.sufficient(i, s)]
                if rest:
                    beams[i] = sorted(rest, key=lambda s: self._rank_key(i, s))[:self.beam_width]
            self._keep_minimal(pending)
        return self

    def minimal_sets(self, i):
        """Row ``i``'s recorded sets as sorted tuples, smallest first (then lexicographic)."""
        return sorted((tuple(sorted(s)) for s in self.found[i]), key=lambda s: (len(s), s))

    def sufficient(self, i, s):
        """Whether the (already scored) set ``s`` of row ``i`` reaches ``need[i]``."""
        return self.cache[i][s] >= self.need[i]

    def _rank_key(self, i, s):
        value = self.cache[i][s] if self.guide is None else self.guide[i, list(s)].sum()
        return (-value, sorted(s))  # ties: the lexicographically first set

    def _covers_found(self, i, s):
        return any(f <= s for f in self.found[i])

    def score(self, pairs):
        """Scores of (row, frozenset of players) pairs, as an ndarray aligned with ``pairs``.

        The pairs not yet in :attr:`cache` are evaluated together, in batched model calls of
        ``batch_size`` rows, and cached.
        """
        pairs = list(pairs)
        todo = list(dict.fromkeys((i, s) for i, s in pairs if s not in self.cache[i]))
        if todo:
            rows = np.array([i for i, _ in todo], dtype=np.int64)
            keep = np.zeros((len(todo), self.P), dtype=bool)
            for j, (_, s) in enumerate(todo):
                keep[j, list(s)] = True
            scores = masked_scores(self.adapter, self.X, self.B, self.targets, rows, keep,
                                   self.owner, self.batch_size)
            for (i, s), v in zip(todo, scores):
                self.cache[i][s] = float(v)
        return np.array([self.cache[i][s] for i, s in pairs], dtype=np.float64)

    def _keep_minimal(self, pending):
        """Record the sufficient sets that no single patch can be dropped from.

        A set that fails is replaced by its sufficient one-smaller subsets, which are checked
        in turn (sizes shrink, so this ends).
        """
        while pending:
            pending = [(i, s) for i, s in set(pending)
                       if s not in self.found[i] and not self._covers_found(i, s)]
            self.score([(i, s - {p}) for i, s in pending for p in s])
            nxt = []
            for i, s in pending:
                smaller = [s - {p} for p in s if self.sufficient(i, s - {p})]
                if smaller:
                    nxt += [(i, t) for t in smaller]
                elif not self._covers_found(i, s):
                    # s may be a proper subset of sets recorded earlier (scores need not be
                    # monotone in the set): those are no longer minimal
                    self.found[i] = {f for f in self.found[i] if not s < f} | {s}
            pending = nxt
