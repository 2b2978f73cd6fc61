"""sklxai-rcbm: relational concept bottleneck models (R-CBM) as an sklxai model plugin.

The classifier is registered under the name ``"rcbm"`` in the ``sklxai.models`` entry-point
group, so ``sklxai.get_model("rcbm")`` finds it once this distribution is installed.
"""

from sklxai_rcbm.classifier import RelationalCBMClassifier
from sklxai_rcbm.datasets import make_rps_digits

__all__ = ["RelationalCBMClassifier", "make_rps_digits"]
__version__ = "0.1.0"
