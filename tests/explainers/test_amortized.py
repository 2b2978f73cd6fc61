"""SimSHAP and FastSHAP: unbiased targets, stratified design, training, model selection, saving."""

import itertools
import math
import types

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklxai_reference import (
    brute_force_shapley,
    random_table_game,
    table_values,
    tanh_classifier_task,
)
from skorch.callbacks import Callback

from sklxai import ExactShapley, FastSHAP, SimSHAP
from sklxai.explainers._targets import CoalitionStats, simshap_weights
from sklxai.explainers._trainer import AmortizedTrainer, kernel_design, simshap_loss
from sklxai.explainers.fastshap import fastshap_loss


@pytest.mark.parametrize("d, budget", [(4, 8), (5, 16), (6, 64), (7, 32)])
def test_design_expectation_is_exactly_the_shapley_value(d, budget):
    # E over the design = sum over enumerated S of p(S) a_S v(S) + rest mass * E_rest[a_S v(S)];
    # computed here by enumerating the remaining sizes with their kernel probabilities
    table, value = random_table_game(d)
    ref = brute_force_shapley(value, d)
    design = kernel_design(d, budget)
    assert np.isclose(design.enumerated_weights.sum() + design.rest_mass, 1.0)
    est = np.zeros_like(ref)
    enum = torch.as_tensor(design.enumerated)
    if len(enum):
        a = simshap_weights(enum).numpy()
        est += np.einsum("m,md,mk->dk", design.enumerated_weights, a,
                         table_values(table, enum).numpy())
    mass = np.array([(d - 1) / (s * (d - s)) for s in design.sizes])
    for s, q in zip(design.sizes, mass / mass.sum()):
        subsets = [torch.zeros(d, dtype=torch.bool).index_fill(0, torch.tensor(c), True)
                   for c in itertools.combinations(range(d), int(s))]
        subsets = torch.stack(subsets)
        a = simshap_weights(subsets).numpy()
        est += design.rest_mass * q / math.comb(d, int(s)) * np.einsum(
            "md,mk->dk", a, table_values(table, subsets).numpy())
    total = table[-1]
    np.testing.assert_allclose(est + total / d, ref, atol=1e-5)


@pytest.mark.parametrize("control", [False, True])
def test_sampled_targets_are_unbiased_and_each_is_efficient(control):
    d, n_draws = 6, 4000
    table, value = random_table_game(d, seed=1)
    ref = brute_force_shapley(value, d)
    design = kernel_design(d, 16)
    gen = torch.Generator().manual_seed(0)
    masks, weights = design.draw(n_draws, generator=gen, device=torch.device("cpu"))
    values = table_values(table, masks)  # (n, M, k)
    total = torch.as_tensor(table[-1], dtype=torch.float32).expand(n_draws, -1)
    c = None
    if control:  # any fixed efficient c keeps the targets unbiased
        c = torch.randn(1, d, 2).expand(n_draws, -1, -1).clone()
        c += ((total - c.sum(1)) / d)[:, None, :]
    targets = CoalitionStats.from_draw(masks, weights, values, total).simshap_targets(control=c)
    np.testing.assert_allclose(targets.sum(dim=1).numpy(), total.numpy(), atol=1e-4)
    mean = targets.mean(dim=0).numpy()
    sem = targets.std(dim=0).numpy() / math.sqrt(n_draws)
    assert np.all(np.abs(mean - ref) < 5 * sem + 1e-4)


def test_design_enumerates_extreme_sizes_when_budget_allows():
    design = kernel_design(12, 64)  # 24 coalitions of size 1 and 11 fit in half the budget
    sizes = design.enumerated.sum(axis=1)
    assert sorted(set(sizes)) == [1, 11] and len(sizes) == 24
    assert design.n_sampled == 40
    assert kernel_design(12, 32).enumerated.shape == (0, 12)


