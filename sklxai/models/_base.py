"""The adapter contract. Which adapter a model gets is decided in :mod:`sklxai.models.prepare`."""

import numpy as np
import torch


class ModelAdapter:
    """A model seen as a batched torch function ``(n, d) -> (n, k)`` on ``device``.

    Subclasses implement :meth:`forward`. Calling the adapter runs the model without gradients;
    :meth:`forward` itself keeps the graph, for gradient-based explainers.

    Its input is model rows: the validated rows an explainer's hooks get, passed through
    ``prepared_.model_rows`` (a Pipeline's preprocessing on its fast path; the rows themselves
    otherwise). Images are flat rows (n, C*H*W) too. Three ways to call it:

    * ``adapter.predict(rows, batch_size=None)``: numpy rows in, float64 ndarray (n, k) out,
      computed on the device, ``batch_size`` rows per model call;
    * ``adapter(rows)``: the same for numpy rows; for a tensor on the device (as
      :meth:`to_input` makes it), the outputs as a tensor (n, k) on the device;
    * ``adapter.forward(tensor)``: a tensor from :meth:`to_input`, outputs keeping gradients.

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
        """Model outputs for a tensor ``X`` of shape (n, d) on the device (see :meth:`to_input`);
        returns (n, k), keeping gradients."""
        raise NotImplementedError  # pragma: no cover - abstract

    def __call__(self, X):
        """Model outputs (n, k) for model rows ``X`` (n, d), without gradients.

        Parameters
        ----------
        X : ndarray or torch.Tensor of shape (n, d)
            Model rows. A numpy array (or anything :func:`numpy.asarray` takes) goes through
            :meth:`predict`: moved to the device and run ``default_batch_size`` rows per model
            call. A tensor is passed to the model as it is (make it with :meth:`to_input`).

        Returns
        -------
        ndarray of float64 or torch.Tensor, of shape (n, k)
            A float64 array for array input (what :meth:`predict` returns); for tensor input,
            a tensor on the device.
        """
        if not isinstance(X, torch.Tensor):
            return self.predict(X)
        with torch.inference_mode():
            out = self.forward(X)
        return _as_2d(out)

    def to_input(self, X):
        """Move a numpy array or tensor of model rows to the adapter's device and dtype."""
        if isinstance(X, torch.Tensor):
            return X.to(device=self.device, dtype=self.input_dtype)
        arr = np.asarray(X)
        if arr.dtype.kind in "OUSV":
            raise TypeError(
                f"X must be numeric model rows; got an array of {arr.dtype} values (raw "
                "columns?). Validate the data and pass it through the preprocessing first: in "
                "an explainer, adapter_.predict(prepared_.model_rows(X)) on the validated rows "
                "the hooks get (prepared_.validate(data) validates raw data)."
            )
        # a read-only view (e.g. of a DataFrame) makes torch warn; a reversed view (negative
        # strides) cannot be wrapped at all: both are copied
        if not arr.flags.writeable or any(s < 0 for s in arr.strides):
            arr = arr.copy()
        return torch.as_tensor(arr, dtype=self.input_dtype, device=self.device)

    def predict(self, X, batch_size=None):
        """Outputs for model rows ``X``, a numpy array (n, d), as a float64 ndarray (n, k).

        The model is called on ``batch_size`` rows at a time (None: ``default_batch_size``).
        """
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
