"""Explaining many rows: rows/s and peak memory for 10^4, 10^5 and 10^6 rows.

Trains the demo's skorch MLP on Adult (12 features), fits a ``SimSHAP`` and a ``KernelSHAP``
once, saves them (``Explainer.save``), and then explains n rows (test rows tiled to n, with a
little noise so that no two rows are equal) in a fresh child process per (method, n), so that
each run's peak memory is its own. Per run it reports seconds, rows/s, the process's resident
memory before ``explain`` (model and explainer loaded, warm), its peak during ``explain``
(``ru_maxrss``), the size of the returned values (n x 12 x 2 float64, which necessarily grows
with n) and, on CUDA, the peak of ``torch.cuda.max_memory_allocated``. Bounded memory means:
peak minus resident-before minus the values' own size stays flat as n grows::

    python -m benchmarks.scale_memory --device cpu --out results/scale_memory.json
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.kernel_speed import _machine, _write_json

SIZES = (10_000, 100_000, 1_000_000)
METHODS = ("simshap", "kernelshap")


def _rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _rows(n, seed=0):
    from sklxai.demo import adult_features

    _, Xte, _, _, _ = adult_features()
    rng = np.random.default_rng(seed)
    X = Xte[rng.integers(0, len(Xte), size=n)]
    return X + rng.normal(scale=1e-3, size=X.shape)


def child(method, n, workdir, device):
    """One measurement in this (fresh) process; prints one JSON line."""
    import torch

    from sklxai import KernelSHAP, SimSHAP

    model = _plain_model(workdir, device)
    cls = {"simshap": SimSHAP, "kernelshap": KernelSHAP}[method]
    est = cls.load(os.path.join(workdir, f"{method}.pt"), model, device=device)
    X = _rows(n)
    est.explain(X[:1000])  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    before = _rss_mb()
    t0 = time.perf_counter()
    exp = est.explain(X)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    out = {
        "method": method, "rows": n, "seconds": seconds, "rows_per_s": n / seconds,
        "rss_before_mb": before, "peak_rss_mb": _peak_mb(),
        "values_mb": exp.values.nbytes / 2**20,
        "input_mb": X.nbytes / 2**20,
    }
    out["peak_over_before_minus_outputs_mb"] = (
        out["peak_rss_mb"] - before - out["values_mb"] - 2 * exp.output.nbytes / 2**20)
    if device.startswith("cuda"):
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(out))


def prepare(workdir, device, *, epochs, max_epochs, n_coalitions, n_background, seed):
    """Train the model and both explainers once; save them for the child processes."""
    import torch

    from sklxai import KernelSHAP, SimSHAP
    from sklxai.demo import adult_features, train_adult_mlp

    Xtr, _, ytr, _, _ = adult_features()
    net = train_adult_mlp(Xtr, ytr, max_epochs=epochs, device=device, random_state=seed)
    # the explainers see the bare torch module + softmax (what predict_proba computes)
    torch.save({k: v.detach().cpu() for k, v in net.module_.state_dict().items()},
               os.path.join(workdir, "mlp.pt"))
    model = _plain_model(workdir, device)
    common = {"n_background": n_background, "device": device, "random_state": seed}
    # the explainer's accuracy is not measured here (see amortized_accuracy.py): a short
    # training on a few thousand rows gives the network whose explain cost is measured
    SimSHAP(model, max_epochs=max_epochs, **common).fit(Xtr[:5000]).save(
        os.path.join(workdir, "simshap.pt"))
    KernelSHAP(model, n_coalitions=n_coalitions, **common).fit(Xtr).save(
        os.path.join(workdir, "kernelshap.pt"))


def _plain_model(workdir, device):
    import torch

    from sklxai.demo import make_mlp

    module = make_mlp(12)
    module.load_state_dict(torch.load(os.path.join(workdir, "mlp.pt"), weights_only=True))
    return torch.nn.Sequential(module, torch.nn.Softmax(dim=1)).to(device).eval()


def run(*, device="cpu", sizes=SIZES, methods=METHODS, kernel_max_rows=None, epochs=3,
        max_epochs=3, n_coalitions=64, n_background=10, seed=0):
    import torch

    from sklxai.utils.validation import resolve_device

    device = str(resolve_device(device))
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        prepare(workdir, device, epochs=epochs, max_epochs=max_epochs,
                n_coalitions=n_coalitions, n_background=n_background, seed=seed)
        for method in methods:
            for n in sizes:
                if method == "kernelshap" and kernel_max_rows and n > kernel_max_rows:
                    continue
                print(f"{method} on {n} rows ...", file=sys.stderr, flush=True)
                proc = subprocess.run(
                    [sys.executable, "-m", "benchmarks.scale_memory", "--child", method,
                     str(n), workdir, "--device", device],
                    capture_output=True, text=True, check=True)
                results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {
        "benchmark": "scale_memory",
        "machine": _machine(device),
        "settings": {"n_coalitions": n_coalitions, "n_background": n_background,
                     "simshap_max_epochs": max_epochs, "model_epochs": epochs, "seed": seed,
                     "torch_threads": torch.get_num_threads()},
        "results": results,
    }


def markdown_table(report):
    m = report["machine"]
    lines = [f"Machine: {m['device_name']} ({m['device']}), torch {m['torch']}", "",
             ("| method | rows | rows/s | resident before (MB) | peak (MB) | values (MB) | "
             "peak - before - outputs (MB) |"),
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in report["results"]:
        lines.append(
            f"| {r['method']} | {r['rows']:,} | {r['rows_per_s']:,.0f} | "
            f"{r['rss_before_mb']:.0f} | {r['peak_rss_mb']:.0f} | {r['values_mb']:.0f} | "
            f"{r['peak_over_before_minus_outputs_mb']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "N", "WORKDIR"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--kernel-max-rows", type=int, default=None,
                        help="skip KernelSHAP above this many rows (it is slow on a CPU)")
    parser.add_argument("--coalitions", type=int, default=64)
    parser.add_argument("--background", type=int, default=10)
    parser.add_argument("--out", default="results/scale_memory.json")
    args = parser.parse_args(argv)
    if args.child:
        method, n, workdir = args.child
        child(method, int(n), workdir, args.device)
        return 0
    report = run(device=args.device, sizes=args.sizes, methods=args.methods,
                 kernel_max_rows=args.kernel_max_rows, n_coalitions=args.coalitions,
                 n_background=args.background)
    _write_json(report, args.out)
    print(markdown_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
