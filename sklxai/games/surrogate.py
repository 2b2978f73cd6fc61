"""The surrogate game of FastSHAP: a masked network trained to match the model.

A surrogate g takes a row with its absent features replaced by a fixed fill (the training mean)
together with the coalition mask, and is trained so that g(x_S, S) matches the model's output at
the full row x, over random coalitions S (Frye et al. 2021; Jethani et al. 2022, "FastSHAP"). The
minimiser of that objective is the conditional expectation E[f(X) | X_S = x_S], so the surrogate
game v_x(S) = g(x_S, S) removes features in-distribution, and every coalition costs one forward
pass of a small network on the device, whatever the model is.

:func:`fit_surrogate` trains the network (through skorch); :class:`SurrogateGame` is the game.
"""

import functools
import time

import numpy as np
import torch

from sklxai.games.coalitions import draw_surrogate_masks
from sklxai.games.marginal import Game
from sklxai.utils.validation import check_positive_int, resolve_device, seed_from

#: the training settings a Shapley explainer uses for ``game="surrogate"``; each can be
#: overridden through the explainer's ``surrogate_params`` dict (see :class:`SurrogateGame`)
SURROGATE_DEFAULTS = {
    "hidden_sizes": (256, 256, 256),
    "max_epochs": 30,
    "max_time": 60.0,
    "lr": 1e-3,
    "train_batch_size": 256,
    "validation_fraction": 0.1,
    "patience": 5,
    "n_coalitions": 4,
    "min_epoch_rows": 4096,
}

_OUTPUTS = ("softmax", "identity")


class SurrogateModule(torch.nn.Module):
    """A masked model g(x_S, S): an MLP on the standardised masked row and the mask.

    Absent features are replaced by ``fill`` (which standardises to 0), the row is standardised
    with ``fill`` and ``scale``, and the 0/1 mask is concatenated to it, so 2d inputs feed the
    MLP. Its k raw outputs go through the model's output transform: a softmax for classifiers,
    for regressors an affine map back to the targets' scale (``out_mean``, ``out_scale``).
    Everything needed to rebuild it is in :meth:`get_config` and the state dict (buffers
    included).

    Parameters
    ----------
    n_features, n_outputs : int
    hidden_sizes : tuple of int
    output : {"softmax", "identity"}
    fill, scale : array-like of shape (n_features,) or None
        Value of absent features (default 0) and input scale (default 1).
    out_mean, out_scale : array-like of shape (n_outputs,) or None
        Output standardisation for ``output="identity"`` (defaults 0 and 1).
    """

    def __init__(self, n_features, n_outputs, hidden_sizes=(256, 256, 256), output="identity",
                 fill=None, scale=None, out_mean=None, out_scale=None):
        super().__init__()
        if output not in _OUTPUTS:
            raise ValueError(f"output must be one of {list(_OUTPUTS)}; got {output!r}.")
        self.n_features, self.n_outputs = int(n_features), int(n_outputs)
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.output = output
        self.register_buffer("fill", _vector(fill, self.n_features, 0.0))
        self.register_buffer("scale", _vector(scale, self.n_features, 1.0))
        self.register_buffer("out_mean", _vector(out_mean, self.n_outputs, 0.0))
        self.register_buffer("out_scale", _vector(out_scale, self.n_outputs, 1.0))
        layers, width = [], 2 * self.n_features
        for h in self.hidden_sizes:
            layers += [torch.nn.Linear(width, h), torch.nn.GELU()]
            width = h
        layers.append(torch.nn.Linear(width, self.n_outputs))
        self.mlp = torch.nn.Sequential(*layers)

    def get_config(self):
        """The constructor arguments other than the buffers (JSON-serialisable)."""
        return {"n_features": self.n_features, "n_outputs": self.n_outputs,
                "hidden_sizes": list(self.hidden_sizes), "output": self.output}

    def raw(self, X, masks):
        """Pre-transform outputs (n, k): logits, or standardised predictions."""
        masks = masks.to(torch.bool)
        z = torch.where(masks, (X.to(self.fill.dtype) - self.fill) / self.scale,
                        torch.zeros((), dtype=self.fill.dtype, device=X.device))
        return self.mlp(torch.cat([z, masks.to(z.dtype)], dim=1))

    def transform(self, raw):
        """The model's output transform applied to :meth:`raw` outputs."""
        if self.output == "softmax":
            return torch.softmax(raw, dim=1)
        return raw * self.out_scale + self.out_mean

    def forward(self, X, masks):
        """g(x_S, S): rows X (n, d), bool masks (n, d), True = present -> outputs (n, k)."""
        return self.transform(self.raw(X, masks))

    def loss(self, X, masks, target):
        """KL(target || g) for softmax outputs, standardised squared error otherwise."""
        raw = self.raw(X, masks)
        if self.output == "softmax":
            log_q = torch.log_softmax(raw, dim=1)
            return torch.nn.functional.kl_div(log_q, target, reduction="batchmean")
        return torch.mean((raw - (target - self.out_mean) / self.out_scale) ** 2)


