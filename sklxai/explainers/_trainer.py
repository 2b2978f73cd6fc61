"""The trainer of the amortized explainers: a skorch net that owns the game and the targets.

SimSHAP and FastSHAP train an explainer network mapping a row x to raw attributions (d x k);
the additive efficient normalisation phi = raw + (v(N) - v(empty) - sum raw) / d makes every
prediction exactly efficient (:func:`efficient_attributions`). Training draws coalitions from
the Shapley kernel (with their complements, :class:`~sklxai.games.coalitions.StratifiedDesign`),
evaluates the game on the device without gradients (:func:`draw_stats`), and minimises an
objective of the rows' :class:`~sklxai.explainers._targets.CoalitionStats`; the two methods
differ only in that objective. The statistics are stored per row (keyed by the row's index,
which the batches carry) and redrawn every ``refresh_every`` epochs, new draws added to old:
the game, by far the costliest part, is evaluated once for many network steps.

:class:`AmortizedTrainer` is that loop written as a skorch ``NeuralNet``: the dataset is fit's
rows with their indices, the steps are skorch's own (``infer``, then ``get_loss`` with the row
indices as targets), and the game, the designs, the store and the random generators are the
trainer's, set up in ``on_train_begin``.
"""

import functools
import math

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data

from sklxai.explainers._network import output_width
from sklxai.explainers._targets import CoalitionStats
from sklxai.games.coalitions import StratifiedDesign

#: refresh_every="auto": epochs between a row's draws. A game batch (32 coalitions x 50
#: background rows) costs about 12 network steps on a 2-core CPU (Adult MLP), and on a GPU an
#: estimated 2-3, so the CPU reuses each draw longer; see the README's SimSHAP benchmark.
_AUTO_REFRESH_EVERY = {"cpu": 8, "accelerator": 2}
#: "auto" stores statistics only while they take at most this much memory (else None)
_AUTO_CACHE_BYTES = 2**30
#: rows per game call when refreshing stored statistics at the start of an epoch (a time budget
#: is checked between two calls: on a slow generic Pipeline 512 rows cost a few seconds)
_REFRESH_CHUNK_ROWS = 512


def kernel_design(d, n_coalitions):
    """The training design: the Shapley kernel over d players, weights summing to 1.

    Extreme size pairs are enumerated while they fit in half of ``n_coalitions``, the rest
    sampled with complements, their sizes drawn in proportion to the square root of the
    kernel's mass and importance-weighted (see
    :class:`~sklxai.games.coalitions.StratifiedDesign`): the smallest and largest
    coalitions' terms in SimSHAP's targets vary least, so the same model calls on more
    middle-sized coalitions give less noisy targets (measured in the docs' benchmarks).
    """
    return StratifiedDesign(d, n_coalitions, rule="half", normalize=True, proposal="sqrt")


def draw_stats(game, null, design, X, generator, background_samples=None):
    """Fresh coalitions for the rows X, as :class:`CoalitionStats` of one draw.

    Parameters
    ----------
    game : sklxai.games.Game
        The value function.
    null : tensor of shape (k,)
        The value of the empty coalition, subtracted from every value.
    design : StratifiedDesign
        Draws the coalitions and their weights.
    X : float32 tensor of shape (n, n_features)
        Rows on the game's device.
    generator : torch.Generator
        On the game's device; draws the coalitions (and background rows, see below).
    background_samples : int or None
        Estimate v(S) from that many background rows, drawn stratified (games that support it,
        i.e. the marginal game: :meth:`~sklxai.games.MarginalGame.sampled_values`); None: the
        whole background.

    Returns
    -------
    stats : CoalitionStats
        The draw's sums, one row per row of X.
    """
    masks, weights = design.draw(len(X), generator=generator, device=X.device)
    with torch.no_grad():
        null = null.to(torch.float32)
        if background_samples is not None and game.supports_sampled_values:
            values = game.sampled_values(X, masks, background_samples, generator=generator)
        else:
            values = game.values(X, masks)
        values = values.to(torch.float32) - null
        total = game.full(X).to(torch.float32) - null
        return CoalitionStats.from_draw(masks, weights, values, total)


