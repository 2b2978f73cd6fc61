"""Pinned values: the same seeds must give the same values, on every CPU.

Each case fits an explainer with fixed seeds on a fixed model and data, explains six rows and
compares its values and base values with those stored in ``data/pinned_values.npz``. Moving
code between modules or renaming parameters must leave them as they are. A change of behaviour
moves them far beyond the tolerance: a coalition drawn differently or a seed consumed in another
order by 4e-3 to 0.3, and even a float32 round trip inside a float64 computation (KernelSHAP's
least-squares right-hand side) by 1e-9, which the float64 cases below refuse.

CPUs round differently: the SIMD path torch dispatches to (AVX-512, AVX2 or none), the BLAS
kernels and the thread count each sum in their own order, which changes a result by about one
unit in the last place of the dtype it is computed in. The tolerance is therefore derived from
that dtype, ``atol = ulps * eps(dtype) * scale`` with ``scale`` the largest model output among
the explained rows and the base values, and no relative tolerance (values near 0 carry the
absolute rounding error of the outputs they are differences of):

- The model-call explainers (exact, KernelSHAP, permutation, integrated gradients, the
  Pipeline fast path) compute in the model's dtype. They explain float64 models whose weights
  numpy draws (torch's initialisers round differently on different SIMD paths, by one float32
  unit), so their values agree across CPUs to about 1e-16; ``ulps`` is 2**10 (atol about 1e-13).
- The amortized explainers and KernelSHAP's surrogate game train a float32 network whatever
  the model's dtype. They explain a float32 model, and their values spread by up to 1.4 float32
  units of the output scale; ``ulps`` is 32 (atol about 2e-6 for outputs of scale 0.5).

Both spreads were measured on one AMD EPYC over ATen's AVX-512, AVX2 and default paths
(``ATEN_CPU_CAPABILITY``), MKL limited to SSE4.2 (``MKL_ENABLE_INSTRUCTIONS``), oneDNN limited
to SSE4.1 (``ONEDNN_MAX_CPU_ISA``) and one or two torch threads; on an Intel Xeon the float32
cases differ from their values on that EPYC by up to 8e-8, 1.3 units of their output scale.

Every case runs at one and two torch threads. ``test_pins_hold_on_the_portable_simd_path``
runs them again in a Python started with ``ATEN_CPU_CAPABILITY=default`` (torch's kernels
without vector instructions; the variable is read when torch starts). The exact case's pins are
also compared with brute-force Shapley values computed by ``sklxai_reference``.

Regenerate (only for a deliberate change of behaviour, one thread):
``python tests/test_pinned_values.py [case ...]`` rewrites the named cases (all without names)
from the code and keeps the others' stored values.
"""

import itertools
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklxai_reference import marginal_reference, tanh_classifier_task

from sklxai import (
    ExactShapley,
    FastSHAP,
    IntegratedGradients,
    KernelSHAP,
    PermutationSHAP,
    SimSHAP,
)

PINNED = pathlib.Path(__file__).parent / "data" / "pinned_values.npz"

#: the cases explaining a float64 model, whose explainer computes in the model's dtype
FLOAT64_CASES = ["exact", "kernel", "kernel_baseline_groups", "permutation",
                 "integrated_gradients", "pipeline_fast_path"]
#: the cases whose explainer trains a float32 network (explaining a float32 model)
FLOAT32_CASES = ["simshap", "simshap_sampled_background", "fastshap", "kernel_surrogate"]
CASES = FLOAT64_CASES + FLOAT32_CASES
#: units in the last place, of the dtype each case computes in, that rounding may move a value by
ULPS = {torch.float64: 2**10, torch.float32: 32}


def _mlp(sizes, seed, dtype):
    """A tanh MLP whose weights and biases numpy draws, uniform in +-1/sqrt(fan_in) (the range
    of torch's default initialisation), so that they are the same on every CPU."""
    rng = np.random.default_rng(seed)
    layers = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        linear = torch.nn.Linear(fan_in, fan_out, dtype=dtype)
        bound = 1 / np.sqrt(fan_in)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(rng.uniform(-bound, bound, (fan_out, fan_in))))
            linear.bias.copy_(torch.from_numpy(rng.uniform(-bound, bound, fan_out)))
        layers += [linear, torch.nn.Tanh()]
    return torch.nn.Sequential(*layers[:-1])


def _task(dtype):
    if dtype == torch.float32:
        return tanh_classifier_task(300, 5, 3, 16, seed=3)
    X, _ = make_classification(n_samples=300, n_features=5, n_informative=3, random_state=3)
    model = torch.nn.Sequential(_mlp((5, 16, 2), 3, torch.float64), torch.nn.Softmax(dim=-1))
    return X, model


