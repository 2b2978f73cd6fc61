"""zennit for the plugin's tests, where torchvision's C ops do not load.

zennit imports torchvision at module level, which fails where torchvision's C ops do not load
(a CPU build of torch beside the registries' torchvision: ``RuntimeError: operator
torchvision::nms does not exist``). zennit uses none of the C ops (only ``torchvision.models``'
ResNet blocks, for its ResNet canonizer), so :func:`load_zennit` imports torchvision first
through the core tests' loader (``tests/torchvision_loader.py``, found from this file's place in
the repository), which declares the two op schemas it needs. With a matching pair nothing is
declared.
"""

import sys
from pathlib import Path


def load_zennit():
    """Import torchvision (declaring its C-op schemas first if they are missing), then zennit."""
    tests = Path(__file__).resolve().parents[3] / "tests"
    if str(tests) not in sys.path:
        sys.path.append(str(tests))
    from torchvision_loader import import_torchvision

    import_torchvision()
    import zennit

    return zennit