def efficient_attributions(raw, total, d):
    """Efficient attributions (n, d, k) from raw network outputs (n, d * k), player-major.

    ``total`` (n, k) is v(N) - v(empty); the raw attributions are shifted equally so that each
    row's sum is exactly ``total``.
    """
    raw = raw.reshape(len(raw), d, -1).to(total.dtype)
    return raw + ((total - raw.sum(dim=1)) / d)[:, None, :]


def simshap_loss(phi, stats, *, control_variate=True, reduction="mean"):
    """SimSHAP's objective: mean squared distance of phi to its unbiased, efficient targets.

    With ``control_variate``, the targets use phi (detached) as a control variate: still
    unbiased, with a variance that shrinks as phi improves. ``reduction="row"`` gives each
    row's mean (n,) instead of the batch's.
    """
    control = phi.detach() if control_variate else None
    with torch.no_grad():
        target = stats.simshap_targets(control=control)
    return _reduce((phi - target) ** 2, reduction)


def _reduce(squares, reduction):
    """The mean of squared errors (n, ...) over the batch ("mean") or per row ("row")."""
    if reduction == "row":
        return squares.reshape(len(squares), -1).mean(dim=1)
    return squares.mean()


class IndexedRows(torch.utils.data.Dataset):
    """Rows with their indices (the keys of their stored statistics): items are (x, i).

    A batch is gathered by one indexing operation (``__getitems__``, passed through by
    ``Subset``) instead of row by row and collated, which cost as much as a network step.

    Parameters
    ----------
    X : array-like of shape (n, n_features)
        Stored as float32.
    y : None
        Unused (skorch passes it).
    """

    def __init__(self, X, y=None):
        self.X = torch.from_numpy(np.array(X, dtype=np.float32))  # a copy: X may be read-only

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], i

    def __getitems__(self, indices):
        rows = torch.as_tensor(indices, dtype=torch.long)
        return self.X[rows], rows


def _batch_as_is(batch):
    """collate_fn for :class:`IndexedRows`, whose batches come out whole."""
    return batch


