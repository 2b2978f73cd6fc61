"""The learned surrogate game (FastSHAP's masked model) and game="surrogate" in the explainers."""

import itertools

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklxai_reference import brute_force_shapley

from sklxai import ExactShapley, KernelSHAP, PermutationSHAP, SimSHAP
from sklxai.games import SurrogateGame, SurrogateModule, fit_surrogate
from sklxai.games.coalitions import draw_surrogate_masks
from sklxai.models import make_adapter

D = 4
#: a surrogate that trains in about a second on one CPU thread
SMALL = {"hidden_sizes": (64, 64), "max_epochs": 10, "min_epoch_rows": 2048,
         "train_batch_size": 128}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small networks gain nothing from intra-op threads, and lose a lot on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def clf_data():
    X, y = make_classification(n_samples=400, n_features=D, n_informative=3, n_redundant=0,
                               n_classes=3, random_state=0)
    return LogisticRegression().fit(X, y), X


@pytest.fixture(scope="module")
def linear_data():
    X = np.random.default_rng(0).normal(size=(400, D)) * [1.0, 2.0, 0.5, 1.0] + [0, 3, -1, 0]
    return LinearRegression().fit(X, X @ [1.0, -2.0, 3.0, 0.5] + 1.0), X


@pytest.fixture(scope="module")
def exact_clf(clf_data):
    clf, X = clf_data
    return _small(ExactShapley(clf, game="surrogate", device="cpu", random_state=0)).fit(X)


def _small(est, **extra):
    """A Shapley explainer whose surrogate trains fast (its ``surrogate_params``)."""
    return est.set_params(surrogate_params=dict(SMALL, **extra))


