"""BaseExplainer: the estimator contract every explainer follows (fit / explain / transform).

Subclasses implement two hooks: ``_fit(X, y)`` (what the method learns, after the model, adapter
and background are ready) and ``_explain(X, rng)`` (values for validated rows). Everything else,
validation, the model, devices, seeding, targets, shapes and the Explanation, lives here once.
"""

import json

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from sklxai.explanation import Explanation
from sklxai.utils.validation import (
    check_positive_int,
    check_tabular,
    check_target,
    column_names,
    resolve_device,
    seed_from,
)


class BaseExplainer(TransformerMixin, BaseEstimator):
    """Base class of all explainers: a scikit-learn transformer that returns attributions.

    Parameters
    ----------
    model : fitted skorch net, torch.nn.Module or scikit-learn estimator
        The model to explain. An unfitted scikit-learn estimator or skorch net is accepted when
        ``fit`` is given ``y``: a clone of it is then fitted on ``(X, y)`` (``model_``).
        A fitted model is used as is and is never modified; ``clone`` of the explainer shares it.
    background : array-like of shape (b, d) or None
        Reference rows for absent features. None: ``n_background`` rows drawn from ``fit``'s X.
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
        The model as a batched torch function.
    background_ : ndarray of shape (b, d)
    n_outputs_ : int
        Number of model outputs (classes for a classifier).
    output_names_ : list
        Their names (class labels when known).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``fit`` got a DataFrame with string column names.
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

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None):
        """Prepare the explainer on data from the model's input space.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Data in the model's input space; the background is drawn from it.
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
        self._check_params()
        self.input_encoder_ = _raw_encoder(X, self.model)
        X_arr = self._validate_rows(X, fitting=True)
        names = column_names(X)
        if names is not None and all(isinstance(c, str) for c in X.columns):
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.n_features_in_ = X_arr.shape[1]
        rng = np.random.RandomState(seed_from(self.random_state))
        self.model_ = self._fit_model(X, X_arr, y)
        self.adapter_ = self._make_adapter(X)
        self.background_ = self._make_background(X_arr, rng)
        self._check_range(X_arr, "X")
        if self.background is not None:
            self._check_range(self.background_, "background")
        probe = self._probe_model(self._model_rows(self.background_[:2]))
        self.n_outputs_ = probe.shape[1]
        names_out = self.adapter_.output_names
        if names_out is None or len(names_out) != self.n_outputs_:
            names_out = list(range(self.n_outputs_))
        self.output_names_ = list(names_out)
        if self.target is not None:  # an array's length is checked against explain's X
            check_target(self.target, self.n_outputs_, output_names=self.output_names_)
        self._seed = int(rng.randint(2**31 - 1))
        return X_arr

    def _validate_rows(self, X, *, name="X", fitting=False):
        """Rows as a float array: raw DataFrames through ``input_encoder_``, else checked."""
        fitted = not fitting
        names = getattr(self, "feature_names_in_", None) if fitted else None
        n_features = self.n_features_in_ if fitted else None
        if self.input_encoder_ is not None:
            if fitted and not _is_frame(X):
                raise ValueError(
                    f"{name} must be a DataFrame with the columns seen during fit "
                    f"({list(self.input_encoder_.feature_names_)}); the explainer was fitted on "
                    "raw columns."
                )
            return self.input_encoder_.transform(X)
        return check_tabular(X, name=name, feature_names=names, n_features=n_features,
                             owner=type(self).__name__)

    def _compute_dtype(self):
        """The torch dtype the explained rows are computed in (the model's input dtype)."""
        return self.adapter_.input_dtype

    def _check_range(self, rows, name):
        """Refuse finite values too large for the dtype the model computes in: they would turn
        into inf there, and the attributions into NaN."""
        if self.input_encoder_ is not None or getattr(self, "preprocessor_", None) is not None:
            return  # the model sees encoded rows; explain's check of its results applies
        import torch

        dtype = self._compute_dtype()
        if not dtype.is_floating_point or rows.size == 0:
            return
        limit = torch.finfo(dtype).max
        largest = float(np.abs(rows).max())
        if largest > limit:
            raise ValueError(
                f"{name} holds values up to {largest:.3g} in magnitude, beyond the largest "
                f"{dtype} ({limit:.3g}), the precision {type(self).__name__} computes in: they "
                f"would overflow to inf. Rescale {name} (for example standardise the features "
                "the model is trained on)."
            )

    def _check_finite_results(self, X, *arrays):
        """Refuse NaN or inf attributions or outputs rather than return them silently."""
        n = X.shape[0]
        ok = np.ones(n, dtype=bool)
        for arr in arrays:
            ok &= np.isfinite(np.asarray(arr, dtype=np.float64).reshape(n, -1)).all(axis=1)
        if ok.all():
            return
        rows = np.flatnonzero(~ok)
        mag = np.abs(X[rows])
        raise ValueError(
            f"{type(self).__name__} got NaN or infinite model outputs or attributions for "
            f"{len(rows)} row(s) of X (first: row {rows[0]}; largest magnitude in them "
            f"{float(mag[np.isfinite(mag)].max(initial=0.0)):.3g}). Large values overflow the "
            f"model's computations ({self._compute_dtype()}): rescale X (and the data the "
            "explainer was fitted on), or check that the model's output is finite on these rows."
        )

    def _make_adapter(self, X):
        """The adapter of ``model_``; for a Pipeline ending in a torch model whose preprocessing
        is column-wise, the adapter of that final model (the fast path, ``preprocessor_`` set).
        """
        from sklxai.models import make_adapter
        from sklxai.models.sklearn_estimator import SklearnAdapter

        self.preprocessor_, self.column_map_ = None, None
        fast = getattr(self, "fast_path", "auto")
        if fast not in ("auto", True, False):
            raise ValueError(f"fast_path must be 'auto', True or False; got {fast!r}.")
        final = _torch_final_step(self.model_)
        if final is not None and fast is not False:
            from sklxai.models.pipeline import column_groups

            # a sample is enough: the analysis is structural, the rows only check it
            sample = X.iloc[:256] if _is_frame(X) else np.asarray(X)[:256]
            column_map, reason = column_groups(self.model_[:-1], sample)
            if column_map is not None:
                self.preprocessor_, self.column_map_ = self.model_[:-1], column_map
                return make_adapter(final, device=self._device())
            if fast is True:
                raise ValueError(f"fast_path=True, but the pipeline is not column-wise: {reason}")
            import warnings

            warnings.warn(
                f"{type(self).__name__}: the pipeline's preprocessing is not column-wise "
                f"({reason}); the whole pipeline runs on CPU (the generic path).",
                UserWarning, stacklevel=3,
            )
        elif fast is True:
            raise ValueError(
                "fast_path=True needs a Pipeline whose last step is a skorch net or a torch "
                f"module; got {type(self.model_).__name__}."
            )
        if self.input_encoder_ is not None:
            return SklearnAdapter(self.model_, decoder=self.input_encoder_)
        return make_adapter(self.model_, device=self._device())

    def _model_rows(self, X):
        """Rows (validated floats) as the adapter's model sees them (identity but on the fast
        path, where the fitted preprocessing turns raw rows into model-space rows)."""
        if getattr(self, "preprocessor_", None) is None:
            return X
        raw = self._raw_frame(X)
        out = self.preprocessor_.transform(raw)
        if hasattr(out, "toarray"):
            out = out.toarray()
        out = np.ascontiguousarray(np.asarray(out, dtype=np.float64))
        if not np.isfinite(out).all():
            bad = np.argwhere(~np.isfinite(out))[0]
            raise ValueError(
                "The pipeline's preprocessing turns rows of X into NaN or infinite model inputs "
                f"(first at row {bad[0]}, model column {bad[1]}), which its final torch model "
                "cannot take. A step probably passes missing values through (for example "
                "OrdinalEncoder, whose encoded_missing_value is NaN): impute them in the pipeline."
            )
        return out

    def _raw_frame(self, X):
        """Validated rows back in the user's raw form (DataFrame when fitted on one)."""
        if self.input_encoder_ is not None:
            return self.input_encoder_.inverse_transform(X)
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            import pandas as pd

            return pd.DataFrame(X, columns=list(names))
        return X

    def _check_params(self):
        check_positive_int(self.n_background, "n_background")
        check_positive_int(self.batch_size, "batch_size", allow_none=True)
        resolve_device(self.device)
        if self.model is None:
            raise ValueError("model is None; pass the fitted model to explain.")

    def _device(self):
        """Where the model and the batched work run: the ``device`` parameter (a hook for
        explainers whose device is set by something else, e.g. an accelerator)."""
        return self.device

    def _fit_model(self, X, X_arr, y):
        """The model to explain: ``model`` if fitted, else a clone fitted on (X, y)."""
        from sklearn.exceptions import NotFittedError

        from sklxai.models import is_fitted_model
        from sklxai.models._base import _is_skorch_net, check_model_supported

        model = self.model
        check_model_supported(model)
        if is_fitted_model(model):
            return model
        if y is None:
            raise NotFittedError(
                f"{type(self).__name__} requires y to be passed, but the target y is None: the "
                f"model ({type(model).__name__}) is not fitted. Fit it before explaining it, or "
                "pass y to the explainer's fit so that a clone of it is fitted on (X, y)."
            )
        fitted = clone(model)
        if _is_skorch_net(fitted):
            from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

            y = np.asarray(y)
            if isinstance(fitted, NeuralNetClassifier):
                y = y.astype(np.int64)
            elif isinstance(fitted, NeuralNetBinaryClassifier):
                y = y.astype(np.float32)
            elif y.ndim == 1:
                y = y.astype(np.float32)[:, None]
            return fitted.fit(X_arr.astype(np.float32), y)
        return fitted.fit(X, y)

    def _make_background(self, X_arr, rng):
        if self.background is not None:
            if self.input_encoder_ is not None:
                return self.input_encoder_.transform(self.background)
            bg = check_tabular(
                self.background,
                name="background",
                feature_names=getattr(self, "feature_names_in_", None),
                n_features=X_arr.shape[1],
                owner=f"{type(self).__name__} (from fit's X)",
            )
            return bg
        n = X_arr.shape[0]
        if n <= self.n_background:
            return X_arr.copy()
        idx = np.sort(rng.choice(n, size=self.n_background, replace=False))
        return X_arr[idx]

    def _probe_model(self, rows):
        """Run the model once on real rows, so a mismatch fails here with a clear message."""
        try:
            out = self.adapter_(self.adapter_.to_input(rows))
        except Exception as exc:
            raise ValueError(
                f"The model ({type(self.model_).__name__}) failed on rows of X with "
                f"{rows.shape[1]} features: {type(exc).__name__}: {exc}. Check that X is in the "
                "model's input space."
            ) from exc
        return out

    def _fit(self, X, y):
        """Method-specific fitting; X is validated float64 data. Default: nothing to learn."""

    # ------------------------------------------------------------------ explain
    def explain(self, X):
        """Attributions for the rows of ``X``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        explanation : Explanation
            ``values`` of shape (n, d) when one output is explained, else (n, d, k).
        """
        check_is_fitted(self)
        X_arr = self._validate_rows(X)
        self._check_range(X_arr, "X")
        target = check_target(
            self.target, self.n_outputs_, X_arr.shape[0], output_names=self.output_names_
        )
        values, base, output, output_names = self._explain_target(X_arr, target)
        self._check_finite_results(X_arr, values, base, output)
        return Explanation(
            values,
            base,
            self._explanation_data(X_arr),
            self._feature_names(),
            output_names=output_names,
            output=output,
            method=type(self).__name__,
        )

    def _explain_target(self, X, target):
        """(values, base_values, output, output_names) of the outputs ``target`` selects
        (resolved by ``check_target``) for validated rows X. Default: every output by
        :meth:`_explain`, then the target's slice; methods that explain one output per row
        override it."""
        values, base, output = self._explain(X, np.random.default_rng(self._seed))
        output_names = self.output_names_
        if target is not None:
            rows = np.arange(X.shape[0])
            if np.ndim(target) == 0:
                values, base, output = values[:, :, target], base[:, target], output[:, target]
                output_names = [self.output_names_[target]]
            else:
                values = values[rows, :, target]
                base, output = base[rows, target], output[rows, target]
                output_names = None
        elif self.n_outputs_ == 1:
            values, base, output = values[:, :, 0], base[:, 0], output[:, 0]
        return values, base, output, output_names

    def _explain(self, X, rng):
        """Return (values (n, d, k), base_values (n, k), model output (n, k)) as ndarrays."""
        raise NotImplementedError  # pragma: no cover - abstract

    def transform(self, X):
        """Attributions as a 2-D array: (n, d) for one output, else (n, k * d), output-major.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        values : ndarray of shape (n_samples, n_features) or (n_samples, n_outputs * n_features)
        """
        values = self.explain(X).values
        if values.ndim == 3:
            n, d, k = values.shape
            values = values.transpose(0, 2, 1).reshape(n, k * d)
        return values

    def _explanation_data(self, X):
        """What ``Explanation.data`` holds for validated rows X: the raw values (an object
        array when the explainer was fitted on raw columns)."""
        if self.input_encoder_ is not None:
            return self.input_encoder_.inverse_transform(X).to_numpy(dtype=object)
        return X

    def _feature_names(self):
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            return [f"x{i}" for i in range(self.n_features_in_)]
        return list(names)

    def _n_explained_outputs(self):
        return 1 if (self.target is not None or self.n_outputs_ == 1) else self.n_outputs_

    def get_feature_names_out(self, input_features=None):
        """Names of ``transform``'s columns: the features, prefixed by the output when several.

        Parameters
        ----------
        input_features : array-like of str or None
            Must match ``feature_names_in_`` when given.

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self)
        from sklearn.utils.validation import _check_feature_names_in

        feats = list(_check_feature_names_in(self, input_features))
        if len(feats) != len(self._feature_names()):  # explained players are feature groups
            feats = self._feature_names()
        if self._n_explained_outputs() == 1:
            return np.asarray(feats, dtype=object)
        return np.asarray(
            [f"{out}__{f}" for out in self.output_names_ for f in feats], dtype=object
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Save the fitted explainer to ``path`` without pickle.

        The file holds tensors (the background, learned weights) and JSON metadata (parameters,
        feature names, the sklxai version, checksums); it is read back with
        ``torch.load(weights_only=True)``, so loading it never runs code. The model being
        explained is not saved: pass it again to :meth:`load`. Parameters that are not plain
        values (callables, modules, callbacks) are not saved either; pass them to ``load``.

        Explainers fitted on raw DataFrame columns (strings, missing values) hold encoders that
        are not tensors: save those with ``joblib.dump`` (a pickle; load only files you trust).

        Parameters
        ----------
        path : str or path-like
        """
        from sklxai.utils.persistence import write_state

        check_is_fitted(self)
        if self.input_encoder_ is not None or getattr(self, "preprocessor_", None) is not None:
            raise ValueError(
                "save() stores explainers fitted on numeric model inputs; this one explains raw "
                "columns through an encoder or a Pipeline's preprocessing. Use joblib.dump "
                "(a pickle: load only files you trust)."
            )
        meta, tensors = self._get_state()
        write_state(path, meta, tensors)

    @classmethod
    def load(cls, path, model, *, device="auto", **params):
        """Load an explainer written by :meth:`save`, for ``model`` (the same fitted model).

        Parameters
        ----------
        path : str or path-like
        model : the fitted model the explainer was fitted for
        device : "auto", "cpu", "cuda" or torch.device
            Where the loaded explainer runs (it need not be where it was saved).
        **params
            Parameters that were not saved (e.g. a custom ``module``), or overrides.

        Returns
        -------
        explainer : a fitted instance of ``cls`` that gives the same values as the saved one.

        Raises
        ------
        ValueError
            When the file is corrupted or truncated, was written by an incompatible sklxai
            version (another major.minor), or holds another class; or when ``model`` does not
            match the saved explainer (feature or output count).
        """
        from sklxai.utils.persistence import read_state

        meta, tensors = read_state(path, cls.__name__)
        saved = cls._params_from_state(meta)
        saved.update(background=tensors["background"].numpy(), device=device, **params)
        est = cls(model, **saved)
        est._set_state(meta, tensors)
        return est

    def _unsaved_params(self):
        """Parameters ``save`` leaves out (not plain values)."""
        return ("model", "background", "device")

    def _get_state(self):
        """(JSON-able metadata, name -> tensor) describing the fitted explainer."""
        import torch

        from sklxai.utils.persistence import json_default

        params = {}
        for name, value in self.get_params(deep=False).items():
            if name in self._unsaved_params():
                continue
            try:
                json.dumps(value, default=json_default)
            except TypeError:
                raise ValueError(
                    f"save() cannot store the parameter {name}={value!r}, which is not a plain "
                    f"value; use joblib.dump, or set it again when loading "
                    f"({type(self).__name__}.load(path, model, {name}=...))."
                ) from None
            params[name] = value
        meta = {
            "class": type(self).__name__,
            "params": params,
            "n_features_in": self.n_features_in_,
            "feature_names_in": None if not hasattr(self, "feature_names_in_")
            else [str(f) for f in self.feature_names_in_],
            "n_outputs": self.n_outputs_,
        }
        tensors = {"background": torch.as_tensor(self.background_),
                   "seed": torch.tensor(self._seed)}
        return meta, tensors

    @classmethod
    def _params_from_state(cls, meta):
        return dict(meta["params"])

    def _set_state(self, meta, tensors):
        """Rebuild the fitted state from :meth:`_get_state`'s output (``background`` is set)."""
        bg = self.background
        if bg.shape[1] != meta["n_features_in"]:
            raise ValueError("the saved background does not match the saved feature count.")
        self._fit_context(bg, None)
        if meta["feature_names_in"] is not None:
            self.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
        if self.n_outputs_ != meta["n_outputs"]:
            raise ValueError(
                f"the model has {self.n_outputs_} outputs but the saved explainer was fitted "
                f"for {meta['n_outputs']}; pass the model it was fitted for."
            )
        self._seed = int(tensors["seed"])
        self._restore(bg, meta, tensors)

    def _restore(self, X, meta, tensors):
        """Method-specific state; default: ``_fit`` again on the background (cheap, seeded)."""
        self._fit(X, None)

    # ------------------------------------------------------------------ sklearn protocol
    def __sklearn_clone__(self):
        # A fitted model is frozen: explainers never change it, and cloning a skorch net or a
        # Pipeline would throw its weights away. Unfitted models are cloned as usual.
        from sklxai.models import is_fitted_model

        params = self.get_params(deep=False)
        for name, value in params.items():
            if name == "model" and is_fitted_model(value):
                continue
            params[name] = clone(value, safe=False)
        return type(self)(**params)

    def __sklearn_tags__(self):
        from sklxai.models import is_fitted_model

        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.input_tags.allow_nan = False
        tags.target_tags.required = not _safe(is_fitted_model, self.model)
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


