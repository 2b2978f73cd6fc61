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
    args = parser.parse_args(argv)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = run(device=args.device, d=args.features, n_background=args.background,
                     n_rows=args.rows, shapiq_rows=args.shapiq_rows, order=args.order,
                     indices=tuple(args.indices), seed=args.seed)
    _write_json(report, args.out)
    print(markdown_table(report))


if __name__ == "__main__":
    main()
