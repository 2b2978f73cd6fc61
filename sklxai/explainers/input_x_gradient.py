"""InputXGradient: each input times the gradient of the explained output at the row."""

from sklxai.explainers.gradient import GradientExplainer, _completeness_gap


class InputXGradient(GradientExplainer):
    """Input x gradient (Shrikumar et al., 2016): ``values = (x - b) * d f_t(x) / d x``.

    With the default ``baseline="zeros"`` this is captum's ``InputXGradient``,
    ``x * d f_t(x) / d x``: the first-order Taylor term of each input about the all-zero
    input. Another ``baseline`` b gives ``(x - b) * gradient``, the Taylor term about b
    (exact for a linear model: the values then sum to ``f_t(x) - f_t(b)``). One forward +
    backward pass per row, all rows batched on the device.

    Gradients are needed, so the model must be a skorch net or a ``torch.nn.Module`` (or a
    Pipeline whose preprocessing is column-wise and ends in one, explained on its fast path:
    the gradient and the differences are then taken in model space, and each raw column gets
    the sum of its model columns' values). A scikit-learn model raises a TypeError at ``fit``.
    For a skorch classifier the explained outputs are the probabilities.

    Parameters
    ----------
    model : fitted skorch net or torch.nn.Module
        See :class:`~sklxai.base.BaseExplainer`.
    background, n_background, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer`. The background only serves
        ``baseline="mean"``; nothing here is random.
    target : None, int, label or array of int
        Which output to explain: None (default) each row's predicted output, an int or label
        that output for every row, an array one output index per row of ``explain``'s X.
    baseline : "zeros", "mean" or array-like of shape (d,) or (n, d)
        The reference b subtracted from x: all zeros (default, captum's convention), the
        mean of the background rows, one row for every explained row, or one per explained
        row (for images one image (C, H, W) or one per row (n, C, H, W)).
    internal_batch_size : int or None
        Rows per forward + backward pass. None: ``batch_size`` when given, else 4096 rows on
        CPU and 65536 on CUDA.

    Attributes
    ----------
    baseline_ : ndarray of shape (d_model,) or (n, d_model)
        The baseline in model space, as resolved at ``fit``.

    Notes
    -----
    ``base_values`` are f_t(b) and ``output`` f_t(x); the explanation's
    ``diagnostics["completeness_gap"]`` (one per row) is
    ``|sum_i values_i - (f(x) - f(b))| / max(|f(x) - f(b)|, 1e-6)``, zero for a linear
    model and a measure of the model's curvature between b and x otherwise.

    captum's ``InputXGradient`` has no baseline (x * gradient, as the default here) and
    explains what the module returns (logits for a bare classifier module); shap has no
    input x gradient.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai.explainers.input_x_gradient import InputXGradient
    >>> lin = torch.nn.Linear(3, 1).double()
    >>> X = np.random.default_rng(0).normal(size=(20, 3))
    >>> exp = InputXGradient(lin, device="cpu").fit(X).explain(X[:2])
    >>> np.allclose(exp.values, X[:2] * lin.weight.detach().numpy())
    True
    """

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 fast_path="auto", baseline="zeros", internal_batch_size=None, device="auto",
                 random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, baseline=baseline,
                         internal_batch_size=internal_batch_size, device=device,
                         random_state=random_state, batch_size=batch_size)

    _gradient_at_rows = True  # f(x) and the gradient from one forward pass

    def _attribute(self, X, B, targets):
        """(x - b) times the gradient of output ``targets[r]`` at row r."""
        return (X - B).double() * self._gradients(X, targets).double()

    def _after_attribute(self, values, output, base):
        """The relative completeness gap of each row (see the class)."""
        return {"completeness_gap": _completeness_gap(values, output, base)}
