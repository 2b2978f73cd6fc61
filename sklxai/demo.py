"""The end-to-end demo on the bundled Adult data: train a skorch MLP, explain, check vs exact.

Run it with ``python -m sklxai.demo`` (``--quick`` for a short run); besides the printed summary
it writes an HTML report (:func:`sklxai.make_report`, with the accuracy against exact values) to
``--report`` (default ``sklxai-demo-report.html`` in the working directory). The helpers
:func:`adult_features` and :func:`train_adult_mlp` are also what the benchmarks use, so every
figure in the README comes from the same model set-up.
"""

import argparse
import os
import time

import numpy as np

# lives in sklxai.metrics; the examples still import it from here
from sklxai.metrics import relative_error

#: where the demo writes its HTML report unless told otherwise (relative to the working directory)
DEFAULT_REPORT = "sklxai-demo-report.html"

#: the 12 features used by the SimSHAP/FastSHAP papers and shap's Adult copy
ADULT_FEATURES = [
    "age", "workclass", "education_num", "marital_status", "occupation", "relationship",
    "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
]


def adult_features():
    """Adult as standardised numeric arrays with the 12 usual features.

    Categorical columns are ordinal-encoded (missing values as their own category), then every
    column is standardised with the training split's statistics.

    Returns
    -------
    X_train, X_test : float32 ndarrays of shape (n, 12)
    y_train, y_test : int64 ndarrays
    feature_names : list of str
    """
    from sklearn.preprocessing import OrdinalEncoder, StandardScaler

    from sklxai.datasets import ADULT_CATEGORICAL, ADULT_COLUMNS, load_adult

    Xtr, ytr = load_adult("train", as_frame=False)
    Xte, yte = load_adult("test", as_frame=False)

    cols = [ADULT_COLUMNS.index(c) for c in ADULT_FEATURES]
    cat = [i for i, c in enumerate(ADULT_FEATURES) if c in ADULT_CATEGORICAL]
    Xtr, Xte = Xtr[:, cols], Xte[:, cols]
    for X in (Xtr, Xte):
        for j in cat:
            col = X[:, j]
            col[[v is None for v in col]] = "missing"
    enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    enc.fit(Xtr[:, cat])
    out = []
    for X in (Xtr, Xte):
        num = X.copy()
        num[:, cat] = enc.transform(X[:, cat])
        out.append(num.astype(np.float64))
    scaler = StandardScaler().fit(out[0])
    Xtr, Xte = (scaler.transform(X).astype(np.float32) for X in out)
    return Xtr, Xte, np.asarray(ytr, np.int64), np.asarray(yte, np.int64), list(ADULT_FEATURES)


