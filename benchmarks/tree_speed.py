"""TreeShapley against shap's interventional TreeExplainer, and the compiled trees in a Pipeline.

On the bundled Adult data (the 12 usual features as numbers, ``sklxai.demo.adult_features``; the
income label as a 0/1 regression target), fitted on the first ``--train-rows`` training rows:

(a) ``gbdt-d3``: GradientBoostingRegressor(n_estimators=100, max_depth=3),
(b) ``gbdt-d8``: GradientBoostingRegressor(n_estimators=500, max_depth=8),
(c) ``forest``: RandomForestRegressor(n_estimators=200), unlimited depth,

each explained by ``TreeShapley`` (exact interventional Shapley values on ``--device``) and by
``shap.TreeExplainer(model, data=bg, feature_perturbation="interventional")`` (CPU), with the
same ``--background`` (100) training rows drawn with ``--seed``, on the same held-out rows (shap
on the first ``shap_rows`` of them). Reported per model: trees, leaves, depth, TreeShapley's
``fit`` seconds (its per-leaf value tables are built from the background: reported apart),
explain rows/s of both (``explain`` / ``shap_values`` alone, after an untimed warm-up), their
ratio and the largest |TreeShapley - shap|.

(d) ``pipeline``: the trees in a Pipeline. ``KernelSHAP`` on the raw Adult DataFrame (12
columns, strings with NaN) through the Pipeline ColumnTransformer(StandardScaler, OneHotEncoder)
-> HistGradientBoostingClassifier: the default path (the preprocessing runs once; a Pipeline
ending in a tree model gets :class:`sklxai.games.TreeGame`, the coalition values computed from
its trees, and on CUDA runs its trees as a torch function,
:class:`sklxai.models.trees.adapter.TreeAdapter`) against the generic path (``fast_path=False``:
a :class:`sklxai.models.SklearnAdapter` calls the whole pipeline's ``predict_proba`` on every
batch of masked raw rows). The target compares ``explain`` per row (as for the tree models,
``fit`` is reported apart, and ``fit`` + ``explain`` per row is reported too).

(e) accuracy: for each model where shap and TreeShapley differ by more than 1e-6, brute force
decides, on the row(s) of the largest gap: on a subset of 10 columns (the column of the gap and
the row's largest values), background rows take x's values outside the subset, so only those
columns are players and all 2**10 coalitions are enumerated with ``model.predict`` (no sklxai
code). Both explainers are run on that modified background; reported: max |shap - brute| and
max |TreeShapley - brute| over the subset.

(f) ``--woodelf-sizes``: TreeShapley against WOODELF (``woodelf-explainer``, the background folded
into per-leaf decision-pattern tables, pure numpy) on an XGBoost regressor (100 trees, depth 6)
fitted on 10,000 synthetic rows of d standard normal features, for each size ``rows x background
x d`` of ``--sizes``, at each thread count of ``--size-threads`` (both libraries pinned with
threadpoolctl and ``torch.set_num_threads``): TreeShapley's ``fit`` and ``explain`` apart,
WOODELF's explainer construction + ``shap_values`` (it has no separate fit), their ratio (WOODELF
seconds over TreeShapley's fit + explain), and exactness on the first ``--check-rows`` rows of
each size against an independent recursion (``interventional_recursion``: the XGBoost booster's
own saved trees, walked per row with the whole background, no sklxai code). A background sweep
(same d = 30 model, ``--sweep-rows`` rows, backgrounds of 100 to 10,000 rows) reports
TreeShapley's explain time per row, whose target is to stay within 20% of its value at 100
background rows. Only section (f) runs with ``--woodelf-sizes``; its JSON goes to ``--out``.

Writes a JSON report to ``--out`` and prints markdown tables::

    python -m benchmarks.tree_speed --device cpu --out results/tree_speed.json
    python -m benchmarks.tree_speed --quick --device cpu      # about a minute
    python -m benchmarks.tree_speed --woodelf-sizes --device cpu --out results/tree_woodelf.json
"""

import argparse
import importlib.util
import math
import os
import sys
import time
import warnings

# OpenMP threads that spin while waiting take the cores their peers need on a loaded machine: at
# two torch threads on a 2-core CPU under load 15, every parallel region waited so long that
# TreeShapley ran 20-80x slower than at one thread. Idle threads sleep instead (set before
# torch is imported; a value already in the environment wins).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from benchmarks.kernel_speed import (
    _fmt_load,
    _loadavg,
    _machine,
    _sync,
    _timed,
    _write_json,
)

#: targets: TreeShapley explain rows/s over shap's, per model
CPU_TARGET_RATIO = 1.0
GPU_TARGET_RATIO = 50.0
#: target (every device): compiled trees (fast path) over the generic path, ms/row
PIPELINE_TARGET_SPEEDUP = 10.0
#: |TreeShapley - shap| above this sends the model to the brute-force check
AGREEMENT_TOLERANCE = 1e-6
#: the brute force's verdict: within this of brute force is exact (float64 sums)
EXACT_TOLERANCE = 1e-9

#: a timed call is repeated (fastest kept) while the repeats so far took less than this
REPEAT_BUDGET_S = 5.0

#: name -> (trees, max_depth, explained rows on cpu, on cuda); shap explains the first
#: min(rows, cpu rows) of them (it runs on the CPU either way)
MODELS = {
    "gbdt-d3": (100, 3, 500, 20000),
    "gbdt-d8": (500, 8, 100, 5000),
    "forest": (200, None, 10, 500),
}
#: --quick: rows explained, and fewer trees in the forest (fit time grows with its leaves)
QUICK_ROWS = {"gbdt-d3": 200, "gbdt-d8": 40, "forest": 3}
QUICK_FOREST_TREES = 50


