"""IntegratedGradients: path-integrated gradients of a differentiable torch/skorch model."""

import numbers

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from sklxai.base import BaseExplainer
from sklxai.explanation import Explanation
from sklxai.utils.validation import check_positive_int, check_tabular, check_target

_METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_middle", "riemann_left",
            "riemann_right")
_EPS = 1e-6


def quadrature(n_steps, method="gausslegendre"):
    """Nodes and weights of a rule for integrals over [0, 1].

    Parameters
    ----------
    n_steps : int
        Number of nodes (``riemann_trapezoid`` needs at least 2).
    method : {"gausslegendre", "riemann_trapezoid", "riemann_middle", "riemann_left", "riemann_right"}

    Returns
    -------
    alphas, weights : ndarray of shape (n_steps,), float64
        ``sum(weights * g(alphas))`` approximates the integral of g over [0, 1];
        the weights sum to 1, so the rule is exact for constant g (linear models).
    """
    m = check_positive_int(n_steps, "n_steps")
    if method == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(m)
        return (x + 1.0) / 2.0, w / 2.0
    k = np.arange(m, dtype=np.float64)
    if method == "riemann_left":
        return k / m, np.full(m, 1.0 / m)
    if method == "riemann_right":
        return (k + 1.0) / m, np.full(m, 1.0 / m)
    if method == "riemann_middle":
        return (k + 0.5) / m, np.full(m, 1.0 / m)
    if method == "riemann_trapezoid":
        if m < 2:
            raise ValueError("method='riemann_trapezoid' needs n_steps >= 2 (both end points).")
        w = np.full(m, 1.0 / (m - 1))
        w[[0, -1]] /= 2.0
        return k / (m - 1), w
    raise ValueError(f"method must be one of {list(_METHODS)}; got {method!r}.")


