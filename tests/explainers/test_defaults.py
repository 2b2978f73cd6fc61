"""Defaults that finish and show progress: the amortized explainers' default time budget
(max_time="auto", background_samples="auto", the validation's rows) and verbose="auto".

No test here is timed: each checks what the estimator records (its budget, the time budget
callback's state, the rows and background rows it used) against the rules it states, with the
game's measured cost or the progress threshold replaced where the rule depends on them.
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression

import sklxai.explainers._budget as budget
import sklxai.utils.callbacks as callbacks
from sklxai import ExactShapley, FastSHAP, KernelSHAP, PermutationSHAP, SimSHAP, TreeShapley
from sklxai.exceptions import AccuracyWarning

SMALL = {"n_background": 10, "hidden_sizes": (8,), "train_batch_size": 64, "min_epoch_rows": 64,
         "augment": None, "device": "cpu", "random_state": 0}


@pytest.fixture(scope="module")
def task():
    X = np.random.default_rng(0).normal(size=(200, 4))
    return LinearRegression().fit(X, X @ [1.0, -2.0, 0.5, 3.0]), X


def _budget_callback(est):
    return dict(est.net_.callbacks_)["time_budget"]


@pytest.mark.parametrize("cls", [SimSHAP, FastSHAP])
def test_default_budget_ends_a_long_training(cls, task, monkeypatch):
    # the whole fit's budget shrunk to 1 s: training gets what is left after the preparation
    # and the validation's expected cost, and the budget stops it long before its epochs end
    monkeypatch.setattr(budget, "AUTO_FIT_SECONDS", 1.0)
    model, X = task
    with warnings.catch_warnings():  # a network this short-trained is usually warned about
        warnings.simplefilter("ignore", AccuracyWarning)
        est = cls(model, max_epochs=10**5, **SMALL).fit(X)
    assert est.get_params()["max_time"] == "auto"
    assert 0.0 <= est.max_time_ <= 1.0
    stopper = _budget_callback(est)
    assert stopper.seconds == est.max_time_
    assert stopper.interrupted_ and stopper.stopped_after_ >= est.max_time_
    assert len(est.history_) < est.max_epochs_ == 10**5


def test_a_training_that_keeps_pace_does_not_depend_on_the_clock(task):
    # with the default budget far off, the learning rate follows the epochs alone: the same
    # network as without any time limit, and no stop by the budget
    model, X = task
    kw = dict(SMALL, max_epochs=2, validation_reference=None)
    timed = SimSHAP(model, **kw).fit(X)
    untimed = SimSHAP(model, max_time=None, **kw).fit(X)
    assert timed.max_time_ > 100 and untimed.max_time_ is None
    assert not _budget_callback(timed).interrupted_
    np.testing.assert_array_equal(timed.explain(X[:5]).values, untimed.explain(X[:5]).values)


@pytest.mark.filterwarnings("ignore::sklxai.exceptions.AccuracyWarning")
def test_a_slow_game_gets_fewer_background_rows_and_validation_rows(task, monkeypatch):
    # a game said to cost 0.4464 s per coalition value: the exact reference (2**4 coalitions a
    # row) fits 3 rows into the validation's 25 s, training gets 120 s minus their 21.4 s and
    # what fit spent before, and the first epoch's draws with the whole background (10 rows)
    # would take far more than a quarter of that, so each target averages 1 background row
    # (the draws' own measurement says so too: 0.05 s a draw, 1 ms a model row)
    cost = 25.0 / 3.5 / 16
    monkeypatch.setattr(budget, "coalition_cost", lambda game, X, d: cost)
    monkeypatch.setattr(budget, "draw_cost", lambda game, X, d, m, k: (0.05, 1e-3))
    model, X = task
    est = SimSHAP(model, max_epochs=1, **SMALL).fit(X)
    per_row = cost * 2**4
    assert est.validation_rows_ == 3 == est.validation_report_.n_rows
    assert est.max_time_ <= budget.AUTO_FIT_SECONDS - 3 * per_row
    assert est.max_time_ > budget.AUTO_FIT_SECONDS - 3 * per_row - 30  # fit's own preparation
    assert est.background_samples_ == 1
    assert est.net_.background_samples == 1 and est.net_.valid_background_samples == 1
    # the rule's numbers: rows = floor(25 / per_row); with the whole background the first
    # epoch's draws would take more than the share, and with the draws' cost 1 row fits
    n_valid = 20  # 10% of 200 rows, each validated on 2048 // 20 draws of 64 coalitions
    assert est.validation_coalitions_ == (2048 // n_valid) * 64
    epoch = (180 * 32 + n_valid * (2048 // n_valid) * 64) * cost
    assert int(10 * budget.DRAW_SHARE * est.max_time_ / epoch) < 1
    assert est.n_synthetic_rows_ == 0  # augment=None: no rows to give up
    draws = -(-180 // 64) + 2048 // n_valid  # training batches, then one batch's validation
    per_sample = (180 * 32 + n_valid * (2048 // n_valid) * 64) * 1e-3
    assert int((budget.DRAW_SHARE * est.max_time_ - 0.05 * draws) / per_sample) < 2


def _first_epoch_seconds(est, n_train, n_valid, fixed, per_model_row):
    """The first epoch's draws by the rule in _budget, from what the estimator records."""
    m, validation, batch = est.n_coalitions_, est.validation_coalitions_, est.train_batch_size
    draws = -(-n_train // batch) + -(-n_valid // batch) * (validation // (2 * m))
    samples = est.background_samples_ or len(est._background_model)
    return draws * fixed + (n_train * m + n_valid * validation) * samples * per_model_row


@pytest.mark.filterwarnings("ignore::sklxai.exceptions.AccuracyWarning")
@pytest.mark.parametrize("cls", [SimSHAP, FastSHAP])
def test_a_slow_game_keeps_fewer_hybrid_rows_and_its_first_epoch_fits_the_share(
        cls, task, monkeypatch):
    # a small fit set completed to 32768 rows (4 coalitions each), on a game whose draws cost
    # 0.05 s each and 10 us a model row: the first epoch's 512 training batches and 816
    # validation draws (20 rows x 6528 coalitions, 8 a draw) take 66 s, more than a quarter of
    # the budget; halving the training rows (8 coalitions a row: 256 batches, 408 validation
    # draws) is still 36 s; at 8192 rows (16 coalitions: 128 + 204 draws, 16.6 s, and 2.6 s a
    # background row) it fits with 5 background rows a coalition
    monkeypatch.setattr(budget, "coalition_cost", lambda game, X, d: 1e-3)
    fixed, per_model_row = 0.05, 1e-5
    monkeypatch.setattr(budget, "draw_cost", lambda game, X, d, m, k: (fixed, per_model_row))
    model, X = task
    kw = dict(SMALL, augment="auto", validation_reference=None, max_epochs=1)
    est = cls(model, **kw).fit(X)
    n_real, n_valid = 180, 20
    n_train = n_real + est.n_synthetic_rows_
    assert n_train == 8192 and est.n_coalitions_ == 16 and est.background_samples_ == 5
    assert est.validation_coalitions_ == 6528 and len(est.net_.history) == 1
    assert est.net_.n_coalitions == 16 and est.net_.background_samples == 5
    assert est.net_.valid_background_samples == 5
    # on such a game the rows keep their draws for 8 epochs instead of drawing every epoch
    assert not est.net_.draw_every_epoch and est.refresh_every_ == 8
    share = budget.DRAW_SHARE * est.max_time_
    assert _first_epoch_seconds(est, n_train, n_valid, fixed, per_model_row) <= share + 1e-3
    # twice the rows (half the coalitions each) with one background row would not have fitted
    twice = SimSHAP(model, n_coalitions=8, background_samples=1, **kw)
    twice.n_coalitions_, twice.validation_coalitions_ = 8, 6528
    twice.background_samples_, twice._background_model = 1, est._background_model
    assert _first_epoch_seconds(twice, 2 * n_train, n_valid, fixed, per_model_row) > share
    # without the slow game, the same fit keeps all its hybrids
    monkeypatch.undo()
    kept = cls(model, **kw).fit(X)
    assert n_real + kept.n_synthetic_rows_ == 32768
    # a fast game: 4 coalitions x the whole background (10 rows) become 8 x 5 rows, the same
    # model calls; the validation keeps the whole background, and every row draws every epoch
    assert kept.n_coalitions_ == 8 and kept.background_samples_ == 5
    assert kept.net_.n_coalitions == 8 and kept.net_.background_samples == 5
    assert kept.validation_background_samples_ is None
    assert kept.net_.valid_background_samples is None
    assert kept.net_.draw_every_epoch and kept.refresh_every_ == 1


@pytest.mark.filterwarnings("ignore::sklxai.exceptions.AccuracyWarning")
@pytest.mark.parametrize("given", [dict(n_coalitions=4), dict(background_samples=None),
                                   dict(augment=None)])
def test_coalitions_spread_over_the_background_only_where_every_draw_is_auto(given, task):
    # a given n_coalitions or background_samples, or a fit set without hybrids, keeps the
    # whole background a coalition
    model, X = task
    kw = dict(SMALL, augment="auto", validation_reference=None, max_epochs=1)
    est = SimSHAP(model, **{**kw, **given}).fit(X)
    assert est.background_samples_ is None and est.net_.background_samples is None
    if "augment" in given:
        assert est.n_synthetic_rows_ == 0 and est.n_coalitions_ == 32
    else:
        assert est.n_coalitions_ == 4


@pytest.mark.filterwarnings("ignore::sklxai.exceptions.AccuracyWarning")
def test_a_fast_game_keeps_the_whole_background_and_every_validation_row(task):
    model, X = task
    est = SimSHAP(model, max_epochs=1, **SMALL).fit(X)
    assert est.background_samples_ is None and est.net_.valid_background_samples is None
    assert est.validation_rows_ == min(est.validation_rows, 20)


def test_explicit_settings_are_kept(task):
    model, X = task
    est = FastSHAP(model, max_epochs=1, max_time=30.0, background_samples=3,
                   validation_reference=None, **SMALL).fit(X)
    assert est.max_time_ == 30.0 and est.background_samples_ == 3
    assert est.net_.valid_background_samples is None


# ---------------------------------------------------------------------- verbose="auto"
@pytest.mark.parametrize("cls", [SimSHAP, FastSHAP])
def test_auto_progress_is_silent_on_a_short_training_and_shown_on_a_long_one(
        cls, task, capsys, monkeypatch):
    model, X = task
    kw = dict(SMALL, max_epochs=1, validation_reference=None)
    est = cls(model, **kw).fit(X)
    est.explain(X[:5])
    assert est.verbose == "auto" and capsys.readouterr().err == ""
    # training "expected" to take longer than the threshold: the bar shows steps and epochs
    monkeypatch.setattr(callbacks, "PROGRESS_SECONDS", 0.0)
    cls(model, **kw).fit(X)
    err = capsys.readouterr().err
    assert f"{cls.__name__} training" in err and "epoch=1" in err and "step" in err
    cls(model, verbose=0, **kw).fit(X).explain(X[:5])
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("cls", [ExactShapley, KernelSHAP, PermutationSHAP])
def test_auto_progress_over_explained_rows(cls, task, capsys, monkeypatch):
    model, X = task
    est = cls(model, n_background=10, device="cpu", random_state=0).fit(X)
    est.explain(X[:20])
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(callbacks, "PROGRESS_SECONDS", 0.0)
    est.explain(X[:20])
    err = capsys.readouterr().err
    assert cls.__name__ in err and "/20" in err
    est.set_params(verbose=0).explain(X[:20])
    assert capsys.readouterr().err == ""


def test_auto_progress_of_tree_shapley(capsys, monkeypatch):
    from sklearn.tree import DecisionTreeRegressor

    X = np.random.default_rng(0).normal(size=(100, 3))
    tree = DecisionTreeRegressor(max_depth=3, random_state=0).fit(X, X[:, 0])
    est = TreeShapley(tree, n_background=10).fit(X)
    assert est.verbose == "auto"
    est.explain(X[:10])
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(callbacks, "PROGRESS_SECONDS", 0.0)
    est.explain(X[:10])
    assert "TreeShapley" in capsys.readouterr().err


@pytest.mark.parametrize("cls", [SimSHAP, KernelSHAP, TreeShapley])
@pytest.mark.parametrize("verbose", ["loud", -1, 0.5])
def test_verbose_is_validated(cls, verbose, task):
    model, X = task
    if cls is TreeShapley:
        from sklearn.tree import DecisionTreeRegressor

        model = DecisionTreeRegressor(max_depth=2).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="verbose must be one of \\['auto'\\] or bool or int"):
        cls(model, verbose=verbose).fit(X)