def _make_model(name, n_trees, depth, seed):
    """(unfitted model, its description)."""
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

    if name == "forest":
        return (RandomForestRegressor(n_estimators=n_trees, n_jobs=-1, random_state=seed),
                f"RandomForestRegressor(n_estimators={n_trees}), unlimited depth")
    return (GradientBoostingRegressor(n_estimators=n_trees, max_depth=depth, random_state=seed),
            f"GradientBoostingRegressor(n_estimators={n_trees}, max_depth={depth})")


def _fastest(fn, device, repeats, budget_s=REPEAT_BUDGET_S):
    """(result of the first run, fastest seconds, every run's seconds): up to ``repeats`` runs,
    fewer once the runs so far took ``budget_s`` (slow calls run once)."""
    result, times = None, []
    while len(times) < max(1, repeats) and sum(times) < budget_s:
        out, sec = _timed(fn, device)
        if not times:
            result = out
        times.append(sec)
    return result, min(times), times


def _values_2d(values):
    """A single-output regressor's values as (n, d)."""
    values = np.asarray(values, dtype=np.float64)
    return values[..., 0] if values.ndim == 3 else values


def brute_force_subset(predict, x, background, columns):
    """Shapley values of the marginal game at ``x`` when only ``columns`` are players.

    Background rows take x's values outside ``columns``, so the other columns never change
    the model's input; all 2**p coalitions of the p columns are evaluated in one batch of
    ``predict`` calls and combined by the textbook formula. Returns (the modified background,
    values (p,)). Independent of sklxai.
    """
    x = np.asarray(x, dtype=np.float64)
    columns = np.asarray(columns)
    bg = np.array(background, dtype=np.float64, copy=True)
    bg[:, np.setdiff1d(np.arange(len(x)), columns)] = x[np.setdiff1d(np.arange(len(x)), columns)]
    p, m, d = len(columns), len(bg), len(x)
    masks = np.arange(2**p)
    bits = (masks[:, None] >> np.arange(p)) & 1  # (2**p, p)
    Z = np.repeat(bg[None], 2**p, axis=0)  # (2**p, m, d)
    for j, c in enumerate(columns):
        Z[bits[:, j] == 1, :, c] = x[c]
    Z = Z.reshape(-1, d)
    out = np.concatenate([np.asarray(predict(Z[s : s + 2**16]), dtype=np.float64).reshape(-1)
                          for s in range(0, len(Z), 2**16)])
    v = out.reshape(2**p, m).mean(axis=1)
    size = bits.sum(axis=1)
    phi = np.zeros(p)
    for j in range(p):
        without = masks[bits[:, j] == 0]
        s = size[without]
        w = np.array([math.factorial(k) * math.factorial(p - k - 1) for k in s]) \
            / math.factorial(p)
        phi[j] = (w * (v[without | (1 << j)] - v[without])).sum()
    return bg, phi


def _leaf_counts(est):
    """(leaves with value tables, leaves walked or computed densely) of a fitted TreeShapley."""
    patterns = est._values.patterns
    table = 0 if patterns is None else patterns.n_leaves
    return int(table), int(est.trees_.n_leaves - table)


def _accuracy_check(model, est_cls, ours, theirs, rows, bg, Xfit, *, dev, n_rows, n_columns,
                    log):
    """Brute force on a column subset at the rows of the largest |ours - shap| (section e)."""
    import shap

    gap = np.abs(ours - theirs)
    worst_rows = np.argsort(-gap.max(axis=1))[:n_rows]
    checks = []
    for r in worst_rows:
        j = int(np.argmax(gap[r]))
        ranked = [int(c) for c in np.argsort(-np.abs(ours[r])) if c != j]
        columns = np.sort(np.array([j, *ranked[: n_columns - 1]]))
        x = rows[r]
        t0 = time.perf_counter()
        sub_bg, brute = brute_force_subset(model.predict, x, bg, columns)
        brute_s = time.perf_counter() - t0
        est = est_cls(model, background=sub_bg, device=dev).fit(Xfit)
        ours_sub = _values_2d(est.explain(x[None]).values)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs_sub = np.asarray(
                shap.TreeExplainer(model, data=sub_bg, feature_perturbation="interventional")
                .shap_values(x[None], check_additivity=False), dtype=np.float64)[0]
        check = {
            "row": int(r),
            "columns": [int(c) for c in columns],
            "gap_on_full_game": float(gap[r].max()),
            "max_abs_shap_minus_brute": float(np.abs(theirs_sub[columns] - brute).max()),
            "max_abs_ours_minus_brute": float(np.abs(ours_sub[columns] - brute).max()),
            "ours_outside_subset_max_abs": float(np.abs(np.delete(ours_sub, columns)).max()),
            "shap_outside_subset_max_abs": float(np.abs(np.delete(theirs_sub, columns)).max()),
            "brute_force_seconds": brute_s,
        }
        checks.append(check)
        log(f"  brute force on row {r}, columns {check['columns']}: |shap - brute| "
            f"{check['max_abs_shap_minus_brute']:.1e}, |TreeShapley - brute| "
            f"{check['max_abs_ours_minus_brute']:.1e}")
    return {
        "rows_checked": len(checks),
        "columns_per_check": n_columns,
        "max_abs_shap_minus_brute": max(c["max_abs_shap_minus_brute"] for c in checks),
        "max_abs_ours_minus_brute": max(c["max_abs_ours_minus_brute"] for c in checks),
        "checks": checks,
    }


