"""Occlusion: the output change when sliding windows of the input are set to a baseline."""

import numbers

import numpy as np
import torch

from sklxai.base import BaseExplainer
from sklxai.explainers._baseline import baseline_rows
from sklxai.explainers.gradient import _cpu_pass_rows, _even_pass, _largest_layer_bytes
from sklxai.utils import param_validation as pv
from sklxai.utils.memory import chunk_size
from sklxai.utils.validation import check_tabular


def _check_shape_param(value, name, ndim, default):
    """``window``/``stride`` as a tuple of ``ndim`` ints >= 1 (an int: the same in every
    dimension; None: ``default``)."""
    if value is None:
        return tuple(default)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value),) * ndim
    try:
        shape = tuple(value)
    except TypeError:
        shape = None
    ok = shape is not None and all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                   and v >= 1 for v in shape)
    if not ok:
        raise TypeError(f"{name} must be None, an int >= 1 or a tuple of ints >= 1; got "
                        f"{value!r}.")
    return tuple(int(v) for v in shape)


class Occlusion(BaseExplainer):
    """Occlusion (Zeiler and Fergus, 2014): how much the outputs drop when a sliding window of
    the input is replaced by a baseline.

    A window of shape ``window`` slides over each row's features with step ``stride``; for
    each position the features it covers are set to the baseline and the model is called. Each
    feature's value is the mean, over the windows that cover it, of
    ``f(x) - f(x with the window set to the baseline)`` (captum's ``Occlusion``). Only outputs
    are needed, so any model works, scikit-learn estimators included; the occluded rows of
    many (row, window) pairs go to the model in batches (``batch_size`` rows per call), as
    many at once as the memory budget allows (:mod:`sklxai.utils.memory`); for a torch model
    on the CPU with ``batch_size`` None, as many as keep its largest layer output of a call
    within 16 MiB (measured in the run that gives f(x)), which runs faster than larger calls.

    Windows are taken over the input's layout: for tabular data over the columns, in their
    order (``window=3``: three adjacent columns); for images (n, C, H, W) over (C, H, W), a
    ``(C, h, w)`` patch, or ``(h, w)`` for a patch through every channel; for (n, H, W) images
    over (H, W). Windows run from the first feature in steps of ``stride`` up to the last
    feature, the last one cut off where the input ends (captum's positions:
    ``ceil((size - window) / stride) + 1`` per dimension).

    Parameters
    ----------
    model : fitted skorch net, torch.nn.Module or scikit-learn estimator
        See :class:`~sklxai.base.BaseExplainer`.
    background, n_background, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer`. The background only serves
        ``baseline="mean"``; nothing here is random.
    target : None, int, label or array of int
        None: every output (values (n, d, k)); an int or a label: that output for every row;
        an array: one output index per row.
    window : None, int or tuple of int
        The window's shape in the input's layout (above); an int is the same size in every
        dimension. None (default): one feature (leave-one-out ablation).
    stride : None, int or tuple of int
        The step between window positions in each dimension (at most the window's size where
        the window does not span the dimension, so that every feature is covered). None
        (default): 1.
    baseline : float, "mean" or array-like
        What occluded features are set to: a number (default 0.0), the mean of the background
        rows, one row (d,) (for images one image (C, H, W)) or one per explained row (n, d)
        (images (n, C, H, W)).

    Attributes
    ----------
    window_, stride_ : tuple of int
        ``window`` and ``stride`` resolved against the input's layout at ``fit``.
    baseline_ : ndarray of shape (d,) or (n, d)
        The baseline as flat rows.
    n_windows_ : int
        The number of window positions per row (model calls per row, less one).

    Notes
    -----
    ``base_values`` are f(baseline), the output with every feature occluded: with one-feature
    windows on a linear model the values are ``w_i (x_i - b_i)`` and sum to
    ``output - base_values``; in general they do not. Cost per row: ``n_windows_ + 1`` model
    rows.

    captum's ``Occlusion`` computes the same values (its ``sliding_window_shapes``,
    ``strides`` and ``baselines``) for one target and needs the full window shape, channels
    included; shap has no occlusion explainer (its ``PartitionExplainer`` with an image
    masker occludes hierarchically, by Owen values).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklxai.explainers.occlusion import Occlusion
    >>> X = np.random.default_rng(0).normal(size=(50, 4))
    >>> lr = LinearRegression().fit(X, X @ [1.0, -2.0, 0.5, 3.0])
    >>> exp = Occlusion(lr, device="cpu").fit(X).explain(X[:2])
    >>> np.allclose(exp.values, X[:2] * lr.coef_)  # one column at a time, set to 0
    True
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "window": pv.unchecked("None, an int or a tuple of ints >= 1 (checked at fit)"),
        "stride": pv.unchecked("None, an int or a tuple of ints >= 1 (checked at fit)"),
        "baseline": pv.unchecked("a number, 'mean', or an array of shape (d,) or (n, d)"),
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 fast_path="auto", window=None, stride=None, baseline=0.0, device="auto",
                 random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, device=device, random_state=random_state,
                         batch_size=batch_size)
        self.window = window
        self.stride = stride
        self.baseline = baseline

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y):
        layout = self._layout()
        if self.window is not None and np.ndim(self.window) == 1 and len(self.window) == 2 \
                and len(layout) == 3:  # (h, w): a patch through every channel
            window = (layout[0], *self.window)
        else:
            window = self.window
        self.window_ = _check_shape_param(window, "window", len(layout), (1,) * len(layout))
        stride = self.stride
        if stride is not None and np.ndim(stride) == 1 and len(stride) == 2 \
                and len(layout) == 3:
            stride = (1, *stride)
        self.stride_ = _check_shape_param(stride, "stride", len(layout), (1,) * len(layout))
        for name, shape in (("window", self.window_), ("stride", self.stride_)):
            if len(shape) != len(layout):
                raise ValueError(
                    f"{name} has {len(shape)} dimensions but the input's layout {layout} has "
                    f"{len(layout)}; give {len(layout)} sizes (or one int).")
        if any(w > s for w, s in zip(self.window_, layout)):
            raise ValueError(
                f"window {self.window_} is larger than the input's layout {layout} in some "
                "dimension; give a smaller window.")
        if any(st > w for st, w, s in zip(self.stride_, self.window_, layout) if w < s):
            raise ValueError(
                f"stride {self.stride_} is larger than window {self.window_} in a dimension "
                "the window does not span, so some features would never be occluded; give a "
                "stride at most the window's size.")
        self.baseline_ = self._resolve_baseline(X.shape[1])
        self.n_windows_ = int(np.prod(self._positions_per_dim()))

    def _layout(self):
        """The features' layout: (d,) for tabular data, (C, H, W) or (H, W) for images."""
        shape = self.prepared_.input_shape
        return (self.n_features_in_,) if shape is None else tuple(shape)

    def _positions_per_dim(self):
        return [int(np.ceil((s - w) / st)) + 1
                for s, w, st in zip(self._layout(), self.window_, self.stride_)]

    def _resolve_baseline(self, d):
        b = self.baseline
        if isinstance(b, str):
            if b == "mean":
                return self.background_.mean(axis=0)
            raise ValueError(f"baseline must be a number, 'mean' or an array; got {b!r}.")
        if isinstance(b, numbers.Real) and not isinstance(b, bool):
            rows = np.full((1, d), float(b))
            self._check_range(check_tabular(rows, name="baseline", n_features=d), "baseline")
            return rows[0]
        rows, one = baseline_rows(self, b, d)
        return rows[0] if one else rows

    # ------------------------------------------------------------------ explain
    def _window_masks(self, positions):
        """Boolean masks (m, d) of the window positions ``positions`` (m,), numbered in C
        order over the positions of each dimension."""
        layout, counts = self._layout(), self._positions_per_dim()
        m = len(positions)
        pos = np.stack(np.unravel_index(positions, counts), axis=1)  # (m, ndim)
        mask = np.ones((m,) + (1,) * len(layout), dtype=bool)
        for k, (size, w, st) in enumerate(zip(layout, self.window_, self.stride_)):
            lo = pos[:, k:k + 1] * st
            idx = np.arange(size)
            shape = [m] + [1] * len(layout)
            shape[k + 1] = size
            mask = mask & ((idx >= lo) & (idx < lo + w)).reshape(shape)
        return mask.reshape(m, -1)

    def _explain(self, X, rng):
        n, d = X.shape
        B = self.baseline_
        if B.ndim == 2 and B.shape[0] != n:
            raise ValueError(
                f"baseline has {B.shape[0]} rows but X has {n}; give one baseline row per "
                "explained row, or a single row of shape (d,).")
        # f(x) and f(baseline) from one run: one model row for a single baseline row (then
        # repeated), else one each; on the CPU that run measures the largest layer output
        out, row_bytes = self._first_run(np.concatenate([X, B if B.ndim == 2 else B[None]]))
        fx, base = out[:n], out[n:]
        base = np.repeat(base, n, axis=0) if B.ndim == 1 else base
        # the occluded rows in the precision the model takes them (selecting, then casting,
        # gives the same values as casting first): half the bytes for a float32 model
        dtype = self._occluded_dtype()
        X, B = X.astype(dtype, copy=False), np.broadcast_to(B.astype(dtype, copy=False), (n, d))
        P = self.n_windows_
        values = np.zeros((n, d, fx.shape[1]))
        per_chunk = chunk_size(3 * 8 * d, "cpu", maximum=n * P)  # rows, masks, outputs
        counts = np.zeros(d)  # the windows covering each feature
        for start in range(0, P, per_chunk):
            counts += self._window_masks(np.arange(start, min(start + per_chunk, P))).sum(0)
        per_call = _cpu_pass_rows(row_bytes, per_chunk)  # occluded rows per model call
        start = 0
        while start < n * P:
            stop = start + _even_pass(n * P - start, per_call)
            pairs = np.arange(start, stop)
            start = stop
            r, w = pairs // P, pairs % P
            masks = self._window_masks(w)
            diff = fx[r] - self._predict(np.where(masks, B[r], X[r]))  # (m, k)
            for u in np.unique(r):  # pairs are sorted by row
                sel = r == u
                values[u] += masks[sel].T.astype(np.float64) @ diff[sel]
        return values / np.maximum(counts, 1)[None, :, None], base, fx

    def _predict(self, rows):
        return self.adapter_.predict(self._model_rows(rows), batch_size=self.batch_size)

    def _occluded_dtype(self):
        """The numpy dtype of the model's input where it takes the rows themselves (no
        preprocessing or encoding), else float64."""
        dtype = self.adapter_.input_dtype
        if (self.prepared_.preprocessor is not None or self.prepared_.encoder is not None
                or not dtype.is_floating_point):
            return np.float64
        return torch.empty(0, dtype=dtype).numpy().dtype

    def _first_run(self, rows):
        """:meth:`_predict` of ``rows``, and the bytes per row of the largest layer output of
        a torch model run on the CPU with ``batch_size`` None (else None)."""
        if self.batch_size is not None or self.adapter_.device.type != "cpu":
            return self._predict(rows), None
        return _largest_layer_bytes(self.adapter_, lambda: self._predict(rows))
