"""Class activation maps (Grad-CAM family) of image models as sklxai explainers.

One explainer per weighting of :mod:`sklxai_cam.rules`; what they share (the layer, the batches,
the resizing to the input's size, the explanation's shape) is :class:`BaseCAM`.
"""

import numpy as np
import torch

from sklxai import Explanation, GradientExplainer
from sklxai.utils import param_validation as pv
from sklxai_cam.layers import ActivationRecorder, get_layer, grad_cam, resize_maps
from sklxai_cam.rules import grad_cam_plus_plus, hires_cam, layer_cam, score_cam_masks

__all__ = ["BaseCAM", "GradCAM", "GradCAMPlusPlus", "HiResCAM", "LayerCAM", "ScoreCAM"]

_DOC = """
    Parameters
    ----------
    model : fitted skorch net or torch.nn.Module
        An image model: fit's X are images (n, C, H, W) (or (n, H, W)), arrays or tensors.
        For a skorch classifier the explained output is the probability, as
        ``predict_proba`` returns it; for a module, its raw output.
    cam_layer : str or None, default=None
        The layer whose activations are weighted: a name of ``module.named_modules()``
        (usually the last convolutional layer, or the activation right after it), the same
        parameter as the sklxai-res training plugin's. None: the last submodule whose output
        is a 4-D feature map (n, channels, h, w), found by one forward pass at ``fit``.
    relu : bool, default=True
        Clip the layer's map at 0 before upsampling, as the papers do. False keeps negative
        evidence.
    image_shape : tuple (C, H, W), (H, W) or None, default=None
        For rows that are flattened images which the model takes as rows (it reshapes them
        itself): their shape, in (C, H, W) order; one entry may be -1, inferred from the number
        of features as in ``numpy.reshape``. None for images passed as images (their shape is
        read from X).
    background, n_background, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer`. No random numbers are drawn.
    target : None, int, label or array of int
        Which output to explain: None (default) each row's predicted output, an int or label
        that output for every row, an array one output index per row.
    baseline : "zeros", "mean" or array-like, default="zeros"
        Only for the explanation's ``base_values`` (the explained output at the baseline);
        see :class:`~sklxai.GradientExplainer`.
    internal_batch_size : int or None, default=None
        Images per forward + backward pass (for Score-CAM: masked images per forward pass).
        None: ``batch_size``, else 4096 (65536 on CUDA).

    Attributes
    ----------
    cam_layer_ : str
        The layer used (``cam_layer``, or the one found).
    image_shape_ : tuple of int (C, H, W)
        The images' shape (from fit's X, or ``image_shape``).
    layer_shape_ : tuple of int
        The layer's output shape for one image (channels, h, w).
    baseline_ : ndarray
        See :class:`~sklxai.GradientExplainer`.
"""


