"""RES vs GRADIA vs plain training on digits with a spurious corner marker and noisy masks.

Training digits carry a 2x2 corner marker that spells their (training) label; test digits carry
a marker spelling a random label. A fraction of the training labels is flipped (marker included),
so the marker predicts the training label better than the digit does and plain training learns
the shortcut (the Colored-MNIST recipe). The annotation masks are the digit strokes, corrupted at
several noise levels (each mask, with probability ``noise``, dilated, eroded or half missing;
:func:`sklxai_res.datasets.corrupt_masks`).

Reported per method and noise level, over seeds: test accuracy (clean labels, random marker),
how often the prediction is the label the marker spells, and the IoU between the normalized
Grad-CAM map (thresholded at 0.5, the reference code's rule) of the predicted class and the
clean stroke mask of the test digits; plus training seconds. Runs on one CPU thread::

    OMP_NUM_THREADS=1 python plugins/sklxai-res/benchmarks/res_digits.py

and writes ``results/res_digits.json`` (relative to the working directory).
"""

import argparse
import json
import os
import platform
import time
import warnings

import numpy as np
import torch
from sklxai_res import GRADIANetClassifier, RESNetClassifier
from sklxai_res.datasets import make_spurious_digits


class GapCNN(torch.nn.Module):
    """Two 3x3 conv layers, global average pooling, a linear head: Grad-CAM at ``act2`` is CAM,
    the exact split of each logit over positions (as for the ResNet-50 of the RES paper)."""

    def __init__(self, width=16):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, width, 3, padding=1)
        self.act1 = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(width, 2 * width, 3, padding=1)
        self.act2 = torch.nn.ReLU()
        self.fc = torch.nn.Linear(2 * width, 10)

    def forward(self, X):
        return self.fc(self.act2(self.conv2(self.act1(self.conv1(X)))).mean(dim=(2, 3)))


def iou(maps, masks):
    """Mean over images of IoU(map > 0.5, mask > 0.5)."""
    a, b = maps > 0.5, masks > 0.5
    return float(np.mean((a & b).sum((1, 2)) / np.maximum((a | b).sum((1, 2)), 1)))


def run_one(method, noise, seed, args):
    data = make_spurious_digits(noise=noise, label_noise=args.label_noise, random_state=seed)
    torch.manual_seed(seed)
    cls = RESNetClassifier if method == "res" else GRADIANetClassifier
    net = cls(
        GapCNN, module__width=args.width, cam_layer="act2", optimizer=torch.optim.Adam,
        lr=args.lr, max_epochs=args.epochs, batch_size=64, train_split=None, verbose=0,
        explanation_weight=args.explanation_weight,
    )
    X = data.X_train if method == "plain" else {"X": data.X_train, "mask": data.masks_train}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "plain" is fit without masks on purpose
        net.fit(X, data.y_train)
    seconds = time.perf_counter() - start
    pred = net.predict(data.X_test)
    return {
        "seed": seed,
        "test_acc": float(np.mean(pred == data.y_test)),
        "follows_marker": float(np.mean(pred == data.marker_test)),
        "iou": iou(net.saliency(data.X_test), data.true_masks_test),
        "train_seconds": seconds,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--label-noise", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--explanation-weight", type=float, default=1.0)
    parser.add_argument("--out", default=os.path.join("results", "res_digits.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    started = time.perf_counter()
    rows = []
    runs = [("plain", None)] + [(m, z) for z in args.noise for m in ("gradia", "res")]
    for method, noise in runs:
        per_seed = [run_one(method, noise or 0.0, seed, args) for seed in args.seeds]
        row = {"method": method, "mask_noise": noise, "runs": per_seed}
        for key in ("test_acc", "follows_marker", "iou", "train_seconds"):
            values = [r[key] for r in per_seed]
            row[key] = float(np.mean(values))
            row[key + "_std"] = float(np.std(values))
        rows.append(row)
        shown = "-" if noise is None else f"{noise:.2f}"
        print(f"{method:7s} noise={shown:5s} acc={row['test_acc']:.3f}±{row['test_acc_std']:.3f} "
              f"marker={row['follows_marker']:.3f} iou={row['iou']:.3f}±{row['iou_std']:.3f} "
              f"({row['train_seconds']:.1f} s/run)", flush=True)
    result = {
        "benchmark": "res_digits",
        "description": __doc__.split("\n\n")[0].replace("\n", " "),
        "machine": {
            "cpu": "2-core AMD EPYC (shared with other jobs), no GPU",
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "config": {k: v for k, v in vars(args).items() if k != "out"},
        "model": "GapCNN: conv3x3(1->w) ReLU conv3x3(w->2w) ReLU [cam_layer act2, 8x8] GAP linear",
        "metrics": {
            "test_acc": "accuracy on clean test labels; test markers spell a random label",
            "follows_marker": "fraction of test predictions equal to the marker's label",
            "iou": "IoU(Grad-CAM of predicted class > 0.5, clean stroke mask), test mean",
        },
        "total_seconds": time.perf_counter() - started,
        "rows": rows,
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(f"wrote {args.out} in {result['total_seconds']:.0f} s")


if __name__ == "__main__":
    main()
