"""sklxai-xnn: the explanation network (XNN/SRAE, Qi, Khorram & Li) as an sklxai plugin.

The explainer is registered under the name ``"xnn"`` in the ``sklxai.explainers`` entry-point
group, so ``sklxai.get_explainer("xnn")`` finds it once this distribution is installed.
"""

from sklxai_xnn.explanation import XNNExplanation
from sklxai_xnn.network import XNNLoss, XNNModule, pull_away_term
from sklxai_xnn.xnn import XNN

__all__ = ["XNN", "XNNExplanation", "XNNLoss", "XNNModule", "pull_away_term"]
__version__ = "0.1.0"
