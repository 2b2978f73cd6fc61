"""Coverage of the sampling explainers' 95% intervals against exact Shapley values.

Each sampling explainer (KernelSHAP, PermutationSHAP, LeverageSHAP, RegressionMSR) reports a
standard error per value (``Explanation.std_errors``) and their degrees of freedom
(``std_errors_dof_``); the documented 95% interval is
``values ± scipy.stats.t.ppf(0.975, std_errors_dof_) * std_errors``. This benchmark measures how
often those intervals hold the exact value, leaving out values that are exactly zero (features
the model never uses):

==================  ==  ============================================  ==================
setting             d   model                                         exact reference
==================  ==  ============================================  ==================
adult-mlp           12  skorch MLP 12-64-64-2 (sklxai.demo), P(>50K)  ExactShapley
adult-gbdt          12  GradientBoostingRegressor(100, depth 3)       TreeShapley
breast-cancer-gbdt  30  GradientBoostingRegressor(100, depth 3)       TreeShapley
digits-gbdt         64  GradientBoostingRegressor(100, depth 3)       TreeShapley
==================  ==  ============================================  ==================

at 512 coalitions (d <= 12 only), 2048 and 8192 coalitions per row (KernelSHAP at d = 12 and
8192 enumerates every coalition: its values are exact and it is not counted, as LeverageSHAP
and RegressionMSR's there). Every explainer
and its reference play the same marginal game on the same ``--background`` rows. Each of
``--seeds`` seeds fits the explainer anew (new coalitions for KernelSHAP, whose rows share one
design) on its own ``--rows`` held-out rows, so that a setting has seeds x rows x d intervals
(at least 2,000 by default). Reported per setting, explainer and budget: the intervals counted,
the coverage with the t quantile (the documented one) and with the normal quantile 1.96, the
mean standard error over the mean |error| scaled to a normal's (``se_ratio``: 1 when the
standard errors have the size of the errors) and the seconds taken.

Target: every coverage between 93% and 97%.

Writes JSON to ``--out`` (``results/`` is not tracked) and prints a markdown table::

    python -m benchmarks.coverage --out results/coverage.json
    python -m benchmarks.coverage --quick          # fewer rows and seeds, about a minute
    python -m benchmarks.coverage --explainers LeverageSHAP RegressionMSR
    python -m benchmarks.coverage --settings digits-gbdt --budgets 8192  # one budget
"""

import argparse
import math
import time
import warnings

import numpy as np

from benchmarks.kernel_speed import _machine, _write_json

SETTINGS = ("adult-mlp", "adult-gbdt", "breast-cancer-gbdt", "digits-gbdt")
EXPLAINERS = ("KernelSHAP", "PermutationSHAP", "LeverageSHAP", "RegressionMSR")
BUDGETS = (512, 2048, 8192)
#: the coverage every line should reach (a 95% interval's, within sampling error)
TARGET = (0.93, 0.97)
GBDT_PARAMS = {"n_estimators": 100, "max_depth": 3}
#: held-out rows per seed, chosen so that seeds x rows x (nonzero values) >= 2,000
ROWS = {"adult-mlp": 20, "adult-gbdt": 20, "breast-cancer-gbdt": 8, "digits-gbdt": 6}


def _data(setting, seed=0):
    """(X_train, y_train, X_test) float64 for a setting."""
    from sklearn.model_selection import train_test_split

    if setting.startswith("adult"):
        from sklxai.demo import adult_features

        Xtr, Xte, ytr, _, _ = adult_features()
        if setting == "adult-gbdt":
            Xtr, ytr = Xtr[:5000], ytr[:5000]
        return Xtr, ytr, Xte
    if setting == "breast-cancer-gbdt":
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
    else:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=0.3, random_state=seed)
    return Xtr, ytr, Xte


def _model(setting, Xtr, ytr):
    """The fitted model and the reference explainer's class and output."""
    from sklxai import ExactShapley, TreeShapley

    if setting == "adult-mlp":
        from sklxai.demo import train_adult_mlp

        return train_adult_mlp(Xtr, ytr, max_epochs=10), ExactShapley, 1
    from sklearn.ensemble import GradientBoostingRegressor

    model = GradientBoostingRegressor(**GBDT_PARAMS, random_state=0)
    return model.fit(Xtr.astype(np.float64), ytr.astype(np.float64)), TreeShapley, None