def _tree_model(name, model, description, data, *, dev, n_rows, shap_rows, repeats,
                accuracy_rows, subset_columns, log):
    """Section (a)-(c) and (e) for one model."""
    import shap

    from sklxai import TreeShapley

    Xfit, yfit, rows, bg = data
    _, train_s = _timed(lambda: model.fit(Xfit, yfit), "cpu")

    est, fit_s = _timed(lambda: TreeShapley(model, background=bg, device=dev).fit(Xfit), dev)
    trees = est.trees_
    table_leaves, other_leaves = _leaf_counts(est)
    log(f"{name}: trained in {train_s:.1f} s; {trees.n_leaves} leaves, depth {trees.depth}; "
        f"TreeShapley fit {fit_s:.2f} s")
    est.explain(rows[:2])  # warm-up, not timed
    exp, explain_s, times = _fastest(lambda: est.explain(rows[:n_rows]), dev, repeats)
    ours = _values_2d(exp.values)
    efficiency = float(np.abs(ours.sum(axis=1) + np.ravel(exp.base_values)
                              - model.predict(rows[:n_rows])).max())
    log(f"{name}: TreeShapley {n_rows} rows in {explain_s:.2f} s")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explainer, shap_init_s = _timed(
            lambda: shap.TreeExplainer(model, data=bg, feature_perturbation="interventional"),
            "cpu")
        explainer.shap_values(rows[:1], check_additivity=False)  # warm-up, not timed
        theirs, shap_s, shap_times = _fastest(
            lambda: explainer.shap_values(rows[:shap_rows], check_additivity=False), "cpu",
            repeats)
    theirs = np.asarray(theirs, dtype=np.float64)
    log(f"{name}: shap {shap_rows} rows in {shap_s:.2f} s")
    gap = np.abs(ours[:shap_rows] - theirs)
    ours_rps, shap_rps = n_rows / explain_s, shap_rows / shap_s
    entry = {
        "model": description,
        "train_seconds": train_s,
        "n_trees": int(trees.leaf_tree.max().item()) + 1,
        "n_leaves": int(trees.n_leaves),
        "depth": int(trees.depth),
        "leaves_with_value_tables": table_leaves,
        "leaves_without_tables": other_leaves,
        "treeshapley_fit_seconds": fit_s,
        "treeshapley_rows": int(n_rows),
        "treeshapley_explain_seconds": explain_s,
        "treeshapley_all_seconds": times,
        "treeshapley_rows_per_s": ours_rps,
        "treeshapley_efficiency_gap": efficiency,
        "shap_init_seconds": shap_init_s,
        "shap_rows": int(shap_rows),
        "shap_seconds": shap_s,
        "shap_all_seconds": shap_times,
        "shap_rows_per_s": shap_rps,
        "ratio": ours_rps / shap_rps,
        "max_abs_diff_to_shap": float(gap.max()),
        "max_abs_diff_base_value": float(abs(float(np.ravel(est.expected_value_)[0])
                                             - float(np.ravel(explainer.expected_value)[0]))),
        "accuracy": None,
    }
    if entry["max_abs_diff_to_shap"] > AGREEMENT_TOLERANCE and accuracy_rows > 0:
        entry["accuracy"] = _accuracy_check(
            model, TreeShapley, ours[:shap_rows], theirs, rows[:shap_rows], bg, Xfit, dev=dev,
            n_rows=accuracy_rows, n_columns=subset_columns, log=log)
    return entry


