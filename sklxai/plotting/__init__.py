"""Plots of explanations (matplotlib, an optional extra: ``pip install sklxai[plot]``).

What lives here: global importance (:func:`bar`), the distribution of attributions per feature
(:func:`beeswarm`), one row's additive story from base value to model output (:func:`waterfall`),
a feature's value against its attribution (:func:`dependence`) and pixel/patch attribution maps
(:func:`image`). Every function takes an :class:`sklxai.Explanation`, draws on ``ax`` (or a new
figure), never calls ``plt.show()``, and returns the matplotlib Axes.

What does not: computing attributions, and the HTML report (which embeds these figures).
matplotlib is imported only when a plot is drawn, so ``import sklxai.plotting`` works without it.
"""

from ._plots import bar, beeswarm, dependence, image, waterfall

__all__ = ["bar", "beeswarm", "dependence", "image", "waterfall"]
