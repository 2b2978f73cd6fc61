"""Image models: flat rows in, images of the model's own shape out.

Every explainer, game and metric works on flat rows (n, d): masking, paths and coalitions do not
care about spatial axes. A torch model that takes images, (N, C, H, W), is wrapped once, when the
model is prepared (:func:`sklxai.models.prepare_model`), in an :class:`ImageAdapter` that
reshapes each batch of flat rows to images right before the module. :func:`image_adapter` finds
the shape the model takes by running it once on two images, and turns its refusal (a wrong
channel count, say) into a ValueError that says what to pass.
"""

import numpy as np
import torch

from sklxai.models._base import ModelAdapter


class ImageAdapter(ModelAdapter):
    """A torch model that takes images, seen as a batched function of flat rows.

    Parameters
    ----------
    adapter : ModelAdapter
        The model's adapter (a torch module or skorch net).
    model_shape : tuple
        The shape of one image as the model takes it, e.g. (1, 8, 8): rows (n, d) become
        ``rows.reshape(n, *model_shape)`` before ``adapter.forward``.

    Attributes
    ----------
    adapter : ModelAdapter
    model_shape : tuple
    device, input_dtype, output_names, is_classifier, default_batch_size
        Those of ``adapter``.
    """

    def __init__(self, adapter, model_shape):
        self.adapter = adapter
        self.model_shape = tuple(int(s) for s in model_shape)
        self.device = adapter.device
        self.input_dtype = adapter.input_dtype
        self.output_names = adapter.output_names
        self.is_classifier = adapter.is_classifier
        self.default_batch_size = adapter.default_batch_size

    def forward(self, X):
        """Outputs (n, k) for flat rows ``X`` (n, d), keeping gradients."""
        return self.adapter.forward(X.reshape(X.shape[0], *self.model_shape))

    #: (rows, outputs) of the run that found the images' shape (:func:`image_adapter`), until
    #: ``PreparedModel.probe`` takes it
    probed = None

    def __getattr__(self, name):  # module, net, ...: those of the wrapped adapter
        if name == "adapter":
            raise AttributeError(name)
        return getattr(self.adapter, name)


def image_adapter(adapter, rows, image_shape, *, model, name="X"):
    """Wrap ``adapter`` so that it takes flat rows of images of shape ``image_shape``.

    The model is run once on two of ``rows`` (flattened images) with the images as given; a
    grey image batch (n, H, W) is tried as (n, 1, H, W) too when the model refuses it.

    Parameters
    ----------
    adapter : ModelAdapter
        The torch model's adapter.
    rows : ndarray of shape (n, d)
        Images flattened in C order (at least one).
    image_shape : tuple
        One image's shape as the user gives it: (C, H, W) or (H, W).
    model : object
        The user's model, for messages.
    name : str
        The argument the images came from, for messages.

    Returns
    -------
    adapter : ImageAdapter

    Raises
    ------
    ValueError
        When the model refuses every candidate shape (its exception is chained), or does not
        return one output row per image.
    """
    probe = rows[:2] if rows.shape[0] >= 2 else np.repeat(rows[:1], 2, axis=0)
    candidates = [tuple(image_shape)]
    if len(image_shape) == 2:
        candidates.append((1, *image_shape))
    failure = bad_output = None
    shown = ", ".join(map(str, image_shape))
    for shape in candidates:
        wrapped = ImageAdapter(adapter, shape)
        try:
            out = _raw_outputs(adapter, wrapped.to_input(probe).reshape(-1, *shape))
        except Exception as exc:  # noqa: BLE001 - the model's own error, whatever its type
            failure = failure or exc
            continue
        if out.dim() <= 2 and out.shape[0] == probe.shape[0]:
            # what the adapter returns for these rows: PreparedModel.probe needs no second run
            wrapped.probed = (probe, out if out.dim() == 2 else out[:, None])
            return wrapped
        # e.g. a model of rows (n, d) applied along the images' last axis
        bad_output = bad_output or ValueError(
            f"{name} has {len(image_shape) + 1} dimensions, images of shape ({shown}), but the "
            f"model ({type(model).__name__}) returns outputs of shape {tuple(out.shape)} for a "
            f"batch of {probe.shape[0]} of them, not one output row per image: it takes 2-D "
            f"rows. Pass {name} as a 2-D array (n_samples, n_features), or images to a model "
            "that takes images."
        )
    if bad_output is not None:
        raise bad_output
    raise ValueError(
        f"The model ({type(model).__name__}) refuses images of shape ({shown}) from {name} "
        f"(tried a batch of shape (2, {shown})): {type(failure).__name__}: {failure}. Pass "
        f"{name} as images the model takes: channels first, (n, C, H, W) with the channel count "
        "it was trained on (or (n, H, W) for one channel), as torch convolutions take them."
    ) from failure


def _raw_outputs(adapter, images):
    """The model's outputs for ``images`` without gradients, as the module returns them (its
    shape is checked) for torch modules and skorch nets, else the adapter's (n, k)."""
    from sklxai.models.torch_module import TorchModuleAdapter

    with torch.inference_mode():
        if isinstance(adapter, TorchModuleAdapter):
            return adapter.module_output(images)
        return adapter.forward(images)
