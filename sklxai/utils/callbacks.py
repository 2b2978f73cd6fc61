"""skorch callbacks of sklxai's training loops: a time budget, a cosine learning-rate decay and
progress output.

The amortized explainers' trainer (SimSHAP, FastSHAP) and the surrogate game's training use the
same recipe, :func:`training_callbacks`: a :class:`CosineDecay` of the learning rate, skorch's
``EarlyStopping`` restoring the best epoch's weights, with a time limit a :class:`TimeBudget`
listed after it, and with ``verbose="auto"`` a :class:`TrainingProgress` bar. :class:`AutoProgress`
is the bar that ``verbose="auto"`` shows only for long jobs (training or explaining rows).
"""

import copy
import math
import time
import warnings

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping
from skorch.dataset import get_len
from skorch.utils import noop

#: verbose="auto" shows a progress bar for a job expected to take longer than this (seconds),
#: the expectation measured on the job's first parts
PROGRESS_SECONDS = 10.0


class CosineDecay(Callback):
    """Cosine learning-rate decay to 0 over the epochs or a time budget, whichever ends first.

    Before every training batch, each parameter group's rate is set to its initial rate times
    0.5 (1 + cos(pi p)), p the epoch progress (epochs done / ``max_epochs``) or, with
    ``max_time``, once training runs behind the epochs' pace (the time progress, seconds since
    training began / ``max_time``, beyond the end of the current epoch's share), the time
    progress; capped at 1. Under a time budget the rate thus still decays to 0 by its end
    instead of being cut off near its start value, and a training that keeps pace with its
    epochs follows them alone (its rates, and so its weights, do not depend on the clock). The
    initial rate is kept in the group's ``"initial_lr"``, as PyTorch's schedulers do, so a
    continued ``partial_fit`` starts over from it.

    Parameters
    ----------
    max_epochs : int or None
        Epochs over which the rate decays; None: the net's ``max_epochs``.
    max_time : float or None
        Seconds over which the rate decays at the latest; None: no time limit.

    Attributes
    ----------
    start_ : float
        ``time.perf_counter()`` when training began.

    Examples
    --------
    >>> CosineDecay(max_epochs=10).get_params()
    {'max_epochs': 10, 'max_time': None}
    """

    def __init__(self, max_epochs=None, max_time=None):
        self.max_epochs = max_epochs
        self.max_time = max_time

    def on_train_begin(self, net, **kwargs):
        self.start_ = time.perf_counter()
        for group in net.optimizer_.param_groups:
            group.setdefault("initial_lr", group["lr"])

    def factor(self, net):
        """The decay factor for the coming training batch, in [0, 1]."""
        epochs = self.max_epochs or net.max_epochs
        done = len(net.history) - 1
        progress = done / epochs
        if self.max_time:
            spent = (time.perf_counter() - self.start_) / self.max_time
            if spent > (done + 1) / epochs:  # behind the epochs' pace: the budget ends first
                progress = max(progress, spent)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        factor = self.factor(net)
        for group in net.optimizer_.param_groups:
            group["lr"] = group["initial_lr"] * factor


