"""The one memory budget: scikit-learn's working_memory on the CPU drives every chunk size, and
chunking never changes a value."""

import numpy as np
import pytest
import sklearn
import torch
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor

from sklxai import KernelSHAP, TreeShapley
from sklxai.utils.memory import CUDA_SHARE, chunk_size, element_budget, memory_budget


def test_working_memory_sets_the_cpu_budget():
    with sklearn.config_context(working_memory=3):
        assert memory_budget("cpu") == 3 * 2**20
        assert element_budget("cpu") == 3 * 2**17
        assert chunk_size(1000, "cpu") == 3 * 2**20 // 1000
        assert chunk_size(1000, "cpu", maximum=7) == 7
        assert chunk_size(10**12, "cpu") == 1  # one item at least


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_cuda_budget_is_a_share_of_free_memory():
    free, _ = torch.cuda.mem_get_info()
    with sklearn.config_context(working_memory=2**30):  # no cap from working_memory
        assert memory_budget("cuda") <= int(free * CUDA_SHARE) * 1.05


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8))
    return X, X[:, 0] * X[:, 1] + np.sin(X[:, 2]) + X[:, 3]


@pytest.mark.parametrize("model", [
    GradientBoostingRegressor(n_estimators=15, max_depth=3, random_state=0),
    RandomForestRegressor(n_estimators=5, random_state=0),  # deep: walked trees
])
def test_tree_values_do_not_depend_on_the_budget(data, model):
    X, y = data
    model = model.fit(X, y)
    big = TreeShapley(model, n_background=40, device="cpu", random_state=0).fit(X)
    with sklearn.config_context(working_memory=0.01):  # ~10 kB: many tiny chunks
        small = TreeShapley(model, n_background=40, device="cpu", random_state=0).fit(X)
        tiny = small.explain(X[:25])
    ref = big.explain(X[:25])
    np.testing.assert_allclose(tiny.values, ref.values, rtol=0, atol=1e-12)
    # and both are exact: efficiency against the model's own predictions
    np.testing.assert_allclose(ref.values.sum(axis=1) + ref.base_values, model.predict(X[:25]),
                               rtol=0, atol=1e-9)


def test_kernel_values_do_not_depend_on_the_budget(data):
    X, y = data
    model = GradientBoostingRegressor(n_estimators=10, max_depth=2, random_state=0).fit(X, y)
    kw = dict(n_background=20, n_coalitions=64, device="cpu", random_state=0)
    ref = KernelSHAP(model, **kw).fit(X).explain(X[:6]).values
    with sklearn.config_context(working_memory=0.01):
        small = KernelSHAP(model, **kw).fit(X).explain(X[:6]).values
    np.testing.assert_allclose(small, ref, rtol=0, atol=1e-12)
