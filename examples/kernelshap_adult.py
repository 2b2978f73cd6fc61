"""KernelSHAP on Adult
===================

Explain a skorch classifier on the bundled Adult data with KernelSHAP.

Run: python examples/kernelshap_adult.py  (a minute on a laptop CPU; --quick: seconds)
"""

import sys

import numpy as np

from sklxai import ExactShapley, KernelSHAP
from sklxai.demo import adult_features, relative_error, train_adult_mlp

quick = "--quick" in sys.argv
n_train, n_rows = (2000, 20) if quick else (10000, 100)
X_train, X_test, y_train, y_test, names = adult_features()
net = train_adult_mlp(X_train[:n_train], y_train[:n_train], max_epochs=1 if quick else 5)
print("test accuracy:", (net.predict(X_test) == y_test).mean().round(3))

explainer = KernelSHAP(net, n_background=50, n_coalitions=1024, random_state=0)
explainer.fit(X_train)                      # draws the background from X_train
exp = explainer.explain(X_test[:n_rows])    # Explanation: values (n_rows, 12, 2)
high_income = exp[:, :, 1]                  # the '>50K' output
ranking = np.argsort(-np.abs(high_income.values).mean(axis=0))
for j in ranking[:5]:
    print(f"{names[j]:<16} mean |phi| = {np.abs(high_income.values[:, j]).mean():.4f}")

# values add up to the model's output: base value + sum of values == predict_proba
print("efficiency gap:", exp.efficiency_gap)
exact = ExactShapley(net, background=explainer.background_).fit(X_train).explain(X_test[:n_rows])
print(f"relative error vs exact Shapley values: {relative_error(exp.values, exact.values):.2%}")
