"""Saliency: the gradient of the explained output at the row itself (Simonyan et al., 2014)."""

import numpy as np

from sklxai.explainers.gradient import GradientExplainer
from sklxai.utils import param_validation as pv


class Saliency(GradientExplainer):
    """Saliency maps: the gradient of one output per row, at the row, in absolute value.

    For a row x and the explained output f_t, ``values = |d f_t(x) / d x|`` (``abs=True``,
    the paper's and captum's default) or the signed gradient ``d f_t(x) / d x``
    (``abs=False``). One forward + backward pass per row, all rows batched on the device.
    The values are local sensitivities, not additive contributions: they do not sum to
    ``output - base_values``.

    Gradients are needed, so the model must be a skorch net or a ``torch.nn.Module`` (or a
    Pipeline whose preprocessing is column-wise and ends in one, explained on its fast path:
    the gradient is then taken in model space and each raw column gets the sum of its model
    columns' values). A scikit-learn model raises a TypeError at ``fit``. For a skorch
    classifier the explained outputs are the probabilities, as ``predict_proba`` returns them.

    Parameters
    ----------
    model : fitted skorch net or torch.nn.Module
        See :class:`~sklxai.base.BaseExplainer`.
    background, n_background, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer`. Nothing here is random; ``batch_size`` is
        the number of rows per plain forward call.
    target : None, int, label or array of int
        Which output to explain: None (default) each row's predicted output, an int or label
        that output for every row, an array one output index per row of ``explain``'s X.
    abs : bool
        True (default): the gradient's absolute value; False: the signed gradient.
    internal_batch_size : int or None
        Rows per forward + backward pass. None: ``batch_size`` when given, else 4096 rows on
        CPU and 65536 on CUDA (halved, with a warning, when the device runs out of memory).

    Attributes
    ----------
    baseline_ : ndarray of shape (d_model,)
        All zeros: the reference whose output is ``base_values``.

    Notes
    -----
    ``base_values`` are the explained output at the all-zero input, f_t(0) (the reference of
    :class:`~sklxai.explainers.input_x_gradient.InputXGradient`), so that every gradient
    explainer fills the same fields; ``output`` is f_t(x).

    captum's ``Saliency`` computes the same gradient (``abs=True`` by default) of whatever
    the module returns, logits for a bare classifier module; shap has no plain saliency.
    Images (n, C, H, W) are explained as images: ``values`` have their shape.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai.explainers.saliency import Saliency
    >>> lin = torch.nn.Linear(3, 1).double()
    >>> X = np.random.default_rng(0).normal(size=(20, 3))
    >>> exp = Saliency(lin, device="cpu").fit(X).explain(X[:2])
    >>> np.allclose(exp.values, np.abs(lin.weight.detach().numpy()))  # |w| on every row
    True
    """

    _parameter_constraints = {
        **GradientExplainer._parameter_constraints,
        "abs": pv.boolean(),
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 fast_path="auto", abs=True, internal_batch_size=None, device="auto",
                 random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, internal_batch_size=internal_batch_size,
                         device=device, random_state=random_state, batch_size=batch_size)
        self.abs = abs

    def _resolve_baseline(self, d):
        """All zeros in model space: the reference of ``base_values``."""
        return np.zeros(self._model_rows(self.background_[:1]).shape[1])

    _gradient_at_rows = True  # f(x) and the gradient from one forward pass

    def _attribute(self, X, B, targets):
        """The gradient of output ``targets[r]`` at row r, in absolute value if ``abs``."""
        grad = self._gradients(X, targets)
        return grad.abs() if self.abs else grad