@pytest.fixture(scope="module")
def task():
    X, model = tanh_classifier_task(2100, 6, 4, hidden=32)
    bg = X[:20]
    ref = ExactShapley(model, background=bg, device="cpu").fit(X).explain(X[-100:]).values
    return model, X, bg, ref


def _rel_err(values, ref):
    n = len(ref)
    return (np.linalg.norm((values - ref).reshape(n, -1), axis=1).mean()
            / np.linalg.norm(ref.reshape(n, -1), axis=1).mean())


FAST = dict(hidden_sizes=(64, 64), max_epochs=15, n_coalitions=32, train_batch_size=32, lr=3e-3,
            min_epoch_rows=1, augment=None,  # one pass over fit's rows per epoch, as written for
            patience=15, device="cpu", random_state=0)


@pytest.mark.parametrize("cls", [SimSHAP, FastSHAP])
def test_training_reaches_a_modest_error_and_is_efficient(cls, task):
    clf, X, bg, ref = task
    est = cls(clf, background=bg, **FAST).fit(X[:-100])
    exp = est.explain(X[-100:])
    assert exp.values.shape == (100, 6, 2)
    assert exp.efficiency_gap < 1e-6
    with torch.no_grad():
        proba = clf(torch.as_tensor(X[-100:])).numpy()
    np.testing.assert_allclose(exp.output, proba, atol=1e-6)
    assert _rel_err(exp.values, ref) < 0.08
    assert len(est.history_) >= 2 and est.fit_time_ > 0
    # the best epoch's weights are kept
    losses = est.history_[:, "valid_loss"]
    assert np.isclose(min(losses), est.history_[:, "valid_loss"][int(np.argmin(losses))])


def test_same_random_state_identical_values_and_save_load(task, tmp_path):
    clf, X, bg, _ = task
    kw = dict(FAST, max_epochs=3)
    a = SimSHAP(clf, background=bg, **kw).fit(X[:500])
    b = SimSHAP(clf, background=bg, **kw).fit(X[:500])
    np.testing.assert_array_equal(a.transform(X[-10:]), b.transform(X[-10:]))
    path = tmp_path / "simshap.pt"
    a.save(path)
    loaded = SimSHAP.load(path, clf, device="cpu")
    np.testing.assert_array_equal(loaded.transform(X[-10:]), a.transform(X[-10:]))
    assert loaded.get_params()["n_coalitions"] == 32
    assert loaded.refresh_every_ == a.refresh_every_ == 8
    with pytest.raises(ValueError, match="holds a SimSHAP"):
        FastSHAP.load(path, clf)


def test_time_budget_inside_the_first_epoch_keeps_the_current_weights(task):
    clf, X, bg, _ = task
    kw = dict(FAST, max_epochs=1000, train_batch_size=8, max_time=0.3)
    est = SimSHAP(clf, background=bg, **kw).fit(X)
    assert "valid_loss" not in est.history_[-1]  # no epoch finished
    init = SimSHAP(clf, background=bg, **dict(kw, max_time=1e-9)).fit(X)
    assert est.score(X[:200]) > init.score(X[:200])  # the partial epoch's progress is kept


def test_time_budget_stops_training(task):
    clf, X, bg, _ = task
    est = SimSHAP(clf, background=bg, **dict(FAST, max_epochs=1000, max_time=0.5)).fit(X)
    assert len(est.history_) < 1000 and est.fit_time_ < 10
    assert est.explain(X[:3]).efficiency_gap < 1e-6


def test_score_ranks_a_trained_explainer_above_an_untrained_one(task):
    clf, X, bg, _ = task
    trained = SimSHAP(clf, background=bg, **dict(FAST, max_epochs=5)).fit(X[:-100])
    barely = SimSHAP(clf, background=bg, **dict(FAST, max_epochs=1, lr=1e-6)).fit(X[:-100])
    assert trained.score(X[-100:]) > barely.score(X[-100:])


