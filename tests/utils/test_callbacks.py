"""The shared training callbacks: cosine learning-rate decay and time budget, on a tiny net."""

import math
import time
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch import NeuralNetRegressor
from skorch.callbacks import Callback, EarlyStopping
from skorch.dataset import ValidSplit, unpack_data

from sklxai.utils.callbacks import KEEP_CURRENT_Z, CosineDecay, TimeBudget, training_callbacks

LR = 0.05


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5], dtype=np.float32))[:, None] + 0.1
    return X, y.astype(np.float32)


def _net(callbacks, max_epochs=5, train_split=ValidSplit(5), cls=NeuralNetRegressor,
         **kwargs):
    torch.manual_seed(0)
    return cls(torch.nn.Linear(3, 1), max_epochs=max_epochs, lr=LR, batch_size=20,
               train_split=train_split, callbacks=callbacks, iterator_train__shuffle=False,
               verbose=0, **kwargs)


class RowLossRegressor(NeuralNetRegressor):
    """A regressor whose validation step also returns each row's loss, as sklxai's amortized
    trainer does."""

    def validation_step(self, batch, **fit_params):
        step = super().validation_step(batch, **fit_params)
        _, yi = unpack_data(batch)
        step["row_losses"] = ((step["y_pred"] - yi) ** 2).reshape(len(yi), -1).mean(dim=1)
        return step


class LrLog(Callback):
    """The learning rate each training batch runs with (listed after the decay)."""

    def initialize(self):
        self.rates = []
        return self

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.rates.append((len(net.history) - 1, net.optimizer_.param_groups[0]["lr"]))


class Sleep(Callback):
    def __init__(self, seconds):
        self.seconds = seconds

    def on_batch_end(self, net, **kwargs):
        time.sleep(self.seconds)


class RunOut(Callback):
    """Makes the budget run out after batch ``batch`` of epoch ``epoch`` (1-based), recording
    the weights it then stops with; optionally spoils the weights when that epoch begins."""

    def __init__(self, budget, epoch, batch, spoil=False, nudge=0.0):
        self.budget, self.epoch, self.batch, self.spoil = budget, epoch, batch, spoil
        self.nudge = nudge  # added to the first weight where the budget runs out

    def on_epoch_begin(self, net, **kwargs):
        if self.spoil and len(net.history) == self.epoch:
            with torch.no_grad():
                net.module_.weight.fill_(50.0)

    def on_batch_end(self, net, training=False, **kwargs):
        if training and len(net.history) == self.epoch and \
                len(net.history[-1, "batches"]) == self.batch:
            with torch.no_grad():
                net.module_.weight[0, 0] += self.nudge
            self.stopped_with = _weights(net)
            self.budget.seconds = -1.0


class Snapshots(Callback):
    def initialize(self):
        self.epochs = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs.append(_weights(net))


