"""Accuracy per budget of the sampling Shapley estimators, sklxai's and shapiq's, on one game.

For each setting,

======================  ====  ==========================================  ============
setting                 d     model                                       exact values
======================  ====  ==========================================  ============
``adult-mlp``           12    the demo's skorch MLP (``--adult-epochs``)  ExactShapley
``breast-cancer-gbdt``  30    GradientBoostingRegressor(100, depth 3)     TreeShapley
``digits-gbdt``         64    GradientBoostingRegressor(100, depth 3)     TreeShapley
======================  ====  ==========================================  ============

one background of ``--background`` (50) training rows and ``--rows`` (12) held-out rows are
explained at 512, 2048 and 8192 coalitions by sklxai's ``KernelSHAP``, ``PermutationSHAP``,
``LeverageSHAP`` and ``RegressionMSR``, and by the installed shapiq's approximators on the
same game: ``KernelSHAP`` (paired) and Leverage SHAP as shapiq's ``KernelSHAP`` with sampling
weights proportional to C(d, s) (uniform coalitions, paired); shapiq's ``RegressionMSR`` where
the installed version has it. The shapiq approximators evaluate sklxai's own marginal game of
the row (the model through the same background, v(S) - v(empty)), with the budget plus the
empty and the full coalition, which sklxai's budgets leave out. One output is explained: the
positive class's probability (Adult) or the regression output. Error is
:func:`sklxai.metrics.relative_error` against the exact values; CPU time per row is the
process time of ``fit`` + ``explain`` (sklxai) or of the approximation (shapiq) over the rows.
Writes JSON to ``--out`` and prints markdown tables::

    python -m benchmarks.estimators --out results/estimators.json
"""

import argparse
import sys
import time
import warnings

import numpy as np

from benchmarks.kernel_speed import _loadavg, _machine, _write_json

BUDGETS = (512, 2048, 8192)
SETTINGS = ("adult-mlp", "breast-cancer-gbdt", "digits-gbdt")
SKLXAI = ("KernelSHAP", "PermutationSHAP", "LeverageSHAP", "RegressionMSR")
TEST_SIZE = 0.3


def _setting(name, *, seed, n_background, n_rows, adult_epochs):
    """(model, background, rows, target, exact values (n, d))."""
    from sklearn.model_selection import train_test_split

    from sklxai import ExactShapley, TreeShapley

    if name == "adult-mlp":
        from sklxai.demo import adult_features, train_adult_mlp

        Xtr, Xte, ytr, _, _ = adult_features()
        model = train_adult_mlp(Xtr, ytr, max_epochs=adult_epochs, random_state=seed)
        target = 1
    else:
        from sklearn.datasets import load_breast_cancer, load_digits
        from sklearn.ensemble import GradientBoostingRegressor

        load = load_breast_cancer if name == "breast-cancer-gbdt" else load_digits
        X, y = load(return_X_y=True)
        Xtr, Xte, ytr, _ = train_test_split(X, y, test_size=TEST_SIZE, stratify=y,
                                            random_state=seed)
        model = GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=seed)
        model.fit(Xtr, ytr.astype(np.float64))
        target = None
    rng = np.random.default_rng(seed)
    background = Xtr[rng.choice(len(Xtr), n_background, replace=False)]
    rows = Xte[:n_rows]
    oracle = ExactShapley if name == "adult-mlp" else TreeShapley
    kw = {"device": "cpu"} if name == "adult-mlp" else {}
    exact = oracle(model, background=background, target=target, **kw).fit(Xtr[:200])
    return model, background, rows, target, exact.explain(rows).values.reshape(len(rows), -1)


def _sklxai(method, model, background, rows, target, budget, seed, device="cpu"):
    import sklxai

    cls = getattr(sklxai, method)
    t0, w0 = time.process_time(), time.perf_counter()
    est = cls(model, background=background, target=target, n_coalitions=budget,
              random_state=seed, device=device, verbose=0).fit(rows)
    values = est.explain(rows).values.reshape(len(rows), -1)
    if device != "cpu":  # the device's work is wall time, not this process's CPU time
        return values, (time.perf_counter() - w0) / len(rows)
    return values, (time.process_time() - t0) / len(rows)


