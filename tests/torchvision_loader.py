"""Import torchvision in the test environment, even where its C ops do not load.

The registries' torchvision that matches the CPU build of torch is built against the CUDA
build, so its C ops (``torchvision._C``) do not load, and its import then fails at the two
ops it registers unconditionally (``nms`` and ``qnms``): ``RuntimeError: operator
torchvision::nms does not exist``. The models (``torchvision.models``) use none of the C ops,
so :func:`import_torchvision` declares these two schemas (no kernels: calling one raises) and
torchvision's pure-Python parts load, with ``torchvision.extension._has_ops()`` False. With a
matching pair nothing is declared. The plugins' tests that need torchvision (sklxai-cam's peer
test, sklxai-lrp's zennit loader) import this module from its place in the repository, so that
they also run on their own; the benchmarks keep their own copy (``benchmarks/_torchvision.py``),
as they do not depend on the tests.
"""

import sys

import torch

_SCHEMAS = []  # the declared schemas live as long as their Library object


def import_torchvision():
    """Return the ``torchvision`` module, declaring its C-op schemas first if they are missing."""
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