@pytest.mark.parametrize("params, match", [
    ({"max_time": "soon"}, "max_time must be one of \\['auto'\\] or a number"),
    ({"max_time": -1.0}, "max_time must be"),
    ({"background_samples": "some"}, "background_samples must be one of \\['auto'\\]"),
])
def test_budget_parameters_are_validated(params, match, task):
    model, X = task
    with pytest.raises(ValueError, match=match):
        SimSHAP(model, **params).fit(X)


def test_booleans_are_valid_verbose_values(task):
    model, X = task
    for verbose in (True, False, 0, 2):
        KernelSHAP(model, n_background=5, verbose=verbose).fit(X)


def test_cost_measurement_leaves_the_draws_alone(task):
    # the game's cost is measured with its own generator: the global torch state is untouched
    model, X = task
    est = SimSHAP(model, max_epochs=1, validation_reference=None, **SMALL).fit(X)
    state = torch.random.get_rng_state()
    cost = budget.coalition_cost(est.game_, X, 4)
    assert cost > 0 and torch.equal(state, torch.random.get_rng_state())
    fixed, per_row = budget.draw_cost(est.game_, X, 4, 8, 3)
    assert fixed > 0 and per_row > 0 and torch.equal(state, torch.random.get_rng_state())


@pytest.mark.filterwarnings("ignore::sklxai.exceptions.AccuracyWarning")
def test_a_slow_game_of_feature_groups_measures_its_draws_on_groups(task, monkeypatch):
    # 2 players of 2 columns each: the draws' measurement draws coalitions of the 2 groups
    # (the game's players), and the plan runs on its real cost
    monkeypatch.setattr(budget, "coalition_cost", lambda game, X, d: 1.0)
    seen = []
    measure = budget.draw_cost
    monkeypatch.setattr(budget, "draw_cost", lambda game, X, d, m, k: seen.append(d)
                        or measure(game, X, d, m, k))
    model, X = task
    est = SimSHAP(model, feature_groups=[[0, 1], [2, 3]], max_epochs=1,
                  validation_reference=None, **SMALL).fit(X)
    assert seen == [2] and est.background_samples_ >= 1