class TimeBudget(Callback):
    """Stop training after ``seconds`` and keep the better of the current and the best weights.

    The clock starts with training and is checked after every batch, training or validation;
    when it runs out, training stops (through ``KeyboardInterrupt``, which skorch turns into a
    clean end of ``fit``). The unfinished epoch's progress is not thrown away: at the end of
    training the current weights are scored on the validation rows the way an epoch's
    validation pass scores them (``net.validation_step`` over
    ``net.get_iterator(dataset_valid)``) and set against the weights found at the end of
    training, which are the best epoch's when an ``EarlyStopping(load_best=True)`` listed
    before this callback restored them:

    - where the net's ``validation_step`` also returns each row's loss (``"row_losses"``, as
      sklxai's amortized explainers' trainer does), both sets of weights are scored row by row
      and the current ones are kept unless their mean loss is higher by more than
      :data:`KEEP_CURRENT_Z` standard errors of the rows' paired differences. A validation loss
      measured on a few dozen rows moves by its own noise from epoch to epoch, and the best
      epoch by that noise is often an earlier one, trained with a higher learning rate and on
      fewer draws; the latest weights give way only to a difference the validation rows show.
    - otherwise the current weights are kept when their mean loss beats the best ``monitor``
      value of the finished epochs.

    Without a validation set, or before any epoch finished, nothing is compared (the current
    weights, or EarlyStopping's, are kept).

    Parameters
    ----------
    seconds : float
        The budget; 0 stops after the first batch.
    monitor : str
        The history key of a finished epoch's validation loss (lower is better).

    Attributes
    ----------
    start_ : float
        ``time.perf_counter()`` when training began.
    interrupted_ : bool
        Whether the budget stopped the last training.
    stopped_after_ : float or None
        Seconds since the start when the budget stopped it (None: it did not).
    kept_latest_ : bool or None
        After a stop by the budget, whether the weights it stopped with were kept (False: the
        best epoch's); None where nothing was compared.

    Examples
    --------
    >>> TimeBudget(60).get_params()
    {'seconds': 60, 'monitor': 'valid_loss'}
    """

    def __init__(self, seconds, monitor="valid_loss"):
        self.seconds = seconds
        self.monitor = monitor

    def initialize(self):
        self.interrupted_, self.stopped_after_, self.kept_latest_ = False, None, None
        self._current = None  # the weights when the budget ran out, until on_train_end
        return self

    def on_train_begin(self, net, **kwargs):
        callbacks = [cb for _, cb in net.callbacks_]
        later = callbacks[next(i for i, cb in enumerate(callbacks) if cb is self) + 1:]
        if any(isinstance(cb, EarlyStopping) and cb.load_best for cb in later):
            warnings.warn("TimeBudget is listed before an EarlyStopping with load_best=True, "
                          "whose restore then overrides its choice of weights; list it after.",
                          stacklevel=2)
        self.start_ = time.perf_counter()
        self.interrupted_, self.stopped_after_, self.kept_latest_ = False, None, None
        self._current = None

    def on_batch_end(self, net, **kwargs):
        self.check(net)

    def check(self, net):
        """Stop training (``KeyboardInterrupt``) when the budget is spent; a long step of the
        net's own (e.g. drawing many training targets) may call it between its parts."""
        spent = time.perf_counter() - self.start_
        if not self.interrupted_ and spent > self.seconds:
            self.interrupted_, self.stopped_after_ = True, spent
            # EarlyStopping may load other weights into the same tensors before on_train_end
            self._current = copy.deepcopy(_unwrapped(net.module_).state_dict())
            raise KeyboardInterrupt

    def on_train_end(self, net, X=None, y=None, **kwargs):
        current, self._current = self._current, None
        finished = [row[self.monitor] for row in net.history if self.monitor in row]
        if current is None or not finished:
            return
        _, dataset_valid = net.get_split_datasets(X, y)
        if dataset_valid is None:
            return
        module = _unwrapped(net.module_)
        kept = copy.deepcopy(module.state_dict())
        if all(torch.equal(kept[name], value) for name, value in current.items()):
            self.kept_latest_ = True  # nothing restored them: no other weights to compare
            return
        module.load_state_dict(current)
        current_rows, mean = self.row_losses(net, dataset_valid)
        if current_rows is None:
            worse = mean >= min(finished)
        else:
            module.load_state_dict(kept)
            kept_rows, _ = self.row_losses(net, dataset_valid)
            worse = _current_is_worse(current_rows, kept_rows)
        module.load_state_dict(kept if worse else current)
        self.kept_latest_ = not worse

    def validation_loss(self, net, dataset_valid):
        """The mean loss of the net's current weights over ``dataset_valid``'s rows."""
        return self.row_losses(net, dataset_valid)[1]

    def row_losses(self, net, dataset_valid):
        """The losses of ``dataset_valid``'s rows under the net's current weights, one pass:
        (each row's, a float64 array, or None where ``net.validation_step`` does not return
        ``"row_losses"``; their mean)."""
        total, count, rows = 0.0, 0, []
        for batch in net.get_iterator(dataset_valid, training=False):
            n = get_len(batch[0]) if isinstance(batch, (tuple, list)) else get_len(batch)
            step = net.validation_step(batch)
            total += float(step["loss"]) * n
            count += n
            if rows is not None and "row_losses" in step:
                rows.append(torch.as_tensor(step["row_losses"]).detach().double().cpu())
            else:
                rows = None
        rows = torch.cat(rows).numpy() if rows else None
        return rows, total / max(count, 1)


