"""How SimSHAP's and FastSHAP's training draws should pick coalition sizes, measured.

A training target is SimSHAP's unbiased estimate from a draw of coalition pairs (S and its
complement), each value averaging a few background rows (drawn stratified, as
``MarginalGame.sampled_values`` draws them). Which sizes a draw spends its model calls on is
free, as long as each coalition is weighted by its size's Shapley-kernel mass over its
probability. This benchmark measures, on the breast-cancer MLP of
``benchmarks.amortized_matrix`` (d = 30; the same split, model, background and oracle as that
benchmark's setting, for each seed):

1. **Per size**, the second moment of a coalition pair's term in the target (the oracle's
   values as the control variate, as a well-trained network's prediction would be; 5
   background rows a value, as the training draws average), from ``--pairs`` pairs of each
   size for each explained row. From these, the target variance of one pair drawn from a size
   proposal q, relative to the kernel's own (q = the kernel): sum_s p_s^2 / q_s M_s over
   sum_s p_s M_s, for q = the square root of the kernel's mass ("sqrt"), uniform sizes, and
   the best q (proportional to p_s sqrt(M_s)).
2. **Targets as training builds them**: the error of the targets after 1, 5 and 30 draws of
   40 coalitions x 5 background rows (a small fit set's default draws), for each proposal of
   :class:`sklxai.games.coalitions.StratifiedDesign`, against the oracle (its own noise taken
   out in quadrature, as in the matrix).

Writes JSON to ``--out`` and prints markdown::

    python -m benchmarks.amortized_sizes --seeds 0,1,2 --out results/amortized_sizes.json
"""

import argparse
import sys
import time

import numpy as np

from benchmarks.amortized_matrix import (
    KERNEL_ORACLE_ROWS,
    REFERENCE_COALITIONS,
    _corrected,
    _load,
    _oracle,
    _train,
    background_rows,
)
from benchmarks.kernel_speed import _loadavg, _machine, _write_json

#: a small fit set's default training draws on this model: coalitions x background rows
COALITIONS, SAMPLES = 40, 5
DRAWS = (1, 5, 30)


def _setting(seed, oracle_cache):
    """(game, rows tensor, oracle (n, d, k), oracle noise) of the matrix's breast-cancer MLP."""
    import torch

    from sklxai import KernelSHAP

    Xtr, ytr, Xte, yte, _ = _load("breast_cancer", "mlp", seed=seed, adult_gbdt_rows=20000)
    model, *_ = _train("mlp", "breast_cancer", Xtr, ytr, Xte, yte, dev="cpu", seed=seed,
                       adult_epochs=10)
    bg = background_rows(Xtr, 50, seed)
    rows = Xte[:KERNEL_ORACLE_ROWS]
    oracle, _, noise, *_ = _oracle("kernel", model, bg, rows, dev="cpu", seed=seed,
                                   reference_coalitions=REFERENCE_COALITIONS,
                                   cache=oracle_cache)
    # the marginal game over the background, as the amortized explainers build it; KernelSHAP's
    # fit builds it without training anything
    game = KernelSHAP(model, background=bg, device="cpu").fit(bg).game_
    return game, torch.as_tensor(rows, dtype=torch.float32), oracle, noise


