"""SimSHAP and FastSHAP on Adult: error against exact Shapley values as training goes on.

Trains the demo's skorch MLP on Adult (12 features), draws one background of ``--background``
training rows, computes exact Shapley values (``ExactShapley``, all 2**12 coalitions) for
``--rows`` held-out rows, then

- trains ``SimSHAP`` and ``FastSHAP`` on the training split with ``max_time=--budget`` seconds;
  a skorch callback evaluates the explainer network on the held-out rows at the end of every
  epoch (and every ``--eval-every`` seconds of training, if set) and records the relative error
  against the training seconds spent so far, giving an error-against-time curve;
- reports each explainer's final error (best weights restored by early stopping) and its
  explain throughput on ``THROUGHPUT_ROWS`` rows (the test split tiled);
- explains the same rows with sklxai ``KernelSHAP`` at 256, 1024 and 2048 coalitions and the
  first ``--shap-rows`` of them with ``shap.KernelExplainer`` (``l1_reg=False``,
  ``nsamples=2048``, f = ``softmax(net.module_(x))``), as reference points,

every method with the same model and the same background. Accuracy is the relative error
against exact Shapley values (``sklxai.metrics.relative_error``). Writes a JSON report to ``--out``,
a plot to ``--plot`` and prints markdown tables::

    python -m benchmarks.amortized_accuracy --device cpu --out results/amortized.json \\
        --plot results/amortized.png
"""

import argparse
import os
import sys
import time

import numpy as np

from benchmarks.kernel_speed import (
    _loadavg,
    _machine,
    _shap_layout,
    _sync,
    _timed,
    _write_json,
)

#: the amortized explainers, by --methods name
AMORTIZED = {"simshap": "SimSHAP", "fastshap": "FastSHAP"}
ALL_METHODS = ("simshap", "fastshap", "kernel", "shap")

#: KernelSHAP budgets (coalitions per row) and shap's nsamples
KERNEL_COALITIONS = (256, 1024, 2048)
SHAP_NSAMPLES = 2048

#: rows explained to measure the amortized explainers' throughput (the test split, tiled)
THROUGHPUT_ROWS = 100_000
THROUGHPUT_REPEATS = 3

#: --quick: a smoke run
QUICK_BUDGET = 20.0
QUICK_ROWS = 100

#: targets (the accuracy ones are stated for a GPU)
TARGET_BUDGET_S = 180.0
SIMSHAP_TARGET_ERROR = 0.03
SIMSHAP_AIM_ERROR = 0.015
FASTSHAP_TARGET_ERROR = 0.04
GPU_TARGET_ROWS_PER_S = 1e6
CPU_TARGET_ROWS_PER_S = 1e5

#: default --eval-every: this many evaluations over the budget besides the epoch ends (an epoch
#: of SimSHAP on Adult takes tens of seconds on a CPU)
EVALS_PER_BUDGET = 40

#: training seconds at which the markdown table reads the curves
CHECKPOINTS_S = (5, 10, 30, 60, 120, 180)