def _pipeline(*, dev, seed, n_train, n_background, n_rows, generic_rows, n_coalitions,
              repeats, log):
    """Section (d): KernelSHAP through the compiled trees against the generic path."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from benchmarks.pipeline_speed import adult_raw
    from sklxai import KernelSHAP
    from sklxai.models import SklearnAdapter

    if importlib.util.find_spec("sklxai.models.trees.adapter") is None:
        return {"skipped": "sklxai.models.trees.adapter does not exist in this checkout"}
    Xtr, Xte, ytr, yte, cat, num = adult_raw()
    Xtr, ytr = Xtr.iloc[:n_train], ytr[:n_train]
    pre = ColumnTransformer([
        ("num", StandardScaler(), num),
        ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat),
    ])
    pipe = Pipeline([("pre", pre),
                     ("hgb", HistGradientBoostingClassifier(random_state=seed))])
    _, train_s = _timed(lambda: pipe.fit(Xtr, ytr), "cpu")
    width = pipe[:-1].transform(Xtr.iloc[:5]).shape[1]
    accuracy = float((pipe.predict(Xte) == yte).mean())
    log(f"pipeline: trained in {train_s:.1f} s ({Xtr.shape[1]} raw columns -> {width} model "
        f"columns), test accuracy {accuracy:.4f}")
    rng = np.random.default_rng(seed)
    bg = Xtr.iloc[np.sort(rng.choice(len(Xtr), size=n_background, replace=False))]
    rows = Xte.iloc[:n_rows]
    generic_rows = min(generic_rows, n_rows)

    def make(fast, m=n_coalitions):
        return KernelSHAP(pipe, background=bg, n_coalitions=m, fast_path=fast, device=dev,
                          random_state=seed)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fast in ("auto", False):  # warm-up, not timed
            warm = make(fast, 64).fit(Xtr)
            warm.explain(rows.iloc[:1])
            # the fast path's final model: compiled trees (TreeAdapter) on CUDA, the model's
            # own compiled predict (SklearnAdapter on model-space rows) on the CPU
            if fast == "auto" and not warm.prepared_.fast_path:
                return {"skipped": "the Pipeline did not take the fast path"}
        _sync(dev)
        entries = {}
        for path, fast, X in (("fast path", "auto", rows),
                              ("generic", False, rows.iloc[:generic_rows])):
            parts = {}

            def once(fast=fast, X=X, parts=parts):
                explainer, fit_s = _timed(lambda: make(fast).fit(Xtr), dev)
                exp, explain_s = _timed(lambda: explainer.explain(X), dev)
                parts.setdefault("fit", []).append(fit_s)
                parts.setdefault("explain", []).append(explain_s)
                parts["explainer"] = explainer
                return exp

            exp, sec, times = _fastest(once, dev, repeats)
            best = int(np.argmin(times))
            adapter = parts["explainer"].prepared_.adapter
            if path == "generic" and not isinstance(adapter, SklearnAdapter):
                raise RuntimeError(f"fast_path=False gave a {type(adapter).__name__}, not the "
                                   "generic SklearnAdapter")
            n = len(X)
            entries[path] = {
                "exp": exp,
                "report": {
                    "fast_path_setting": fast,
                    "adapter": type(adapter).__name__,
                    "fast_path": bool(parts["explainer"].prepared_.fast_path),
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
            log(f"pipeline {path} ({type(adapter).__name__}): {n} rows in {sec:.2f} s "
                f"(fit {parts['fit'][best]:.2f} s)")
    fast_r, gen_r = entries["fast path"]["report"], entries["generic"]["report"]
    fast_exp, gen_exp = entries["fast path"]["exp"], entries["generic"]["exp"]
    eff = float(np.abs(fast_exp.values.sum(axis=1) + fast_exp.base_values
                       - pipe.predict_proba(rows)).max())
    return {
        "pipeline": f"ColumnTransformer(num: StandardScaler, cat: OneHotEncoder("
                    f"handle_unknown='ignore')) -> HistGradientBoostingClassifier(random_state="
                    f"{seed}), {len(Xtr)} raw training rows",
        "raw_columns": list(rows.columns),
        "model_columns": int(width),
        "model_test_accuracy": accuracy,
        "train_seconds": train_s,
        "method": f"KernelSHAP(n_coalitions={n_coalitions})",
        "background": int(n_background),
        "paths": {"fast path": fast_r, "generic": gen_r},
        "speedup": gen_r["ms_per_row"] / fast_r["ms_per_row"],
        "speedup_explain_only": gen_r["explain_ms_per_row"] / fast_r["explain_ms_per_row"],
        "rows_compared": int(generic_rows),
        "max_abs_diff": float(np.abs(fast_exp.values[:generic_rows] - gen_exp.values).max()),
        "compiled_max_efficiency_gap": eff,
    }


def run(*, device="auto", n_train=20000, n_background=100, rows=None, shap_rows=None,
        models=tuple(MODELS), pipeline=True, pipeline_rows=None, pipeline_generic_rows=5,
        pipeline_coalitions=2048, pipeline_background=50, accuracy_rows=1, subset_columns=10,
        seed=0, repeats=3, threads=None, quick=False, log=print):
    """Run the benchmark and return the report as a dict (see the module docstring)."""
    import torch

    from sklxai import TreeShapley
    from sklxai.demo import adult_features
    from sklxai.utils.validation import resolve_device

    t_start = time.perf_counter()
    load_before = _loadavg()
    dev = str(resolve_device(device))
    on_gpu = dev.startswith("cuda")
    if threads is None:  # shap runs on one core: on a CPU, so does TreeShapley by default
        threads = 0 if on_gpu else 1
    if threads > 0:
        torch.set_num_threads(threads)
    np.random.seed(seed)
    torch.manual_seed(seed)

    Xtr, Xte, ytr, _, names = adult_features()
    Xtr, Xte = Xtr.astype(np.float64), Xte.astype(np.float64)
    n_train = min(n_train, len(Xtr))
    Xfit, yfit = Xtr[:n_train], ytr[:n_train].astype(np.float64)
    rng = np.random.default_rng(seed)
    bg = Xtr[np.sort(rng.choice(len(Xtr), size=n_background, replace=False))]

    # warm-up (CUDA context, kernels, first-call imports) on a small model - not timed
    small = _make_model("gbdt", 5, 3, seed)[0].fit(Xfit[:500], yfit[:500])
    TreeShapley(small, background=bg, device=dev).fit(Xfit).explain(Xte[:4])
    _sync(dev)

    results = {}
    for name in models:
        n_trees, depth, cpu_rows, gpu_rows = MODELS[name]
        if quick and name == "forest":
            n_trees = QUICK_FOREST_TREES
        model, description = _make_model(name, n_trees, depth, seed)
        n = rows or (QUICK_ROWS[name] if quick else gpu_rows if on_gpu else cpu_rows)
        n = min(n, len(Xte))
        s = min(shap_rows or (QUICK_ROWS[name] if quick else cpu_rows), n)
        results[name] = _tree_model(name, model, description, (Xfit, yfit, Xte[:n], bg),
                                    dev=dev, n_rows=n, shap_rows=s, repeats=repeats,
                                    accuracy_rows=accuracy_rows, subset_columns=subset_columns,
                                    log=log)

    pipe_report = None
    if pipeline:
        if pipeline_rows is None:  # the compiled trees cost rows x leaves x depth per call
            pipeline_rows = 3 if quick else 500 if on_gpu else 50
        pipe_report = _pipeline(dev=dev, seed=seed, n_train=n_train,
                                n_background=pipeline_background, n_rows=pipeline_rows,
                                generic_rows=pipeline_generic_rows,
                                n_coalitions=pipeline_coalitions, repeats=repeats, log=log)

    target_ratio = GPU_TARGET_RATIO if on_gpu else CPU_TARGET_RATIO
    targets = {}
    for name, r in results.items():
        targets[f"ratio {name}"] = {
            "target": f"{name}: TreeShapley explain rows/s >= {target_ratio:g}x shap's "
                      f"({'GPU' if on_gpu else 'CPU'})",
            "measured": r["ratio"],
            "met": bool(r["ratio"] >= target_ratio),
        }
        acc = r["accuracy"]
        exact = (r["max_abs_diff_to_shap"] <= AGREEMENT_TOLERANCE if acc is None
                 else acc["max_abs_ours_minus_brute"] <= EXACT_TOLERANCE)
        targets[f"exact {name}"] = {
            "target": f"{name}: TreeShapley within {AGREEMENT_TOLERANCE:g} of shap, or within "
                      f"{EXACT_TOLERANCE:g} of brute force where they differ",
            "measured": (r["max_abs_diff_to_shap"] if acc is None
                         else acc["max_abs_ours_minus_brute"]),
            "met": bool(exact),
        }
    if pipe_report is not None and "skipped" not in pipe_report:
        targets["pipeline speedup"] = {
            "target": f"KernelSHAP on a tree Pipeline: the fast path (the tree game; compiled "
                      f"trees on CUDA) >= {PIPELINE_TARGET_SPEEDUP:g}x faster than the generic "
                      "path, explain ms/row (fit reported apart)",
            "measured": pipe_report["speedup_explain_only"],
            "met": bool(pipe_report["speedup_explain_only"] >= PIPELINE_TARGET_SPEEDUP),
        }
    return {
        "benchmark": "tree_speed",
        "machine": {**_machine(dev), "loadavg_before": load_before,
                    "loadavg_after": _loadavg()},
        "settings": {
            "dataset": "adult (sklxai.demo.adult_features: 12 numeric features, standardised; "
                       "label >50K as a 0/1 regression target)",
            "features": names,
            "train_rows": int(n_train),
            "background": int(n_background),
            "background_rows": f"{n_background} training rows drawn with numpy "
                               "default_rng(seed), the same array for TreeShapley and shap",
            "explained_rows": "the first rows of the Adult test split (per model: "
                              "treeshapley_rows; shap the first shap_rows of them)",
            "timing": "explain (TreeShapley) and shap_values(check_additivity=False) alone, "
                      "after an untimed warm-up, fastest of `repeats` (fewer once the runs "
                      f"took {REPEAT_BUDGET_S:g} s); TreeShapley fit and "
                      "shap's TreeExplainer construction reported apart; cuda synchronised",
            "ratio": "TreeShapley explain rows/s over shap rows/s",
            "device": dev,
            "seed": seed,
            "repeats": repeats,
            "quick": quick,
            "torch_threads": torch.get_num_threads(),
            "accuracy_rows": accuracy_rows,
            "subset_columns": subset_columns,
        },
        "models": results,
        "pipeline": pipe_report,
        "targets": targets,
        "total_seconds": time.perf_counter() - t_start,
    }


def markdown_table(report):
    """The report as compact markdown tables (plus the target lines)."""
    s, mach = report["settings"], report["machine"]
    lines = [
        (f"Adult (12 numeric features, {s['train_rows']} training rows), background "
         f"{s['background']}, device {s['device']} ({mach['device_name']}), "
         f"{s['torch_threads']} torch thread(s), shap {mach.get('shap', '?')}, load average "
         f"before/after {_fmt_load(mach['loadavg_before'])}/{_fmt_load(mach['loadavg_after'])}"),
        "",
        ("| model | leaves | depth | TreeShapley fit s | TreeShapley rows/s | shap rows/s "
         "| ratio | max abs diff to shap |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in report["models"].items():
        lines.append(
            f"| {name}: {r['model']} | {r['n_leaves']:,} | {r['depth']} "
            f"| {r['treeshapley_fit_seconds']:.2f} | {r['treeshapley_rows_per_s']:,.1f} "
            f"| {r['shap_rows_per_s']:,.1f} | {r['ratio']:.2f}x "
            f"| {r['max_abs_diff_to_shap']:.1e} |")
    checked = {n: r["accuracy"] for n, r in report["models"].items() if r["accuracy"]}
    if checked:
        lines += ["", ("Where shap and TreeShapley differ: brute force on "
                  f"{s['subset_columns']} columns decides"), "",
                  "| model | rows checked | max abs(shap - brute) | max abs(TreeShapley - brute) |",
                  "|---|---:|---:|---:|"]
        for name, a in checked.items():
            lines.append(f"| {name} | {a['rows_checked']} | {a['max_abs_shap_minus_brute']:.1e} "
                         f"| {a['max_abs_ours_minus_brute']:.1e} |")
    p = report["pipeline"]
    if p is not None:
        lines.append("")
        if "skipped" in p:
            lines.append(f"Pipeline (fast path): skipped, {p['skipped']}")
        else:
            lines += [
                (f"{p['method']} on a raw-column Pipeline ({len(p['raw_columns'])} raw columns "
                f"-> {p['model_columns']} model columns, HistGradientBoostingClassifier), "
                f"background {p['background']}"),
                "",
                "| path | adapter | rows | fit s | explain s | ms/row | rows/s |",
                "|---|---|---:|---:|---:|---:|---:|",
            ]
            for path, e in p["paths"].items():
                lines.append(f"| {path} | {e['adapter']} | {e['rows']} | {e['fit_seconds']:.2f} "
                             f"| {e['explain_seconds']:.2f} | {e['ms_per_row']:.1f} "
                             f"| {e['rows_per_s']:.2f} |")
            lines += ["", (f"speed-up, explain only {p['speedup_explain_only']:.1f}x (fit + "
                      f"explain {p['speedup']:.1f}x), max abs(fast - generic) "
                      f"{p['max_abs_diff']:.1e} over {p['rows_compared']} rows")]
    lines.append("")
    for key, t in report["targets"].items():
        measured = (f"{t['measured']:.1e}" if key.startswith("exact")
                    else f"{t['measured']:.2f}x")
        lines.append(f"Target {t['target']}: measured {measured} -> "
                     f"{'met' if t['met'] else 'NOT met'}")
    return "\n".join(lines)


#: (f) sizes: rows explained x background rows x features (the XGBoost model has d features)
WOODELF_SIZES = ((1000, 100, 10), (1000, 200, 20), (2000, 100, 30), (5000, 1000, 10),
                 (10000, 2000, 30), (20000, 10000, 30))
#: (f) background sweep: TreeShapley's explain per row at these backgrounds (d = 30 model)
SWEEP_BACKGROUNDS = (100, 1000, 10000)
#: (f) targets: TreeShapley fit + explain at least WOODELF's speed at one thread; explain per
#: row within this share of its value at the smallest background; exact to EXACT_RECURSION
WOODELF_TARGET_RATIO = 1.0
SWEEP_TOLERANCE = 0.20
EXACT_RECURSION = 1e-12
#: (f) the model: XGBRegressor(n_estimators, max_depth) on this many synthetic training rows
SIZE_TREES, SIZE_DEPTH, SIZE_TRAIN_ROWS = 100, 6, 10000


def _xgboost_model(d, seed):
    """(XGBRegressor(100 trees, depth 6) fitted on synthetic rows of d features, a pool of
    further rows from the same distribution to explain and draw backgrounds from)."""
    import xgboost

    rng = np.random.default_rng(seed + d)
    X = rng.normal(size=(SIZE_TRAIN_ROWS + 30000, d))
    w = rng.normal(size=d)
    y = np.sin(X) @ w + X[:, 0] * X[:, 1] - (X[:, 2] > 0.5) + 0.1 * rng.normal(size=len(X))
    model = xgboost.XGBRegressor(n_estimators=SIZE_TREES, max_depth=SIZE_DEPTH, n_jobs=2,
                                 random_state=seed)
    model.fit(X[:SIZE_TRAIN_ROWS], y[:SIZE_TRAIN_ROWS])
    return model, X[SIZE_TRAIN_ROWS:]


def _booster_trees(model):
    """The booster's own saved model (its JSON) as one dict per tree: node id -> (feature
    index, split, left, right, where a missing value goes) for splits, or the leaf value;
    numbers as the booster's float32."""
    import json

    saved = json.loads(model.get_booster().save_raw(raw_format="json"))
    trees = []
    for t in saved["learner"]["gradient_booster"]["model"]["trees"]:
        left, right = t["left_children"], t["right_children"]
        value = np.asarray(t["split_conditions"], dtype=np.float32).astype(np.float64)
        trees.append({
            i: float(value[i]) if left[i] < 0 else
            (int(t["split_indices"][i]), float(value[i]), left[i], right[i],
             left[i] if t["default_left"][i] else right[i])
            for i in range(len(left))})
    return trees


