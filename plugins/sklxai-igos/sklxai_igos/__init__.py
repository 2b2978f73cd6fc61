"""sklxai-igos: I-GOS and iGOS++ saliency maps as sklxai explainers (a plugin distribution).

Registered in the entry-point group ``sklxai.explainers`` as ``igos`` and ``igos++``, so
``sklxai.get_explainer("igos++")`` finds :class:`IGOSPlusPlus` once this distribution is installed.
"""

from sklxai_igos.igos import IGOS, IGOSPlusPlus

__version__ = "0.1.0"
__all__ = ["IGOS", "IGOSPlusPlus", "__version__"]
