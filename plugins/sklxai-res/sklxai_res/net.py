"""skorch integration: classifiers trained with cross-entropy plus an explanation loss.

A net here is a ``skorch.NeuralNetClassifier`` whose training step also computes the Grad-CAM
map of each annotated row at ``cam_layer`` (for the row's label, differentiably) and adds
``explanation_weight`` times an explanation loss comparing it with the row's annotation mask:
:class:`RESNetClassifier` (RES, robust to inaccurate masks) and :class:`GRADIANetClassifier`
(plain L1 alignment). The mix-ins :class:`RESMixin` and :class:`GRADIAMixin` add the same to
another ``NeuralNetClassifier`` subclass.

Masks travel with the images in skorch's dict form of X::

    net.fit({"X": images, "mask": masks}, y)

The losses themselves live in :mod:`sklxai_res.losses`, Grad-CAM in :mod:`sklxai_res.gradcam`.
"""

import warnings
from collections.abc import Mapping

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.callbacks import PassthroughScoring
from skorch.dataset import unpack_data
from skorch.utils import is_dataset, to_numpy, to_tensor

from sklxai_res.gradcam import (
    ActivationRecorder,
    get_layer,
    grad_cam,
    normalize_maps,
    resize_maps,
)
from sklxai_res.losses import gradia_loss, res_loss

__all__ = [
    "INPUT_KEY",
    "MASK_KEY",
    "GRADIAMixin",
    "GRADIANetClassifier",
    "RESMixin",
    "RESNetClassifier",
]

#: Key of the images in the dict form of X.
INPUT_KEY = "X"
#: Key of the annotation masks in the dict form of X.
MASK_KEY = "mask"


def _mask_shape_error(mask_shape, input_shape):
    """The mask's shape against the images' (n, C, H, W), or None when they fit."""
    n, spatial = input_shape[0], tuple(input_shape[-2:])
    shape = tuple(mask_shape)
    if (
        len(shape) in (3, 4)
        and shape[0] == n
        and shape[-2:] == spatial
        and (len(shape) == 3 or shape[1] == 1)
    ):
        return None
    return (
        f"The masks have shape {shape}, but the images have shape {tuple(input_shape)}: pass "
        f"one mask per image at the image's resolution, of shape ({n}, {spatial[0]}, "
        f"{spatial[1]}) or ({n}, 1, {spatial[0]}, {spatial[1]}), with NaN for rows (or pixels) "
        "without annotation."
    )