def interventional_recursion(trees, x, background):
    """Interventional Shapley values of one row against a background, by the textbook
    recursion on the booster's saved trees (independent of sklxai): per tree, walk the hybrids of x
    and every background row b together; where they part at a feature j not yet decided, it is
    either x's (j must be in S: follow x) or b's (j must not be: follow b). A leaf reached with
    x's features A and b's features B by a share w of the background adds
    w * value * (|A|-1)! |B|! / (|A|+|B|)! to each of A and subtracts
    w * value * |A|! (|B|-1)! / (|A|+|B|)! from each of B."""
    m, phi = len(background), np.zeros(len(x))
    fact = [math.factorial(i) for i in range(2 * SIZE_DEPTH + 2)]

    def side(node, values):  # the child a value goes to (XGBoost: left when value < split,
        _, split, left, right, missing = node  # in float32)
        values = values.astype(np.float32)
        return np.where(np.isnan(values), missing, np.where(values < split, left, right))

    def walk(tree, node_id, A, B, rows):
        node = tree[node_id]
        if not isinstance(node, tuple):  # a leaf
            a, b = len(A), len(B)
            if a + b:
                w = node * len(rows) / m / fact[a + b]
                for i in A:
                    phi[i] += w * fact[a - 1] * fact[b]
                for i in B:
                    phi[i] -= w * fact[a] * fact[b - 1]
            return
        j = node[0]
        x_child = int(side(node, np.array([x[j]]))[0])
        b_child = side(node, background[rows, j])
        if j in A or not len(rows):
            return walk(tree, x_child, A, B, rows) if len(rows) else None
        if j in B:
            for child in np.unique(b_child):
                walk(tree, int(child), A, B, rows[b_child == child])
            return None
        same = b_child == x_child
        if same.any():
            walk(tree, x_child, A, B, rows[same])
        if (~same).any():
            walk(tree, x_child, A | {j}, B, rows[~same])
            for child in np.unique(b_child[~same]):
                walk(tree, int(child), A, B | {j}, rows[~same][b_child[~same] == child])
        return None

    for tree in trees:
        walk(tree, 0, frozenset(), frozenset(), np.arange(m))
    return phi


