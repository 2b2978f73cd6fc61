"""DeepLIFT (rescale rule) and DeepSHAP of a torch or skorch model, complete by construction."""

import numpy as np
import torch

from sklxai.explainers._deeplift_rules import DeepLiftMode, ReferenceTape
from sklxai.explainers.gradient import GradientExplainer, _completeness_gap
from sklxai.utils import param_validation as pv


class DeepLIFT(GradientExplainer):
    """DeepLIFT with the rescale rule (Shrikumar et al., 2017); DeepSHAP with a background.

    For a row x, a reference x' and the explained output f_t, ``values = (x - x') * m``
    where m are DeepLIFT's multipliers: the chain rule run with each nonlinear operation's
    derivative replaced by a multiplier that maps the difference of its inputs (at x and at
    x') onto the exact difference of its outputs. The values therefore sum to
    ``f_t(x) - f_t(x')`` (completeness, also called summation-to-delta) up to rounding, on
    every operation the model uses; each explanation reports the relative gap per row as
    ``diagnostics["completeness_gap"]``.

    The model runs twice per batch, on the references (once, on one row, where every row has
    the same reference: its operations' inputs are broadcast to the rows'; on all of them
    where the model's shapes do not allow that) and on the rows, under a
    :class:`torch.overrides.TorchFunctionMode` that sees every torch operation: modules call
    the functional operations, so ``nn.ReLU``, ``F.relu``, a reused or in-place ReLU are one
    and the same operation. The rules, per operation:

    * linear operations (linear and convolution layers, additions and residual connections,
      means, reshapes, indexing, average pooling, batch norm in eval mode, dropout in eval
      mode): their own gradient, which is exact;
    * elementwise activations (ReLU, leaky ReLU, ELU, SELU, GELU, SiLU, Mish, sigmoid, tanh,
      softplus, hardtanh, exp, log, sqrt, pow, clamp, ...): the rescale rule
      ``(f(v) - f(v')) / (v - v')``, the derivative at the midpoint where
      ``|v - v'| <= sqrt(eps) (1 + |v|)``;
    * products of two tensors that both depend on the input (``q @ k.T``, ``attn @ v``,
      gates): the gradient at the midpoints ``(a + a') / 2``, ``(b + b') / 2``, exact for
      bilinear maps;
    * division by such a tensor: ``(a - a') (1/b + 1/b') / 2 - (a + a') / 2 (b - b') / (b b')``;
    * softmax, log-softmax, layer, RMS and group norm, vector norms, max pooling,
      amax/amin, logsumexp: the Jacobian at the midpoint plus, for each output, a rank-one
      correction along ``v - v'`` inside the inputs it depends on, so that the output's
      multipliers give its exact difference;
    * attention (``F.scaled_dot_product_attention``, ``nn.MultiheadAttention``) and the other
      Python functions of ``torch.nn.functional`` (``F.normalize``, ...): as their parts.

    Any other operation on tensors that depend on the input raises a NotImplementedError
    naming it (no silent break of completeness); so do selections whose mask differs between
    x and x' (``torch.where(x > 0, x, 0)``) and control flow that depends on the values.

    Parameters
    ----------
    model : fitted skorch net or torch.nn.Module
        See :class:`~sklxai.base.BaseExplainer`.
    background, n_background, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer`. The background serves ``baseline="mean"``
        and ``baseline="background"`` (DeepSHAP); nothing here is random.
    target : None, int, label or array of int
        Which output to explain: None (default) each row's predicted output, an int or label
        that output for every row, an array one output index per row of ``explain``'s X.
    baseline : "zeros", "mean", "background" or array-like of shape (d,) or (n, d)
        The reference x': all zeros (default, captum's ``DeepLift`` convention), the mean of
        the background rows, one row for every explained row, one per explained row (images:
        one image (C, H, W) or one per row), or ``"background"``: DeepSHAP, every background
        row in turn as the reference and the values averaged, with ``base_values`` the mean
        output over the background rows (shap's ``DeepExplainer``, captum's
        ``DeepLiftShap``).
    internal_batch_size : int or None
        (row, reference) pairs per pass (each pair runs the model twice). None:
        ``batch_size`` when given, else 4096 on CPU and 65536 on CUDA.

    Attributes
    ----------
    baseline_ : ndarray of shape (d_model,) or (n, d_model)
        The reference in model space, as resolved at ``fit`` (for ``"background"``, the mean
        background row; the values use the rows themselves).

    Notes
    -----
    captum's ``DeepLift`` hooks ``nn.Module`` activations, so a functional ``F.relu`` keeps
    its plain gradient (the attributions no longer sum to ``f(x) - f(x')``), a reused
    ``nn.ReLU`` raises and conv -> ReLU -> max-pool with biases misses completeness; shap's
    ``DeepExplainer`` misses it on max-pooling networks and refuses GELU, SELU and layer norm.
    Where captum is right (modules only, no pooling), the values here equal its.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai.explainers.deeplift import DeepLIFT
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
    ...                           torch.nn.Linear(4, 1)).double()
    >>> X = np.random.default_rng(0).normal(size=(20, 3))
    >>> exp = DeepLIFT(net, device="cpu").fit(X).explain(X[:2])
    >>> np.allclose(exp.values.sum(axis=1), exp.output - exp.base_values)
    True
    """

    _parameter_constraints = {
        **GradientExplainer._parameter_constraints,
        "baseline": pv.unchecked(
            "'zeros', 'mean', 'background', or an array of shape (d,) or (n, d)"),
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 fast_path="auto", baseline="zeros", internal_batch_size=None, device="auto",
                 random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, baseline=baseline,
                         internal_batch_size=internal_batch_size, device=device,
                         random_state=random_state, batch_size=batch_size)

    # ------------------------------------------------------------------ fit
    def _deepshap(self):
        return isinstance(self.baseline, str) and self.baseline == "background"

    def _resolve_baseline(self, d):
        if self._deepshap():
            return self._model_rows(self.background_).mean(axis=0)
        return super()._resolve_baseline(d)

    # ------------------------------------------------------------------ explain
    def _base_outputs(self, B, rows_t):
        """f_t(x') at each row's reference; with a background, its mean over the rows."""
        if self._deepshap():
            return self._outputs(self._model_rows(self.background_)).mean(axis=0)[rows_t]
        return super()._base_outputs(B, rows_t)

    @property
    def _gradient_at_rows(self):  # one reference per row: f(x) from the rules' own pass
        return not self._deepshap()

    def _rows_forward(self, Q):
        """The rows' pass with DeepLIFT's rules against their baselines
        (``GradientExplainer._rows_pass``): its outputs are f(x), so no plain pass is run."""
        ref = np.array(self._baseline_rows(Q), copy=True)
        return self._rules_forward(Q, torch.as_tensor(ref, dtype=Q.dtype, device=Q.device),
                                   shared=self.baseline_.ndim == 1), None

    def _attribute(self, X, B, targets):
        """(x - x') times DeepLIFT's multipliers of output ``targets[r]``; with a background
        the mean over its rows."""
        n, d = X.shape
        if self.__dict__.get("_rows_graph", (None,))[0] is X:  # the rows' own pass
            _, out, q, _ = self.__dict__.pop("_rows_graph")
            return self._times_multipliers(X, B, out, q, targets)
        if not self._deepshap():
            pairs = (torch.arange(n, device=X.device), B)
            return self._pairs(X, *pairs, targets)
        bg = torch.as_tensor(np.array(self._model_rows(self.background_), copy=True),
                             dtype=X.dtype, device=X.device)
        m = bg.shape[0]
        total = torch.zeros(n, d, dtype=torch.float64, device=X.device)
        p = torch.arange(n * m, device=X.device)
        r, j = p // m, p % m
        total.index_add_(0, r, self._pairs(X, r, bg[j], targets))
        return total / m

    def _pairs(self, X, rows, refs, targets):
        """Values (p, d) of rows ``X[rows]`` against ``refs`` (p, d), in passes."""
        out, start = [], 0
        while start < rows.shape[0]:
            stop = start + self._points_per_pass()
            r = rows[start:stop]
            out.append(self._multipliers(X[r], refs[start:stop], targets[r]))
            start = stop
        return torch.cat(out) if out else torch.zeros_like(X, dtype=torch.float64)

    def _multipliers(self, x, ref, targets):
        """One pass: the reference run (recorded), the rows' run with DeepLIFT's rules, and
        the backward pass; returns (x - x') * multipliers in float64."""
        q = x.detach().requires_grad_(True)
        out = self._rules_forward(q, ref, shared=not self._deepshap() and self.baseline_.ndim == 1)
        return self._times_multipliers(x, ref, out, q, targets)

    def _rules_forward(self, q, ref, shared=False):
        """The reference run (recorded), then the run at q (which keeps gradients) with
        DeepLIFT's rules: the outputs at q, whose graph gives the multipliers. ``shared``:
        every row of ``ref`` is the same, so the reference run takes one row and its
        operations' inputs are broadcast to the rows' (the same multipliers at a fraction of
        the reference run's cost); where the model's shapes refuse the broadcast, the run is
        made again on every reference row."""
        if shared and q.shape[0] > 1:
            try:
                return self._rules_run(q, ref[:1], broadcast=True)
            except Exception:  # noqa: BLE001 - e.g. the rows mixed into other axes: all rows
                shared = False
        return self._rules_run(q, ref, broadcast=False)

    def _rules_run(self, q, ref, broadcast):
        forward = self.adapter_.forward
        tape = ReferenceTape()
        with torch.enable_grad():
            r = ref.detach().requires_grad_(True)
            with tape:
                forward(r.clone())
            mode = DeepLiftMode(tape, broadcast=broadcast)
            with mode:
                out = forward(q.clone())
            mode.finish()
        return out

    @staticmethod
    def _times_multipliers(x, ref, out, q, targets):
        """(x - x') times the multipliers, the gradient of output ``targets`` of the rules'
        run ``out`` at q, in float64."""
        with torch.enable_grad():
            scores = out.gather(1, targets[:, None])[:, 0]
            (grad,) = torch.autograd.grad(scores.sum(), q, allow_unused=True)
        if grad is None:  # the output does not depend on the input
            grad = torch.zeros_like(q)
        return (x - ref).double() * grad.double()

    def _after_attribute(self, values, output, base):
        """The relative completeness gap of each row against f(x) - f(x') (DeepSHAP: the mean
        f over the background rows)."""
        return {"completeness_gap": _completeness_gap(values, output, base)}
