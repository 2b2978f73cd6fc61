"""zennit, imported when an LRP explainer is fitted: its composites and canonizers by name.

Nothing here runs at import: the plugin imports and registers without zennit installed, and
:func:`import_zennit` turns a missing or broken zennit into an ImportError that names the fix.
"""

import importlib
import inspect

import torch

#: composite name -> the zennit class (in ``zennit.composites``)
COMPOSITES = ("EpsilonPlus", "EpsilonPlusFlat", "EpsilonGammaBox", "EpsilonAlpha2Beta1")
#: canonizer name -> (zennit module, class)
CANONIZERS = {
    "sequential_merge_batchnorm": ("zennit.canonizers", "SequentialMergeBatchNorm"),
    "resnet": ("zennit.torchvision", "ResNetCanonizer"),
    "vgg": ("zennit.torchvision", "VGGCanonizer"),
}
#: composite constructor parameters that are not composite_params (another parameter sets them)
_NOT_PARAMS = ("canonizers",)


def import_zennit(owner):
    """The ``zennit`` package, or an ImportError that says what to install."""
    try:
        return importlib.import_module("zennit")
    except ModuleNotFoundError as exc:
        if exc.name == "zennit":
            raise ImportError(
                f"{owner} computes layer-wise relevance propagation with zennit, which is not "
                "installed: pip install zennit."
            ) from exc
        if exc.name is not None and exc.name.split(".")[0] == "torchvision":
            raise ImportError(
                f"{owner} needs zennit, which imports torchvision, and torchvision is not "
                f"installed: pip install torchvision (the build made for torch "
                f"{torch.__version__})."
            ) from exc
        raise
    except RuntimeError as exc:  # torchvision's compiled ops built for another torch build
        if "torchvision::" not in str(exc):
            raise
        raise ImportError(
            f"{owner} needs zennit, which imports torchvision, and torchvision failed to load "
            f"({exc}): the installed torchvision was built for another build of torch than "
            f"the installed {torch.__version__}. Install the torchvision made for it (for the "
            "CPU build: pip install torchvision --index-url "
            "https://download.pytorch.org/whl/cpu)."
        ) from exc


def composite_class(name):
    """The zennit composite class of a name of :data:`COMPOSITES`."""
    return getattr(importlib.import_module("zennit.composites"), name)


def composite_parameters(name):
    """The keyword parameters of composite ``name`` that ``composite_params`` may set, with
    their defaults (``inspect.Parameter.empty`` for required ones, e.g. EpsilonGammaBox's
    ``low`` and ``high``)."""
    signature = inspect.signature(composite_class(name).__init__)
    return {p.name: p.default for p in list(signature.parameters.values())[1:]
            if p.name not in _NOT_PARAMS}


def make_composite(name, params, canonizer_names):
    """A fresh composite with its canonizers (both hold per-model state, so one per use)."""
    canonizers = [getattr(importlib.import_module(module), cls)()
                  for module, cls in (CANONIZERS[c] for c in canonizer_names)]
    return composite_class(name)(**params, canonizers=canonizers)