def _woodelf_values(model, rows, bg, gpu):
    """WOODELF's values: its explainer built on the background, then shap_values (timed
    together: it has no separate fit)."""
    import pandas as pd
    from woodelf import WoodelfExplainer

    cols = [f"f{i}" for i in range(rows.shape[1])]
    explainer = WoodelfExplainer(model, pd.DataFrame(bg, columns=cols), GPU=gpu)
    values = explainer.shap_values(pd.DataFrame(rows, columns=cols), verbose=False)
    return np.asarray(values, dtype=np.float64)


def _size_entry(model, pool, n, m, d, *, dev, threads, check_rows, woodelf_gpu, log):
    """One row of section (f): TreeShapley fit and explain apart, WOODELF, exactness."""
    from sklxai import TreeShapley

    rows, bg = pool[:n], pool[-m:]
    est, fit_s = _timed(lambda: TreeShapley(model, background=bg, device=dev,
                                            verbose=False).fit(bg), dev)
    exp, explain_s = _timed(lambda: est.explain(rows), dev)
    ours = _values_2d(exp.values)
    theirs, woodelf_s = _timed(lambda: _woodelf_values(model, rows, bg, woodelf_gpu), "cpu")
    trees = _booster_trees(model)
    t0 = time.perf_counter()
    reference = np.stack([interventional_recursion(trees, x, bg) for x in rows[:check_rows]])
    recursion_s = time.perf_counter() - t0
    entry = {
        "rows": n, "background": m, "features": d, "threads": threads,
        "treeshapley_fit_seconds": fit_s,
        "treeshapley_explain_seconds": explain_s,
        "treeshapley_seconds": fit_s + explain_s,
        "treeshapley_explain_us_per_row": 1e6 * explain_s / n,
        "woodelf_seconds": woodelf_s,
        "ratio": woodelf_s / (fit_s + explain_s),
        "rows_checked": int(check_rows),
        "max_abs_diff_to_recursion": float(np.abs(ours[:check_rows] - reference).max()),
        "recursion_seconds": recursion_s,
        "max_abs_diff_to_woodelf": float(np.abs(ours - theirs).max()),
        "max_abs_value": float(np.abs(ours).max()),
    }
    log(f"{n:,} x {m:,}, d={d}, {threads} thread(s): TreeShapley fit {fit_s:.2f} s + explain "
        f"{explain_s:.2f} s, WOODELF {woodelf_s:.2f} s ({entry['ratio']:.2f}x); |ours - "
        f"recursion| {entry['max_abs_diff_to_recursion']:.1e}, |ours - WOODELF| "
        f"{entry['max_abs_diff_to_woodelf']:.1e}")
    return entry


