"""R-CBM against a flat CBM and a plain neural network on rock-paper-scissors over digit pairs.

The paper's claims (Barbiero et al., NeurIPS 2024), in small:

1. a flat CBM (each entity's concepts, no relations, a linear head over the concatenated
   concepts) cannot solve a relational task;
2. an R-CBM matches an unconstrained neural network's task accuracy while its concepts stay
   accurate;
3. intervening on concepts (setting them to their true values) fixes its errors.

Task: :func:`sklxai_rcbm.make_rps_digits` (two 8x8 digits, gesture = digit mod 3, label
win/lose/tie from the first digit's side; and, as a second setting, ties dropped). Concept
labels: each digit's gesture, one-hot. Models (same encoder widths, Adam, same epochs):

- flat CBM: ``RelationalCBMClassifier(head="linear")`` (no relations);
- R-CBM: ``RelationalCBMClassifier(head="rules")``: a weight for every atom and every
  conjunction of two atoms of the grounded pair;
- NN: a skorch ``NeuralNetClassifier`` MLP 128-64-32-k on the raw pixels, no concepts; and
  the same NN trained on four times as many pairs (of the same training images).

Run from the repository root, on one CPU thread::

    OMP_NUM_THREADS=1 python plugins/sklxai-rcbm/benchmarks/rcbm_digits.py

It writes ``results/rcbm_digits.json`` (``--out``) and prints a markdown table.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skorch import NeuralNetClassifier
from torch import nn

from sklxai_rcbm import RelationalCBMClassifier, make_rps_digits

ROOT = Path(__file__).resolve().parents[3]
COMMON = {"hidden_size": 64, "embedding_size": 32, "max_epochs": 30, "batch_size": 64, "lr": 0.01}


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


class MLP(nn.Module):
    """The unconstrained baseline: pixels of both digits -> hidden layers -> class logits."""

    def __init__(self, n_features, n_classes, hidden_size, embedding_size):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_features, hidden_size), nn.LeakyReLU(),
            nn.Linear(hidden_size, embedding_size), nn.LeakyReLU(),
            nn.Linear(embedding_size, n_classes))

    def forward(self, X):
        return self.layers(X)


def _fit_nn(X, y, seed):
    classes, y_idx = np.unique(y, return_inverse=True)
    net = NeuralNetClassifier(
        MLP, module__n_features=X.shape[1], module__n_classes=len(classes),
        module__hidden_size=COMMON["hidden_size"],
        module__embedding_size=COMMON["embedding_size"],
        criterion=nn.CrossEntropyLoss, optimizer=torch.optim.Adam, lr=COMMON["lr"],
        max_epochs=COMMON["max_epochs"], batch_size=COMMON["batch_size"],
        iterator_train__shuffle=True, train_split=None, verbose=0)
    torch.manual_seed(seed)
    net.fit(X.astype(np.float32), y_idx.astype(np.int64))
    return net, classes


def _cbm_metrics(model, test):
    concepts, _ = model.predict_concepts(test.data)
    pred = model.predict(test.data)
    fixed = model.intervene(test.data, concepts=test.concepts)
    wrong = pred != test.target
    return {
        "task_accuracy": float(np.mean(pred == test.target)),
        "concept_accuracy": float(np.mean((concepts > 0.5) == (test.concepts > 0.5))),
        "gesture_accuracy": float(np.mean(concepts.argmax(-1) == test.concepts.argmax(-1))),
        "accuracy_after_intervention": float(np.mean(fixed == test.target)),
        "errors_fixed_by_intervention": (float(np.mean(fixed[wrong] == test.target[wrong]))
                                         if wrong.any() else None),
    }


def run_setting(ties, seeds, n_train, n_test):
    """Every model on every seed for one tie rule; returns per-seed rows and means."""
    rows = []
    for seed in seeds:
        train = make_rps_digits(n_train, subset="train", ties=ties, random_state=seed)
        test = make_rps_digits(n_test, subset="test", ties=ties, random_state=seed)
        row = {"seed": seed}
        for name, head in (("flat_cbm", "linear"), ("rcbm", "rules")):
            start = time.perf_counter()
            model = RelationalCBMClassifier(
                head=head, concept_names=train.concept_names, entity_names=train.entity_names,
                random_state=seed, **COMMON)
            model.fit(train.data, train.target, concepts=train.concepts)
            row[name] = _cbm_metrics(model, test)
            row[name]["seconds"] = time.perf_counter() - start
            if name == "rcbm":
                row[name]["head_rules"] = {k: v[:3] for k, v in model.head_rules(3).items()}
        start = time.perf_counter()
        net, classes = _fit_nn(train.data, train.target, seed)
        pred = classes[net.predict(test.data.astype(np.float32))]
        row["nn"] = {"task_accuracy": float(np.mean(pred == test.target)),
                     "seconds": time.perf_counter() - start}
        # The NN has no concept labels; how much more data does it need to catch up?
        more = make_rps_digits(4 * n_train, subset="train", ties=ties, random_state=seed)
        start = time.perf_counter()
        net, classes = _fit_nn(more.data, more.target, seed)
        pred = classes[net.predict(test.data.astype(np.float32))]
        row["nn_4x_pairs"] = {"task_accuracy": float(np.mean(pred == test.target)),
                              "seconds": time.perf_counter() - start}
        rows.append(row)
        print(f"[{ties}] seed {seed}: flat {row['flat_cbm']['task_accuracy']:.3f} "
              f"rcbm {row['rcbm']['task_accuracy']:.3f} nn {row['nn']['task_accuracy']:.3f}",
              file=sys.stderr)
    summary = {}
    for model in ("flat_cbm", "rcbm", "nn", "nn_4x_pairs"):
        keys = [k for k, v in rows[0][model].items() if isinstance(v, float)]
        summary[model] = {}
        for k in keys:
            vals = np.array([r[model][k] for r in rows if r[model][k] is not None])
            summary[model][k] = {"mean": float(vals.mean()), "std": float(vals.std())}
    return {"ties": ties, "per_seed": rows, "summary": summary}


def _table(result):
    s = result["summary"]

    def cell(model, key):
        if key not in s[model]:
            return "-"
        return f"{s[model][key]['mean']:.3f} ± {s[model][key]['std']:.3f}"

    header = ("| model | task acc. | concept acc. | gesture acc. | acc. after intervention "
              "| seconds / fit |")
    lines = [f"ties={result['ties']!r}", "", header, "|---|---|---|---|---|---|"]
    for model, label in (("flat_cbm", "flat CBM (linear head)"), ("rcbm", "R-CBM (rules head)"),
                         ("nn", "plain NN (MLP)"),
                         ("nn_4x_pairs", "plain NN, 4x the training pairs")):
        lines.append(f"| {label} | {cell(model, 'task_accuracy')} | "
                     f"{cell(model, 'concept_accuracy')} | {cell(model, 'gesture_accuracy')} | "
                     f"{cell(model, 'accuracy_after_intervention')} | {cell(model, 'seconds')} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "rcbm_digits.json"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-test", type=int, default=2000)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    results = [run_setting(ties, args.seeds, args.n_train, args.n_test)
               for ties in ("class", "drop")]
    report = {
        "benchmark": "rcbm_digits",
        "task": "rock-paper-scissors over pairs of load_digits images; gesture = digit mod 3",
        "machine": f"{os.cpu_count()}-core {_cpu_name()}, no GPU; torch threads = "
                   f"{torch.get_num_threads()}",
        "torch": torch.__version__,
        "config": {**COMMON, "n_train_pairs": args.n_train, "n_test_pairs": args.n_test,
                   "seeds": args.seeds},
        "settings": results,
        "seconds_total": time.perf_counter() - start,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    for result in results:
        print(_table(result) + "\n")
    print(f"machine: {report['machine']}; total {report['seconds_total']:.1f} s; wrote {out}")


if __name__ == "__main__":
    main()
