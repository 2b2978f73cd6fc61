"""Cost per explained row of the conditional games against the marginal game, at equal model calls,
and how far their values move from the marginal game's on real correlated data.

**Speed.** KernelSHAP (``--coalitions`` coalitions per row), ExactShapley (every coalition; only
for ``--features`` <= 10) and PermutationSHAP (``--coalitions`` coalition values per row, reported
apart) explain an MLP (``--features`` inputs, two hidden layers of 64, float32) on correlated
Gaussian data with each game. Every game makes the same number of model calls per coalition
value: the marginal and empirical games one per background row (``--background``), the Gaussian
and copula games one per draw, with ``n_samples`` = the background size. What differs is the
games' own work: drawing from the conditional normal (one Cholesky solve per distinct
coalition, batched draws for its rows), the copula's score and quantile maps, the empirical
game's Mahalanobis weights. Reported per explainer and game: seconds per explained row (the
median of ``--repeats`` runs, after a warm-up), and its ratio to the marginal game measured with
the same explainer in the same run.

Target: the Gaussian game within 3x the marginal game's time per row (KernelSHAP).

**Games differ.** On scikit-learn's diabetes data (``--differ-data diabetes``, 10 numeric
features, s1 and s2 correlated 0.90) or breast cancer (30 features), standardised, a
GradientBoostingRegressor (the diabetes target, or the malignant label as a 0/1 regression) is
explained on ``--differ-rows`` rows by KernelSHAP (``--differ-coalitions`` coalitions) with each
game. Reported per conditional game: the mean |difference| between its values and the marginal
game's, relative to the mean |marginal value|, and the feature whose rank (by mean |value| over
the rows) moves most; and the same for the marginal game estimated again with another seed (other
background rows and coalitions), the estimates' own spread.

Writes JSON to ``--out`` and prints markdown tables::

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


#: explainers of the speed section; ExactShapley only up to this many features
EXPLAINERS = ("KernelSHAP", "ExactShapley", "PermutationSHAP")
EXACT_MAX_FEATURES = 10


def _explainer(name, net, game, args):
    import sklxai

    budget = {} if name == "ExactShapley" else {"n_coalitions": args.coalitions}
    return getattr(sklxai, name)(net, game=_game(game, args.background),
                                 n_background=args.background, random_state=0,
                                 device=args.device, verbose=False, **budget)


def _speed(args):
    X = _data(2000 + args.rows, args.features)
    fit_rows, rows = X[:2000], X[2000:]
    net = _net(args.features)
    results = {}
    for explainer in args.explainers:
        if explainer == "ExactShapley" and args.features > EXACT_MAX_FEATURES:
            continue
        per_game = results[explainer] = {}
        for name in GAMES:
            est = _explainer(explainer, net, name, args).fit(fit_rows)
            est.explain(rows[:2])  # warm-up
            times = []
            for _ in range(args.repeats):
                _sync(args.device)
                start = time.perf_counter()
                est.explain(rows)
                _sync(args.device)
                times.append(time.perf_counter() - start)
            per_game[name] = {"seconds_per_row": float(np.median(times)) / args.rows}
        base = per_game["marginal"]["seconds_per_row"]
        for name in GAMES:
            per_game[name]["ratio_to_marginal"] = per_game[name]["seconds_per_row"] / base
    return results


def _real_data(name):
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.preprocessing import StandardScaler

    data = load_diabetes() if name == "diabetes" else load_breast_cancer()
    X = StandardScaler().fit_transform(data.data)
    return X, data.target.astype(float), list(data.feature_names)


def _ranks(values):
    """Each feature's rank by mean |value| over the rows (1: the largest)."""
    order = np.argsort(-np.abs(values).mean(axis=0))
    ranks = np.empty(len(order), dtype=int)
    ranks[order] = np.arange(1, len(order) + 1)
    return ranks


