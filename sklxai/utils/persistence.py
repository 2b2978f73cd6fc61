"""Saving fitted explainers without pickle: tensors plus JSON metadata, checked on load.

The file is one ``torch.save`` of a dict holding only tensors and a JSON string, so it is read
with ``torch.load(weights_only=True)``: loading it never runs code. The metadata records the
file format, the sklxai version that wrote it and a SHA-256 digest of every tensor, so a file from
an incompatible version, a truncated file or a file whose bytes changed is refused with a message
that says which, instead of giving wrong values.
"""

import hashlib
import json
import pickle
import zipfile

import numpy as np
import torch

FORMAT = 1


def _version():
    import sklxai

    return sklxai.__version__


def _compatible(saved, current):
    """Same major.minor: the state layout only changes with a minor release."""
    return str(saved).split(".")[:2] == str(current).split(".")[:2]


def _digest(tensor):
    t = tensor.detach().cpu().contiguous().reshape(-1)
    return hashlib.sha256(t.view(torch.uint8).numpy().tobytes()
                          + str(tuple(tensor.shape)).encode() + str(t.dtype).encode()).hexdigest()


def json_default(obj):
    """JSON for the numpy and torch scalars and arrays that parameters may hold."""
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, (tuple, np.ndarray)):
        return np.asarray(obj).tolist()
    if isinstance(obj, torch.device):
        return str(obj)
    raise TypeError(f"cannot save {obj!r} as JSON")


def write_state(path, meta, tensors):
    """Write ``meta`` (JSON-able dict) and ``tensors`` (name -> tensor) to ``path``."""
    tensors = {k: v.detach().cpu() for k, v in tensors.items()}
    meta = dict(meta, format=FORMAT, sklxai_version=_version(),
                checksums={k: _digest(v) for k, v in tensors.items()})
    torch.save({"meta": json.dumps(meta, default=json_default), "tensors": tensors}, path)


