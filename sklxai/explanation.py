"""Explanation: the values an explainer returns, with the data, base values and names."""

import json

import numpy as np


class Explanation:
    """Attributions for a set of rows, in the spirit of ``shap.Explanation``.

    Parameters
    ----------
    values : ndarray of shape (n, d) or (n, d, k)
        Attributions: (n, d) when one output is explained (a regressor, or ``target=`` given),
        (n, d, k) for k outputs. A larger value means more evidence for the explained output.
    base_values : ndarray of shape (n,) or (n, k)
        The game's value of the empty coalition (the expected output over the background).
    data : ndarray of shape (n, d)
        The rows explained.
    feature_names : sequence of str
    output_names : sequence or None
        Names of the k outputs (class labels), or of the one output explained.
    output : ndarray of shape (n,) or (n, k), optional
        The model output being explained; for Shapley explainers
        ``values.sum(axis=1) + base_values == output``.
    method : str, optional
        The explainer that produced it.

    Examples
    --------
    >>> import numpy as np
    >>> from sklxai import Explanation
    >>> exp = Explanation(np.ones((2, 3)), np.zeros(2), np.zeros((2, 3)), ["a", "b", "c"])
    >>> exp[:, "b"].values.shape
    (2,)
    >>> exp[0].values.shape
    (3,)
    """

    def __init__(self, values, base_values, data, feature_names, output_names=None,
                 output=None, method=None):
        self.values = np.asarray(values)
        self.base_values = np.asarray(base_values)
        self.data = np.asarray(data)
        self.feature_names = list(feature_names)
        self.output_names = None if output_names is None else list(output_names)
        self.output = None if output is None else np.asarray(output)
        self.method = method

    # ------------------------------------------------------------------ shape helpers
    @property
    def shape(self):
        return self.values.shape

    def __len__(self):
        return self.values.shape[0]

    def __repr__(self):
        return (
            f"Explanation(method={self.method!r}, values shape={self.values.shape}, "
            f"features={self.feature_names[:5]}{'...' if len(self.feature_names) > 5 else ''})"
        )

    @property
    def efficiency_gap(self):
        """Max |sum of values + base value - model output| (None without ``output``)."""
        if self.output is None:
            return None
        has_rows, has_features = self._axes()
        values = self.values
        if has_features:  # sum over the feature axis, wherever slicing left it
            values = values.sum(axis=1 if has_rows else 0)
        total = values + self.base_values
        return float(np.max(np.abs(total - self.output))) if total.size else 0.0

    def _axes(self):
        """Whether ``values`` still has its row axis and its feature axis after slicing.

        ``values`` has one axis more than ``base_values`` unless a single feature was picked,
        and ``data`` keeps exactly the row and feature axes that ``values`` keeps.
        """
        has_features = self.values.ndim > self.base_values.ndim
        has_rows = self.data.ndim > int(has_features)
        return has_rows, has_features

    # ------------------------------------------------------------------ slicing
    def __getitem__(self, key):
        """Slice by rows, then features (index or name), then outputs (index or name).

        ``exp[0]`` is one row, ``exp[:, "age"]`` one feature, ``exp[:, :, 1]`` one output.
        """
        if not isinstance(key, tuple):
            key = (key,)
        if len(key) > self.values.ndim:
            raise IndexError(f"too many indices: values have {self.values.ndim} dimensions.")
        rows = key[0]
        feats = key[1] if len(key) > 1 else slice(None)
        outs = key[2] if len(key) > 2 else slice(None)
        feats = _resolve(feats, self.feature_names, "feature")
        if self.values.ndim == 3:
            outs = _resolve(outs, self.output_names or list(range(self.values.shape[2])), "output")
        values = self.values[rows]
        base = self.base_values[rows]
        data = self.data[rows]
        output = None if self.output is None else self.output[rows]
        row_dim = np.ndim(rows) == 0 and not isinstance(rows, slice)
        fdim = 0 if row_dim else 1
        values = values[(slice(None),) * fdim + (feats,)]
        data = data[(slice(None),) * fdim + (feats,)]
        names = np.asarray(self.feature_names, dtype=object)[feats]
        names = [names] if np.ndim(names) == 0 else list(names)
        out_names = self.output_names
        if self.values.ndim == 3:
            odim = fdim + (0 if np.ndim(feats) == 0 and not isinstance(feats, slice) else 1)
            values = values[(slice(None),) * odim + (outs,)]
            base = base[(slice(None),) * (0 if row_dim else 1) + (outs,)]
            if output is not None:
                output = output[(slice(None),) * (0 if row_dim else 1) + (outs,)]
            if out_names is not None:
                sel = np.asarray(out_names, dtype=object)[outs]
                out_names = [sel] if np.ndim(sel) == 0 else list(sel)
        return Explanation(values, base, data, names, out_names, output, self.method)

    # ------------------------------------------------------------------ export
    def to_frame(self):
        """Values as a pandas DataFrame.

        One column per feature for (n, d) values; for (n, d, k) values the columns are a
        MultiIndex (output, feature). Requires pandas.
        """
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on environment
            raise ImportError("to_frame() needs pandas: pip install sklxai[pandas]") from exc
        has_rows, has_features = self._axes()
        values = self.values
        if not has_rows:  # one row: a one-row frame
            values = values[None]
        if not has_features:  # one feature picked by index or name
            values = np.expand_dims(values, 1)
        if values.ndim == 2:
            return pd.DataFrame(values, columns=self.feature_names)
        n, d, k = values.shape
        outs = self.output_names or list(range(k))
        cols = pd.MultiIndex.from_product([outs, self.feature_names], names=["output", "feature"])
        return pd.DataFrame(values.transpose(0, 2, 1).reshape(n, k * d), columns=cols)

    def to_shap(self):
        """The same values as a ``shap.Explanation`` (needs shap), for shap's own plots."""
        try:
            import shap
        except ImportError as exc:
            raise ImportError("to_shap() needs shap: pip install sklxai[shap]") from exc
        output_names = self.output_names
        has_rows, has_features = self._axes()
        if output_names is not None and self.values.ndim == has_rows + has_features:
            # one output explained: shap takes its name as a string (a one-element list makes
            # shap's slicer take feature names for output names)
            output_names = output_names[0] if len(output_names) == 1 else None
        return shap.Explanation(
            values=self.values,
            base_values=self.base_values,
            data=self.data,
            feature_names=self.feature_names,
            output_names=output_names,
        )

    def save(self, path):
        """Save to a ``.npz`` file (arrays) with names and method as JSON metadata."""
        meta = {
            "feature_names": [str(f) for f in self.feature_names],
            "output_names": None if self.output_names is None else [
                o.item() if hasattr(o, "item") else o for o in self.output_names
            ],
            "method": self.method,
        }
        arrays = {"values": self.values, "base_values": self.base_values, "data": self.data}
        if self.output is not None:
            arrays["output"] = self.output
        np.savez_compressed(path, meta=np.asarray(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path):
        """Load an Explanation written by :meth:`save` (no pickle involved)."""
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            output = f["output"] if "output" in f.files else None
            return cls(f["values"], f["base_values"], f["data"], meta["feature_names"],
                       meta["output_names"], output, meta["method"])


def _resolve(key, names, what):
    """Turn names in a feature/output index into positions."""
    if isinstance(key, slice):
        return key
    if isinstance(key, str) or (np.ndim(key) == 0 and not isinstance(key, (int, np.integer))):
        try:
            return list(names).index(key)
        except ValueError:
            raise KeyError(f"unknown {what} {key!r}; known: {list(names)}") from None
    if np.ndim(key) == 1 and len(key) and isinstance(key[0], str):
        return [_resolve(k, names, what) for k in key]
    return key
