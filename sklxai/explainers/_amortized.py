"""What SimSHAP and FastSHAP share: an explainer network trained through skorch on a game.

The explainer network maps a row x to raw attributions (d x k); the additive efficient
normalisation phi = raw + (v(N) - v(empty) - sum raw) / d makes every prediction exactly
efficient. Training draws coalitions from the Shapley kernel (with their complements), evaluates
the game on the device without gradients, and minimises a method-specific loss
(:meth:`AmortizedShapley._objective`) of the rows' :class:`CoalitionStats`. Those statistics
are stored per row (keyed by the row's index, which the training batches carry) and redrawn every
``refresh_every`` epochs, new draws added to old: the game, by far the costliest part, is
evaluated once for many network steps. skorch runs the loop: validation split (whose targets
are drawn once), early stopping with the best weights kept, a cosine learning-rate decay over
epochs or the time budget, progress output, user callbacks.
"""

import math
import time
from itertools import combinations

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import Callback

from sklxai.explainers._shapley import ShapleyExplainer, _prefixed, kernel_size_mass
from sklxai.explainers._targets import CoalitionStats
from sklxai.explainers.networks import MLPExplainerModule
from sklxai.utils.validation import check_positive_int


class KernelDesign:
    """How training draws coalitions: extreme sizes enumerated, the rest sampled (stratified).

    The Shapley kernel puts most of its mass on the smallest and largest coalitions (sizes 1 and
    d-1 carry 2 / sum_s (d-1)/(s(d-s)) of it: 36% for d = 12), which are also few. Size pairs
    (s, d-s) are enumerated from the outside in while they fit in half of the budget; each
    enumerated coalition gets its exact probability p(S) as weight, and the remaining mass is
    shared by coalitions sampled from the kernel restricted to the other sizes, each with its
    complement. The weighted average is unbiased for any expectation over the kernel, with less
    variance than plain sampling (stratification); :meth:`draw` returns masks and weights.

    Parameters
    ----------
    d : int
        Number of features (>= 2).
    n_subsets : int
        Coalitions per row (enumerated + sampled).
    """

    def __init__(self, d, n_subsets):
        mass = kernel_size_mass(d)  # size s at index s-1
        prob = mass / mass.sum()
        enumerated, weights = [], []
        left = list(range(1, d))
        budget = n_subsets // 2
        for s in range(1, d // 2 + 1):
            pair = [s] if s == d - s else [s, d - s]
            count = sum(math.comb(d, t) for t in pair)
            if len(enumerated) + count > budget:
                break
            for t in pair:
                for idx in combinations(range(d), t):
                    mask = np.zeros(d, dtype=bool)
                    mask[list(idx)] = True
                    enumerated.append(mask)
                    weights.append(prob[t - 1] / math.comb(d, t))
                left.remove(t)
        self.d = d
        self.enumerated = np.asarray(enumerated, dtype=bool).reshape(-1, d)
        self.enumerated_weights = np.asarray(weights, dtype=np.float64)
        self.sizes = np.asarray(left, dtype=np.int64)
        self.rest_mass = float(prob[self.sizes - 1].sum()) if left else 0.0
        n_sampled = n_subsets - len(enumerated)
        self.n_sampled = 2 * (n_sampled // 2) if left else 0

    def draw(self, n, *, generator, device):
        """Masks (n, M, d) bool and weights (M,) summing to 1, shared by the n rows."""
        d = self.d
        parts, weights = [], []
        if len(self.enumerated):
            enum = torch.as_tensor(self.enumerated, device=device)
            parts.append(enum[None].expand(n, -1, -1))
            weights.append(torch.as_tensor(self.enumerated_weights, dtype=torch.float32))
        if self.n_sampled:
            half = self.n_sampled // 2
            p = torch.as_tensor(kernel_size_mass(d)[self.sizes - 1], dtype=torch.float32,
                                device=device)
            pick = torch.multinomial(p, n * half, replacement=True, generator=generator)
            sizes = torch.as_tensor(self.sizes, device=device)[pick]
            keys = torch.rand(n * half, d, generator=generator, device=device)
            ranks = keys.argsort(dim=1).argsort(dim=1)
            sampled = (ranks < sizes[:, None]).reshape(n, half, d)
            parts.append(torch.cat([sampled, ~sampled], dim=1))
            weights.append(torch.full((self.n_sampled,), self.rest_mass / self.n_sampled))
        return torch.cat(parts, dim=1), torch.cat(weights).to(device)


#: refresh_every="auto": epochs between a row's draws. A game batch (32 coalitions x 50
#: background rows) costs about 12 network steps on a 2-core CPU (Adult MLP), and on a GPU an
#: estimated 2-3, so the CPU reuses each draw longer; see the README's SimSHAP benchmark.
_AUTO_REFRESH_EVERY = {"cpu": 8, "accelerator": 2}
#: "auto" stores statistics only while they take at most this much memory (else None)
_AUTO_CACHE_BYTES = 2**30
#: rows per game call when refreshing stored statistics at the start of an epoch
_REFRESH_CHUNK_ROWS = 4096


class _CosineDecay(Callback):
    """skorch callback: cosine learning-rate decay to 0 over training.

    The factor at a training batch is 0.5 (1 + cos(pi p)), p the larger of the epoch progress
    (epochs done / ``max_epochs``) and, with a time budget, the time progress (seconds since
    training began / ``max_time``): under a budget the rate still decays to 0 by its end
    instead of being cut off near its start value.
    """

    def __init__(self, max_epochs, max_time=None):
        self.max_epochs = max_epochs
        self.max_time = max_time

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self._start = time.perf_counter()
        self._base = [group["lr"] for group in net.optimizer_.param_groups]

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        progress = (len(net.history) - 1) / self.max_epochs
        if self.max_time:
            progress = max(progress, (time.perf_counter() - self._start) / self.max_time)
        factor = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        for group, lr in zip(net.optimizer_.param_groups, self._base, strict=True):
            group["lr"] = lr * factor


class _TimeBudget:
    """skorch callback: stop training after ``seconds`` and keep the best weights seen.

    The clock is checked after every batch, training or validation. On interruption the
    current weights are validated too (the unfinished epoch's progress is not thrown away) and
    compared with the best completed epoch; the better ones are kept. Listed before
    EarlyStopping, whose own restore then loads the same weights.
    """

    def __init__(self, seconds):
        self.seconds = seconds

    def initialize(self):
        self.interrupted_ = False
        return self

    def get_params(self, deep=True):
        return {"seconds": self.seconds}

    def set_params(self, **kwargs):
        self.seconds = kwargs.get("seconds", self.seconds)
        return self

    def on_train_begin(self, net, **kwargs):
        self._start = time.perf_counter()
        self.interrupted_ = False

    def on_batch_end(self, net, **kwargs):
        if not self.interrupted_ and time.perf_counter() - self._start > self.seconds:
            self.interrupted_ = True
            raise KeyboardInterrupt  # skorch ends fit cleanly and runs on_train_end

    def on_train_end(self, net, X=None, y=None, **kwargs):
        if not self.interrupted_:
            return
        import copy

        _, dataset_valid = net.get_split_datasets(X, y)
        net.explainer_._reset_validation_generator()
        total, count = 0.0, 0
        for batch in net.get_iterator(dataset_valid, training=False):
            loss = net.validation_step(batch)["loss"]
            total += float(loss) * len(batch[0])
            count += len(batch[0])
        current = total / max(count, 1)
        done = [row.get("valid_loss") for row in net.history if "valid_loss" in row]
        stopper = dict(net.callbacks_).get("early_stopping")
        if not done or current < min(done):
            if stopper is not None:  # EarlyStopping's restore now loads the current weights
                stopper.best_model_weights_ = copy.deepcopy(net.module_.state_dict())
                stopper.best_epoch_ = -1
        elif stopper is not None and stopper.best_model_weights_ is not None:
            net.module_.load_state_dict(stopper.best_model_weights_)

    def __getattr__(self, name):  # other skorch hooks: no-ops
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)


class _IndexedRows(torch.utils.data.Dataset):
    """fit's rows with their indices (the keys of their stored statistics).

    A batch is gathered by one indexing operation (``__getitems__``, passed through by
    ``Subset``) instead of row by row and collated, which cost as much as a network step.
    """

    def __init__(self, X):
        self.X = X

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], i

    def __getitems__(self, indices):
        rows = torch.as_tensor(indices, dtype=torch.long)
        return self.X[rows], rows


