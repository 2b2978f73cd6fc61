"""What SimSHAP and FastSHAP share: an explainer network, trained on a game, that explains rows.

The training itself is :class:`~sklxai.explainers._trainer.AmortizedTrainer`'s (a skorch net
that owns the game's draws and the stored targets); an amortized explainer builds it with its
method's objective, fits it on fit's rows, and keeps the trained network. Explaining a row is
then one model call (for v(N)) and one forward pass of the network.
"""

import math
import time

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from sklxai.explainers._budget import plan_fit
from sklxai.explainers._exact_targets import exact_subset, exact_targets, resolve_targets
from sklxai.explainers._network import build_module, network_inputs, network_rows, output_width
from sklxai.explainers._shapley import ShapleyExplainer, _prefixed, shared_params
from sklxai.explainers._trainer import (
    efficient_attributions,
    explainer_trainer,
    resolve_validation_coalitions,
    training_rows,
)
from sklxai.explainers._self_check import (
    agreement_score,
    measured_error,
    report_from_state,
    report_state,
)
from sklxai.explainers._validation import REFERENCES, TreeReference
from sklxai.utils import param_validation as pv


class AmortizedShapley(ShapleyExplainer):
    """Base of explainers that learn a network predicting Shapley values in one forward pass.

    Subclasses define :meth:`_objective` (and may add parameters, e.g. SimSHAP's
    ``control_variate``). The parameters, shared by SimSHAP and FastSHAP, are documented in
    :class:`~sklxai.SimSHAP`.
    """

    _parameter_constraints = {
        **ShapleyExplainer._parameter_constraints,
        "module": pv.unchecked("torch.nn.Module, a class or None (checked when built)"),
        "hidden_sizes": pv.unchecked("tuple of int"),
        "n_coalitions": pv.any_of(pv.options("auto"), pv.positive_int(minimum=2)),
        "background_samples": pv.any_of(pv.options("auto"), pv.positive_int(allow_none=True)),
        "refresh_every": pv.any_of(pv.options("auto"), pv.positive_int(allow_none=True)),
        "max_epochs": pv.any_of(pv.options("auto"), pv.positive_int()),
        "tree_inputs": pv.options("auto", False),
        "output_inputs": pv.options("auto", False),
        "augment": pv.any_of(pv.options("auto"), pv.positive_int(allow_none=True)),
        "max_time": pv.any_of(pv.options("auto"),
                              pv.real_in(0, np.inf, inclusive=(True, False), allow_none=True)),
        "lr": pv.real_in(0, np.inf),
        "optimizer": pv.unchecked("torch.optim.Optimizer class"),
        "train_batch_size": pv.positive_int(),
        "min_epoch_rows": pv.positive_int(),
        "validation_fraction": pv.real_in(0.0, 0.5),
        "validation_coalitions": pv.any_of(pv.options("auto"), pv.positive_int()),
        "patience": pv.positive_int(allow_none=True),
        "rollback_factor": pv.real_in(1.0, np.inf, inclusive=(False, False), allow_none=True),
        "callbacks": pv.unchecked("list of skorch callbacks or None"),
        "accelerator": pv.unchecked("accelerate.Accelerator or None"),
        "targets": pv.options("auto", "sampled", "tree", "exact"),
        "validation_reference": pv.options(*REFERENCES, None),
        "validation_rows": pv.positive_int(),
        "tolerance": pv.real_in(0.0, np.inf),
    }

    def __init__(self, model, *, background=None, n_background=100, target=None, game="marginal",
                 feature_groups=None, surrogate_params=None, fast_path="auto", module=None,
                 hidden_sizes=(256, 256, 256), n_coalitions="auto", background_samples="auto",
                 refresh_every="auto", max_epochs="auto", max_time="auto", lr=3e-3,
                 optimizer=torch.optim.AdamW, train_batch_size=256, min_epoch_rows=8192,
                 validation_fraction=0.1, validation_coalitions="auto",
                 patience=30, rollback_factor=8.0, callbacks=None, targets="auto",
                 tree_inputs="auto", output_inputs="auto", augment="auto",
                 validation_reference="auto",
                 validation_rows=32,
                 tolerance=0.10, n_jobs=None, verbose="auto", accelerator=None, device="auto",
                 random_state=None, batch_size=None):
        super().__init__(**shared_params(locals()))
        self.module = module
        self.hidden_sizes = hidden_sizes
        self.n_coalitions = n_coalitions
        self.background_samples = background_samples
        self.refresh_every = refresh_every
        self.max_epochs = max_epochs
        self.max_time = max_time
        self.lr = lr
        self.optimizer = optimizer
        self.train_batch_size = train_batch_size
        self.min_epoch_rows = min_epoch_rows
        self.validation_fraction = validation_fraction
        self.validation_coalitions = validation_coalitions
        self.patience = patience
        self.rollback_factor = rollback_factor
        self.callbacks = callbacks
        self.targets = targets
        self.augment = augment
        self.tree_inputs = tree_inputs
        self.output_inputs = output_inputs
        self.validation_reference = validation_reference
        self.validation_rows = validation_rows
        self.tolerance = tolerance
        self.accelerator = accelerator

    def _objective(self):
        """The training objective, ``objective(phi, stats) -> loss`` (picklable)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _device(self):
        accelerator = self.accelerator
        if accelerator is None:
            return self.device
        from sklxai.utils.validation import resolve_device

        if self.device != "auto" and resolve_device(self.device) != accelerator.device:
            raise ValueError(
                f"device={self.device!r} disagrees with the accelerator's device "
                f"{accelerator.device}; leave device='auto' when an accelerator is given."
            )
        return accelerator.device

    def _compute_dtype(self):
        # the explainer network and its training targets are float32
        dtype = super()._compute_dtype()
        narrower = torch.finfo(dtype).max < torch.finfo(torch.float32).max
        return dtype if dtype.is_floating_point and narrower else torch.float32

    # ------------------------------------------------------------------ training
    def _fit(self, X, y):
        name, begin = type(self).__name__, time.perf_counter()
        if X.shape[0] < 2:
            raise ValueError(
                f"X has n_samples={X.shape[0]}; {name} trains its explainer network on fit's X "
                "and needs at least 2 samples (validation_fraction of them are held out)."
            )
        ShapleyExplainer._fit(self, X, y)
        if self._n_players < 2:
            raise ValueError(
                f"{name} needs at least 2 features (players); got n_features={self._n_players}."
            )
        self.targets_, self.exact_target_rows_ = resolve_targets(self, X)
        X = exact_subset(X, self.exact_target_rows_, self._seed)  # what exact targets afford
        target = (_AUTO_AUGMENT_ROWS[self.targets_] if self.augment == "auto"
                  else self.augment)
        if target is not None and self.exact_target_rows_ is not None:
            target = min(target, self.exact_target_rows_)
        # "auto" completes only small fit sets when the targets are sampled (see augment)
        below = (AUTO_SMALL_FIT_ROWS if self.augment == "auto" and self.targets_ == "sampled"
                 else None)
        groups = (list(self.feature_groups_.values()) if self.feature_groups_ else None)
        rows, train, valid = training_rows(X, validation_fraction=self.validation_fraction,
                                           seed=self._seed, target_rows=target, groups=groups,
                                           below=below)
        self.n_synthetic_rows_ = len(rows) - len(X)
        n_valid = len(valid) if valid is not None else math.ceil(len(X) * self.validation_fraction)
        self.n_coalitions_, self.validation_coalitions_ = _resolve_draws(
            self, n_valid, len(rows) if train is None else len(train))
        X = self._model_rows(rows)
        device = self.game_.device
        tree = TreeReference(self)  # exact values on the game, for this fit only
        exact = self._exact_targets(rows, X, tree)
        self.max_epochs_ = resolve_max_epochs(self.max_epochs, self.max_time)
        # a slow game may keep fewer of the hybrid rows "auto" added (plan_fit, _budget)
        floor = below if self.n_synthetic_rows_ else None
        self.max_time_, self.background_samples_, self.validation_rows_, n_train = plan_fit(
            self, X, train, valid, begin, lambda n: _resolve_draws(self, n_valid, n), floor)
        if train is not None and n_train < len(train):
            cut = len(train) - n_train  # the last hybrid rows
            rows, X, train = rows[: len(rows) - cut], X[: len(X) - cut], train[:n_train]
            self.n_synthetic_rows_ -= cut
            self.n_coalitions_, self.validation_coalitions_ = _resolve_draws(self, n_valid,
                                                                             n_train)
        (self.validation_background_samples_, self.background_samples_, self.n_coalitions_,
         self.validation_coalitions_) = _background_draws(self, n_valid, n_train)
        inputs = network_rows(self, X)  # X, then the model's outputs (output_inputs)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self._seed)  # the network's initial weights
            net = self._trainer(self._build_module(inputs), exact, train, valid)
            start = time.perf_counter()
            net.fit(inputs)
        self.fit_time_ = time.perf_counter() - start
        if not all(bool(torch.isfinite(p).all()) for p in net.module_.parameters()):
            raise ValueError(
                f"{name}'s training diverged: the explainer network's weights are NaN or "
                "infinite. The model's outputs on X (or X itself) are likely too large for "
                "float32; rescale X or the model's outputs, or lower lr."
            )
        self.net_ = net
        self.module_ = net.module_.eval()
        self.history_ = net.history
        self.refresh_every_ = net.refresh_every_
        self._check_error(rows, X, tree)

    # ------------------------------------------------------------------ self-measured error
    def _check_error(self, rows, X, tree=None):
        """Measure the error on held-out rows of fit (the training's validation split) against
        a reference (:func:`~sklxai.explainers._self_check.measured_error`); warn above
        ``tolerance``."""
        report = measured_error(self, rows, X, tree)
        self.validation_report_ = report
        self.validation_error_ = None if report is None else report.error

    def _exact_targets(self, rows, X, tree):
        """Exact values of the training rows to regress on, or None
        (:func:`~sklxai.explainers._exact_targets.exact_targets`)."""
        return exact_targets(self, rows, X, tree)

    def _trainer(self, module, exact_targets=None, train=None, valid=None):
        """The (unfitted) :class:`~sklxai.explainers._trainer.AmortizedTrainer` of ``module``."""
        return explainer_trainer(self, module, exact_targets, train, valid)

    def _build_module(self, X):
        """The explainer network for its inputs X (``_network.build_module``)."""
        return build_module(self, X)

    def network_inputs(self, X):
        """The explainer network's inputs for the rows ``X``: what ``module_`` takes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        inputs : float32 tensor of shape (n_samples, width), on the game's device
            The rows as the model sees them, then, with ``output_inputs_``, the model's outputs
            on them and (``output_log_odds_``) their log-odds, p clipped to [1e-6, 1 - 1e-6].
        """
        check_is_fitted(self, "game_")  # usable during training too (callbacks)
        rows = self.game_.as_tensor(self._model_rows(self._validate_rows(X)))
        return network_inputs(self, rows, self.game_.full(rows))

    # ------------------------------------------------------------------ inference
    def _predict(self, X, total):
        """Efficient attributions (n, d, k) of the network; total = v(N) - v(empty)."""
        with torch.no_grad():
            raw = self.module_(network_inputs(self, X, total + self._null.to(total.device)))
        return efficient_attributions(raw, total, self._n_players)

    def _shapley_values(self, X, fx, rng):
        return self._predict(X, fx - self._null).double()

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
        rows = self._model_rows(self._validate_rows(X))
        return agreement_score(self, self.game_.as_tensor(rows))

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
        meta["validation"] = report_state(self.validation_report_)
        # every fitted attribute that is a plain value (the training's budget, targets, rows...)
        meta["fitted"] = {name: value for name, value in vars(self).items()
                          if _plain_fitted(name, value)}
        meta["history"] = list(self.history_)  # the epochs' losses, as skorch recorded them
        tensors.update({f"module.{k}": v for k, v in self.module_.state_dict().items()})
        return meta, tensors

    @classmethod
    def _params_from_state(cls, meta):
        params = super()._params_from_state(meta)
        if "hidden_sizes" in params:
            params["hidden_sizes"] = tuple(params["hidden_sizes"])
        return params

    def _restore(self, X, meta, tensors):
        from skorch.history import History

        if meta["custom_module"] and self.module is None:
            raise ValueError("the explainer was trained with a custom module; pass it again: "
                             f"{type(self).__name__}.load(path, model, module=...).")
        self._pick_saved_games(meta, tensors)  # a saved surrogate or conditional game
        ShapleyExplainer._fit(self, X, None)  # the game, without training
        fitted = meta.get("fitted")  # absent from older files
        self.output_inputs_, self.output_log_odds_ = False, None  # files of earlier versions
        for name, value in (fitted or {}).items():
            setattr(self, name, value)
        width = self._model_rows(X[:1]).shape[1] + output_width(self)
        # only the width matters: the standardisation comes with the weights
        module = self._build_module(np.zeros((1, width), dtype=np.float32))
        module.load_state_dict(_prefixed(tensors, "module."))
        self.module_ = module.to(self.game_.device).eval()
        self.fit_time_ = meta["fit_time"]
        self.refresh_every_ = meta.get("refresh_every_used")  # absent from older files
        self.validation_report_ = report_from_state(meta.get("validation"))
        self.validation_error_ = (None if self.validation_report_ is None
                                  else self.validation_report_.error)
        self.history_ = History(meta.get("history", []))
        if fitted is not None:
            if "validation_background_samples_" not in fitted:  # files of earlier versions
                self.validation_background_samples_ = _cut_background(self)
            self.net_ = self._restored_net()

    def _restored_net(self):
        """The trainer of a loaded explainer, built as ``fit`` builds it, around the loaded
        network and with the saved history; the optimizer's state is not saved (a continued
        training starts it afresh)."""
        net = self._trainer(self.module_)
        net.initialize()
        net.history_, net.refresh_every_ = self.history_, self.refresh_every_
        return net


def _plain_fitted(name, value):
    """Whether a fitted explainer's attribute is saved as it is: public, fitted (``name_``)
    and a plain value (the others, the network, its history, the game, are saved or rebuilt
    on their own)."""
    plain = (str, bool, int, float, type(None), np.integer, np.floating)
    return name.endswith("_") and not name.startswith("_") and isinstance(value, plain)

#: "auto" budgets: epochs without a time budget, and with one (the budget ends training)
_UNBOUNDED_EPOCHS = 10**6


def resolve_max_epochs(max_epochs, max_time):
    """``max_epochs`` with "auto" resolved: 100 epochs (or fewer, where the default time
    budget ``max_time="auto"`` ends training first), or with a time budget of the user's as many
    as it allows (the budget then ends training, and the learning-rate schedule follows it)."""
    if max_epochs != "auto":
        return max_epochs
    return 100 if max_time in (None, "auto") else _UNBOUNDED_EPOCHS
#: augment="auto": training rows a fit set is completed to with hybrids of its rows; exact tree
#: targets cost no model calls, so they afford many more (measured on breast cancer's GBDT:
#: 34% error with 4096 rows, 17% with 30,000, after 30 s)
_AUTO_AUGMENT_ROWS = {"sampled": 32768, "tree": 32768, "exact": 8192}
#: with sampled targets, augment="auto" completes fit sets of fewer training rows than this
#: (to _AUTO_AUGMENT_ROWS["sampled"] rows), and n_coalitions="auto" keeps an epoch's draws at
#: this many rows x _AUTO_COALITIONS: on the breast-cancer MLP (358 training rows, 25 epochs of
#: equal draws) 4096 rows x 32 coalitions gave 10.9% error, 16384 x 8 9.0%, 32768 x 4 8.4%,
#: 65536 x 2 9.7%
AUTO_SMALL_FIT_ROWS = 4096
#: n_coalitions="auto" where no hybrids are added
_AUTO_COALITIONS = 32
#: n_coalitions="auto" with background_samples="auto" where hybrids complete a small fit set:
#: background rows a training target averages per coalition (see spreads_background)
AUTO_SMALL_FIT_SAMPLES = 5


def spreads_background(est):
    """Whether "auto" draws spread the model calls of a small fit set's targets over more
    coalitions: hybrids complete the fit set (``n_synthetic_rows_``), the targets are sampled
    from a game that averages background rows at random, ``n_coalitions`` and
    ``background_samples`` are both "auto", and the budget kept the whole background (a fast
    game). Each coalition then averages :data:`AUTO_SMALL_FIT_SAMPLES` background rows
    instead of the whole background, and the rows draw as many times more coalitions: the
    same model calls. Where the coalitions drawn vary the targets more than the background
    rows averaged, the targets' variance falls; on the breast-cancer MLP this lowered the
    error at equal model calls (:doc:`/benchmarks`, "Amortized")."""
    return (est.n_coalitions == "auto" and est.background_samples == "auto"
            and est.background_samples_ is None and est.n_synthetic_rows_ > 0
            and est.targets_ == "sampled" and est.game_.supports_sampled_values
            and len(est._background_model) > AUTO_SMALL_FIT_SAMPLES)


def _cut_background(est):
    """The background rows a coalition averages where the budget cut them for a slow game
    (``background_samples="auto"`` resolved by ``plan_fit`` to a number), else None: the
    validation's draws average as many (the whole background elsewhere)."""
    return est.background_samples_ if est.background_samples == "auto" else None


