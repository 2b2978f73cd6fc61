"""Exact interaction indices: ExactInteractions against shapiq's ExactComputer, rows per second.

Set-up: a float64 torch MLP (d-32-32-1, tanh) on ``--features`` (10) standard normal columns,
a background of ``--background`` (20) rows, the same for both. For every index in
``--indices`` (default k-SII, SII, STII, FSII, BII) at order ``--order`` (2):

- ``ExactInteractions``: ``fit`` + ``explain`` of ``--rows`` (200) rows (all 2**d coalitions of
  each, the model called on the masked background rows, then the index);
- ``shapiq ExactComputer``: per row, a ``shapiq.Game`` of the same marginal game (its value
  function calls the same model on the same masked background rows, all coalitions in one
  batch), then ``ExactComputer(game, n_players=d)(index, order)``; ``--shapiq-rows`` (20) rows;
- ``shapiq ExactComputer (index only)``: the same, given the coalition values (a table
  look-up), so only the index computation is timed;
- ``interaction_values (index only)``: sklxai's index computation on the same tables, all
  ``--rows`` rows in one batch.

Both sides are checked to agree (max absolute difference of every term, reported). The JSON
report holds the machine, the settings, per method and index ``seconds``, ``rows`` and
``rows_per_s``, the speed-up of ExactInteractions over shapiq (game and index), and of
``interaction_values`` over shapiq's index computation alone.

    python -m benchmarks.interactions --device cpu --threads 1 --out results/interactions.json

``--any-model``: the sampling section instead. KernelInteractions against shapiq's
approximators of the same index (:data:`SHAPIQ_APPROXIMATORS`, each with paired sampling) at
``--budgets`` coalitions (512 2048 8192), on a float64 MLP and a boosted-tree regressor with
``--sizes`` features (12 16), ``--rows`` rows and ``--background`` background rows: the
relative error of the pair terms against ExactInteractions and seconds per row of each.

    nice -n 5 python -m benchmarks.interactions --any-model --threads 1 --rows 10 \
        --background 10 --indices k-SII FSII --out results/interactions_any_model.json
"""

import argparse
import sys
import warnings
from importlib.metadata import version

import numpy as np

from benchmarks.kernel_speed import _fmt_load, _loadavg, _machine, _timed, _write_json

INDICES = ("k-SII", "SII", "STII", "FSII", "BII")


def _model(d, seed):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32),
                               torch.nn.Tanh(), torch.nn.Linear(32, 1)).double()


def _marginal_game(model, x, background, device):
    """v(S) for (m, d) bool coalitions: the model's mean over the background with S from x."""
    import torch

    bg = torch.as_tensor(background, device=device)
    xt = torch.as_tensor(x, device=device)

    def value(coalitions):
        masks = torch.as_tensor(np.asarray(coalitions, dtype=bool), device=device)
        rows = torch.where(masks[:, None, :], xt, bg[None])  # (m, b, d)
        with torch.no_grad():
            out = model(rows.reshape(-1, rows.shape[-1])).reshape(len(masks), -1)
        return out.mean(dim=1).cpu().numpy()

    return value


def _shapiq_terms(iv, sets):
    return np.array([iv[s] for s in sets])


