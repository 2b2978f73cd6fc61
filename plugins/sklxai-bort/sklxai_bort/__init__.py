"""sklxai-bort: the Bort optimizers (bounded orthogonal constraint) as sklxai plugins.

Bort (Zhang et al., ICLR 2023) trains a network while pulling the rows of every Linear/Conv
weight towards orthogonal vectors of squared norm ``c``, which makes the model easier to explain.
Installing this distribution registers :class:`BortSGD` as ``"bort-sgd"`` and
:class:`BortAdamW` as ``"bort-adamw"`` in sklxai's ``sklxai.optimizers`` group.
"""

from sklxai_bort.constraint import (
    BORT_LAYERS,
    bort_correction,
    bort_param_groups,
    orthogonality_error,
)
from sklxai_bort.optim import BortAdamW, BortSGD

__all__ = [
    "BORT_LAYERS",
    "BortAdamW",
    "BortSGD",
    "bort_correction",
    "bort_param_groups",
    "orthogonality_error",
]
__version__ = "0.1.0"
