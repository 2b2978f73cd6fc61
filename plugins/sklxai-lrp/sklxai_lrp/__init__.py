"""sklxai-lrp: layer-wise relevance propagation of torch and skorch models, on zennit.

:class:`LRP` is registered as ``"lrp"`` in the ``sklxai.explainers`` entry-point group. zennit
is imported when an explainer is fitted, so this package imports and registers without it.
"""

from sklxai_lrp.lrp import LRP

__all__ = ["LRP"]
__version__ = "0.1.0"
