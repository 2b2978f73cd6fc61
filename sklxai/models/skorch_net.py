"""Adapter for fitted skorch nets: ``net.module_`` on the device, with the net's nonlinearity."""

import functools

import torch

from sklxai.models.torch_module import TorchModuleAdapter

#: outputs up to this wide take :func:`_narrow_softmax`'s written-out softmax on the CPU
#: (from 16 classes on, torch's own kernel was as fast or faster: :doc:`/benchmarks`)
_NARROW_CLASSES = 15


def _narrow_softmax(z):
    """skorch's ``torch.softmax(z, dim=-1)`` for the few classes of a tabular classifier.

    On the CPU, exp(z - max) / sum written out: ``torch.softmax`` is 2-5x slower there for 2
    to 15 classes (:doc:`/benchmarks`, "Amortized"), a fifth of a small MLP's call. The same
    values within rounding; wider outputs, half precision and other devices get
    ``torch.softmax`` itself.
    """
    if (z.device.type != "cpu" or z.shape[-1] > _NARROW_CLASSES
            or z.dtype not in (torch.float32, torch.float64)):
        return torch.softmax(z, dim=-1)
    e = (z - z.amax(dim=-1, keepdim=True)).exp()
    return e / e.sum(dim=-1, keepdim=True)


def _prediction_nonlinearity(net):
    """The net's prediction nonlinearity (``net._get_predict_nonlinearity()``), with skorch's
    softmax over the last dimension replaced by :func:`_narrow_softmax` (the same function)."""
    fn = net._get_predict_nonlinearity()
    if (isinstance(fn, functools.partial) and fn.func is torch.softmax and not fn.args
            and fn.keywords == {"dim": -1}):
        return _narrow_softmax
    return fn


class SkorchAdapter(TorchModuleAdapter):
    """A fitted skorch net as a batched torch function.

    Calls ``net.module_`` directly (no numpy round trip per batch) followed by the net's own
    prediction nonlinearity, so outputs equal ``net.predict_proba`` (softmax for
    ``NeuralNetClassifier`` with cross-entropy, two columns for ``NeuralNetBinaryClassifier``) or
    ``net.predict`` for regressors.

    Parameters
    ----------
    net : skorch.NeuralNet
        A fitted (initialized) net.
    device : "auto", str or torch.device
        Where to run. "auto" uses CUDA when available; if the net's module lives on another
        device, a copy of it is moved, the user's net is left as it is.
    """

    def __init__(self, net, *, device="auto"):
        from sklearn.exceptions import NotFittedError

        if not hasattr(net, "module_"):
            raise NotFittedError(
                f"The skorch net {type(net).__name__} is not initialized; fit it (or call "
                "net.initialize()) before explaining it."
            )
        from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

        is_clf = isinstance(net, (NeuralNetClassifier, NeuralNetBinaryClassifier))
        classes = getattr(net, "classes_", None) if is_clf else None
        if classes is None and isinstance(net, NeuralNetBinaryClassifier):
            classes = [0, 1]
        super().__init__(
            net.module_,
            device=device,
            output_fn=_prediction_nonlinearity(net),
            output_names=None if classes is None else list(classes),
            is_classifier=is_clf,
        )
        self.net = net