def _pipeline_task():
    """A ColumnTransformer and a float64 skorch net trained two epochs from numpy's weights."""
    import pandas as pd
    from skorch import NeuralNetClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200),
                          "c": rng.choice(["x", "y", "z"], size=200)})
    y = ((frame["a"] > 0) ^ (frame["c"] == "x")).to_numpy().astype(np.int64)
    pre = ColumnTransformer([("num", StandardScaler(), ["a", "b"]),
                             ("cat", OneHotEncoder(sparse_output=False), ["c"])])
    torch.manual_seed(0)
    net = NeuralNetClassifier(_mlp((5, 8, 2), 0, torch.float64),
                              criterion=torch.nn.CrossEntropyLoss, max_epochs=2, lr=0.1,
                              train_split=None, verbose=0)
    pipe = Pipeline([("pre", pre), ("net", net)])
    return frame, pipe.fit(frame, y)


def _amortized(cls, **extra):
    X, model = _task(torch.float32)
    # min_epoch_rows=1 and augment=None: one pass over fit's rows per epoch and no hybrid rows,
    # the settings of the stored values
    est = cls(model, n_background=20, n_coalitions=8, hidden_sizes=(16,), max_epochs=3,
              train_batch_size=64, min_epoch_rows=1, augment=None, validation_reference=None,
              device="cpu", random_state=0, **extra)
    return est.fit(X), X[:6]


def _case(name):
    common = {"n_background": 20, "device": "cpu", "random_state": 0}
    if name == "pipeline_fast_path":
        frame, pipe = _pipeline_task()
        return KernelSHAP(pipe, n_coalitions=6, **common).fit(frame), frame.iloc[:6]
    if name == "simshap":
        return _amortized(SimSHAP)
    if name == "simshap_sampled_background":
        return _amortized(SimSHAP, background_samples=4, refresh_every=None)
    if name == "fastshap":
        return _amortized(FastSHAP, refresh_every=1)
    X, model = _task(_dtype(name))
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
    if name == "kernel_surrogate":
        est = KernelSHAP(model, n_coalitions=12, game="surrogate",
                         surrogate_params={"hidden_sizes": (16,), "max_epochs": 2,
                                           "min_epoch_rows": 256}, **common)
        return est.fit(X), X[:6]
    raise KeyError(name)


def _dtype(name):
    return torch.float64 if name in FLOAT64_CASES else torch.float32


def _explain(name):
    est, X = _case(name)
    exp = est.explain(X)
    return np.asarray(exp.values, dtype=np.float64), np.asarray(exp.base_values, dtype=np.float64)


def _tolerance(name, values, base):
    """``ulps`` units of the case's dtype, of the largest output among base and f(x)."""
    values, base = np.asarray(values), np.asarray(base)
    scale = max(np.abs(base).max(), np.abs(base + values.sum(axis=1)).max())
    dtype = _dtype(name)
    return ULPS[dtype] * torch.finfo(dtype).eps * scale


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def torch_threads(request):
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", CASES)
def test_values_unchanged(name, torch_threads):
    pinned = np.load(PINNED)
    expected_values, expected_base = pinned[f"{name}.values"], pinned[f"{name}.base"]
    atol = _tolerance(name, expected_values, expected_base)
    values, base = _explain(name)
    np.testing.assert_allclose(values, expected_values, rtol=0, atol=atol)
    np.testing.assert_allclose(base, expected_base, rtol=0, atol=atol)


def test_exact_pins_are_brute_force_shapley_values():
    """The exact case's pins against the textbook formula on the same model and background."""
    est, X = _case("exact")
    model = est.model
    background = np.asarray(est.background_, dtype=np.float64)

    def predict(Z):
        with torch.no_grad():
            return model(torch.as_tensor(Z, dtype=torch.float64)).numpy()

    pinned = np.load(PINNED)
    reference = np.stack([marginal_reference(predict, x, background) for x in X])
    atol = _tolerance("exact", pinned["exact.values"], pinned["exact.base"])
    np.testing.assert_allclose(pinned["exact.values"], reference, rtol=0, atol=atol)
    np.testing.assert_allclose(pinned["exact.base"], predict(background).mean(axis=0)[None]
                               .repeat(len(X), axis=0), rtol=0, atol=atol)


def test_pins_hold_on_the_portable_simd_path():
    """The cases in a Python whose torch runs its kernels without vector instructions
    (``ATEN_CPU_CAPABILITY=default``), as a CPU with another SIMD path would round."""
    if os.environ.get("ATEN_CPU_CAPABILITY") == "default":
        pytest.skip("this process already runs torch without vector instructions")
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
         "-k", "test_values_unchanged"],
        check=False, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


if __name__ == "__main__":
    torch.set_num_threads(1)
    names = sys.argv[1:] or CASES
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        sys.exit(f"unknown cases {unknown}; the cases are {CASES}")
    arrays = dict(np.load(PINNED)) if PINNED.exists() else {}
    for case in names:
        arrays[f"{case}.values"], arrays[f"{case}.base"] = _explain(case)
    PINNED.parent.mkdir(exist_ok=True)
    np.savez(PINNED, **{key: arrays[key] for key in sorted(arrays)})
    print(f"wrote {len(names)} of {len(CASES)} cases to {PINNED}")
