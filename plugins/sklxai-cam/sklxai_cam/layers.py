"""Layer activations and differentiable Grad-CAM: record one layer's activations during a
forward pass, then weight them by the spatially averaged gradient of a score (Selvaraju et al.,
2017); scale and resize maps.

The one Grad-CAM of the project: the CAM explainers (:mod:`sklxai_cam.cam`) read a trained
model's maps with it, and explanation-guided training (the sklxai-res plugin) uses it as a
training signal (``create_graph=True`` keeps the map differentiable with respect to the model's
parameters). The other CAM weightings live in :mod:`sklxai_cam.rules`.
"""

import torch
import torch.nn.functional as F

__all__ = ["ActivationRecorder", "get_layer", "grad_cam", "normalize_maps", "resize_maps"]


def get_layer(module, name):
    """Return the submodule of ``module`` called ``name`` (a key of ``named_modules()``).

    Parameters
    ----------
    module : torch.nn.Module
        The model.
    name : str
        Dotted name, as in ``dict(module.named_modules())``, e.g. ``"conv2"`` or
        ``"features.3"``.

    Returns
    -------
    torch.nn.Module
        The submodule.

    Raises
    ------
    ValueError
        If there is no such submodule; the message lists the convolutional layers and every
        other submodule name, so that the right one can be passed.

    Examples
    --------
    >>> import torch
    >>> cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU())
    >>> get_layer(cnn, "0")
    Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1))
    """
    named = dict(module.named_modules())
    if isinstance(name, str) and name and name in named:
        return named[name]
    convs = [n for n, m in named.items() if n and isinstance(m, torch.nn.modules.conv._ConvNd)]
    others = [n for n in named if n and n not in convs]
    listed = ", ".join(repr(n) for n in convs) or "none"
    rest = ", ".join(repr(n) for n in others) or "none"
    raise ValueError(
        f"Unknown layer {name!r}: {type(module).__name__} has no submodule of that name. "
        f"Convolutional layers: {listed}; other submodules: {rest}. Pass one of these names "
        "(usually the last convolutional layer, or the activation right after it)."
    )


class ActivationRecorder:
    """Context manager that records the output of one submodule during forward passes.

    Parameters
    ----------
    module : torch.nn.Module
        The model whose forward pass is run inside the ``with`` block.
    layer : str
        Name of the submodule to record (see :func:`get_layer`).

    Attributes
    ----------
    outputs : list of torch.Tensor
        Every output of the layer seen inside the block, in order.

    Examples
    --------
    >>> import torch
    >>> cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten())
    >>> with ActivationRecorder(cnn, "0") as rec:
    ...     out = cnn(torch.zeros(2, 1, 5, 5))
    >>> rec.activation.shape
    torch.Size([2, 4, 3, 3])
    """

    def __init__(self, module, layer):
        self.module = module
        self.layer = layer
        self.outputs = []
        self._handle = None

    def __enter__(self):
        self.outputs = []
        self._handle = get_layer(self.module, self.layer).register_forward_hook(self._record)
        return self

    def __exit__(self, *exc_info):
        self._handle.remove()
        self._handle = None
        return False

    def _record(self, _module, _inputs, output):
        self.outputs.append(output)

    @property
    def activation(self):
        """The layer's single output, a tensor of shape (n, channels, h, w).

        Raises
        ------
        RuntimeError
            If the layer ran zero or several times in the block, or its output is not a 4-D
            tensor (Grad-CAM needs a spatial feature map).
        """
        if len(self.outputs) != 1:
            raise RuntimeError(
                f"Layer {self.layer!r} ran {len(self.outputs)} times in one forward pass; "
                "Grad-CAM needs a layer that runs exactly once. Choose another cam_layer "
                "(a layer the module's forward calls once)."
            )
        out = self.outputs[0]
        if not isinstance(out, torch.Tensor) or out.ndim != 4:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise RuntimeError(
                f"Layer {self.layer!r} returned {shape}; Grad-CAM needs a feature map of shape "
                "(n, channels, height, width). Choose a convolutional layer (or the activation "
                "or pooling layer right after one) as cam_layer."
            )
        return out


def grad_cam(scores, activation, *, create_graph=True):
    """Grad-CAM maps: activations weighted by the spatial mean of the score's gradient.

    ``cam[i] = sum_c w[i, c] * A[i, c]`` with ``w[i, c] = mean_{h, w} d scores[i] / d A[i, c]``.
    No ReLU is applied (as in the RES/GRADIA reference code); see :func:`normalize_maps`.

    Parameters
    ----------
    scores : torch.Tensor of shape (n,)
        One score per row (e.g. the logit of the explained class), computed from
        ``activation`` in the same forward pass. Row ``i``'s score must depend only on row
        ``i`` of the activation (true unless batch-coupled layers such as BatchNorm in training
        mode sit between the layer and the output).
    activation : torch.Tensor of shape (n, channels, h, w)
        The layer's output (see :class:`ActivationRecorder`).
    create_graph : bool, default=True
        Keep the graph of the gradient, so that the map is differentiable with respect to the
        model's parameters through the channel weights as well as through the activations
        (needed to train on the map; second-order backward). False treats the channel weights
        as constants, as the RES reference code does: cheaper, and the map still depends on
        the activations.

    Returns
    -------
    torch.Tensor of shape (n, h, w)
        The raw (unnormalized) maps. The graph through ``scores`` is kept for a later
        ``backward``.

    Examples
    --------
    >>> import torch
    >>> cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(),
    ...                           torch.nn.Linear(18, 3))
    >>> with ActivationRecorder(cnn, "0") as rec:
    ...     logits = cnn(torch.randn(4, 1, 5, 5))
    >>> grad_cam(logits[:, 0], rec.activation).shape
    torch.Size([4, 3, 3])
    """
    (grads,) = torch.autograd.grad(
        scores.sum(), activation, create_graph=create_graph, retain_graph=True
    )
    weights = grads.mean(dim=(2, 3), keepdim=True)
    return (weights * activation).sum(dim=1)


def normalize_maps(maps, eps=1e-6):
    """Scale each map to [0, 1]: ``(m - min m) / (max m - min m + eps)`` (differentiable).

    Parameters
    ----------
    maps : torch.Tensor of shape (n, h, w)
        Raw maps.
    eps : float, default=1e-6
        Keeps a constant map finite (it becomes all zeros).

    Returns
    -------
    torch.Tensor of shape (n, h, w)
        Each map's minimum is 0 and its maximum just under 1.

    Examples
    --------
    >>> import torch
    >>> normalize_maps(torch.tensor([[[1.0, 3.0]]]), eps=0.0)
    tensor([[[0., 1.]]])
    """
    flat = maps.flatten(1)
    low = flat.min(dim=1).values[:, None, None]
    shifted = maps - low
    high = shifted.flatten(1).max(dim=1).values[:, None, None]
    return shifted / (high + eps)


def resize_maps(maps, size):
    """Resize maps to ``size`` with bilinear interpolation (identity when already that size).

    Parameters
    ----------
    maps : torch.Tensor of shape (n, h, w)
    size : tuple of int (height, width)

    Returns
    -------
    torch.Tensor of shape (n, height, width)
        Values stay within each input map's range (convex combinations).

    Examples
    --------
    >>> import torch
    >>> resize_maps(torch.ones(2, 4, 4), (8, 8)).shape
    torch.Size([2, 8, 8])
    """
    size = tuple(int(s) for s in size)
    if tuple(maps.shape[-2:]) == size:
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
