"""SimSHAP on Adult
================

SimSHAP on Adult: train an amortized explainer once, then explain rows in one pass each.

Run: python examples/simshap_adult.py [seconds of training, default 60] [--quick]
"""

import os
import sys
import tempfile
import time

from sklxai import ExactShapley, SimSHAP
from sklxai.demo import adult_features, relative_error, train_adult_mlp

quick = "--quick" in sys.argv
args = [a for a in sys.argv[1:] if a != "--quick"]
budget = float(args[0]) if args else (3.0 if quick else 60.0)
X_train, X_test, y_train, y_test, names = adult_features()
if quick:
    X_train, y_train = X_train[:3000], y_train[:3000]
net = train_adult_mlp(X_train, y_train, max_epochs=1 if quick else 5)

explainer = SimSHAP(net, n_background=50, max_time=budget, random_state=0, verbose=0)
explainer.fit(X_train)                                    # trains the explainer network
print(f"trained for {explainer.fit_time_:.0f} s, {len(explainer.history_)} epochs")

t0 = time.perf_counter()
exp = explainer.explain(X_test)                           # all 16281 test rows
print(f"explained {len(X_test)} rows in {time.perf_counter() - t0:.3f} s; "
      f"efficiency gap {exp.efficiency_gap:.1e}")

n_check = 20 if quick else 200
exact = ExactShapley(net, background=explainer.background_).fit(X_train).explain(X_test[:n_check])
print(f"relative error vs exact on {n_check} rows: "
      f"{relative_error(exp.values[:n_check], exact.values):.1%}")
path = os.path.join(tempfile.mkdtemp(), "simshap_adult.pt")
explainer.save(path)                                      # weights + JSON metadata
again = SimSHAP.load(path, net)
print(f"saved to {path}; reloaded values identical:",
      bool((again.transform(X_test[:100]) == explainer.transform(X_test[:100])).all()))
