"""Test setup of the sklxai-cam plugin: one torch thread (small tensors, shared 2-core CI)."""

import torch

torch.set_num_threads(1)


def load_pytorch_grad_cam():
    """Import pytorch-grad-cam (distribution ``grad-cam``), the peer the maps are compared with.

    It imports torchvision at module level. The registries' torchvision that matches the CPU
    build of torch is built against the CUDA build, so its C ops (``torchvision._C``) do not
    load, and then its import fails at the two ops it registers unconditionally (``nms`` and
    ``qnms``): ``RuntimeError: operator torchvision::nms does not exist``. grad-cam's CAMs use
    none of the C ops, so these schemas are declared here (no kernels: calling one raises) and
    torchvision's pure-Python parts load with ``torchvision.extension._has_ops()`` False. With
    a matching pair nothing is declared.
    """
    import sys

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
    import pytorch_grad_cam

    return pytorch_grad_cam


_SCHEMAS = []  # the declared schemas live as long as their Library object
