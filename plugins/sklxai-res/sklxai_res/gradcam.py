"""Differentiable Grad-CAM for explanation-guided training: the sklxai-cam plugin's
(:mod:`sklxai_cam.layers`), the project's one Grad-CAM, under the names this plugin has always
exported. Loss functions that compare a map with a mask live in :mod:`sklxai_res.losses`; the
skorch integration in :mod:`sklxai_res.net`.
"""

from sklxai_cam.layers import (
    ActivationRecorder,
    get_layer,
    grad_cam,
    normalize_maps,
    resize_maps,
)

__all__ = ["ActivationRecorder", "get_layer", "grad_cam", "normalize_maps", "resize_maps"]