@pytest.mark.filterwarnings("ignore::sklxai.exceptions.AccuracyWarning")
def test_a_slow_game_whose_draws_agree_keeps_every_row_and_the_values_cost_plan(
        task, monkeypatch):
    # the game values' cost (3.2e-4 s a coalition value) cuts the 10 background rows to
    # floor(10 * share * budget / epoch); the draws' own cost (0.1 ms a draw, 1 us a model
    # row: 1328 draws and 261,632 model rows a background row, under 1 s) affords that too,
    # so the 32768 rows (4 coalitions each) stay and the cut is the values' one
    cost = 3.2e-4
    monkeypatch.setattr(budget, "coalition_cost", lambda game, X, d: cost)
    monkeypatch.setattr(budget, "draw_cost", lambda game, X, d, m, k: (1e-4, 1e-6))
    model, X = task
    kw = dict(SMALL, augment="auto", validation_reference=None, max_epochs=1)
    est = SimSHAP(model, **kw).fit(X)
    assert 180 + est.n_synthetic_rows_ == 32768 and est.n_coalitions_ == 4
    epoch = (32768 * 4 + 20 * est.validation_coalitions_) * cost
    expected = int(10 * budget.DRAW_SHARE * est.max_time_ / epoch)
    assert 2 <= est.background_samples_ in (expected, expected + 1)  # the probe's seconds
    assert _first_epoch_seconds(est, 32768, 20, 1e-4, 1e-6) <= budget.DRAW_SHARE * est.max_time_
