"""IntegratedGradients: path-integrated gradients of a differentiable torch/skorch model."""

import numpy as np
import torch

from sklxai.explainers.gradient import GradientExplainer
from sklxai.utils import param_validation as pv
from sklxai.utils.validation import check_positive_int

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


class IntegratedGradients(GradientExplainer):
    """Integrated Gradients (Sundararajan et al., 2017) of a torch or skorch model.

    For a row x, a baseline b and the explained output f_t,
    ``IG_i(x) = (x_i - b_i) * integral_0^1 d f_t(b + a (x - b)) / d x_i da``, computed with a
    quadrature rule of ``n_steps`` nodes on the straight path. All (row, node) points are
    evaluated in large batches on the adapter's device, gradients by ``torch.autograd.grad``.
    Completeness: ``values.sum(axis=1) == output - base_values`` up to the quadrature error,
    which every explanation reports per row as ``diagnostics["completeness_gap"]``.

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
        Arrays are in the model's input space, like X: for images one image (C, H, W) or one
        per row (n, C, H, W).
    n_steps : int
        Number of quadrature nodes on the path.
    method : {"gausslegendre", "riemann_trapezoid", "riemann_middle", "riemann_left", \
"riemann_right"}
        The quadrature rule on [0, 1]. Gauss-Legendre (``numpy.polynomial.legendre.leggauss``
        mapped to [0, 1]) is exact for integrands that are polynomials of degree < 2 n_steps and
        usually needs the fewest steps; the Riemann rules are the classic ones.
    internal_batch_size : int or None
        Path points per forward + backward pass (memory is bounded by it). None: ``batch_size``
        when given, else 65536 points on CUDA, and on the CPU as many (at most 4096) as keep
        the model's largest layer output within 16 MiB a pass (measured in the run that gives
        f(x)).

    Attributes
    ----------
    baseline_ : ndarray of shape (d_model,) or (n, d_model)
        The baseline in model space, as resolved at ``fit`` (an (n, d) array is kept as given).

    Notes
    -----
    The explanation's ``diagnostics["completeness_gap"]`` (one per row) is
    ``|sum_i IG_i - (f(x) - f(b))| / max(|f(x) - f(b)|, 1e-6)``, the relative completeness
    error of the quadrature (the Explanation's ``efficiency_gap`` is the largest absolute one);
    ``explain`` writes nothing on the explainer.

    Images are passed as the model takes them: X of shape (n, C, H, W) (or (n, H, W)), a numpy
    array or a torch tensor, and ``values`` have the same shape (``baseline`` arrays are then
    one image (C, H, W) or one per row). The path runs on the flattened pixels; flattened rows
    (n, C*H*W) with a module that starts with ``torch.nn.Unflatten(1, (C, H, W))`` give the
    same numbers, in (n, C*H*W).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai.explainers.integrated_gradients import IntegratedGradients
    >>> lin = torch.nn.Linear(3, 1).double()
    >>> X = np.random.default_rng(0).normal(size=(20, 3))
    >>> ig = IntegratedGradients(lin, baseline="zeros", device="cpu").fit(X)
    >>> exp = ig.explain(X[:2])
    >>> w = lin.weight.detach().numpy()[0]
    >>> np.allclose(exp.values, X[:2] * w)
    True
    >>> bool(exp.diagnostics["completeness_gap"].max() < 1e-10)  # exact for a linear model
    True
    """

    _parameter_constraints = {
        **GradientExplainer._parameter_constraints,
        "n_steps": pv.positive_int(),
        "method": pv.options(*_METHODS),
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 fast_path="auto", baseline="mean", n_steps=50, method="gausslegendre",
                 internal_batch_size=None, device="auto", random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, baseline=baseline,
                         internal_batch_size=internal_batch_size, device=device,
                         random_state=random_state, batch_size=batch_size)
        self.n_steps = n_steps
        self.method = method

    # ------------------------------------------------------------------ fit
    def _check_params(self):
        super()._check_params()
        quadrature(self.n_steps, self.method)  # the rule's own minimum number of steps

    # ------------------------------------------------------------------ explain
    def _attribute(self, X, B, targets):
        """IG of output ``targets[r]`` at row r: (x - b) times the quadrature of the gradient."""
        n, d = X.shape
        dev = X.device
        alphas, weights = quadrature(self.n_steps, self.method)
        m = len(alphas)
        D = X - B
        a_t = torch.as_tensor(alphas, dtype=X.dtype, device=dev)
        w_t = torch.as_tensor(weights, dtype=torch.float64, device=dev)
        total = torch.zeros(n, d, dtype=torch.float64, device=dev)
        start = 0
        while start < n * m:
            stop = start + self._pass_size(n * m - start)
            idx = torch.arange(start, stop, device=dev)
            r, s = idx // m, idx % m
            _, grad = self._target_gradient(B[r] + a_t[s, None] * D[r], targets[r])
            total.index_add_(0, r, grad.double() * w_t[s, None])
            start = stop
        return D.double() * total

    def _after_attribute(self, values, output, base):
        """The relative completeness gap of each row (see the class)."""
        delta = output - base
        return {"completeness_gap": np.abs(values.sum(axis=1) - delta)
                / np.maximum(np.abs(delta), _EPS)}
