"""SAMP: attributions along a greedy Salient Manipulation Path (Zhang et al., ICLR 2024)."""

import math
import numbers

import numpy as np
import torch

from sklxai import GradientExplainer
from sklxai.utils.validation import check_positive_int

_DIRECTIONS = ("both", "deletion", "insertion")
_QUADRATURES = ("trapezoid", "left")
_EPS = 1e-6
# a selected move whose L1 length exceeds the step budget by less than this (relative) is taken
# whole: it only absorbs float rounding, and lets the path land exactly on its end point
_BUDGET_SLACK = 1e-9


class SAMP(GradientExplainer):
    """Salient Manipulation Path attributions (SAMP; Zhang et al., ICLR 2024).

    A path method, like Integrated Gradients, but the path is not the straight line: it is
    chosen greedily so that the output changes as early as possible ("concentration
    principle"), which concentrates the attribution on the few features the model needs.

    For a row x with baseline b, the **deletion** path walks from x to b and the **insertion**
    path from b to x. At each point p of a path, with end point e and gradient g of the explained
    output at p:

    1. the features not yet at their end value are scored by the first-order change of the
       output if they jumped there, ``g_i * (e_i - p_i)``; the deletion path takes the
       ``n_features_per_step`` features whose move lowers the output most, the insertion path
       those whose move raises it most (ties: ``torch.topk``'s order);
    2. these features are moved to their end values, all by the same fraction: the whole move
       when its L1 length fits the step budget ``eta = ||x - b||_1 / n_steps`` (the
       "infinitesimal constraint"), else scaled down to length ``eta``;
    3. the attribution grows by ``(p_next - p) * g``, oriented so that each direction's
       attributions sum to about ``f(x) - f(b)`` (the deletion sum is negated).

    Each step either spends the whole budget or finishes every selected feature, so a path
    ends at its end point after at most ``n_steps + ceil(d / n_features_per_step)`` steps. The
    map of ``direction="both"`` is the **mean** of the deletion and insertion maps (see Notes).

    All rows, and both directions, advance together: one batched forward + backward per step
    for every unfinished path (chunked by ``internal_batch_size``), no loop over rows.

    Parameters
    ----------
    model : fitted skorch net or torch.nn.Module
        See :class:`~sklxai.base.BaseExplainer`. Gradients are needed: a scikit-learn model
        raises a TypeError at ``fit``.
    background, n_background, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer`. The background only serves
        ``baseline="mean"``; ``batch_size`` is the number of rows per plain forward call (f(x),
        f(baseline)). SAMP draws no random numbers: ``random_state`` only seeds the background
        draw, and results are deterministic.
    target : None, int, label or array of int
        Which output to explain. None (default): each row's predicted output. An int or an
        output label: that output for every row. An array: one output index per row of
        ``explain``'s X. One output is explained per row, so ``values`` are (n, d) (for
        images, the input's shape (n, C, H, W)).
    baseline : "zeros", "mean" or array-like of shape (d,) or (n, d), default="zeros"
        The other end of both paths: all zeros (a black image, as in the paper's deletion
        path), the mean of the background rows, one row for every explained row, or one row per
        explained row. Arrays are in the model's input space, like X (for images: one image
        (C, H, W) or one per row (n, C, H, W)).
    n_steps : int, default=50
        Number of fragments of the total L1 distance: each step moves the point by at most
        ``||x - b||_1 / n_steps`` in L1 norm (the paper's ``N``; 50 in the reference code).
        More steps give a finer path and a smaller completeness gap.
    n_features_per_step : int or None, default=None
        Features in the manipulation set of one step (the reference code's ``step``). None:
        ``ceil(d / n_steps)``, so that a step moving that many average features about uses its
        budget and a path takes at most about ``2 * n_steps`` steps. 1 gives the finest greedy
        order, at the cost of up to ``d + n_steps`` steps per path.
    direction : {"both", "deletion", "insertion"}, default="both"
        Which path(s) to follow. "both" returns the mean of the two maps.
    momentum : float in [0, 1), default=0.0
        Momentum on the gradient that *steers* the path (step 1):
        ``m_t = momentum * m_{t-1} + (1 - momentum) * g_t``, with ``m_0 = g_0``. 0 means no
        momentum. It smooths the greedy choice across steps; the attribution itself always
        uses the exact gradient (see Notes).
    quadrature : {"trapezoid", "left"}, default="trapezoid"
        How each straight segment ``p -> p_next`` of the path is integrated: "left" uses the
        gradient at ``p`` (the reference code's rule), "trapezoid" the mean of the gradients at
        ``p`` and ``p_next``. The gradient at ``p_next`` is needed for the next step anyway, so
        the trapezoid rule costs one extra gradient per path (at its end point) and its error
        falls with the square of the step length instead of linearly.
    internal_batch_size : int or None, default=None
        Path points per forward + backward pass (memory is bounded by it). None:
        ``batch_size`` when given, else 4096 points on CPU and 65536 on CUDA.

    Attributes
    ----------
    baseline_ : ndarray of shape (d_model,) or (n, d_model)
        The baseline in model space, as resolved at ``fit``.

    Notes
    -----
    **Diagnostics.** Every explanation holds, per row, ``diagnostics["completeness_gap"]``:
    ``|sum_i values_i - (f(x) - f(b))| / max(|f(x) - f(b)|, 1e-6)``, the relative error of
    the path integral's quadrature (the Explanation's ``efficiency_gap`` is the largest
    absolute one), which shrinks as ``n_steps`` grows; and ``diagnostics["path_steps"]``: the
    steps its path took (gradient evaluations, without the trapezoid rule's last one; the
    longer of its two paths for ``direction="both"``). ``explain`` writes nothing on the
    explainer.

    **Completeness.** Every path is piecewise linear from its start to exactly its end point,
    and the attribution is a quadrature of the path integral of the gradient, so each
    direction's attributions sum to ``f(x) - f(b)`` up to the quadrature error (exactly for a
    linear model, where every feature moves from ``x_i`` to ``b_i`` once in total and gets
    ``w_i (x_i - b_i)`` whatever the path). ``diagnostics["completeness_gap"]`` reports the
    error.

    **"both".** The paper and the reference code add the deletion and the insertion maps (and
    then rescale the map for display). This class returns their mean, which ranks the features
    the same way but keeps completeness: the map still sums to about ``f(x) - f(b)``, and on a
    linear model it is ``w * (x - b)`` like either direction. Multiply by 2 for the sum.

    **Choices where the paper is silent or the reference code differs.**
    Both paths share one baseline (the reference code deletes towards zeros but inserts from a
    blurred image), so the two maps explain the same difference ``f(x) - f(b)``. Momentum only
    steers the path: the reference code also accumulates the smoothed gradient, which biases
    the path integral; here the attribution uses the exact gradient along the chosen path, so
    momentum changes the path but not the completeness property. The reference code's
    momentum weight is the new gradient's (``momen * g_t + (1 - momen) * m_{t-1}``), so its
    ``momen`` is ``1 - momentum`` here. Features are ranked one by one in the flattened input
    (the reference code ranks the pixels of an image with their channels summed); for 1-channel
    images, such as the digits below, the two agree. Features already at their end value are
    never selected.

    Images are passed as images, X of shape (n, C, H, W) or (n, H, W) (arrays or torch
    tensors), as the model takes them; values have the input's shape. Paths run on the
    flattened pixels (the model preparation flattens them and reshapes them back for the
    model), so flattened rows with a module starting with ``torch.nn.Unflatten`` give the same
    numbers.

    References
    ----------
    Borui Zhang, Wenzhao Zheng, Jie Zhou, Jiwen Lu. "Path Choice Matters for Clear Attributions
    in Path Methods". ICLR 2024.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai_samp import SAMP
    >>> lin = torch.nn.Linear(3, 1).double()
    >>> X = np.random.default_rng(0).normal(size=(20, 3))
    >>> samp = SAMP(lin, n_steps=8, device="cpu").fit(X)
    >>> exp = samp.explain(X[:2])
    >>> w = lin.weight.detach().numpy()[0]
    >>> np.allclose(exp.values, X[:2] * w)   # any monotone path: w * (x - b), here b = 0
    True
    >>> bool(exp.diagnostics["completeness_gap"].max() < 1e-10)
    True
    """

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 fast_path="auto", baseline="zeros", n_steps=50, n_features_per_step=None,
                 direction="both", momentum=0.0, quadrature="trapezoid",
                 internal_batch_size=None, device="auto", random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, baseline=baseline,
                         internal_batch_size=internal_batch_size, device=device,
                         random_state=random_state, batch_size=batch_size)
        self.n_steps = n_steps
        self.n_features_per_step = n_features_per_step
        self.direction = direction
        self.momentum = momentum
        self.quadrature = quadrature

    # ------------------------------------------------------------------ fit
    def _check_params(self):
        super()._check_params()
        check_positive_int(self.n_steps, "n_steps")
        check_positive_int(self.n_features_per_step, "n_features_per_step", allow_none=True)
        check_positive_int(self.internal_batch_size, "internal_batch_size", allow_none=True)
        if not (isinstance(self.direction, str) and self.direction in _DIRECTIONS):
            raise ValueError(
                f"direction must be one of {list(_DIRECTIONS)}; got {self.direction!r}."
            )
        if not (isinstance(self.quadrature, str) and self.quadrature in _QUADRATURES):
            raise ValueError(
                f"quadrature must be one of {list(_QUADRATURES)}; got {self.quadrature!r}."
            )
        m = self.momentum
        if (isinstance(m, bool) or not isinstance(m, numbers.Real) or not np.isfinite(m)
                or not 0.0 <= m < 1.0):
            raise ValueError(
                f"momentum must be a float in [0, 1) (0 for no momentum); got {m!r}."
            )

    # ------------------------------------------------------------------ explain
    def _attribute(self, X, B, targets):
        """Greedy deletion and/or insertion paths for all rows at once; see the class."""
        n, d = X.shape
        dirs = ("deletion", "insertion") if self.direction == "both" else (self.direction,)
        Xd, Bd = X.double(), B.double()
        # every (direction, row) pair is one path: start, end, and +1 (insertion: raise the
        # output fastest) or -1 (deletion: lower it fastest, and negate the sum)
        start = torch.cat([Xd if t == "deletion" else Bd for t in dirs])
        end = torch.cat([Bd if t == "deletion" else Xd for t in dirs])
        sign = torch.cat([torch.full((n,), -1.0 if t == "deletion" else 1.0,
                                     dtype=torch.float64, device=X.device) for t in dirs])
        acc, steps = self._follow_paths(start, end, sign, targets.repeat(len(dirs)), X.dtype)
        values = sign[:, None] * acc
        return (values.view(len(dirs), n, d).mean(dim=0),
                {"path_steps": steps.view(len(dirs), n).amax(dim=0)})

    def _follow_paths(self, start, end, sign, targets, dtype):
        """Walk every path from ``start`` to ``end``; returns sum of step * gradient (m, d) and
        the steps each path took (m,)."""
        m, d = start.shape
        dev = start.device
        n_steps = self.n_steps
        k = min(self.n_features_per_step or math.ceil(d / n_steps), d)
        trapezoid = self.quadrature == "trapezoid"
        mu = float(self.momentum)
        # the infinitesimal constraint: L1 budget of one step, per path
        eta = (end - start).abs().sum(dim=1) / n_steps
        cap = eta * (1.0 + _BUDGET_SLACK)
        # full-budget steps number at most n_steps, the others finish k features each
        max_steps = n_steps + math.ceil(d / k) + 1

        cur = start.clone()
        acc = torch.zeros(m, d, dtype=torch.float64, device=dev)
        remaining = cur != end
        done = ~remaining.any(dim=1)
        pending = torch.zeros(m, d, dtype=torch.float64, device=dev)  # trapezoid: last step
        has_pending = torch.zeros(m, dtype=torch.bool, device=dev)
        steer = torch.zeros(m, d, dtype=torch.float64, device=dev) if mu > 0 else None
        n_taken = 0
        steps = torch.zeros(m, dtype=torch.long, device=dev)
        while True:
            need = ~done | has_pending
            if not bool(need.any()):
                break
            rows = need.nonzero()[:, 0]
            g = self._gradients(cur[rows], targets[rows], dtype)
            if trapezoid:  # close the previous segment with its end point's gradient
                hp = has_pending[rows]
                if bool(hp.any()):
                    r = rows[hp]
                    acc[r] += 0.5 * pending[r] * g[hp]
                    has_pending[r] = False
            live = ~done[rows]
            if not bool(live.any()):
                continue
            r, g = rows[live], g[live]
            if steer is not None:
                first = n_taken == 0
                steer[r] = g if first else mu * steer[r] + (1.0 - mu) * g
                guide = steer[r]
            else:
                guide = g
            p, e, rem = cur[r], end[r], remaining[r]
            delta = e - p
            if n_taken + 1 >= max_steps:  # float safety net: finish every path now
                sel = rem
            else:
                score = (sign[r, None] * guide * delta).masked_fill(~rem, -math.inf)
                top = score.topk(k, dim=1).indices
                sel = torch.zeros_like(rem).scatter_(1, top, True) & rem
            move = delta * sel
            length = move.abs().sum(dim=1)
            whole = length <= cap[r]
            scale = torch.where(whole, torch.ones_like(length), eta[r] / length)
            # whole moves land exactly on the end values, so finished features stay finished
            new = torch.where(whole[:, None] & sel, e, p + scale[:, None] * move)
            step = new - p
            acc[r] += (0.5 if trapezoid else 1.0) * step * g
            if trapezoid:
                pending[r] = step
                has_pending[r] = True
            cur[r] = new
            remaining[r] = new != e
            done[r] = ~remaining[r].any(dim=1)
            steps[r] += 1
            n_taken += 1
        return acc, steps

    def _gradients(self, P, targets, dtype):
        """Gradients (float64) of the explained outputs at points P, in passes of bounded size."""
        out = torch.empty(P.shape, dtype=torch.float64, device=P.device)
        chunk = self._points_per_pass()
        for s in range(0, P.shape[0], chunk):
            _, g = self._target_gradient(P[s:s + chunk].to(dtype), targets[s:s + chunk])
            out[s:s + chunk] = g.double()
        return out

    def _after_attribute(self, values, output, base):
        """The relative completeness gap of each row (see the class)."""
        delta = output - base
        return {"completeness_gap": np.abs(values.sum(axis=1) - delta)
                / np.maximum(np.abs(delta), _EPS)}
