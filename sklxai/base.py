"""BaseExplainer: the estimator contract every explainer follows (fit / explain / transform).

Model preparation lives in :mod:`sklxai.models.prepare`, persistence in
:mod:`sklxai.utils.persistence`; this module keeps the estimator contract and the hooks.
"""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from sklxai._explain_results import select_target, split_results
from sklxai._sklearn_protocol import SklearnProtocolMixin
from sklxai.explanation import Explanation
from sklxai.utils import param_validation as pv
from sklxai.utils.persistence import PersistenceMixin
from sklxai.utils.validation import check_finite_results, check_target, seed_from


class BaseExplainer(PersistenceMixin, SklearnProtocolMixin, TransformerMixin, BaseEstimator):
    """Base class of all explainers: a scikit-learn transformer that returns attributions.

    Parameters
    ----------
    model : fitted skorch net, torch.nn.Module or scikit-learn estimator
        The model to explain. An unfitted scikit-learn estimator or skorch net is accepted when
        ``fit`` is given ``y``: a clone of it is then fitted on ``(X, y)`` (``model_``).
        A fitted model is used as is and is never modified; ``clone`` of the explainer shares it.
    background : array-like of shape (b, d), images (b, C, H, W) or None
        Reference rows for absent features, of the kind of ``fit``'s X (for images, also their
        flat rows (b, C*H*W), e.g. another explainer's ``background_``). None:
        ``n_background`` rows drawn from ``fit``'s X.
    n_background : int
        Rows drawn from ``fit``'s X when ``background`` is None (all rows if X has fewer).
    target : None, int, label or array of int
        Which output to explain. None: every output. An int or an output label: that output for
        every row. An array: one output index per row of ``explain``'s X.
    fast_path : "auto", True or False
        For a Pipeline whose last step is a skorch net or a torch module: "auto" runs the
        preprocessing once and masks in model space on the device when every preprocessing step
        is column-wise (players stay the raw columns), else runs the whole pipeline on CPU and
        warns once; True requires the fast path; False always takes the generic path.
    device : "auto", "cpu", "cuda" or torch.device
        Where torch models and the explainer's batched work run; "auto" picks CUDA when available.
        scikit-learn estimators always run on CPU.
    random_state : None, int or RandomState
        Seeds the background draw and any sampling. With an int, results are reproducible.
    batch_size : int or None
        Model rows per forward call; None picks a memory-safe default for the device.

    Attributes
    ----------
    model_ : object
        The model explained (``model`` itself, or its fitted clone).
    adapter_ : sklxai.models.ModelAdapter
        The model as a batched function: ``adapter_(prepared_.model_rows(rows))`` gives the
        outputs (n, k) as float64 numpy for numpy rows, as a tensor on the device for a
        tensor (see the plugin contract, ``docs/plugins.rst``).
    background_ : ndarray of shape (b, d)
        Flat rows, also for images (``prepared_.to_input_shape`` gives them their shape).
    n_outputs_ : int
        Number of model outputs (classes for a classifier).
    output_names_ : list
        Their names (class labels when known).
    n_features_in_ : int
        Features of one row (``C * H * W`` for images).
    feature_names_in_ : ndarray of str
        Only when ``fit`` got a DataFrame with string column names.
    prepared_ : sklxai.models.PreparedModel
        The model made ready to explain (:func:`sklxai.models.prepare_model`): its adapter,
        the raw-column encoder, a Pipeline's fast-path preprocessing and the players (the
        model-space columns of each raw column). Plugins read model rows and players from it,
        and for images one image's shape: ``prepared_.input_shape`` (as given, (C, H, W) or
        (H, W)) and ``prepared_.image_shape`` (always (C, H, W)); None for tabular data.

    Notes
    -----
    Extension points (the plugin contract, tested by ``tests/test_plugin_contract.py``): declare
    parameters in ``__init__`` (stored unchanged) and their constraints in
    ``_parameter_constraints`` (:mod:`sklxai.utils.param_validation`; ``_check_params`` for
    what constraints cannot say); implement ``_fit(X, y)`` (optional: what the method learns,
    once X is validated and ``prepared_``, ``background_``, ``n_outputs_`` are set) and
    ``_explain(X, rng)`` (values (n, d, k), base values (n, k), outputs (n, k) for validated
    rows, every output; the base class selects ``target``, checks and wraps them), or
    ``_explain_target(X, target)`` for one output per row; either may add a dict of extra
    fields for the explanation, which :meth:`_make_explanation` builds (an explainer with its
    own Explanation subclass overrides it; ``explain`` writes nothing on the explainer);
    extend ``_get_state``/``_restore`` for learned state that ``save``/``load`` must keep.

    Images: ``fit`` and ``explain`` take (n, C, H, W) or (n, H, W) arrays or torch tensors as
    well as 2-D rows. The hooks always see flat rows (n, C*H*W) (the adapter reshapes them
    for a model that takes images), and ``explain`` gives the values (n, d) or (n, d, k) the
    input's shape, (n, C, H, W) or (n, C, H, W, k), and ``Explanation.data`` the images;
    values per feature group (image patches) stay one column per group. Nothing else is
    needed in a subclass.
    """

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 fast_path="auto", device="auto", random_state=None, batch_size=None):
        self.model = model
        self.fast_path = fast_path
        self.background = background
        self.n_background = n_background
        self.target = target
        self.device = device
        self.random_state = random_state
        self.batch_size = batch_size

    _parameter_constraints = {
        "model": pv.not_none("model is None; pass the fitted model to explain."),
        "background": pv.unchecked("array-like of shape (b, d) or None"),
        "n_background": pv.positive_int(),
        "target": pv.unchecked("None, an output index or label, or one index per row"),
        "fast_path": pv.options("auto", True, False),
        "device": pv.device(),
        "random_state": pv.unchecked("None, int or RandomState"),
        "batch_size": pv.positive_int(allow_none=True),
    }

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Prepare the explainer on data from the model's input space.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features), or images
            Data in the model's input space; the background is drawn from it. Images: an
            array or torch tensor of shape (n, C, H, W) or (n, H, W), as the model takes them.
        y : array-like or None
            Only used to fit an unfitted ``model``.

        Returns
        -------
        self : BaseExplainer
        """
        X_arr = self._fit_context(X, y)
        self._fit(X_arr, y)
        return self

    def _fit_context(self, X, y):
        """Everything ``fit`` does before the method's own ``_fit``; returns validated X."""
        from sklxai.models import prepare_model

        pv.validate_params(self)
        self._check_params()
        owner = type(self).__name__
        self.prepared_, X_arr = prepare_model(self.model, X, y, fast_path=self.fast_path,
                                              device=self._device(), owner=owner)
        self.model_, self.adapter_ = self.prepared_.model, self.prepared_.adapter
        if self.prepared_.feature_names is not None:
            self.feature_names_in_ = self.prepared_.feature_names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.n_features_in_ = X_arr.shape[1]
        rng = np.random.RandomState(seed_from(self.random_state))
        self.background_ = self.prepared_.background(self.background, X_arr, self.n_background,
                                                     rng, owner=f"{owner} (from fit's X)")
        self._check_range(X_arr, "X")
        if self.background is not None:
            self._check_range(self.background_, "background")
        self.n_outputs_, self.output_names_ = self.prepared_.outputs(self.background_[:2])
        if self.target is not None:  # an array's length is checked against explain's X
            check_target(self.target, self.n_outputs_, output_names=self.output_names_)
        self._seed = int(rng.randint(2**31 - 1))
        return X_arr

    def _check_params(self):
        """Checks that ``_parameter_constraints`` cannot express (relations between
        parameters, the model's kind); called once by ``fit``, after them. Default: none."""

    def _validate_rows(self, X, *, name="X"):
        """Rows as a float array, checked against what ``fit`` saw (``prepared_.validate``)."""
        return self.prepared_.validate(X, name=name, owner=type(self).__name__)

    def _model_rows(self, X):
        """Validated rows as the model sees them (``prepared_.model_rows``)."""
        return self.prepared_.model_rows(X)

    def _compute_dtype(self):
        """The torch dtype the explained rows are computed in (the model's input dtype)."""
        return self.adapter_.input_dtype

    def _check_range(self, rows, name):
        self.prepared_.check_range(rows, name, self._compute_dtype(), type(self).__name__)

    def _device(self):
        """Where the model and the batched work run: the ``device`` parameter (a hook for
        explainers whose device is set by something else, e.g. an accelerator)."""
        return self.device

    def _fit(self, X, y):
        """Method-specific fitting; X is validated float64 data. Default: nothing to learn."""

    # ------------------------------------------------------------------ explain
    def explain(self, X):
        """Attributions for the rows of ``X``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features), or images
            Rows of the kind ``fit`` saw; images of the shape seen in ``fit``.

        Returns
        -------
        explanation : Explanation
            ``values`` of shape (n, d) when one output is explained, else (n, d, k). For
            images, the input's shape: (n, C, H, W) or (n, C, H, W, k) (and (n, H, W[, k])
            for (n, H, W) input); one column per feature group when players are groups.
            An explainer's own subclass where it has one (:meth:`_make_explanation`).
        """
        X_arr, values, base, output, output_names, extra = self._results(X)
        data = self._explanation_data(X_arr)
        feature_shape = None
        if self.prepared_.input_shape is not None and self._players_are_features():
            # one value per pixel: the images' shape (outputs last)
            values = self.prepared_.to_input_shape(values)
            data = self.prepared_.to_input_shape(data)
            feature_shape = self.prepared_.input_shape
        fields = {"values": values, "base_values": base, "data": data,
                  "feature_names": self._feature_names(), "output_names": output_names,
                  "output": output, "method": type(self).__name__,
                  "feature_shape": feature_shape}
        return self._make_explanation(X_arr, **{**fields, **extra})

    def _results(self, X):
        """What ``explain`` and ``transform`` share: X validated, then the checked values,
        base values, outputs, output names and extra fields of :meth:`_explain_target`."""
        check_is_fitted(self)
        X_arr = self._validate_rows(X)
        self._check_range(X_arr, "X")
        target = check_target(
            self.target, self.n_outputs_, X_arr.shape[0], output_names=self.output_names_
        )
        results, extra = split_results(self._explain_target(X_arr, target),
                                       f"{type(self).__name__}._explain_target", 4)
        values, base, output, output_names = results
        check_finite_results(X_arr, (values, base, output), owner=type(self).__name__,
                             dtype=self._compute_dtype())
        return X_arr, values, base, output, output_names, extra

    def _make_explanation(self, X, **fields):
        """The explanation ``explain`` returns: the hook of an explainer with its own.

        Override it to return a subclass of :class:`~sklxai.Explanation` (its fields are
        described there); ``transform`` does not call it, so what only the explanation needs
        (maps, graphs to draw) can be computed here.

        Parameters
        ----------
        X : ndarray of shape (n, d)
            The validated rows explained (flat rows for images).
        **fields
            ``values``, ``base_values``, ``data``, ``feature_names``, ``output_names``,
            ``output``, ``method`` and ``feature_shape`` as ``explain`` computed them (values
            and data in the images' shape for images), and the extra fields that
            ``_explain_target`` or ``_explain`` returned, which take precedence over those
            (for instance ``diagnostics``, or ``data`` that are not the rows).

        Returns
        -------
        explanation : Explanation
            Default: ``Explanation(**fields)``.
        """
        return Explanation(**fields)

    def _explain_target(self, X, target):
        """(values, base_values, output, output_names[, fields]) of the outputs ``target``
        selects (resolved by ``check_target``) for validated rows X. Default: every output by
        :meth:`_explain`, then the target's; methods that explain one output per row
        override it. ``fields``: extra fields for :meth:`_make_explanation`."""
        results, extra = split_results(self._explain(X, np.random.default_rng(self._seed)),
                                        f"{type(self).__name__}._explain", 3)
        return (*select_target(*results, target, self.output_names_), extra)

    def _explain(self, X, rng):
        """Return (values (n, d, k), base_values (n, k), model output (n, k)) as ndarrays,
        optionally followed by a dict of extra fields for :meth:`_make_explanation`."""
        raise NotImplementedError  # pragma: no cover - abstract

    def transform(self, X):
        """Attributions as a 2-D array: (n, d) for one output, else (n, k * d), output-major.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features), or images

        Returns
        -------
        values : ndarray of shape (n_samples, n_features) or (n_samples, n_outputs * n_features)
            Images' values are flattened in (C, H, W) order.
        """
        values = self._results(X)[1]  # flat rows' values: explain's without their shape
        if values.ndim == 3:
            n, d, k = values.shape
            values = values.transpose(0, 2, 1).reshape(n, k * d)
        return values

    def _explanation_data(self, X):
        """What ``Explanation.data`` holds for validated rows X (``prepared_.data``)."""
        return self.prepared_.data(X)

    def _players_are_features(self):
        """Whether values have one column per feature (not per feature group)."""
        return True

    def _feature_names(self):
        names = self.prepared_.feature_names
        if names is None:
            return [f"x{i}" for i in range(self.n_features_in_)]
        return list(names)

    def _n_explained_outputs(self):
        return 1 if (self.target is not None or self.n_outputs_ == 1) else self.n_outputs_