def _vector(value, n, default):
    if value is None:
        return torch.full((n,), float(default))
    return torch.as_tensor(np.asarray(value, dtype=np.float32)).reshape(n).clone()


class SurrogateGame(Game):
    """FastSHAP's surrogate game: v_x(S) = g(x_S, S) for a network g trained to match the model.

    g sees the row with absent features replaced by their training mean, concatenated with the
    coalition mask, and returns the k outputs through the model's output transform (softmax for
    classifiers, identity for regressors). It is trained by :func:`fit_surrogate` (or
    :meth:`fit`) to match the model at the full row under random masks, so it approximates
    E[f(X) | X_S = x_S]: features are removed in-distribution (conditional rather than
    marginal), and each coalition costs one surrogate forward pass on the device.

    The game is the surrogate's, all the way: v(N) is g with every feature present and v(empty)
    is g with none (the same for every row), so explanations are exactly efficient with respect
    to the surrogate, and ``Explanation.output`` holds g(x, N), which approximates the model's
    output (check ``full`` against the model to see how well).

    With ``game="surrogate"``, a Shapley explainer (ExactShapley, KernelSHAP, PermutationSHAP,
    SimSHAP, FastSHAP) trains the surrogate on the X passed to ``fit``, with its own
    ``random_state``-derived seed, its ``verbose`` and ``device``, and :data:`SURROGATE_DEFAULTS`:
    ``hidden_sizes=(256, 256, 256)``, ``max_epochs=30``, ``max_time=60.0``, ``lr=1e-3``,
    ``train_batch_size=256``, ``validation_fraction=0.1``, ``patience=5``, ``n_coalitions=4``,
    ``min_epoch_rows=4096`` (the time budget keeps an explainer's default ``fit`` within
    its 150 s whatever the number of rows: the epochs end first on a few thousand rows). Each
    can be changed through the explainer's ``surrogate_params`` constructor parameter (e.g.
    ``KernelSHAP(model, game="surrogate", surrogate_params={"max_epochs": 100})``), which
    ``get_params`` and ``clone`` keep. The game is ``explainer.game_``, the network
    ``explainer.game_.module`` and the training history ``explainer.game_.history``.
    SimSHAP and FastSHAP save the surrogate with their own network.

    Parameters
    ----------
    adapter : ModelAdapter
        The model the surrogate imitates (only used to train it).
    module : SurrogateModule
        The trained surrogate; moved to ``device`` and put in eval mode.
    batch_size : int or None
        Surrogate rows per forward call; None: 2**18 on CUDA, 2**15 on CPU.
    device : None, "auto", str or torch.device
        Where the surrogate runs; None: where ``module`` is. It may differ from the model's
        device (a scikit-learn model on CPU can have its surrogate game on the GPU).

    Attributes
    ----------
    module : SurrogateModule
    history : skorch.History or None
        Training history (None for a game rebuilt from saved weights).
    fit_time : float or None
        Seconds spent training.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklxai.models import make_adapter
    >>> from sklxai.games import SurrogateGame
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> adapter = make_adapter(LinearRegression().fit(X, X.sum(1)))
    >>> game = SurrogateGame.fit(adapter, X, hidden_sizes=(32,), max_epochs=2, random_state=0)
    >>> game.values(X[:2], torch.ones(5, 3, dtype=torch.bool)).shape
    torch.Size([2, 5, 1])
    """

    def __init__(self, adapter, module, *, batch_size=None, device=None):
        if not isinstance(module, SurrogateModule):
            raise TypeError(f"module must be a SurrogateModule; got {type(module).__name__}.")
        dev = module.fill.device if device is None else resolve_device(device)
        self.module = module.to(dev).eval()
        default = 2**18 if dev.type == "cuda" else 2**15
        super().__init__(adapter, batch_size=batch_size or default)
        self.history = None
        self.fit_time = None

    @classmethod
    def fit(cls, adapter, X, *, batch_size=None, device=None, **params):
        """Train a surrogate of ``adapter`` on rows ``X`` and return its game.

        ``params`` are :func:`fit_surrogate`'s keyword arguments; ``batch_size`` is the game's
        evaluation batch, ``device`` where training and the game run (None: the model's device).
        """
        module, net, fit_time = _train_surrogate(adapter, X, device=device, **params)
        game = cls(adapter, module, batch_size=batch_size)
        game.history, game.fit_time = net.history, fit_time
        return game

    @classmethod
    def from_state(cls, adapter, config, state_dict, *, batch_size=None, device=None):
        """Rebuild a game from :meth:`get_config` and a state dict, without training."""
        module = SurrogateModule(**config)
        module.load_state_dict(state_dict)
        dev = adapter.device if device is None else resolve_device(device)
        return cls(adapter, module, batch_size=batch_size, device=dev)

    def get_config(self):
        """The surrogate's architecture (JSON-serialisable); weights are ``module.state_dict()``."""
        return self.module.get_config()

    @property
    def device(self):
        return self.module.fill.device

    @property
    def background(self):
        """The fill row (1, d) that replaces absent features (the training mean)."""
        return self.module.fill[None, :]

    def as_tensor(self, X):
        """``X`` on the surrogate's device as float32."""
        if isinstance(X, torch.Tensor):
            return X.to(device=self.device, dtype=torch.float32)
        return torch.as_tensor(np.asarray(X), dtype=torch.float32, device=self.device)

    def _g(self, X, masks):
        with torch.inference_mode():
            return self.module(X, masks)

    def full(self, X):
        """g(x, N): the surrogate with every feature present, shape (n, k)."""
        X = self.as_tensor(X)
        self._check_width(X.shape[1])
        step = self.batch_size
        ones = torch.ones(min(step, len(X)), X.shape[1], dtype=torch.bool, device=X.device)
        if len(X) <= step:
            return self._g(X, ones)
        return torch.cat([self._g(X[i : i + step], ones[: len(X[i : i + step])])
                          for i in range(0, len(X), step)])

    def empty_value(self):
        """g(fill, empty): the surrogate with no feature present, shape (k,), float64."""
        none = torch.zeros(1, self.module.n_features, dtype=torch.bool, device=self.device)
        return self._g(self.background, none)[0].double()

    def _check_width(self, d):
        if d != self.module.n_features:
            raise ValueError(
                f"X has {d} features but the surrogate was trained on {self.module.n_features}."
            )

    def _evaluate_chunk(self, X, rows, masks):
        return self._g(X[rows], masks)