class AmortizedTrainer(NeuralNet):
    """A skorch net that trains an explainer network on a game's coalitions.

    ``fit(X)`` takes the rows (n, n_features) in the model's input space; the batches are
    (rows, row indices), the indices serving as skorch's targets. A step is skorch's: ``infer``
    (the module's raw outputs), then :meth:`get_loss`, which gets the rows' statistics
    (:meth:`get_stats`), makes the prediction efficient and applies ``objective`` (training) or
    the validation loss. What a subclass may override:

    - :meth:`get_loss` (the loss of a batch), :meth:`row_losses` and
      :meth:`validation_loss` (each validation row's loss, whose mean drives early stopping),
    - :meth:`get_stats` (statistics of a batch: drawn, or stored and drawn once),
    - :meth:`draw` (coalitions and game values for rows),
    - :meth:`refresh` (the rows redrawn at the start of an epoch),
    - and skorch's own methods and callbacks.

    Parameters
    ----------
    module : torch.nn.Module
        The explainer network: rows (n, n_features) -> raw attributions (n, n_players * k).
    game : sklxai.games.Game
        The value function (on its device, where the statistics are kept).
    objective : callable
        ``objective(phi, stats) -> loss``: phi (n, d, k) efficient predictions, stats the
        rows' :class:`~sklxai.explainers._targets.CoalitionStats`.
    n_players : int
        Players of the game (d).
    null : tensor of shape (k,) or None
        The value of the empty coalition; None: ``game.empty_value()``.
    n_coalitions : int
        Coalitions per row and draw (validation draws twice as many).
    background_samples : int or None
        Background rows per coalition in training draws (see :func:`draw_stats`).
    valid_background_samples : int or None
        The same for validation draws (None: the whole background).
    refresh_every : int, "auto" or None
        Epochs between two draws for a training row (row i draws in the epochs e with
        (i + e) % refresh_every == 0); None stores nothing and draws at every step; "auto":
        1 where the rows are fewer than ``min_epoch_rows`` or ``draw_every_epoch``, else 8 on
        a CPU, 2 on a GPU; None when the store would exceed 1 GiB.
    seed : int
        Seeds the training generator (seed) and the validation one (seed + 1).
    min_epoch_rows : int
        An epoch visits at least this many training rows (a fit set smaller than that is
        passed over several times, in a new order each time), so that an epoch, early
        stopping's patience and the learning-rate schedule mean about as many optimizer steps
        on a few hundred rows as on many; larger fit sets are passed over once per epoch.
    exact_targets : tensor of shape (n, n_players, k) or None
        Exact Shapley values of fit's rows (e.g. from :class:`~sklxai.TreeShapley`): the
        network then regresses on them (mean squared error, training and validation alike)
        instead of on coalitions drawn from the game.
    valid_draws : int
        Draws (of twice ``n_coalitions`` coalitions each) whose statistics a validation row's
        loss averages: drawn once and stored with a store, else drawn at every validation
        step. More draws make valid_loss less noisy where the validation rows are few.
    draw_every_epoch : bool
        With ``refresh_every="auto"``, every row draws in every epoch (hybrid rows completing
        a small fit set: many rows with few coalitions each).
    network_columns : int
        The last columns of fit's rows that are inputs of the network only (the model's
        outputs on the row, see ``output_inputs`` of :class:`~sklxai.SimSHAP`); the game takes
        the others.
    criterion : unused
        Required by skorch; the loss is :meth:`get_loss`'s.
    **kwargs
        The parameters of skorch's ``NeuralNet``.

    Attributes
    ----------
    design_, valid_design_ : StratifiedDesign
        The training and validation coalition designs.
    null_ : float32 tensor of shape (k,)
    train_gen_, valid_gen_ : torch.Generator
        The generators of the training and the validation draws. Validation coalitions are
        the same every epoch, so valid_loss is comparable across epochs: stored when drawn
        first, or, without a store, drawn again from a restarted generator each epoch (it
        restarts at the end of training too, for callbacks that validate then).
    refresh_every_ : int or None
        ``refresh_every`` as used ("auto" resolved).
    stats_ : CoalitionStats or None
        The store, during training only (released by ``partial_fit``); None without one.
    seen_ : bool tensor of shape (n,) or None
        Rows drawn for in training (the validation rows never are).
    fit_X_ : float32 tensor of shape (n, n_features) or None
        fit's rows on the game's device, for refreshes (during training only).
    """

    def __init__(self, module, *, game, objective, n_players, null=None, n_coalitions=32,
                 background_samples=None, valid_background_samples=None, refresh_every="auto",
                 seed=0, min_epoch_rows=1, exact_targets=None, valid_draws=1,
                 draw_every_epoch=False, network_columns=0, criterion=torch.nn.MSELoss,
                 **kwargs):
        self.game = game
        self.objective = objective
        self.n_players = n_players
        self.null = null
        self.n_coalitions = n_coalitions
        self.background_samples = background_samples
        self.valid_background_samples = valid_background_samples
        self.refresh_every = refresh_every
        self.seed = seed
        self.min_epoch_rows = min_epoch_rows
        self.exact_targets = exact_targets
        self.valid_draws = valid_draws
        self.draw_every_epoch = draw_every_epoch
        self.network_columns = network_columns
        kwargs.setdefault("dataset", IndexedRows)
        kwargs.setdefault("iterator_train__shuffle", True)
        kwargs.setdefault("iterator_train__collate_fn", _batch_as_is)
        kwargs.setdefault("iterator_valid__collate_fn", _batch_as_is)
        super().__init__(module, criterion, **kwargs)

    # ------------------------------------------------------------------ state
    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        device, d = self.game.device, self.n_players
        self.design_ = kernel_design(d, self.n_coalitions)
        self.valid_design_ = kernel_design(d, 2 * self.n_coalitions)
        null = self.game.empty_value() if self.null is None else self.null
        self.null_ = null.to(device=device, dtype=torch.float32)
        self.train_gen_ = torch.Generator(device=device).manual_seed(self.seed)
        self.order_gen_ = torch.Generator().manual_seed(self.seed + 2)
        self.reset_validation_generator()
        n, k = len(X), len(self.null_)
        self.stats_ = self.seen_ = self.fit_X_ = None
        if self.exact_targets is not None:  # nothing to draw: the values are known
            self.refresh_every_ = None
            self.targets_ = torch.as_tensor(self.exact_targets, dtype=torch.float32,
                                            device=device)
            return
        self.targets_ = None
        self.refresh_every_ = self._resolve_refresh_every(n, k, device)
        if self.refresh_every_ is not None:
            self.stats_ = CoalitionStats.zeros(n, d, k, device)
            self.seen_ = torch.zeros(n, dtype=torch.bool, device=device)
            self.fit_X_ = self.game_rows(torch.from_numpy(np.array(X, dtype=np.float32))
                                         ).to(device)

    def _resolve_refresh_every(self, n, k, device):
        if self.refresh_every != "auto":
            return self.refresh_every
        if CoalitionStats.nbytes(n, self.n_players, k) > _AUTO_CACHE_BYTES:
            return None
        if n < self.min_epoch_rows or self.draw_every_epoch:  # rows visited several times
            return 1  # an epoch, or many rows with few coalitions: new draws every epoch

        return _AUTO_REFRESH_EVERY["cpu" if device.type == "cpu" else "accelerator"]

    def game_rows(self, X):
        """The game's columns of the rows X (all but the last ``network_columns``)."""
        return X[:, : X.shape[1] - self.network_columns]

    def reset_validation_generator(self):
        """Restart the validation draws: every validation pass sees the same coalitions."""
        self.valid_gen_ = torch.Generator(device=self.game.device).manual_seed(self.seed + 1)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
        if self.targets_ is not None:
            return
        if self.stats_ is None:  # validation draws again each epoch: from the same start
            self.reset_validation_generator()
            return
        self.refresh(len(self.history) - 1)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        super().on_train_end(net, X=X, y=y, **kwargs)
        # callbacks that validate after training (TimeBudget) see the epochs' coalitions
        self.reset_validation_generator()

    def get_iterator(self, dataset, training=False):
        """skorch's iterator; in training, a small dataset is cycled through in new orders
        until the epoch has visited ``min_epoch_rows`` rows (see the class)."""
        if not training or len(dataset) >= self.min_epoch_rows:
            return super().get_iterator(dataset, training=training)
        sampler = torch.utils.data.RandomSampler(dataset, num_samples=self.min_epoch_rows,
                                                 generator=self.order_gen_)
        return torch.utils.data.DataLoader(dataset, batch_size=self.batch_size, sampler=sampler,
                                           collate_fn=_batch_as_is)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train on the rows ``X`` (n, n_features); the store is released afterwards."""
        try:
            return super().partial_fit(X, y, classes, **fit_params)
        finally:  # it holds n d^2 floats: not kept past training
            self.stats_ = self.seen_ = self.fit_X_ = self.targets_ = None

    # ------------------------------------------------------------------ targets
    def draw(self, X, generator, design, background_samples=None):
        """Fresh :class:`CoalitionStats` for the rows X (see :func:`draw_stats`)."""
        return draw_stats(self.game, self.null_, design, X, generator, background_samples)

    def refresh(self, epoch):
        """Add a new draw to the stored statistics of the training rows due at ``epoch``.

        Row i draws in the epochs e with (i + e) % refresh_every_ == 0 (all rows draw when
        first seen, in epoch 0), so a row's target averages every draw so far. A time budget
        (:class:`~sklxai.utils.callbacks.TimeBudget`) is checked between chunks of rows.
        """
        if epoch == 0:
            return
        ids = torch.arange(len(self.seen_), device=self.seen_.device)
        due = torch.nonzero(self.seen_ & ((ids + epoch) % self.refresh_every_ == 0)).squeeze(1)
        for start in range(0, len(due), _REFRESH_CHUNK_ROWS):
            rows = due[start : start + _REFRESH_CHUNK_ROWS]
            self.stats_.add(rows, self.draw(self.fit_X_[rows], self.train_gen_, self.design_,
                                            self.background_samples))
            self.check_budget()

    def check_budget(self):
        """Stop training when a :class:`~sklxai.utils.callbacks.TimeBudget` callback's budget
        is spent (see :meth:`~sklxai.utils.callbacks.TimeBudget.check`)."""
        from sklxai.utils.callbacks import TimeBudget

        for _, callback in self.callbacks_:
            if isinstance(callback, TimeBudget):
                callback.check(self)

    def get_stats(self, X, rows, training):
        """The statistics of a batch: rows X with indices ``rows``, on the game's device.

        Without a store they are drawn afresh; with one, rows drawn for before are read from
        it and the others drawn and stored. Validation draws use twice the coalitions, the
        background (or ``valid_background_samples`` rows) and their own generator.
        """
        if training:
            gen, design, samples = self.train_gen_, self.design_, self.background_samples
            draws = 1
        else:
            gen, design = self.valid_gen_, self.valid_design_
            samples, draws = self.valid_background_samples, self.valid_draws
        if self.stats_ is None:
            stats = self.draw(X, gen, design, samples)
            for _ in range(draws - 1):
                stats.add(torch.arange(len(X), device=X.device),
                          self.draw(X, gen, design, samples))
            return stats
        if training:
            self.seen_[rows] = True
        new = self.stats_.count[rows] == 0
        if bool(new.any()):
            for _ in range(draws):
                self.stats_.add(rows[new], self.draw(X[new], gen, design, samples))
        return self.stats_.take(rows)

    # ------------------------------------------------------------------ loss
    def get_loss(self, y_pred, y_true, X=None, training=False):
        """The loss of a batch: raw outputs ``y_pred``, row indices ``y_true``, rows ``X``;
        in validation the mean of :meth:`row_losses`."""
        if not training:
            return self.row_losses(y_pred, y_true, X=X).mean()
        device = self.game.device
        X, rows = self.game_rows(X).to(device), y_true.to(device)
        if self.targets_ is not None:  # regression on exact values
            return self._exact_squares(y_pred, rows).mean()
        stats = self.get_stats(X, rows, training)
        return self.objective(efficient_attributions(y_pred, stats.total, self.n_players), stats)

    def row_losses(self, y_pred, y_true, X=None):
        """The validation loss of each row of a batch (n,), as :meth:`get_loss`'s arguments."""
        device = self.game.device
        X, rows = self.game_rows(X).to(device), y_true.to(device)
        if self.targets_ is not None:
            return _reduce(self._exact_squares(y_pred, rows), "row")
        stats = self.get_stats(X, rows, training=False)
        phi = efficient_attributions(y_pred, stats.total, self.n_players)
        return self.validation_loss(phi, stats)

    def _exact_squares(self, y_pred, rows):
        """Squared errors (n, n_players, k) of the efficient prediction against the exact
        targets of ``rows``."""
        target = self.targets_[rows]
        phi = efficient_attributions(y_pred, target.sum(dim=1), self.n_players)
        return (phi - target) ** 2

    def validation_step(self, batch, **fit_params):
        """skorch's validation step; its result also holds each row's loss (``"row_losses"``,
        whose mean is ``"loss"``), with which :class:`~sklxai.utils.callbacks.TimeBudget`
        compares two sets of weights row by row (on the same validation coalitions where they
        are stored; without a store each pass draws anew, which widens the comparison's noise
        and so keeps the later weights more often)."""
        self._set_training(False)
        Xi, yi = unpack_data(batch)
        with torch.no_grad():
            y_pred = self.infer(Xi, **fit_params)
            rows = self.row_losses(y_pred, yi, X=Xi)
        return {"loss": rows.mean(), "y_pred": y_pred, "row_losses": rows}

    def validation_loss(self, phi, stats):
        """Squared distance of the prediction to its own control-variate target.

        On validation coalitions drawn once: target(phi) - phi is an unbiased estimate of
        phi* - phi whose noise is that of the residual game v - sum_{i in S} phi_i, so the loss
        estimates error^2 plus a noise term that shrinks as phi improves. Against plain
        targets the loss would be error^2 plus a fixed noise term 50x larger than error^2 on
        Adult, whose changes fall below early stopping's relative threshold long before
        training has converged. The same for every objective. One loss per row (n,).
        """
        return simshap_loss(phi, stats, control_variate=True, reduction="row")