def _weights(net):
    return {k: v.clone() for k, v in net.module_.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_params_are_the_constructors_and_clone():
    decay, budget = CosineDecay(10, max_time=3.0), TimeBudget(2.5, monitor="train_loss")
    assert decay.get_params() == {"max_epochs": 10, "max_time": 3.0}
    assert budget.get_params() == {"monitor": "train_loss", "seconds": 2.5}
    assert clone(budget).get_params() == budget.get_params()
    net = _net([("time_budget", budget)]).initialize()
    assert net.get_params()["callbacks__time_budget__seconds"] == 2.5
    net.set_params(callbacks__time_budget__seconds=7)
    assert budget.seconds == 7


def test_decay_follows_the_epochs_and_reaches_zero(data):
    X, y = data
    log = LrLog()
    # the decay spans 4 epochs; a fifth runs at rate 0
    net = _net([("lr_decay", CosineDecay(max_epochs=4)), ("log", log)], max_epochs=5).fit(X, y)
    per_epoch = dict(log.rates)
    expected = [LR * 0.5 * (1 + math.cos(math.pi * min(e / 4, 1.0))) for e in range(5)]
    np.testing.assert_allclose([per_epoch[e] for e in range(5)], expected, rtol=0, atol=1e-15)
    assert per_epoch[0] == LR and per_epoch[4] == 0.0
    assert net.optimizer_.param_groups[0]["initial_lr"] == LR
    # max_epochs=None: the net's
    log = LrLog()
    _net([("lr_decay", CosineDecay()), ("log", log)], max_epochs=2).fit(X, y)
    assert dict(log.rates)[1] == pytest.approx(LR / 2)


def test_decay_under_a_time_budget_reaches_zero_by_its_end(data):
    X, y = data
    log = LrLog()
    _net([("lr_decay", CosineDecay(max_epochs=1000, max_time=0.02)), ("log", log),
          ("sleep", Sleep(0.03))], max_epochs=1).fit(X, y)
    rates = [lr for _, lr in log.rates]
    assert rates[0] > 0 and rates[1:] and all(lr == 0.0 for lr in rates[1:])


def test_budget_stops_training(data):
    X, y = data
    budget = TimeBudget(0.1)
    net = _net([("sleep", Sleep(0.01)), ("time_budget", budget)], max_epochs=1000).fit(X, y)
    assert budget.interrupted_ and 1 <= len(net.history) < 1000


def test_zero_budget_stops_after_one_batch_and_keeps_its_weights(data):
    X, y = data
    init = _weights(_net([]).initialize())
    budget = TimeBudget(0)
    net = _net([("early_stopping", EarlyStopping(load_best=True)),
                ("time_budget", budget)]).fit(X, y)
    assert budget.interrupted_ and len(net.history) == 1
    assert len(net.history[-1, "batches"]) == 1 and "valid_loss" not in net.history[-1]
    assert not _same(_weights(net), init)  # the one step is kept: no epoch to compare with


def test_budget_keeps_the_current_weights_when_they_are_better(data):
    X, y = data
    budget = TimeBudget(1e9)
    run_out, snaps = RunOut(budget, epoch=4, batch=7), Snapshots()
    net = _net([("snapshots", snaps), ("early_stopping", EarlyStopping(load_best=True)),
                ("run_out", run_out), ("time_budget", budget)], max_epochs=50).fit(X, y)
    assert budget.interrupted_ and len(net.history) == 4 and len(snaps.epochs) == 3
    assert _same(_weights(net), run_out.stopped_with)  # still improving: the latest weights
    assert budget.kept_latest_ is True


def test_budget_keeps_the_best_epoch_when_the_current_weights_are_worse(data):
    X, y = data
    budget = TimeBudget(1e9)
    run_out, snaps = RunOut(budget, epoch=4, batch=2, spoil=True), Snapshots()
    net = _net([("snapshots", snaps), ("early_stopping", EarlyStopping(load_best=True)),
                ("run_out", run_out), ("time_budget", budget)], max_epochs=50).fit(X, y)
    best = int(np.argmin(net.history[:3, "valid_loss"]))
    assert _same(_weights(net), snaps.epochs[best])
    assert not _same(_weights(net), run_out.stopped_with)


@pytest.fixture(scope="module")
def noisy():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5], dtype=np.float32) + 0.1 + rng.normal(size=200)
    return X, y[:, None].astype(np.float32)


def _restored(net, snaps):
    """The weights early stopping restored: its best epoch's snapshot."""
    return snaps.epochs[dict(net.callbacks_)["early_stopping"].best_epoch_ - 1]


def _paired(net, X, y, a, b):
    """Mean and t statistic of the validation rows' squared errors under weights a less b,
    computed here from the rows."""
    _, valid = net.get_split_datasets(X, y)
    Xv = torch.as_tensor(np.stack([valid[i][0] for i in range(len(valid))]))
    yv = torch.as_tensor(np.stack([valid[i][1] for i in range(len(valid))]))
    sq = [((Xv @ w["weight"].T + w["bias"] - yv) ** 2).double().numpy().ravel() for w in (a, b)]
    diff = sq[0] - sq[1]
    return diff.mean(), diff.mean() / (diff.std(ddof=1) / math.sqrt(len(diff)))


def test_budget_keeps_current_weights_worse_only_within_the_rows_noise(noisy):
    X, y = noisy
    budget = TimeBudget(1e9)
    run_out, snaps = RunOut(budget, epoch=30, batch=1, nudge=0.3), Snapshots()
    net = _net([("snapshots", snaps), ("early_stopping", EarlyStopping(load_best=True, patience=100)),
                ("run_out", run_out), ("time_budget", budget)], max_epochs=50,
               cls=RowLossRegressor).fit(X, y)
    best = _restored(net, snaps)
    mean, t = _paired(net, X, y, run_out.stopped_with, best)
    assert mean > 0 and t < KEEP_CURRENT_Z  # worse on the mean, within the rows' noise
    assert _same(_weights(net), run_out.stopped_with) and budget.kept_latest_ is True
    # a net without row losses compares means: the best epoch's weights come back
    budget = TimeBudget(1e9)
    run_out, snaps = RunOut(budget, epoch=30, batch=1, nudge=0.3), Snapshots()
    net = _net([("snapshots", snaps), ("early_stopping", EarlyStopping(load_best=True, patience=100)),
                ("run_out", run_out), ("time_budget", budget)], max_epochs=50).fit(X, y)
    assert _same(_weights(net), _restored(net, snaps))


def test_budget_restores_the_best_epoch_when_the_rows_show_the_current_weights_worse(noisy):
    X, y = noisy
    budget = TimeBudget(1e9)
    run_out, snaps = RunOut(budget, epoch=4, batch=2, spoil=True), Snapshots()
    net = _net([("snapshots", snaps), ("early_stopping", EarlyStopping(load_best=True)),
                ("run_out", run_out), ("time_budget", budget)], max_epochs=50,
               cls=RowLossRegressor).fit(X, y)
    best = _restored(net, snaps)
    _, t = _paired(net, X, y, run_out.stopped_with, best)
    assert t > KEEP_CURRENT_Z
    assert _same(_weights(net), best) and budget.kept_latest_ is False