def _games_differ(args):
    """Each conditional game's values against the marginal game's on a real data set."""
    from sklearn.ensemble import GradientBoostingRegressor

    from sklxai import KernelSHAP

    X, y, names = _real_data(args.differ_data)
    model = GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=0).fit(X, y)
    rows = X[np.random.default_rng(0).choice(len(X), args.differ_rows, replace=False)]
    values = {}
    # the marginal game again with another seed (other background rows, other coalitions): the
    # estimates' own spread, the floor below which a game's difference means nothing
    for name, seed in [(g, 0) for g in GAMES] + [("marginal, seed 1", 1)]:
        est = KernelSHAP(model, game=_game(name.split(",")[0], args.background),
                         n_background=args.background, n_coalitions=args.differ_coalitions,
                         random_state=seed, device="cpu", verbose=False).fit(X)
        values[name] = est.explain(rows).values.reshape(len(rows), X.shape[1])  # one output
    marginal = values["marginal"]
    scale = np.abs(marginal).mean()
    corr = np.corrcoef(X, rowvar=False)
    np.fill_diagonal(corr, 0.0)
    out = {"data": args.differ_data, "n_features": X.shape[1], "rows": args.differ_rows,
           "coalitions": args.differ_coalitions, "background": args.background,
           "model": "GradientBoostingRegressor(n_estimators=100, max_depth=3)",
           "max_abs_correlation": float(np.abs(corr).max()),
           "mean_abs_marginal_value": float(scale), "games": {}}
    base_ranks = _ranks(marginal)
    for name in (*GAMES[1:], "marginal, seed 1"):
        ranks = _ranks(values[name])
        j = int(np.argmax(np.abs(ranks - base_ranks)))
        out["games"][name] = {
            "relative_mean_abs_difference": float(np.abs(values[name] - marginal).mean() / scale),
            "most_moved_feature": names[j], "rank_marginal": int(base_ranks[j]),
            "rank_game": int(ranks[j])}
    return out


def run(args):
    speed = _speed(args)
    ratio = speed["KernelSHAP"]["gaussian"]["ratio_to_marginal"] if "KernelSHAP" in speed \
        else None
    report = {
        "machine": _machine(args.device),
        "settings": {"features": args.features, "background": args.background,
                     "n_samples": args.background, "coalitions": args.coalitions,
                     "rows": args.rows, "repeats": args.repeats, "device": args.device},
        "speed": speed,
        "target": {"gaussian_ratio_at_most": TARGET_RATIO, "gaussian_ratio": ratio,
                   "met": None if ratio is None else ratio <= TARGET_RATIO},
    }
    if args.differ_rows:
        report["games_differ"] = _games_differ(args)
    return report


def _table(report):
    lines = []
    for explainer, per_game in report["speed"].items():
        lines += [f"{explainer}:", "", "| game | s / row | x marginal |", "|---|---:|---:|"]
        for name, r in per_game.items():
            lines.append(f"| {name} | {r['seconds_per_row']:.4f} | "
                         f"{r['ratio_to_marginal']:.2f} |")
        lines.append("")
    differ = report.get("games_differ")
    if differ:
        title = (f"games differ ({differ['data']}, {differ['rows']} rows, KernelSHAP "
                 f"{differ['coalitions']} coalitions):")
        lines += [title, "",
                  "| game | mean abs diff / mean abs marginal | most moved feature (rank) |",
                  "|---|---:|---|"]
        for name, r in differ["games"].items():
            lines.append(f"| {name} | {r['relative_mean_abs_difference']:.3f} | "
                         f"{r['most_moved_feature']} ({r['rank_marginal']} -> {r['rank_game']}) |")
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
    parser.add_argument("--explainers", nargs="+", default=list(EXPLAINERS), choices=EXPLAINERS)
    parser.add_argument("--differ-data", default="diabetes", choices=("diabetes", "breast_cancer"))
    parser.add_argument("--differ-rows", type=int, default=15,
                        help="rows of the games-differ section (0: skip it)")
    parser.add_argument("--differ-coalitions", type=int, default=512)
    parser.add_argument("--out", default="results/conditional_games.json")
    args = parser.parse_args(argv)
    report = run(args)
    _write_json(report, args.out)
    print(_table(report))
    target = report["target"]
    if target["gaussian_ratio"] is not None:
        print(f"target: gaussian within {TARGET_RATIO}x of marginal (KernelSHAP): "
              f"{target['gaussian_ratio']:.2f}x ({'met' if target['met'] else 'not met'})")
    return report


if __name__ == "__main__":
    main()
