"""SimSHAP on Adult: train an amortized explainer once, then explain rows in one pass each.

Run: python examples/simshap_adult.py [seconds of training, default 60]
"""

import sys
import time

from sklxai import ExactShapley, SimSHAP
from sklxai.demo import adult_features, relative_error, train_adult_mlp

budget = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
X_train, X_test, y_train, y_test, names = adult_features()
net = train_adult_mlp(X_train, y_train, max_epochs=5)

explainer = SimSHAP(net, n_background=50, max_time=budget, random_state=0, verbose=0)
explainer.fit(X_train)                                    # trains the explainer network
print(f"trained for {explainer.fit_time_:.0f} s, {len(explainer.history_)} epochs")

t0 = time.perf_counter()
exp = explainer.explain(X_test)                           # all 16281 test rows
print(f"explained {len(X_test)} rows in {time.perf_counter() - t0:.3f} s; "
      f"efficiency gap {exp.efficiency_gap:.1e}")

exact = ExactShapley(net, background=explainer.background_).fit(X_train).explain(X_test[:200])
print(f"relative error vs exact on 200 rows: {relative_error(exp.values[:200], exact.values):.1%}")
explainer.save("simshap_adult.pt")                        # weights + JSON metadata
print("saved to simshap_adult.pt; load with SimSHAP.load('simshap_adult.pt', net)")
