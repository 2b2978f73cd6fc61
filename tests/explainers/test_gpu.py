"""GPU runs agree with CPU runs (skipped without CUDA)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklxai_reference import tanh_classifier_task

from sklxai import ExactShapley, KernelSHAP, PermutationSHAP

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.mark.parametrize("make", [ExactShapley, KernelSHAP, PermutationSHAP])
def test_cuda_matches_cpu_on_a_skorch_net(make):
    from skorch import NeuralNetClassifier

    X, y = make_classification(n_samples=300, n_features=8, random_state=0)
    X = X.astype(np.float32)
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2)),
        criterion=torch.nn.CrossEntropyLoss, max_epochs=2, train_split=None, verbose=0,
    ).fit(X, y)
    kw = dict(n_background=20, random_state=0)
    cpu = make(net, device="cpu", **kw).fit(X).explain(X[:16])
    gpu = make(net, device="cuda", **kw).fit(X).explain(X[:16])
    # same coalitions and permutations (drawn by numpy); only float32 rounding differs
    np.testing.assert_allclose(gpu.values, cpu.values, atol=2e-5)
    assert gpu.efficiency_gap < 1e-6
    assert next(net.module_.parameters()).device.type == "cpu"  # user's net not moved


@pytest.mark.parametrize("name", ["SimSHAP", "FastSHAP"])
def test_amortized_training_on_cuda_with_stored_statistics(name):
    import sklxai

    X, model = tanh_classifier_task(2100, 6, 4, hidden=32)
    bg = X[:20]
    ref = ExactShapley(model, background=bg, device="cuda").fit(X).explain(X[-100:]).values
    est = getattr(sklxai, name)(model, background=bg, hidden_sizes=(64, 64), max_epochs=15,
                                train_batch_size=32, patience=None, device="cuda",
                                random_state=0).fit(X[:-100])
    assert est.refresh_every_ == 2  # "auto" off the CPU: epochs 1..14 redraw half the rows
    assert next(est.module_.parameters()).device.type == "cuda"
    exp = est.explain(X[-100:])
    assert exp.efficiency_gap < 1e-5
    err = (np.linalg.norm((exp.values - ref).reshape(100, -1), axis=1).mean()
           / np.linalg.norm(ref.reshape(100, -1), axis=1).mean())
    assert err < 0.1


@pytest.mark.parametrize("kind", ["forest", "boosting"])
def test_tree_shapley_on_cuda_matches_cpu(kind):
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier

    from sklxai import TreeShapley

    X, y = make_classification(n_samples=400, n_features=10, random_state=0)
    model = (RandomForestClassifier(30, random_state=0) if kind == "forest"
             else GradientBoostingRegressor(n_estimators=50, max_depth=5)).fit(X, y)
    cpu = TreeShapley(model, n_background=50, device="cpu").fit(X).explain(X[:64])
    gpu = TreeShapley(model, n_background=50, device="cuda").fit(X).explain(X[:64])
    np.testing.assert_allclose(gpu.values, cpu.values, atol=1e-10)  # float64 on both
    assert gpu.efficiency_gap < 1e-9


def test_tree_models_run_as_compiled_trees_on_cuda():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from sklxai.models import make_adapter
    from sklxai.models.trees import TreeAdapter

    X, y = make_classification(n_samples=300, n_features=6, random_state=0)
    model = HistGradientBoostingClassifier(max_iter=20).fit(X, y)
    adapter = make_adapter(model, device="cuda")
    assert isinstance(adapter, TreeAdapter) and adapter.device.type == "cuda"
    np.testing.assert_allclose(adapter.predict(X), model.predict_proba(X), atol=1e-12)


def test_tree_game_on_cuda_matches_the_cpu():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from sklxai.games import TreeGame

    X, y = make_classification(n_samples=300, n_features=8, random_state=0)
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    cpu = KernelSHAP(model, background=X[:30], n_coalitions=128, device="cpu",
                     random_state=0).fit(X)
    gpu = KernelSHAP(model, background=X[:30], n_coalitions=128, device="cuda",
                     random_state=0).fit(X)
    assert isinstance(gpu.game_, TreeGame) and gpu.game_.from_trees_
    np.testing.assert_allclose(gpu.explain(X[:16]).values, cpu.explain(X[:16]).values,
                               atol=1e-10)
