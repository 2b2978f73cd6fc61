"""Raw-column explanations of a fitted Pipeline: the fast path against the generic path.

Fits, on the raw Adult training DataFrame (12 columns: ``fnlwgt`` and ``education`` dropped;
string categoricals with NaN), the Pipeline

    ColumnTransformer(num: StandardScaler,
                      cat: SimpleImputer(most_frequent) + OneHotEncoder(handle_unknown="ignore"))
    -> skorch NeuralNetClassifier (MLP 64-64, CrossEntropyLoss), trained on ``--device``

and explains raw test rows with ``ExactShapley`` and ``KernelSHAP(n_coalitions=--coalitions)``,
each twice: ``fast_path=True`` (the preprocessing runs once on the background and the rows, each
raw column's group of model-space columns is masked on the device and only the torch module runs
per coalition) and ``fast_path=False`` (the generic path: every batch of masked raw rows is decoded
into a DataFrame and the whole pipeline's ``predict_proba`` is called). The generic path is slow,
so it explains only the first ``--generic-rows`` of the ``--rows`` rows; times are compared per
row (``fit`` + ``explain``), and the two paths' values must agree on the rows both explained.
Writes a JSON report to ``--out`` and prints a markdown table::

    python -m benchmarks.pipeline_speed --device cpu --out results/pipeline_speed.json
"""

import argparse
import sys
import time
import warnings

import numpy as np

from benchmarks.kernel_speed import (
    _best_of,
    _fmt_load,
    _loadavg,
    _machine,
    _sync,
    _timed,
    _write_json,
)

#: target (GPU only): generic ms/row over fast ms/row, per method
GPU_TARGET_SPEEDUP = 20.0
#: largest |fast - generic| over the rows both paths explained (float32 model: ~1e-6 expected)
AGREEMENT_TOLERANCE = 1e-5
#: raw columns dropped from Adult's 14 (the usual 12 features remain)
DROPPED = ("fnlwgt", "education")


def _mlp(d, hidden=64, k=2):
    """MLP d-64-64-k whose forward casts its input to float32 (the ColumnTransformer outputs
    float64), as skorch users do for pipelines."""
    import torch

    class _CastingMLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(d, hidden), torch.nn.ReLU(),
                torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                torch.nn.Linear(hidden, k),
            )

        def forward(self, X):
            return self.net(X.float())

    return _CastingMLP()


def adult_raw():
    """(X_train, X_test, y_train, y_test, categorical columns, numeric columns), raw DataFrames."""
    from sklxai.datasets import ADULT_CATEGORICAL, load_adult

    Xtr, ytr = load_adult("train")
    Xte, yte = load_adult("test")
    Xtr, Xte = Xtr.drop(columns=list(DROPPED)), Xte.drop(columns=list(DROPPED))
    cat = [c for c in Xtr.columns if c in ADULT_CATEGORICAL]
    num = [c for c in Xtr.columns if c not in ADULT_CATEGORICAL]
    return Xtr, Xte, ytr.to_numpy(), yte.to_numpy(), cat, num


def make_pipeline(num, cat, width_from, *, epochs, device, seed, predict_batch_size):
    """The unfitted Pipeline; ``width_from`` (raw rows) sizes the MLP's input layer."""
    import torch
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from skorch import NeuralNetClassifier

    pre = ColumnTransformer([
        ("num", StandardScaler(), num),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore",
                                                   sparse_output=False))]), cat),
    ])
    width = pre.fit_transform(width_from).shape[1]
    torch.manual_seed(seed)
    net = NeuralNetClassifier(
        _mlp(width),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        batch_size=256,
        iterator_valid__batch_size=predict_batch_size,
        max_epochs=epochs,
        train_split=None,
        device=device,
        verbose=0,
    )
    return Pipeline([("pre", pre), ("net", net)]), width


