"""TreeShapley's path-dependent game against shap's TreeExplainer without data and the boosters'
own path-dependent values.

On the bundled Adult data (``sklxai.demo.adult_features``: 12 standardised numeric features),
fitted on the first ``--train-rows`` training rows (label: income > 50K):

- ``gbdt-d3``: GradientBoostingRegressor(n_estimators=100, max_depth=3) on the 0/1 label,
- ``forest-d10``: RandomForestClassifier(n_estimators=100, max_depth=10), ``predict_proba``,
- ``xgboost-d6``: XGBClassifier(n_estimators=100, max_depth=6), the margin,
- ``lightgbm``: LGBMClassifier(n_estimators=100, num_leaves=31), the margin,

each explained on the first ``--rows`` test rows by ``TreeShapley(game="path_dependent")``
(``fit`` and ``explain`` timed apart), by ``shap.TreeExplainer(model).shap_values`` (no data:
the same game) and, for the boosters, by their own ``pred_contribs`` / ``pred_contrib``. Reported:
rows/s of each (torch and the libraries on ``--threads`` threads), TreeShapley's speed over
shap's, the largest differences, and TreeShapley's efficiency gap (values + base - output).

``deep-sparse``: one fully grown ExtraTreesClassifier tree on 165 rows of 100 features with 95%
zeros and a random label (the case of shap#4042; depth about 90): the largest efficiency gap of
TreeShapley's and of shap's values over those rows.

Writes a JSON report to ``--out`` and prints a markdown table::

    python -m benchmarks.tree_path_dependent --threads 1 --out results/tree_path_dependent.json
"""

import argparse
import json
import os
import platform
import time

import numpy as np


def _models(seed):
    import lightgbm
    import xgboost
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier

    return {
        "gbdt-d3": GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=seed),
        "forest-d10": RandomForestClassifier(n_estimators=100, max_depth=10, random_state=seed,
                                             n_jobs=1),
        "xgboost-d6": xgboost.XGBClassifier(n_estimators=100, max_depth=6, n_jobs=1,
                                            random_state=seed),
        "lightgbm": lightgbm.LGBMClassifier(n_estimators=100, num_leaves=31, n_jobs=1,
                                            random_state=seed, verbose=-1),
    }


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _own_values(name, model, rows):
    """The library's own path-dependent values (n, d) and bias (n,), or None."""
    if name.startswith("xgboost"):
        import xgboost

        out = model.get_booster().predict(xgboost.DMatrix(rows), pred_contribs=True)
    elif name == "lightgbm":
        out = model.predict(rows, pred_contrib=True)
    else:
        return None
    return np.asarray(out)


def run_model(name, model, X, rows):
    import shap

    from sklxai import TreeShapley

    est, fit_s = _timed(lambda: TreeShapley(model, game="path_dependent", device="cpu",
                                            verbose=0).fit(X))
    exp, explain_s = _timed(lambda: est.explain(rows))
    explainer = shap.TreeExplainer(model)
    shap_values, shap_s = _timed(lambda: explainer.shap_values(rows, check_additivity=False))
    values = np.asarray(exp.values)
    shap_values = np.asarray(shap_values)
    if shap_values.shape != values.shape:  # one output of a binary classifier
        shap_values = shap_values.reshape(values.shape)
    report = {
        "model": name, "trees": int(est.trees_.leaf_tree.max()) + 1,
        "leaves": int(est.trees_.n_leaves), "depth": int(est.trees_.depth),
        "rows": len(rows), "fit_s": fit_s, "explain_s": explain_s,
        "sklxai_rows_per_s": len(rows) / explain_s, "shap_rows_per_s": len(rows) / shap_s,
        "speed_vs_shap": shap_s / explain_s,
        "max_diff_shap": float(np.abs(values - shap_values).max()),
        "efficiency_gap": exp.efficiency_gap,
    }
    own, own_s = _timed(lambda: _own_values(name, model, rows))
    if own is not None:
        report.update(own_rows_per_s=len(rows) / own_s, speed_vs_own=own_s / explain_s,
                      max_diff_own=float(np.abs(values - own[:, :-1]).max()))
    return report


def deep_sparse(seed=123456):
    """shap#4042's model: efficiency gaps of TreeShapley and shap on a depth-~90 tree."""
    import shap
    from sklearn.ensemble import ExtraTreesClassifier

    from sklxai import TreeShapley

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(165, 100))
    X.ravel()[rng.choice(X.size, int(X.size * 0.95), replace=False)] = 0.0
    model = ExtraTreesClassifier(n_estimators=1, random_state=seed).fit(
        X, rng.integers(0, 2, size=165))
    exp, seconds = _timed(lambda: TreeShapley(model, game="path_dependent", device="cpu",
                                              verbose=0).fit(X).explain(X))
    explainer = shap.TreeExplainer(model)
    values = np.asarray(explainer.shap_values(X, check_additivity=False))
    values = values.reshape(exp.values.shape)
    shap_gap = np.abs(values.sum(axis=1) + np.ravel(explainer.expected_value)
                      - model.predict_proba(X)).max()
    return {"model": "deep-sparse", "depth": int(model.estimators_[0].tree_.max_depth),
            "rows": len(X), "sklxai_s": seconds, "efficiency_gap": exp.efficiency_gap,
            "shap_efficiency_gap": float(shap_gap)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=10000)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    import torch

    from sklxai.demo import adult_features

    torch.set_num_threads(args.threads)
    Xtr, Xte, ytr, _, _ = adult_features()
    Xtr, ytr = Xtr[: args.train_rows].astype(np.float64), ytr[: args.train_rows]
    rows = Xte[: args.rows].astype(np.float64)
    results = []
    for name, model in _models(args.seed).items():
        model.fit(Xtr, ytr)
        results.append(run_model(name, model, Xtr, rows))
        print(json.dumps(results[-1]), flush=True)
    sparse = deep_sparse()
    print(json.dumps(sparse), flush=True)
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                         f"load {os.getloadavg()[0]:.1f} after the run",
              "threads": args.threads, "models": results, "deep_sparse": sparse}
    print("\n| model | trees | depth | rows/s TreeShapley | rows/s shap | speed vs shap | "
          "rows/s own | max diff shap / own | efficiency gap |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        own = f"{r['own_rows_per_s']:.0f}" if "own_rows_per_s" in r else "-"
        own_diff = f" / {r['max_diff_own']:.1e}" if "max_diff_own" in r else ""
        print(f"| {r['model']} | {r['trees']} | {r['depth']} | {r['sklxai_rows_per_s']:.0f} | "
              f"{r['shap_rows_per_s']:.0f} | {r['speed_vs_shap']:.2f}x | {own} | "
              f"{r['max_diff_shap']:.1e}{own_diff} | {r['efficiency_gap']:.1e} |")
    print(f"\ndeep-sparse (depth {sparse['depth']}): efficiency gap TreeShapley "
          f"{sparse['efficiency_gap']:.1e}, shap {sparse['shap_efficiency_gap']:.3g}")
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