def test_surrogate_with_all_features_matches_the_model(clf_data, exact_clf):
    clf, X = clf_data
    module = exact_clf.game_.module
    assert isinstance(module, SurrogateModule) and not module.training
    assert module.output == "softmax"
    Xt = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        full = module(Xt, torch.ones(len(X), D, dtype=torch.bool)).numpy()
    np.testing.assert_allclose(full.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(full - clf.predict_proba(X)).mean() < 0.04
    # nothing present: the same output for every row (absent features are the training mean)
    with torch.no_grad():
        empty = module(Xt[:5], torch.zeros(5, D, dtype=torch.bool)).numpy()
    np.testing.assert_allclose(empty, np.tile(empty[:1], (5, 1)), atol=1e-6)
    np.testing.assert_allclose(module.fill.numpy(), X.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_training_is_seeded(clf_data):
    clf, X = clf_data
    params = dict(SMALL, max_epochs=1, min_epoch_rows=256)
    a = fit_surrogate(make_adapter(clf), X, random_state=3, **params)
    b = fit_surrogate(make_adapter(clf), X, random_state=3, **params)
    for (name, wa), wb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(wa, wb), name


def test_training_uses_the_shared_callbacks_and_a_time_budget(clf_data):
    from sklxai.games.surrogate import _train_surrogate
    from sklxai.utils.callbacks import CosineDecay, TimeBudget

    clf, X = clf_data
    _, net, _ = _train_surrogate(make_adapter(clf), X, random_state=0,
                                 **dict(SMALL, max_epochs=1000, max_time=0))
    callbacks = dict(net.callbacks_)
    assert isinstance(callbacks["lr_decay"], CosineDecay)
    assert isinstance(callbacks["time_budget"], TimeBudget)
    assert callbacks["time_budget"].interrupted_  # a zero budget: one step
    assert len(net.history) == 1 and len(net.history[-1, "batches"]) == 1


def test_masks_mix_uniform_sizes_and_the_shapley_kernel():
    gen = torch.Generator().manual_seed(0)
    masks = draw_surrogate_masks(20_000, 6, generator=gen, device=torch.device("cpu"))
    sizes = masks.sum(dim=1).numpy()
    uniform, kernel = sizes[0::2], sizes[1::2]
    assert uniform.min() == 0 and uniform.max() == 6  # empty and full coalitions are seen
    np.testing.assert_allclose(np.bincount(uniform, minlength=7) / len(uniform), 1 / 7, atol=0.015)
    s = np.arange(1, 6)
    expected = 5 / (s * (6 - s))
    assert kernel.min() == 1 and kernel.max() == 5
    np.testing.assert_allclose(np.bincount(kernel, minlength=6)[1:] / len(kernel),
                               expected / expected.sum(), atol=0.015)


def test_game_values_are_the_module_on_masked_rows(clf_data):
    clf, X = clf_data
    game = SurrogateGame.fit(make_adapter(clf), X, random_state=0, **dict(SMALL, max_epochs=2))
    assert game.history is not None and game.fit_time > 0
    masks = torch.as_tensor(np.random.default_rng(1).random((7, D)) < 0.5)
    values = game.values(X[:3], masks)
    assert values.shape == (3, 7, 3)
    fill = X.mean(axis=0)
    for i in range(3):
        for j in range(7):
            m = masks[j].numpy()
            row = torch.as_tensor(np.where(m, X[i], fill), dtype=torch.float32)[None]
            with torch.no_grad():
                expected = game.module(row, masks[j][None])[0]
            torch.testing.assert_close(values[i, j], expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(game.full(X[:3]), game.values(X[:3], torch.ones(1, D))[:, 0])
    torch.testing.assert_close(game.empty_value().float(), game.null(X[:3])[0])
    with pytest.raises(ValueError, match="trained on 4"):
        game.values(X[:2, :3], masks[:, :3])


def test_exact_shapley_of_the_surrogate_matches_brute_force(clf_data, exact_clf):
    clf, X = clf_data
    est = exact_clf
    game = est.game_
    assert isinstance(game, SurrogateGame)
    module = game.module
    assert est.game_.module is module and isinstance(module, SurrogateModule)
    exp = est.explain(X[:3])
    assert exp.values.shape == (3, D, 3)
    fill = X.mean(axis=0)

    def g(x, S):  # the surrogate at coalition S, with plain torch
        mask = np.zeros(D, dtype=bool)
        mask[list(S)] = True
        row = torch.as_tensor(np.where(mask, x, fill), dtype=torch.float32)[None]
        with torch.no_grad():
            return module(row, torch.as_tensor(mask)[None])[0].double().numpy()

    for i in range(3):
        ref = brute_force_shapley(lambda S, x=X[i]: g(x, S), D)
        np.testing.assert_allclose(exp.values[i], ref, atol=1e-6)
        # efficient w.r.t. the surrogate's own full and empty values
        np.testing.assert_allclose(exp.output[i], g(X[i], range(D)), atol=1e-6)
        np.testing.assert_allclose(exp.base_values[i], g(X[i], ()), atol=1e-6)
        np.testing.assert_allclose(exp.values[i].sum(axis=0) + exp.base_values[i],
                                   exp.output[i], atol=1e-12)


def test_every_shapley_explainer_uses_the_same_seeded_surrogate(clf_data, exact_clf):
    clf, X = clf_data
    kw = dict(game="surrogate", device="cpu", random_state=0)
    exact = exact_clf.explain(X[:2])
    # the same random_state: the same surrogate, so KernelSHAP on all 14 coalitions is exact
    kernel = _small(KernelSHAP(clf, n_coalitions=100, **kw)).fit(X).explain(X[:2])
    np.testing.assert_allclose(kernel.values, exact.values, atol=1e-6)
    np.testing.assert_allclose(kernel.output, exact.output, atol=1e-7)
    perm = _small(PermutationSHAP(clf, n_coalitions=24, **kw), max_epochs=1).fit(X)
    assert isinstance(perm.game_, SurrogateGame)
    exp = perm.explain(X[:2])
    np.testing.assert_allclose(exp.output, perm.game_.full(X[:2]).numpy(), atol=1e-7)
    np.testing.assert_allclose(exp.values.sum(axis=1) + exp.base_values, exp.output,
                               atol=1e-6)


def test_surrogate_values_agree_with_marginal_ones_for_independent_linear(linear_data):
    reg, X = linear_data
    marginal = ExactShapley(reg, device="cpu", random_state=0).fit(X).explain(X[:40])
    est = _small(ExactShapley(reg, game="surrogate", device="cpu", random_state=0)).fit(X)
    assert est.game_.module.output == "identity"
    surrogate = est.explain(X[:40])
    assert surrogate.values.shape == (40, D)
    r = np.corrcoef(marginal.values.ravel(), surrogate.values.ravel())[0, 1]
    assert r > 0.9
    # the surrogate with every feature present approximates the model
    err = np.abs(surrogate.output - reg.predict(X[:40])).mean()
    assert err < 0.2 * reg.predict(X).std()


def test_simshap_with_surrogate_game_fits_explains_and_round_trips(clf_data, tmp_path,
                                                                   monkeypatch):
    clf, X = clf_data
    est = _small(SimSHAP(clf, game="surrogate", hidden_sizes=(32,), max_epochs=2,
                         n_coalitions=8, device="cpu", random_state=0)).fit(X)
    assert isinstance(est.game_, SurrogateGame)
    exp = est.explain(X[:5])
    assert exp.values.shape == (5, D, 3) and exp.base_values.shape == (5, 3)
    np.testing.assert_allclose(exp.values.sum(axis=1) + exp.base_values, exp.output,
                               atol=1e-5)
    np.testing.assert_allclose(exp.output, est.game_.full(X[:5]).numpy(), atol=1e-6)
    np.testing.assert_allclose(exp.base_values[0], est.game_.empty_value().numpy(), atol=1e-6)

    path = tmp_path / "simshap.pt"
    est.save(path)

    def no_training(*args, **kwargs):
        raise AssertionError("load must not retrain the surrogate")

    monkeypatch.setattr(SurrogateGame, "fit", no_training)
    loaded = SimSHAP.load(path, clf, device="cpu")
    assert isinstance(loaded.game_, SurrogateGame) and loaded.game_.history is None
    for (name, a), b in zip(est.game_.module.state_dict().items(),
                            loaded.game_.module.state_dict().values()):
        assert torch.equal(a, b), name
    again = loaded.explain(X[:5])
    np.testing.assert_array_equal(again.values, exp.values)
    np.testing.assert_array_equal(again.base_values, exp.base_values)
    np.testing.assert_array_equal(again.output, exp.output)


def test_surrogate_game_from_state_round_trip(linear_data):
    reg, X = linear_data
    adapter = make_adapter(reg)
    game = SurrogateGame.fit(adapter, X, random_state=1, **dict(SMALL, max_epochs=2))
    state = {k: v.clone() for k, v in game.module.state_dict().items()}
    rebuilt = SurrogateGame.from_state(adapter, game.get_config(), state)
    masks = torch.as_tensor(list(itertools.product([False, True], repeat=D)))
    torch.testing.assert_close(rebuilt.values(X[:4], masks), game.values(X[:4], masks),
                               rtol=0, atol=0)


def test_unknown_game_still_errors(clf_data):
    clf, X = clf_data
    with pytest.raises(ValueError, match="game must be one of .*surrogate.*got 'bogus'"):
        ExactShapley(clf, game="bogus", device="cpu").fit(X)