def _background_draws(est, n_valid, n_train):
    """(``validation_background_samples_``, ``background_samples_``, ``n_coalitions_``,
    ``validation_coalitions_``) once ``plan_fit`` has resolved the budget: spread over more
    coalitions where :func:`spreads_background` says so, else as they are."""
    valid_samples = _cut_background(est)
    if not spreads_background(est):
        return (valid_samples, est.background_samples_, est.n_coalitions_,
                est.validation_coalitions_)
    samples = AUTO_SMALL_FIT_SAMPLES  # fewer than the background's rows (spreads_background)
    return (valid_samples, samples, *_resolve_draws(est, n_valid, n_train, samples))


def _resolve_draws(est, n_valid, n_train, samples=None):
    """(``n_coalitions_``, ``validation_coalitions_``) for ``n_train`` training rows, whose
    targets average ``samples`` background rows a coalition (None: the whole background)."""
    m = resolve_n_coalitions(est, n_train, samples)
    return m, resolve_validation_coalitions(
        est.validation_coalitions, m, n_valid,
        auto_coalitions=_AUTO_COALITIONS if est.n_coalitions == "auto" else None)


def resolve_n_coalitions(est, n_train, samples=None):
    """``est.n_coalitions`` as used: "auto" is 32, or, where hybrids complete a small fit set
    with sampled targets (``n_synthetic_rows_``), as many as keep an epoch's model calls at
    those of 4096 rows x 32 coalitions x the whole background for ``n_train`` training rows
    (at least 2, even): 4 for 32768 rows, times the background's rows / ``samples`` where the
    targets average ``samples`` background rows a coalition (:func:`spreads_background`: 40
    for 32768 rows, 50 background rows and 5 a coalition)."""
    if est.n_coalitions != "auto":
        return est.n_coalitions
    if est.n_synthetic_rows_ == 0 or est.targets_ != "sampled":
        return _AUTO_COALITIONS
    per_row = _AUTO_COALITIONS * AUTO_SMALL_FIT_ROWS / max(n_train, 1)
    if samples is not None:
        per_row *= len(est._background_model) / samples
    return int(max(2, 2 * round(per_row / 2)))
