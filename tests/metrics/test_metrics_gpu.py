"""Metrics on CUDA agree with CPU (skipped without CUDA)."""

import numpy as np
import pytest
import torch

from sklxai.metrics import (
    count_sub_explanations,
    cross_testing,
    deletion_curve,
    faithfulness_correlation,
    insertion_auc,
)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.fixture
def net_and_data():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10),
                                torch.nn.Softmax(dim=1))
    X = np.random.default_rng(0).uniform(0, 1, size=(6, 64))
    attr = np.random.default_rng(1).normal(size=X.shape)
    return model, X, attr


def test_curves_and_correlation(net_and_data):
    model, X, attr = net_and_data
    for kw in ({}, {"image_shape": (8, 8), "patch_size": 2}):
        cpu = deletion_curve(model, X, attr, device="cpu", **kw)[1]
        gpu = deletion_curve(model, X, attr, device="cuda", **kw)[1]
        np.testing.assert_allclose(gpu, cpu, atol=1e-5)
    np.testing.assert_allclose(insertion_auc(model, X, attr, device="cuda", n_steps=8),
                               insertion_auc(model, X, attr, device="cpu", n_steps=8), atol=1e-5)
    kw = {"random_state": 0, "n_subsets": 20}
    np.testing.assert_allclose(faithfulness_correlation(model, X, attr, device="cuda", **kw),
                               faithfulness_correlation(model, X, attr, device="cpu", **kw),
                               atol=1e-4)


def test_cross_testing_and_sub_explanations(net_and_data):
    model, X, attr = net_and_data
    models = {"m": model}
    exps = {"m": attr, "neg": -attr}
    np.testing.assert_allclose(cross_testing(models, exps, X, device="cuda").scores,
                               cross_testing(models, exps, X, device="cpu").scores, atol=1e-5)
    kw = {"image_shape": (8, 8), "patch_size": 4, "threshold": 0.8}
    cpu = count_sub_explanations(model, X, device="cpu", **kw)
    gpu = count_sub_explanations(model, X, device="cuda", **kw)
    np.testing.assert_allclose(gpu.full_scores, cpu.full_scores, atol=1e-5)
    assert np.all(gpu.counts >= 1)
