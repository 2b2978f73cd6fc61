"""Pairwise interactions of a boosted model on the diabetes data
==============================================================

Which features act *together* in a gradient-boosted regressor? ``ExactInteractions`` computes
exact k-SII interaction indices of order 2 (shap's ``shap_interaction_values`` layout: each row
an (d, d) matrix whose diagonal holds each feature's own term and whose off-diagonal cells hold
half of each pair's term) from the marginal game of every coalition of the 10 features.

The strongest pairs are listed with ``top_pairs``, the mean absolute interaction of every pair is
drawn as a heatmap, the strongest feature's values against its Shapley value (the row sum of its
interaction matrix) coloured by its strongest partner, and the strongest pairs as a network.

Run: python examples/interactions.py [--quick]   (seconds on a laptop CPU; writes the three
figures in a temp folder)
"""

import os
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingRegressor

from sklxai import ExactInteractions
from sklxai.plotting import interaction_dependence, interaction_heatmap, interaction_network

quick = "--quick" in sys.argv
n_background, n_rows, n_trees = (20, 40, 50) if quick else (100, 200, 200)
X, y = load_diabetes(return_X_y=True, as_frame=True)    # 442 rows, 10 numeric features
model = HistGradientBoostingRegressor(max_iter=n_trees, max_depth=3, random_state=0).fit(X, y)

explainer = ExactInteractions(model, index="k-SII", max_order=2, n_background=n_background,
                              random_state=0).fit(X)
exp = explainer.explain(X.iloc[:n_rows])                # values: (n_rows, 10, 10)
print("values:", exp.values.shape, "index:", exp.index)

# every term together adds up to the prediction: base value + sum of the matrix = f(x)
print("efficiency gap max |base + sum(values) - f(x)|:", exp.efficiency_gap)
# each row of the matrix sums to that feature's Shapley value (k-SII of order 2)
shapley = exp.values.sum(axis=2)
print("mean |Shapley value|:", {name: round(float(v), 2) for name, v in
                                 zip(exp.feature_names, np.abs(shapley).mean(axis=0))})

print("strongest pairs (mean |pair term| over the rows):")
print(exp.top_pairs(5).to_string(index=False))

out = tempfile.mkdtemp()
ax = interaction_heatmap(exp)
ax.figure.savefig(os.path.join(out, "interactions_heatmap.png"), bbox_inches="tight")

strongest = exp.feature_names[int(np.argmax(np.abs(shapley).mean(axis=0)))]
ax = interaction_dependence(exp, strongest)             # coloured by its strongest partner
ax.figure.savefig(os.path.join(out, "interactions_dependence.png"), bbox_inches="tight")

ax = interaction_network(exp, top=8)
ax.figure.savefig(os.path.join(out, "interactions_network.png"), bbox_inches="tight")
print(f"heatmap, dependence plot of {strongest} and network written to {out}")
