"""XNN: an explanation network over one layer's activations (Qi, Khorram & Li, 2017)."""

import math
import warnings

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from sklxai import BaseExplainer
from sklxai.exceptions import AccuracyWarning
from sklxai.utils import (
    check_tabular,
    check_target,
    is_dataframe,
    resolve_device,
    seed_from,
)
from sklxai.utils import param_validation as pv
from sklxai_xnn.explanation import XNNExplanation
from sklxai_xnn.hooks import (
    forward_with_activations,
    input_dtype,
    place,
    resolve_layer,
    torch_module,
)
from sklxai_xnn.network import XNNLoss, XNNModule

_ATTRIBUTIONS = ("gradient_x_input", "integrated_gradients")
#: a standard deviation below this marks a constant activation (standardized by 1 instead)
_TINY = 1e-12
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
    its faithfulness** on held-out rows (``faithfulness_``) and warns (:class:`sklxai.exceptions.AccuracyWarning`) when it is below
    ``min_faithfulness``: an explanation through x-features that do not reproduce the model
    explains something else.

    ``explain`` gives, per row, the x-features, their contributions ``W[t, j] * x_j`` to the
    reconstructed output ``t`` (which add up with ``b[t]`` to it exactly) and one attribution
    map per x-feature over the input, in the input's shape: gradient x input of the x-feature
    through the model and the encoder, or its integrated gradients from a zero baseline.

    Parameters
    ----------
    model : torch.nn.Module or fitted skorch net
        The model explained. Its explained outputs are its module's raw outputs (the logits of
        a classifier trained with cross-entropy), the values the readout reconstructs.
        Inputs are passed to it as given: tables (n, d), images (n, C, H, W) or (n, H, W).
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
        ``x_j(x) - x_j(0)``).
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
        Rows of ``fit``'s X held out of training to measure faithfulness and reconstruction;
        0 measures on the training rows.
    min_faithfulness : float in [0, 1], default=0.95
        Below this ``faithfulness_``, ``fit`` warns.
    target : None, int, label or array of int, default=None
        The output ``explain`` explains: None, each row's predicted one (the largest model
        output); an int or an output label; or one output index per row. Every output is
        reconstructed whatever ``target`` is.
    device : "auto", "cpu", "cuda" or torch.device, default="auto"
        Where the model and the explanation network run.
    random_state : None, int or RandomState, default=None
        Seeds the held-out split, the network's initialisation and the batch order.
    batch_size : int or None, default=None
        Model rows per forward pass (path points for integrated gradients); None: 1024.

    Attributes
    ----------
    layer_ : str
        The hooked submodule's name.
    hooked_ : {"output", "input"}
        Whether its output (a named layer) or its input (the penultimate default) is read.
    n_activations_ : int
        Size of the flattened activation vector.
    input_shape_ : tuple
        Shape of one input row, as ``fit`` saw it.
    n_features_in_ : int
        Number of input values per row (``prod(input_shape_)``).
    feature_names_in_ : ndarray of str
        Only when ``fit`` got a DataFrame with string column names.
    n_outputs_ : int
    output_names_ : list
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

    ``save``/``load`` keep the trained network and the measured figures (not ``history_``
    beyond its values); the model is passed again to ``load``.

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
        "model": pv.not_none("model is None; pass the torch module or fitted skorch net."),
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
        "target": pv.unchecked("None, an output index or label, or one index per row"),
        "device": pv.device(),
        "random_state": pv.unchecked("None, int or RandomState"),
        "batch_size": pv.positive_int(allow_none=True),
    }

    def __init__(self, model, *, layer=None, n_xfeatures=4, hidden_size=64,
                 reconstruction="sparse", reconstruction_weight=0.1, sparsity=0.01,
                 pull_away=0.1, attribution="gradient_x_input", ig_steps=32, max_steps=2000,
                 max_time=None, lr=3e-3, train_batch_size=128, validation_fraction=0.2,
                 min_faithfulness=0.95, target=None, device="auto", random_state=None,
                 batch_size=None):
        # BaseExplainer's background, n_background and fast_path have no meaning here: XNN
        # learns from fit's rows and needs the module itself, so it sets its own parameters
        self.model = model
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
        self.target = target
        self.device = device
        self.random_state = random_state
        self.batch_size = batch_size

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Train the explanation network on the model's activations for the rows of ``X``.

        Parameters
        ----------
        X : array-like, DataFrame or torch.Tensor of shape (n, d), (n, C, H, W) or (n, H, W)
            Inputs of the model, as it takes them.
        y : None
            Ignored (the targets are the model's own outputs).

        Returns
        -------
        self : XNN

        Warns
        -----
        AccuracyWarning
            When ``faithfulness_`` is below ``min_faithfulness``.
        """
        owner = type(self).__name__
        pv.validate_params(self)
        module, names = torch_module(self.model, owner)
        self._bind_module(module)
        rows = self._check_rows(X, "X", fitting=True)
        if rows.shape[0] < _MIN_ROWS:
            raise ValueError(f"{owner} needs at least {_MIN_ROWS} rows in fit's X; got "
                             f"{rows.shape[0]}.")
        Y, Z = self._activations(rows)
        self.n_activations_ = Z.shape[1]
        self.n_outputs_ = Y.shape[1]
        self.output_names_ = (names if names is not None and len(names) == self.n_outputs_
                              else list(range(self.n_outputs_)))
        check_target(self.target, self.n_outputs_, output_names=self.output_names_)

        rng = np.random.RandomState(seed_from(self.random_state))
        train, valid = self._split(rows.shape[0], rng)
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
                AccuracyWarning, stacklevel=2)
        return self

    def _bind_module(self, module):
        """Place the model's module on the device and resolve the hooked layer."""
        self.device_ = resolve_device(self.device)
        self.module_ = place(module, self.device_)
        self.layer_, _, self.hooked_ = resolve_layer(self.module_, self.layer,
                                                     type(self).__name__)

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
            device=str(self.device_), verbose=0)
        target = np.concatenate([Ys, Zs], axis=1).astype(np.float32)
        devices = [self.device_] if self.device_.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # the user's global RNG is left alone
            torch.manual_seed(seed)
            net.fit(Zs.astype(np.float32), target)
        self.xnn_ = net.module_.eval()
        self.history_ = np.asarray(net.history[:, "train_loss"], dtype=np.float64)

    def _measure(self, Y, Zs):
        """Faithfulness, reconstruction and sparsity on held-out rows (numpy, float64)."""
        with torch.no_grad():
            Zt = torch.as_tensor(Zs, dtype=torch.float32, device=self.device_)
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

    # ------------------------------------------------------------------ rows and activations
    def _check_rows(self, X, name, fitting=False):
        """X as a float64 array of the model's input shape (checked against fit's)."""
        owner = type(self).__name__
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        if is_dataframe(X) or hasattr(X, "tocsr") or np.ndim(X) == 2 or X is None:
            names = None if fitting else self.__dict__.get("feature_names_in_")
            n_feat = None if fitting else self.n_features_in_
            if not fitting and len(self.input_shape_) != 1:
                shape = ", ".join(map(str, self.input_shape_))
                raise ValueError(f"{name} must have shape (n, {shape}) like fit's X; got a "
                                 "2-D table.")
            rows = check_tabular(X, name=name, feature_names=names, n_features=n_feat,
                                 owner=owner)
            if fitting:
                self.__dict__.pop("feature_names_in_", None)
                if is_dataframe(X) and all(isinstance(c, str) for c in X.columns):
                    self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        else:
            rows = _image_rows(X, name)
        if rows.shape[0] == 0:
            raise ValueError(f"{name} has no rows.")
        if fitting:
            self.input_shape_ = tuple(rows.shape[1:])
            self.n_features_in_ = int(np.prod(self.input_shape_))
        elif rows.shape[1:] != self.input_shape_:
            raise ValueError(
                f"{name} has rows of shape {rows.shape[1:]}, but {owner} was fitted on rows of "
                f"shape {self.input_shape_}.")
        return rows

    def _chunk(self):
        return self.batch_size or 1024

    def _tensor(self, rows):
        return torch.as_tensor(rows, dtype=input_dtype(self.module_), device=self.device_)

    def _forward(self, Xt):
        """Raw model outputs (n, k) and the hooked activations (n, p) for a tensor chunk."""
        sub = dict(self.module_.named_modules())[self.layer_]
        return forward_with_activations(self.module_, sub, self.hooked_, Xt,
                                        type(self).__name__)

    def _activations(self, rows):
        """Model outputs (n, k) and activations (n, p) of all rows, as float64 arrays."""
        outs, acts = [], []
        with torch.no_grad():
            for s in range(0, rows.shape[0], self._chunk()):
                out, act = self._forward(self._tensor(rows[s:s + self._chunk()]))
                outs.append(out.double().cpu())
                acts.append(act.double().cpu())
        Y, Z = torch.cat(outs).numpy(), torch.cat(acts).numpy()
        for what, arr in (("outputs", Y), ("activations at layer " + repr(self.layer_), Z)):
            if not np.isfinite(arr).all():
                raise ValueError(f"{type(self).__name__}: the model's {what} are not finite "
                                 "for some rows of X; check the inputs' scale.")
        return Y, Z

    def _xfeatures(self, act):
        """x-features (n, m) of raw activations (n, p), keeping the graph."""
        mean = torch.as_tensor(self.activation_mean_, dtype=act.dtype, device=act.device)
        scale = torch.as_tensor(self.activation_scale_, dtype=act.dtype, device=act.device)
        Zs = ((act - mean) / scale).to(self.xnn_.readout.weight.dtype)
        return self.xnn_.encoder(Zs)

    # ------------------------------------------------------------------ explain
    def explain(self, X):
        """x-features, their contributions and their input maps for the rows of ``X``.

        Parameters
        ----------
        X : array-like, DataFrame or torch.Tensor of fit's row shape

        Returns
        -------
        explanation : XNNExplanation
            ``values`` (n, m): contributions of the x-features to the reconstructed output of
            each row's explained output (``target``); ``base_values`` (n,) the readout's
            bias; ``output`` (n,) the reconstructed output, equal to their sum;
            ``data`` (n, m) the x-features; ``maps`` (n, m, *input_shape); ``model_output``
            (n,) the model's own output; ``targets`` (n,).
        """
        check_is_fitted(self)
        rows = self._check_rows(X, "X")
        targets = check_target(self.target, self.n_outputs_, rows.shape[0],
                               output_names=self.output_names_)
        Y, xf = self._outputs_and_xfeatures(rows)
        t, output_names = self._targets(targets, Y)
        values, base, output = self._contributions(xf, t)
        maps = self._maps(rows)
        return XNNExplanation(
            values, base, xf, self.xfeature_names_, output_names=output_names, output=output,
            maps=maps, inputs=rows, targets=t, model_output=Y[np.arange(len(t)), t],
            attribution=self.attribution, method=type(self).__name__)

    def transform(self, X):
        """The x-features' contributions (``explain(X).values`` without the maps).

        Parameters
        ----------
        X : array-like, DataFrame or torch.Tensor of fit's row shape

        Returns
        -------
        values : ndarray of shape (n, n_xfeatures)
        """
        check_is_fitted(self)
        rows = self._check_rows(X, "X")
        targets = check_target(self.target, self.n_outputs_, rows.shape[0],
                               output_names=self.output_names_)
        Y, xf = self._outputs_and_xfeatures(rows)
        t, _ = self._targets(targets, Y)
        return self._contributions(xf, t)[0]

    def get_feature_names_out(self, input_features=None):
        """Names of ``transform``'s columns: the x-features.

        Parameters
        ----------
        input_features : ignored

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self)
        return np.asarray(self.xfeature_names_, dtype=object)

    def _outputs_and_xfeatures(self, rows):
        outs, xfs = [], []
        with torch.no_grad():
            for s in range(0, rows.shape[0], self._chunk()):
                out, act = self._forward(self._tensor(rows[s:s + self._chunk()]))
                outs.append(out.double().cpu())
                xfs.append(self._xfeatures(act).double().cpu())
        return torch.cat(outs).numpy(), torch.cat(xfs).numpy()

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

    def _maps(self, rows):
        """One map per x-feature, (n, m, *input_shape), by ``attribution``."""
        n, m = rows.shape[0], self.n_xfeatures
        maps = np.empty((n, m) + rows.shape[1:])
        ig = self.attribution == "integrated_gradients"
        steps = self.ig_steps if ig else 1
        per_chunk = max(1, self._chunk() // steps)
        alphas = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
        for s in range(0, n, per_chunk):
            X = self._tensor(rows[s:s + per_chunk])
            if ig:  # midpoints of the straight path from 0 to x, all in one pass
                a = alphas.to(device=X.device, dtype=X.dtype).view(-1, *([1] * X.dim()))
                P = (a * X.unsqueeze(0)).reshape(-1, *X.shape[1:])
            else:
                P = X
            grads = self._xfeature_gradients(P)  # (m, steps * c, *shape)
            grads = grads.reshape(m, steps, *X.shape).mean(dim=1)
            maps[s:s + per_chunk] = (grads * X.unsqueeze(0)).transpose(0, 1).double().cpu()
        return maps

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
    def save(self, path):
        """Save the fitted explainer without pickle (tensors plus JSON metadata).

        The model is not saved: pass it to :meth:`load`.

        Parameters
        ----------
        path : str or path-like
        """
        import json

        from sklxai.utils.persistence import json_default, write_state

        check_is_fitted(self)
        params = {}
        for name, value in self.get_params(deep=False).items():
            if name in ("model", "device"):
                continue
            try:
                json.dumps(value, default=json_default)
            except TypeError:
                raise ValueError(f"save() cannot store the parameter {name}={value!r}, which "
                                 "is not a plain value; set it again when loading.") from None
            params[name] = value
        names = self.__dict__.get("feature_names_in_")
        meta = {
            "class": type(self).__name__, "params": params,
            "input_shape": list(self.input_shape_), "layer": self.layer_,
            "hooked": self.hooked_, "n_activations": self.n_activations_,
            "n_outputs": self.n_outputs_, "output_names": list(self.output_names_),
            "feature_names_in": None if names is None else [str(c) for c in names],
            "faithfulness": self.faithfulness_, "faithfulness_metric": self.faithfulness_metric_,
            "output_r2": self.output_r2_, "reconstruction_error": self.reconstruction_error_,
            "sparsity": self.sparsity_,
        }
        tensors = {f"xnn.{k}": v for k, v in self.xnn_.state_dict().items()}
        for attr in ("activation_mean_", "activation_scale_", "readout_weight_",
                     "readout_bias_", "history_"):
            tensors[attr] = torch.as_tensor(getattr(self, attr))
        write_state(path, meta, tensors)

    @classmethod
    def load(cls, path, model, *, device="auto", **params):
        """Load an XNN written by :meth:`save`, for ``model`` (the model it was fitted for).

        Parameters
        ----------
        path : str or path-like
        model : torch.nn.Module or fitted skorch net
        device : "auto", "cpu", "cuda" or torch.device
        **params
            Overrides of saved parameters.

        Returns
        -------
        explainer : XNN
            Fitted; gives the same explanations as the saved one.

        Raises
        ------
        ValueError
            For a corrupted or foreign file, or a model whose layer, activations or outputs
            do not match the saved ones.
        """
        from sklxai.utils.persistence import read_state

        meta, tensors = read_state(path, cls.__name__)
        est = cls(model, **dict(meta["params"], device=device, **params))
        pv.validate_params(est)
        module, _ = torch_module(model, cls.__name__)
        est._bind_module(module)
        if est.layer_ != meta["layer"] or est.hooked_ != meta["hooked"]:
            raise ValueError(f"the model's layer {est.layer_!r} ({est.hooked_}) is not the saved "
                             f"{meta['layer']!r} ({meta['hooked']}); pass the model it was "
                             "fitted for.")
        est.input_shape_ = tuple(meta["input_shape"])
        est.n_features_in_ = int(np.prod(est.input_shape_))
        if meta["feature_names_in"] is not None:
            est.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
        Y, Z = est._activations(np.zeros((1,) + est.input_shape_))
        if Z.shape[1] != meta["n_activations"] or Y.shape[1] != meta["n_outputs"]:
            raise ValueError(
                f"the model gives {Z.shape[1]} activations and {Y.shape[1]} outputs, but the "
                f"saved XNN was fitted for {meta['n_activations']} and {meta['n_outputs']}; "
                "pass the model it was fitted for.")
        est.n_activations_, est.n_outputs_ = Z.shape[1], Y.shape[1]
        est.output_names_ = list(meta["output_names"])
        est.xnn_ = XNNModule(est.n_activations_, est.n_outputs_, est.n_xfeatures,
                             est.hidden_size).to(est.device_)
        est.xnn_.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("xnn.")})
        est.xnn_.eval()
        for attr in ("activation_mean_", "activation_scale_", "readout_weight_",
                     "readout_bias_", "history_"):
            setattr(est, attr, tensors[attr].double().numpy())
        est.faithfulness_, est.faithfulness_metric_ = (meta["faithfulness"],
                                                       meta["faithfulness_metric"])
        est.output_r2_ = meta["output_r2"]
        est.reconstruction_error_ = meta["reconstruction_error"]
        est.sparsity_ = meta["sparsity"]
        est.xfeature_names_ = [f"xf{j}" for j in range(est.n_xfeatures)]
        return est


def _scale(std):
    return np.where(std > _TINY, std, 1.0)


def _r2(pred, true):
    total = ((true - true.mean(axis=0)) ** 2).sum()
    return float(1.0 - ((pred - true) ** 2).sum() / max(total, _TINY))


def _image_rows(X, name):
    """An (n, H, W) or (n, C, H, W) numeric array as float64, finite; clear errors else."""
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged nested lists and the like
        raise ValueError(f"{name} cannot be read as an array: {exc}") from exc
    if arr.ndim not in (3, 4):
        raise ValueError(f"{name} must be 2-D (n, d) or an image batch (n, H, W) or "
                         f"(n, C, H, W); got {arr.ndim} dimension(s), shape {arr.shape}.")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers; got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return arr
