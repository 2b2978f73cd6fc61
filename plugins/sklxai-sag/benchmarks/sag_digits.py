"""SAG on a digits CNN: how many diverse minimal sufficient patch sets an image has.

Trains a small CNN on 8x8 digits (1400 images, skorch), explains 50 test images with SAG
(2x2 patches: 16 per image, threshold 0.9, zeros baseline, I-GOS seed, beam width 5, up to 3
roots sharing at most one patch, graphs 3 removals deep) and reports the mean number of roots,
the mean root size, the share of images with at least two roots and the time per image.
Writes ``results/sag_digits.json`` and ``results/sag_digits.png`` (one image's SAG).

Run from the repository root: ``OMP_NUM_THREADS=1 python plugins/sklxai-sag/benchmarks/sag_digits.py``.
"""

import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

import sklxai

N_EXPLAIN = 50


def main(out_dir="results"):
    import matplotlib

    matplotlib.use("Agg")
    from sklearn.datasets import load_digits
    from sklxai_sag import plot_sag
    from skorch import NeuralNetClassifier

    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    y = y.astype(np.int64)
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(16 * 16, 10))
    net = NeuralNetClassifier(cnn, criterion=torch.nn.CrossEntropyLoss,
                              optimizer=torch.optim.Adam, lr=0.01, max_epochs=10, batch_size=64,
                              train_split=None, verbose=0).fit(X[:1400], y[:1400])
    Xt, yt = X[1400:1400 + N_EXPLAIN], y[1400:1400 + N_EXPLAIN]
    accuracy = float((net.predict(X[1400:]) == y[1400:]).mean())

    SAG = sklxai.get_explainer("sag")
    sag = SAG(net, patch_size=2, threshold=0.9, random_state=0, device="cpu").fit(X[:200])
    sag.explain(Xt[:2])  # warm-up
    start = time.perf_counter()
    exp = sag.explain(Xt)
    seconds = time.perf_counter() - start

    graphs = exp.graphs
    n_roots = np.array([len(g.roots) for g in graphs])
    sizes = [len(r) for g in graphs for r in g.roots]
    n_candidates = np.array([len(g.candidates) for g in graphs])
    n_nodes = np.array([len(g.nodes) for g in graphs])
    result = {
        "n_images": N_EXPLAIN,
        "test_accuracy": accuracy,
        "params": {k: v for k, v in sag.get_params(deep=False).items() if k != "model"},
        "mean_roots": float(n_roots.mean()),
        "mean_root_size_patches": float(np.mean(sizes)) if sizes else None,
        "share_with_2_or_more_roots": float((n_roots >= 2).mean()),
        "share_with_no_root": float((n_roots == 0).mean()),
        "mean_minimal_sets_found": float(n_candidates.mean()),
        "mean_graph_nodes": float(n_nodes.mean()),
        "seconds_per_image": seconds / N_EXPLAIN,
        "machine": f"{platform.machine()} CPU (2-core AMD EPYC in the reported run), 1 torch thread",
    }
    out = Path(out_dir)
    out.mkdir(exist_ok=True)
    (out / "sag_digits.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    i = int(np.argmax(n_roots * 100 - n_nodes))  # an image with several roots, small graph
    fig = plot_sag(graphs[i], Xt[i])
    fig.suptitle(f"SAG of test digit {1400 + i} (label {yt[i]})", fontsize=9, y=1.0)
    fig.savefig(out / "sag_digits.png", dpi=120, bbox_inches="tight")
    for key in ("mean_roots", "mean_root_size_patches", "share_with_2_or_more_roots",
                "share_with_no_root", "seconds_per_image", "test_accuracy"):
        print(f"{key:32s} {result[key]}")
    return result


if __name__ == "__main__":
    main()