def _batch_as_is(batch):
    """collate_fn for :class:`_IndexedRows`, whose batches come out whole."""
    return batch


class ExplainerNet(NeuralNet):
    """skorch net whose steps draw coalitions and targets from the explainer's game.

    The explainer is attached as ``explainer_`` for the duration of ``fit`` only.
    """

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        X, rows = (t.to(self.explainer_.game_.device) for t in batch)
        loss, phi = self.explainer_._loss(self.module_, X, rows)
        loss.backward()
        return {"loss": loss, "y_pred": phi}

    def validation_step(self, batch, **fit_params):
        self._set_training(False)
        X, rows = (t.to(self.explainer_.game_.device) for t in batch)
        with torch.no_grad():
            loss, phi = self.explainer_._validation_loss(self.module_, X, rows)
        return {"loss": loss, "y_pred": phi}

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
        self.explainer_._on_epoch_begin(len(net.history) - 1)


def _accelerated_net_class():
    """ExplainerNet with skorch's AccelerateMixin (imported only when an accelerator is given)."""
    from skorch.hf import AccelerateMixin

    class AcceleratedExplainerNet(AccelerateMixin, ExplainerNet):
        """ExplainerNet trained through ``accelerate`` (devices, processes, mixed precision)."""

        def train_step_single(self, batch, **fit_params):
            self._set_training(True)
            X, rows = (t.to(self.explainer_.game_.device) for t in batch)
            with self.accelerator.autocast():
                loss, phi = self.explainer_._loss(self.module_, X, rows)
                self.accelerator.backward(loss)
            return {"loss": loss, "y_pred": phi}

    return AcceleratedExplainerNet