def test_clone_params_and_grid_search(task):
    clf, X, bg, _ = task
    est = SimSHAP(clf, background=bg, **dict(FAST, max_epochs=2))
    c = clone(est)
    assert c.model is clf and c.get_params()["hidden_sizes"] == (64, 64)
    c.set_params(n_coalitions=16)
    assert c.n_coalitions == 16 and est.n_coalitions == 32
    search = GridSearchCV(est, {"lr": [1e-6, 3e-3]}, cv=2).fit(X[:400])
    assert search.best_params_ == {"lr": 3e-3}


def test_bad_parameters(task):
    clf, X, bg, _ = task
    with pytest.raises(ValueError, match="validation_fraction"):
        SimSHAP(clf, background=bg, validation_fraction=0.9, device="cpu").fit(X)
    with pytest.raises(ValueError, match="n_coalitions"):
        SimSHAP(clf, background=bg, n_coalitions=1, device="cpu").fit(X)
    with pytest.raises(ValueError, match="patience"):
        SimSHAP(clf, background=bg, patience=0, device="cpu").fit(X)


def test_the_trainer_owns_training_and_keeps_nothing_of_it(task):
    import pickle

    clf, X, bg, _ = task
    est = FastSHAP(clf, background=bg, **dict(FAST, max_epochs=2)).fit(X[:300])
    net = est.net_
    assert isinstance(net, AmortizedTrainer) and net.game is est.game_
    assert net.objective is fastshap_loss and net.refresh_every_ == est.refresh_every_ == 8
    assert all(value is not est for value in vars(net).values())  # no way back to the explainer
    assert net.stats_ is None and net.seen_ is None and net.fit_X_ is None  # released
    assert net.get_params()["n_coalitions"] == 32
    pickle.dumps(est)


def test_a_trainer_alone_learns_with_any_objective(task):
    from sklxai.explainers.networks import MLPExplainerModule
    from sklxai.games import MarginalGame
    from sklxai.models import make_adapter

    clf, X, bg, _ = task
    game = MarginalGame(make_adapter(clf, device="cpu"), bg)
    calls = []

    def objective(phi, stats):  # SimSHAP's loss without control variate, counted
        calls.append(phi.shape)
        return simshap_loss(phi, stats, control_variate=False)

    torch.manual_seed(0)
    net = AmortizedTrainer(MLPExplainerModule(6, 12, (32,)), game=game, objective=objective,
                           n_players=6, n_coalitions=16, refresh_every=None, seed=0,
                           optimizer=torch.optim.AdamW, lr=3e-3, max_epochs=4, batch_size=64,
                           device="cpu", verbose=0).fit(X[:400])
    assert calls and calls[0][1:] == (6, 2)
    losses = net.history[:, "valid_loss"]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert net.refresh_every_ is None and net.stats_ is None


def test_the_trainer_s_validation_step_returns_each_row_s_loss(task):
    from sklxai.explainers._trainer import efficient_attributions
    from sklxai.explainers.networks import MLPExplainerModule
    from sklxai.games import MarginalGame
    from sklxai.models import make_adapter

    clf, X, bg, _ = task
    game = MarginalGame(make_adapter(clf, device="cpu"), bg)
    rows = torch.as_tensor(X[:5], dtype=torch.float32)
    for exact in (None, torch.randn(300, 6, 2)):
        torch.manual_seed(0)
        net = AmortizedTrainer(MLPExplainerModule(6, 12, (16,)), game=game,
                               objective=simshap_loss, n_players=6, n_coalitions=8,
                               refresh_every=1, exact_targets=exact, seed=0, max_epochs=1,
                               device="cpu", verbose=0).initialize()
        net.on_train_begin(net, X=X[:300])
        step = net.validation_step((rows, torch.arange(5)))
        assert step["row_losses"].shape == (5,)
        assert float(step["loss"]) == pytest.approx(float(step["row_losses"].mean()), rel=1e-6)
        # each row alone (its validation draws stored by the batch above) has the same loss
        alone = [float(net.validation_step((rows[i : i + 1], torch.tensor([i])))["loss"])
                 for i in range(5)]
        np.testing.assert_allclose(step["row_losses"].numpy(), alone, rtol=1e-5)
        if exact is not None:  # the mean squared error to the exact targets, by hand
            phi = efficient_attributions(step["y_pred"], exact[:5].sum(dim=1), 6)
            np.testing.assert_allclose(step["row_losses"].numpy(),
                                       ((phi - exact[:5]) ** 2).mean(dim=(1, 2)).numpy(),
                                       rtol=1e-5)


