"""Plots of explanations (matplotlib, an optional extra: ``pip install sklxai[plot]``).

What lives here: global importance (:func:`bar`), the distribution of attributions per feature
(:func:`beeswarm`), one row's additive story from base value to model output (:func:`waterfall`),
a feature's value against its attribution (:func:`dependence`) and pixel/patch attribution maps
(:func:`image`); for interaction indices (:class:`sklxai.InteractionExplanation`), the mean
absolute interaction of every pair (:func:`interaction_heatmap`), a feature's dependence coloured
by its strongest partner (:func:`interaction_dependence`) and the strongest pairs as a graph
(:func:`interaction_network`). Every function takes an explanation, draws on ``ax`` (or a new
figure), never calls ``plt.show()``, and returns the matplotlib Axes.

What does not: computing attributions, and the HTML report (which embeds these figures).
matplotlib is imported only when a plot is drawn, so ``import sklxai.plotting`` works without it.
"""

from ._interactions import interaction_dependence, interaction_heatmap, interaction_network
from ._plots import bar, beeswarm, dependence, image, waterfall

__all__ = ["bar", "beeswarm", "dependence", "image", "interaction_dependence",
           "interaction_heatmap", "interaction_network", "waterfall"]
