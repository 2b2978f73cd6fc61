"""Exact training targets from the tree game (``targets="exact"``): every coalition's value of a
boosted classifier's probabilities from its trees, combined into exact Shapley values, for as
many of fit's rows as the time budget affords."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklxai_reference import marginal_reference, tanh_classifier_task

from sklxai import SimSHAP
from sklxai.explainers._validation import game_exact_values

FAST = dict(n_background=12, hidden_sizes=(32,), train_batch_size=64, device="cpu",
            random_state=0, min_epoch_rows=1, max_epochs=2, validation_reference=None,
            verbose=0)


@pytest.fixture(scope="module")
def boosted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(240, 4))
    y = (X[:, 0] * X[:, 1] + X[:, 2] > 0).astype(int)
    return X, GradientBoostingClassifier(n_estimators=15, max_depth=2, random_state=0).fit(X, y)


def test_boosted_classifiers_train_on_exact_game_targets(boosted):
    X, model = boosted
    est = SimSHAP(model, augment=None, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    assert est.targets_ == "exact" and est.exact_target_rows_ is not None  # max_time="auto"
    # the targets the network regressed on are the brute-force values of predict_proba
    rows = X[:5]
    targets = game_exact_values(est.game_, est._null, est._model_rows(rows), 4)
    truth = np.stack([marginal_reference(model.predict_proba, x, est.background_) for x in rows])
    np.testing.assert_allclose(targets, truth, rtol=0, atol=1e-10)


def test_auto_targets_and_refusals(boosted):
    X, model = boosted
    X5, net = tanh_classifier_task(120, 5, 3, 8, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert SimSHAP(net, augment=None, **FAST).fit(X5).targets_ == "sampled"
        with pytest.raises(ValueError, match="targets='exact' needs a game"):
            SimSHAP(net, targets="exact", **FAST).fit(X5)
        with pytest.raises(ValueError, match="use targets='exact' for a boosted classifier"):
            SimSHAP(model, targets="tree", **FAST).fit(X)


def test_a_tight_budget_trains_on_the_rows_it_affords():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 6))
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, X[:, 0] > X[:, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # "auto" prefers sampled targets when few rows are affordable...
        auto = SimSHAP(model, augment=None, **dict(FAST, max_time=1e-4)).fit(X)
        assert auto.targets_ == "sampled" and auto.exact_target_rows_ is None
        # ...an explicit "exact" trains on a random subset of the rows it affords
        est = SimSHAP(model, augment=None, targets="exact", **dict(FAST, max_time=0.05)).fit(X)
    assert est.targets_ == "exact" and 2 <= est.exact_target_rows_ < len(X)
    assert est.net_.history[-1]["train_loss"] >= 0
    assert torch.isfinite(torch.as_tensor(est.explain(X[:3]).values)).all()
    # without a time budget every row gets its exact targets
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        free = SimSHAP(model, augment=None, **dict(FAST, max_time=None)).fit(X)
    assert free.targets_ == "exact" and free.exact_target_rows_ is None