def test_patience_none_trains_every_epoch_and_keeps_the_best(task):
    clf, X, bg, _ = task
    est = SimSHAP(clf, background=bg, **dict(FAST, max_epochs=6, patience=None)).fit(X[:400])
    losses = est.history_[:, "valid_loss"]
    assert len(losses) == 6
    best = est.history_[:, "valid_loss_best"]
    assert best[int(np.argmin(losses))] and sum(best) >= 1
    with pytest.raises(TypeError, match="module must be"):
        SimSHAP(clf, background=bg, module=lambda d, k: 3, max_epochs=1, device="cpu").fit(X)


def test_interrupted_training_keeps_the_best_weights_and_is_usable(task):
    from skorch.callbacks import Callback

    clf, X, bg, _ = task
    snapshots = []

    class Record(Callback):
        def on_epoch_end(self, net, **kwargs):
            snapshots.append({k: v.clone() for k, v in net.module_.state_dict().items()})

    class Interrupt(Callback):  # what Ctrl-C does in the middle of the fifth epoch
        def on_batch_end(self, net, **kwargs):
            if len(net.history) == 5 and len(net.history[-1, "batches"]) == 3:
                raise KeyboardInterrupt

    est = SimSHAP(clf, background=bg, callbacks=[Record(), Interrupt()],
                  **dict(FAST, max_epochs=50)).fit(X[:500])
    finished = est.history_[:4, "valid_loss"]
    best = int(np.argmin(finished))
    for name, value in est.module_.state_dict().items():
        assert torch.equal(value, snapshots[best][name]), name
    exp = est.explain(X[-5:])
    assert np.isfinite(exp.values).all() and exp.efficiency_gap < 1e-5


def test_training_through_an_accelerator(task, tmp_path, capsys):
    accelerate = pytest.importorskip("accelerate")
    clf, X, bg, _ = task
    acc = accelerate.Accelerator(cpu=True)
    est = SimSHAP(clf, background=bg, accelerator=acc, **dict(FAST, device="auto",
                                                               max_epochs=4)).fit(X[:500])
    assert type(est.net_).__name__ == "AcceleratedTrainer"
    assert "valid_loss" not in capsys.readouterr().out  # verbose=0 is silent
    assert isinstance(est.module_, torch.nn.Module) and not hasattr(est.module_, "module")
    losses = est.history_[:, "valid_loss"]
    assert len(losses) == 4 and min(losses[1:]) < losses[0]  # it learns
    exp = est.explain(X[-20:])
    assert exp.efficiency_gap < 1e-5
    plain = SimSHAP(clf, background=bg, **dict(FAST, max_epochs=4)).fit(X[:500])
    # the same training, one process on the CPU: the same explainer up to float rounding
    np.testing.assert_allclose(exp.values, plain.explain(X[-20:]).values, atol=1e-4)
    est.save(tmp_path / "acc.pt")  # the accelerator is not saved; the weights are
    again = SimSHAP.load(tmp_path / "acc.pt", clf, device="cpu")
    np.testing.assert_array_equal(again.explain(X[-20:]).values, exp.values)
    elsewhere = types.SimpleNamespace(device=torch.device("cuda", 1))
    with pytest.raises(ValueError, match="disagrees with the accelerator's device"):
        SimSHAP(clf, background=bg, accelerator=elsewhere, **FAST).fit(X[:50])