def run(*, device="cpu", d=10, n_background=20, n_rows=200, shapiq_rows=20, order=2,
        indices=INDICES, seed=0):
    import shapiq
    import torch

    from sklxai import ExactInteractions
    from sklxai.explainers.interaction_indices import interaction_sets, interaction_values

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows + 100, d))
    background, rows = X[:n_background], X[100:100 + n_rows]
    model = _model(d, seed).to(device)
    sets = interaction_sets(d, order)
    masks = ((np.arange(2**d)[:, None] >> np.arange(d)) & 1).astype(bool)
    games = [_marginal_game(model, x, background, device) for x in rows]
    tables = np.stack([g(masks) for g in games])  # (n, 2**d): every row's coalition values
    centered = torch.as_tensor(tables - tables[:, :1], device=device)[:, :, None]
    # untimed warm-up: the first model calls and torch kernels of the process
    ExactInteractions(model, background=background, device=device, verbose=False).fit(
        X).explain(rows[:2])
    load_before = _loadavg()
    report = {"machine": _machine(device), "shapiq": version("shapiq"),
              "settings": {"features": d, "background": n_background, "rows": n_rows,
                           "shapiq_rows": shapiq_rows, "order": order, "seed": seed},
              "results": []}
    for index in indices:
        est = ExactInteractions(model, index=index, max_order=order, background=background,
                                device=device, verbose=False)
        exp, sec = _timed(lambda est=est: est.fit(X).explain(rows), device)
        ours = np.stack([exp.terms()[s] for s in sets], axis=1)  # (n, m)

        def with_game(index=index):
            return [shapiq.ExactComputer(g, n_players=d)(index=index, order=order)
                    for g in games[:shapiq_rows]]

        theirs, sec_game = _timed(with_game, device)

        def index_only(index=index):
            def lookup(table):
                return lambda c: table[np.asarray(c, dtype=np.int64) @ (1 << np.arange(d))]
            return [shapiq.ExactComputer(lookup(t), n_players=d)(index=index, order=order)
                    for t in tables[:shapiq_rows]]

        theirs_only, sec_index = _timed(index_only, device)
        batch, sec_batch = _timed(lambda index=index: interaction_values(centered, index, order),
                                  device)
        batch = batch[:, :, 0].cpu().numpy()
        diff = max(float(np.abs(_shapiq_terms(iv, sets) - ours[r]).max())
                   for r, iv in enumerate(theirs))
        diff_only = max(float(np.abs(_shapiq_terms(iv, sets) - batch[r]).max())
                        for r, iv in enumerate(theirs_only))
        entry = {"index": index,
                 "exact_interactions": {"seconds": sec, "rows": n_rows,
                                        "rows_per_s": n_rows / sec},
                 "shapiq": {"seconds": sec_game, "rows": shapiq_rows,
                            "rows_per_s": shapiq_rows / sec_game, "max_abs_diff": diff},
                 "shapiq_index_only": {"seconds": sec_index, "rows": shapiq_rows,
                                       "rows_per_s": shapiq_rows / sec_index,
                                       "max_abs_diff": diff_only},
                 "interaction_values_index_only": {"seconds": sec_batch, "rows": n_rows,
                                                   "rows_per_s": n_rows / sec_batch}}
        entry["speedup_vs_shapiq"] = (entry["exact_interactions"]["rows_per_s"]
                                      / entry["shapiq"]["rows_per_s"])
        entry["speedup_index_only"] = (entry["interaction_values_index_only"]["rows_per_s"]
                                       / entry["shapiq_index_only"]["rows_per_s"])
        report["results"].append(entry)
        print(f"{index}: {entry['exact_interactions']['rows_per_s']:.1f} rows/s, shapiq "
              f"{entry['shapiq']['rows_per_s']:.2f} (index only "
              f"{entry['shapiq_index_only']['rows_per_s']:.2f}, ours "
              f"{entry['interaction_values_index_only']['rows_per_s']:.0f}), diff "
              f"{max(diff, diff_only):.1e}",
              file=sys.stderr)
    report["load_average"] = {"before": load_before, "after": _loadavg()}
    return report


def markdown_table(report):
    s = report["settings"]
    m = report["machine"]
    lines = [f"d = {s['features']}, order {s['order']}, {s['background']} background rows, "
             f"{m['device_name']} ({m['cpu_count']} CPUs, {m['torch_threads']} torch threads, "
             f"load "
             f"{_fmt_load(report['load_average']['before'])} before, "
             f"{_fmt_load(report['load_average']['after'])} after), shapiq {report['shapiq']}",
             "",
             "| index | ExactInteractions rows/s | shapiq ExactComputer rows/s | speed-up | "
             "index only: interaction_values rows/s | shapiq rows/s | speed-up | "
             "max abs difference |",
             "|---|---|---|---|---|---|---|---|"]
    for e in report["results"]:
        lines.append(
            f"| {e['index']} | {e['exact_interactions']['rows_per_s']:.1f} | "
            f"{e['shapiq']['rows_per_s']:.2f} | {e['speedup_vs_shapiq']:.1f}x | "
            f"{e['interaction_values_index_only']['rows_per_s']:.0f} | "
            f"{e['shapiq_index_only']['rows_per_s']:.2f} | {e['speedup_index_only']:.0f}x | "
            f"{max(e['shapiq']['max_abs_diff'], e['shapiq_index_only']['max_abs_diff']):.1e} |")
    return "\n".join(lines)


