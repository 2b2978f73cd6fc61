"""XNN: an explanation network over one layer's activations (Qi, Khorram & Li, 2017)."""

import math
import warnings

import numpy as np
import torch
from sklearn.pipeline import Pipeline

from sklxai import BaseExplainer
from sklxai.exceptions import AccuracyWarning
from sklxai.utils import seed_from
from sklxai.utils import param_validation as pv
from sklxai_xnn.explanation import XNNExplanation
from sklxai_xnn.hooks import check_torch_model, forward_with_activations, resolve_layer
from sklxai_xnn.network import XNNLoss, XNNModule

_ATTRIBUTIONS = ("gradient_x_input", "integrated_gradients")
#: a standard deviation below this marks a constant activation (standardized by 1 instead)
_TINY = 1e-12
#: fewest rows of fit's X when some are held out (two to train on, at least one to measure)
_MIN_ROWS = 4
#: an x-feature below this fraction of its largest value counts as off (``sparsity_``)
_OFF = 0.05


class XNN(BaseExplainer):
    """Explanation network (XNN) trained with a sparse reconstruction autoencoder (SRAE).

    A small network maps the activations ``z`` of one layer of the explained model (flattened,
    standardized) to a few non-negative **x-features** ``x = E(z)``, from which the model's
    outputs are reconstructed linearly, ``y_hat = W x + b``, and the activations decoded back,
    ``z_hat = D(x)``. ``fit`` trains it (through a skorch ``NeuralNet``) on the activations
    of ``fit``'s rows, read with a forward hook, against the loss

    ``||y_hat - y||^2 + reconstruction_weight * R(z_hat, z) + sparsity * |x|_1
    + pull_away * PT(x)``

    (outputs standardized per column): faithfulness to the model's own outputs, SRAE's
    reconstruction of the activations (``R = log(1 + r^2)``, "sparse": it may leave part of
    the activation space unexplained), an L1 sparsity penalty on the x-features and the
    pull-away term ``PT``, the mean squared cosine between the x-features' bases (their
    directions in the encoder's hidden layer), which keeps them distinct. It then **measures
    its faithfulness** on held-out rows (``faithfulness_``) and warns
    (:class:`sklxai.exceptions.AccuracyWarning`) when it is below ``min_faithfulness``: an
    explanation through x-features that do not reproduce the model explains something else.

    ``explain`` gives, per row, the x-features, their contributions ``W[t, j] * x_j`` to the
    reconstructed output ``t`` (which add up with ``b[t]`` to it exactly) and one attribution
    map per x-feature over the input, in the input's shape: gradient x input of the x-feature
    through the model and the encoder, or its integrated gradients from a zero baseline.

    Parameters
    ----------
    model : torch.nn.Module, skorch net, or Pipeline ending in one
        The model explained. Its explained outputs are its module's raw outputs (the logits of
        a classifier trained with cross-entropy), the values the readout reconstructs.
        Inputs go to it as sklxai gives them to any torch model: tables (n, d), images
        (n, C, H, W) or (n, H, W) (see :class:`~sklxai.BaseExplainer`). A Pipeline is
        explained on its fast path (column-wise preprocessing, then its final torch model,
        whose layer is hooked). An unfitted skorch net is fitted on ``fit``'s (X, y), as
        by every sklxai explainer (``model_``).
    layer : str or None, default=None
        The layer whose output is explained, a name from ``model.named_modules()`` (of
        ``net.module_`` for a skorch net). None: the penultimate layer, the input of the last
        submodule with parameters (e.g. the features entering the final ``Linear``).
    n_xfeatures : int, default=4
        Number of x-features (the paper uses a handful, so that people can look at each).
    hidden_size : int, default=64
        Width of the one hidden layer of the encoder and of the decoder.
    reconstruction : {"sparse", "mse"}, default="sparse"
        SRAE's ``log(1 + r^2)`` per activation, or the squared error.
    reconstruction_weight : float >= 0, default=0.1
        Weight of the activations' reconstruction.
    sparsity : float >= 0, default=0.01
        Weight of the mean absolute x-feature (L1).
    pull_away : float >= 0, default=0.1
        Weight of the pull-away term.
    attribution : {"gradient_x_input", "integrated_gradients"}, default="gradient_x_input"
        How the maps are computed: ``x * d x_j / d input`` at the row, or
        ``x * mean_s d x_j / d input (alpha_s x)`` over ``ig_steps`` midpoints ``alpha_s``
        (integrated gradients from a zero input, whose map sums to about
        ``x_j(x) - x_j(0)``). For a Pipeline, in its final model's input space, then summed
        over the model columns of each raw column.
    ig_steps : int, default=32
        Path points of the integrated gradients.
    max_steps : int, default=2000
        Optimizer steps of the training (rounded up to whole passes over the training rows).
    max_time : float or None, default=None
        Seconds of training at most; None: no limit.
    lr : float, default=3e-3
        Adam's learning rate, decayed to 0 along a cosine.
    train_batch_size : int, default=128
        Rows per training step.
    validation_fraction : float in [0, 1), default=0.2
        Rows of ``fit``'s X held out of training to measure faithfulness and reconstruction
        (``fit`` then needs at least 4 rows); 0 measures on the training rows (``fit`` then
        takes any number of rows).
    min_faithfulness : float in [0, 1], default=0.95
        Below this ``faithfulness_``, ``fit`` warns.
    background : array-like of shape (b, d), images or None, default=None
        Not used by XNN, which trains on all of ``fit``'s rows. Accepted (the common
        interface of sklxai's explainers), validated and kept as ``background_``, as
        :class:`~sklxai.BaseExplainer` does.
    n_background : int, default=100
        Not used by XNN either: the number of rows of ``fit``'s X drawn into ``background_``
        when ``background`` is None (``save`` stores them, ``load`` prepares the model on
        them).
    target : None, int, label or array of int, default=None
        The output ``explain`` explains: None, each row's predicted one (the largest model
        output); an int or an output label; or one output index per row. Every output is
        reconstructed whatever ``target`` is.
    fast_path : "auto", True or False, default="auto"
        Only for a Pipeline: XNN needs its fast path (its final torch model is hooked), so
        ``fast_path=False``, or preprocessing that is not column-wise, is refused at ``fit``.
    device : "auto", "cpu", "cuda" or torch.device, default="auto"
        Where the model and the explanation network run.
    random_state : None, int or RandomState, default=None
        Seeds the held-out split, the network's initialisation and the batch order (and the
        draw of ``background_``). With an int, results are reproducible.
    batch_size : int or None, default=None
        Model rows per forward pass (path points for integrated gradients); None: 1024.

    Attributes
    ----------
    module_ : torch.nn.Module
        The torch module whose layer is hooked: the model's module as the adapter runs it
        on ``device`` (``adapter_.module``; a copy when the model lives on another device).
    layer_ : str
        The hooked submodule's name.
    hooked_ : {"output", "input"}
        Whether its output (a named layer) or its input (the penultimate default) is read.
    n_activations_ : int
        Size of the flattened activation vector.
    input_shape_ : tuple
        Shape of one input row, as ``fit`` saw it: (d,) for tables, else one image's shape
        (``prepared_.input_shape``).
    n_features_in_ : int
        Number of input values per row (``prod(input_shape_)``).
    feature_names_in_ : ndarray of str
        Only when ``fit`` got a DataFrame with string column names.
    n_outputs_ : int
        Number of model outputs; all of them are reconstructed.
    output_names_ : list
        Their names (class labels when the model knows them).
    model_, adapter_, prepared_, background_
        See :class:`~sklxai.BaseExplainer`.
    xnn_ : XNNModule
        The trained explanation network (it takes standardized activations).
    activation_mean_, activation_scale_ : ndarray of shape (n_activations_,)
        The standardization of the activations.
    readout_weight_ : ndarray of shape (n_outputs_, n_xfeatures)
    readout_bias_ : ndarray of shape (n_outputs_,)
        The readout in the outputs' own units: ``y_hat = readout_weight_ @ x + readout_bias_``.
    faithfulness_ : float
        On the held-out rows: with several outputs, the agreement, the fraction of rows whose
        largest reconstructed output is the model's largest (its predicted class); with one
        output, the R^2 of the reconstructed output.
    faithfulness_metric_ : {"agreement", "r2"}
    output_r2_ : float
        R^2 of the reconstructed outputs (all of them) on the held-out rows.
    reconstruction_error_ : float
        ``sum (z_hat - z)^2 / sum (z - mean z)^2`` on the held-out rows (standardized
        activations): the fraction of the activations' variance the x-features do not decode.
    sparsity_ : float
        Fraction of x-feature values that are "off" on the held-out rows: below 5% of that
        x-feature's largest value there.
    history_ : ndarray of shape (n_epochs,)
        Mean training loss of each pass over the training rows.
    xfeature_names_ : list of str
        ``["xf0", "xf1", ...]``.

    Notes
    -----
    Choices where the paper is silent: x-features are softplus outputs (non-negative, so that
    a concept is absent or present with some strength and the contributions' signs come from
    the readout; softplus rather than ReLU, whose x-features were seen to die, 0 on every row,
    in one of three fits); the pull-away
    term compares the x-features' bases, the rows of the encoder's last weight matrix ("to
    make the bases of the explanation space more orthogonal"), not their values over a batch,
    where switching an x-feature off would lower it; the outputs and activations are
    standardized with the training rows' statistics and the readout is folded back into the
    outputs' units after training; ``sparsity`` adds an L1 penalty on the x-features next to
    SRAE's robust reconstruction loss.

    ``save``/``load`` keep the trained network, the measured figures and ``history_``; the
    model is passed again to ``load``.

    ``fit``, ``explain``, ``transform``, ``save`` and ``load`` go through
    :class:`~sklxai.BaseExplainer` (validation of X, images, ``target``, ``background``,
    persistence); XNN implements ``_fit``, ``_explain_target``, ``_make_explanation`` (the
    :class:`~sklxai_xnn.XNNExplanation` with its maps, which ``transform`` does not compute)
    and ``_get_state`` / ``_restore``. Its players are the
    x-features, not the input's features: ``values`` and ``transform`` have one column per
    x-feature (for one output per row), and ``get_feature_names_out`` names them.

    References
    ----------
    Zhongang Qi, Saeed Khorram, Fuxin Li. "Embedding Deep Networks into Visual Explanations".
    arXiv:1709.05360 (2017); Artificial Intelligence 292 (2021).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai_xnn import XNN
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <...>
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
    ...                             torch.nn.Linear(8, 3))
    >>> X = np.random.default_rng(0).normal(size=(200, 4))
    >>> xnn = XNN(model, n_xfeatures=3, max_steps=300, min_faithfulness=0.0,
    ...           device="cpu", random_state=0).fit(X)
    >>> exp = xnn.explain(X[:5])
    >>> exp.values.shape, exp.maps.shape          # contributions, one map per x-feature
    ((5, 3), (5, 3, 4))
    >>> bool(exp.efficiency_gap < 1e-9)           # contributions + bias = reconstruction
    True
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "model": pv.not_none("model is None; pass the torch module or skorch net to explain."),
        "layer": pv.unchecked("a name from model.named_modules(), or None"),
        "n_xfeatures": pv.positive_int(),
        "hidden_size": pv.positive_int(),
        "reconstruction": pv.options("sparse", "mse"),
        "reconstruction_weight": pv.real_in(0.0, math.inf, inclusive=(True, False)),
        "sparsity": pv.real_in(0.0, math.inf, inclusive=(True, False)),
        "pull_away": pv.real_in(0.0, math.inf, inclusive=(True, False)),
        "attribution": pv.options(*_ATTRIBUTIONS),
        "ig_steps": pv.positive_int(),
        "max_steps": pv.positive_int(),
        "max_time": pv.real_in(0.0, math.inf, allow_none=True),
        "lr": pv.real_in(0.0, math.inf),
        "train_batch_size": pv.positive_int(minimum=2),
        "validation_fraction": pv.real_in(0.0, 1.0, inclusive=(True, False)),
        "min_faithfulness": pv.real_in(0.0, 1.0, inclusive=(True, True)),
    }

    def __init__(self, model, *, layer=None, n_xfeatures=4, hidden_size=64,
                 reconstruction="sparse", reconstruction_weight=0.1, sparsity=0.01,
                 pull_away=0.1, attribution="gradient_x_input", ig_steps=32, max_steps=2000,
                 max_time=None, lr=3e-3, train_batch_size=128, validation_fraction=0.2,
                 min_faithfulness=0.95, background=None, n_background=100, target=None,
                 fast_path="auto", device="auto", random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background,
                         target=target, fast_path=fast_path, device=device,
                         random_state=random_state, batch_size=batch_size)
        self.layer = layer
        self.n_xfeatures = n_xfeatures
        self.hidden_size = hidden_size
        self.reconstruction = reconstruction
        self.reconstruction_weight = reconstruction_weight
        self.sparsity = sparsity
        self.pull_away = pull_away
        self.attribution = attribution
        self.ig_steps = ig_steps
        self.max_steps = max_steps
        self.max_time = max_time
        self.lr = lr
        self.train_batch_size = train_batch_size
        self.validation_fraction = validation_fraction
        self.min_faithfulness = min_faithfulness

    # ------------------------------------------------------------------ fit
    def _check_params(self):
        """The model must have a torch module whose layers can be hooked (checked before
        the base class prepares it, so that other models get XNN's message)."""
        check_torch_model(self.model, type(self).__name__)

    def _fit(self, X, y):
        """Train the explanation network on the model's activations for the rows ``X``.

        ``X`` are ``fit``'s validated flat rows (n, d); ``y`` is ignored (the targets are the
        model's own outputs). Warns (:class:`~sklxai.exceptions.AccuracyWarning`) when
        ``faithfulness_`` is below ``min_faithfulness``.
        """
        owner = type(self).__name__
        min_rows = _MIN_ROWS if self.validation_fraction > 0 else 1
        if X.shape[0] < min_rows:
            raise ValueError(
                f"{owner} needs at least {min_rows} rows in fit's X to hold "
                f"validation_fraction={self.validation_fraction} of them out; got "
                f"{X.shape[0]}. Pass more rows, or validation_fraction=0 to measure "
                "faithfulness on the training rows.")
        self._bind_module()
        self.input_shape_ = self.prepared_.input_shape or (self.n_features_in_,)
        Y, Z = self._activations(self._model_rows(X), "X")
        self.n_activations_ = Z.shape[1]

        rng = np.random.RandomState(seed_from(self.random_state))
        train, valid = self._split(X.shape[0], rng)
        self.activation_mean_ = Z[train].mean(axis=0)
        self.activation_scale_ = _scale(Z[train].std(axis=0))
        y_mean, y_scale = Y[train].mean(axis=0), _scale(Y[train].std(axis=0))
        Zs = (Z - self.activation_mean_) / self.activation_scale_
        Ys = (Y - y_mean) / y_scale
        self._train(Ys[train], Zs[train], seed=int(rng.randint(2**31 - 1)))
        # the readout in the outputs' own units, so contributions add up to y_hat itself
        w = self.xnn_.readout.weight.detach().double().cpu().numpy()
        b = self.xnn_.readout.bias.detach().double().cpu().numpy()
        self.readout_weight_ = w * y_scale[:, None]
        self.readout_bias_ = b * y_scale + y_mean
        self._measure(Y[valid], Zs[valid])
        self.xfeature_names_ = [f"xf{j}" for j in range(self.n_xfeatures)]
        if self.faithfulness_ < self.min_faithfulness:
            warnings.warn(
                f"{owner}: the x-features reproduce the model poorly on held-out rows "
                f"({self.faithfulness_metric_} {self.faithfulness_:.3f} < min_faithfulness "
                f"{self.min_faithfulness}); the explanation may not be the model's. Train "
                "longer (max_steps), use more x-features, or lower sparsity / pull_away.",
                AccuracyWarning, stacklevel=3)

    def _bind_module(self):
        """The torch module the adapter runs (``module_``) and its hooked layer."""
        owner = type(self).__name__
        if isinstance(self.model_, Pipeline) and not self.prepared_.fast_path:
            raise ValueError(
                f"{owner} hooks a layer of the Pipeline's final torch model, so it needs the "
                "pipeline's fast path; with fast_path=False, or preprocessing that is not "
                f"column-wise, the whole pipeline runs as one scikit-learn model (fast_path="
                f"{self.fast_path!r} here). Use fast_path='auto' with column-wise "
                "preprocessing steps, or explain the final model on preprocessed rows.")
        self.module_ = self.adapter_.module
        self.layer_, _, self.hooked_ = resolve_layer(self.module_, self.layer, owner)

    def _split(self, n, rng):
        perm = rng.permutation(n)
        n_valid = round(self.validation_fraction * n)
        if self.validation_fraction > 0:
            n_valid = min(max(n_valid, 1), n - 2)  # at least 2 training rows (a batch)
        if n_valid == 0:
            return perm, perm
        return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])

    def _train(self, Ys, Zs, seed):
        from skorch import NeuralNet

        from sklxai.utils.callbacks import CosineDecay, TimeBudget

        n, k, p = Ys.shape[0], Ys.shape[1], Zs.shape[1]
        batch = min(self.train_batch_size, n)
        epochs = math.ceil(self.max_steps / max(n // batch, 1))
        callbacks = [("lr_decay", CosineDecay(epochs, self.max_time))]
        if self.max_time is not None:
            callbacks.append(("time_budget", TimeBudget(float(self.max_time))))
        device = self.adapter_.device
        net = NeuralNet(
            XNNModule, module__n_inputs=p, module__n_outputs=k,
            module__n_xfeatures=self.n_xfeatures, module__hidden_size=self.hidden_size,
            criterion=XNNLoss, criterion__n_outputs=k,
            criterion__reconstruction=self.reconstruction,
            criterion__reconstruction_weight=float(self.reconstruction_weight),
            criterion__sparsity=float(self.sparsity),
            criterion__pull_away=float(self.pull_away),
            optimizer=torch.optim.Adam, lr=float(self.lr), max_epochs=epochs,
            batch_size=batch, train_split=None, callbacks=callbacks,
            iterator_train__shuffle=True,
            device=str(device), verbose=0)
        target = np.concatenate([Ys, Zs], axis=1).astype(np.float32)
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # the user's global RNG is left alone
            torch.manual_seed(seed)
            net.fit(Zs.astype(np.float32), target)
        self.xnn_ = net.module_.eval()
        self.history_ = np.asarray(net.history[:, "train_loss"], dtype=np.float64)

    def _measure(self, Y, Zs):
        """Faithfulness, reconstruction and sparsity on held-out rows (numpy, float64)."""
        with torch.no_grad():
            Zt = torch.as_tensor(Zs, dtype=torch.float32, device=self.adapter_.device)
            xf, _, Z_hat, _ = self.xnn_(Zt)
        xf = xf.double().cpu().numpy()
        Z_hat = Z_hat.double().cpu().numpy()
        Y_hat = xf @ self.readout_weight_.T + self.readout_bias_
        self.output_r2_ = _r2(Y_hat, Y)
        if self.n_outputs_ > 1:
            self.faithfulness_metric_ = "agreement"
            self.faithfulness_ = float(np.mean(Y_hat.argmax(axis=1) == Y.argmax(axis=1)))
        else:
            self.faithfulness_metric_, self.faithfulness_ = "r2", self.output_r2_
        spread = ((Zs - Zs.mean(axis=0)) ** 2).sum()
        self.reconstruction_error_ = float(((Z_hat - Zs) ** 2).sum() / max(spread, _TINY))
        peak = np.maximum(xf.max(axis=0), _TINY)
        self.sparsity_ = float(np.mean(xf < _OFF * peak))

    # ------------------------------------------------------------------ activations
    def _chunk(self):
        return self.batch_size or 1024

    def _forward(self, Xt):
        """Raw model outputs (n, k) and the hooked activations (n, p) for a tensor chunk of
        model rows (the adapter gives the module its own input shape)."""
        sub = dict(self.module_.named_modules())[self.layer_]
        return forward_with_activations(self.adapter_, sub, self.hooked_, Xt,
                                        type(self).__name__)

    def _activations(self, Xm, name):
        """Model outputs (n, k) and activations (n, p) of model rows ``Xm``, as float64
        arrays; non-finite ones are refused, naming ``name``."""
        outs, acts = [], []
        with torch.no_grad():
            for s in range(0, Xm.shape[0], self._chunk()):
                out, act = self._forward(self.adapter_.to_input(Xm[s:s + self._chunk()]))
                outs.append(out.double().cpu())
                acts.append(act.double().cpu())
        Y, Z = torch.cat(outs).numpy(), torch.cat(acts).numpy()
        self._check_finite(Y, "model outputs", name)
        self._check_finite(Z, f"activations at layer {self.layer_!r}", name)
        if Y.shape[1] != self.n_outputs_:
            raise ValueError(
                f"{type(self).__name__} reconstructs the model's raw outputs, but its module "
                f"returns {Y.shape[1]} of them for the {self.n_outputs_} outputs the model "
                f"predicts (e.g. a NeuralNetBinaryClassifier's one logit for two "
                "probabilities); pass its module (net.module_) as model to explain the raw "
                "outputs.")
        return Y, Z

    def _check_finite(self, arr, what, name):
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise ValueError(
                f"{type(self).__name__} got NaN or infinite {what} for {len(rows)} row(s) of "
                f"{name} (first: row {rows[0]}). Large values overflow the model's "
                f"computations ({self.adapter_.input_dtype}): rescale {name} (and the data "
                "the explainer was fitted on), or check that the model is finite on these "
                "rows.")

    def _xfeatures(self, act):
        """x-features (n, m) of raw activations (n, p), keeping the graph."""
        mean = torch.as_tensor(self.activation_mean_, dtype=act.dtype, device=act.device)
        scale = torch.as_tensor(self.activation_scale_, dtype=act.dtype, device=act.device)
        Zs = ((act - mean) / scale).to(self.xnn_.readout.weight.dtype)
        return self.xnn_.encoder(Zs)

    def _outputs_and_xfeatures(self, Xm):
        """Raw model outputs (n, k) and x-features (n, m) of model rows, float64 arrays."""
        outs, xfs = [], []
        with torch.no_grad():
            for s in range(0, Xm.shape[0], self._chunk()):
                out, act = self._forward(self.adapter_.to_input(Xm[s:s + self._chunk()]))
                outs.append(out.double().cpu())
                xfs.append(self._xfeatures(act).double().cpu())
        Y, xf = torch.cat(outs).numpy(), torch.cat(xfs).numpy()
        self._check_finite(Y, "model outputs", "X")
        self._check_finite(xf, "x-features", "X")
        return Y, xf

    # ------------------------------------------------------------------ explain
    def _explain_target(self, X, target):
        """Contributions (n, m) of the x-features to the reconstructed output ``target``
        selects in each row (its predicted output when None), the readout's bias (n,), the
        reconstructed output (n,) and the output names, for validated rows X; and the
        explanation's x-features (its ``data``), targets and the model's own output."""
        Y, xf = self._outputs_and_xfeatures(self._model_rows(X))
        t, output_names = self._targets(target, Y)
        fields = {"data": xf, "targets": t, "model_output": Y[np.arange(len(t)), t]}
        return (*self._contributions(xf, t), output_names, fields)

    def _make_explanation(self, X, **fields):
        """An :class:`~sklxai_xnn.XNNExplanation`: the base's fields with the x-features as
        data, one map per x-feature and the rows in the input's shape.

        Returns
        -------
        explanation : XNNExplanation
            ``values`` (n, m): contributions of the x-features to the reconstructed output of
            each row's explained output (``target``); ``base_values`` (n,) the readout's
            bias; ``output`` (n,) the reconstructed output, equal to their sum;
            ``data`` (n, m) the x-features; ``maps`` (n, m, *input_shape); ``inputs`` the
            rows in the input's shape; ``model_output`` (n,) the model's own output;
            ``targets`` (n,).
        """
        return XNNExplanation(
            **fields, maps=self._maps(self._model_rows(X)),
            inputs=self.prepared_.to_input_shape(self._explanation_data(X)),
            attribution=self.attribution)

    def _n_explained_outputs(self):
        return 1  # one output per row: target's, or the predicted one

    def _players_are_features(self):
        return False  # the players are the x-features

    def _feature_names(self):
        return list(self.xfeature_names_)

    def get_feature_names_out(self, input_features=None):
        """Names of ``transform``'s columns: the x-features.

        Parameters
        ----------
        input_features : array-like of str or None
            Must match ``feature_names_in_`` when given; the names returned are the
            x-features' all the same.

        Returns
        -------
        names : ndarray of str
        """
        from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        return np.asarray(self.xfeature_names_, dtype=object)

    def _targets(self, targets, Y):
        """One output index per row, and the Explanation's output names."""
        n = Y.shape[0]
        if targets is None:
            names = [self.output_names_[0]] if self.n_outputs_ == 1 else None
            return Y.argmax(axis=1), names
        if np.ndim(targets) == 0:
            return np.full(n, targets, dtype=np.int64), [self.output_names_[targets]]
        return np.asarray(targets, dtype=np.int64), None

    def _contributions(self, xf, t):
        """Contributions (n, m), bias (n,) and their sum (n,), in float64."""
        values = xf * self.readout_weight_[t]
        base = self.readout_bias_[t]
        return values, base, values.sum(axis=1) + base

    def _maps(self, Xm):
        """One map per x-feature, (n, m, *input_shape_), by ``attribution``, for model rows
        (model-space maps of a Pipeline summed over each raw column's model columns)."""
        n, m = Xm.shape[0], self.n_xfeatures
        maps = np.empty((n, m, Xm.shape[1]))
        ig = self.attribution == "integrated_gradients"
        steps = self.ig_steps if ig else 1
        per_chunk = max(1, self._chunk() // steps)
        alphas = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
        for s in range(0, n, per_chunk):
            X = self.adapter_.to_input(Xm[s:s + per_chunk])
            if ig:  # midpoints of the straight path from 0 to x, all in one pass
                a = alphas.to(device=X.device, dtype=X.dtype).view(-1, 1, 1)
                P = (a * X.unsqueeze(0)).reshape(-1, X.shape[1])
            else:
                P = X
            grads = self._xfeature_gradients(P)  # (m, steps * c, d)
            grads = grads.reshape(m, steps, *X.shape).mean(dim=1)
            maps[s:s + per_chunk] = (grads * X.unsqueeze(0)).transpose(0, 1).double().cpu()
        if self.prepared_.column_map is not None:  # model columns back to raw columns
            maps = np.stack([self.prepared_.sum_to_players(maps[:, j]) for j in range(m)],
                            axis=1)
        return maps.reshape(n, m, *self.input_shape_)

    def _xfeature_gradients(self, P):
        """Gradients of every x-feature with respect to the points P: (m, *P.shape)."""
        with torch.enable_grad():
            Q = P.detach().requires_grad_(True)
            _, act = self._forward(Q)
            xf = self._xfeatures(act)
            grads = [torch.autograd.grad(xf[:, j].sum(), Q, retain_graph=j + 1 < xf.shape[1])[0]
                     for j in range(xf.shape[1])]
        return torch.stack(grads)

    # ------------------------------------------------------------------ persistence
    _LEARNED = ("activation_mean_", "activation_scale_", "readout_weight_", "readout_bias_",
                "history_")

    def _get_state(self):
        """The base state plus the trained network, its standardization, its readout and
        the measured figures."""
        meta, tensors = super()._get_state()
        meta.update(
            layer=self.layer_, hooked=self.hooked_, n_activations=self.n_activations_,
            faithfulness=self.faithfulness_, faithfulness_metric=self.faithfulness_metric_,
            output_r2=self.output_r2_, reconstruction_error=self.reconstruction_error_,
            sparsity=self.sparsity_)
        tensors.update({f"xnn.{k}": v for k, v in self.xnn_.state_dict().items()})
        tensors.update({attr: torch.as_tensor(getattr(self, attr)) for attr in self._LEARNED})
        return meta, tensors

    def _restore(self, X, meta, tensors):
        """Bind the model's layer, check that it is the saved one, and load the network
        (instead of training it again on ``X``, the saved background rows)."""
        self._bind_module()
        self.input_shape_ = self.prepared_.input_shape or (self.n_features_in_,)
        if self.layer_ != meta["layer"] or self.hooked_ != meta["hooked"]:
            raise ValueError(f"the model's layer {self.layer_!r} ({self.hooked_}) is not the "
                             f"saved {meta['layer']!r} ({meta['hooked']}); pass the model it "
                             "was fitted for.")
        _, Z = self._activations(self._model_rows(X[:1]), "background")
        if Z.shape[1] != meta["n_activations"]:
            raise ValueError(
                f"the model gives {Z.shape[1]} activations at layer {self.layer_!r}, but the "
                f"saved XNN was fitted for {meta['n_activations']}; pass the model it was "
                "fitted for.")
        self.n_activations_ = Z.shape[1]
        self.xnn_ = XNNModule(self.n_activations_, self.n_outputs_, self.n_xfeatures,
                              self.hidden_size).to(self.adapter_.device)
        self.xnn_.load_state_dict({k[4:]: v for k, v in tensors.items()
                                   if k.startswith("xnn.")})
        self.xnn_.eval()
        for attr in self._LEARNED:
            setattr(self, attr, tensors[attr].double().numpy())
        self.faithfulness_ = meta["faithfulness"]
        self.faithfulness_metric_ = meta["faithfulness_metric"]
        self.output_r2_ = meta["output_r2"]
        self.reconstruction_error_ = meta["reconstruction_error"]
        self.sparsity_ = meta["sparsity"]
        self.xfeature_names_ = [f"xf{j}" for j in range(self.n_xfeatures)]


def _scale(std):
    return np.where(std > _TINY, std, 1.0)


def _r2(pred, true):
    total = ((true - true.mean(axis=0)) ** 2).sum()
    return float(1.0 - ((pred - true) ** 2).sum() / max(total, _TINY))