def _measure(cls, model, target, Xtr, background, row_sets, exact, budget):
    """Coverage of one explainer at one budget over every seed's rows."""
    from scipy import stats

    hits_t, hits_z, errors, ses = [], [], [], []
    t0 = time.perf_counter()
    for seed, (rows, ref) in enumerate(zip(row_sets, exact)):
        est = cls(model, background=background, target=target, n_coalitions=budget,
                  random_state=seed, device="cpu", verbose=0).fit(Xtr)
        if est.std_errors_dof_ == math.inf:  # every coalition enumerated: exact values
            return None
        exp = est.explain(rows)
        keep = ref != 0
        err = np.abs(exp.values - ref)[keep]
        se = exp.std_errors[keep]
        hits_t.append(err <= stats.t.ppf(0.975, est.std_errors_dof_) * se)
        hits_z.append(err <= 1.96 * se)
        errors.append(err)
        ses.append(se)
    err, se = np.concatenate(errors), np.concatenate(ses)
    cover = float(np.concatenate(hits_t).mean())
    return {"intervals": int(err.size), "coverage_t": cover,
            "coverage_normal": float(np.concatenate(hits_z).mean()),
            "dof": float(est.std_errors_dof_),
            # a normal error's mean |e| is sd * sqrt(2 / pi)
            "se_ratio": float(se.mean() * math.sqrt(2 / math.pi) / err.mean()),
            "in_target": TARGET[0] <= cover <= TARGET[1],
            "seconds": time.perf_counter() - t0}


def run(settings=SETTINGS, *, explainers=EXPLAINERS, budgets=BUDGETS, seeds=10,
        rows_scale=1.0, n_background=20, log=print):
    """Measure every setting; return the report (see the module docstring)."""
    import sklxai

    report = {"machine": _machine("cpu"), "seeds": seeds, "n_background": n_background,
              "target": list(TARGET), "results": []}
    for setting in settings:
        Xtr, ytr, Xte = _data(setting)
        model, ref_cls, target = _model(setting, Xtr, ytr)
        rng = np.random.default_rng(0)
        background = Xtr[rng.choice(len(Xtr), n_background, replace=False)]
        n_rows = max(1, round(ROWS[setting] * rows_scale))
        row_sets = [Xte[s * n_rows:(s + 1) * n_rows] for s in range(seeds)]
        t0 = time.perf_counter()
        ref = ref_cls(model, background=background, target=target, device="cpu",
                      verbose=0).fit(Xtr)
        exact = [ref.explain(rows).values for rows in row_sets]
        ref_s = time.perf_counter() - t0
        d = Xtr.shape[1]
        for budget in budgets:
            if budget == 512 and d > 12:
                continue
            for cls in [getattr(sklxai, name) for name in explainers]:
                out = _measure(cls, model, target, Xtr, background, row_sets, exact, budget)
                entry = {"setting": setting, "d": d, "explainer": cls.__name__,
                         "n_coalitions": budget, "rows_per_seed": n_rows,
                         "reference": ref_cls.__name__, "reference_seconds": ref_s}
                entry.update(out or {"exact": True})
                report["results"].append(entry)
                log(_row(entry))
    return report


def _row(e):
    if e.get("exact"):
        return (f"| {e['setting']} | {e['d']} | {e['explainer']} | {e['n_coalitions']} | "
                "exact (every coalition) | | | | |")
    mark = "" if e["in_target"] else " (outside 93-97%)"
    return (f"| {e['setting']} | {e['d']} | {e['explainer']} | {e['n_coalitions']} | "
            f"{e['intervals']} | {e['coverage_t']:.1%}{mark} | {e['coverage_normal']:.1%} | "
            f"{e['se_ratio']:.2f} | {e['seconds']:.0f} |")


HEADER = ("| setting | d | explainer | coalitions | intervals | coverage (t) | "
          "coverage (1.96) | se ratio | seconds |\n|---|---|---|---|---|---|---|---|---|")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    parser.add_argument("--explainers", nargs="+", default=list(EXPLAINERS),
                        choices=EXPLAINERS)
    parser.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS),
                        choices=BUDGETS, help="coalitions per row (512 runs for d <= 12 only)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--rows-scale", type=float, default=1.0,
                        help="scale the held-out rows per seed (intervals scale with it)")
    parser.add_argument("--background", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="3 seeds, a quarter of the rows")
    parser.add_argument("--out", default="results/coverage.json")
    args = parser.parse_args(argv)
    seeds, scale = (3, 0.25) if args.quick else (args.seeds, args.rows_scale)
    print(HEADER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        report = run(args.settings, explainers=args.explainers, budgets=args.budgets,
                     seeds=seeds, rows_scale=scale, n_background=args.background)
    _write_json(report, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