# ------------------------------------------------------------------ any model: sampling
#: shapiq 1.4.1's approximators of each index, tried at every budget (the best is reported)
SHAPIQ_APPROXIMATORS = {
    "k-SII": ("KernelSHAPIQ", "InconsistentKernelSHAPIQ", "SVARMIQ"),
    "SII": ("KernelSHAPIQ", "InconsistentKernelSHAPIQ", "SVARMIQ"),
    "STII": ("SVARMIQ", "PermutationSamplingSTII"),
    "FSII": ("RegressionFSII",),
}


def _gbdt(d, seed):
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2000, d))
    y = X[:, 0] * X[:, 1] + np.sin(X[:, 2]) * X[:, 3] + X[:, 4:].sum(axis=1) + np.abs(X[:, 5])
    return GradientBoostingRegressor(n_estimators=100, max_depth=4, random_state=seed).fit(X, y)


def _black_box_game(predict, x, background):
    """v(S) for (m, d) bool coalitions through ``predict`` on numpy rows (shapiq's side)."""
    def value(coalitions):
        masks = np.asarray(coalitions, dtype=bool)
        rows = np.where(masks[:, None, :], x, background[None])
        return predict(rows.reshape(-1, rows.shape[-1])).reshape(len(masks), -1).mean(axis=1)

    return value


def _pair_error(estimate, exact):
    """Mean over rows of ||pairs - exact pairs|| / ||exact pairs|| (full pair terms)."""
    return float(np.mean(np.linalg.norm(estimate - exact, axis=1)
                         / np.linalg.norm(exact, axis=1)))


def run_any_model(*, device="cpu", sizes=(12, 16), budgets=(512, 2048, 8192), n_rows=10,
                  n_background=10, indices=("k-SII", "FSII"), approximators=None, seed=0):
    """KernelInteractions against shapiq's approximators of the same index, on the same
    marginal games of an MLP and a boosted-tree regressor: pairwise relative error against
    ExactInteractions and seconds per row, at each budget of coalitions."""
    import shapiq
    import torch

    from sklxai import ExactInteractions, KernelInteractions

    report = {"machine": _machine(device), "shapiq": version("shapiq"),
              "settings": {"sizes": list(sizes), "budgets": list(budgets), "rows": n_rows,
                           "background": n_background, "order": 2, "seed": seed},
              "load_average": {"before": _loadavg()}, "results": []}
    for d in sizes:
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(100 + n_rows, d))
        background, rows = X[:n_background], X[100:]
        i, j = np.triu_indices(d, 1)
        pairs = list(zip(i.tolist(), j.tolist()))
        mlp = _model(d, seed).to(device)
        models = {"MLP": (mlp, lambda Z, m=mlp: m(torch.as_tensor(Z, device=device))
                          .detach().cpu().numpy()),
                  "GBDT": (_gbdt(d, seed), None)}
        for name, (model, predict) in models.items():
            predict = predict or model.predict
            games = [_black_box_game(predict, x, background) for x in rows]
            for index in indices:
                common = dict(index=index, background=background, device=device,
                              verbose=False)
                exact, sec_exact = _timed(lambda: ExactInteractions(
                    model, max_features=d, **common).fit(X).explain(rows), device)
                truth = exact.pair_values[:, i, j]
                for budget in budgets:
                    entry = {"d": d, "model": name, "index": index, "budget": budget,
                             "exact_seconds_per_row": sec_exact / n_rows}
                    est = KernelInteractions(model, n_coalitions=budget, random_state=seed,
                                             **common)
                    exp, sec = _timed(lambda est=est: est.fit(X).explain(rows), device)
                    entry["kernel_interactions"] = {
                        "relative_error": _pair_error(exp.pair_values[:, i, j], truth),
                        "seconds_per_row": sec / n_rows}
                    peers = {}
                    for peer in (approximators or SHAPIQ_APPROXIMATORS)[index]:
                        cls = getattr(shapiq, peer)
                        kw = {} if peer == "RegressionFSII" else {"index": index}
                        if peer != "PermutationSamplingSTII":
                            kw["pairing_trick"] = True

                        def approximate(cls=cls, kw=kw, budget=budget):
                            return [cls(n=d, max_order=2, random_state=seed, **kw).approximate(
                                min(budget + 2, 2**d), g) for g in games]

                        ivs, sec = _timed(approximate, device)
                        estimate = np.array([[iv[p] for p in pairs] for iv in ivs])
                        peers[peer] = {"relative_error": _pair_error(estimate, truth),
                                       "seconds_per_row": sec / n_rows}
                    best = min(peers, key=lambda p: peers[p]["relative_error"])
                    entry["shapiq"] = peers
                    entry["shapiq_best"] = best
                    report["results"].append(entry)
                    print(f"d={d} {name} {index} {budget}: ours "
                          f"{entry['kernel_interactions']['relative_error']:.4f} "
                          f"({entry['kernel_interactions']['seconds_per_row']:.3f} s/row), "
                          f"shapiq {best} {peers[best]['relative_error']:.4f} "
                          f"({peers[best]['seconds_per_row']:.3f} s/row)", file=sys.stderr)
    report["load_average"]["after"] = _loadavg()
    return report


