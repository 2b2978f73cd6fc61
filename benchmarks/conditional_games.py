"""Cost per explained row of the conditional games against the marginal game, at equal model calls.

KernelSHAP (``--coalitions`` coalitions per row) explains an MLP (``--features`` inputs, two
hidden layers of 64, float32) on correlated Gaussian data with each game. Every game makes the
same number of model calls per coalition value: the marginal and empirical games one per
background row (``--background``), the Gaussian and copula games one per draw, with
``n_samples`` = the background size. What differs is the games' own work: drawing from the
conditional normal (one Cholesky solve per distinct coalition, batched draws for its rows), the
copula's score and quantile maps, the empirical game's Mahalanobis weights. Reported per game:
seconds per explained row (the median of ``--repeats`` runs, after a warm-up), and its ratio to
the marginal game measured in the same run.

Target: the Gaussian game within 3x the marginal game's time per row.

Writes JSON to ``--out`` and prints a markdown table::

    python -m benchmarks.conditional_games --out results/conditional_games.json
    python -m benchmarks.conditional_games --device cuda --rows 200
"""

import argparse
import time

import numpy as np

from benchmarks.kernel_speed import _machine, _sync, _write_json

GAMES = ("marginal", "gaussian", "copula", "empirical")
#: the Gaussian game's time per row may be at most this multiple of the marginal game's
TARGET_RATIO = 3.0


def _net(d, seed=0):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                               torch.nn.ReLU(), torch.nn.Linear(64, 1))


def _data(n, d, seed=0):
    """Rows of a normal with correlation 0.6 between neighbouring features (AR(1))."""
    rng = np.random.default_rng(seed)
    cov = 0.6 ** np.abs(np.subtract.outer(np.arange(d), np.arange(d)))
    return rng.multivariate_normal(np.zeros(d), cov, size=n)


def _game(name, background):
    from sklxai.games import CopulaGame, GaussianGame

    if name == "gaussian":
        return GaussianGame(n_samples=background)
    if name == "copula":
        return CopulaGame(n_samples=background)
    return name


def run(args):
    from sklxai import KernelSHAP

    X = _data(2000 + args.rows, args.features)
    fit_rows, rows = X[:2000], X[2000:]
    net = _net(args.features)
    results = {}
    for name in GAMES:
        est = KernelSHAP(net, game=_game(name, args.background), n_background=args.background,
                         n_coalitions=args.coalitions, random_state=0, device=args.device,
                         verbose=False).fit(fit_rows)
        est.explain(rows[:2])  # warm-up
        times = []
        for _ in range(args.repeats):
            _sync(args.device)
            start = time.perf_counter()
            est.explain(rows)
            _sync(args.device)
            times.append(time.perf_counter() - start)
        results[name] = {"seconds_per_row": float(np.median(times)) / args.rows}
    base = results["marginal"]["seconds_per_row"]
    for name in GAMES:
        results[name]["ratio_to_marginal"] = results[name]["seconds_per_row"] / base
    ratio = results["gaussian"]["ratio_to_marginal"]
    return {
        "machine": _machine(args.device),
        "settings": {"features": args.features, "background": args.background,
                     "n_samples": args.background, "coalitions": args.coalitions,
                     "rows": args.rows, "repeats": args.repeats, "device": args.device},
        "games": results,
        "target": {"gaussian_ratio_at_most": TARGET_RATIO, "gaussian_ratio": ratio,
                   "met": ratio <= TARGET_RATIO},
    }


def _table(report):
    lines = ["| game | s / row | x marginal |", "|---|---:|---:|"]
    for name, r in report["games"].items():
        lines.append(f"| {name} | {r['seconds_per_row']:.4f} | {r['ratio_to_marginal']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--background", type=int, default=100,
                        help="background rows (marginal, empirical) = draws (gaussian, copula)")
    parser.add_argument("--coalitions", type=int, default=256)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="results/conditional_games.json")
    args = parser.parse_args(argv)
    report = run(args)
    _write_json(report, args.out)
    print(_table(report))
    print(f"target: gaussian within {TARGET_RATIO}x of marginal: "
          f"{report['target']['gaussian_ratio']:.2f}x ({'met' if report['target']['met'] else 'not met'})")
    return report


if __name__ == "__main__":
    main()
