"""TreeInteractions against WOODELF's and shap's interaction values of tree ensembles.

An XGBRegressor (``--trees`` trees of depth ``--depth``) on synthetic data with ``--features``
features (pairwise and three-way products, a sine), explained on ``--rows`` rows:

- interventional: TreeInteractions (k-SII, the marginal game over ``--background`` rows;
  ``fit`` and ``explain`` timed apart) against WOODELF's ``shap_interaction_values`` with the
  same background (``woodelf-explainer``; its explainer built and called, timed together:
  it has no separate fit). Both give shap's (n, d, d) layout;
- path-dependent: TreeInteractions(game="path_dependent") against shap's
  ``TreeExplainer(model).shap_interaction_values`` (no data: the same game) and XGBoost's own
  ``pred_interactions``.

Reported: seconds, the speed-up over each peer, the largest difference between them, and the
largest difference between TreeInteractions and the k-SII of every coalition's value of the same
game (the trees' float64 outputs on every hybrid row, the index computed as ExactInteractions
does) on ``--check-rows`` rows, which decides where the peers disagree. torch and the peers run
on ``--threads`` threads.

Writes a JSON report to ``--out`` and prints a markdown table::

    python -m benchmarks.tree_interactions --threads 1 --out results/tree_interactions.json
"""

import argparse
import json
import os
import platform
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP waits on a shared CPU

import numpy as np  # noqa: E402


def _data(n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] * X[:, 1] + np.sin(2 * X[:, 2]) + X[:, 3] * X[:, 4] * X[:, 5]
         + 0.5 * X[:, 6 % d] + 0.1 * rng.normal(size=n))
    return X, y


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _enumerated_k_sii(trees, rows, background):
    """k-SII (n, d, d) of the marginal game from every coalition's value: the trees' float64
    outputs on the hybrid rows (x_S, b_not S), averaged over the background, through
    ExactInteractions' index computation (model calls would bring XGBoost's float32 outputs)."""
    import torch

    from sklxai import InteractionExplanation
    from sklxai.explainers.interaction_indices import interaction_sets, interaction_values
    from sklxai.games.coalitions import all_masks

    d = rows.shape[1]
    masks = all_masks(d, device="cpu").numpy()
    out = []
    for x in rows:
        hybrid = np.where(masks[:, None, :], x[None, None, :], background[None, :, :])
        raw = trees.raw_encoded(trees.encode(torch.as_tensor(hybrid.reshape(-1, d))))
        v = raw.reshape(len(masks), len(background), -1).mean(dim=1)[None]  # (1, 2**d, k)
        out.append(interaction_values(v - v[:, :1], "k-SII", 2)[..., 0].numpy())
    terms = np.concatenate(out)
    return InteractionExplanation.from_terms(
        terms, interaction_sets(d, 2), base_values=np.zeros(len(rows)), data=rows,
        feature_names=[f"x{i}" for i in range(d)], index="k-SII", max_order=2).values


def interventional(model, X, rows, background, check_rows):
    """TreeInteractions against WOODELF on the marginal game, checked against
    ExactInteractions."""
    import pandas as pd
    from woodelf import WoodelfExplainer

    from sklxai import TreeInteractions

    est, fit_s = _timed(lambda: TreeInteractions(model, background=background,
                                                 device="cpu", verbose=0).fit(X))
    ours, explain_s = _timed(lambda: est.explain(rows).values)
    cols = [f"f{i}" for i in range(X.shape[1])]

    def woodelf():
        explainer = WoodelfExplainer(model, pd.DataFrame(background, columns=cols))
        return np.asarray(explainer.shap_interaction_values(
            pd.DataFrame(rows, columns=cols), verbose=False), dtype=np.float64)

    theirs, woodelf_s = _timed(woodelf)
    exact = _enumerated_k_sii(est.trees_, rows[:check_rows], background)
    return {"game": "interventional", "peer": "WOODELF shap_interaction_values",
            "rows": len(rows), "background": len(background),
            "fit_seconds": fit_s, "explain_seconds": explain_s, "peer_seconds": woodelf_s,
            "speedup": woodelf_s / (fit_s + explain_s),
            "max_abs_diff_to_peer": float(np.abs(ours - theirs).max()),
            "max_abs_diff_to_exact": float(np.abs(ours[:check_rows] - exact).max()),
            "peer_max_abs_diff_to_exact": float(np.abs(theirs[:check_rows] - exact).max()),
            "max_abs_term": float(np.abs(ours).max())}