def any_model_table(report):
    """The sampling section's report as a markdown table."""
    s, m = report["settings"], report["machine"]
    lines = [f"order 2, {s['rows']} rows x {s['background']} background rows, "
             f"{m['device_name']} ({m['cpu_count']} CPUs, {m['torch_threads']} torch threads, "
             f"load {_fmt_load(report['load_average']['before'])} before, "
             f"{_fmt_load(report['load_average']['after'])} after), shapiq {report['shapiq']}; "
             "relative error of the pair terms against ExactInteractions",
             "",
             "| d | model | index | coalitions | KernelInteractions error | s/row | "
             "shapiq best | its error | s/row |",
             "|---|---|---|---|---|---|---|---|---|"]
    for e in report["results"]:
        ours, best = e["kernel_interactions"], e["shapiq"][e["shapiq_best"]]
        lines.append(f"| {e['d']} | {e['model']} | {e['index']} | {e['budget']} | "
                     f"{ours['relative_error']:.2e} | {ours['seconds_per_row']:.3f} | "
                     f"{e['shapiq_best']} | {best['relative_error']:.2e} | "
                     f"{best['seconds_per_row']:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--background", type=int, default=20)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--shapiq-rows", type=int, default=20)
    parser.add_argument("--order", type=int, default=2)
    parser.add_argument("--indices", nargs="+", default=list(INDICES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's); 1 on a shared, loaded CPU")
    parser.add_argument("--out", default="results/interactions.json")
    parser.add_argument("--any-model", action="store_true",
                        help="the sampling section instead: KernelInteractions against "
                             "shapiq's approximators at --budgets, d in --sizes, --rows rows")
    parser.add_argument("--sizes", type=int, nargs="+", default=[12, 16])
    parser.add_argument("--budgets", type=int, nargs="+", default=[512, 2048, 8192])
    parser.add_argument("--approximators", nargs="+", default=None,
                        help="shapiq approximators to try (default: SHAPIQ_APPROXIMATORS)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.any_model:
        indices = [i for i in args.indices if i in SHAPIQ_APPROXIMATORS]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = run_any_model(
                device=args.device, sizes=args.sizes, budgets=args.budgets, n_rows=args.rows,
                n_background=args.background, indices=indices, seed=args.seed,
                approximators=None if args.approximators is None else {
                    i: args.approximators for i in indices})
        _write_json(report, args.out)
        print(any_model_table(report))
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = run(device=args.device, d=args.features, n_background=args.background,
                     n_rows=args.rows, shapiq_rows=args.shapiq_rows, order=args.order,
                     indices=tuple(args.indices), seed=args.seed)
    _write_json(report, args.out)
    print(markdown_table(report))


if __name__ == "__main__":
    main()