def run_sizes(*, device="cpu", sizes=WOODELF_SIZES, thread_counts=(1, 2),
              sweep_backgrounds=SWEEP_BACKGROUNDS, sweep_rows=5000, check_rows=2,
              woodelf_gpu=False, seed=0, log=print):
    """Section (f): the report as a dict (see the module docstring)."""
    import importlib.metadata

    import torch
    from threadpoolctl import threadpool_limits

    from sklxai import TreeShapley
    from sklxai.utils.validation import resolve_device

    t_start = time.perf_counter()
    load_before = _loadavg()
    dev = str(resolve_device(device))
    models = {d: _xgboost_model(d, seed) for d in sorted({d for _, _, d in sizes} | {30})}
    entries, sweep = [], []
    for threads in thread_counts:
        torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            warm_model, warm_pool = models[min(models)]  # warm-up (imports, caches): untimed
            TreeShapley(warm_model, background=warm_pool[-50:], device=dev).fit(
                warm_pool[-50:]).explain(warm_pool[:20])
            _woodelf_values(warm_model, warm_pool[:20], warm_pool[-50:], woodelf_gpu)
            for n, m, d in sizes:
                model, pool = models[d]
                entries.append(_size_entry(model, pool, n, m, d, dev=dev, threads=threads,
                                           check_rows=check_rows, woodelf_gpu=woodelf_gpu,
                                           log=log))
            model, pool = models[30]
            for m in sweep_backgrounds:
                bg = pool[-m:]
                est, fit_s = _timed(lambda bg=bg, model=model: TreeShapley(
                    model, background=bg, device=dev, verbose=False).fit(bg), dev)
                _, explain_s, _ = _fastest(lambda est=est, pool=pool: est.explain(
                    pool[:sweep_rows]), dev, repeats=2)
                sweep.append({"threads": threads, "rows": sweep_rows, "background": m,
                              "fit_seconds": fit_s, "explain_seconds": explain_s,
                              "explain_us_per_row": 1e6 * explain_s / sweep_rows})
                log(f"sweep {sweep_rows:,} rows x {m:,} background, {threads} thread(s): fit "
                    f"{fit_s:.2f} s, explain {1e6 * explain_s / sweep_rows:.1f} us/row")
    targets = {}
    one = [e for e in entries if e["threads"] == 1]
    if one:
        worst = min(e["ratio"] for e in one)
        targets["woodelf speed"] = {
            "target": "TreeShapley fit + explain at least WOODELF's speed on every size, one "
                      "thread (WOODELF seconds over TreeShapley's >= "
                      f"{WOODELF_TARGET_RATIO:g})",
            "measured": worst, "met": bool(worst >= WOODELF_TARGET_RATIO)}
    for threads in thread_counts:
        per_row = [s["explain_us_per_row"] for s in sweep if s["threads"] == threads]
        if per_row:
            spread = max(abs(v / per_row[0] - 1) for v in per_row)
            targets[f"explain per row, {threads} thread(s)"] = {
                "target": f"TreeShapley explain time per row within {SWEEP_TOLERANCE:.0%} of "
                          f"its value at {sweep_backgrounds[0]} background rows, up to "
                          f"{sweep_backgrounds[-1]:,} ({threads} thread(s))",
                "measured": spread, "met": bool(spread <= SWEEP_TOLERANCE)}
    worst_exact = max(e["max_abs_diff_to_recursion"] for e in entries)
    targets["exact"] = {
        "target": f"TreeShapley within {EXACT_RECURSION:g} of the independent recursion on "
                  "the rows checked, every size",
        "measured": worst_exact, "met": bool(worst_exact <= EXACT_RECURSION)}
    return {
        "benchmark": "tree_speed --woodelf-sizes",
        "machine": {**_machine(dev), "loadavg_before": load_before,
                    "loadavg_after": _loadavg(),
                    "woodelf": importlib.metadata.version("woodelf-explainer"),
                    "xgboost": importlib.metadata.version("xgboost")},
        "settings": {
            "model": f"XGBRegressor(n_estimators={SIZE_TREES}, max_depth={SIZE_DEPTH}) on "
                     f"{SIZE_TRAIN_ROWS:,} synthetic rows of d standard normal features, "
                     "y = sin(X) @ w + x0 x1 - 1[x2 > 0.5] + noise",
            "rows_and_background": "explained rows: the first rows of a held-out pool; "
                                   "background: its last rows (disjoint)",
            "timing": "one run each after an untimed warm-up (the sweep's explain: fastest "
                      "of two); TreeShapley fit and explain apart; WOODELF: "
                      "WoodelfExplainer(model, background) + shap_values",
            "device": dev, "woodelf_gpu": woodelf_gpu, "threads": list(thread_counts),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "check_rows": check_rows, "seed": seed,
        },
        "sizes": entries, "sweep": sweep, "targets": targets,
        "total_seconds": time.perf_counter() - t_start,
    }