class _ExplanationSupervision:
    """Shared machinery of the explanation-supervised nets (see RESMixin / GRADIAMixin).

    A subclass defines ``explanation_loss(saliency, mask) -> scalar tensor`` and the
    parameters ``cam_layer``, ``explanation_weight`` and ``second_order``.
    """

    # -- data ---------------------------------------------------------------------------
    def check_data(self, X, y):
        """Check ``cam_layer`` and the masks before training; warn when there are none.

        Called by skorch at the start of ``fit`` and ``partial_fit`` (the module is
        initialized by then).

        Parameters
        ----------
        X : dict or array-like or Dataset
            The training data; ``{"X": images, "mask": masks}`` to supervise explanations.
        y : array-like or None
            Class indices.

        Raises
        ------
        ValueError
            Unknown ``cam_layer``; a dict without the key "X"; masks whose shape does not match
            the images; mask values outside [0, 1] (NaN aside).
        """
        super().check_data(X, y)
        get_layer(self.module_, self.cam_layer)
        if is_dataset(X):
            return  # masks are checked batch by batch in train_step_single
        if not isinstance(X, Mapping) or MASK_KEY not in X:
            warnings.warn(
                f"{type(self).__name__}.fit got no masks, so it trains with the task loss "
                f"only. Pass X as {{{INPUT_KEY!r}: images, {MASK_KEY!r}: masks}} (NaN masks "
                "for rows without annotation) to supervise the explanations.",
                UserWarning,
                stacklevel=4,
            )
            return
        if INPUT_KEY not in X:
            raise ValueError(
                f"X is a dict with keys {sorted(X)} but no {INPUT_KEY!r}: pass the images as "
                f"{{{INPUT_KEY!r}: images, {MASK_KEY!r}: masks}}."
            )
        images, masks = X[INPUT_KEY], X[MASK_KEY]
        message = _mask_shape_error(np.shape(masks), np.shape(images))
        if message is not None:
            raise ValueError(message)
        values = to_numpy(masks) if isinstance(masks, torch.Tensor) else np.asarray(masks)
        values = values.astype(np.float64, copy=False)
        finite = values[np.isfinite(values)]
        if finite.size and (finite.min() < 0 or finite.max() > 1):
            raise ValueError(
                f"Mask values must lie in [0, 1] (1: should be salient, 0: should not, NaN: "
                f"not annotated); got values in [{finite.min():g}, {finite.max():g}]. Scale "
                "or binarize the masks."
            )
        if np.isinf(values).any():
            raise ValueError("Masks contain +-inf; use NaN for unannotated pixels.")

    def _split_batch(self, Xi):
        """(inputs, masks or None) of one batch, on the net's device."""
        if not isinstance(Xi, Mapping) or MASK_KEY not in Xi:
            return Xi, None
        mask = to_tensor(Xi[MASK_KEY], device=self.device)
        inputs = Xi[INPUT_KEY]
        message = _mask_shape_error(mask.shape, inputs.shape)
        if message is not None:
            raise ValueError(message)
        if mask.ndim == 4:
            mask = mask[:, 0]
        return inputs, mask

    def infer(self, x, **fit_params):
        """Run the module on one batch, leaving the masks out.

        Parameters
        ----------
        x : tensor, array or dict
            A batch. In the dict form the masks are dropped, the images (key "X") are passed
            to the module's ``forward`` as its first positional argument and any other keys
            as keyword arguments.
        **fit_params : dict
            Further keyword arguments of ``forward``.

        Returns
        -------
        torch.Tensor
            The module's output.
        """
        x = to_tensor(x, device=self.device)
        if isinstance(x, Mapping) and INPUT_KEY in x:
            rest = {k: v for k, v in x.items() if k not in (INPUT_KEY, MASK_KEY)}
            return self.module_(x[INPUT_KEY], **rest, **fit_params)
        return super().infer(x, **fit_params)

    # -- training ------------------------------------------------------------------------
    def train_step_single(self, batch, **fit_params):
        """Forward, task loss plus weighted explanation loss, backward.

        The explanation loss is computed on the rows whose mask has at least one annotated
        (non-NaN) pixel; a batch without such rows is trained on the task loss alone. Its
        value (unweighted) is recorded in the history as ``train_explanation_loss``; the
        recorded ``train_loss`` is the total.

        Parameters
        ----------
        batch
            One batch from the training iterator: ``(X, y)`` with X as in ``fit``.
        **fit_params : dict
            Extra keyword arguments of the module's ``forward``.

        Returns
        -------
        dict
            ``{"loss": total loss, "y_pred": module output}``.
        """
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        inputs, mask = self._split_batch(Xi)
        annotated = None
        if mask is not None:
            annotated = torch.isfinite(mask).flatten(1).any(dim=1)
        if annotated is None or not bool(annotated.any()):
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
            explanation = torch.zeros((), device=loss.device)
        else:
            with ActivationRecorder(self.module_, self.cam_layer) as recorder:
                y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
            explanation = self._explanation_term(
                y_pred, yi, recorder.activation, mask, annotated, inputs.shape[-2:]
            )
            loss = loss + self.explanation_weight * explanation
        loss.backward()
        self.history.record_batch("train_explanation_loss", float(explanation.item()))
        return {"loss": loss, "y_pred": y_pred}

    def _explanation_term(self, y_pred, yi, activation, mask, annotated, size):
        labels = to_tensor(yi, device=self.device).long()
        scores = y_pred[annotated].gather(1, labels[annotated][:, None])[:, 0]
        cam = grad_cam(scores, activation, create_graph=self.second_order)[annotated]
        saliency = resize_maps(normalize_maps(cam), size)
        return self.explanation_loss(saliency, mask[annotated].to(saliency.dtype))

    @property
    def _default_callbacks(self):
        callbacks = list(super()._default_callbacks)
        names = [name for name, _ in callbacks]
        at = names.index("print_log") if "print_log" in names else len(callbacks)
        scoring = PassthroughScoring(name="train_explanation_loss", on_train=True)
        callbacks.insert(at, ("train_explanation_loss", scoring))
        return callbacks

    # -- reading the explanations ------------------------------------------------------
    def saliency(self, X, target=None):
        """Grad-CAM maps at ``cam_layer``, scaled to [0, 1], at the images' resolution.

        The same maps the explanation loss sees during training (module in eval mode).

        Parameters
        ----------
        X : array-like of shape (n, C, H, W), or dict
            Images, or the dict form ``{"X": images, ...}`` (masks are ignored).
        target : None, int or array-like of shape (n,), default=None
            The class whose score is explained: None for each row's predicted class, an int
            for one class for every row, an array for one class per row.

        Returns
        -------
        ndarray of shape (n, H, W)
            ``(cam - min) / (max - min + 1e-6)`` per row, upsampled bilinearly from the
            layer's resolution when it is coarser.

        Examples
        --------
        >>> maps = net.saliency(X_test)                  # doctest: +SKIP
        >>> iou = ((maps > 0.5) & masks).sum() / ((maps > 0.5) | masks).sum()  # doctest: +SKIP
        """
        self.check_is_fitted()
        dataset = self.get_dataset(X)
        n = len(dataset)
        if target is None or np.ndim(target) == 0:
            targets = None if target is None else np.full(n, int(target))
        else:
            targets = np.asarray(target).astype(np.int64)
            if targets.shape != (n,):
                raise ValueError(
                    f"target has shape {targets.shape}; pass None, an int or one class index "
                    f"per row, shape ({n},)."
                )
        self._set_training(False)
        maps, start = [], 0
        for batch in self.get_iterator(dataset, training=False):
            Xi, _ = unpack_data(batch)
            inputs, _ = self._split_batch(Xi)
            with torch.enable_grad(), ActivationRecorder(self.module_, self.cam_layer) as rec:
                y_pred = self.infer(Xi)
                stop = start + len(y_pred)
                if targets is None:
                    chosen = y_pred.argmax(dim=1)
                else:
                    chosen = torch.as_tensor(targets[start:stop], device=y_pred.device)
                scores = y_pred.gather(1, chosen[:, None])[:, 0]
                cam = grad_cam(scores, rec.activation, create_graph=False)
            maps.append(to_numpy(resize_maps(normalize_maps(cam.detach()), inputs.shape[-2:])))
            start = stop
        return np.concatenate(maps)


