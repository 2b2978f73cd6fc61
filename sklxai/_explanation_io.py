"""What :class:`~sklxai.Explanation` exports to: pandas frames, shap, ``.npz`` files.

The bodies of ``Explanation.to_frame``, ``to_shap``, ``save`` and ``load`` (documented there).
"""

import json

import numpy as np

#: prefix of the ``.npz`` entries that hold an explanation's ``diagnostics``
_DIAGNOSTIC = "diagnostics."


def to_frame(exp):
    """``exp``'s values as a DataFrame (see :meth:`sklxai.Explanation.to_frame`)."""
    if exp.feature_shape is not None:
        return to_frame(exp.flatten())
    pd = _import_pandas()
    has_rows, has_features = exp._axes()
    values = exp.values
    if not has_rows:  # one row: a one-row frame
        values = values[None]
    if not has_features:  # one feature picked by index or name
        values = np.expand_dims(values, 1)
    if values.ndim == 2:
        return pd.DataFrame(values, columns=exp.feature_names)
    n, d, k = values.shape
    outs = exp.output_names or list(range(k))
    cols = pd.MultiIndex.from_product([outs, exp.feature_names], names=["output", "feature"])
    return pd.DataFrame(values.transpose(0, 2, 1).reshape(n, k * d), columns=cols)


def to_shap(exp):
    """``exp`` as a ``shap.Explanation`` (see :meth:`sklxai.Explanation.to_shap`)."""
    try:
        import shap
    except ImportError as exc:
        raise ImportError("to_shap() needs shap: pip install sklxai[shap]") from exc
    output_names = exp.output_names
    if output_names is not None and not exp._has_output_axis():
        # one output explained: shap takes its name as a string (a one-element list makes
        # shap's slicer take feature names for output names)
        output_names = output_names[0] if len(output_names) == 1 else None
    # shap calls a value's standard error error_std
    return shap.Explanation(values=exp.values, base_values=exp.base_values, data=exp.data,
                            feature_names=exp.feature_names, output_names=output_names,
                            error_std=exp.std_errors)


def save(exp, path):
    """Write ``exp``'s arrays and names to ``path`` (see :meth:`sklxai.Explanation.save`)."""
    meta = {
        "feature_names": [str(f) for f in exp.feature_names],
        "output_names": None if exp.output_names is None else [
            o.item() if hasattr(o, "item") else o for o in exp.output_names
        ],
        "method": exp.method,
        "index": exp.index,
        "feature_shape": None if exp.feature_shape is None else list(exp.feature_shape),
        "diagnostics": list(exp.diagnostics),
    }
    arrays = {"values": exp.values, "base_values": exp.base_values, "data": exp.data}
    for name in ("output", "std_errors"):
        if getattr(exp, name) is not None:
            arrays[name] = getattr(exp, name)
    arrays.update({_DIAGNOSTIC + name: np.asarray(v) for name, v in exp.diagnostics.items()})
    np.savez_compressed(path, meta=np.asarray(json.dumps(meta)), **arrays)


def load(cls, path):
    """A ``cls`` read from a file written by :func:`save` (no pickle involved)."""
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["meta"]))
        output, std_errors = (f[name] if name in f.files else None
                              for name in ("output", "std_errors"))
        diagnostics = {name: f[_DIAGNOSTIC + name] for name in meta.get("diagnostics", [])}
        index = meta.get("index", "SV")
        return cls(f["values"], f["base_values"], f["data"], meta["feature_names"],
                   meta["output_names"], output, meta["method"], meta.get("feature_shape"),
                   diagnostics=diagnostics, std_errors=std_errors,
                   **({} if index == "SV" else {"index": index}))


def _import_pandas():
    """pandas, which ``to_frame()`` needs, or an ImportError saying how to install it."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise ImportError("to_frame() needs pandas: pip install sklxai[pandas]") from exc
    return pd