def _error_curve_callback(rows, exact, total, device, eval_every=0.0, log=None):
    """A skorch callback recording (training seconds, relative error) of the explainer network.

    ``rows`` (n, d) are explained with the network being trained, made efficient by the same
    additive normalisation as the explainer's predictions (``AmortizedShapley._predict``):
    phi = raw + (total - sum_i raw_i) / d, with ``total`` = v(N) - v(empty) per row, (n, k),
    taken from the exact explanation (its ``output`` minus its ``base_values``), which is what
    the explainer computes from the same model and background. The error is against ``exact``
    (n, d, k).

    Time: seconds since ``on_train_begin`` minus the seconds spent in this callback's own
    evaluations (which do count against the explainer's ``max_time``, but are a few ms each).
    """
    import torch
    from skorch.callbacks import Callback

    from sklxai.metrics import relative_error

    class ErrorCurve(Callback):
        def __init__(self, eval_every=0.0):
            self.eval_every = eval_every
            self.explainer = None  # set once the explainer exists: it builds the inputs

        def initialize(self):
            self.points_ = []
            self.eval_seconds_ = 0.0
            return self

        def on_train_begin(self, net, X=None, y=None, **kwargs):
            self.points_ = []
            self.eval_seconds_ = 0.0
            self.last_ = 0.0
            _sync(device)
            self.t0_ = time.perf_counter()
            self.Xt_ = torch.as_tensor(np.asarray(rows, dtype=np.float32), device=device)
            if self.explainer is not None:  # the rows, then the model's outputs (once)
                self.Xt_ = self.explainer.network_inputs(rows)
            self.total_ = torch.as_tensor(total, dtype=torch.float64, device=device)

        def _elapsed(self):
            return time.perf_counter() - self.t0_ - self.eval_seconds_

        def _record(self, net, when, **extra):
            _sync(device)
            t_eval = time.perf_counter()
            elapsed = t_eval - self.t0_ - self.eval_seconds_
            module = net.module_
            was_training = module.training
            module.eval()
            with torch.no_grad():
                n, d = len(self.Xt_), np.shape(rows)[1]
                raw = module(self.Xt_).reshape(n, d, -1).to(torch.float64)
                phi = raw + ((self.total_ - raw.sum(dim=1)) / d)[:, None, :]
            module.train(was_training)
            err = relative_error(phi.cpu().numpy(), exact)
            self.points_.append({"seconds": elapsed, "relative_error": err, "at": when, **extra})
            self.last_ = elapsed
            _sync(device)
            self.eval_seconds_ += time.perf_counter() - t_eval
            return err

        def on_batch_end(self, net, batch=None, training=None, **kwargs):
            if training and self.eval_every > 0 and self._elapsed() - self.last_ >= self.eval_every:
                self._record(net, "batch", epoch=len(net.history))

        def on_train_end(self, net, X=None, y=None, **kwargs):
            # after EarlyStopping restored the best weights (it comes earlier in the callbacks):
            # the fitted explainer's own error, a consistency check on this callback
            self._record(net, "train_end", epoch=len(net.history))

        def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
            row = net.history[-1]
            valid = row.get("valid_loss") if hasattr(row, "get") else None
            err = self._record(net, "epoch_end", epoch=len(net.history),
                               valid_loss=None if valid is None else float(valid))
            if log is not None:
                log(f"  epoch {len(net.history)}: {self.points_[-1]['seconds']:.1f} s, "
                    f"rel. error {100 * err:.2f}%")

    return ErrorCurve(eval_every=eval_every)


def _curve_at(points, seconds):
    """The last recorded error at or before ``seconds`` of training (None if none yet)."""
    errs = [p["relative_error"] for p in points
            if p["seconds"] <= seconds and p["at"] != "train_end"]
    return errs[-1] if errs else None


def _target(target, measured, met_if, judged, **extra):
    return {"target": target, "measured": measured,
            "met": bool(met_if) if judged and measured is not None else None,
            "within_threshold_on_this_run": None if measured is None else bool(met_if),
            **extra}