_SHARED_PARAMS = """cam_layer : str
        Name of the layer whose Grad-CAM map is supervised, a key of the module's
        ``named_modules()`` (e.g. ``"conv2"``, ``"features.3"``); usually the last
        convolutional layer or the activation after it. Its output must be (n, C, h, w); the
        map is upsampled bilinearly to the masks' (the images') resolution. An unknown name
        raises a ValueError at ``fit`` that lists the valid ones.
    explanation_weight : float, default=1.0
        Weight of the explanation loss against the task loss (1 in the reference code)."""

_SECOND_ORDER = """second_order : bool, default=True
        Backpropagate the explanation loss through Grad-CAM's channel weights too (a
        gradient of a gradient: ``create_graph=True``), so the whole map is trained. False
        treats the weights as constants, as the reference code does: cheaper, and the loss
        still reaches every layer up to ``cam_layer`` through the activations."""

_SHARED_NOTES = """Masks are passed with the images in skorch's dict form of X:
    ``net.fit({"X": images, "mask": masks}, y)`` with images (n, C, H, W) and masks
    (n, H, W) or (n, 1, H, W) at the images' resolution. Mask values: 1 where the model
    should look, 0 where it should not, NaN where nothing is known; a row whose mask is all
    NaN (e.g. ``np.full((H, W), np.nan)``) is trained on the task loss only. Use
    ``skorch.helper.SliceDict(X=images, mask=masks)`` for scikit-learn's cross-validation
    tools. ``predict``/``predict_proba`` take plain images (or the dict; masks are ignored).

    The explained score is the module's output for the row's label: a logit with the
    default ``criterion=torch.nn.CrossEntropyLoss`` (the module should return logits;
    ``predict_proba`` applies the softmax). The validation loss is the task loss only, and
    ``train_explanation_loss`` in the history is the epoch's mean explanation loss.
    Batch-coupled layers (BatchNorm in training mode) after ``cam_layer`` make a row's map
    depend slightly on the rest of its batch."""