def test_a_tiny_fit_set_trains_for_the_promised_number_of_steps(task):
    clf, X, bg, _ = task
    steps = []

    class CountSteps(Callback):
        def on_batch_end(self, net, batch=None, training=False, **kwargs):
            steps.append(training)

    est = SimSHAP(clf, background=bg, hidden_sizes=(16,), max_epochs=3, patience=None,
                  train_batch_size=32, min_epoch_rows=640, augment=None, callbacks=[CountSteps()],
                  validation_reference=None, device="cpu", random_state=0).fit(X[:100])
    # 90 training rows, cycled through until 640 rows were visited: 20 steps per epoch
    assert sum(steps) == 3 * 20 and est.refresh_every_ == 1  # new draws every epoch
    big = SimSHAP(clf, background=bg, hidden_sizes=(16,), max_epochs=1, train_batch_size=32,
                  min_epoch_rows=64, augment=None, validation_reference=None, device="cpu",
                  random_state=0).fit(X[:200])
    assert len(big.history_) == 1 and big.refresh_every_ == 8  # one pass: 180 rows > 64


def test_a_diverging_epoch_is_undone_from_the_best_weights_at_half_the_rate(task):
    from skorch.callbacks import Callback

    clf, X, bg, _ = task
    seen = {}

    class Diverge(Callback):  # throws the weights off at the end of the third epoch
        def on_epoch_end(self, net, **kwargs):
            epoch = len(net.history)
            if epoch == 3:
                with torch.no_grad():
                    for p in net.module_.parameters():
                        p.mul_(50.0)
            if epoch == 4:  # after the rollback (the trainer's callbacks run first)
                best = dict(net.callbacks_)["early_stopping"].best_model_weights_
                seen["restored"] = all(torch.equal(v, best[k])
                                       for k, v in net.module_.state_dict().items())
                seen["lr"] = [g["initial_lr"] for g in net.optimizer_.param_groups]

    params = dict(FAST, max_epochs=8, patience=None, validation_reference=None)
    est = SimSHAP(clf, background=bg, callbacks=[Diverge()], **params).fit(X[:400])
    losses = est.history_[:, "valid_loss"]
    rollback = dict(est.net_.callbacks_)["divergence_rollback"]
    assert losses[3] > 8 * min(losses[:3])  # the fourth epoch diverged...
    assert rollback.rollbacks_ == [4] and est.history_[3]["rollback"]
    assert seen["restored"] and seen["lr"] == [FAST["lr"] / 2]  # ...and was undone
    assert min(losses[4:]) < 8 * min(losses[:3])  # training went on from there
    # without the rollback the diverged weights stay (the best ones only come back at the end)
    off = SimSHAP(clf, background=bg, callbacks=[Diverge()],
                  **dict(params, rollback_factor=None)).fit(X[:400])
    assert "divergence_rollback" not in dict(off.net_.callbacks_)
    assert not any("rollback" in row for row in off.history_)
    assert not seen["restored"]


