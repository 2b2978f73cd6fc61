"""Cross-testing matrix: labels, shape, and every entry against deletion/insertion AUCs."""

import numpy as np
import pytest
import torch

from sklxai.metrics import (
    CrossTestingResult,
    cross_testing,
    deletion_auc,
    insertion_auc,
)


def linear(W):
    m = torch.nn.Linear(W.shape[1], W.shape[0], bias=False).double()
    with torch.no_grad():
        m.weight.copy_(torch.as_tensor(W))
    return m


@pytest.fixture
def setup():
    rng = np.random.default_rng(0)
    d = 6
    Ws = {"a": rng.normal(size=(3, d)), "b": rng.normal(size=(3, d))}
    models = {k: linear(W) for k, W in Ws.items()}
    X = rng.normal(size=(8, d))
    y = rng.integers(0, 3, size=8)
    # each model's contributions to the true class
    exps = {k: X * W[y] for k, W in Ws.items()}
    return models, exps, X, y, Ws


def test_matrix_matches_auc_functions(setup):
    models, exps, X, y, _ = setup
    for metric, auc in (("deletion", deletion_auc), ("insertion", insertion_auc)):
        res = cross_testing(models, exps, X, metric=metric, target=y, device="cpu")
        assert isinstance(res, CrossTestingResult)
        assert res.scores.shape == (2, 2) and res.per_row.shape == (2, 2, 8)
        assert res.explanation_names == ["a", "b"] and res.model_names == ["a", "b"]
        assert res.metric == metric
        for i, ea in enumerate(exps):
            for j, mb in enumerate(models):
                expected = auc(models[mb], X, exps[ea], target=y, device="cpu")
                np.testing.assert_allclose(res.per_row[i, j], expected, atol=1e-12)
                np.testing.assert_allclose(res.scores[i, j], expected.mean(), atol=1e-12)


def test_own_explanations_win_on_the_diagonal(setup):
    """Exact contributions are the best order for their own (linear) model."""
    models, exps, X, y, _ = setup
    res = cross_testing(models, exps, X, target=y, device="cpu")
    assert res.scores[0, 0] <= res.scores[1, 0] and res.scores[1, 1] <= res.scores[0, 1]
    res = cross_testing(models, exps, X, metric="insertion", target=y, device="cpu")
    assert res.scores[0, 0] >= res.scores[1, 0] and res.scores[1, 1] >= res.scores[0, 1]


def test_default_target_is_each_models_prediction(setup):
    models, exps, X, _y, Ws = setup
    res = cross_testing(models, exps, X, device="cpu")
    for j, (name, model) in enumerate(models.items()):
        # deletion_auc with target=None scores the same model's predicted class
        expected = deletion_auc(model, X, exps["a"], device="cpu")
        np.testing.assert_allclose(res.per_row[0, j], expected, atol=1e-12)
        pred = (X @ Ws[name].T).argmax(1)
        np.testing.assert_allclose(
            expected, deletion_auc(model, X, exps["a"], target=pred, device="cpu"), atol=1e-12)


def test_extra_explanations_and_frame(setup):
    models, exps, X, y, _ = setup
    exps = {**exps, "random": np.random.default_rng(1).normal(size=X.shape)}
    res = cross_testing(models, exps, X, target=y, n_steps=3, device="cpu")
    assert res.scores.shape == (3, 2)
    frame = res.to_frame()
    assert list(frame.index) == ["a", "b", "random"] and list(frame.columns) == ["a", "b"]
    np.testing.assert_allclose(frame.to_numpy(), res.scores)
    expected = deletion_auc(models["b"], X, exps["random"], target=y, n_steps=3, device="cpu")
    np.testing.assert_allclose(frame.loc["random", "b"], expected.mean(), atol=1e-12)


def test_three_dim_explanations_take_the_target_slice(setup):
    models, exps, X, y, Ws = setup
    full = {k: X[:, :, None] * W.T[None] for k, W in Ws.items()}   # (n, d, k)
    res = cross_testing(models, full, X, target=y, device="cpu")
    np.testing.assert_allclose(res.scores, cross_testing(models, exps, X, target=y,
                                                         device="cpu").scores, atol=1e-12)
    # without a target: each explanation's slice is the class its own model predicts
    own = {k: full[k][np.arange(len(X)), :, (X @ Ws[k].T).argmax(axis=1)] for k in full}
    np.testing.assert_allclose(cross_testing(models, full, X, device="cpu").scores,
                               cross_testing(models, own, X, device="cpu").scores, atol=1e-12)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"models": [1, 2]}, TypeError, "models"),
    ({"models": {}}, ValueError, "models"),
    ({"explanations": [np.zeros((8, 6))]}, TypeError, "explanations"),
    ({"explanations": {"a": np.zeros((8, 5))}}, ValueError, "explanations"),
    ({"metric": "auc"}, ValueError, "metric"),
])
def test_bad_input(setup, kwargs, error, match):
    models, exps, X, _y, _ = setup
    args = {"models": models, "explanations": exps, **kwargs}
    with pytest.raises(error, match=match):
        cross_testing(args.pop("models"), args.pop("explanations"), X, device="cpu", **args)
