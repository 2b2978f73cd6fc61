"""The adapter contract. Which adapter a model gets is decided in :mod:`sklxai.models.prepare`."""

import numpy as np
import torch


class ModelAdapter:
    """A model seen as a batched torch function ``(n, d) -> (n, k)`` on ``device``.

    Subclasses implement :meth:`forward`. Calling the adapter runs :meth:`forward` without
    gradients; :meth:`forward` itself keeps the graph, for gradient-based explainers.

    Attributes
    ----------
    device : torch.device
        Where inputs must live and outputs are returned.
    input_dtype : torch.dtype
        The dtype the model expects (float32 for skorch nets).
    output_names : list or None
        Names of the outputs (class labels for classifiers), when the model knows them.
    is_classifier : bool
        Whether outputs are class probabilities.
    """

    device = torch.device("cpu")
    input_dtype = torch.float32
    output_names = None
    is_classifier = False
    #: rows per model call that keep memory modest on this device
    default_batch_size = 2**15

    def forward(self, X):
        """Model outputs for a tensor ``X`` of shape (n, d); returns (n, k), keeping gradients."""
        raise NotImplementedError  # pragma: no cover - abstract

    def __call__(self, X):
        with torch.inference_mode():
            out = self.forward(X)
        return _as_2d(out)

    def to_input(self, X):
        """Move a numpy array or tensor to the adapter's device and dtype."""
        if isinstance(X, torch.Tensor):
            return X.to(device=self.device, dtype=self.input_dtype)
        arr = np.asarray(X)
        if not arr.flags.writeable:  # e.g. a view of a DataFrame: torch warns on those
            arr = arr.copy()
        return torch.as_tensor(arr, dtype=self.input_dtype, device=self.device)

    def predict(self, X, batch_size=None):
        """Outputs for a numpy array, as a float64 ndarray of shape (n, k)."""
        batch_size = batch_size or self.default_batch_size
        Xt = self.to_input(X)
        outs = [self(Xt[i : i + batch_size]) for i in range(0, len(Xt), batch_size)]
        return torch.cat(outs).double().cpu().numpy()


def _as_2d(out):
    if isinstance(out, (tuple, list)):
        out = out[0]
    if out.dim() == 1:
        out = out[:, None]
    elif out.dim() > 2:
        out = out.reshape(out.shape[0], -1)
    return out


def is_skorch_net(model):
    """Whether ``model`` is a skorch net (of any kind)."""
    try:
        from skorch import NeuralNet
    except ImportError:  # pragma: no cover - skorch is a dependency
        return False
    return isinstance(model, NeuralNet)