def size_moments(game, X, oracle, *, pairs, seed):
    """Per size s = 1..d-1: the mean squared norm of a pair's term (S of size s and its
    complement, averaged) in SimSHAP's target, the oracle as control variate."""
    import torch

    from sklxai.explainers._targets import simshap_weights
    from sklxai.games.coalitions import uniform_subsets

    n, d = X.shape
    null = game.empty_value().float()
    control = torch.as_tensor(oracle, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    moments = []
    with torch.no_grad():
        for s in range(1, d):
            masks = uniform_subsets(torch.full((n * pairs,), s), d, generator=gen)
            masks = masks.reshape(n, pairs, d)

            def term(m):
                v = game.sampled_values(X, m, SAMPLES, generator=gen).float() - null
                residual = v - torch.einsum("nmd,ndk->nmk", m.float(), control)
                return simshap_weights(m)[..., None] * residual[:, :, None, :]

            pair = (term(masks) + term(~masks)) / 2
            moments.append(float((pair**2).sum(dim=(2, 3)).mean()))
    return np.asarray(moments)


def proposal_ratios(moments, d):
    """One pair's target variance under each size proposal, relative to the kernel's."""
    from sklxai.games.coalitions import kernel_size_mass

    p = kernel_size_mass(d) / kernel_size_mass(d).sum()
    kernel = float((p * moments).sum())
    proposals = {"sqrt": np.sqrt(p), "uniform": np.ones_like(p),
                 "best": p * np.sqrt(moments)}
    return {name: float((p**2 / (q / q.sum()) * moments).sum() / kernel)
            for name, q in proposals.items()}


def target_errors(game, X, oracle, noise, *, proposal, seed):
    """Relative error of the accumulated targets after each of :data:`DRAWS` draws."""
    import torch

    from sklxai.explainers._targets import CoalitionStats
    from sklxai.games.coalitions import StratifiedDesign
    from sklxai.metrics import relative_error

    n, d = X.shape
    design = StratifiedDesign(d, COALITIONS, rule="half", normalize=True, proposal=proposal)
    null = game.empty_value().float()
    control = torch.as_tensor(oracle, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    store, errors = CoalitionStats.zeros(n, d, oracle.shape[-1], "cpu"), {}
    with torch.no_grad():
        total = game.full(X).float() - null
        for draw in range(1, max(DRAWS) + 1):
            masks, weights = design.draw(n, generator=gen)
            values = game.sampled_values(X, masks, SAMPLES, generator=gen).float() - null
            store.add(torch.arange(n), CoalitionStats.from_draw(masks, weights, values, total))
            if draw in DRAWS:
                targets = store.simshap_targets(control=control).double().numpy()
                errors[draw] = _corrected(relative_error(targets, oracle), noise)
    return errors


def run(seeds, *, pairs, oracle_cache):
    import torch

    torch.set_num_threads(1)
    report = {"machine": _machine("cpu"), "load_before": _loadavg(), "pairs": pairs,
              "coalitions": COALITIONS, "background_samples": SAMPLES, "seeds": {}}
    for seed in seeds:
        start = time.process_time()
        game, X, oracle, noise = _setting(seed, oracle_cache)
        moments = size_moments(game, X, oracle, pairs=pairs, seed=seed)
        report["seeds"][seed] = {
            "oracle_noise": noise, "pair_moments": moments.tolist(),
            "variance_ratio": proposal_ratios(moments, X.shape[1]),
            "target_error": {q: target_errors(game, X, oracle, noise, proposal=q, seed=seed)
                             for q in ("kernel", "sqrt")},
            "cpu_seconds": time.process_time() - start,
        }
    report["load_after"] = _loadavg()
    return report


def markdown(report):
    lines = ["| seed | variance of a pair, relative to the kernel's: sqrt / uniform / best "
             "| target error after " + " / ".join(map(str, DRAWS)) + " draws: kernel "
             "| sqrt |", "|---|---|---|---|"]
    for seed, r in report["seeds"].items():
        ratio, err = r["variance_ratio"], r["target_error"]
        lines.append(
            f"| {seed} | {ratio['sqrt']:.3f} / {ratio['uniform']:.3f} / {ratio['best']:.3f} | "
            + " / ".join(f"{100 * err['kernel'][k]:.1f}%" for k in DRAWS) + " | "
            + " / ".join(f"{100 * err['sqrt'][k]:.1f}%" for k in DRAWS) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--pairs", type=int, default=64,
                        help="coalition pairs of each size for each row (size moments)")
    parser.add_argument("--oracle-cache", default="results/oracles")
    parser.add_argument("--out", default="results/amortized_sizes.json")
    args = parser.parse_args(argv)
    report = run([int(s) for s in args.seeds.split(",")], pairs=args.pairs,
                 oracle_cache=args.oracle_cache)
    _write_json(report, args.out)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
