"""skorch callbacks of sklxai's training loops: a time budget and a cosine learning-rate decay.

The amortized explainers' trainer (SimSHAP, FastSHAP) and the surrogate game's training use the
same recipe, :func:`training_callbacks`: a :class:`CosineDecay` of the learning rate, skorch's
``EarlyStopping`` restoring the best epoch's weights, and, with a time limit, a
:class:`TimeBudget` listed after it.
"""

import copy
import math
import time
import warnings

import torch
from skorch.callbacks import Callback, EarlyStopping
from skorch.dataset import get_len
from skorch.utils import noop


class CosineDecay(Callback):
    """Cosine learning-rate decay to 0 over the epochs or a time budget, whichever ends first.

    Before every training batch, each parameter group's rate is set to its initial rate times
    0.5 (1 + cos(pi p)), p the larger of the epoch progress (epochs done / ``max_epochs``) and,
    with ``max_time``, the time progress (seconds since training began / ``max_time``),
    capped at 1. Under a time budget the rate thus still decays to 0 by its end instead of
    being cut off near its start value. The initial rate is kept in the group's
    ``"initial_lr"``, as PyTorch's schedulers do, so a continued ``partial_fit`` starts over
    from it.

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
        progress = (len(net.history) - 1) / (self.max_epochs or net.max_epochs)
        if self.max_time:
            progress = max(progress, (time.perf_counter() - self.start_) / self.max_time)
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
    ``net.get_iterator(dataset_valid)``, averaged over rows), and kept when they beat the best
    ``monitor`` value of the finished epochs; otherwise the weights found at the end of training
    are kept, which are the best epoch's when an ``EarlyStopping(load_best=True)`` listed before
    this callback restored them. Without a validation set, or before any epoch finished,
    nothing is compared (the current weights, or EarlyStopping's, are kept).

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

    Examples
    --------
    >>> TimeBudget(60).get_params()
    {'seconds': 60, 'monitor': 'valid_loss'}
    """

    def __init__(self, seconds, monitor="valid_loss"):
        self.seconds = seconds
        self.monitor = monitor

    def initialize(self):
        self.interrupted_ = False
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
        self.interrupted_ = False
        self._current = None

    def on_batch_end(self, net, **kwargs):
        if not self.interrupted_ and time.perf_counter() - self.start_ > self.seconds:
            self.interrupted_ = True
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
        module.load_state_dict(current)
        if self.validation_loss(net, dataset_valid) >= min(finished):
            module.load_state_dict(kept)

    def validation_loss(self, net, dataset_valid):
        """The mean loss of the net's current weights over ``dataset_valid``'s rows."""
        total, count = 0.0, 0
        for batch in net.get_iterator(dataset_valid, training=False):
            n = get_len(batch[0]) if isinstance(batch, (tuple, list)) else get_len(batch)
            total += float(net.validation_step(batch)["loss"]) * n
            count += n
        return total / max(count, 1)


def _unwrapped(module):
    """The module inside a (Distributed)DataParallel wrapper (which prefixes its state keys)."""
    wrappers = (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)
    return module.module if isinstance(module, wrappers) else module


def training_callbacks(max_epochs, *, max_time=None, patience=None, monitor="valid_loss",
                       verbose=0):
    """The training recipe of sklxai as skorch callbacks: decay, early stopping, time budget.

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
    verbose : int
        0: early stopping prints nothing.

    Returns
    -------
    callbacks : list of (name, callback)
        ``lr_decay``, ``early_stopping`` and, with ``max_time``, ``time_budget`` (after early
        stopping, see :class:`TimeBudget`).
    """
    callbacks = [
        ("lr_decay", CosineDecay(max_epochs, max_time)),
        ("early_stopping", EarlyStopping(
            monitor=monitor, patience=max_epochs if patience is None else patience,
            load_best=True, sink=print if verbose else noop)),
    ]
    if max_time is not None:
        callbacks.append(("time_budget", TimeBudget(float(max_time), monitor=monitor)))
    return callbacks
