"""sklxai-cam: class activation maps (Grad-CAM family) for image models.

``GradCAM``, ``HiResCAM``, ``GradCAMPlusPlus``, ``LayerCAM`` and ``ScoreCAM`` are registered as
``"gradcam"``, ``"hirescam"``, ``"gradcam++"``, ``"layercam"`` and ``"scorecam"`` in the
``sklxai.explainers`` entry-point group. :mod:`sklxai_cam.layers` holds the project's one
differentiable Grad-CAM (also the training signal of the sklxai-res plugin) and
:mod:`sklxai_cam.rules` the other weightings.
"""

from sklxai_cam.cam import BaseCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM
from sklxai_cam.layers import (
    ActivationRecorder,
    get_layer,
    grad_cam,
    normalize_maps,
    resize_maps,
)
from sklxai_cam.rules import (
    diagonal_derivatives,
    grad_cam_plus_plus,
    hires_cam,
    layer_cam,
    score_cam_masks,
)

__all__ = [
    "ActivationRecorder",
    "BaseCAM",
    "GradCAM",
    "GradCAMPlusPlus",
    "HiResCAM",
    "LayerCAM",
    "ScoreCAM",
    "diagonal_derivatives",
    "get_layer",
    "grad_cam",
    "grad_cam_plus_plus",
    "hires_cam",
    "layer_cam",
    "normalize_maps",
    "resize_maps",
    "score_cam_masks",
]
__version__ = "0.1.0"
