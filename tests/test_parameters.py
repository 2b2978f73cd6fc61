"""Declared parameters, checked once: every parameter an explainer reads is a constructor
parameter with a declared constraint, so ``get_params``/``clone`` see it and ``fit`` checks it."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LinearRegression

import sklxai
from sklxai import KernelSHAP, SimSHAP
from sklxai.utils.param_validation import undeclared_params

CORE = ["exact", "exact_interactions", "kernel_interactions", "kernelshap", "permutation", "simshap", "fastshap", "integrated_gradients", "tree", "tree_interactions",
        "leverageshap", "msr", "sampling", "saliency", "input_x_gradient", "gradient_shap", "deeplift",
        "occlusion", "smoothgrad"]


@pytest.mark.parametrize("name", CORE)
def test_every_parameter_has_a_declared_constraint(name):
    assert undeclared_params(sklxai.get_explainer(name)) == []


@pytest.fixture(scope="module")
def linear():
    X = np.random.default_rng(0).normal(size=(120, 4))
    return X, LinearRegression().fit(X, X @ [1.0, -2.0, 0.5, 3.0])


@pytest.mark.parametrize("params, error, match", [
    ({"n_background": 0}, ValueError, "n_background must be >= 1"),
    ({"n_coalitions": 1}, ValueError, "n_coalitions must be >= 2"),
    ({"paired": "yes"}, TypeError, "paired must be True or False"),
    ({"game": "conditional"}, ValueError, "game must be one of"),
    ({"fast_path": "always"}, ValueError, "fast_path must be one of"),
    ({"surrogate_params": {"epochs": 3}}, ValueError, "unknown keys \\['epochs'\\]"),
    ({"surrogate_params": [("max_epochs", 3)]}, TypeError, "surrogate_params must be a dict"),
])
def test_fit_refuses_bad_parameters_naming_them(linear, params, error, match):
    X, model = linear
    with pytest.raises(error, match=match):
        KernelSHAP(model, **params).fit(X)


def test_surrogate_settings_are_parameters_kept_by_clone(linear):
    X, model = linear
    est = KernelSHAP(model, game="surrogate", n_coalitions=16, device="cpu", random_state=0,
                     surrogate_params={"hidden_sizes": (8,), "max_epochs": 2})
    assert clone(est).get_params()["surrogate_params"] == {"hidden_sizes": (8,),
                                                           "max_epochs": 2}
    est.fit(X)
    assert est.game_.module.hidden_sizes == (8,)  # the settings reached the surrogate


def test_simshap_on_a_grouped_surrogate_game_with_background_samples():
    # once an AttributeError: the surrogate game has no background to sample from, and
    # background_samples is ignored for it (documented), whatever the feature groups
    torch.manual_seed(0)
    X = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    est = SimSHAP(model, game="surrogate", feature_groups=[[0, 1], [2], [3]],
                  background_samples=4, max_epochs=2, hidden_sizes=(16,), device="cpu",
                  random_state=0, surrogate_params={"hidden_sizes": (16,), "max_epochs": 2})
    exp = est.fit(X).explain(X[:5])
    assert exp.values.shape == (5, 3)
    assert exp.efficiency_gap < 1e-5