class AmortizedShapley(ShapleyExplainer):
    """Base of explainers that learn a network predicting Shapley values in one forward pass.

    Subclasses define :meth:`_objective`. Parameters shared by SimSHAP and FastSHAP are
    documented there.
    """

    def _fit_shapley(self, d):
        check_positive_int(self.n_subsets, "n_subsets", minimum=2)
        check_positive_int(self.background_samples, "background_samples", allow_none=True)
        check_positive_int(self.max_epochs, "max_epochs")
        check_positive_int(self.patience, "patience", allow_none=True)
        if self.refresh_every != "auto":
            check_positive_int(self.refresh_every, "refresh_every", allow_none=True)
        check_positive_int(self.train_batch_size, "train_batch_size")
        if not 0.0 < float(self.validation_fraction) < 0.5:
            raise ValueError(
                f"validation_fraction must be in (0, 0.5); got {self.validation_fraction}."
            )
        if d < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 features (players); got n_features={d}."
            )

    def _device(self):
        accelerator = getattr(self, "accelerator", None)
        if accelerator is None:
            return self.device
        from sklxai.utils.validation import resolve_device

        if self.device != "auto" and resolve_device(self.device) != accelerator.device:
            raise ValueError(
                f"device={self.device!r} disagrees with the accelerator's device "
                f"{accelerator.device}; leave device='auto' when an accelerator is given."
            )
        return accelerator.device

    def _fit(self, X, y):
        if X.shape[0] < 2:
            raise ValueError(
                f"X has n_samples={X.shape[0]}; {type(self).__name__} trains its explainer "
                "network on fit's X and needs at least 2 samples (validation_fraction of them "
                "are held out)."
            )
        super()._fit(X, y)
        self._train_network(self._model_rows(X))

    def _compute_dtype(self):
        # the explainer network and its training targets are float32
        dtype = super()._compute_dtype()
        narrower = torch.finfo(dtype).max < torch.finfo(torch.float32).max
        return dtype if dtype.is_floating_point and narrower else torch.float32

    # ------------------------------------------------------------------ training
    def _build_module(self, X):
        d, n_attr = X.shape[1], self._n_players * self.n_outputs_
        if self.module is None:
            scale = X.std(axis=0)
            scale[scale == 0] = 1.0
            return MLPExplainerModule(d, n_attr, tuple(self.hidden_sizes), X.mean(axis=0), scale)
        import copy

        module = (self.module(d, n_attr) if isinstance(self.module, type)
                  else copy.deepcopy(self.module))
        if not isinstance(module, torch.nn.Module):
            raise TypeError(
                "module must be a torch.nn.Module instance or a class called as "
                f"module(n_features, n_attributions); got {type(module).__name__}."
            )
        return module

    def _train_network(self, X):
        from skorch.callbacks import EarlyStopping, ProgressBar
        from skorch.dataset import ValidSplit

        device = self.game_.device
        seed = self._seed
        self._train_gen = torch.Generator(device=device).manual_seed(seed)
        self._valid_seed = seed + 1
        self._reset_validation_generator()
        self.refresh_every_ = self._resolve_refresh_every(len(X), device)
        self._cache = None
        if self.refresh_every_ is not None:
            n = len(X)
            self._cache = CoalitionStats.zeros(n, self._n_players, self.n_outputs_, device)
            self._train_rows = torch.zeros(n, dtype=torch.bool, device=device)
            self._row_ids = torch.arange(n, device=device)
            self._fit_X = torch.as_tensor(X.astype(np.float32), device=device)
        callbacks = [("lr_decay", _CosineDecay(self.max_epochs, self.max_time))]
        if self.max_time is not None:  # before early stopping: see _TimeBudget
            callbacks.append(("time_budget", _TimeBudget(float(self.max_time))))
        callbacks.append(("early_stopping", EarlyStopping(
            # patience=None: never stop early (the best weights are still restored)
            patience=self.max_epochs if self.patience is None else self.patience,
            load_best=True, sink=print if self.verbose else _silent)))
        if self.verbose:
            callbacks.append(("progress", ProgressBar()))
        callbacks += list(self.callbacks or [])
        net_cls, extra = ExplainerNet, {"device": device}
        if self.accelerator is not None:  # accelerate places the module and the batches
            net_cls, extra = _accelerated_net_class(), {
                "accelerator": self.accelerator, "device": None,
                # the mixin prints through accelerator.print, which ignores verbose=0
                "callbacks__print_log__sink": self.accelerator.print if self.verbose
                else _silent}
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            net = net_cls(
                self._build_module(X),
                criterion=torch.nn.MSELoss,
                optimizer=self.optimizer,
                lr=self.lr,
                max_epochs=self.max_epochs,
                batch_size=self.train_batch_size,
                train_split=ValidSplit(self.validation_fraction, stratified=False,
                                       random_state=seed),
                callbacks=callbacks,
                verbose=int(bool(self.verbose)),
                iterator_train__shuffle=True,
                iterator_train__generator=torch.Generator().manual_seed(seed),
                iterator_train__collate_fn=_batch_as_is,
                iterator_valid__collate_fn=_batch_as_is,
                **extra,
            )
            net.explainer_ = self
            net.initialize()
            t0 = time.perf_counter()
            try:
                net.fit(_IndexedRows(torch.tensor(X, dtype=torch.float32)), None)
            finally:
                self._cache = self._train_rows = self._row_ids = self._fit_X = None
        self.fit_time_ = time.perf_counter() - t0
        if not all(bool(torch.isfinite(p).all()) for p in net.module_.parameters()):
            raise ValueError(
                f"{type(self).__name__}'s training diverged: the explainer network's weights are "
                "NaN or infinite. The model's outputs on X (or X itself) are likely too large for "
                "float32; rescale X or the model's outputs, or lower lr."
            )
        self.net_ = net
        self.module_ = net.module_
        self.module_.eval()
        self.history_ = net.history
        del net.explainer_

    def _resolve_refresh_every(self, n, device):
        """``refresh_every`` with "auto" resolved: an int, or None (no stored statistics)."""
        if self.refresh_every != "auto":
            return self.refresh_every
        if CoalitionStats.nbytes(n, self._n_players, self.n_outputs_) > _AUTO_CACHE_BYTES:
            return None
        return _AUTO_REFRESH_EVERY["cpu" if device.type == "cpu" else "accelerator"]

    def _reset_validation_generator(self):
        self._valid_gen = torch.Generator(device=self.game_.device).manual_seed(self._valid_seed)

    def _predict(self, module, X, total):
        """Efficient attributions (n, d, k) from the network; total = v(N) - v(empty)."""
        n, d = X.shape[0], self._n_players
        raw = module(X.to(torch.float32)).reshape(n, d, -1).to(total.dtype)
        return raw + ((total - raw.sum(dim=1)) / d)[:, None, :]

    def _design(self, n_subsets):
        designs = self.__dict__.setdefault("_designs", {})
        if n_subsets not in designs:
            designs[n_subsets] = KernelDesign(self._n_players, n_subsets)
        return designs[n_subsets]

    def _draw(self, X, generator, n_subsets, background_samples=None):
        """Fresh coalitions for the rows X, as :class:`CoalitionStats` of one draw.

        With ``background_samples``, v(S) is estimated from that many random background rows
        (marginal game only); otherwise it is computed over the whole background.
        """
        masks, weights = self._design(n_subsets).draw(len(X), generator=generator,
                                                      device=X.device)
        with torch.no_grad():
            null = self._null.to(torch.float32)
            if background_samples is not None and hasattr(self.game_, "sampled_values"):
                values = self.game_.sampled_values(X, masks, background_samples,
                                                   generator=generator)
            else:
                values = self.game_.values(X, masks)
            values = values.to(torch.float32) - null
            total = self.game_.full(X).to(torch.float32) - null
            return CoalitionStats.from_draw(masks, weights, values, total)

    def _cached(self, X, rows, generator, n_subsets, background_samples=None):
        """The stored statistics of ``rows``, drawing for the rows that have none yet."""
        new = self._cache.count[rows] == 0
        if bool(new.any()):
            self._cache.add(rows[new], self._draw(X[new], generator, n_subsets,
                                                  background_samples))
        return self._cache.take(rows)

    def _on_epoch_begin(self, epoch):
        if self._cache is None:
            # the same validation coalitions every epoch: valid_loss is comparable across epochs
            self._reset_validation_generator()
            return
        # row i draws new coalitions in the epochs e with (i + e) % refresh_every == 0,
        # added to its statistics: its target averages every draw so far
        due = self._train_rows & ((self._row_ids + epoch) % self.refresh_every_ == 0)
        due = torch.nonzero(due).squeeze(1)
        if epoch == 0 or not len(due):
            return
        for start in range(0, len(due), _REFRESH_CHUNK_ROWS):
            rows = due[start : start + _REFRESH_CHUNK_ROWS]
            self._cache.add(rows, self._draw(self._fit_X[rows], self._train_gen,
                                             self.n_subsets, self.background_samples))

    def _loss(self, module, X, rows):
        if self._cache is None:
            stats = self._draw(X, self._train_gen, self.n_subsets, self.background_samples)
        else:
            self._train_rows[rows] = True
            stats = self._cached(X, rows, self._train_gen, self.n_subsets,
                                 self.background_samples)
        phi = self._predict(module, X, stats.total)
        return self._objective(phi, stats), phi

    def _validation_loss(self, module, X, rows):
        """Squared distance of the prediction to its own control-variate target.

        On validation coalitions drawn once: target(phi) - phi is an unbiased estimate of
        phi* - phi whose noise is that of the residual game v - sum_{i in S} phi_i, so the loss
        estimates error^2 plus a noise term that shrinks as phi improves. Against plain
        targets the loss would be error^2 plus a fixed noise term 50x larger than error^2 on
        Adult, whose changes fall below early stopping's relative threshold long before
        training has converged.
        """
        if self._cache is None:
            stats = self._draw(X, self._valid_gen, 2 * self.n_subsets)
        else:
            stats = self._cached(X, rows, self._valid_gen, 2 * self.n_subsets)
        phi = self._predict(module, X, stats.total)
        return torch.mean((phi - stats.simshap_targets(control=phi)) ** 2), phi

    def _objective(self, phi, stats):
        """The training loss for efficient predictions phi (n, d, k) given the rows' stats."""
        raise NotImplementedError  # pragma: no cover - abstract

    # ------------------------------------------------------------------ inference
    def _shapley_values(self, X, fx, rng):
        with torch.no_grad():
            return self._predict(self.module_, X, fx - self._null).double()

    def _coalitions_per_row(self, d):
        return 1

    def score(self, X, y=None):
        """Agreement with fresh unbiased Shapley targets on ``X`` (higher is better).

        Returns minus the mean squared difference between the explainer's values and SimSHAP's
        unbiased per-row targets, drawn with a fixed seed from the explainer's game. The targets'
        noise does not depend on the explainer, so this ranks fitted explainers (for
        ``GridSearchCV``) without ground truth: expected score = -(error^2 + noise variance).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        Xt = self.game_.as_tensor(self._model_rows(self._validate_rows(X)))
        gen = torch.Generator(device=Xt.device).manual_seed(12345)
        total_err, count = 0.0, 0
        for start in range(0, len(Xt), self.train_batch_size):
            chunk = Xt[start : start + self.train_batch_size]
            stats = self._draw(chunk, gen, 4 * self.n_subsets)
            target = stats.simshap_targets()
            with torch.no_grad():
                phi = self._predict(self.module_, chunk, stats.total)
            total_err += float(((phi - target) ** 2).sum())
            count += target.numel()
        return -total_err / count

    # ------------------------------------------------------------------ persistence
    # save()/load() are BaseExplainer's; the network's weights travel with the state. A custom
    # ``module`` is not saved (it is code): pass it again, ``SimSHAP.load(path, model, module=M)``.
    def _unsaved_params(self):
        return super()._unsaved_params() + ("module", "callbacks", "optimizer", "accelerator")

    def _get_state(self):
        meta, tensors = super()._get_state()
        meta["custom_module"] = self.module is not None
        meta["fit_time"] = self.fit_time_
        meta["refresh_every_used"] = self.refresh_every_
        tensors.update({f"module.{k}": v for k, v in self.module_.state_dict().items()})
        return meta, tensors

    @classmethod
    def _params_from_state(cls, meta):
        params = super()._params_from_state(meta)
        if "hidden_sizes" in params:
            params["hidden_sizes"] = tuple(params["hidden_sizes"])
        return params

    def _restore(self, X, meta, tensors):
        if meta["custom_module"] and self.module is None:
            raise ValueError("the explainer was trained with a custom module; pass it again: "
                             f"{type(self).__name__}.load(path, model, module=...).")
        if meta.get("surrogate") is not None:
            self._saved_surrogate = (meta["surrogate"], _prefixed(tensors, "surrogate."))
        ShapleyExplainer._fit(self, X, None)  # the game and designs, without training
        module = self._build_module(self._model_rows(X))
        module.load_state_dict(_prefixed(tensors, "module."))
        self.module_ = module.to(self.game_.device).eval()
        self.fit_time_ = meta["fit_time"]
        self.refresh_every_ = meta.get("refresh_every_used")  # absent from older files


def _silent(*args, **kwargs):
    pass