def sizes_markdown(report):
    """Section (f)'s report as markdown tables (plus the target lines)."""
    mach = report["machine"]
    lines = [
        (f"{report['settings']['model']}; device {report['settings']['device']} "
         f"({mach['device_name']}), WOODELF {mach['woodelf']}, load average before/after "
         f"{_fmt_load(mach['loadavg_before'])}/{_fmt_load(mach['loadavg_after'])}"),
        "",
        ("| rows x background | d | threads | TreeShapley fit s | explain s | explain us/row "
         "| WOODELF s | speed vs WOODELF | max abs(ours - recursion) | max abs(ours - WOODELF) |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in report["sizes"]:
        lines.append(
            f"| {e['rows']:,} x {e['background']:,} | {e['features']} | {e['threads']} "
            f"| {e['treeshapley_fit_seconds']:.2f} | {e['treeshapley_explain_seconds']:.2f} "
            f"| {e['treeshapley_explain_us_per_row']:.0f} | {e['woodelf_seconds']:.2f} "
            f"| {e['ratio']:.2f}x | {e['max_abs_diff_to_recursion']:.1e} "
            f"| {e['max_abs_diff_to_woodelf']:.1e} |")
    lines += ["", "| background (d = 30) | rows | threads | fit s | explain us/row |",
              "|---:|---:|---:|---:|---:|"]
    for s in report["sweep"]:
        lines.append(f"| {s['background']:,} | {s['rows']:,} | {s['threads']} "
                     f"| {s['fit_seconds']:.2f} | {s['explain_us_per_row']:.0f} |")
    lines.append("")
    for key, t in report["targets"].items():
        measured = (f"{t['measured']:.1e}" if key == "exact" else f"{t['measured']:.2f}x"
                    if key == "woodelf speed" else f"{t['measured']:.0%}")
        lines.append(f"Target {t['target']}: measured {measured} -> "
                     f"{'met' if t['met'] else 'NOT met'}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tree_speed",
        description="TreeShapley against shap's interventional TreeExplainer on Adult tree "
        "ensembles (speed, fit time, agreement; brute force decides where they differ), and "
        "KernelSHAP through compiled trees against the generic path on a tree Pipeline.",
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--out", default="results/tree_speed.json",
                        help="where to write the JSON report")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of about a minute: 5000 training rows, few rows")
    parser.add_argument("--train-rows", type=int, default=None,
                        help="training rows of the models (default 20000; --quick 5000)")
    parser.add_argument("--background", type=int, default=100, help="background rows")
    parser.add_argument("--rows", type=int, default=None,
                        help="rows TreeShapley explains, every model (default per model: "
                        "500 / 100 / 10 on a CPU, 20000 / 5000 / 500 on a GPU)")
    parser.add_argument("--shap-rows", type=int, default=None,
                        help="rows shap explains, the first of --rows (default: the CPU rows)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--no-pipeline", action="store_true",
                        help="skip section (d), KernelSHAP through compiled trees")
    parser.add_argument("--pipeline-rows", type=int, default=None,
                        help="raw rows explained through the compiled trees (default 10 on a "
                        "CPU, 500 on a GPU, 3 with --quick)")
    parser.add_argument("--pipeline-generic-rows", type=int, default=None,
                        help="raw rows explained by the generic path (default 5)")
    parser.add_argument("--coalitions", type=int, default=2048,
                        help="KernelSHAP's n_coalitions in section (d)")
    parser.add_argument("--pipeline-background", type=int, default=50,
                        help="background rows (raw) of section (d)")
    parser.add_argument("--accuracy-rows", type=int, default=1,
                        help="rows brute-forced per model where shap and TreeShapley differ "
                        "(0: none)")
    parser.add_argument("--subset-columns", type=int, default=10,
                        help="players of the brute-force check (2**this coalitions)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3,
                        help="time every call up to this many times (fewer once the runs took "
                        f"{REPEAT_BUDGET_S:g} s) and keep the fastest")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (0: torch's default; default 1 on a CPU, like "
                        "shap's single-threaded TreeExplainer, and steady on a shared machine; "
                        "torch's default on a GPU machine)")
    parser.add_argument("--woodelf-sizes", action="store_true",
                        help="run section (f) only: TreeShapley against WOODELF on XGBoost, "
                        "rows x background sizes, one and two threads")
    parser.add_argument("--sizes", default=",".join(f"{n}x{m}x{d}" for n, m, d in WOODELF_SIZES),
                        help="section (f): comma-separated rows x background x features")
    parser.add_argument("--size-threads", default="1,2",
                        help="section (f): thread counts (comma-separated)")
    parser.add_argument("--sweep-rows", type=int, default=5000,
                        help="section (f): rows of the background sweep")
    parser.add_argument("--sweep-backgrounds",
                        default=",".join(str(m) for m in SWEEP_BACKGROUNDS),
                        help="section (f): backgrounds of the sweep (comma-separated)")
    parser.add_argument("--check-rows", type=int, default=2,
                        help="section (f): rows per size checked against the recursion")
    parser.add_argument("--woodelf-gpu", action="store_true",
                        help="section (f): WOODELF on the GPU (needs CuPy)")
    args = parser.parse_args(argv)
    if args.woodelf_sizes:
        report = run_sizes(
            device=args.device,
            sizes=[tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")],
            thread_counts=[int(t) for t in args.size_threads.split(",")],
            sweep_backgrounds=[int(m) for m in args.sweep_backgrounds.split(",")],
            sweep_rows=args.sweep_rows, check_rows=args.check_rows,
            woodelf_gpu=args.woodelf_gpu, seed=args.seed,
            log=lambda msg: print(msg, file=sys.stderr, flush=True))
        _write_json(report, args.out)
        print(sizes_markdown(report))
        print(f"\n(total {report['total_seconds']:.0f} s; report written to {args.out})")
        return 0
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    q = args.quick
    report = run(
        device=args.device,
        n_train=args.train_rows or (5000 if q else 20000),
        n_background=args.background, rows=args.rows, shap_rows=args.shap_rows,
        models=models, pipeline=not args.no_pipeline,
        pipeline_rows=args.pipeline_rows,
        pipeline_generic_rows=args.pipeline_generic_rows or (2 if q else 5),
        pipeline_coalitions=args.coalitions, pipeline_background=args.pipeline_background,
        accuracy_rows=args.accuracy_rows, subset_columns=args.subset_columns, seed=args.seed,
        repeats=args.repeats, threads=args.threads, quick=q, log=log,
    )
    _write_json(report, args.out)
    print(markdown_table(report))
    print(f"\n(total {report['total_seconds']:.0f} s; report written to {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