def test_few_validation_rows_average_several_draws(task):
    from sklxai.explainers._trainer import draw_stats, resolve_validation_coalitions
    from sklxai.explainers.networks import MLPExplainerModule
    from sklxai.games import MarginalGame
    from sklxai.models import make_adapter

    clf, X, bg, _ = task
    # "auto": one draw of 2 n_coalitions per row from 2048 validation rows on, else 2048 // rows
    assert resolve_validation_coalitions("auto", 32, 4000) == 64
    assert resolve_validation_coalitions("auto", 32, 40) == 51 * 64
    assert resolve_validation_coalitions(130, 32, 40) == 3 * 64  # whole draws, rounded up
    game = MarginalGame(make_adapter(clf, device="cpu"), bg)
    net = AmortizedTrainer(MLPExplainerModule(6, 12, (8,)), game=game, objective=simshap_loss,
                           n_players=6, n_coalitions=8, refresh_every=1, valid_draws=3, seed=0,
                           device="cpu", verbose=0).initialize()
    rows = X[:10]
    net.on_train_begin(net, X=rows)
    Xt, ids = torch.as_tensor(rows), torch.arange(10)
    stats = net.get_stats(Xt, ids, training=False)
    # the same three draws, made one by one from the validation generator's start
    gen = torch.Generator().manual_seed(1)
    draws = [draw_stats(game, net.null_, net.valid_design_, Xt, gen) for _ in range(3)]
    assert torch.equal(stats.count, torch.full((10,), 3.0))
    for name in ("C", "b", "q"):
        expected = sum(getattr(s, name) for s in draws) / 3
        torch.testing.assert_close(stats._mean(name), expected, rtol=1e-5, atol=1e-7)
    again = net.get_stats(Xt, ids, training=False)  # stored: drawn once
    assert torch.equal(again.C, stats.C) and torch.equal(again.count, stats.count)
    est = SimSHAP(clf, background=bg, **dict(FAST, max_epochs=1, validation_reference=None))
    assert est.fit(X[:400]).validation_coalitions_ == 51 * 64 == 64 * est.net_.valid_draws


def test_output_features_are_the_outputs_then_their_clipped_log_odds():
    from sklxai.explainers._network import output_features

    p = torch.tensor([[0.0, 1.0], [0.25, 0.75], [1e-9, 1 - 1e-9]], dtype=torch.float64)
    out = output_features(p, log_odds=True).double().numpy()
    clipped = np.clip(p.numpy(), 1e-6, 1 - 1e-6)
    logit = np.log(clipped / (1 - clipped))  # written apart from the code it checks
    np.testing.assert_allclose(out, np.hstack([p.numpy(), logit]), rtol=1e-5, atol=1e-5)
    assert output_features(p, log_odds=False).shape == (3, 2)


def test_the_default_network_sees_the_models_outputs(task):
    clf, X, bg, _ = task
    kw = dict(FAST, max_epochs=2)
    est = SimSHAP(clf, background=bg, **kw).fit(X[:300])
    assert est.output_inputs_ and est.output_log_odds_  # probabilities: with their log-odds
    seen = []
    est.module_.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    est.explain(X[-5:])
    with torch.no_grad():
        proba = clf(torch.as_tensor(X[-5:], dtype=torch.float32)).double().numpy()
    p = np.clip(proba, 1e-6, 1 - 1e-6)
    expected = np.hstack([X[-5:], proba, np.log(p) - np.log1p(-p)])
    np.testing.assert_allclose(seen[0].double().numpy(), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(est.network_inputs(X[-5:]).double().numpy(), expected,
                               rtol=1e-4, atol=1e-4)

    plain = SimSHAP(clf, background=bg, output_inputs=False, **kw).fit(X[:300])
    assert not plain.output_inputs_ and plain.output_log_odds_ is None
    assert plain.module_.mlp[0].in_features == X.shape[1]

    def scores(x):  # outputs outside [0, 1]: no log-odds
        return 5.0 * clf(x)

    raw = SimSHAP(scores_module(scores), background=bg, **kw).fit(X[:300])
    assert raw.output_inputs_ and raw.output_log_odds_ is False
    assert raw.module_.mlp[0].in_features == X.shape[1] + 2


def test_a_custom_module_sees_the_rows_alone(task):
    clf, X, bg, _ = task
    d = X.shape[1]
    est = FastSHAP(clf, background=bg, module=torch.nn.Linear,
                   **dict(FAST, max_epochs=2)).fit(X[:300])
    assert not est.output_inputs_ and est.module_.in_features == d


def scores_module(fn):
    class Scores(torch.nn.Module):
        def forward(self, x):
            return fn(x)

    return Scores()