class DivergenceRollback(Callback):
    """A skorch callback that undoes a diverging epoch: back to the best weights, half the rate.

    Adam's steps keep the learning rate's size when the gradients get small, and late in
    training on exact targets a step can throw the network far off (measured on Adult's boosted
    classifier: the error jumped from 5.5% to 68% at epoch 123 and did not come back, so early
    stopping ended training at a quarter of its budget). After an epoch whose validation loss is
    above ``factor`` times the best so far, the best epoch's weights (those
    ``skorch.callbacks.EarlyStopping`` keeps) are loaded, the optimizer's moments are cleared,
    the initial learning rate (which :class:`~sklxai.utils.callbacks.CosineDecay` scales) is
    halved, and early stopping's count of epochs without improvement restarts. An epoch within
    the factor changes nothing, so training that does not diverge is unchanged.

    Parameters
    ----------
    factor : float
        Validation loss, relative to the best so far, above which an epoch is undone.

    Attributes
    ----------
    rollbacks_ : list of int
        The epochs undone.
    """

    def __init__(self, factor):
        self.factor = factor

    def initialize(self):
        self.rollbacks_ = []
        return self

    def on_train_begin(self, net, **kwargs):
        self.rollbacks_ = []

    def on_epoch_end(self, net, **kwargs):
        losses = [row["valid_loss"] for row in net.history if "valid_loss" in row]
        stopping = dict(net.callbacks_).get("early_stopping")
        best = None if stopping is None else stopping.best_model_weights_
        if len(losses) < 2 or best is None or not losses[-1] > self.factor * min(losses):
            return
        net.module_.load_state_dict(best)
        net.optimizer_.state.clear()
        for group in net.optimizer_.param_groups:
            group["initial_lr"] = group.get("initial_lr", group["lr"]) / 2
            group["lr"] /= 2
        stopping.misses_ = 0
        self.rollbacks_.append(len(net.history))
        net.history.record("rollback", True)


