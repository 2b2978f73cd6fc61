"""zennit for the plugin's tests, where torchvision's C ops do not load.

zennit imports torchvision at module level. The registries' torchvision that matches the CPU
build of torch is built against the CUDA build, so its C ops (``torchvision._C``) do not load,
and its import then fails at the two ops it registers unconditionally (``nms`` and ``qnms``):
``RuntimeError: operator torchvision::nms does not exist``. zennit uses none of the C ops (only
``torchvision.models``' ResNet blocks, for its ResNet canonizer), so :func:`load_zennit`
declares these two schemas (no kernels: calling one raises) and torchvision's pure-Python parts
load, with ``torchvision.extension._has_ops()`` False. With a matching pair nothing is
declared. The sklxai-cam plugin's tests and ``tests/torchvision_loader.py`` do the same: plugin
tests also run on their own, without another folder on the path.
"""

import sys

import torch

_SCHEMAS = []  # the declared schemas live as long as their Library object


def load_zennit():
    """Import torchvision (declaring its C-op schemas first if they are missing), then zennit."""
    try:
        import torchvision  # noqa: F401
    except RuntimeError as error:
        if "torchvision::nms does not exist" not in str(error):
            raise
        for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        _SCHEMAS.append(torch.library.Library("torchvision", "FRAGMENT"))
        for op in ("nms", "qnms"):
            _SCHEMAS[-1].define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import torchvision  # noqa: F401
    import zennit

    return zennit
