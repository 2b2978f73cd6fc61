"""The adapter contract and the dispatch from a user's model to an adapter."""

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


def _is_skorch_net(model):
    try:
        from skorch import NeuralNet
    except ImportError:  # pragma: no cover - skorch is a dependency
        return False
    return isinstance(model, NeuralNet)


def is_fitted_model(model):
    """Whether ``model`` can be called as is (fitted estimator, initialized net, torch module)."""
    if isinstance(model, (torch.nn.Module, ModelAdapter)):
        return True
    if _is_skorch_net(model):
        return hasattr(model, "module_")
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(model)
    except NotFittedError:
        return False
    except TypeError:  # not an estimator at all
        return callable(model)
    return True


def make_adapter(model, *, device="auto"):
    """Wrap ``model`` in the adapter that fits it.

    Parameters
    ----------
    model : skorch net, torch.nn.Module, scikit-learn estimator or ModelAdapter
        A fitted model. A ModelAdapter is returned unchanged.
    device : "auto", str or torch.device
        Where torch models run. "auto" picks CUDA when available. scikit-learn estimators always
        run on CPU.

    Returns
    -------
    adapter : ModelAdapter

    Examples
    --------
    >>> import torch
    >>> from sklxai.models import make_adapter
    >>> adapter = make_adapter(torch.nn.Linear(3, 1), device="cpu")
    >>> adapter(torch.zeros(4, 3)).shape
    torch.Size([4, 1])
    """
    from sklxai.models.sklearn_estimator import SklearnAdapter
    from sklxai.models.skorch_net import SkorchAdapter
    from sklxai.models.torch_module import TorchModuleAdapter

    check_model_supported(model)
    if isinstance(model, ModelAdapter):
        return model
    if isinstance(model, torch.nn.Module):
        return TorchModuleAdapter(model, device=device)
    if _is_skorch_net(model):
        return SkorchAdapter(model, device=device)
    return SklearnAdapter(model)


def check_model_supported(model):
    """Raise a TypeError, saying what is supported, for a model no adapter can wrap."""
    if isinstance(model, (ModelAdapter, torch.nn.Module)) or _is_skorch_net(model):
        return
    if hasattr(model, "predict_proba") or hasattr(model, "predict"):
        return
    raise TypeError(
        f"model of type {type(model).__name__} is not supported: pass a fitted skorch net, a "
        "torch.nn.Module, or a scikit-learn estimator with predict_proba or predict."
    )
