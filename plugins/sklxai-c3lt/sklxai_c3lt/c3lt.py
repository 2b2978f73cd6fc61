"""C3LT: cycle-consistent counterfactuals by latent transformations (Khorram & Li, CVPR 2022)."""

import copy

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from sklxai import BaseExplainer
from sklxai.utils import check_target, seed_from
from sklxai.utils import param_validation as pv
from sklxai_c3lt.metrics import counterfactual_scores
from sklxai_c3lt.networks import Autoencoder, LatentMap
from sklxai_c3lt.training import CycleObjective, fit_autoencoder, fit_maps, restored_net

_POSITIVE = pv.real_in(0, float("inf"))
_NON_NEGATIVE = pv.real_in(0, float("inf"), inclusive=(True, False))


class C3LT(BaseExplainer):
    """Counterfactuals from a map in a generative model's latent space (C3LT).

    C3LT learns, for one pair of classes, a map g in the latent space of a generative model
    (encoder E, decoder G) that turns inputs x of ``source_class`` into counterfactuals
    ``G(g(E(x)))`` that the classifier f assigns to ``target_class``, together with its inverse
    h (target -> source). g and h are trained jointly on rows of both classes with

    ``loss = classification + alpha * proximity + beta * cycle``

    - classification: ``-log f(G(g(E(x))))[target]`` and ``-log f(G(h(E(x'))))[source]``;
    - proximity: ``(L1(x, x_cf) + p1 * smooth(m) + p2 * binary(m)) / (1 + p1 + p2)``, m the
      normalised squared change, ``p1 = smoothness`` and ``p2 = entropy`` (the smoothness
      term only for images);
    - cycle: ``|h(g(E(x))) - E(x)|`` and ``|G(h(g(E(x)))) - x|``, both directions.

    Once fitted, a counterfactual costs one pass through E, g and G: no optimisation per
    query. ``fit`` first trains a small autoencoder on all of its X (unless ``encoder`` and
    ``decoder`` are given), then the maps, and measures the counterfactuals on held-out rows
    of the source class (``validation_scores_``).

    Parameters
    ----------
    model : fitted skorch net or torch.nn.Module
        The classifier. A skorch classifier's probabilities are used through their log; a bare
        module's outputs are taken as logits (``log_softmax``). Gradients flow through it, so
        scikit-learn models are refused.
    source_class : int or label, default=0
        The class of the queries: an output index or a class label (as sklxai's ``target``).
    target_class : int or label, default=1
        The class of the counterfactuals. It is the output C3LT explains (the explainer's
        ``target``): ``explain`` reports its probability.
    encoder, decoder : torch.nn.Module or None, default=None
        A generative model of the data: ``encoder`` maps inputs ``(n, *input_shape)`` (images
        as the classifier takes them, ``(n, C, H, W)``, or rows ``(n, d)``) to latent codes of
        any shape, ``decoder`` maps those back to inputs. Both or neither; they are copied,
        frozen and never trained. None: a small autoencoder
        (:class:`~sklxai_c3lt.networks.Autoencoder`) is fitted on ``fit``'s X.
    latent_dim : int, default=16
        Latent size of the autoencoder fitted when no encoder is given.
    hidden_size : int, default=128
        Width of its two hidden layers.
    autoencoder_steps : int, default=2000
        Optimizer steps of the autoencoder (rounded up to whole epochs).
    map_steps : int, default=1500
        Optimizer steps of the maps g and h (rounded up to whole epochs).
    train_batch_size : int, default=128
        Rows per step (pairs of a source and a target row for the maps), as in the reference.
    autoencoder_lr : float, default=1e-3
        Adam's learning rate for the autoencoder.
    lr : float, default=1e-3
        Adam's learning rate for the maps (the reference's ``lr_map``); it halves eight times
        over training.
    alpha : float, default=0.1
        Weight of the proximity term (the reference's default).
    beta : float, default=0.1
        Weight of the cycle-consistency term (the reference's default).
    smoothness : float, default=10.0
        Weight of the mask's smoothness inside the proximity term (the reference's ``p1``).
    entropy : float, default=1.0
        Weight of the mask's binariness inside the proximity term (the reference's ``p2``).
    preserve_norm : bool, default=False
        Rescale mapped codes to the norm of the code they came from, as the reference's maps
        do in a GAN's Gaussian latent space, where norms concentrate. An autoencoder's codes
        are not centred: the two classes may lie at different norms, which the maps could then
        never reach (on two Gaussian blobs, validity 0 with it, 1 without), hence False.
    validation_fraction : float in [0, 1), default=0.2
        Share of the source-class rows held out of training to measure
        ``validation_scores_``. 0: train on all of them, no validation.
    background, n_background, fast_path
        See :class:`~sklxai.BaseExplainer` (the common interface of sklxai's explainers).
        C3LT does not use a background.
    device : "auto", "cpu", "cuda" or torch.device, default="auto"
        Where the classifier, the networks and their training run.
    random_state : None or int, default=None
        Seeds the networks' initialisation, the batches and the validation split. With an int,
        results are reproducible.
    batch_size : int or None, default=None
        Rows per forward pass in ``explain`` (None: 4096).

    Attributes
    ----------
    encoder_, decoder_ : torch.nn.Module
        The frozen generative model on ``device`` (fitted, or a copy of the given one).
    g_, h_ : LatentMap
        The latent maps source -> target and target -> source.
    autoencoder_ : skorch.NeuralNet or None
        The fitted autoencoder's net (its ``history``); None when ``encoder`` was given.
    maps_ : skorch.NeuralNet
        The net that trained g and h (``maps_.history``: the total loss per epoch).
    source_index_, target_index_ : int
        Output indices of the two classes.
    reference_ : ndarray of shape (m, d)
        The target-class rows of ``fit``'s X (flat): the real examples ``realism`` is
        measured against.
    validation_scores_ : dict or None
        :func:`~sklxai_c3lt.metrics.counterfactual_scores` of the held-out source rows
        (``validity``, ``l1``, ``l2``, ``realism``, ``n``); None without held-out rows.
    model_, adapter_, prepared_, n_outputs_, output_names_, n_features_in_, background_
        See :class:`~sklxai.BaseExplainer`.

    Notes
    -----
    **What explain returns.** An :class:`~sklxai.Explanation` of the target class:
    ``values = counterfactual - query`` in the input's shape (images stay images),
    ``data`` the queries (so the counterfactuals are ``data + values``), ``base_values`` the
    classifier's probability of ``target_class`` at the query and ``output`` at the
    counterfactual. A counterfactual is not an additive attribution: ``efficiency_gap`` has no
    meaning here. :meth:`counterfactuals` returns the counterfactuals themselves and their
    predicted classes, :meth:`evaluate` their validity, proximity and realism. Rows of X are
    expected to be of ``source_class``; other rows are mapped by g all the same.

    **Labels.** With ``y``, the rows of each class are those labelled so; without it, those
    the classifier predicts as that class.

    **Saving.** :meth:`save` keeps the fitted autoencoder, g, h, ``reference_``,
    ``validation_scores_`` and the training histories; :meth:`load` restores them without
    training. A user's ``encoder``/``decoder`` are not saved as parameters (modules): pass them
    again, ``C3LT.load(path, model, encoder=E, decoder=D)``; their saved weights are loaded into
    the copies.

    **Where this differs from the reference code.** The generative model is a small
    autoencoder fitted on the data instead of a pretrained DCGAN with a separately trained
    encoder; the cycle loss compares inputs in input space only (the reference adds a
    perceptual term on two layers of its MNIST classifier, which a generic classifier does not
    name); the optional adversarial term (weight 0 in the reference's defaults) is not
    implemented; L1 terms are measured in units of the data's range (the reference's images
    span [-1, 1], a range of 2); budgets are optimizer steps, not 200 epochs of MNIST.

    References
    ----------
    Saeed Khorram, Li Fuxin. "Cycle-Consistent Counterfactuals by Latent Transformations".
    CVPR 2022. Reference code: https://github.com/khorrams/c3lt

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai_c3lt import C3LT
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-2, 0.5, (60, 2)), rng.normal(2, 0.5, (60, 2))])
    >>> clf = torch.nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = clf.weight.copy_(torch.tensor([[-1.0, -1.0], [1.0, 1.0]]))
    ...     _ = clf.bias.zero_()
    >>> c3lt = C3LT(clf, source_class=0, target_class=1, latent_dim=2, hidden_size=16,
    ...             autoencoder_steps=200, map_steps=400, train_batch_size=32,
    ...             autoencoder_lr=1e-2, lr=5e-2, device="cpu", random_state=0)
    >>> exp = c3lt.fit(X).explain(X[:5])
    >>> exp.values.shape
    (5, 2)
    >>> X_cf, classes = c3lt.counterfactuals(X[:5])
    >>> bool((classes == 1).all())
    True
    >>> c3lt.score(X[:60])  # validity on every row of the source class
    1.0
    """

    def __init__(self, model, *, source_class=0, target_class=1, encoder=None, decoder=None,
                 latent_dim=16, hidden_size=128, autoencoder_steps=2000, map_steps=1500,
                 train_batch_size=128, autoencoder_lr=1e-3, lr=1e-3, alpha=0.1, beta=0.1,
                 smoothness=10.0, entropy=1.0, preserve_norm=False, validation_fraction=0.2,
                 background=None, n_background=100, fast_path="auto", device="auto",
                 random_state=None, batch_size=None):
        self.model = model
        self.source_class = source_class
        self.target_class = target_class
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim
        self.hidden_size = hidden_size
        self.autoencoder_steps = autoencoder_steps
        self.map_steps = map_steps
        self.train_batch_size = train_batch_size
        self.autoencoder_lr = autoencoder_lr
        self.lr = lr
        self.alpha = alpha
        self.beta = beta
        self.smoothness = smoothness
        self.entropy = entropy
        self.preserve_norm = preserve_norm
        self.validation_fraction = validation_fraction
        self.background = background
        self.n_background = n_background
        self.fast_path = fast_path
        self.device = device
        self.random_state = random_state
        self.batch_size = batch_size

    _parameter_constraints = {
        **{k: v for k, v in BaseExplainer._parameter_constraints.items() if k != "target"},
        "source_class": pv.unchecked("an output index or class label"),
        "target_class": pv.unchecked("an output index or class label"),
        "encoder": pv.unchecked("torch.nn.Module or None (with decoder)"),
        "decoder": pv.unchecked("torch.nn.Module or None (with encoder)"),
        "latent_dim": pv.positive_int(),
        "hidden_size": pv.positive_int(),
        "autoencoder_steps": pv.positive_int(),
        "map_steps": pv.positive_int(),
        "train_batch_size": pv.positive_int(),
        "autoencoder_lr": _POSITIVE,
        "lr": _POSITIVE,
        "alpha": _NON_NEGATIVE,
        "beta": _NON_NEGATIVE,
        "smoothness": _NON_NEGATIVE,
        "entropy": _NON_NEGATIVE,
        "preserve_norm": pv.boolean(),
        "validation_fraction": pv.real_in(0, 1, inclusive=(True, False)),
    }

    @property
    def target(self):
        """The output explained: ``target_class`` (what sklxai's machinery reads as
        ``target``)."""
        return self.target_class

    # ------------------------------------------------------------------ fit
    def _check_params(self):
        from sklearn.pipeline import Pipeline
        from skorch import NeuralNet

        # a Pipeline is refused in _fit, once prepared (so that its data checks come first)
        if not isinstance(self.model, (torch.nn.Module, NeuralNet, Pipeline)):
            raise TypeError(
                "C3LT differentiates through the classifier: model must be a skorch net or a "
                f"torch.nn.Module; got {type(self.model).__name__}."
            )
        if (self.encoder is None) != (self.decoder is None):
            raise ValueError("encoder and decoder go together: pass both (a generative model "
                             "of your own) or neither (an autoencoder is fitted).")
        for name in ("encoder", "decoder"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, torch.nn.Module):
                raise TypeError(f"{name} must be a torch.nn.Module or None; got "
                                f"{type(value).__name__}.")
        for name in ("source_class", "target_class"):
            if np.ndim(getattr(self, name)) != 0:
                raise ValueError(f"{name} must be one output index or class label; got "
                                 f"{getattr(self, name)!r}.")

    def _check_prepared_model(self):
        """Refuse what ``fit`` prepared but C3LT cannot differentiate through or generate."""
        from skorch import NeuralNet

        prepared = self.prepared_
        if (not isinstance(self.model_, (torch.nn.Module, NeuralNet))
                or prepared.preprocessor is not None or prepared.encoder is not None):
            raise TypeError(
                "C3LT differentiates through the classifier and generates its inputs: model "
                "must be a skorch net or a torch.nn.Module fitted on numeric inputs (not a "
                f"Pipeline or raw columns to encode); got {type(self.model_).__name__}."
            )

    def _check_float32(self, rows, name="X"):
        """Refuse values that C3LT's float32 networks would turn into inf."""
        self.prepared_.check_range(rows, name, torch.float32, type(self).__name__)

    def _fit(self, X, y):
        self._check_prepared_model()
        self._check_float32(X)
        if X.shape[0] < 2:
            raise ValueError(f"X has n_samples={X.shape[0]}; C3LT trains on fit's X and needs "
                             "at least 2 rows: one of source_class and one of target_class.")
        if self.n_outputs_ < 2:
            raise ValueError(f"C3LT needs a classifier with at least 2 outputs; the model has "
                             f"{self.n_outputs_}.")
        self.source_index_ = self._class_index(self.source_class, "source_class")
        self.target_index_ = self._class_index(self.target_class, "target_class")
        if self.source_index_ == self.target_index_:
            raise ValueError(f"source_class and target_class are the same output "
                             f"({self.output_names_[self.source_index_]!r}); C3LT maps one "
                             "class to another.")
        labels, origin = self._labels(X, y)
        rows = {}
        for name, index in (("source_class", self.source_index_),
                            ("target_class", self.target_index_)):
            rows[name] = X[labels == index]
            if len(rows[name]) == 0:
                label = self.output_names_[index]
                raise ValueError(f"X has no rows of {name} {label!r} ({origin}); C3LT needs "
                                 "examples of both classes.")
        seed = seed_from(self.random_state)
        rng = np.random.default_rng(seed)
        A, B = rows["source_class"], rows["target_class"]
        n_val = min(int(round(self.validation_fraction * len(A))), len(A) - 1)
        order = rng.permutation(len(A))
        A_val, A_train = A[order[:n_val]], A[order[n_val:]]

        device = self.adapter_.device
        shape = self._input_shape()
        as_input = (lambda R: R.reshape(len(R), *shape).astype(np.float32))
        scale = float(X.max() - X.min()) or 1.0
        self._fit_generator(as_input(X), device, seed)
        with torch.no_grad():
            z = self.encoder_(torch.as_tensor(as_input(A_train[:2]), device=device))
        latent = int(np.prod(z.shape[1:]))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            g = LatentMap(latent, self.preserve_norm)
            h = LatentMap(latent, self.preserve_norm)
        self._scale = scale
        self.maps_ = fit_maps(self._objective(g, h), as_input(A_train), as_input(B),
                              alpha=self.alpha, beta=self.beta, steps=self.map_steps,
                              batch_size=self.train_batch_size, lr=self.lr, device=device,
                              seed=seed)
        self.g_ = self.maps_.module_.g.eval()
        self.h_ = self.maps_.module_.h.eval()
        self.reference_ = B
        self.validation_scores_ = self._scores(A_val) if len(A_val) else None

    def _objective(self, g, h):
        """The :class:`~sklxai_c3lt.training.CycleObjective` of maps g and h (fitted
        generative model, classes and data range set)."""
        return CycleObjective(
            g, h, self.encoder_, self.decoder_, self._log_proba, source=self.source_index_,
            target=self.target_index_, scale=self._scale, smoothness_weight=self.smoothness,
            entropy_weight=self.entropy)

    def _class_index(self, value, name):
        try:
            return check_target(value, self.n_outputs_, output_names=self.output_names_)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None

    def _labels(self, X, y):
        """Output index of each row: from y when given, else the classifier's prediction."""
        if y is None:
            return self._predict_index(X), "labels predicted by the model"
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must hold one label per row of X ({len(X)}); got shape "
                             f"{y.shape}.")
        index = np.full(len(y), -1)
        for i, label in enumerate(self.output_names_):
            index[y == label] = i
        return index, "labels from y"

    def _input_shape(self):
        shape = self.prepared_.input_shape
        return (self.n_features_in_,) if shape is None else tuple(shape)

    def _fit_generator(self, X, device, seed):
        if self.encoder is None:
            self.autoencoder_ = fit_autoencoder(
                X, latent_dim=self.latent_dim, hidden_size=self.hidden_size,
                steps=self.autoencoder_steps, batch_size=self.train_batch_size,
                lr=self.autoencoder_lr, device=device, seed=seed)
        else:
            self.autoencoder_ = None
        self._set_generator(device)
        probe = torch.as_tensor(X[:2], device=device)
        try:
            with torch.no_grad():
                out = self.decoder_(self.encoder_(probe))
        except RuntimeError as exc:
            raise ValueError(
                f"encoder and decoder failed on float32 inputs of shape {tuple(probe.shape)} "
                f"(inputs as the classifier takes them): {type(exc).__name__}: {exc}"
            ) from exc
        if tuple(out.shape) != tuple(probe.shape):
            raise ValueError(
                f"decoder(encoder(x)) must give inputs of x's shape {tuple(probe.shape)}; got "
                f"{tuple(out.shape)}. The encoder and decoder must take and return inputs as "
                "the classifier takes them."
            )

    def _set_generator(self, device):
        """``encoder_``/``decoder_``: the fitted autoencoder's halves, or frozen copies of the
        given modules on ``device``."""
        if self.autoencoder_ is not None:
            ae = self.autoencoder_.module_
            self.encoder_, self.decoder_ = ae.encoder, ae.decoder
        else:
            self.encoder_ = copy.deepcopy(self.encoder).to(device)
            self.decoder_ = copy.deepcopy(self.decoder).to(device)
        for module in (self.encoder_, self.decoder_):
            module.eval().requires_grad_(False)

    # ------------------------------------------------------------------ persistence
    # save()/load() are BaseExplainer's. The fitted autoencoder, the maps g and h and the
    # target-class rows travel as tensors; a user's encoder and decoder are modules (code), not
    # saved as parameters: pass them again, C3LT.load(path, model, encoder=E, decoder=D). Their
    # weights are saved, and loaded into the copies, so that the loaded explainer is the saved one.
    def _unsaved_params(self):
        return super()._unsaved_params() + ("encoder", "decoder")

    def _get_state(self):
        meta, tensors = super()._get_state()
        custom = self.autoencoder_ is None
        meta["c3lt"] = {
            "custom_generator": custom,
            "scale": self._scale,
            "source_index": int(self.source_index_),
            "target_index": int(self.target_index_),
            "validation_scores": self.validation_scores_,
            "autoencoder_history": None if custom else list(self.autoencoder_.history),
            "maps_history": list(self.maps_.history),
        }
        modules = {"g": self.g_, "h": self.h_}
        if custom:
            modules.update(encoder=self.encoder_, decoder=self.decoder_)
        else:
            modules["autoencoder"] = self.autoencoder_.module_
        for prefix, module in modules.items():
            tensors.update({f"{prefix}.{k}": v for k, v in module.state_dict().items()})
        tensors["reference"] = torch.as_tensor(self.reference_)
        return meta, tensors

    def _restore(self, X, meta, tensors):
        state = meta["c3lt"]
        custom = state["custom_generator"]
        if custom and self.encoder is None:
            raise ValueError("this C3LT was fitted with a user's encoder and decoder, which are "
                             "not saved (they are modules); pass them again: "
                             "C3LT.load(path, model, encoder=..., decoder=...).")
        if not custom and self.encoder is not None:
            raise ValueError("this C3LT was fitted with its own autoencoder, which is saved; its "
                             "maps were trained for it: do not pass encoder and decoder to load.")
        self._check_prepared_model()
        self.source_index_ = self._class_index(self.source_class, "source_class")
        self.target_index_ = self._class_index(self.target_class, "target_class")
        if (self.source_index_, self.target_index_) != (state["source_index"],
                                                         state["target_index"]):
            raise ValueError(
                f"source_class and target_class are outputs {self.source_index_} and "
                f"{self.target_index_} of this model, but {state['source_index']} and "
                f"{state['target_index']} of the model the explainer was fitted for; pass that "
                "model.")
        device = self.adapter_.device

        def weights(prefix):
            return {k[len(prefix) + 1:]: v for k, v in tensors.items()
                    if k.startswith(prefix + ".")}

        if custom:
            self.autoencoder_ = None
            self._set_generator(device)
            for name, module in (("encoder", self.encoder_), ("decoder", self.decoder_)):
                try:
                    module.load_state_dict(weights(name))
                except RuntimeError as exc:
                    raise ValueError(f"the {name} passed to load does not match the one the "
                                     f"explainer was fitted with: {exc}") from None
        else:
            bounds = np.zeros(self.n_features_in_)  # the saved ones are loaded
            with torch.random.fork_rng(devices=[]):  # weights are loaded, not drawn
                ae = Autoencoder(self._input_shape(), self.latent_dim, self.hidden_size,
                                 bounds, bounds)
            ae.load_state_dict(weights("autoencoder"))
            self.autoencoder_ = restored_net(
                ae, state["autoencoder_history"], kind="autoencoder",
                batch_size=self.train_batch_size, lr=self.autoencoder_lr, device=device)
            self._set_generator(device)
        g_weights = weights("g")
        latent = g_weights["net.0.weight"].shape[1]
        maps = {}
        for name in ("g", "h"):
            with torch.random.fork_rng(devices=[]):
                maps[name] = LatentMap(latent, self.preserve_norm)
            maps[name].load_state_dict(weights(name))
        self._scale = state["scale"]
        self.maps_ = restored_net(self._objective(maps["g"], maps["h"]), state["maps_history"],
                                  kind="maps", batch_size=self.train_batch_size, lr=self.lr,
                                  device=device, alpha=self.alpha, beta=self.beta)
        self.g_ = self.maps_.module_.g.eval()
        self.h_ = self.maps_.module_.h.eval()
        self.reference_ = tensors["reference"].numpy()
        self.validation_scores_ = state["validation_scores"]

    # ------------------------------------------------------------------ the networks
    def _log_proba(self, x):
        """Classifier log-probabilities (n, k), float32, differentiable, for inputs x."""
        out = self.adapter_.forward(x.reshape(x.shape[0], -1).to(self.adapter_.input_dtype))
        out = out.float()
        if self.adapter_.is_classifier:
            return torch.log(out.clamp_min(1e-12))
        return torch.log_softmax(out, dim=1)

    def _proba(self, rows):
        """Class probabilities (n, k), float64, for flat rows."""
        out = torch.as_tensor(self.adapter_.predict(rows, self.batch_size))
        return out.numpy() if self.adapter_.is_classifier else torch.softmax(out, 1).numpy()

    def _predict_index(self, rows):
        return self.adapter_.predict(rows, self.batch_size).argmax(axis=1)

    def _map_rows(self, rows, inverse=False):
        """Counterfactuals ``G(g(E(x)))`` (``h`` when ``inverse``) of flat rows, flat, float64."""
        shape = self._input_shape()
        device = self.adapter_.device
        chunk = self.batch_size or 4096
        mapping = self.h_ if inverse else self.g_
        out = []
        with torch.no_grad():
            for start in range(0, len(rows), chunk):
                x = torch.as_tensor(np.array(rows[start:start + chunk], dtype=np.float32),
                                    device=device).reshape(-1, *shape)
                cf = self.decoder_(mapping(self.encoder_(x)))
                out.append(cf.reshape(len(x), -1).double().cpu().numpy())
        return np.concatenate(out) if out else np.empty((0, rows.shape[1]))

    # ------------------------------------------------------------------ explain
    def _explain_target(self, X, target):
        self._check_float32(X)
        cf = self._map_rows(X)
        p_x, p_cf = self._proba(X)[:, target], self._proba(cf)[:, target]
        return cf - X, p_x, p_cf, [self.output_names_[target]]

    def _validated(self, X):
        check_is_fitted(self)
        rows = self.prepared_.validate(X, name="X", owner=type(self).__name__)
        self._check_float32(rows)
        return rows

    def counterfactuals(self, X):
        """The counterfactuals of X's rows and the class the classifier gives them.

        Parameters
        ----------
        X : array-like of shape (n, d), or images (n, C, H, W) / (n, H, W)
            Queries of ``source_class``, of the kind ``fit`` saw.

        Returns
        -------
        X_cf : ndarray of X's shape
            ``decoder(g(encoder(x)))`` for each row: one forward pass, no optimisation.
        classes : ndarray of shape (n,)
            The classifier's predicted class (its label) of each counterfactual.
        """
        rows = self._validated(X)
        cf = self._map_rows(rows)
        classes = np.asarray(self.output_names_, dtype=object)[self._predict_index(cf)]
        return self.prepared_.to_input_shape(cf), _plain(classes)

    def _scores(self, rows):
        cf = self._map_rows(rows)
        classes = self._predict_index(cf)
        return counterfactual_scores(rows, cf, classes, self.target_index_, self.reference_)

    def evaluate(self, X):
        """Validity, proximity and realism of the counterfactuals of X's rows.

        Parameters
        ----------
        X : array-like of shape (n, d), or images (n, C, H, W) / (n, H, W)
            Queries of ``source_class`` (held-out rows, ideally).

        Returns
        -------
        scores : dict
            ``validity`` (share classified as ``target_class``), ``l1`` and ``l2`` (mean
            distance to the query), ``realism`` (mean Euclidean distance to the nearest
            target-class row of ``fit``'s X, ``reference_``) and ``n``; see
            :func:`~sklxai_c3lt.metrics.counterfactual_scores`.
        """
        return self._scores(self._validated(X))

    def score(self, X, y=None):
        """Validity: the share of X's counterfactuals classified as ``target_class``.

        Parameters
        ----------
        X : array-like of shape (n, d), or images (n, C, H, W) / (n, H, W)
            Queries of ``source_class``.
        y : None
            Ignored (scikit-learn's signature).

        Returns
        -------
        validity : float in [0, 1]
        """
        return self.evaluate(X)["validity"]


def _plain(labels):
    """Labels as a numeric array when they are numbers, else as objects."""
    try:
        return labels.astype(np.int64) if all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels
        ) else labels
    except (TypeError, ValueError):
        return labels