def path_dependent(model, X, rows):
    """TreeInteractions(game="path_dependent") against shap and XGBoost's pred_interactions."""
    import shap
    import xgboost

    from sklxai import TreeInteractions

    est, fit_s = _timed(lambda: TreeInteractions(model, game="path_dependent", device="cpu",
                                                 verbose=0).fit(X))
    ours, explain_s = _timed(lambda: est.explain(rows).values)
    theirs, shap_s = _timed(lambda: shap.TreeExplainer(model).shap_interaction_values(rows))
    own, own_s = _timed(lambda: model.get_booster().predict(xgboost.DMatrix(rows),
                                                            pred_interactions=True))
    return {"game": "path-dependent", "peer": "shap TreeExplainer shap_interaction_values",
            "rows": len(rows), "background": 0,
            "fit_seconds": fit_s, "explain_seconds": explain_s, "peer_seconds": shap_s,
            "speedup": shap_s / (fit_s + explain_s),
            "max_abs_diff_to_peer": float(np.abs(ours - theirs).max()),
            "xgboost_seconds": own_s,
            "max_abs_diff_to_xgboost": float(np.abs(ours - own[:, :-1, :-1]).max()),
            "max_abs_term": float(np.abs(ours).max())}


def markdown_table(report):
    """The report's rows as a markdown table."""
    lines = ["| game | rows x background | TreeInteractions fit + explain (s) | peer | peer (s) | "
             "speed-up | max \\|diff\\| to peer | max \\|TreeInteractions - exact\\| |",
             "|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        exact = f"{r['max_abs_diff_to_exact']:.1e}" if "max_abs_diff_to_exact" in r else "-"
        lines.append(
            f"| {r['game']} | {r['rows']:,} x {r['background']:,} | "
            f"{r['fit_seconds']:.2f} + {r['explain_seconds']:.2f} | {r['peer']} | "
            f"{r['peer_seconds']:.2f} | {r['speedup']:.1f}x | {r['max_abs_diff_to_peer']:.1e} | "
            f"{exact} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--background", type=int, default=100)
    parser.add_argument("--check-rows", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--games", nargs="+", default=["interventional", "path-dependent"],
                        choices=["interventional", "path-dependent"],
                        help="the games to time (path-dependent: against shap, slow)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    import torch
    import xgboost

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    X, y = _data(5000 + args.rows, args.features, args.seed)
    train, rows = X[:5000], X[5000:]
    model = xgboost.XGBRegressor(n_estimators=args.trees, max_depth=args.depth,
                                 random_state=args.seed, n_jobs=args.threads).fit(train, y[:5000])
    background = train[: args.background]
    results = []
    if "interventional" in args.games:
        results.append(interventional(model, train, rows, background, args.check_rows))
        print(json.dumps(results[-1]), flush=True)
    if "path-dependent" in args.games:
        results.append(path_dependent(model, train, rows))
        print(json.dumps(results[-1]), flush=True)
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                         f"load {load_before:.1f} before and {os.getloadavg()[0]:.1f} after "
                         "the run",
              "threads": args.threads, "model": f"XGBRegressor({args.trees} trees, depth "
                                                 f"{args.depth}), d = {args.features}",
              "results": results}
    print(markdown_table(report))
    print(report["machine"])
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == "__main__":
    main()