def fit_surrogate(adapter, X, *, hidden_sizes=(256, 256, 256), max_epochs=30, max_time=None,
                  lr=1e-3, train_batch_size=256, validation_fraction=0.1, patience=5,
                  n_coalitions=4, min_epoch_rows=4096, random_state=None, device=None, verbose=0,
                  callbacks=None):
    """Train a surrogate g(x_S, S) of a model on rows ``X`` (FastSHAP's surrogate).

    The model's outputs f(x) at the full rows are computed once, with the adapter and without
    gradients (they do not depend on the masks). Each training step then draws ``n_coalitions``
    coalitions per row and minimises KL(f(x) || g(x_S, S)) (cross-entropy with soft targets,
    minus the targets' entropy) for classifiers, or the squared error on the standardised
    outputs for regressors. Coalitions: half of them have a uniform size in 0..d (as in
    FastSHAP's surrogate training, so the empty and the full coalition are seen), half a size
    drawn from the Shapley kernel, p(s) ~ (d-1)/(s(d-s)) for s in 1..d-1 (the coalitions that
    KernelSHAP, SimSHAP and FastSHAP query most); either way the subset of that size is uniform.

    skorch runs the loop: a validation split of the rows whose loss, under coalitions that are
    the same every epoch, drives early stopping (the best weights are restored), a cosine
    learning-rate decay over ``max_epochs`` (or ``max_time``), AdamW, progress output, user
    callbacks (:func:`sklxai.utils.callbacks.training_callbacks`, the amortized explainers'
    recipe). With an int ``random_state`` on CPU, training is reproducible.

    Parameters
    ----------
    adapter : ModelAdapter
        The model to imitate (see :func:`sklxai.models.make_adapter`).
    X : array-like of shape (n, d)
        Rows in the model's input space; their mean is the fill of absent features.
    hidden_sizes : tuple of int
    max_epochs : int
    max_time : float or None
        Stop after this many seconds, keeping the best weights so far (those of the unfinished
        epoch included, see :class:`~sklxai.utils.callbacks.TimeBudget`).
    lr : float
    train_batch_size : int
        Rows per step (each with ``n_coalitions`` coalitions).
    validation_fraction : float or None
        Rows held out for early stopping; None or 0: none (the training loss is monitored).
    patience : int
        Epochs without improvement before stopping.
    n_coalitions : int
        Coalitions per row and step.
    min_epoch_rows : int
        An epoch passes over the training rows as many times as it takes to cover at least this
        many (with new coalitions each time), so that small data sets still get enough steps
        per epoch; large ones are passed over once.
    random_state : None, int or RandomState
    device : None, "auto", str or torch.device
        Where the surrogate trains and lives; None: the model's device.
    verbose : int, bool or "auto"
        0 or False: silent; "auto": a progress bar over the steps for a training expected to
        take longer than about 10 s; otherwise skorch's epoch table.
    callbacks : list of skorch callbacks or (name, callback) pairs, or None

    Returns
    -------
    module : SurrogateModule
        The trained surrogate, in eval mode, on ``device``.
    """
    module, _, _ = _train_surrogate(
        adapter, X, hidden_sizes=hidden_sizes, max_epochs=max_epochs, max_time=max_time, lr=lr,
        train_batch_size=train_batch_size, validation_fraction=validation_fraction,
        patience=patience, n_coalitions=n_coalitions, min_epoch_rows=min_epoch_rows,
        random_state=random_state, device=device,
        verbose=verbose, callbacks=callbacks)
    return module