class IntegratedGradients(BaseExplainer):
    """Integrated Gradients (Sundararajan et al., 2017) of a torch or skorch model.

    For a row x, a baseline b and the explained output f_t,
    ``IG_i(x) = (x_i - b_i) * integral_0^1 d f_t(b + a (x - b)) / d x_i da``, computed with a
    quadrature rule of ``n_steps`` nodes on the straight path. All (row, node) points are
    evaluated in large batches on the adapter's device, gradients by ``torch.autograd.grad``.
    Completeness: ``values.sum(axis=1) == output - base_values`` up to the quadrature error,
    which is reported after every ``explain`` as ``completeness_gap_``.

    Gradients are needed, so the model must be a skorch net or a ``torch.nn.Module`` (or a
    Pipeline whose preprocessing is column-wise and whose last step is one of those: the path is
    then taken in model space and each raw column gets the sum of its model columns'
    attributions). A scikit-learn model raises a TypeError at ``fit``; use :class:`KernelSHAP`.
    For a skorch classifier the explained outputs are the probabilities (the net's own output
    nonlinearity), as ``predict_proba`` returns them.

    Parameters
    ----------
    model : fitted skorch net or torch.nn.Module
        See :class:`~sklxai.base.BaseExplainer`.
    background, n_background, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer`. The background only serves ``baseline="mean"``;
        ``batch_size`` is the number of rows per plain forward call (f(x), f(baseline)).
    target : None, int, label or array of int
        Which output to explain. None (default): each row's predicted output (the argmax of the
        model's outputs at that row). An int or an output label: that output for every row. An
        array: one output index per row of ``explain``'s X. One output is always explained per
        row, so ``values`` are (n, d).
    baseline : "mean", "zeros" or array-like of shape (d,) or (n, d)
        The path's start: the mean of the background rows, all zeros (e.g. a black image), one
        row for every explained row, or one row per explained row (n must match ``explain``'s X).
        Arrays are in the model's input space, like X.
    n_steps : int
        Number of quadrature nodes on the path.
    method : {"gausslegendre", "riemann_trapezoid", "riemann_middle", "riemann_left", \
"riemann_right"}
        The quadrature rule on [0, 1]. Gauss-Legendre (``numpy.polynomial.legendre.leggauss``
        mapped to [0, 1]) is exact for integrands that are polynomials of degree < 2 n_steps and
        usually needs the fewest steps; the Riemann rules are the classic ones.
    internal_batch_size : int or None
        Path points per forward + backward pass (memory is bounded by it). None: ``batch_size``
        when given, else 4096 points on CPU and 65536 on CUDA.

    Attributes
    ----------
    baseline_ : ndarray of shape (d_model,) or (n, d_model)
        The baseline in model space, as resolved at ``fit`` (an (n, d) array is kept as given).
    completeness_gap_ : float
        Set by every ``explain``: max over rows of
        ``|sum_i IG_i - (f(x) - f(b))| / max(|f(x) - f(b)|, 1e-6)``, the relative completeness
        error of the quadrature (the Explanation's ``efficiency_gap`` is the absolute one).
    completeness_gaps_ : ndarray of shape (n,)
        The same, per row of the last ``explain``.

    Notes
    -----
    Images are passed flattened, as for every explainer: X of shape (n, C*H*W) with a module
    that starts with ``torch.nn.Unflatten(1, (C, H, W))``. Values keep that layout:
    ``exp.values.reshape(n, C, H, W)`` is the attribution image.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai.explainers.gradients import IntegratedGradients
    >>> lin = torch.nn.Linear(3, 1).double()
    >>> X = np.random.default_rng(0).normal(size=(20, 3))
    >>> ig = IntegratedGradients(lin, baseline="zeros", device="cpu").fit(X)
    >>> exp = ig.explain(X[:2])
    >>> w = lin.weight.detach().numpy()[0]
    >>> np.allclose(exp.values, X[:2] * w)
    True
    """

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 fast_path="auto", baseline="mean", n_steps=50, method="gausslegendre",
                 internal_batch_size=None, device="auto", random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, device=device, random_state=random_state,
                         batch_size=batch_size)
        self.baseline = baseline
        self.n_steps = n_steps
        self.method = method
        self.internal_batch_size = internal_batch_size

    # ------------------------------------------------------------------ fit
    def _check_params(self):
        super()._check_params()
        quadrature(self.n_steps, self.method)  # validates both
        check_positive_int(self.internal_batch_size, "internal_batch_size", allow_none=True)
        _check_differentiable_model(self.model)

    def _fit(self, X, y):
        from sklxai.models.sklearn_estimator import SklearnAdapter

        if isinstance(self.adapter_, SklearnAdapter):
            raise TypeError(
                "IntegratedGradients needs gradients, so the model must be a differentiable "
                "torch.nn.Module or skorch net (or a Pipeline with column-wise preprocessing "
                f"ending in one, explained on its fast path); got {type(self.model_).__name__}, "
                "which runs as a scikit-learn model. Use KernelSHAP (or another Shapley "
                "explainer) for it."
            )
        self.baseline_ = self._resolve_baseline(X.shape[1])

    def _resolve_baseline(self, d):
        b = self.baseline
        if isinstance(b, str):
            if b == "mean":
                return self._model_rows(self.background_).mean(axis=0)
            if b == "zeros":
                d_model = self._model_rows(self.background_[:1]).shape[1]
                return np.zeros(d_model)
            raise ValueError(f"baseline must be 'mean', 'zeros' or an array; got {b!r}.")
        arr = np.asarray(b, dtype=np.float64) if not hasattr(b, "columns") else b
        one = np.ndim(arr) == 1
        rows = check_tabular(arr.reshape(1, -1) if one else arr, name="baseline",
                             feature_names=getattr(self, "feature_names_in_", None),
                             n_features=d, owner=f"{type(self).__name__} (from fit's X)")
        rows = self._model_rows(rows)
        return rows[0] if one else rows

    # ------------------------------------------------------------------ explain
    def explain(self, X):
        """Integrated gradients of one output per row.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        explanation : Explanation
            ``values`` (n, d), ``base_values`` (n,) = f(baseline) and ``output`` (n,) = f(x) of
            each row's explained output (its predicted one when ``target`` is None). Sets
            ``completeness_gap_``.
        """
        check_is_fitted(self)
        X_arr = self._validate_rows(X)
        n = X_arr.shape[0]
        target = check_target(self.target, self.n_outputs_, n, output_names=self.output_names_)
        Xm = self._model_rows(X_arr)
        B = self._baseline_rows(n)
        fx = self._outputs(Xm)
        if target is None:
            rows_t = np.argmax(fx, axis=1)
            output_names = [self.output_names_[0]] if self.n_outputs_ == 1 else None
        elif np.ndim(target) == 0:
            rows_t = np.full(n, target, dtype=np.int64)
            output_names = [self.output_names_[target]]
        else:
            rows_t, output_names = target, None
        values, base, output = self._integrate(Xm, B, rows_t, fx)
        return Explanation(values, base, self._explanation_data(X_arr), self._feature_names(),
                           output_names=output_names, output=output,
                           method=type(self).__name__)

    def _explain(self, X, rng):
        """All outputs: values (n, d, k), f(baseline) (n, k), f(x) (n, k)."""
        n = X.shape[0]
        Xm, B = self._model_rows(X), self._baseline_rows(n)
        fx = self._outputs(Xm)
        parts = [self._integrate(Xm, B, np.full(n, t, dtype=np.int64), fx)
                 for t in range(self.n_outputs_)]
        return tuple(np.stack(p, axis=-1) for p in zip(*parts))

    def _n_explained_outputs(self):
        return 1

    def _baseline_rows(self, n):
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

    def _points_per_pass(self):
        if self.internal_batch_size is not None:
            return self.internal_batch_size
        if self.batch_size is not None:
            return self.batch_size
        return 65536 if self.adapter_.device.type == "cuda" else 4096

    def _integrate(self, Xm, B, rows_t, fx):
        """IG of output ``rows_t[r]`` for each row r; returns values (n, d), f(b) (n,), f(x) (n,).

        Values are grouped back to raw columns on a Pipeline's fast path.
        """
        adapter = self.adapter_
        dev, dtype = adapter.device, adapter.input_dtype
        n, d = Xm.shape
        alphas, weights = quadrature(self.n_steps, self.method)
        m = len(alphas)
        fb = self._outputs(B)
        rows = np.arange(n)
        output, base = fx[rows, rows_t], fb[rows, rows_t]
        Xt = torch.as_tensor(np.asarray(Xm), dtype=dtype, device=dev)
        Bt = torch.as_tensor(np.ascontiguousarray(B), dtype=dtype, device=dev)
        Dt = Xt - Bt
        a_t = torch.as_tensor(alphas, dtype=dtype, device=dev)
        w_t = torch.as_tensor(weights, dtype=torch.float64, device=dev)
        tt = torch.as_tensor(rows_t, dtype=torch.long, device=dev)
        total = torch.zeros(n, d, dtype=torch.float64, device=dev)
        chunk = self._points_per_pass()
        with torch.enable_grad():
            for start in range(0, n * m, chunk):
                idx = torch.arange(start, min(start + chunk, n * m), device=dev)
                r, s = idx // m, idx % m
                P = (Bt[r] + a_t[s, None] * Dt[r]).detach().requires_grad_(True)
                out = adapter.forward(P)
                sel = out.gather(1, tt[r, None]).sum()
                (grad,) = torch.autograd.grad(sel, P)
                total.index_add_(0, r, grad.double() * w_t[s, None])
        values = (Dt.double() * total).cpu().numpy()
        delta = output - base
        gaps = np.abs(values.sum(axis=1) - delta) / np.maximum(np.abs(delta), _EPS)
        self.completeness_gaps_ = gaps
        self.completeness_gap_ = float(gaps.max()) if gaps.size else 0.0
        column_map = getattr(self, "column_map_", None)
        if column_map is not None:
            values = np.stack([values[:, g].sum(axis=1) if len(g) else np.zeros(n)
                               for g in column_map.groups], axis=1)
        return values, base, output


def _check_differentiable_model(model):
    """Refuse a plain scikit-learn model early, before any fitting."""
    from sklearn.pipeline import Pipeline

    from sklxai.models._base import ModelAdapter, _is_skorch_net

    if isinstance(model, (torch.nn.Module, ModelAdapter)) or _is_skorch_net(model):
        return
    if isinstance(model, Pipeline):  # decided once the adapter is built (fast path or not)
        return
    if isinstance(model, numbers.Number) or model is None:
        return  # the base's checks say what is wrong
    raise TypeError(
        "IntegratedGradients needs gradients, so the model must be a differentiable "
        f"torch.nn.Module or skorch net; got {type(model).__name__}, a scikit-learn model "
        "without gradients. Use KernelSHAP (or another Shapley explainer) for it."
    )