class GRADIAMixin(_ExplanationSupervision):
    """Mix-in adding GRADIA explanation supervision to a ``NeuralNetClassifier`` subclass.

    Put it first among the bases: ``class MyNet(GRADIAMixin, NeuralNetClassifier)``.
    :class:`GRADIANetClassifier` is that class, ready to use.

    Parameters
    ----------
    *args, **kwargs
        Passed on to the skorch net.
    {shared}
    {second_order}

    See Also
    --------
    GRADIANetClassifier, RESMixin, sklxai_res.losses.gradia_loss
    """

    def __init__(self, *args, cam_layer, explanation_weight=1.0, second_order=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.cam_layer = cam_layer
        self.explanation_weight = explanation_weight
        self.second_order = second_order

    def explanation_loss(self, saliency, mask):
        """GRADIA: mean absolute difference between the maps and the masks.

        Parameters
        ----------
        saliency : torch.Tensor of shape (n, H, W)
            Normalized Grad-CAM maps of the batch's annotated rows.
        mask : torch.Tensor of shape (n, H, W)
            Their masks (NaN: unannotated pixel).

        Returns
        -------
        torch.Tensor
            The scalar loss (:func:`sklxai_res.losses.gradia_loss`).
        """
        return gradia_loss(saliency, mask)


class RESMixin(_ExplanationSupervision):
    """Mix-in adding RES explanation supervision to a ``NeuralNetClassifier`` subclass.

    Put it first among the bases: ``class MyNet(RESMixin, NeuralNetClassifier)``.
    :class:`RESNetClassifier` is that class, ready to use.

    Parameters
    ----------
    *args, **kwargs
        Passed on to the skorch net.
    {shared}
    sharpness : float, default=5.0
        ``k`` of the smoothed threshold ``tanh(k (map - a))``.
    slack : float, default=0.0
        ``eta``: mean thresholded error forgiven before the robust term counts.
    threshold : "auto" or float, default="auto"
        ``a``; "auto" picks, on every batch, the value that puts most annotated pixels on
        their side (:func:`sklxai_res.losses.res_threshold`).
    blur_sigma : float, default=0.8
        Standard deviation, in pixels of the mask, of the Gaussian imputation of the mask
        that the map is also aligned with (RES-G); 0 aligns with the raw mask.
    {second_order}

    See Also
    --------
    RESNetClassifier, GRADIAMixin, sklxai_res.losses.res_loss
    """

    def __init__(
        self,
        *args,
        cam_layer,
        explanation_weight=1.0,
        sharpness=5.0,
        slack=0.0,
        threshold="auto",
        blur_sigma=0.8,
        second_order=True,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.cam_layer = cam_layer
        self.explanation_weight = explanation_weight
        self.sharpness = sharpness
        self.slack = slack
        self.threshold = threshold
        self.blur_sigma = blur_sigma
        self.second_order = second_order

    def explanation_loss(self, saliency, mask):
        """RES: smoothed-threshold term with slack plus alignment with the imputed mask.

        Parameters
        ----------
        saliency : torch.Tensor of shape (n, H, W)
            Normalized Grad-CAM maps of the batch's annotated rows.
        mask : torch.Tensor of shape (n, H, W)
            Their masks (NaN: unannotated pixel).

        Returns
        -------
        torch.Tensor
            The scalar loss (:func:`sklxai_res.losses.res_loss`).
        """
        return res_loss(
            saliency,
            mask,
            sharpness=self.sharpness,
            slack=self.slack,
            threshold=self.threshold,
            blur_sigma=self.blur_sigma,
        )


class GRADIANetClassifier(GRADIAMixin, NeuralNetClassifier):
    """skorch classifier trained with cross-entropy plus GRADIA explanation supervision.

    GRADIA (Gao et al., 2022) adds ``explanation_weight * mean |saliency - mask|`` to the
    task loss, where saliency is the normalized Grad-CAM map of the row's label at
    ``cam_layer``. Plain explanation supervision: the baseline of :class:`RESNetClassifier`.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        Returns class scores (logits) of shape (n, n_classes) for images (n, C, H, W).
    *args, **kwargs
        Every ``skorch.NeuralNetClassifier`` parameter (``lr``, ``max_epochs``, ``optimizer``,
        ``module__*``, ...).
    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
        The task loss; CrossEntropyLoss on logits (skorch's own default is NLLLoss on
        probabilities, whose saturated gradients make Grad-CAM maps vanish).
    {shared}
    {second_order}

    Attributes
    ----------
    module_, history_, classes_ ...
        As for ``skorch.NeuralNetClassifier``; the history also holds
        ``train_explanation_loss``.

    Notes
    -----
    {notes}

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai_res import GRADIANetClassifier
    >>> cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3))
    >>> images = np.random.rand(30, 1, 8, 8).astype(np.float32)
    >>> masks = (images[:, 0] > 0.5).astype(np.float32)
    >>> y = np.arange(30) % 3
    >>> net = GRADIANetClassifier(cnn, cam_layer="1", max_epochs=1, train_split=None,
    ...                           verbose=0).fit({{"X": images, "mask": masks}}, y)
    >>> net.saliency(images).shape
    (30, 8, 8)
    """

    def __init__(self, module, *args, criterion=torch.nn.CrossEntropyLoss, **kwargs):
        super().__init__(module, *args, criterion=criterion, **kwargs)


class RESNetClassifier(RESMixin, NeuralNetClassifier):
    """skorch classifier trained with cross-entropy plus RES explanation supervision.

    RES (Gao et al., "RES: A Robust Framework for Guiding Visual Explanation", KDD 2022)
    makes the model's Grad-CAM map at ``cam_layer`` agree with annotation masks while
    tolerating inaccurate masks. The training loss of a batch is
    ``task loss + explanation_weight * (robust + imputation)`` over its annotated rows, with
    ``robust = relu(mean |tanh(sharpness (map - a)) - s| - slack)`` (s = +1 on mask pixels,
    -1 off them; ``a`` the batch's best separating threshold) and ``imputation`` the mean
    absolute difference between the map and the Gaussian-blurred mask. See
    :func:`sklxai_res.losses.res_loss`.

    Parameters
    ----------
    module : torch.nn.Module class or instance
        Returns class scores (logits) of shape (n, n_classes) for images (n, C, H, W).
    *args, **kwargs
        Every ``skorch.NeuralNetClassifier`` parameter (``lr``, ``max_epochs``, ``optimizer``,
        ``module__*``, ...).
    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
        The task loss; CrossEntropyLoss on logits (skorch's own default is NLLLoss on
        probabilities, whose saturated gradients make Grad-CAM maps vanish).
    {shared}
    sharpness : float, default=5.0
        ``k`` of the smoothed threshold ``tanh(k (map - a))`` (reference code: 5).
    slack : float, default=0.0
        ``eta``: mean thresholded error forgiven before the robust term counts (reference
        code default: 0).
    threshold : "auto" or float, default="auto"
        ``a``; "auto" picks, on every batch, the value that puts most annotated pixels on
        their side (the reference code's solver).
    blur_sigma : float, default=0.8
        Standard deviation, in pixels of the mask, of the Gaussian imputation of the mask
        (RES-G; the reference's 3x3 ``cv2.GaussianBlur``); 0 aligns with the raw mask.
    {second_order}

    Attributes
    ----------
    module_, history_, classes_ ...
        As for ``skorch.NeuralNetClassifier``; the history also holds
        ``train_explanation_loss``.

    Notes
    -----
    {notes}

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai_res import RESNetClassifier
    >>> cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
    ...                           torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 3))
    >>> images = np.random.rand(30, 1, 8, 8).astype(np.float32)
    >>> masks = (images[:, 0] > 0.5).astype(np.float32)
    >>> masks[::2] = np.nan                          # every other row has no annotation
    >>> y = np.arange(30) % 3
    >>> net = RESNetClassifier(cnn, cam_layer="1", max_epochs=1, train_split=None,
    ...                        verbose=0).fit({{"X": images, "mask": masks}}, y)
    >>> net.predict(images).shape
    (30,)
    """

    def __init__(self, module, *args, criterion=torch.nn.CrossEntropyLoss, **kwargs):
        super().__init__(module, *args, criterion=criterion, **kwargs)


for _cls in (GRADIAMixin, RESMixin, GRADIANetClassifier, RESNetClassifier):
    _cls.__doc__ = _cls.__doc__.format(
        shared=_SHARED_PARAMS, second_order=_SECOND_ORDER, notes=_SHARED_NOTES
    )
del _cls