#: validation_coalitions="auto": validation rows x draws aimed at (one draw per row from this
#: many validation rows on)
AUTO_VALIDATION_ROW_DRAWS = 2048


def resolve_validation_coalitions(value, n_coalitions, n_valid, auto_coalitions=None):
    """``validation_coalitions`` as used: a multiple of a validation draw's ``2 n_coalitions``
    coalitions (at least one draw). "auto": one draw of ``2 auto_coalitions`` (default
    ``n_coalitions``) per validation row where there are at least
    :data:`AUTO_VALIDATION_ROW_DRAWS` rows, else as many as make that many row draws (a
    few dozen validation rows of a small fit set get thousands of coalitions each, so that
    early stopping and the best weights follow the error, not the validation draws' noise),
    rounded up to whole draws."""
    per_draw = 2 * n_coalitions
    if value == "auto":
        base = 2 * (n_coalitions if auto_coalitions is None else auto_coalitions)
        value = base * max(1, AUTO_VALIDATION_ROW_DRAWS // max(n_valid, 1))
    return per_draw * max(1, math.ceil(value / per_draw))


def training_rows(X, *, validation_fraction, seed, target_rows, groups=None, below=None):
    """fit's rows, completed with hybrid rows when fewer than ``target_rows`` are for training
    (and, with ``below``, only when fewer than ``below`` are).

    An explainer needs no labels, only rows where the model is explained, so a fit set of fewer
    training rows than ``target_rows`` gets hybrids of its training rows up to that many: each
    player's columns (``groups``: lists of columns; None: each column) taken from one of two
    random training rows. They widen what the network sees without leaving the data's ranges.
    The validation rows (the split skorch's ``ValidSplit`` makes of fit's rows) stay real ones.

    Returns
    -------
    rows : ndarray (n + s, d)
        fit's rows, then the s hybrids.
    train, valid : int arrays or None
        The training and validation indices into ``rows``; None, None without hybrids (the
        trainer then splits fit's rows itself, the same way).
    """
    from skorch.dataset import ValidSplit

    n = len(X)
    split = ValidSplit(validation_fraction, stratified=False, random_state=seed)
    train_set, valid_set = split(IndexedRows(X[:, :1]))
    train, valid = np.asarray(train_set.indices), np.asarray(valid_set.indices)
    small = below is None or len(train) < below
    extra = 0 if target_rows is None or not small else max(0, target_rows - len(train))
    if not extra:
        return X, None, None
    rng = np.random.default_rng([seed, 7])
    first, second = (X[train[rng.integers(0, len(train), extra)]] for _ in range(2))
    groups = [np.asarray(g) for g in groups] if groups else [[j] for j in range(X.shape[1])]
    from_second = rng.random((extra, len(groups))) < 0.5
    mask = np.zeros((extra, X.shape[1]), dtype=bool)
    for g, cols in enumerate(groups):
        mask[:, cols] = from_second[:, g : g + 1]
    hybrids = np.where(mask, second, first)
    return np.concatenate([X, hybrids]), np.concatenate([train, n + np.arange(extra)]), valid


class FixedSplit:
    """skorch ``train_split`` with given training and validation indices."""

    def __init__(self, train, valid):
        self.train, self.valid = train, valid

    def __call__(self, dataset, y=None):
        return (torch.utils.data.Subset(dataset, self.train),
                torch.utils.data.Subset(dataset, self.valid))


def explainer_trainer(est, module, exact_targets=None, train=None, valid=None):
    """The (unfitted) :class:`AmortizedTrainer` of an amortized explainer ``est`` (fitted up to
    its game and its budget: ``max_epochs_``, ``max_time_``, ``background_samples_``) for the
    explainer network ``module``: its callbacks (the training recipe of
    :func:`~sklxai.utils.callbacks.training_callbacks`, progress as ``verbose`` says), its
    split (``train``/``valid`` indices, or skorch's own), and ``accelerate`` where
    ``est.accelerator`` is set."""
    from skorch.callbacks import ProgressBar
    from skorch.dataset import ValidSplit
    from skorch.utils import noop

    from sklxai.utils.callbacks import shows_table, training_callbacks

    seed, table = est._seed, shows_table(est.verbose)
    callbacks = training_callbacks(est.max_epochs_, max_time=est.max_time_,
                                   patience=est.patience, verbose=est.verbose,
                                   desc=f"{type(est).__name__} training")
    if est.rollback_factor is not None:  # after early stopping, whose best weights it loads
        at = [name for name, _ in callbacks].index("early_stopping") + 1
        callbacks.insert(at, ("divergence_rollback", DivergenceRollback(est.rollback_factor)))
    if table:
        callbacks.append(("progress", ProgressBar()))
    cls, extra = AmortizedTrainer, {"device": est.game_.device}
    if est.accelerator is not None:  # accelerate places the module and the batches
        cls, extra = accelerated_trainer_class(), {
            "accelerator": est.accelerator, "device": None,
            # the mixin prints through accelerator.print, which ignores verbose=0
            "callbacks__print_log__sink": est.accelerator.print if table else noop}
    return cls(
        module, game=est.game_, objective=est._objective(), n_players=est._n_players,
        null=est._null, n_coalitions=est.n_coalitions_,
        background_samples=est.background_samples_, refresh_every=est.refresh_every,
        valid_background_samples=est.validation_background_samples_,
        seed=seed, min_epoch_rows=est.min_epoch_rows, exact_targets=exact_targets,
        valid_draws=est.validation_coalitions_ // (2 * est.n_coalitions_),
        draw_every_epoch=_draws_every_epoch(est), network_columns=output_width(est),
        optimizer=est.optimizer, lr=est.lr, max_epochs=est.max_epochs_,
        batch_size=est.train_batch_size,
        train_split=(ValidSplit(est.validation_fraction, stratified=False, random_state=seed)
                     if train is None else FixedSplit(train, valid)),
        callbacks=callbacks + list(est.callbacks or []), verbose=int(table),
        iterator_train__generator=torch.Generator().manual_seed(seed), **extra,
    )


def _draws_every_epoch(est):
    """Whether every training row draws in every epoch: where hybrid rows complete a small fit
    set with sampled targets (many rows, few coalitions each), unless the default budget had
    to cut the background rows of a slow game (``background_samples="auto"`` resolved to a
    number by :func:`~sklxai.explainers._budget.plan_fit`, not by
    :func:`~sklxai.explainers._amortized.spreads_background`): there each epoch's new draws
    would cost about a quarter of the budget, so the rows keep their draws for several epochs
    (``refresh_every="auto"``'s 8 on a CPU). The validation's background rows were cut with
    the training's exactly there."""
    slow = est.validation_background_samples_ is not None
    return est.n_synthetic_rows_ > 0 and est.targets_ == "sampled" and not slow


@functools.cache
def accelerated_trainer_class():
    """:class:`AmortizedTrainer` with skorch's ``AccelerateMixin`` (imported when needed)."""
    from skorch.hf import AccelerateMixin

    class AcceleratedTrainer(AccelerateMixin, AmortizedTrainer):
        """AmortizedTrainer trained through ``accelerate`` (devices, processes, precision)."""

    return AcceleratedTrainer