def make_mlp(n_features, n_hidden=64, n_outputs=2):
    """The two-hidden-layer ReLU MLP used for Adult."""
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(n_features, n_hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(n_hidden, n_hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(n_hidden, n_outputs),
    )


def train_adult_mlp(X, y, *, max_epochs=10, device="cpu", random_state=0, verbose=0):
    """Train a skorch classifier (softmax over 2 classes) on Adult features."""
    import torch
    from skorch import NeuralNetClassifier

    torch.manual_seed(random_state)
    net = NeuralNetClassifier(
        make_mlp(X.shape[1]),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        batch_size=256,
        max_epochs=max_epochs,
        train_split=None,
        device=device,
        verbose=verbose,
    )
    return net.fit(X, y)


def run_demo(*, quick=False, n_explain=None, device="auto", random_state=0):
    """Train, explain held-out rows with KernelSHAP and check them against exact Shapley values.

    Returns
    -------
    report : dict
        Model accuracy, timings and the relative error of KernelSHAP against ExactShapley;
        also the fitted KernelSHAP (``"explainer"``), its Explanation (``"explanation"``) and
        the exact one (``"exact_explanation"``), which :func:`write_report` turns into HTML.
    """
    from sklxai import ExactShapley, KernelSHAP
    from sklxai.utils.validation import resolve_device

    dev = str(resolve_device(device))
    n_explain = n_explain or (20 if quick else 200)
    Xtr, Xte, ytr, yte, names = adult_features()
    if quick:
        Xtr, ytr = Xtr[:8000], ytr[:8000]
    t0 = time.perf_counter()
    net = train_adult_mlp(Xtr, ytr, max_epochs=3 if quick else 10, device=dev,
                          random_state=random_state)
    fit_s = time.perf_counter() - t0
    acc = float((net.predict(Xte) == yte).mean())
    try:  # with pandas, explanations carry the column names
        import pandas as pd

        Xtr, rows = pd.DataFrame(Xtr, columns=names), pd.DataFrame(Xte[:n_explain], columns=names)
    except ImportError:
        rows = Xte[:n_explain]
    kwargs = {"n_background": 50, "device": dev, "random_state": random_state}

    t0 = time.perf_counter()
    kernel = KernelSHAP(net, n_coalitions=512 if quick else 2048, **kwargs).fit(Xtr)
    kernel_fit_s = time.perf_counter() - t0
    exp = kernel.explain(rows)
    kernel_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = ExactShapley(net, **kwargs).fit(Xtr).explain(rows)
    exact_s = time.perf_counter() - t0
    return {
        "device": dev,
        "n_train": len(Xtr),
        "n_explained": len(rows),
        "model_accuracy": acc,
        "train_seconds": fit_s,
        "kernelshap_seconds": kernel_s,
        "kernelshap_fit_seconds": kernel_fit_s,
        "exact_seconds": exact_s,
        "kernelshap_relative_error": relative_error(exp.values, exact.values),
        "efficiency_gap": exp.efficiency_gap,
        "explanation": exp,
        "exact_explanation": exact,
        "explainer": kernel,
        "feature_names": names,
    }


def write_report(rep, path=DEFAULT_REPORT):
    """Write the HTML report of a :func:`run_demo` result to ``path``; return the path.

    The report (:func:`sklxai.make_report`) shows class '>50K' (output 1), KernelSHAP's
    settings and timings, and its accuracy against the exact Shapley values of the same rows.
    """
    from sklxai.explanation import Explanation
    from sklxai.report import make_report

    def named(e):  # the classes by their Adult labels rather than 0 and 1
        return Explanation(e.values, e.base_values, e.data, e.feature_names,
                           output_names=["<=50K", ">50K"], output=e.output, method=e.method)

    make_report(
        named(rep["explanation"]), path,
        explainer=rep["explainer"],
        reference=named(rep["exact_explanation"]),
        output=">50K",
        title="sklxai demo: KernelSHAP on Adult (skorch MLP)",
        timings={
            "skorch MLP training": rep["train_seconds"],
            "KernelSHAP fit": rep["kernelshap_fit_seconds"],
            f"KernelSHAP fit + explain {rep['n_explained']} rows": rep["kernelshap_seconds"],
            f"ExactShapley fit + explain {rep['n_explained']} rows": rep["exact_seconds"],
        },
        extra={
            "data": "bundled UCI Adult (12 features, standardised)",
            "training rows": rep["n_train"],
            "model test accuracy": rep["model_accuracy"],
            "device": rep["device"],
            "reference": "ExactShapley on the same rows and background",
        },
    )
    return path


def _print_report(rep):
    exp = rep["explanation"]
    print(f"Adult, skorch MLP on {rep['device']}: test accuracy {rep['model_accuracy']:.3f} "
          f"(trained on {rep['n_train']} rows in {rep['train_seconds']:.1f} s)")
    print(f"Explained {rep['n_explained']} held-out rows, class '>50K' (output 1):")
    high = exp.select_output(1)
    values = high.values
    order = np.argsort(-np.abs(values).mean(axis=0))
    print(f"  {'feature':<16}{'mean |phi|':>12}{'row 0 phi':>12}")
    for j in order:
        print(f"  {high.feature_names[j]:<16}{np.abs(values[:, j]).mean():>12.4f}"
              f"{values[0, j]:>12.4f}")
    print(f"  row 0: base value {high.base_values[0]:.4f} + sum of phi "
          f"{values[0].sum():.4f} = model output {high.output[0]:.4f}")
    print(f"KernelSHAP: {rep['kernelshap_seconds']:.2f} s; ExactShapley: "
          f"{rep['exact_seconds']:.2f} s")
    print(f"KernelSHAP relative error against exact Shapley values: "
          f"{100 * rep['kernelshap_relative_error']:.3f}%  "
          f"(efficiency gap {rep['efficiency_gap']:.1e})")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sklxai.demo",
        description="Train a skorch MLP on the bundled Adult data, explain held-out rows with "
        "KernelSHAP and report their accuracy against exact Shapley values.",
    )
    parser.add_argument("--quick", action="store_true", help="small, fast run (< 1 minute)")
    parser.add_argument("--rows", type=int, default=None, help="held-out rows to explain")
    parser.add_argument("--device", default="auto", help="'auto', 'cpu' or 'cuda'")
    parser.add_argument("--report", default=DEFAULT_REPORT, metavar="PATH",
                        help="where to write the HTML report (default: %(default)s in the "
                        "working directory); --no-report writes none")
    parser.add_argument("--no-report", action="store_true", help="write no HTML report")
    args = parser.parse_args(argv)
    path = None if args.no_report else args.report
    if path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        parser.error(f"--report: directory does not exist: {os.path.dirname(path)}")
    rep = run_demo(quick=args.quick, n_explain=args.rows, device=args.device)
    _print_report(rep)
    if path is not None:
        print(f"Report: {write_report(rep, path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