#: :class:`TimeBudget` keeps the current weights unless their validation rows' mean loss exceeds
#: the best epoch's by more than this many standard errors of the paired differences
KEEP_CURRENT_Z = 2.0


def _current_is_worse(current, kept, z=KEEP_CURRENT_Z):
    """Whether per-row losses ``current`` (n,) are worse than ``kept`` (n,) beyond their noise:
    the mean paired difference above ``z`` standard errors (above 0 for a single row)."""
    diff = np.asarray(current, dtype=np.float64) - np.asarray(kept, dtype=np.float64)
    if len(diff) < 2:
        return bool(diff.sum() > 0)
    return bool(diff.mean() > z * diff.std(ddof=1) / math.sqrt(len(diff)))


def _unwrapped(module):
    """The module inside a (Distributed)DataParallel wrapper (which prefixes its state keys)."""
    wrappers = (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)
    return module.module if isinstance(module, wrappers) else module


def shows_table(verbose):
    """Whether ``verbose`` asks for skorch's epoch table (an int > 0 or True; not "auto")."""
    return not isinstance(verbose, str) and bool(verbose)


class AutoProgress:
    """A tqdm bar over a job's units of work, shown as ``verbose`` says.

    ``verbose="auto"`` opens the bar only once the job is expected to take longer than
    :data:`PROGRESS_SECONDS` (elapsed time / units done x total units, re-estimated at every
    update, so the first parts of the job are the measurement); 0 or False never shows one,
    any other value shows it from the start. Use it as a context manager.

    Parameters
    ----------
    total : int or None
        Units of the whole job (None: unknown until :meth:`set_total`).
    verbose : int, bool or "auto"
    desc, unit : str
        The bar's label and unit.

    Attributes
    ----------
    bar : tqdm.tqdm or None
        The bar once shown.
    done : int
        Units done so far.

    Examples
    --------
    >>> with AutoProgress(100, verbose=0, desc="rows") as progress:
    ...     progress.update(100)
    >>> progress.bar is None
    True
    """

    def __init__(self, total, *, verbose, desc, unit="it"):
        self.total, self.verbose, self.desc, self.unit = total, verbose, desc, unit
        self.bar, self.done = None, 0
        self._start = time.perf_counter()
        if shows_table(verbose):
            self._open()

    def _open(self):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, initial=self.done, desc=self.desc, unit=self.unit,
                        leave=False)

    def expected_seconds(self):
        """The job's expected duration from its progress so far (inf before any unit)."""
        if not self.done:
            return math.inf
        return (time.perf_counter() - self._start) * (self.total or 0) / self.done

    def set_total(self, total):
        """Change the job's expected units (e.g. once a time budget says where it ends)."""
        self.total = total
        if self.bar is not None and self.bar.total != total:
            self.bar.total = total
            self.bar.refresh()

    def update(self, n=1, **postfix):
        """Record ``n`` more units done (and show ``postfix`` values on the bar)."""
        self.done += n
        opened = False
        if self.bar is None and self.verbose == "auto" and self.total \
                and self.expected_seconds() > PROGRESS_SECONDS:
            self._open()
            n, opened = 0, True  # the bar starts at what is done
        if self.bar is not None:
            if postfix:
                self.bar.set_postfix(postfix, refresh=opened)
            self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getstate__(self):
        # the bar writes to a terminal stream, which cannot be pickled: a pickled fitted
        # explainer (its trainer's progress callback) keeps the counts, not the bar
        return dict(self.__dict__, bar=None)


