"""Pinned values: the same seeds must give the same values.

Moving code between modules (model preparation, the amortized trainer, the coalition sampler)
or renaming parameters must not change what any explainer computes. These cases' values are
stored in ``data/pinned_values.npz``; each is run again here and compared. The tolerance covers
only float rounding that differs between CPUs (the CI machine is not the one the values were
written on); any change of behaviour, a coalition drawn differently, a seed consumed in another
order, is far larger.

Regenerate (only for a deliberate change of behaviour): ``python tests/test_pinned_values.py``.
"""

import pathlib

import numpy as np
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklxai_reference import tanh_classifier_task

from sklxai import (
    ExactShapley,
    FastSHAP,
    IntegratedGradients,
    KernelSHAP,
    PermutationSHAP,
    SimSHAP,
)

PINNED = pathlib.Path(__file__).parent / "data" / "pinned_values.npz"


def _task():
    return tanh_classifier_task(300, 5, 3, 16, seed=3)


def _pipeline_task():
    import pandas as pd
    from skorch import NeuralNetClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200),
                          "c": rng.choice(["x", "y", "z"], size=200)})
    y = ((frame["a"] > 0) ^ (frame["c"] == "x")).to_numpy().astype(np.int64)
    pre = ColumnTransformer([("num", StandardScaler(), ["a", "b"]),
                             ("cat", OneHotEncoder(sparse_output=False), ["c"])])
    torch.manual_seed(0)
    module = torch.nn.Sequential(_Float32(), torch.nn.Linear(5, 8), torch.nn.Tanh(),
                                 torch.nn.Linear(8, 2))
    net = NeuralNetClassifier(module, criterion=torch.nn.CrossEntropyLoss, max_epochs=2, lr=0.1,
                              train_split=None, verbose=0)
    pipe = Pipeline([("pre", pre), ("net", net)])
    return frame, pipe.fit(frame, y)


class _Float32(torch.nn.Module):
    """Casts the float64 rows a ColumnTransformer outputs, as skorch users do in pipelines."""

    def forward(self, X):
        return X.float()


def _amortized(cls, **extra):
    X, model = _task()
    # min_epoch_rows=1 and augment=None: one pass over fit's rows per epoch and no hybrid rows,
    # the settings these values were pinned with
    est = cls(model, n_background=20, n_coalitions=8, hidden_sizes=(16,), max_epochs=3,
              train_batch_size=64, min_epoch_rows=1, augment=None, validation_reference=None,
              device="cpu", random_state=0, **extra)
    return est.fit(X), X[:6]


def _case(name):
    X, model = _task()
    common = dict(n_background=20, device="cpu", random_state=0)
    if name == "exact":
        return ExactShapley(model, **common).fit(X), X[:6]
    if name == "kernel":
        return KernelSHAP(model, n_coalitions=12, **common).fit(X), X[:6]
    if name == "kernel_baseline_groups":
        return KernelSHAP(model, n_coalitions=6, game="baseline",
                          feature_groups=[[0, 1], [2], [3, 4]], **common).fit(X), X[:6]
    if name == "permutation":
        return PermutationSHAP(model, n_coalitions=16, **common).fit(X), X[:6]
    if name == "integrated_gradients":
        return IntegratedGradients(model, n_steps=16, **common).fit(X), X[:6]
    if name == "simshap":
        return _amortized(SimSHAP)
    if name == "simshap_sampled_background":
        return _amortized(SimSHAP, background_samples=4, refresh_every=None)
    if name == "fastshap":
        return _amortized(FastSHAP, refresh_every=1)
    if name == "kernel_surrogate":
        est = KernelSHAP(model, n_coalitions=12, game="surrogate",
                         surrogate_params={"hidden_sizes": (16,), "max_epochs": 2,
                                           "min_epoch_rows": 256}, **common)
        return est.fit(X), X[:6]
    if name == "pipeline_fast_path":
        frame, pipe = _pipeline_task()
        return KernelSHAP(pipe, n_coalitions=6, **common).fit(frame), frame.iloc[:6]
    raise KeyError(name)


CASES = ["exact", "kernel", "kernel_baseline_groups", "permutation", "integrated_gradients",
         "simshap", "simshap_sampled_background", "fastshap", "kernel_surrogate",
         "pipeline_fast_path"]


def _explain(name):
    est, X = _case(name)
    exp = est.explain(X)
    return np.asarray(exp.values, dtype=np.float64), np.asarray(exp.base_values, dtype=np.float64)


@pytest.mark.parametrize("name", CASES)
def test_values_unchanged(name):
    pinned = np.load(PINNED)
    values, base = _explain(name)
    np.testing.assert_allclose(values, pinned[f"{name}.values"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(base, pinned[f"{name}.base"], rtol=1e-6, atol=1e-9)


if __name__ == "__main__":
    torch.set_num_threads(1)
    arrays = {}
    for case in CASES:
        arrays[f"{case}.values"], arrays[f"{case}.base"] = _explain(case)
    PINNED.parent.mkdir(exist_ok=True)
    np.savez(PINNED, **arrays)
    print(f"wrote {len(CASES)} cases to {PINNED}")
