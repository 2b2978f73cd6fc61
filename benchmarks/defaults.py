"""SimSHAP and FastSHAP with their default arguments on a Pipeline that has no fast path.

The model is what a user brings: a scikit-learn ``Pipeline`` on raw Adult columns (a pandas
DataFrame of the 12 usual features, :data:`sklxai.demo.ADULT_FEATURES`): a ``ColumnTransformer``
(one-hot categories, standardised numbers), a ``FunctionTransformer`` (a cast to float32, which
sklxai cannot see through, so the game calls the whole Pipeline on every coalition) and a skorch
MLP (predicting 4,096 rows a batch). ``--rows`` (1,000) training rows fit the model; the
explainers are fitted on them with defaults (``random_state`` aside):
``SimSHAP(pipe, background=bg).fit(X)``, ``bg`` ``--background`` (50) of the rows, as a user
would. Recorded per explainer: the wall time of ``fit`` (its own
validation included), the training time and budget (``fit_time_``, ``max_time_``), the epochs,
the training rows (fit's and the hybrids ``n_synthetic_rows_``), the coalitions per row and
the background rows per coalition the budget chose, the validation's report, and the relative error (``docs/design.rst``, "Measuring") against
``ExactShapley`` on the same game (12 players: every coalition) on ``--explain`` (16) test
rows (the reference costs 4,096 x 50 calls of the Pipeline a row). The target: every ``fit`` at most 150 s on the 2-core CPU.

Writes JSON to ``--out`` and prints a markdown table::

    python -m benchmarks.defaults --out results/defaults.json
"""

import argparse
import math
import sys
import time
import warnings

import numpy as np

from benchmarks.kernel_speed import _loadavg, _machine, _write_json

#: the default fit's wall-time target, seconds (validation included)
TARGET_SECONDS = 150.0
AMORTIZED = ("SimSHAP", "FastSHAP")


def adult_frame(n_rows, n_test, seed=0):
    """Training and test rows of Adult's 12 usual columns as DataFrames, with labels."""
    from sklxai.datasets import load_adult
    from sklxai.demo import ADULT_FEATURES

    X, y = load_adult("train")
    X = X[ADULT_FEATURES]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    train, test = order[:n_rows], order[n_rows : n_rows + n_test]
    return (X.iloc[train].reset_index(drop=True), y.iloc[train].to_numpy(),
            X.iloc[test].reset_index(drop=True))


def generic_pipeline(X, y, seed=0):
    """ColumnTransformer + FunctionTransformer (float32 cast) + skorch MLP, fitted on X, y."""
    import torch
    from skorch import NeuralNetClassifier
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    from sklxai.datasets import ADULT_CATEGORICAL
    from sklxai.demo import make_mlp

    categorical = [c for c in X.columns if c in ADULT_CATEGORICAL]
    numeric = [c for c in X.columns if c not in ADULT_CATEGORICAL]
    pre = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ("num", StandardScaler(), numeric),
    ])
    torch.manual_seed(seed)
    width = pre.fit_transform(X).shape[1]
    net = NeuralNetClassifier(make_mlp(width), criterion=torch.nn.CrossEntropyLoss,
                              optimizer=torch.optim.Adam, lr=1e-3, batch_size=128,
                              max_epochs=20, train_split=None, verbose=0,
                              iterator_valid__batch_size=4096)
    cast = FunctionTransformer(lambda Z: np.asarray(Z, dtype=np.float32))
    return Pipeline([("pre", pre), ("cast", cast), ("net", net)]).fit(X, y)


def run(args):
    from sklxai import ExactShapley, FastSHAP, SimSHAP
    from sklxai.metrics import relative_error

    classes = {"SimSHAP": SimSHAP, "FastSHAP": FastSHAP}
    X, y, X_test = adult_frame(args.rows, args.explain, seed=args.seed)
    pipe = generic_pipeline(X, y, seed=args.seed)
    background = X.sample(args.background, random_state=args.seed)
    t0 = time.perf_counter()
    exact = ExactShapley(pipe, background=background, random_state=0).fit(X)
    reference = exact.explain(X_test).values
    reference_seconds = time.perf_counter() - t0
    report = {"machine": _machine("cpu"), "loadavg_before": _loadavg(), "rows": args.rows,
              "background": args.background, "explain_rows": args.explain,
              "target_seconds": TARGET_SECONDS, "reference_seconds": reference_seconds,
              "results": {}}
    for name in args.methods:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            est = classes[name](pipe, background=background, random_state=args.seed).fit(X)
            seconds = time.perf_counter() - t0
        values = est.explain(X_test).values
        validation = est.validation_report_
        report["results"][name] = {
            "fit_seconds": seconds,
            "fit_time": est.fit_time_,
            "max_time": est.max_time_,
            "background_samples": est.background_samples_,
            "synthetic_rows": est.n_synthetic_rows_,
            "training_rows": (len(X) - math.ceil(len(X) * est.validation_fraction)
                              + est.n_synthetic_rows_),
            "n_coalitions": est.n_coalitions_,
            "validation_coalitions": est.validation_coalitions_,
            "epochs": len(est.history_),
            "validation_error": est.validation_error_,
            "validation_rows": None if validation is None else validation.n_rows,
            "validation_seconds": None if validation is None else validation.seconds,
            "relative_error": float(relative_error(values, reference)),
            "warnings": [str(w.message) for w in caught],
            "within_target": seconds <= TARGET_SECONDS,
        }
        print(f"{name}: {report['results'][name]}", file=sys.stderr)
    report["loadavg_after"] = _loadavg()
    _write_json(report, args.out)
    print(table(report))
    return report


def table(report):
    """The report as a markdown table."""
    lines = ["| explainer | fit (s) | training budget (s) | epochs | background_samples_ "
             "| training rows x coalitions | validation (s, rows) "
             "| validation_error_ | error vs exact |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in report["results"].items():
        lines.append(f"| {name} | {r['fit_seconds']:.0f} | {r['max_time']:.0f} | {r['epochs']} "
                     f"| {r['background_samples']} "
                     f"| {r.get('training_rows')} x {r.get('n_coalitions')} "
                     f"| {r['validation_seconds']:.0f}, {r['validation_rows']} "
                     f"| {r['validation_error']:.1%} | {r['relative_error']:.1%} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--background", type=int, default=50)
    parser.add_argument("--explain", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=list(AMORTIZED), choices=AMORTIZED)
    parser.add_argument("--out", default="results/defaults.json")
    run(parser.parse_args(argv))


if __name__ == "__main__":
    main()
