"""Exact training targets from the tree game (``targets="exact"``): every coalition's value of a
boosted classifier's probabilities from its trees, combined into exact Shapley values; and
their unbiased sub-background version under a tight time budget."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklxai_reference import marginal_reference, tanh_classifier_task

from sklxai import SimSHAP
from sklxai.explainers._validation import _sub_background_game, game_exact_values
from sklxai.games.trees import TreeGame

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
    assert est.targets_ == "exact" and est.exact_background_rows_ is None
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


def test_the_marginal_game_is_the_mean_of_its_one_row_games(boosted):
    # the premise of sub-background targets: exact values on the whole background are the mean
    # of the exact values on each background row alone, so a random subset is unbiased
    X, model = boosted
    est = SimSHAP(model, augment=None, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    rows = est._model_rows(X[:4])
    full = game_exact_values(est.game_, est._null, rows, 4)
    game = est.game_
    singles = []
    for b in range(len(game.background)):
        one = TreeGame(game.adapter, game.trees, game.background[b : b + 1].cpu())
        singles.append(game_exact_values(one, one.empty_value().double(), rows, 4))
    np.testing.assert_allclose(np.mean(singles, axis=0), full, rtol=0, atol=1e-12)
    # and a subset of every row is the whole background
    whole = game_exact_values(game, est._null, rows, 4, background_rows=len(game.background),
                              generator=np.random.default_rng(0))
    np.testing.assert_allclose(whole, full, rtol=0, atol=1e-12)
    sub = _sub_background_game(game, 3, np.random.default_rng(0))
    assert isinstance(sub, TreeGame) and len(sub.background) == 3


def test_a_tight_budget_takes_fewer_background_rows():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 6))
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, X[:, 0] > X[:, 1])
    kw = dict(FAST, n_background=40, max_time=1e-3)  # far too short for the whole background
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = SimSHAP(model, augment=None, **kw).fit(X)
    assert est.targets_ == "exact"
    assert est.exact_background_rows_ is not None and 1 <= est.exact_background_rows_ < 40
    assert torch.isfinite(torch.as_tensor(est.explain(X[:3]).values)).all()
