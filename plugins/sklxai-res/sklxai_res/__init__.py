"""sklxai-res: explanation-guided training (RES and GRADIA) for skorch classifiers.

``RESNetClassifier`` and ``GRADIANetClassifier`` are registered as ``"res"`` and ``"gradia"``
in the ``sklxai.training`` entry-point group, so ``sklxai.get_training_method("res")`` finds
them once this distribution is installed. Losses (:mod:`sklxai_res.losses`) and differentiable
Grad-CAM (:mod:`sklxai_res.gradcam`) serve custom training loops; :mod:`sklxai_res.datasets`
builds the spurious-marker digits benchmark.
"""

from sklxai_res.gradcam import (
    ActivationRecorder,
    get_layer,
    grad_cam,
    normalize_maps,
    resize_maps,
)
from sklxai_res.losses import gaussian_blur_masks, gradia_loss, res_loss, res_threshold
from sklxai_res.net import (
    INPUT_KEY,
    MASK_KEY,
    GRADIAMixin,
    GRADIANetClassifier,
    RESMixin,
    RESNetClassifier,
)

__all__ = [
    "INPUT_KEY",
    "MASK_KEY",
    "ActivationRecorder",
    "GRADIAMixin",
    "GRADIANetClassifier",
    "RESMixin",
    "RESNetClassifier",
    "gaussian_blur_masks",
    "get_layer",
    "grad_cam",
    "gradia_loss",
    "normalize_maps",
    "res_loss",
    "res_threshold",
    "resize_maps",
]
__version__ = "0.1.0"
