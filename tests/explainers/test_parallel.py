"""Row chunks through joblib: any n_jobs, any backend (Dask included) gives the same values."""

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.datasets import make_regression
from sklearn.linear_model import Ridge

import sklxai.explainers._shapley as shapley_module
from sklxai import ExactShapley, KernelSHAP, PermutationSHAP


@pytest.fixture(scope="module")
def task():
    X, y = make_regression(n_samples=120, n_features=5, random_state=0)
    return Ridge().fit(X, y), X


@pytest.fixture
def small_chunks(monkeypatch):
    # several chunks even for a few rows, so the rows really are split between jobs
    monkeypatch.setattr(shapley_module, "_VALUES_PER_CHUNK", 64)


@pytest.mark.parametrize("cls, kw", [(PermutationSHAP, {"n_coalitions": 12}),
                                     (KernelSHAP, {"n_coalitions": 8}),
                                     (ExactShapley, {})])
def test_values_do_not_depend_on_jobs_or_backend(cls, kw, task, small_chunks):
    model, X = task
    est = cls(model, n_background=10, device="cpu", random_state=0, **kw).fit(X)
    local = est.explain(X[:40])
    threaded = est.set_params(n_jobs=2).explain(X[:40])
    with parallel_config(backend="threading", n_jobs=3):
        configured = est.set_params(n_jobs=None).explain(X[:40])
    np.testing.assert_array_equal(threaded.values, local.values)
    np.testing.assert_array_equal(configured.values, local.values)
    np.testing.assert_allclose(local.values.sum(1) + local.base_values, local.output, atol=1e-8)


def test_dask_local_cluster_gives_the_local_values(task, small_chunks):
    distributed = pytest.importorskip("distributed")
    model, X = task
    est = PermutationSHAP(model, n_coalitions=12, n_background=10, device="cpu",
                          random_state=0).fit(X)
    local = est.explain(X[:30])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with parallel_config(backend="dask", n_jobs=-1):
            remote = est.explain(X[:30])
        assert client.run(lambda: 1)  # the work ran against the cluster's two workers
    np.testing.assert_array_equal(remote.values, local.values)
    np.testing.assert_array_equal(remote.output, local.output)


def test_verbose_shows_progress_and_silent_by_default(task, capsys):
    model, X = task
    est = KernelSHAP(model, n_coalitions=8, n_background=10, device="cpu", random_state=0)
    est.fit(X).explain(X[:20])
    assert capsys.readouterr().err == ""
    est.set_params(verbose=1).explain(X[:20])
    err = capsys.readouterr().err
    assert "KernelSHAP" in err and "/20" in err