def _train_surrogate(adapter, X, *, hidden_sizes=(256, 256, 256), max_epochs=30, max_time=None,
                     lr=1e-3, train_batch_size=256, validation_fraction=0.1, patience=5,
                     n_coalitions=4, min_epoch_rows=4096, random_state=None, device=None,
                     verbose=0, callbacks=None):
    from skorch.dataset import ValidSplit

    from sklxai.utils.callbacks import shows_table, training_callbacks

    check_positive_int(max_epochs, "max_epochs")
    check_positive_int(train_batch_size, "train_batch_size")
    check_positive_int(patience, "patience")
    check_positive_int(n_coalitions, "n_coalitions")
    check_positive_int(min_epoch_rows, "min_epoch_rows")
    vf = float(validation_fraction or 0.0)
    if not 0.0 <= vf < 0.5:
        raise ValueError(f"validation_fraction must be in [0, 0.5); got {validation_fraction}.")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"X must be 2-D with at least 2 rows; got shape {X.shape}.")
    seed = int(random_state) if isinstance(random_state, (int, np.integer)) \
        else seed_from(random_state)
    dev = adapter.device if device is None else resolve_device(device)

    # the model's outputs at the full rows: the targets, whatever the mask
    Xm = adapter.to_input(X)
    step = adapter.default_batch_size
    Y = torch.cat([adapter(Xm[i : i + step]) for i in range(0, len(Xm), step)])
    Y = Y.detach().to(torch.float32).cpu().numpy()
    d, k = X.shape[1], Y.shape[1]
    output = "softmax" if getattr(adapter, "is_classifier", False) and k > 1 else "identity"
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    out_mean, out_scale = np.zeros(k), np.ones(k)
    if output == "identity":
        out_mean, out_scale = Y.mean(axis=0), Y.std(axis=0)
        out_scale[out_scale == 0] = 1.0

    cbs = training_callbacks(max_epochs, max_time=max_time, patience=patience,
                             monitor="valid_loss" if vf > 0 else "train_loss", verbose=verbose,
                             desc="surrogate training")
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        module = SurrogateModule(d, k, hidden_sizes, output, X.mean(axis=0), scale, out_mean,
                                 out_scale)
        net = _net_class()(
            module,
            n_coalitions=n_coalitions,
            min_epoch_rows=min_epoch_rows,
            seed=seed,
            optimizer=torch.optim.AdamW,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=train_batch_size,
            train_split=ValidSplit(vf, stratified=False, random_state=seed) if vf > 0 else None,
            callbacks=cbs + list(callbacks or []),
            device=dev,
            verbose=int(shows_table(verbose)),
            iterator_train__shuffle=True,
            iterator_train__generator=torch.Generator().manual_seed(seed),
        )
        t0 = time.perf_counter()
        net.fit(X.astype(np.float32), Y)
    fit_time = time.perf_counter() - t0
    return net.module_.eval(), net, fit_time


