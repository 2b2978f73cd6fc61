"""SimSHAP: an amortized Shapley explainer trained on unbiased, efficient per-subset targets."""

import functools

import torch

from sklxai.explainers._amortized import AmortizedShapley
from sklxai.explainers._trainer import simshap_loss
from sklxai.utils import param_validation as pv


class SimSHAP(AmortizedShapley):
    """SimSHAP ("Fast Shapley value estimation: a unified approach"): one forward pass per row.

    An explainer network is trained by mean squared error against unbiased Shapley targets:
    the Shapley kernel's mean over coalitions S (sizes drawn by the square root of the kernel's
    mass and each S weighted back; a uniform subset of the size, with its complement) of
    phi_i(S) = a_S^i (v(S) - v(empty)) + (v(N) - v(empty)) / d with
    a_S^i = g (d - ``|S|``) for i in S and -g ``|S|`` otherwise, g = sum_s (d-1)/(s(d-s)) / (d-1).
    Every target sums to v(N) - v(empty), and their kernel mean is the Shapley value.
    With ``control_variate=True``
    the explainer's own detached prediction c is used as a control variate (the additive game of
    c has Shapley values c, so the target stays unbiased while its variance shrinks as c
    improves). Coalitions are stratified
    (:class:`~sklxai.games.coalitions.StratifiedDesign`, rule "half"): the few smallest and
    largest ones, which carry most of the kernel's mass, are enumerated with their exact
    probabilities when ``n_coalitions`` allows, the rest sampled. Predictions are
    made exactly efficient by the additive normalisation
    phi = raw + (v(N) - v(empty) - sum raw) / d; explaining a row costs one model call (for
    v(N)) and one explainer forward pass.

    Evaluating the game costs far more than a step of the explainer network (on a CPU, a batch's
    32 coalitions over 50 background rows cost about 12 steps), so each row's draws are kept as
    the sufficient statistics of its target
    (:class:`~sklxai.explainers._targets.CoalitionStats`) and reused by later epochs; every
    ``refresh_every`` epochs the row draws new coalitions, which are added to the old ones. A
    row's target is thus the average over every coalition drawn for it so far: still unbiased,
    with a variance falling as 1 / (number of draws), and the control variate is applied with
    the network's current prediction (figures in the README's SimSHAP benchmark).

    Parameters
    ----------
    model, background, n_background, target, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer` (``model``: a fitted skorch net,
        torch.nn.Module, scikit-learn estimator or Pipeline).
    game : {"marginal", "baseline", "surrogate"}
        The value function the targets come from (marginal: comparable with ExactShapley).
    surrogate_params, n_jobs
        See :class:`~sklxai.explainers._shapley.ShapleyExplainer`.
    module : torch.nn.Module, class or None
        The explainer network, mapping rows (n, n_features) to (n, n_players * k) raw
        attributions (player-major; players are the features, or the ``feature_groups``). A
        class is called as ``module(n_features, n_players * k)``; None uses
        :class:`~sklxai.explainers.networks.MLPExplainerModule`; for images see
        :class:`~sklxai.explainers.networks.PatchCNNExplainerModule`.
    feature_groups : dict, list of lists or None
        Explain groups of columns as single players (one-hot blocks, image patches: see
        :func:`~sklxai.games.grouped.image_patch_groups`). Every column in exactly one group.
    hidden_sizes : tuple of int
        Hidden layers of the default network.
    n_coalitions : int or "auto"
        Coalitions per row and training draw (half of the sampled ones complements);
        validation draws twice as many, ``score`` four times. "auto": 32, or, where hybrid rows
        complete a small fit set (``augment``), as many as keep an epoch's draws at the cost of
        4096 rows x 32 coalitions (4 for 32768 rows; at least 2): a network trained on many
        rows with a few coalitions each ends closer to the truth than one trained on fewer
        rows with better targets, at the same cost (stochastic amortization: :doc:`/benchmarks`,
        "Amortized"); more with ``background_samples="auto"``. ``n_coalitions_``: as used.
    background_samples : int, "auto" or None
        Background rows averaged per coalition in training targets, drawn stratified by the model's
        output (unbiased: :meth:`~sklxai.games.MarginalGame.sampled_values`); None uses the whole
        background. Fewer rows per coalition leave the model calls for more coalitions, which
        lowers the targets' variance. "auto": where hybrid rows complete a small fit set
        (``augment``) and ``n_coalitions`` is "auto", 5 rows a coalition and the background's rows
        / 5 times the coalitions (the same model calls: 40 x 5 rows instead of 4 x 50, the larger
        between-coalition variance falling), elsewhere the whole background; unless, under a time
        budget, the first epoch's draws with the whole background would take more than a quarter of
        the budget (by the game's cost, measured on 8 rows at the start of ``fit``); then as many
        rows as fit in that quarter (at least 1; the validation draws of training likewise). On
        such a slow game that cut is checked with a training draw's own cost, measured at the start
        of ``fit`` (a draw's fixed cost, a Pipeline's per call, included); where the first epoch's
        draws would still exceed that quarter, the hybrid rows of ``augment="auto"`` are halved
        (down to 4096 training rows, more coalitions each: fewer draws, as many coalitions per
        epoch) while its draws with 1 background row exceed it, then the background rows are as
        many as fit (:mod:`sklxai.explainers._budget`). ``background_samples_`` is the number used.
        ``score`` and ``explain`` use the whole background, the validation too unless the budget
        cut a slow game's (``validation_background_samples_``). Games without a background
        (``game="surrogate"``) have nothing to sample: there it changes nothing
        (``Game.supports_sampled_values`` is False).
    refresh_every : int, "auto" or None
        Epochs between two draws of new coalitions for a training row (row i draws in the
        epochs e with (i + e) % refresh_every == 0; every row draws in the first epoch). 1
        draws for every row in every epoch; larger values spend more of the time on network
        steps. Memory: 4 n (d^2 + d k + d + 3k + 1) bytes for n rows, d players, k outputs.
        "auto": 8 on a CPU, 2 on a GPU (where the game is relatively cheaper), or None when
        the statistics would exceed 1 GiB. None stores nothing: every training step draws
        fresh coalitions for its rows (the memory-free mode, for very large fit sets).
    control_variate : bool
        Use the explainer's detached prediction as a control variate in the targets.
    max_epochs : int or "auto"
        Upper bound on epochs (an epoch visits at least ``min_epoch_rows`` training rows); the
        learning rate follows a cosine decay over them. "auto": 100 (with ``max_time="auto"``,
        fewer where the default budget ends training first), or with a number ``max_time`` as
        many as the time allows (the budget then ends training and the decay follows it).
    max_time : float, "auto" or None
        Stop training after this many seconds (checked after every batch and between the
        chunks of an epoch's new draws), keeping the latest weights unless the best epoch's
        beat them beyond the validation rows' noise (that check comes on top of the budget;
        see :class:`~sklxai.utils.callbacks.TimeBudget`). The cosine decay then reaches 0 when the
        first of ``max_epochs`` and ``max_time`` ends (it follows the epochs alone while
        training keeps their pace; once the budget binds, training depends on the machine's
        speed). None: no time limit. "auto" (the default): the whole ``fit``, validation
        included, is aimed at 120 s (:data:`~sklxai.explainers._budget.AUTO_FIT_SECONDS`;
        the epoch's validation pass and the batch running when the budget ends come on top,
        so a default fit ends within 150 s): training gets 120 s minus what ``fit``
        spent before it and the validation's expected cost (at most 25 s, see
        ``validation_rows``), measured from the game's cost on 8 rows; less where 100 epochs
        end sooner. ``max_time_`` is the training budget used. A longer budget (e.g. 600)
        gives the network more steps and smaller errors on hard models.
    lr : float
        Initial learning rate (cosine decay to 0, see ``max_epochs``).
    optimizer : torch.optim.Optimizer class
    train_batch_size : int
        Rows per training step.
    min_epoch_rows : int
        An epoch visits at least this many training rows: a smaller fit set is passed over
        several times per epoch (in new orders), so that ``max_epochs``, ``patience`` and the
        learning-rate schedule mean about as many optimizer steps on a few hundred rows as on
        tens of thousands (8192 rows: 32 steps of 256 rows). There, with
        ``refresh_every="auto"``, every row draws new coalitions every epoch, unless the default
        budget cut the background rows of a slow game (``background_samples="auto"``): then
        each epoch's new draws would cost a quarter of the budget, and the rows keep their
        draws for 8 epochs (on a CPU) as without hybrids.
    validation_fraction : float
        Rows of fit's X held out. Their loss drives early stopping: the squared distance of
        the prediction to its own control-variate target on coalitions drawn once (an
        estimate of the squared error plus a noise term that shrinks as the fit improves).
    validation_coalitions : int or "auto"
        Coalitions each validation row's loss is computed on (drawn once, in draws of
        ``2 n_coalitions``; rounded up to a whole number of draws). With few validation rows
        the loss of a few dozen rows on 64 coalitions each is mostly the draws' noise, and
        early stopping would pick the best weights by it. "auto": 2 ``n_coalitions`` (64 with
        ``n_coalitions="auto"``) where the validation split has at least 2048 rows, else
        2048 / rows times as many, rounded up to whole draws; ``validation_coalitions_`` is
        the number used. Exact targets (``targets_`` "tree" or "exact") draw nothing.
    patience : int or None
        Epochs without validation improvement before stopping (the best weights are restored;
        while the learning rate is high the error plateaus for several epochs, longer with
        longer schedules). None never stops early and still restores the best weights.
    rollback_factor : float or None
        After an epoch whose validation loss is above this many times the best so far (late
        in training on exact targets an Adam step can throw the network far off), the best
        epoch's weights are loaded, the optimizer's moments cleared and the learning rate
        halved (:class:`~sklxai.explainers._trainer.DivergenceRollback`). Training that does
        not diverge is unchanged. None: never.
    callbacks : list of skorch callbacks or (name, callback) pairs, or None
        Extra skorch callbacks (e.g. ``skorch.callbacks.Checkpoint``).
    targets : {"auto", "sampled", "tree", "exact"}
        What the network learns from. "sampled": targets estimated from coalitions drawn from
        the game (the method's own objective). "tree": the exact values of fit's rows from
        :class:`~sklxai.TreeShapley`, regressed on by mean squared error (tree models whose
        trees sum to the explained outputs: regressors and forests, marginal or baseline
        game). "exact": the exact values of fit's rows on the tree game
        (:class:`~sklxai.games.TreeGame`: every coalition's value from the trees, so any
        output of shallow trees, a boosted classifier's ``predict_proba`` included, at most 12
        players), regressed on likewise; they cost a few milliseconds a row, so under a time
        budget they are computed for as many rows as 30% of it affords (measured on 16 rows),
        a random subset of fit's rows when fewer (``exact_target_rows_``). Exact targets
        remove the sampling noise that makes training slow to learn the non-smooth values of
        tree models. "auto": "tree" where it applies, else "exact" where it applies and at
        least 1024 rows are affordable, else "sampled" (the choice is ``targets_``).
    tree_inputs : "auto" or False
        "auto": for a tree model (or a Pipeline ending in one) and the default network, the
        network's inputs also hold the indicators 1[x_j <= t] of the model's own numeric splits
        (at most 2048; :class:`~sklxai.explainers.networks.SplitMLPExplainerModule`): its
        Shapley values are piecewise constant between them, a shape an MLP on the raw columns
        learns slowly. ``tree_inputs_`` says whether they were used. False: never.
    output_inputs : "auto" or False
        "auto": with the default network and sampled targets, the network also sees the
        model's outputs on the row (computed anyway, for efficiency) and, for probabilities
        (every output on fit's rows in [0, 1]), their log-odds, clipped at 1e-6: they help
        most on rows beyond the fit rows' range (:doc:`/benchmarks`, "Amortized"). False, or
        a custom ``module``: the rows alone.
    augment : int, "auto" or None
        Complete a fit set of fewer training rows than this with hybrids of its training rows
        (each player's columns from one of two random rows) up to that many: an explainer needs
        no labels, only rows where the model is explained, and a few hundred rows are too few
        for the network to generalise from. "auto": with sampled targets, a fit set of fewer
        than 4096 training rows is completed to 32768 rows (each drawing new coalitions every
        epoch, ``n_coalitions`` "auto" at a time), larger ones are used as they are; 32768
        rows with exact tree targets (``targets_="tree"``: they cost no model calls), 8192
        with exact game targets. None: fit's rows only. The validation rows are always real
        ones. ``n_synthetic_rows_`` says how many were added (fewer on a slow game, see
        ``background_samples``).
    validation_reference : {"auto", "exact", "kernel", "tree"} or None
        How ``fit`` measures the explainer's own error on ``validation_rows`` held-out rows
        (the training's validation split), against reference values of the same game: "exact"
        enumerates every coalition (2**d per row and background row); "tree" runs
        :class:`~sklxai.TreeShapley` (tree models whose trees sum to the explained outputs:
        regressors, forests); "kernel" runs KernelSHAP with 4096 coalitions and takes its
        noise, measured by its own standard errors, out of the error. "auto": tree where it
        applies, exact up to 12 players, else kernel. None: no check. The check's cost is
        ``validation_report_.seconds``.
    validation_rows : int
        Held-out rows the error is measured on (at most the validation split's size), cut to
        as many as the reference computes in about 25 s by the game's cost measured at the
        start of ``fit`` (at least 1; the tree reference is never cut); ``validation_rows_``
        is the number used, also ``validation_report_.n_rows``.
    tolerance : float
        Above this relative error, ``fit`` warns with :class:`sklxai.exceptions.AccuracyWarning`,
        saying what to do.
    verbose : int, bool or "auto"
        "auto": a progress bar over the training steps (with the epoch and the time left) when
        training is expected to take longer than about 10 s, measured on its first steps
        (:data:`sklxai.utils.callbacks.PROGRESS_SECONDS`), and over the explained rows of a
        long ``explain``; nothing for short jobs. 0 or False: silent; 1 or True: skorch
        prints the epoch table and a progress bar.
    accelerator : accelerate.Accelerator or None
        Train the explainer network through skorch's ``AccelerateMixin`` (Hugging Face
        ``accelerate``): several GPUs or processes (``accelerate launch script.py``), mixed
        precision. The game then runs on ``accelerator.device`` (``device`` must agree with
        it or be "auto"); each process evaluates the game for its share of the batches.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained explainer network (in eval mode).
    net_ : sklxai.explainers._trainer.AmortizedTrainer
        The skorch net that trained it (``net_.history`` holds the losses; its training store
        is released after ``fit``).
    history_ : skorch.History
    refresh_every_ : int or None
        ``refresh_every`` as used ("auto" resolved).
    fit_time_ : float
        Seconds spent training.
    max_time_ : float or None
        The training's time budget in seconds (``max_time``, "auto" resolved).
    background_samples_ : int or None
        ``background_samples`` as used ("auto" resolved).
    validation_background_samples_ : int or None
        Background rows a coalition of the training's validation draws averages: None (the
        whole background) unless the budget cut a slow game's (``background_samples``).
    validation_rows_ : int
        The held-out rows the validation measured (see ``validation_rows``).
    validation_coalitions_ : int
        ``validation_coalitions`` as used.
    targets_ : str
        The targets used ("sampled", "tree" or "exact").
    exact_target_rows_ : int or None
        With ``targets_="exact"`` under a time budget: the rows whose exact targets it
        affords (fit trains on a random subset of that many of its rows when fewer than
        given); None otherwise.
    max_epochs_ : int
        ``max_epochs`` as used ("auto" resolved).
    tree_inputs_ : bool
        Whether the network sees the tree model's splits (``tree_inputs``).
    output_inputs_, output_log_odds_ : bool, bool or None
        Whether the network sees the model's outputs, and their log-odds (``output_inputs``).
    n_synthetic_rows_ : int
        Hybrid rows added to the training rows (``augment``).
    n_coalitions_ : int
        ``n_coalitions`` as used ("auto" resolved).
    validation_error_ : float or None
        The relative error measured at ``fit`` (``docs/design.rst``, "Measuring": mean_i
        ||phi_i - phi*_i|| / mean_i ||phi*_i||, on held-out rows; None without a check):
        ``validation_report_.error``.
    validation_report_ : ErrorReport or None
        The check made at ``fit`` (None without one): ``error``, ``interval`` (its 90%
        bootstrap interval over the rows), ``reference`` ("exact", "kernel" or "tree"),
        ``noise`` (the reference's own relative error, for kernel), ``n_rows``, ``seconds``
        (the check's cost), and ``describe()``: all of it in one line.
    expected_value_ : ndarray of shape (n_outputs,)

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklxai import SimSHAP
    >>> X, y = load_wine(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    >>> est = SimSHAP(clf, n_background=20, max_epochs=3, validation_reference=None,
    ...               random_state=0).fit(X)
    >>> est.explain(X[:3]).values.shape  # rows, features, classes
    (3, 13, 3)
    """

    _parameter_constraints = {
        **AmortizedShapley._parameter_constraints,
        "control_variate": pv.boolean(),
    }

    def __init__(self, model, *, background=None, n_background=100, target=None, game="marginal",
                 feature_groups=None, surrogate_params=None, fast_path="auto", module=None,
                 hidden_sizes=(256, 256, 256), n_coalitions="auto", background_samples="auto",
                 refresh_every="auto", control_variate=True, max_epochs="auto", max_time="auto",
                 lr=3e-3, optimizer=torch.optim.AdamW, train_batch_size=256, min_epoch_rows=8192,
                 validation_fraction=0.1, validation_coalitions="auto", patience=30,
                 rollback_factor=8.0, callbacks=None, targets="auto",
                 tree_inputs="auto", output_inputs="auto", augment="auto",
                 validation_reference="auto",
                 validation_rows=32, tolerance=0.10, n_jobs=None, verbose="auto", accelerator=None,
                 device="auto", random_state=None, batch_size=None):
        params = locals()
        super().__init__(**{name: params[name] for name in AmortizedShapley._get_param_names()})
        self.control_variate = control_variate

    def _objective(self):
        # the explainer's own detached prediction is the control variate of its targets
        return functools.partial(simshap_loss, control_variate=self.control_variate)