def run(*, device="auto", n_rows=100, generic_rows=10, n_coalitions=2048, n_background=50,
        epochs=5, predict_batch_size=2**14, seed=0, repeats=1, threads=0, log=print):
    """Run the benchmark and return the report as a dict (see the module docstring)."""
    import torch

    from sklxai import ExactShapley, KernelSHAP
    from sklxai.utils.validation import resolve_device

    t_start = time.perf_counter()
    load_before = _loadavg()
    dev = str(resolve_device(device))
    if threads > 0:
        torch.set_num_threads(threads)
    np.random.seed(seed)
    torch.manual_seed(seed)

    Xtr, Xte, ytr, yte, cat, num = adult_raw()
    pipe, width = make_pipeline(num, cat, Xtr, epochs=epochs, device=dev, seed=seed,
                                predict_batch_size=predict_batch_size)
    _, train_s = _timed(lambda: pipe.fit(Xtr, ytr), dev)
    accuracy = float((pipe.predict(Xte) == yte).mean())
    log(f"trained the pipeline ({Xtr.shape[1]} raw columns -> {width} model columns) on {dev} "
        f"in {train_s:.1f} s, test accuracy {accuracy:.4f}")

    rng = np.random.default_rng(seed)
    bg = Xtr.iloc[np.sort(rng.choice(len(Xtr), size=n_background, replace=False))]
    n_rows = min(n_rows, len(Xte))
    generic_rows = min(generic_rows, n_rows)
    rows = Xte.iloc[:n_rows]
    d = rows.shape[1]

    specs = {
        "ExactShapley": (ExactShapley, {}),
        f"KernelSHAP({n_coalitions})": (KernelSHAP, {"n_coalitions": n_coalitions}),
    }

    def make(cls, kw, fast):
        return cls(pipe, background=bg, fast_path=fast, device=dev, random_state=seed, **kw)

    def timed_run(cls, kw, fast, X):
        """(values, fit seconds, explain seconds): fit on the raw training frame, explain X."""
        explainer = make(cls, kw, fast)
        _, fit_s = _timed(lambda: explainer.fit(Xtr), dev)
        exp, explain_s = _timed(lambda: explainer.explain(X), dev)
        return exp, fit_s, explain_s

    # warm-up (CUDA context, kernels, allocator; first-call imports) - not timed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cls, kw in specs.values():
            for fast in (True, False):
                make(cls, {**kw, **({"n_coalitions": 64} if "n_coalitions" in kw else {})},
                     fast).fit(Xtr).explain(rows.iloc[:1])
    _sync(dev)

    methods, comparison = {}, {}
    pipe_proba = pipe.predict_proba(rows)
    for name, (cls, kw) in specs.items():
        entries = {}
        for path, fast, X in (("fast", True, rows), ("generic", False, rows.iloc[:generic_rows])):
            parts = {}

            def once(cls=cls, kw=kw, fast=fast, X=X, parts=parts):
                exp, fit_s, explain_s = timed_run(cls, kw, fast, X)
                parts.setdefault("fit", []).append(fit_s)
                parts.setdefault("explain", []).append(explain_s)
                return exp

            exp, sec, times = _best_of(once, dev, repeats)
            best = int(np.argmin(times))
            n = len(X)
            entries[path] = {
                "exp": exp,
                "report": {
                    "fast_path": fast,
                    "seconds": sec,
                    "all_seconds": times,
                    "fit_seconds": parts["fit"][best],
                    "explain_seconds": parts["explain"][best],
                    "rows": int(n),
                    "ms_per_row": 1000.0 * sec / n,
                    "explain_ms_per_row": 1000.0 * parts["explain"][best] / n,
                    "rows_per_s": n / sec,
                },
            }
            log(f"{name} {path}: {n} rows in {sec:.2f} s (fit {parts['fit'][best]:.2f} s)")

        fast_exp, gen_exp = entries["fast"]["exp"], entries["generic"]["exp"]
        assert fast_exp.feature_names == list(rows.columns) == gen_exp.feature_names
        max_diff = float(np.abs(fast_exp.values[:generic_rows] - gen_exp.values).max())
        base_diff = float(np.abs(np.asarray(fast_exp.base_values)[:generic_rows]
                                 - np.asarray(gen_exp.base_values)).max())
        # efficiency on the pipeline's own predict_proba, over all rows the fast path explained
        eff = float(np.abs(fast_exp.values.sum(axis=1) + fast_exp.base_values - pipe_proba).max())
        fast_r, gen_r = entries["fast"]["report"], entries["generic"]["report"]
        methods[f"{name} fast"] = {"method": name, "path": "fast", **fast_r}
        methods[f"{name} generic"] = {"method": name, "path": "generic", **gen_r}
        comparison[name] = {
            "speedup": gen_r["ms_per_row"] / fast_r["ms_per_row"],
            "speedup_explain_only": gen_r["explain_ms_per_row"] / fast_r["explain_ms_per_row"],
            "rows_compared": int(generic_rows),
            "max_abs_diff": max_diff,
            "max_abs_diff_base_values": base_diff,
            "fast_max_efficiency_gap": eff,
        }
        log(f"{name}: speed-up {comparison[name]['speedup']:.1f}x, "
            f"max |fast - generic| {max_diff:.2e}")

    on_gpu = dev.startswith("cuda")
    targets = {}
    for name, c in comparison.items():
        targets[f"gpu_speedup {name}"] = {
            "target": f"{name}: fast path >= {GPU_TARGET_SPEEDUP:g}x faster than the generic "
                      "path, ms/row (GPU)",
            "measured": c["speedup"],
            "met": bool(c["speedup"] >= GPU_TARGET_SPEEDUP) if on_gpu else None,
        }
        targets[f"agreement {name}"] = {
            "target": f"{name}: max |fast - generic| <= {AGREEMENT_TOLERANCE:g}",
            "measured": c["max_abs_diff"],
            "met": bool(c["max_abs_diff"] <= AGREEMENT_TOLERANCE),
        }
    return {
        "benchmark": "pipeline_speed",
        "machine": {**_machine(dev), "loadavg_before": load_before,
                    "loadavg_after": _loadavg()},
        "settings": {
            "dataset": "adult raw DataFrame (sklxai.datasets.load_adult), fnlwgt and education "
                       "dropped",
            "n_features": int(d),
            "raw_columns": list(rows.columns),
            "categorical": cat,
            "numeric": num,
            "model_columns": int(width),
            "pipeline": "ColumnTransformer(num: StandardScaler, cat: SimpleImputer(most_frequent)"
                        " + OneHotEncoder(handle_unknown='ignore', sparse_output=False)) -> "
                        f"skorch NeuralNetClassifier MLP {width}-64-64-2 (CrossEntropyLoss, "
                        f"Adam 1e-3, batch 256, predict batch {predict_batch_size}), "
                        f"{epochs} epochs on the training split",
            "model_test_accuracy": accuracy,
            "train_seconds": train_s,
            "device": dev,
            "rows": n_rows,
            "generic_rows": generic_rows,
            "coalitions": n_coalitions,
            "background": n_background,
            "epochs": epochs,
            "predict_batch_size": predict_batch_size,
            "seed": seed,
            "repeats": repeats,
            "torch_threads": torch.get_num_threads(),
            "explained_rows": f"first {n_rows} rows of the Adult test split (raw); the generic "
                              f"path explains the first {generic_rows} of them",
            "background_rows": f"{n_background} raw training rows drawn with numpy "
                               "default_rng(seed), passed as background=",
            "timing": "fit (on the raw training frame) + explain, per path, after an untimed "
                      "warm-up; cuda synchronised; fastest of `repeats` runs (all in "
                      "all_seconds)",
            "speedup": "generic ms/row over fast ms/row (fit + explain); speedup_explain_only "
                       "without fit",
        },
        "methods": methods,
        "comparison": comparison,
        "targets": targets,
        "total_seconds": time.perf_counter() - t_start,
    }


