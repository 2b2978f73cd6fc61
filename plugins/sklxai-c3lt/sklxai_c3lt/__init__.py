"""sklxai-c3lt: C3LT counterfactuals (Khorram & Li, CVPR 2022) as an sklxai plugin.

The explainer is registered under the name ``"c3lt"`` in the ``sklxai.explainers`` entry-point
group, so ``sklxai.get_explainer("c3lt")`` finds it once this distribution is installed. The
metrics of counterfactuals (validity, proximity, realism) are in :mod:`sklxai_c3lt.metrics`.
"""

from sklxai_c3lt.c3lt import C3LT
from sklxai_c3lt.metrics import counterfactual_scores, proximity, realism, validity

__all__ = ["C3LT", "counterfactual_scores", "proximity", "realism", "validity"]
__version__ = "0.1.0"
