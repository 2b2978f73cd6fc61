"""sklxai-samp: the SAMP path-attribution explainer as an sklxai plugin.

The explainer is registered under the name ``"samp"`` in the ``sklxai.explainers`` entry-point
group, so ``sklxai.get_explainer("samp")`` finds it once this distribution is installed.
"""

from sklxai_samp.samp import SAMP

__all__ = ["SAMP"]
__version__ = "0.1.0"