def _shapiq_methods(d):
    """name -> approximator factory, for the installed shapiq (none when it is absent)."""
    try:
        import shapiq.approximator as approximators
    except ImportError:
        return {}
    # leverage score sampling: every size 1..d-1 equally likely (scores 1 / C(d, s))
    leverage = np.ones(d + 1)
    leverage[[0, d]] = 0.0
    methods = {
        "shapiq KernelSHAP": lambda seed: approximators.KernelSHAP(
            d, pairing_trick=True, random_state=seed),
        "shapiq LeverageSHAP": lambda seed: approximators.KernelSHAP(
            d, pairing_trick=True, sampling_weights=leverage / leverage.sum(),
            random_state=seed),
    }
    if hasattr(approximators, "RegressionMSR"):
        methods["shapiq RegressionMSR"] = lambda seed: approximators.RegressionMSR(
            d, pairing_trick=True, random_state=seed)
    return methods


def _shapiq(factory, model, background, rows, target, budget, seed):
    """Each row's values by a shapiq approximator on sklxai's game of that row."""
    import torch

    from sklxai import KernelSHAP

    game_of = KernelSHAP(model, background=background, target=target, n_coalitions=2,
                         device="cpu", verbose=0).fit(rows)
    out = -1 if target is None else target
    values = []
    t0 = time.process_time()
    for x in rows:
        Xt = game_of.game_.as_tensor(game_of._model_rows(x[None]))

        def value(coalitions, Xt=Xt):
            masks = torch.as_tensor(np.asarray(coalitions, dtype=bool))
            return game_of._centered_values(Xt, masks)[0, :, out].numpy()

        approx = factory(seed)
        result = approx.approximate(budget + 2, value)
        d = rows.shape[1]
        values.append([result[(i,)] for i in range(d)])
    return np.asarray(values), (time.process_time() - t0) / len(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/estimators.json")
    parser.add_argument("--rows", type=int, default=12)
    parser.add_argument("--background", type=int, default=50)
    parser.add_argument("--adult-epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS))
    parser.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS))
    parser.add_argument("--device", default="cpu",
                        help="where sklxai's estimators run (cpu, cuda; shapiq runs on the CPU);"
                             " on a GPU the seconds per row are wall seconds")
    args = parser.parse_args(argv)
    from sklxai.metrics import relative_error

    warnings.filterwarnings("ignore")
    report = {"machine": _machine(args.device), "loadavg_start": _loadavg(), "args": vars(args),
              "results": []}
    t_start = time.time()
    for name in args.settings:
        model, background, rows, target, exact = _setting(
            name, seed=args.seed, n_background=args.background, n_rows=args.rows,
            adult_epochs=args.adult_epochs)
        d = rows.shape[1]
        methods = {m: (lambda b, m=m: _sklxai(m, model, background, rows, target, b,
                                               args.seed, args.device)) for m in SKLXAI}
        for label, factory in _shapiq_methods(d).items():
            methods[label] = (lambda b, f=factory: _shapiq(f, model, background, rows, target,
                                                           b, args.seed))
        for budget in args.budgets:
            for label, run in methods.items():
                values, seconds = run(budget)
                error = relative_error(values, exact)
                report["results"].append({"setting": name, "d": d, "budget": budget,
                                          "method": label, "relative_error": error,
                                          "cpu_seconds_per_row": seconds})
                print(f"{name:20s} {budget:5d} {label:22s} {error:.4f} {seconds:.3f}s",
                      flush=True)
    report["wall_seconds"] = time.time() - t_start
    report["loadavg_end"] = _loadavg()
    _write_json(report, args.out)
    _print_tables(report)
    return 0


def _print_tables(report):
    rows = report["results"]
    for name in dict.fromkeys(r["setting"] for r in rows):
        mine = [r for r in rows if r["setting"] == name]
        budgets = sorted({r["budget"] for r in mine})
        print(f"\n{name} (d = {mine[0]['d']}): relative error (CPU s per row)\n")
        print("| method | " + " | ".join(str(b) for b in budgets) + " |")
        print("|---" * (len(budgets) + 1) + "|")
        for method in dict.fromkeys(r["method"] for r in mine):
            cells = []
            for b in budgets:
                (r,) = [r for r in mine if r["method"] == method and r["budget"] == b]
                cells.append(f"{r['relative_error']:.4f} ({r['cpu_seconds_per_row']:.2f})")
            print(f"| {method} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