class BaseCAM(GradientExplainer):
    """Base class of the class-activation-map explainers: a map of one layer, per image.

    A subclass implements ``_layer_maps(scores, activation, X, targets)``: the raw maps
    (n, h, w) at the layer, from each image's explained score (n,), the layer's activations
    (n, c, h, w) of the same forward pass, the flat images X (n, d) and the explained outputs
    (n,). The maps are clipped at 0 (``relu``), upsampled bilinearly (``align_corners=False``)
    to the input's (H, W) and returned as ``values`` of shape (n, 1, H, W) for images
    (n, C, H, W) or (n, H, W) (for flattened rows and ``image_shape``: (n, H * W), rows as
    the input); the raw maps before both steps are the explanation's
    ``diagnostics["layer_maps"]`` (n, h, w). ``transform`` gives the maps flat (n, H * W).
    """

    _parameter_constraints = {
        **GradientExplainer._parameter_constraints,
        "cam_layer": pv.any_of(pv.unchecked("a layer name"), pv.options(None)),
        "relu": pv.boolean(),
        "image_shape": pv.unchecked("None or a tuple (C, H, W) or (H, W) of positive ints"),
    }

    def __init__(self, model, *, cam_layer=None, relu=True, image_shape=None, background=None,
                 n_background=100,
                 target=None, fast_path="auto", baseline="zeros", internal_batch_size=None,
                 device="auto", random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background,
                         target=target, fast_path=fast_path, baseline=baseline,
                         internal_batch_size=internal_batch_size, device=device,
                         random_state=random_state, batch_size=batch_size)
        self.cam_layer = cam_layer
        self.relu = relu
        self.image_shape = image_shape

    def _check_params(self):
        super()._check_params()
        if self.cam_layer is not None and not isinstance(self.cam_layer, str):
            raise TypeError(f"cam_layer must be a layer name (str) or None; got "
                            f"{self.cam_layer!r}. Pass a key of dict(module.named_modules()).")
        shape = self.image_shape
        if shape is not None and not (
                isinstance(shape, (tuple, list)) and len(shape) in (2, 3)
                and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                        and (v >= 1 or v == -1) for v in shape)
                and list(shape).count(-1) <= 1):
            raise ValueError(f"image_shape must be None or a tuple (C, H, W) or (H, W) of "
                             f"positive ints (one may be -1); got {shape!r}.")

    def _fit(self, X, y):
        super()._fit(X, y)
        self.image_shape_ = self._fit_image_shape(X.shape[1])
        module = self.adapter_.module
        # one pass finds the layer; run on the single baseline row, it gives f(baseline) too
        # (the explanations' base values: no model run for them in explain)
        one = self.baseline_.ndim == 1
        rows = self.baseline_[None] if one else self._model_rows(X[:1])
        probe = torch.as_tensor(np.array(rows, copy=True), dtype=self.adapter_.input_dtype,
                                device=self.adapter_.device)
        outs = []
        if self.cam_layer is None:  # the layer and its output's shape from one pass
            layer, shape = _last_map_layer(
                module, lambda: outs.append(self.adapter_.forward(probe)), type(self).__name__)
        else:
            with torch.no_grad(), ActivationRecorder(module, self.cam_layer) as rec:
                outs.append(self.adapter_.forward(probe))
            layer, shape = self.cam_layer, tuple(rec.activation.shape[1:])
        self.cam_layer_ = layer
        self.layer_shape_ = shape
        self._baseline_outputs = outs[0][0].detach().double().cpu().numpy() if one else None

    def _base_outputs(self, B, rows_t):
        """f(baseline) of the explained outputs: from fit's pass for a single baseline row."""
        if self._baseline_outputs is None:
            return super()._base_outputs(B, rows_t)
        return self._baseline_outputs[np.asarray(rows_t)]

    def _fit_image_shape(self, d):
        """(C, H, W): that of fit's images, or ``image_shape`` for flattened rows."""
        seen = self.prepared_.image_shape
        if self.image_shape is None:
            if seen is None:
                raise ValueError(
                    f"X is 2-D (n_samples, {d}): {type(self).__name__} explains images, so "
                    "pass X as images (n, C, H, W) or (n, H, W), or, if the rows are "
                    "flattened images that the model takes as rows, give image_shape=(C, H, W).")
            return tuple(seen)
        shape = tuple(int(v) for v in self.image_shape)
        shape = (1, *shape) if len(shape) == 2 else shape
        if -1 in shape:
            known = -int(np.prod(shape))
            shape = tuple(d // known if v == -1 and d % known == 0 else v for v in shape)
        if seen is not None and shape != tuple(seen):
            raise ValueError(f"image_shape={tuple(self.image_shape)}, but X holds images of "
                             f"shape {tuple(seen)}; leave image_shape=None for images.")
        if int(np.prod(shape)) != d:
            raise ValueError(f"image_shape={tuple(self.image_shape)} holds {int(np.prod(shape))} "
                             f"values but rows of X have {d} features; X must hold images "
                             "flattened in (C, H, W) order.")
        return shape

    # ------------------------------------------------------------------ maps
    _gradient_at_rows = True  # f(x) and the layer's activations from one forward pass

    def _rows_forward(self, Q):
        """The explained rows' forward pass (``GradientExplainer._rows_pass``), recording the
        layer's activations: f(x) and the maps come from the same pass."""
        with ActivationRecorder(self.adapter_.module, self.cam_layer_) as rec:
            out = self.adapter_.forward(Q)
        return out, rec.activation

    def _attribute(self, X, B, targets):
        size = self.image_shape_[1:]
        if self.__dict__.get("_rows_graph", (None,))[0] is X:  # the rows' own pass
            _, out, _, activation = self.__dict__.pop("_rows_graph")
            with torch.enable_grad():
                scores = out.gather(1, targets[:, None])[:, 0]
                layer = self._layer_maps(scores, activation, X, targets).detach()
            clipped = layer.clamp_min(0) if self.relu else layer
            return resize_maps(clipped, size).flatten(1), {"layer_maps": layer}
        maps, raw, step = [], [], self._points_per_pass()
        for start in range(0, X.shape[0], step):
            Xs, ts = X[start:start + step], targets[start:start + step]
            with torch.enable_grad(), ActivationRecorder(self.adapter_.module,
                                                         self.cam_layer_) as rec:
                Q = Xs.detach().requires_grad_(True)  # the graph reaches the layer
                scores = self.adapter_.forward(Q).gather(1, ts[:, None])[:, 0]
                layer = self._layer_maps(scores, rec.activation, Xs, ts).detach()
            raw.append(layer)
            clipped = layer.clamp_min(0) if self.relu else layer
            maps.append(resize_maps(clipped, size).flatten(1))
        return torch.cat(maps), {"layer_maps": torch.cat(raw)}

    def _layer_maps(self, scores, activation, X, targets):
        """Raw maps (n, h, w) at the layer; see the class."""
        raise NotImplementedError  # pragma: no cover - abstract

    # ------------------------------------------------------------------ explanation
    def _players_are_features(self):
        return False  # one value per pixel of the map, not per input value

    def _feature_names(self):
        if self.prepared_.image_shape is None and self.image_shape_[0] == 1:
            return super()._feature_names()  # flattened one-channel rows: a value per column
        H, W = self.image_shape_[1:]
        return [f"px{i}_{j}" for i in range(H) for j in range(W)]

    def _make_explanation(self, X, **fields):
        """An :class:`~sklxai.Explanation` whose ``values`` are the maps (n, 1, H, W),
        ``feature_shape`` (1, H, W), ``data`` the images in the input's shape and
        ``diagnostics["layer_maps"]`` the raw layer maps (n, h, w). For flattened rows
        (``image_shape``) values and data stay rows, as the input: maps (n, H * W)."""
        if self.prepared_.image_shape is None:
            return Explanation(**fields)
        n = len(fields["values"])
        H, W = self.image_shape_[1:]
        fields["values"] = np.asarray(fields["values"]).reshape(n, 1, H, W)
        fields["data"] = self.prepared_.to_input_shape(np.asarray(fields["data"]))
        fields["feature_shape"] = (1, H, W)
        return Explanation(**fields)


def _last_map_layer(module, forward, owner):
    """The name of the last submodule (in call order) whose output is a 4-D tensor, and the
    shape of that output (without the batch axis)."""
    seen, handles = [], []
    for name, sub in module.named_modules():
        if name:
            handles.append(sub.register_forward_hook(
                lambda _m, _i, out, name=name: seen.append((name, tuple(out.shape[1:])))
                if isinstance(out, torch.Tensor) and out.ndim == 4 else None))
    try:
        with torch.no_grad():
            forward()
    finally:
        for handle in handles:
            handle.remove()
    if not seen:
        names = ", ".join(repr(n) for n, _ in module.named_modules() if n) or "none"
        raise ValueError(f"{owner} needs a layer with a 4-D output (n, channels, h, w), but no "
                         f"submodule of {type(module).__name__} returns one (submodules: "
                         f"{names}); pass a CNN, or cam_layer for a layer that does.")
    names = [name for name, _ in seen]
    if names.count(names[-1]) > 1:
        raise ValueError(f"{owner}: the last layer with a 4-D output, {names[-1]!r}, runs "
                         "several times in one forward pass; pass cam_layer.")
    return seen[-1]


class GradCAM(BaseCAM):
    __doc__ = """Grad-CAM (Selvaraju et al., 2017): channels weighted by their mean gradient.

    ``map = sum_c mean_hw(d y / d A_c) A_c`` at ``cam_layer`` (A its activations, y the
    explained output), then ReLU and bilinear upsampling to the input's size; see
    :class:`BaseCAM`.
""" + _DOC + """
    Examples
    --------
    >>> import torch
    >>> from sklxai_cam import GradCAM
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(3, 2))
    >>> images = torch.randn(4, 1, 6, 6).numpy()
    >>> cam = GradCAM(cnn, cam_layer="1", device="cpu").fit(images)
    >>> cam.explain(images).values.shape
    (4, 1, 6, 6)
"""

    def _layer_maps(self, scores, activation, X, targets):
        return grad_cam(scores, activation, create_graph=False)


class HiResCAM(BaseCAM):
    __doc__ = """HiResCAM (Draelos and Carin, 2020): gradient times activation, summed over
    channels: ``map = sum_c (d y / d A_c) * A_c``; see :class:`BaseCAM`.
""" + _DOC

    def _layer_maps(self, scores, activation, X, targets):
        return hires_cam(scores, activation)


class LayerCAM(BaseCAM):
    __doc__ = """LayerCAM (Jiang et al., 2021): positive gradient times activation:
    ``map = sum_c relu(d y / d A_c) * A_c``; see :class:`BaseCAM`.
""" + _DOC

    def _layer_maps(self, scores, activation, X, targets):
        return layer_cam(scores, activation)


class GradCAMPlusPlus(BaseCAM):
    __doc__ = """Grad-CAM++ (Chattopadhay et al., 2018), general form: the weights from the
    exact second and third derivatives of the explained output y with respect to each element
    of the layer's activations (:func:`sklxai_cam.rules.grad_cam_plus_plus`), not the
    exponential shortcut of the paper's eq. 19 (which other implementations apply to any
    score). For an output that is piecewise linear in the layer (a ReLU network's logit) the
    second derivatives vanish and so does the map; explain a smooth output (probabilities, as
    a skorch classifier gives) or ``exp`` of the logit. Cost: two extra backward passes per
    element of one image's layer output (c * h * w); see :class:`BaseCAM`.
""" + _DOC

    def _layer_maps(self, scores, activation, X, targets):
        return grad_cam_plus_plus(scores, activation)


class ScoreCAM(BaseCAM):
    __doc__ = """Score-CAM (Wang et al., 2020): gradient free. Each channel of the layer,
    upsampled to the input's size and scaled to [0, 1], masks the image; the channel's weight
    is the softmax over channels of the explained output at the masked images:
    ``map = sum_c softmax_c(y(x * M_c)) A_c``. One forward pass per channel and image
    (``internal_batch_size`` masked images at a time); see :class:`BaseCAM`.
""" + _DOC

    def _layer_maps(self, scores, activation, X, targets):
        shape = self.image_shape_
        n, c = activation.shape[:2]
        masks = score_cam_masks(activation, shape[1:])  # (n, c, H, W)
        images = X.detach().view(n, 1, *shape) * masks[:, :, None]
        flat = images.reshape(n * c, -1)
        t = targets.repeat_interleave(c)
        step, out = self._points_per_pass(), []
        with torch.no_grad():
            for start in range(0, n * c, step):
                part = self.adapter_.forward(flat[start:start + step])
                out.append(part.gather(1, t[start:start + step, None])[:, 0])
        weights = torch.softmax(torch.cat(out).view(n, c), dim=1)
        return (weights[:, :, None, None] * activation.detach()).sum(dim=1)
