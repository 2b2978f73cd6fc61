"""sklxai-sag: structured attention graphs (Shitole et al., NeurIPS 2021) as an sklxai explainer.

Registered in the entry-point group ``sklxai.explainers`` as ``sag``, so
``sklxai.get_explainer("sag")`` finds :class:`SAG` once this distribution is installed.

- :mod:`sklxai_sag.sag`: the explainer (search for minimal sufficient patch sets, diverse
  roots, the DAG of their subsets);
- :mod:`sklxai_sag.graph`: what it returns, :class:`SAGGraph` (one image's graph, with its
  networkx export) and :class:`SAGExplanation`;
- :mod:`sklxai_sag.plotting`: :func:`plot_sag` (matplotlib, imported when called).
"""

from sklxai_sag.graph import SAGExplanation, SAGGraph
from sklxai_sag.plotting import plot_sag
from sklxai_sag.sag import SAG

__version__ = "0.1.0"
__all__ = ["SAG", "SAGExplanation", "SAGGraph", "__version__", "plot_sag"]