def read_state(path, expected_class):
    """Read a file written by :func:`write_state` for an explainer of class ``expected_class``.

    Returns
    -------
    meta : dict
    tensors : dict of str to torch.Tensor (on CPU)

    Raises
    ------
    ValueError
        When the file is not an sklxai explainer file, is corrupted or truncated, was written by
        an incompatible sklxai version, or holds another class.
    """
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(blob["meta"])
        tensors = blob["tensors"]
    except FileNotFoundError:
        raise
    except (RuntimeError, EOFError, OSError, KeyError, TypeError, ValueError,
            pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise ValueError(
            f"{path} is not a readable sklxai explainer file (corrupted, truncated, or not "
            f"written by Explainer.save): {type(exc).__name__}: {exc}"
        ) from exc
    saved = meta.get("sklxai_version")
    if meta.get("format") != FORMAT or not _compatible(saved, _version()):
        raise ValueError(
            f"{path} was written by sklxai {saved} (file format {meta.get('format')}); this is "
            f"sklxai {_version()} (format {FORMAT}). Load it with sklxai {saved}, or refit the "
            "explainer and save it again."
        )
    checksums = meta.get("checksums", {})
    if set(checksums) != set(tensors):
        raise ValueError(f"{path} is corrupted: its tensors do not match its metadata.")
    for name, tensor in tensors.items():
        if _digest(tensor) != checksums[name]:
            raise ValueError(f"{path} is corrupted: the checksum of {name!r} does not match.")
    if meta.get("class") != expected_class:
        raise ValueError(f"{path} holds a {meta.get('class')}, not a {expected_class}; use "
                         f"{meta.get('class')}.load.")
    return meta, tensors


# ---------------------------------------------------------------------- explainers
class PersistenceMixin:
    """``save``/``load`` for explainers (a base of :class:`sklxai.BaseExplainer`).

    The hooks ``_unsaved_params``, ``_get_state``, ``_params_from_state`` and ``_restore`` are
    what explainers with learned state extend (their network's weights, a surrogate game).
    """

    def save(self, path):
        """Save the fitted explainer to ``path`` without pickle (:mod:`sklxai.utils.persistence`).

        Tensors (the background, learned weights) and JSON metadata (parameters, feature names,
        version, checksums), read back with ``torch.load(weights_only=True)``: loading never runs
        code. The model is not saved (pass it to :meth:`load`), nor are parameters that are not
        plain values (modules, callbacks). Explainers fitted on raw DataFrame columns hold
        encoders: save those with ``joblib.dump`` (a pickle; load only files you trust).

        Parameters
        ----------
        path : str or path-like
        """
        save_explainer(self, path)

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
            For a corrupted, truncated or incompatible (another major.minor version) file, one
            of another class, or a ``model`` that does not match (feature or output count).
        """
        return load_explainer(cls, path, model, device=device, params=params)

    # Persistence hooks (see sklxai.utils.persistence): methods with learned state extend them.
    def _unsaved_params(self):
        """Parameters ``save`` leaves out (not plain values)."""
        return ("model", "background", "device")

    def _get_state(self):
        """(JSON-able metadata, name -> tensor) describing the fitted explainer."""
        return explainer_state(self)

    @classmethod
    def _params_from_state(cls, meta):
        return dict(meta["params"])

    def _restore(self, X, meta, tensors):
        """Method-specific state; default: ``_fit`` again on the background (cheap, seeded)."""
        self._fit(X, None)


def save_explainer(explainer, path):
    """Write a fitted explainer to ``path`` (see :meth:`sklxai.BaseExplainer.save`)."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(explainer)
    prepared = explainer.prepared_
    if prepared.encoder is not None or prepared.preprocessor is not None:
        raise ValueError(
            "save() stores explainers fitted on numeric model inputs; this one explains raw "
            "columns through an encoder or a Pipeline's preprocessing. Use joblib.dump "
            "(a pickle: load only files you trust)."
        )
    meta, tensors = explainer._get_state()
    write_state(path, meta, tensors)


def explainer_state(explainer):
    """The state every explainer saves: its plain parameters, feature names and output count
    as JSON metadata; its background and seed as tensors. Methods add theirs (``_get_state``).
    """
    params = {}
    for name, value in explainer.get_params(deep=False).items():
        if name in explainer._unsaved_params():
            continue
        try:
            json.dumps(value, default=json_default)
        except TypeError:
            raise ValueError(
                f"save() cannot store the parameter {name}={value!r}, which is not a plain "
                f"value; use joblib.dump, or set it again when loading "
                f"({type(explainer).__name__}.load(path, model, {name}=...))."
            ) from None
        params[name] = value
    names = getattr(explainer, "feature_names_in_", None)
    meta = {
        "class": type(explainer).__name__,
        "params": params,
        "n_features_in": explainer.n_features_in_,
        "feature_names_in": None if names is None else [str(f) for f in names],
        "n_outputs": explainer.n_outputs_,
    }
    # images are saved as images, so that load prepares the model on images again
    background = explainer.prepared_.to_input_shape(explainer.background_)
    tensors = {"background": torch.as_tensor(background),
               "seed": torch.tensor(explainer._seed)}
    return meta, tensors


def load_explainer(cls, path, model, *, device="auto", params=None):
    """Read an explainer of class ``cls`` written by :func:`save_explainer`, for ``model``."""
    meta, tensors = read_state(path, cls.__name__)
    saved = cls._params_from_state(meta)
    saved.update(background=tensors["background"].numpy(), device=device, **(params or {}))
    explainer = cls(model, **saved)
    background = explainer.background
    if int(np.prod(background.shape[1:])) != meta["n_features_in"]:
        raise ValueError("the saved background does not match the saved feature count.")
    rows = explainer._fit_context(background, None)
    if meta["feature_names_in"] is not None:
        names = np.asarray(meta["feature_names_in"], dtype=object)
        explainer.feature_names_in_ = explainer.prepared_.feature_names = names
    if explainer.n_outputs_ != meta["n_outputs"]:
        raise ValueError(
            f"the model has {explainer.n_outputs_} outputs but the saved explainer was fitted "
            f"for {meta['n_outputs']}; pass the model it was fitted for."
        )
    explainer._seed = int(tensors["seed"])
    explainer._restore(rows, meta, tensors)
    return explainer
