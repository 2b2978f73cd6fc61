"""Adapter for fitted skorch nets: ``net.module_`` on the device, with the net's nonlinearity."""

from sklxai.models.torch_module import TorchModuleAdapter


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
            output_fn=net._get_predict_nonlinearity(),
            output_names=None if classes is None else list(classes),
            is_classifier=is_clf,
        )
        self.net = net