def markdown_table(report):
    """The report as compact markdown tables (plus the target lines)."""
    s = report["settings"]
    lines = [
        (f"Adult raw DataFrame (d={s['n_features']} raw columns -> {s['model_columns']} model "
         f"columns), Pipeline -> skorch MLP, background {s['background']}, "
         f"device {s['device']} ({report['machine']['device_name']}), "
         f"{s['torch_threads']} torch thread(s), fastest of {s['repeats']} run(s), load average "
         f"before/after {_fmt_load(report['machine']['loadavg_before'])}/"
         f"{_fmt_load(report['machine']['loadavg_after'])}"),
        "",
        "| method | path | rows | fit s | explain s | ms/row | rows/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for m in report["methods"].values():
        lines.append(
            f"| {m['method']} | {m['path']} | {m['rows']} | {m['fit_seconds']:.2f} "
            f"| {m['explain_seconds']:.2f} | {m['ms_per_row']:.2f} | {m['rows_per_s']:.2f} |"
        )
    lines += [
        "",
        ("| method | speed-up (fit + explain) | speed-up (explain only) "
         "| max abs(fast - generic) | rows compared |"),
        "|---|---:|---:|---:|---:|",
    ]
    for name, c in report["comparison"].items():
        lines.append(f"| {name} | {c['speedup']:.1f}x | {c['speedup_explain_only']:.1f}x "
                     f"| {c['max_abs_diff']:.1e} | {c['rows_compared']} |")
    lines.append("")
    for key, t in report["targets"].items():
        measured = (f"{t['measured']:.1e}" if key.startswith("agreement")
                    else f"{t['measured']:.1f}x")
        verdict = (f"not judged on {s['device']}" if t["met"] is None
                   else "met" if t["met"] else "NOT met")
        lines.append(f"Target {t['target']}: measured {measured} -> {verdict}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.pipeline_speed",
        description="Raw-column explanations of an Adult Pipeline ending in a skorch net: the "
        "fast path (model-space masking on the device) against the generic path (the whole "
        "pipeline per batch), ExactShapley and KernelSHAP.",
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--out", default="results/pipeline_speed.json",
                        help="where to write the JSON report")
    parser.add_argument("--rows", type=int, default=100, help="raw test rows explained by the "
                        "fast path")
    parser.add_argument("--generic-rows", type=int, default=10,
                        help="rows explained by the generic path (slow); the first of --rows")
    parser.add_argument("--coalitions", type=int, default=2048, help="KernelSHAP's n_coalitions")
    parser.add_argument("--background", type=int, default=50, help="background rows (raw)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs of the MLP")
    parser.add_argument("--predict-batch-size", type=int, default=2**14,
                        help="skorch's prediction batch (iterator_valid__batch_size), used by "
                        "the generic path's predict_proba")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1,
                        help="time every run this many times and keep the fastest")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default). On a shared or loaded "
                        "machine, 1 gives far steadier CPU timings")
    args = parser.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    report = run(device=args.device, n_rows=args.rows, generic_rows=args.generic_rows,
                 n_coalitions=args.coalitions, n_background=args.background,
                 epochs=args.epochs, predict_batch_size=args.predict_batch_size, seed=args.seed,
                 repeats=args.repeats, threads=args.threads, log=log)
    _write_json(report, args.out)
    print(markdown_table(report))
    print(f"\n(total {report['total_seconds']:.0f} s; report written to {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
