"""Import torchvision's pure-Python parts where its C ops do not load.

The registries' torchvision that matches a CPU build of torch may be built against the CUDA
build: its C ops (``torchvision._C``) then do not load and ``import torchvision`` fails at the two
ops it registers unconditionally, ``nms`` and ``qnms`` (``RuntimeError: operator torchvision::nms
does not exist``). The benchmarks use only ``torchvision.models`` (no C op), so those two schemas
are declared here, without kernels (calling one raises), as the sklxai-cam plugin's peer tests do.
With a matching torch / torchvision pair nothing is declared.
"""

import sys

_SCHEMAS = []  # the declared schemas live as long as their Library object


def import_torchvision():
    """``import torchvision``, declaring the ``nms`` / ``qnms`` schemas when its C ops fail."""
    import torch

    try:
        import torchvision
    except RuntimeError as error:
        if "torchvision::nms does not exist" not in str(error):
            raise
        for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        _SCHEMAS.append(torch.library.Library("torchvision", "FRAGMENT"))
        for op in ("nms", "qnms"):
            _SCHEMAS[-1].define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import torchvision
    return torchvision


def resnet18(num_classes=10, seed=0):
    """torchvision's ``resnet18`` with random weights (seeded; nothing downloaded), in eval mode."""
    import torch

    tv = import_torchvision()
    torch.manual_seed(seed)
    return tv.models.resnet18(weights=None, num_classes=num_classes).eval()
