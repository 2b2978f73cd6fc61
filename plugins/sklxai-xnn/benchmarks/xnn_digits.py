"""XNN on a digits CNN: faithfulness, reconstruction, sparsity, time, and each x-feature's maps.

Trains a small CNN (skorch) on 1,200 of sklearn's 8x8 digits (shuffled, fixed seed), fits XNN
at its penultimate layer with 3, 4 and 5 x-features on the same rows, and measures on the 597
rows neither saw how often the x-features' reconstructed prediction is the CNN's. Writes
``results/xnn_digits.json`` and ``results/xnn_digits.png`` (for the 5-x-feature XNN: per
x-feature, the mean input and mean maps over the test rows where it is most active).

Run from the repository root, on one CPU thread (about a minute)::

    OMP_NUM_THREADS=1 python plugins/sklxai-xnn/benchmarks/xnn_digits.py
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklxai_xnn import XNN
from skorch import NeuralNetClassifier

ROOT = Path(__file__).resolve().parents[3]


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def train_cnn(X, y, seed=0):
    torch.manual_seed(seed)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(128, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    return NeuralNetClassifier(cnn, criterion=torch.nn.CrossEntropyLoss,
                               optimizer=torch.optim.Adam, lr=3e-3, max_epochs=30,
                               batch_size=64, train_split=None, verbose=0).fit(X, y)


def measure(xnn, net, X_test):
    exp = xnn.explain(X_test)
    model_pred = net.predict(X_test)
    recon = exp.data @ xnn.readout_weight_.T + xnn.readout_bias_
    return exp, {
        "n_xfeatures": xnn.n_xfeatures,
        "faithfulness_heldout_fit_rows": xnn.faithfulness_,
        "agreement_test": float(np.mean(recon.argmax(axis=1) == model_pred)),
        "output_r2_heldout": xnn.output_r2_,
        "reconstruction_error_heldout": xnn.reconstruction_error_,
        "sparsity_heldout": xnn.sparsity_,
        "efficiency_gap_test": exp.efficiency_gap,
    }


def figure(xnn, exp, X_test, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = xnn.n_xfeatures
    fig, axes = plt.subplots(m, 3, figsize=(6.6, 2.1 * m), squeeze=False)
    for j in range(m):
        top = np.argsort(-exp.data[:, j])[: max(10, len(X_test) // 10)]
        # `attribution` is only read by explain: the same trained network gives both maps
        xnn.set_params(attribution="integrated_gradients")
        ig_maps = xnn.explain(X_test[top]).maps[:, j, 0].mean(axis=0)
        xnn.set_params(attribution="gradient_x_input")
        panels = [(X_test[top, 0].mean(axis=0), "gray", "mean input"),
                  (exp.maps[top, j, 0].mean(axis=0), "RdBu_r", "grad x input"),
                  (ig_maps, "RdBu_r", "integrated gradients")]
        classes = np.argsort(-xnn.readout_weight_[:, j])[:3]
        for c, (img, cmap, title) in enumerate(panels):
            ax = axes[j, c]
            lim = np.abs(img).max() or 1.0
            ax.imshow(img, cmap=cmap, vmin=-lim if cmap != "gray" else 0, vmax=lim)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_title(title, fontsize=9)
        axes[j, 0].set_ylabel(f"xf{j}\n(+ for {', '.join(map(str, classes))})", fontsize=8)
    fig.suptitle(f"XNN on a digits CNN: {m} x-features, top-activating test rows", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "xnn_digits"),
                        help="path prefix of the .json and .png written")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    X, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(X))
    X = (X[perm] / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    y = y[perm]
    X_fit, y_fit, X_test, y_test = X[:1200], y[:1200], X[1200:], y[1200:]

    t = time.perf_counter()
    net = train_cnn(X_fit, y_fit)
    cnn_seconds = time.perf_counter() - t
    rows, best = [], None
    for m in (3, 4, 5):
        t = time.perf_counter()
        xnn = XNN(net, n_xfeatures=m, max_steps=3000, device="cpu", random_state=0,
                  min_faithfulness=0.0).fit(X_fit)
        fit_seconds = time.perf_counter() - t
        t = time.perf_counter()
        exp, row = measure(xnn, net, X_test)
        row.update(fit_seconds=fit_seconds, explain_seconds=time.perf_counter() - t)
        rows.append(row)
        best = (xnn, exp)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure(*best, X_test, out.with_suffix(".png"))
    result = {
        "benchmark": "xnn_digits",
        "machine": f"{_cpu_name()}, {torch.get_num_threads()} torch thread, no GPU",
        "device": "cpu",
        "torch": torch.__version__,
        "data": "sklearn load_digits as (N, 1, 8, 8), shuffled (seed 0): 1200 fit rows "
                "(CNN and XNN), 597 test rows",
        "cnn_test_accuracy": float(np.mean(net.predict(X_test) == y_test)),
        "cnn_train_seconds": cnn_seconds,
        "xnn": {"layer": best[0].layer_, "hooked": best[0].hooked_,
                "n_activations": best[0].n_activations_, "max_steps": 3000,
                "params": {k: v for k, v in best[0].get_params(deep=False).items()
                           if k not in ("model", "n_xfeatures")}},
        "rows": rows,
        "total_seconds": time.perf_counter() - start,
    }
    out.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.png')} "
          f"in {result['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
