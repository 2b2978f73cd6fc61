"""GradientExplainer: what the explainers that follow one output's gradient share.

Integrated Gradients (core), SAMP and I-GOS (plugins) all explain one output per row (each row's
predicted one by default), need a differentiable torch/skorch model, start from a baseline, and
evaluate the gradient of the explained output at many points in large batches on the device. This
module holds that once; each method only supplies its attribution rule (:meth:`_attribute`).
"""

import numbers
import warnings

import numpy as np
import torch

from sklxai.base import BaseExplainer
from sklxai.explainers._baseline import baseline_rows
from sklxai.utils import param_validation as pv


class GradientExplainer(BaseExplainer):
    """Base class of explainers that need gradients of one model output per row.

    It is public so that plugins (SAMP, I-GOS) build on it exactly as sklxai's own
    :class:`~sklxai.explainers.integrated_gradients.IntegratedGradients` does. A subclass declares its
    parameters in ``__init__`` (a ``baseline`` parameter among them, see below) and implements
    one hook:

    ``_attribute(X, B, targets)``
        X and B are float tensors of shape (n, d_model) on ``adapter_.device`` (the rows and
        their baselines, in the model's input space), ``targets`` a long tensor (n,) of output
        indices. Return the attributions, a tensor or array of shape (n, d_model), with the
        orientation of ``docs/design.rst``: larger means more evidence for the explained output.

    and may use :meth:`_target_gradient` (one batched forward + backward),
    :meth:`_points_per_pass` (how many points to send at once) and :meth:`_gradients` (any
    number of points, in passes of that size), and override :meth:`_baseline_rows` for
    baselines that depend on the explained row and :meth:`_base_outputs` for a reference that
    is not one point (an expectation over background rows). What a method
    measures on each row goes into the explanation's ``diagnostics`` (never onto the
    explainer): ``_attribute`` may return ``(attributions, diagnostics)``, a dict of arrays
    or tensors with one entry per row (e.g. I-GOS's masks), and
    :meth:`_after_attribute` returns more from the values (IG's completeness gap). The rest,
    validation,
    targets (each row's predicted output when ``target`` is None), baselines, f(x) and
    f(baseline), summing a Pipeline's model columns back to raw columns, and the
    :class:`~sklxai.explanation.Explanation`, lives here.

    Subclasses pass ``baseline`` and ``internal_batch_size`` on to this class's ``__init__``.
    The ``baseline`` parameter may be ``"mean"`` (of the background rows),
    ``"zeros"``, an array of shape (d,) (one row for every explained row) or (n, d) (one per
    explained row), in the model's input space like X; subclasses may accept more strings and
    resolve them by overriding :meth:`_resolve_baseline`. For an explainer fitted on images,
    array baselines are images: one image (C, H, W) or one per explained row (n, C, H, W) (the
    shape of fit's images).

    Images: X of shape (n, C, H, W) or (n, H, W) (arrays or torch tensors) is flattened by
    the model preparation (:class:`~sklxai.models.PreparedModel`), so ``_attribute`` gets flat
    rows (n, C*H*W) whatever the input; ``self.prepared_.image_shape`` is (C, H, W) when a
    method needs the spatial layout (``X.view(n, *self.prepared_.image_shape)``), and the
    values it returns get the input's shape back in ``explain``.

    Gradients are needed, so the model must be a skorch net or a ``torch.nn.Module`` (or a
    Pipeline with column-wise preprocessing ending in one, explained on its fast path); a
    scikit-learn model raises a TypeError at ``fit``. For a skorch classifier the explained
    outputs are the probabilities, as ``predict_proba`` returns them.

    Parameters
    ----------
    model, background, n_background, target, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer`. ``target`` None explains each row's
        predicted output; one output is always explained per row, so ``values`` are (n, d).
    baseline : "mean", "zeros" or array-like
        See above.
    internal_batch_size : int or None
        Points per forward + backward pass (see :meth:`_points_per_pass`).

    Attributes
    ----------
    baseline_ : ndarray of shape (d_model,) or (n, d_model)
        The baseline in model space, as resolved at ``fit``.
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "baseline": pv.unchecked("'mean', 'zeros', or an array of shape (d,) or (n, d)"),
        "internal_batch_size": pv.positive_int(allow_none=True),
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 fast_path="auto", baseline="zeros", internal_batch_size=None, device="auto",
                 random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, device=device, random_state=random_state,
                         batch_size=batch_size)
        self.baseline = baseline
        self.internal_batch_size = internal_batch_size

    # ------------------------------------------------------------------ fit
    def _check_params(self):
        super()._check_params()
        _check_differentiable_model(self.model, type(self).__name__)

    def _fit(self, X, y):
        from sklxai.models.sklearn_estimator import SklearnAdapter
        from sklxai.models.trees import TreeAdapter

        if isinstance(self.adapter_, (SklearnAdapter, TreeAdapter)):  # no gradients
            raise TypeError(
                f"{type(self).__name__} needs gradients, so the model must be a differentiable "
                "torch.nn.Module or skorch net (or a Pipeline with column-wise preprocessing "
                f"ending in one, explained on its fast path); got {type(self.model_).__name__}, "
                "which runs as a scikit-learn model (or as compiled trees). Use KernelSHAP, "
                "TreeShapley for tree models, or another Shapley explainer for it."
            )
        self.baseline_ = self._resolve_baseline(X.shape[1])
        self.__dict__.pop("_max_points", None)  # what fitted in memory is learned again

    def _resolve_baseline(self, d):
        """The ``baseline`` parameter as model-space rows: (d_model,) or (n, d_model)."""
        b = self.baseline
        if isinstance(b, str):
            if b == "mean":
                return self._model_rows(self.background_).mean(axis=0)
            if b == "zeros":
                return np.zeros(self._model_rows(self.background_[:1]).shape[1])
            raise ValueError(f"baseline must be 'mean', 'zeros' or an array; got {b!r}.")
        rows, one = baseline_rows(self, b, d)
        rows = self._model_rows(rows)
        return rows[0] if one else rows

    # ------------------------------------------------------------------ explain
    def _explain_target(self, X, target):
        """One output per row: ``target``'s, or each row's predicted one when it is None.

        ``base_values`` are f(baseline) and ``output`` f(x) of that output, so ``values`` are
        (n, d) whatever ``target`` is; the method's per-row diagnostics go to the
        explanation's ``diagnostics``.
        """
        n = X.shape[0]
        Xm = self._model_rows(X)
        Xt = self._rows_pass(Xm)
        try:
            return self._explain_rows(Xm, Xt, n, target)
        finally:
            for transient in ("_rows_graph", "_row_bytes"):
                self.__dict__.pop(transient, None)

    def _explain_rows(self, Xm, Xt, n, target):
        """:meth:`_explain_target` once the rows' pass is set up (see :meth:`_rows_pass`)."""
        graph = self.__dict__.get("_rows_graph")
        fx = _sizing_outputs(self, Xm) if graph is None else _numpy(graph[1].detach())
        if target is None:
            rows_t = np.argmax(fx, axis=1)
            output_names = [self.output_names_[0]] if self.n_outputs_ == 1 else None
        elif np.ndim(target) == 0:
            rows_t = np.full(n, target, dtype=np.int64)
            output_names = [self.output_names_[target]]
        else:
            rows_t, output_names = target, None
        values, base, output, diagnostics = self._explain_targets(Xm, rows_t, fx, Xt)
        return values, base, output, output_names, {"diagnostics": diagnostics}

    def _rows_pass(self, Xm):
        """Where the gradients are taken at the rows themselves (``_gradient_at_rows``), one
        forward pass that keeps its graph gives f(x) (and the targets) and then, in
        :meth:`_target_gradient`, the gradients: no second forward pass. Returns the rows as
        the model's input tensor (None where not, or over one pass); the outputs wait in
        ``_rows_graph``, which never outlives :meth:`_explain_target`."""
        n = Xm.shape[0]
        if not self._gradient_at_rows or not 0 < n <= min(
                self._points_per_pass(), self.batch_size or n):
            return None
        Xt = self.adapter_.to_input(np.asarray(Xm))
        try:
            with torch.enable_grad():
                Q = Xt.detach().requires_grad_(True)
                out, seen = self._rows_forward(Q)
        except torch.OutOfMemoryError:  # the passes of _target_gradient split the rows
            return Xt
        self._rows_graph = (Xt, out, Q, seen)
        return Xt

    def _rows_forward(self, Q):
        """The forward pass of :meth:`_rows_pass`: the outputs at Q, and what a subclass
        records on the way (Grad-CAM: its layer's activations; here None)."""
        return self.adapter_.forward(Q), None

    def _n_explained_outputs(self):
        return 1

    #: whether the gradients are taken at the explained rows themselves (see _rows_pass)
    _gradient_at_rows = False

    def _explain_targets(self, Xm, rows_t, fx, Xt=None):
        """Output ``rows_t[r]`` of each row r: values (n, d), f(b) (n,), f(x) (n,) and the
        per-row diagnostics (a dict of arrays). ``fx`` holds the outputs at ``Xm`` (n, k); None
        when only the values and f(b) are wanted (SmoothGrad's noisy copies): no pass for f(x)
        is made, f(x) is None, and the diagnostics that need it are left out. ``Xt``: the rows
        as the model's input tensor when they are already there (:meth:`_rows_pass`)."""
        adapter = self.adapter_
        dev, dtype = adapter.device, adapter.input_dtype
        n = Xm.shape[0]
        B = self._baseline_rows(Xm)
        rows = np.arange(n)
        output = None if fx is None else fx[rows, rows_t]
        base = self._base_outputs(B, rows_t)
        Xm = np.asarray(Xm)
        if Xt is None:
            Xt = adapter.to_input(Xm)  # copies read-only and reversed views
        Bt = torch.as_tensor(np.array(B, copy=True), dtype=dtype, device=dev)  # B may be a view
        tt = torch.as_tensor(rows_t, dtype=torch.long, device=dev)
        for name, rows_np, points in (("X", Xm, Xt), ("baseline", B, Bt)):
            if not bool(torch.isfinite(points).all()):  # paths through inf never end
                raise ValueError(
                    f"{name} overflows the model's input dtype {dtype} (model-space values up "
                    f"to {float(np.abs(np.asarray(rows_np)).max()):.3g}); rescale {name}."
                )
        values = self._attribute(Xt, Bt, tt)
        values, diagnostics = values if isinstance(values, tuple) else (values, {})
        values = _numpy(values).reshape(n, -1)
        if output is not None:
            diagnostics = {**diagnostics, **(self._after_attribute(values, output, base) or {})}
        if self.prepared_.column_map is not None:  # model columns back to raw columns
            values = self.prepared_.sum_to_players(values)
        return values, base, output, {name: _numpy(v, dtype=None)
                                      for name, v in diagnostics.items()}

    def _attribute(self, X, B, targets):
        """Attributions (n, d_model) of output ``targets[r]`` at row ``X[r]``, optionally with
        a dict of per-row diagnostics: ``(attributions, diagnostics)``; see the class."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _after_attribute(self, values, output, base):
        """Per-row diagnostics from the model-space values (n, d_model), f(x) and f(b) (n,):
        a dict of arrays of n entries for the explanation's ``diagnostics``, or None (the
        default: none)."""

    # ------------------------------------------------------------------ helpers
    def _baseline_rows(self, Xm):
        """The baseline of each model-space row of ``Xm``: (n, d_model). Override it for
        baselines that depend on the row (e.g. a blurred copy of each image)."""
        n = Xm.shape[0]
        B = self.baseline_
        if B.ndim == 1:
            return np.broadcast_to(B, (n, B.shape[0]))
        if B.shape[0] != n:
            raise ValueError(
                f"baseline has {B.shape[0]} rows but X has {n}; give one baseline row per "
                "explained row, or a single row of shape (d,)."
            )
        return B

    def _outputs(self, Xm):
        return self.adapter_.predict(Xm, batch_size=self.batch_size)

    def _base_outputs(self, B, rows_t):
        """The explanation's ``base_values``: output ``rows_t[r]`` at each row's baseline
        ``B[r]`` (n,). Override it where the reference is not one point (GradientSHAP's
        expectation over background rows)."""
        if B.ndim == 2 and B.shape[0] > 1 and B.strides[0] == 0:  # one row for all: once
            return self._outputs(B[:1])[0, np.asarray(rows_t)]
        return self._outputs(B)[np.arange(len(rows_t)), rows_t]

    def _points_per_pass(self):
        """Points per forward + backward pass: ``internal_batch_size`` when the subclass has
        one and it is set, else ``batch_size``, else 65536 on CUDA and on the CPU 4096, or as
        many as keep the largest layer output of a pass within 16 MiB where the run for f(x)
        measured it (``_sizing_outputs``); never more than what fitted in device memory so far
        (see :meth:`_target_gradient`)."""
        size = next((s for s in (self.internal_batch_size, self.batch_size) if s is not None),
                    None)
        if size is None:
            size = 65536 if self.adapter_.device.type == "cuda" else _cpu_pass_rows(
                self.__dict__.get("_row_bytes"), 4096)
        return min(size, self.__dict__.get("_max_points", size))

    def _pass_size(self, remaining):
        """Points in the next pass over ``remaining`` points: :meth:`_points_per_pass`, or
        where the layers size the passes, the fewest of at most that many, about equal."""
        size = min(self._points_per_pass(), remaining)
        return _even_pass(remaining, size) if self.__dict__.get("_row_bytes") else size

    def _target_gradient(self, P, targets):
        """One batched forward + backward at points P (m, d_model) on the adapter's device.

        Returns the explained outputs ``f_{targets[j]}(P[j])`` (m,), detached, and their
        gradients with respect to P (m, d_model). Call it with at most
        :meth:`_points_per_pass` points. When the device runs out of memory, the points are
        split in halves (with a warning), later passes are capped at the size that fitted, and
        the work goes on; nothing computed is lost.
        """
        if self.__dict__.get("_rows_graph", (None,))[0] is P:  # the rows' pass: its graph
            _, out, Q, _ = self.__dict__.pop("_rows_graph")
            with torch.enable_grad():
                scores = out.gather(1, targets[:, None])[:, 0]
                (grad,) = torch.autograd.grad(scores.sum(), Q)
            return scores.detach(), grad
        try:
            with torch.enable_grad():
                Q = P.detach().requires_grad_(True)
                scores = self.adapter_.forward(Q).gather(1, targets[:, None])[:, 0]
                (grad,) = torch.autograd.grad(scores.sum(), Q)
            return scores.detach(), grad
        except torch.OutOfMemoryError:
            if P.shape[0] == 1:
                raise
            return _in_halves(self, P, targets)

    def _gradients(self, P, targets):
        """The gradients of output ``targets[j]`` at points ``P[j]`` (m, d_model), in passes of
        at most :meth:`_points_per_pass` points (:meth:`_target_gradient` each)."""
        if self.__dict__.get("_rows_graph", (None,))[0] is P:  # all in the rows' own pass
            return self._target_gradient(P, targets)[1]
        grads, start = [], 0
        while start < P.shape[0]:  # the pass size may shrink on the way (out of memory)
            stop = start + self._pass_size(P.shape[0] - start)
            grads.append(self._target_gradient(P[start:stop], targets[start:stop])[1])
            start = stop
        return torch.cat(grads) if grads else torch.zeros_like(P)


#: on the CPU, a pass's largest layer output is kept within this many bytes: larger ones
#: overflow the processor's caches and take longer per point (one torch thread on a 2-core AMD
#: EPYC, 32 MiB L3: resnet18 on 64 x 64 images, whose first convolution returns 256 KiB a row,
#: took 10% longer for 200 points in one forward + backward pass than in 4 passes of 50, and
#: 20% longer for 256 in one forward pass than in 4 of 64; the digits CNN, 8 KiB a row, 35%
#: longer for 3200 points in one forward + backward pass than in 2 of 1600)
_CPU_PASS_BYTES = 16 * 2**20


def _cpu_pass_rows(row_bytes, maximum):
    """Rows per pass on the CPU: as many as keep a pass's largest layer output within
    ``_CPU_PASS_BYTES`` for ``row_bytes`` bytes a row (at least 1, at most ``maximum``);
    ``maximum`` when ``row_bytes`` is not known (None)."""
    if not row_bytes:
        return maximum
    return int(max(1, min(maximum, _CPU_PASS_BYTES // row_bytes)))


def _even_pass(remaining, size):
    """The size of the next of the fewest passes of at most ``size`` that cover ``remaining``
    points, all about equal (200 points at most 64 a pass: 4 passes of 50, not 64, 64, 64 and
    8)."""
    passes = -(-remaining // size)
    return -(-remaining // passes)


def _largest_layer_bytes(adapter, run):
    """``run()``'s result and the bytes per row of the largest tensor that a submodule of the
    adapter's torch module returned in it (None where the adapter has no module)."""
    try:
        module = adapter.module
    except AttributeError:
        return run(), None
    if not isinstance(module, torch.nn.Module):
        return run(), None
    largest = [0]

    def record(_module, _inputs, out):
        if isinstance(out, torch.Tensor) and out.ndim >= 1 and out.shape[0] > 0:
            largest[0] = max(largest[0], out.numel() * out.element_size() // out.shape[0])

    handles = [sub.register_forward_hook(record) for sub in module.modules()]
    try:
        result = run()
    finally:
        for handle in handles:
            handle.remove()
    return result, largest[0] or None


def _in_halves(est, P, targets):
    """``est._target_gradient`` of points P in two halves, after the device ran out of memory
    with all of them: later passes are capped at the half, with a warning."""
    m = P.shape[0]
    half = m // 2
    est._max_points = half
    if P.is_cuda:
        torch.cuda.empty_cache()
    warnings.warn(
        f"{type(est).__name__}: out of device memory with {m} points per forward + "
        f"backward pass; continuing with {half}.", UserWarning, stacklevel=3)
    parts = [est._target_gradient(P[:half], targets[:half]),
             est._target_gradient(P[half:], targets[half:])]
    return torch.cat([parts[0][0], parts[1][0]]), torch.cat([parts[0][1], parts[1][1]])


def _sizing_outputs(est, Xm):
    """``est._outputs`` of the explained rows; on the CPU with neither ``internal_batch_size``
    nor ``batch_size`` given, the run also measures the model's largest layer output per row,
    which sizes the call's passes (``_points_per_pass``; held in ``est._row_bytes`` until the
    call returns, as ``_rows_graph``)."""
    if (est.adapter_.device.type != "cpu" or est.internal_batch_size is not None
            or est.batch_size is not None):
        return est._outputs(Xm)
    out, est._row_bytes = _largest_layer_bytes(est.adapter_, lambda: est._outputs(Xm))
    return out


def _numpy(values, dtype=np.float64):
    """A tensor (on any device) or array-like as an ndarray of ``dtype`` (None: its own, with
    floating point tensors in float64)."""
    if isinstance(values, torch.Tensor):
        values = values.detach()
        values = (values.double() if values.is_floating_point() else values).cpu().numpy()
    return np.asarray(values, dtype=dtype)


def _completeness_gap(values, output, base, eps=1e-6):
    """Each row's relative completeness gap, ``|sum_i values_i - (f(x) - f(b))| /
    max(|f(x) - f(b)|, eps)``, from model-space values (n, d_model), f(x) and f(b) (n,)."""
    delta = output - base
    return np.abs(values.sum(axis=1) - delta) / np.maximum(np.abs(delta), eps)


def _check_differentiable_model(model, owner):
    """Refuse a plain scikit-learn model early, before any fitting."""
    from sklearn.pipeline import Pipeline

    from sklxai.models.prepare import takes_tensors

    if takes_tensors(model):
        return
    if isinstance(model, Pipeline):  # decided once the adapter is built (fast path or not)
        return
    if isinstance(model, numbers.Number) or model is None:
        return  # the base's checks say what is wrong
    raise TypeError(
        f"{owner} needs gradients, so the model must be a differentiable "
        f"torch.nn.Module or skorch net; got {type(model).__name__}, a scikit-learn model "
        "without gradients. Use KernelSHAP (or another Shapley explainer) for it."
    )