def test_budget_without_validation_leaves_early_stopping_s_choice(data):
    X, y = data
    budget = TimeBudget(1e9)
    run_out = RunOut(budget, epoch=3, batch=2, spoil=True)
    snaps = Snapshots()
    net = _net([("snapshots", snaps),
                ("early_stopping", EarlyStopping(monitor="train_loss", load_best=True)),
                ("run_out", run_out), ("time_budget", budget)],
               max_epochs=50, train_split=None).fit(X, y)
    best = int(np.argmin(net.history[:2, "train_loss"]))
    assert _same(_weights(net), snaps.epochs[best])


def test_budget_listed_before_a_restoring_early_stopping_warns(data):
    X, y = data
    with pytest.warns(UserWarning, match="list it after"):
        _net([("time_budget", TimeBudget(60)), ("es", EarlyStopping(load_best=True))],
             max_epochs=1).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _net([("es", EarlyStopping(load_best=True)), ("time_budget", TimeBudget(60))],
             max_epochs=1).fit(X, y)


def test_training_callbacks_recipe():
    names = [name for name, _ in training_callbacks(30)]
    assert names == ["lr_decay", "early_stopping"]
    callbacks = dict(training_callbacks(30, max_time=5, patience=None, monitor="train_loss"))
    assert list(callbacks) == ["lr_decay", "early_stopping", "time_budget"]
    stopper = callbacks["early_stopping"]
    assert stopper.patience == 30 and stopper.load_best and stopper.monitor == "train_loss"
    assert callbacks["time_budget"].get_params() == {"monitor": "train_loss", "seconds": 5.0}
    assert callbacks["lr_decay"].get_params() == {"max_epochs": 30, "max_time": 5}


class _Clock:
    """A stand-in for time.perf_counter in the callbacks module."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_decay_follows_the_epochs_while_training_keeps_their_pace(monkeypatch):
    import sklxai.utils.callbacks as module

    clock = _Clock()
    monkeypatch.setattr(module.time, "perf_counter", clock)
    decay = CosineDecay(max_epochs=10, max_time=100.0)
    net = type("Net", (), {"history": [{}], "max_epochs": 10})()  # epoch 0 running
    decay.start_ = 0.0
    clock.now = 9.9  # within the first epoch's share of the budget (10 s): the epochs rule
    assert decay.factor(net) == 1.0
    clock.now = 50.0  # behind the epochs' pace: half the budget spent, the time rules
    assert decay.factor(net) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    net.history = [{}] * 6  # epoch 5 running at 50 s: on pace again
    assert decay.factor(net) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    clock.now = 55.0
    assert decay.factor(net) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))


def test_auto_progress_opens_only_for_a_long_job(monkeypatch, capsys):
    import sklxai.utils.callbacks as module

    clock = _Clock()
    monkeypatch.setattr(module.time, "perf_counter", clock)
    with module.AutoProgress(100, verbose="auto", desc="job") as progress:
        clock.now = 0.5
        progress.update(10)  # 10% in 0.5 s: 5 s expected, below the threshold
        assert progress.bar is None and progress.expected_seconds() == pytest.approx(5.0)
        clock.now = 3.0
        progress.update(10)  # 20% in 3 s: 15 s expected
        assert progress.bar is not None and progress.bar.n == 20
    assert "job" in capsys.readouterr().err
    for verbose, shown in ((0, False), (False, False), (1, True), (True, True)):
        with module.AutoProgress(100, verbose=verbose, desc="job") as progress:
            clock.now += 1000.0
            progress.update(1)
            assert (progress.bar is not None) is shown


def test_training_callbacks_with_auto_progress():
    from sklxai.utils.callbacks import TrainingProgress

    callbacks = dict(training_callbacks(30, max_time=5, verbose="auto", desc="fit"))
    assert list(callbacks) == ["lr_decay", "early_stopping", "time_budget", "progress"]
    progress = callbacks["progress"]
    assert isinstance(progress, TrainingProgress)
    assert progress.get_params() == {"max_epochs": 30, "max_time": 5, "verbose": "auto",
                                     "desc": "fit"}
    assert "progress" not in dict(training_callbacks(30, verbose=1))


def test_budget_records_when_it_stopped(data):
    X, y = data
    budget = TimeBudget(0.05)
    _net([("sleep", Sleep(0.01)), ("time_budget", budget)], max_epochs=1000).fit(X, y)
    assert budget.interrupted_ and budget.stopped_after_ > 0.05
    budget = TimeBudget(60)
    _net([("time_budget", budget)], max_epochs=1).fit(X, y)
    assert not budget.interrupted_ and budget.stopped_after_ is None
    assert budget.kept_latest_ is None  # nothing compared