class TrainingProgress(Callback):
    """A progress bar over a training's steps, for ``verbose="auto"`` (:class:`AutoProgress`).

    The planned steps are the epochs' (steps per epoch x ``max_epochs``) or, under a time
    budget, those that the time left allows at the pace measured so far, whichever are fewer:
    the bar shows the steps, the epoch and the time left, and opens only when the training is
    expected to take longer than :data:`PROGRESS_SECONDS`.

    Parameters
    ----------
    max_epochs : int or None
        None: the net's ``max_epochs``.
    max_time : float or None
        The training's time budget in seconds, if any.
    verbose : int, bool or "auto"
        As :class:`AutoProgress` takes it.
    desc : str
        The bar's label.

    Attributes
    ----------
    progress_ : AutoProgress
        The bar of the last training.

    Examples
    --------
    >>> TrainingProgress(10, verbose="auto").get_params()["max_epochs"]
    10
    """

    def __init__(self, max_epochs=None, max_time=None, verbose="auto", desc="training"):
        self.max_epochs = max_epochs
        self.max_time = max_time
        self.verbose = verbose
        self.desc = desc

    def on_train_begin(self, net, **kwargs):
        self.progress_ = AutoProgress(None, verbose=self.verbose, desc=self.desc, unit="step")
        self._start, self._per_epoch = time.perf_counter(), None

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self._per_epoch is None and dataset_train is not None:
            self._per_epoch = len(net.get_iterator(dataset_train, training=True))

    def on_batch_end(self, net, training=False, **kwargs):
        if not training:
            return
        planned = (self._per_epoch or 1) * (self.max_epochs or net.max_epochs)
        done = self.progress_.done + 1
        if self.max_time:
            pace = (time.perf_counter() - self._start) / done
            planned = min(planned, done + max(self.max_time - pace * done, 0.0) / pace)
        self.progress_.set_total(max(int(planned), done))
        self.progress_.update(1, epoch=len(net.history))

    def on_train_end(self, net, **kwargs):
        self.progress_.close()


def training_callbacks(max_epochs, *, max_time=None, patience=None, monitor="valid_loss",
                       verbose=0, desc="training"):
    """The training recipe of sklxai as skorch callbacks: decay, early stopping, time budget,
    progress.

    Parameters
    ----------
    max_epochs : int
        Epochs of the cosine decay.
    max_time : float or None
        Seconds of training at most (a :class:`TimeBudget`, and the decay's time scale).
    patience : int or None
        Epochs without improvement of ``monitor`` before stopping; None: never stop early.
        Either way the best epoch's weights are restored at the end.
    monitor : str
        The loss early stopping (and the budget) compare, lower is better.
    verbose : int, bool or "auto"
        0: early stopping prints nothing; "auto": a :class:`TrainingProgress` bar for a long
        training, nothing printed otherwise; another value: early stopping prints (the
        trainer's own epoch table and bar are skorch's).
    desc : str
        The progress bar's label.

    Returns
    -------
    callbacks : list of (name, callback)
        ``lr_decay``, ``early_stopping``, with ``max_time`` ``time_budget`` (after early
        stopping, see :class:`TimeBudget`), and with ``verbose="auto"`` ``progress``.
    """
    callbacks = [
        ("lr_decay", CosineDecay(max_epochs, max_time)),
        ("early_stopping", EarlyStopping(
            monitor=monitor, patience=max_epochs if patience is None else patience,
            load_best=True, sink=print if shows_table(verbose) else noop)),
    ]
    if max_time is not None:
        callbacks.append(("time_budget", TimeBudget(float(max_time), monitor=monitor)))
    if verbose == "auto":
        callbacks.append(("progress", TrainingProgress(max_epochs, max_time, verbose, desc)))
    return callbacks