@functools.cache
def _net_class():
    from skorch import NeuralNet

    class SurrogateNet(NeuralNet):
        """skorch net whose steps draw coalitions and fit the surrogate to the model's outputs.

        Parameters
        ----------
        module : SurrogateModule
        n_coalitions : int
            Coalitions per row and step.
        min_epoch_rows : int
            Rows an epoch covers at least (small data sets are passed over several times).
        seed : int
            Seeds the training coalitions (seed) and the validation ones (seed + 1).
        criterion : unused
            The module computes its own loss.
        **kwargs
            skorch's ``NeuralNet`` parameters.

        Attributes
        ----------
        mask_gen_, valid_gen_ : torch.Generator
            The validation generator restarts at each epoch (the same validation coalitions
            every epoch) and at the end of training.
        """

        def __init__(self, module, *, n_coalitions=4, min_epoch_rows=4096, seed=0,
                     criterion=torch.nn.MSELoss, **kwargs):
            self.n_coalitions = n_coalitions
            self.min_epoch_rows = min_epoch_rows
            self.seed = seed
            super().__init__(module, criterion, **kwargs)

        def on_train_begin(self, net, X=None, y=None, **kwargs):
            super().on_train_begin(net, X=X, y=y, **kwargs)
            self.mask_gen_ = torch.Generator(device=self.device).manual_seed(self.seed)
            self.reset_validation_generator()

        def reset_validation_generator(self):
            """Restart the validation coalitions (valid_loss is comparable across epochs)."""
            self.valid_gen_ = torch.Generator(device=self.device).manual_seed(self.seed + 1)

        def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
            super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
            self.reset_validation_generator()

        def on_train_end(self, net, X=None, y=None, **kwargs):
            super().on_train_end(net, X=X, y=y, **kwargs)
            self.reset_validation_generator()  # for callbacks that validate (TimeBudget)

        def _step(self, batch, generator):
            X = batch[0].to(self.device)
            Y = batch[1].to(self.device)
            r = self.n_coalitions
            X, Y = X.repeat(r, 1), Y.repeat(r, 1)
            masks = draw_surrogate_masks(len(X), X.shape[1], generator=generator,
                                         device=X.device)
            return self.module_.loss(X, masks, Y), masks

        def train_step_single(self, batch, **fit_params):
            self._set_training(True)
            loss, masks = self._step(batch, self.mask_gen_)
            loss.backward()
            return {"loss": loss, "y_pred": masks}

        def validation_step(self, batch, **fit_params):
            self._set_training(False)
            with torch.no_grad():
                loss, masks = self._step(batch, self.valid_gen_)
            return {"loss": loss, "y_pred": masks}

        def get_iterator(self, dataset, training=False):
            if training and len(dataset) < self.min_epoch_rows:
                # small data: several passes per epoch, each with fresh coalitions
                repeats = -(-self.min_epoch_rows // len(dataset))
                dataset = torch.utils.data.ConcatDataset([dataset] * repeats)
            return super().get_iterator(dataset, training=training)

    return SurrogateNet
