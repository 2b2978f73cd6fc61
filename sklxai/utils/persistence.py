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