def run(*, device="auto", n_rows=500, budget=180.0, shap_rows=20, n_background=50, seed=0,
        threads=0, methods=ALL_METHODS, eval_every=None, max_epochs=None, refresh_every="auto",
        log=print):
    """Run the benchmark and return the report as a dict (see the module docstring)."""
    import torch

    import sklxai
    from sklxai import ExactShapley, KernelSHAP
    from sklxai.demo import adult_features, train_adult_mlp
    from sklxai.metrics import relative_error
    from sklxai.utils.validation import resolve_device

    unknown = set(methods) - set(ALL_METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; use some of {list(ALL_METHODS)}")
    if eval_every is None:
        eval_every = budget / EVALS_PER_BUDGET
    t_start = time.perf_counter()
    load_before = _loadavg()
    dev = str(resolve_device(device))
    if threads > 0:
        torch.set_num_threads(threads)
    np.random.seed(seed)
    torch.manual_seed(seed)

    Xtr, Xte, ytr, yte, names = adult_features()
    net, train_s = _timed(
        lambda: train_adult_mlp(Xtr, ytr, max_epochs=10, device=dev, random_state=seed), dev
    )
    accuracy = float((net.predict(Xte) == yte).mean())
    log(f"trained the MLP on {dev} in {train_s:.1f} s, test accuracy {accuracy:.4f}")

    rng = np.random.default_rng(seed)
    bg = Xtr[np.sort(rng.choice(len(Xtr), size=n_background, replace=False))]
    n_rows = min(n_rows, len(Xte))
    shap_rows = min(shap_rows, n_rows)
    rows = Xte[:n_rows]
    d = rows.shape[1]

    # ground truth (warm-up first, so its time is comparable with the others)
    ExactShapley(net, background=bg, device=dev).fit(bg).explain(rows[:4])
    exact_exp, exact_s = _timed(
        lambda: ExactShapley(net, background=bg, device=dev).fit(bg).explain(rows), dev
    )
    exact = exact_exp.values
    k = exact.shape[2]
    total = exact_exp.output - exact_exp.base_values  # v(N) - v(empty), (n, k)
    log(f"ExactShapley: {n_rows} rows in {exact_s:.2f} s")
    reference = {"ExactShapley": {"seconds": exact_s, "rows": n_rows,
                                  "seconds_for_rows": exact_s, "relative_error": 0.0}}

    curves, finals, throughput = {}, {}, {}
    big = np.resize(Xte, (THROUGHPUT_ROWS, d)).astype(np.float32)  # test split, tiled
    for key in ("simshap", "fastshap"):
        if key not in methods:
            continue
        name = AMORTIZED[key]
        cls = getattr(sklxai, name)
        log(f"{name}: training for up to {budget:g} s")
        curve = _error_curve_callback(rows, exact, total, dev, eval_every=eval_every,
                                      log=log)
        kw = {"refresh_every": refresh_every}
        if max_epochs is not None:
            kw["max_epochs"] = max_epochs
        est = cls(net, background=bg, max_time=budget, random_state=seed, device=dev,
                  callbacks=[("error_curve", curve)], **kw)
        curve.explainer = est
        _, wall_s = _timed(lambda est=est: est.fit(Xtr), dev)
        est.explain(big[:1000])  # warm-up
        phi, explain_s = _timed(lambda est=est: est.explain(rows).values, dev)
        err = relative_error(phi, exact)
        hist = est.history_
        valid = [h.get("valid_loss") for h in hist]
        best_epoch = int(np.nanargmin([np.nan if v is None else v for v in valid])) + 1 \
            if any(v is not None for v in valid) else None
        points = [p for p in curve.points_ if p["at"] != "train_end"]
        at_end = [p for p in curve.points_ if p["at"] == "train_end"]
        curves[name] = {
            "points": points,
            "eval_seconds": curve.eval_seconds_,
            "n_points": len(points),
        }
        finals[name] = {
            "relative_error": err,
            "fit_time_": est.fit_time_,
            "fit_wall_seconds": wall_s,
            "epochs": sum(v is not None for v in valid),
            "epochs_started": len(hist),
            "best_epoch": best_epoch,
            "callback_error_at_train_end": at_end[-1]["relative_error"] if at_end else None,
            "train_rows": len(Xtr),
            "params": {p: est.get_params()[p] for p in
                       ("max_epochs", "max_time", "n_coalitions", "train_batch_size", "lr",
                        "hidden_sizes", "patience", "validation_fraction", "refresh_every")},
            "refresh_every_": est.refresh_every_,
            "explain_seconds": explain_s,
            "explain_rows": n_rows,
            "best_curve_error": min((p["relative_error"] for p in points), default=None),
        }
        log(f"{name}: {finals[name]['epochs']} full epochs in {est.fit_time_:.1f} s, final "
            f"rel. error "
            f"{100 * err:.2f}% (best epoch {best_epoch})")

        times = []
        for _ in range(THROUGHPUT_REPEATS):
            _, sec = _timed(lambda est=est: est.explain(big), dev)
            times.append(sec)
        throughput[name] = {"rows": THROUGHPUT_ROWS, "seconds": min(times),
                            "all_seconds": times, "rows_per_s": THROUGHPUT_ROWS / min(times)}
        log(f"{name}: explains {throughput[name]['rows_per_s']:.3g} rows/s")

    if "kernel" in methods:
        KernelSHAP(net, background=bg, n_coalitions=64, random_state=seed, device=dev) \
            .fit(bg).explain(rows[:4])  # warm-up
        for m in KERNEL_COALITIONS:
            phi, sec = _timed(
                lambda m=m: KernelSHAP(net, background=bg, n_coalitions=m, random_state=seed,
                                       device=dev).fit(bg).explain(rows).values, dev
            )
            reference[f"KernelSHAP({m})"] = {
                "seconds": sec, "rows": n_rows, "seconds_for_rows": sec,
                "relative_error": relative_error(phi, exact), "n_coalitions": m,
            }
            log(f"KernelSHAP({m}): {n_rows} rows in {sec:.2f} s")

    if "shap" in methods:
        import shap

        module = net.module_.eval()
        torch_dev = torch.device(dev)

        def f_torch(X):
            with torch.no_grad():
                Xt = torch.as_tensor(np.asarray(X, dtype=np.float32), device=torch_dev)
                outs = [torch.softmax(module(Xt[i : i + 2**15]), dim=-1)
                        for i in range(0, len(Xt), 2**15)]
                return torch.cat(outs).cpu().numpy()

        f_torch(bg)  # warm-up

        def shap_run():
            np.random.seed(seed)  # KernelExplainer samples with numpy's global generator
            explainer = shap.KernelExplainer(f_torch, bg)
            return explainer.shap_values(rows[:shap_rows], nsamples=SHAP_NSAMPLES,
                                         l1_reg=False, silent=True)

        raw, sec = _timed(shap_run, dev)
        shap_phi = _shap_layout(raw, shap_rows, d, k)
        reference["shap.KernelExplainer"] = {
            "seconds": sec, "rows": shap_rows,
            "seconds_for_rows": sec / shap_rows * n_rows,
            "seconds_for_rows_extrapolated": True,
            "relative_error": relative_error(shap_phi, exact[:shap_rows]),
            "n_coalitions": SHAP_NSAMPLES,
        }
        log(f"shap.KernelExplainer: {shap_rows} rows in {sec:.2f} s")

    on_gpu = dev.startswith("cuda")
    targets = {}
    for name, limit, extra in (("SimSHAP", SIMSHAP_TARGET_ERROR, {"aim": SIMSHAP_AIM_ERROR}),
                               ("FastSHAP", FASTSHAP_TARGET_ERROR, {})):
        if name not in finals:
            continue
        err = finals[name]["relative_error"]
        ok = err <= limit and budget <= TARGET_BUDGET_S
        targets[f"{name.lower()}_error"] = _target(
            f"{name} relative error <= {100 * limit:g}% after <= {TARGET_BUDGET_S:g} s of "
            "training (GPU)", err, ok, on_gpu, budget_s=budget,
            fit_time_s=finals[name]["fit_time_"], **extra,
        )
        if "aim" in extra:
            targets[f"{name.lower()}_error"]["aim_met"] = bool(err <= extra["aim"])
    for name, tp in throughput.items():
        r = tp["rows_per_s"]
        targets[f"{name.lower()}_throughput_gpu"] = _target(
            f"{name} explain >= {GPU_TARGET_ROWS_PER_S:g} rows/s (GPU)", r,
            r >= GPU_TARGET_ROWS_PER_S, on_gpu)
        targets[f"{name.lower()}_throughput_cpu"] = _target(
            f"{name} explain >= {CPU_TARGET_ROWS_PER_S:g} rows/s (CPU)", r,
            r >= CPU_TARGET_ROWS_PER_S, not on_gpu)

    return {
        "benchmark": "amortized_accuracy",
        "machine": {**_machine(dev), "loadavg_before": load_before,
                    "loadavg_after": _loadavg()},
        "settings": {
            "dataset": "adult (sklxai.demo.adult_features)",
            "n_features": int(d),
            "model": "skorch MLP 12-64-64-2 (sklxai.demo.train_adult_mlp), 10 epochs",
            "model_test_accuracy": accuracy,
            "model_train_seconds": train_s,
            "device": dev,
            "rows": n_rows,
            "explained_rows": f"first {n_rows} rows of the Adult test split",
            "shap_rows": shap_rows,
            "background": n_background,
            "background_rows": "drawn without replacement from the training split with "
                               "numpy default_rng(seed); the same array for every method",
            "seed": seed,
            "budget_s": budget,
            "max_epochs": max_epochs,
            "eval_every_s": eval_every,
            "methods": list(methods),
            "torch_threads": torch.get_num_threads(),
            "amortized_training": "SimSHAP / FastSHAP defaults except max_time=budget, "
                                  "random_state=seed (and max_epochs if given), fit on the "
                                  "whole training split",
            "curve": "a skorch callback evaluates the network being trained on the explained "
                     "rows at every epoch end (and every eval_every s of training if > 0), "
                     "with the explainer's additive efficient normalisation (v(N) - v(empty) "
                     "from the exact explanation); seconds = time since on_train_begin minus "
                     "the callback's own evaluation time (curves[*].eval_seconds; it still "
                     "counts against max_time). An epoch that max_time interrupts has no "
                     "validation; the best weights are those of the best full epoch (none: the "
                     "weights at the interruption)",
            "final": "explain() of the fitted explainer (best weights restored by early "
                     "stopping); fit_time_ is the explainer's own training time",
            "throughput": f"explain() of {THROUGHPUT_ROWS} rows (test split tiled), after a "
                          f"warm-up, fastest of {THROUGHPUT_REPEATS}",
            "kernel": f"sklxai KernelSHAP(n_coalitions=m), m in {list(KERNEL_COALITIONS)}: "
                      "fit + explain of all rows, after a warm-up",
            "shap": f"shap.KernelExplainer(f, background).shap_values(nsamples={SHAP_NSAMPLES}, "
                    "l1_reg=False) on the first shap_rows rows, f = softmax(net.module_(x)) on "
                    "float32; seconds_for_rows is extrapolated linearly to all rows",
            "relative_error": "mean_i ||phi_i - phi*_i|| / mean_i ||phi*_i|| vs ExactShapley, "
                              "both outputs",
            "timing": "cuda synchronised around every timed call",
        },
        "curves": curves,
        "finals": finals,
        "throughput": throughput,
        "reference": reference,
        "targets": targets,
        "total_seconds": time.perf_counter() - t_start,
    }


def _fmt_err(e):
    return "-" if e is None else f"{100 * e:.2f}%"


def markdown_table(report):
    """The report as compact markdown tables (plus target lines)."""
    s = report["settings"]
    m = report["machine"]
    load = lambda x: "n/a" if not x else f"{x[0]:.1f}"
    lines = [
        f"Adult (d={s['n_features']}), skorch MLP, background {s['background']}, "
        f"{s['rows']} held-out rows, budget {s['budget_s']:g} s, device {s['device']} "
        f"({m['device_name']}), {s['torch_threads']} torch thread(s), load average before/after "
        f"{load(m['loadavg_before'])}/{load(m['loadavg_after'])}",
        "",
        "| method | training s | explain s (rows) | rows/s | rel. error |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, f in report["finals"].items():
        tp = report["throughput"].get(name, {})
        best = "" if f["best_epoch"] is None else f", best {f['best_epoch']}"
        lines.append(f"| {name} ({f['epochs']} full epochs{best}) "
                     f"| {f['fit_time_']:.1f} | {f['explain_seconds']:.3f} ({f['explain_rows']}) "
                     f"| {tp.get('rows_per_s', float('nan')):.3g} | "
                     f"{_fmt_err(f['relative_error'])} |")
    for name, r in report["reference"].items():
        extra = ", extrapolated" if r.get("seconds_for_rows_extrapolated") else ""
        err = "exact" if name == "ExactShapley" else _fmt_err(r["relative_error"])
        err += f" (first {r['rows']})" if r.get("seconds_for_rows_extrapolated") else ""
        lines.append(f"| {name} | - | {r['seconds_for_rows']:.2f} ({s['rows']}{extra}) "
                     f"| {r['rows'] / r['seconds']:.3g} | {err} |")
    if report["curves"]:
        cps = [c for c in CHECKPOINTS_S if c <= s["budget_s"] * 1.05] or [s["budget_s"]]
        lines += ["", "Error of the network during training (last evaluation at or before t):",
                  "", "| method | " + " | ".join(f"t={c:g} s" for c in cps) + " |",
                  "|---|" + "---:|" * len(cps)]
        for name, c in report["curves"].items():
            lines.append(f"| {name} | "
                         + " | ".join(_fmt_err(_curve_at(c["points"], t)) for t in cps) + " |")
    lines.append("")
    for t in report["targets"].values():
        if t["met"] is None:
            verdict = ("not judged on this device; would be "
                       f"{'met' if t['within_threshold_on_this_run'] else 'NOT met'}")
        else:
            verdict = "met" if t["met"] else "NOT met"
        meas = t["measured"]
        meas = f"{100 * meas:.2f}%" if meas < 1 else f"{meas:.3g}"
        lines.append(f"Target {t['target']}: measured {meas} -> {verdict}")
    return "\n".join(lines)


def plot(report, path):
    """Relative error (log) against training seconds, with the reference methods as points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report["settings"]
    fig, ax = plt.subplots(figsize=(12, 5.5), dpi=120)
    colors = {"SimSHAP": "tab:blue", "FastSHAP": "tab:orange"}
    for name, c in report["curves"].items():
        pts = [p for p in c["points"] if p["seconds"] > 0]
        f = report["finals"][name]
        ax.plot([p["seconds"] for p in pts], [p["relative_error"] for p in pts], "-",
                color=colors.get(name), lw=1.5, marker=".", ms=4,
                label=f"{name} during training")
        ax.plot([f["fit_time_"]], [f["relative_error"]], "*", ms=13, color=colors.get(name),
                mec="k", label=f"{name} final (best epoch): {100 * f['relative_error']:.2f}%")
    ref_colors = {"KernelSHAP(256)": "tab:green", "KernelSHAP(1024)": "tab:olive",
                  "KernelSHAP(2048)": "tab:purple", "shap.KernelExplainer": "tab:red"}
    for name, r in report["reference"].items():
        if name == "ExactShapley":
            continue
        col = ref_colors.get(name, "grey")
        ax.axhline(r["relative_error"], color=col, ls="--", lw=0.8, alpha=0.6)
        label = (f"{name}: {100 * r['relative_error']:.2f}%, "
                 f"{r['seconds_for_rows']:.1f} s for {s['rows']} rows")
        if r.get("seconds_for_rows_extrapolated"):
            label = (f"shap.KernelExplainer({r['n_coalitions']}): "
                     f"{100 * r['relative_error']:.2f}% on {r['rows']} rows, "
                     f"{r['seconds_for_rows']:.0f} s for {s['rows']} (extrapolated)")
        ax.plot([r["seconds_for_rows"]], [r["relative_error"]],
                "s" if name.startswith("shap") else "o", color=col, ms=7, label=label)
    ex = report["reference"]["ExactShapley"]
    ax.axvline(ex["seconds"], color="k", ls=":", lw=0.8,
               label=f"ExactShapley: {ex['seconds']:.1f} s for {s['rows']} rows")
    for limit, txt in ((SIMSHAP_TARGET_ERROR, "SimSHAP target 3% (GPU)"),
                       (FASTSHAP_TARGET_ERROR, "FastSHAP target 4% (GPU)")):
        ax.axhline(limit, color="grey", ls=":", lw=1)
        ax.annotate(txt, (1, limit), xycoords=("axes fraction", "data"), ha="right",
                    va="bottom", fontsize=7, color="grey")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training seconds (amortized) / seconds to explain the rows (reference)")
    ax.set_ylabel("relative error vs exact Shapley values")
    m = report["machine"]
    ax.set_title(f"Adult, skorch MLP: error vs time, {s['rows']} held-out rows\n"
                 f"{m['device_name']} ({s['device']}, {s['torch_threads']} torch threads, "
                 f"{m['cpu_count']} CPUs)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    out_dir = os.path.dirname(path)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.amortized_accuracy",
        description="Error of SimSHAP and FastSHAP against exact Shapley values on Adult as "
        "their training goes on, with KernelSHAP and shap.KernelExplainer as reference points.",
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--out", default="results/amortized.json",
                        help="where to write the JSON report")
    parser.add_argument("--plot", default=None, help="where to write the plot (PNG); none if "
                        "not given")
    parser.add_argument("--rows", type=int, default=None,
                        help=f"held-out rows explained (default 500; {QUICK_ROWS} with --quick)")
    parser.add_argument("--budget", type=float, default=None,
                        help="training seconds per amortized explainer (max_time; default 180, "
                        f"{QUICK_BUDGET:g} with --quick)")
    parser.add_argument("--shap-rows", type=int, default=20,
                        help="rows explained by shap (slow); the first of --rows")
    parser.add_argument("--background", type=int, default=50, help="background rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0: torch's default). On a shared or loaded "
                        "machine, 1 gives far steadier CPU timings")
    parser.add_argument("--methods", default=",".join(ALL_METHODS),
                        help="comma-separated subset of " + ",".join(ALL_METHODS))
    parser.add_argument("--eval-every", type=float, default=None,
                        help="also evaluate the network every this many training seconds "
                        f"(default: budget / {EVALS_PER_BUDGET}; 0: at epoch ends only)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="max_epochs of SimSHAP/FastSHAP (default: theirs, 100)")
    parser.add_argument("--refresh-every", default="auto",
                        help="refresh_every of SimSHAP/FastSHAP: auto, none or an int "
                        "(epochs between two draws of a training row's coalitions)")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: budget {QUICK_BUDGET:g} s, {QUICK_ROWS} rows")
    args = parser.parse_args(argv)
    rows = args.rows if args.rows is not None else (QUICK_ROWS if args.quick else 500)
    budget = args.budget if args.budget is not None else (QUICK_BUDGET if args.quick else 180.0)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    refresh = args.refresh_every.lower()
    refresh = None if refresh == "none" else refresh if refresh == "auto" else int(refresh)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    report = run(device=args.device, n_rows=rows, budget=budget, shap_rows=args.shap_rows,
                 n_background=args.background, seed=args.seed, threads=args.threads,
                 methods=methods, eval_every=args.eval_every, max_epochs=args.max_epochs,
                 refresh_every=refresh, log=log)
    report["settings"]["quick"] = bool(args.quick)
    _write_json(report, args.out, default=_json_default)
    if args.plot:
        plot(report, args.plot)
    print(markdown_table(report))
    print(f"\n(total {report['total_seconds']:.0f} s; report written to {args.out}"
          + (f", plot to {args.plot}" if args.plot else "") + ")")
    return 0


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, (tuple, np.ndarray)):
        return list(obj)
    return str(obj)


if __name__ == "__main__":
    raise SystemExit(main())