def _is_frame(X):
    return hasattr(X, "columns") and hasattr(X, "iloc")


def _raw_encoder(X, model=None):
    """A fitted TabularEncoder when X is a DataFrame with non-numeric or missing values and the
    model can take such columns (not a torch module or skorch net: those take numbers, and
    ``check_tabular`` then names the columns to encode)."""
    if not _is_frame(X) or _takes_tensors(model):
        return None
    numeric = all(getattr(dt, "kind", None) in ("b", "i", "u", "f") for dt in X.dtypes)
    if numeric and not X.isna().to_numpy().any():
        return None
    from sklxai.models.tabular import TabularEncoder

    return TabularEncoder().fit(X)


def _takes_tensors(model):
    """Whether ``model`` is called on numeric tensors (a torch module, skorch net or adapter)."""
    import torch

    from sklxai.models._base import ModelAdapter, _is_skorch_net

    return isinstance(model, (torch.nn.Module, ModelAdapter)) or _is_skorch_net(model)


def _torch_final_step(model):
    """The last step of a Pipeline when it is a skorch net or a torch module, else None."""
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        return None
    import torch

    from sklxai.models._base import _is_skorch_net

    final = model.steps[-1][1]
    return final if isinstance(final, torch.nn.Module) or _is_skorch_net(final) else None


def _safe(fn, *args):
    try:
        return fn(*args)
    except Exception:
        return False
