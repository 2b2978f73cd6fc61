"""C3LT against a gradient baseline on 8x8 digits (4 -> 9 and 3 -> 8).

A small skorch CNN is trained on images (N, 1, 8, 8) scaled to [0, 1]. For each class pair,
C3LT is fitted on the training split (its own autoencoder, then the maps) and both methods
produce counterfactuals for the held-out test images of the source class:

- C3LT: one forward pass (encoder, map g, decoder) per counterfactual;
- Wachter-style baseline: optimise the input x' directly by Adam,
  ``CE(f(x'), target) + lam * ||x' - x||_1``, x' clipped to [0, 1], ``STEPS`` steps.

Scores (:func:`sklxai_c3lt.metrics.counterfactual_scores`): validity (share classified as the
target), L1 and L2 distance to the query, realism (Euclidean distance to the nearest training
image of the target class), and seconds per counterfactual (fit excluded). Writes
``results/c3lt_digits.json`` under the repository root. One CPU thread:

    OMP_NUM_THREADS=1 python plugins/sklxai-c3lt/benchmarks/c3lt_digits.py
"""

import json
import pathlib
import platform
import time

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier

from sklxai_c3lt import C3LT, counterfactual_scores

PAIRS = [(4, 9), (3, 8)]
STEPS = 100          # baseline: Adam steps per batch of queries
LAM = 0.01           # baseline: weight of the L1 distance (per pixel sum, images in [0, 1])
BASELINE_LR = 0.05
SEED = 0
ROOT = pathlib.Path(__file__).resolve().parents[3]


class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(32 * 16, 64), torch.nn.ReLU(),
            torch.nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)


def train_classifier(X, y):
    torch.manual_seed(SEED)
    net = NeuralNetClassifier(CNN, criterion=torch.nn.CrossEntropyLoss, max_epochs=20, lr=1e-3,
                              optimizer=torch.optim.Adam, batch_size=64, train_split=None,
                              verbose=0)
    return net.fit(X, y)


def wachter(net, X, target):
    """Counterfactuals by Adam on the input: CE(target) + LAM * ||x' - x||_1, clipped."""
    module = net.module_.eval()
    x = torch.as_tensor(X)
    x_cf = x.clone().requires_grad_(True)
    opt = torch.optim.Adam([x_cf], lr=BASELINE_LR)
    labels = torch.full((len(x),), target)
    for _ in range(STEPS):
        opt.zero_grad()
        loss = (torch.nn.functional.cross_entropy(module(x_cf), labels, reduction="sum")
                + LAM * (x_cf - x).abs().sum())
        loss.backward()
        opt.step()
        with torch.no_grad():
            x_cf.clamp_(0.0, 1.0)
    return x_cf.detach().numpy()


def main():
    torch.set_num_threads(1)
    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    y = digits.target.astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y,
                                              random_state=SEED)
    start = time.perf_counter()
    net = train_classifier(X_tr, y_tr)
    accuracy = float((net.predict(X_te) == y_te).mean())
    print(f"classifier: test accuracy {accuracy:.3f} ({time.perf_counter() - start:.1f} s)")

    results = []
    for source, target in PAIRS:
        queries = X_te[y_te == source]
        reference = X_tr[y_tr == target]
        start = time.perf_counter()
        c3lt = C3LT(net, source_class=source, target_class=target, device="cpu",
                    random_state=SEED).fit(X_tr, y_tr)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        X_cf, classes = c3lt.counterfactuals(queries)
        seconds = (time.perf_counter() - start) / len(queries)
        row = {"pair": f"{source}->{target}", "method": "C3LT", "fit_seconds": fit_seconds,
               "seconds_per_counterfactual": seconds,
               "validation_scores": c3lt.validation_scores_,
               **counterfactual_scores(queries, X_cf, classes, target, reference)}
        results.append(row)
        print(row)

        start = time.perf_counter()
        X_w = wachter(net, queries, target)
        seconds = (time.perf_counter() - start) / len(queries)
        classes = net.predict(X_w.astype(np.float32))
        row = {"pair": f"{source}->{target}", "method": f"Wachter (Adam, {STEPS} steps)",
               "fit_seconds": 0.0, "seconds_per_counterfactual": seconds,
               **counterfactual_scores(queries, X_w, classes, target, reference)}
        results.append(row)
        print(row)

    out = {
        "machine": "2-core AMD EPYC CPU, no GPU; one torch thread",
        "python": platform.python_version(), "torch": torch.__version__,
        "classifier": "skorch CNN on (N, 1, 8, 8) digits in [0, 1], 70/30 stratified split",
        "classifier_test_accuracy": accuracy,
        "baseline": {"steps": STEPS, "lambda_l1": LAM, "lr": BASELINE_LR},
        "c3lt_params": {k: v for k, v in C3LT(None).get_params().items()
                        if isinstance(v, (int, float, str, bool))},
        "results": results,
    }
    path = ROOT / "results" / "c3lt_digits.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
