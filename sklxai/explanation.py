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
    feature_shape : tuple or None, optional
        The shape of one row's features when they span several axes: one image's (C, H, W)
        or (H, W). ``values`` are then ``(n, *feature_shape)`` or ``(n, *feature_shape, k)``
        (outputs last, as in (n, d, k)) and ``data`` ``(n, *feature_shape)``;
        ``feature_names`` name the flattened features (C, H, W order). Such explanations are
        sliced by rows (``exp[:5]``, ``exp[0]``) and outputs (:meth:`select_output`);
        :meth:`flatten` gives the (n, d[, k]) layout for everything else. None (default): one
        feature axis.

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
                 output=None, method=None, feature_shape=None):
        self.values = np.asarray(values)
        self.base_values = np.asarray(base_values)
        self.data = np.asarray(data)
        self.feature_names = list(feature_names)
        self.output_names = None if output_names is None else list(output_names)
        self.output = None if output is None else np.asarray(output)
        self.method = method
        self.feature_shape = None if feature_shape is None else tuple(
            int(v) for v in feature_shape)

    def flatten(self):
        """The same explanation with one feature axis: values (n, d) or (n, d, k).

        Image explanations (``feature_shape`` set) have their feature axes flattened in C
        order, the order of ``feature_names``; any other explanation is returned as is.

        Returns
        -------
        explanation : Explanation

        Examples
        --------
        >>> import numpy as np
        >>> from sklxai import Explanation
        >>> img = Explanation(np.ones((2, 1, 4, 4)), np.zeros(2), np.zeros((2, 1, 4, 4)),
        ...                   [f"x{i}" for i in range(16)], feature_shape=(1, 4, 4))
        >>> img.flatten().values.shape, img[0].flatten().values.shape
        ((2, 16), (16,))
        """
        if self.feature_shape is None:
            return self
        has_rows, _ = self._axes()
        lead = self.values.shape[:1] if has_rows else ()
        nf = len(self.feature_shape)
        tail = self.values.shape[len(lead) + nf:]
        values = self.values.reshape(*lead, -1, *tail)
        data = self.data.reshape(*lead, -1)
        return Explanation(values, self.base_values, data, self.feature_names, self.output_names,
                           self.output, self.method)

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
        """Max ``|sum of values + base value - model output|`` (None without ``output``)."""
        if self.output is None:
            return None
        has_rows, has_features = self._axes()
        values = self.values
        if has_features:  # sum over the feature axes, wherever slicing left them
            first = 1 if has_rows else 0
            values = values.sum(axis=tuple(range(first, first + self._n_feature_axes())))
        total = values + self.base_values
        return float(np.max(np.abs(total - self.output))) if total.size else 0.0

    def _axes(self):
        """Whether ``values`` still has its row axis and its feature axis after slicing.

        ``values`` has one axis more than ``base_values`` unless a single feature was picked,
        and ``data`` keeps exactly the row and feature axes that ``values`` keeps.
        """
        has_features = self.values.ndim > self.base_values.ndim
        has_rows = self.data.ndim > self._n_feature_axes() * int(has_features)
        return has_rows, has_features

    def _n_feature_axes(self):
        return 1 if self.feature_shape is None else len(self.feature_shape)

    # ------------------------------------------------------------------ slicing
    def __getitem__(self, key):
        """Slice by rows, then features (index or name), then outputs (index or name).

        ``exp[0]`` is one row, ``exp[:, "age"]`` one feature, ``exp[:, :, 1]`` one output.
        """
        if not isinstance(key, tuple):
            key = (key,)
        if self.feature_shape is not None:
            return self._image_rows(key)
        if len(key) > self.values.ndim:
            raise IndexError(f"too many indices: values have {self.values.ndim} dimensions.")
        rows, feats, outs = (key + (slice(None), slice(None)))[:3]
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
        part = Explanation(values, base, data, names, self.output_names, output, self.method)
        return part._take_outputs(outs) if self.values.ndim == 3 else part

    def _image_rows(self, key):
        """``exp[rows]`` of an image explanation; other keys are refused (see the class)."""
        if len(key) > 1 and any(not (isinstance(k, slice) and k == slice(None))
                                for k in key[1:]):
            raise IndexError(
                f"an image explanation (values of shape {self.values.shape}) is indexed by rows "
                "only, e.g. exp[0] or exp[:10]; pick an output with exp.select_output(k), index "
                "pixels on exp.values, or index features on exp.flatten()."
            )
        rows = key[0]
        if not self._axes()[0]:
            raise IndexError("this explanation has no row axis left to index.")
        output = None if self.output is None else self.output[rows]
        return Explanation(self.values[rows], self.base_values[rows], self.data[rows],
                           self.feature_names, self.output_names, output, self.method,
                           self.feature_shape)

    def _has_output_axis(self):
        """Whether ``values`` still has its output axis (always the last one) after slicing."""
        has_rows, has_features = self._axes()
        return self.values.ndim > int(has_rows) + self._n_feature_axes() * int(has_features)

    def _take_outputs(self, outs):
        """Index the output axis (the last one) of values, base values, output and names by
        ``outs``: a position, a list of positions or a slice (names already resolved)."""
        output = None if self.output is None else self.output[..., outs]
        out_names = self.output_names
        if out_names is not None:
            sel = np.asarray(out_names, dtype=object)[outs]
            out_names = [sel] if np.ndim(sel) == 0 else list(sel)
        return Explanation(self.values[..., outs], self.base_values[..., outs], self.data,
                           self.feature_names, out_names, output, self.method,
                           self.feature_shape)

    def select_output(self, output):
        """The explanation of one output, without the output axis.

        The one way to pick an output: the same as ``exp[:, :, output]`` on (n, d, k) values,
        and it also works on one row (``exp[0]``) or one feature (``exp[:, "age"]``).

        Parameters
        ----------
        output : int or output name
            An int (or numpy integer) is a position among the k outputs (negative counts from
            the end), as in ``exp[:, :, output]``; anything else is looked up in
            ``output_names``. To pick an integer class label, pass its position:
            ``exp.select_output(exp.output_names.index(label))``.

        Returns
        -------
        explanation : Explanation
            ``values`` of shape (n, d), ``base_values`` and ``output`` of shape (n,) and
            ``output_names`` ``[name]`` (None when the outputs had no names); less the row or
            feature axis where this explanation has none. Itself when it has one output already
            (no output axis), after checking that ``output`` is 0, -1 or its one name (any type).

        Raises
        ------
        KeyError
            When ``output`` is not one of the output names (the message lists them).
        IndexError
            When an int ``output`` is out of range.
        TypeError
            When ``output`` is a bool, or picks several outputs (use ``exp[:, :, outputs]``).

        Examples
        --------
        >>> import numpy as np
        >>> from sklxai import Explanation
        >>> exp = Explanation(np.ones((2, 3, 2)), np.zeros((2, 2)), np.zeros((2, 3)),
        ...                   ["a", "b", "c"], output_names=["no", "yes"])
        >>> yes = exp.select_output("yes")
        >>> yes.values.shape, yes.base_values.shape, yes.output_names
        ((2, 3), (2,), ['yes'])
        >>> exp.select_output(-1).output_names
        ['yes']
        >>> yes.select_output("yes") is yes
        True
        """
        if isinstance(output, slice) or np.ndim(output) != 0:
            raise TypeError(f"select_output picks one output; got {output!r}. Use "
                            "exp[:, :, outputs] to keep several.")
        if isinstance(output, bool):  # neither a position nor (sensibly) a name
            raise TypeError(f"select_output takes a position or an output name; got {output!r}.")
        names = self.output_names
        is_int = isinstance(output, (int, np.integer))
        if not self._has_output_axis():
            name = names[0] if names is not None and len(names) == 1 else None
            if (is_int and int(output) in (0, -1)) or (name is not None and output == name):
                return self
            known = "0, -1" + ("" if name is None else f" or its name {name!r}")
            raise KeyError(f"unknown output {output!r}: this explanation has one output "
                           f"already; pass {known}.")
        k = self.values.shape[-1]
        labels = names or list(range(k))
        idx = _resolve(output, labels, "output")
        if not -k <= idx < k:
            hint = (f"; {output!r} is an output name, pass its position "
                    f"{labels.index(output)} instead" if output in labels else "")
            raise IndexError(f"output {idx} is out of range for {k} outputs {labels}: an int "
                             f"is a position in [{-k}, {k - 1}]{hint}.")
        return self._take_outputs(idx)

    # ------------------------------------------------------------------ combining
    @classmethod
    def concat(cls, explanations):
        """Stack explanations of the same features, outputs and method along the rows.

        Values, base values, data and model output are concatenated in order; feature names,
        output names and method are those shared by all. ``Explanation.concat([exp[:2],
        exp[2:]])`` gives back ``exp``.

        Parameters
        ----------
        explanations : iterable of Explanation
            At least one. A one-row explanation without its row axis (``exp[0]``) counts as
            one row. All must have the same ``feature_names``, ``output_names`` and
            ``method``, the same shape of values, base values, data and output beyond the
            row axis, and either all or none a model ``output``.

        Returns
        -------
        explanation : Explanation
            A new explanation with the rows of all of them (it shares no arrays with them).

        Raises
        ------
        ValueError
            When ``explanations`` is empty or they do not match (the message names the first
            one that differs from ``explanations[0]``, and how to make them match).
        TypeError
            When an element is not an Explanation.

        Examples
        --------
        >>> import numpy as np
        >>> from sklxai import Explanation
        >>> exp = Explanation(np.arange(6.0).reshape(3, 2), np.zeros(3), np.ones((3, 2)),
        ...                   ["a", "b"], method="KernelSHAP")
        >>> both = Explanation.concat([exp[:2], exp[2]])
        >>> both.values.shape
        (3, 2)
        >>> bool((both.values == exp.values).all())
        True
        """
        first, rows = _concat_inputs(explanations)
        values, base, data, output = (
            None if parts[0] is None else np.concatenate(parts) for parts in zip(*rows))
        return cls(values, base, data, first.feature_names, first.output_names, output,
                   first.method, first.feature_shape)

    # ------------------------------------------------------------------ export
    def to_frame(self):
        """Values as a pandas DataFrame.

        One column per feature for (n, d) values; for (n, d, k) values the columns are a
        MultiIndex (output, feature). Image values are flattened first (:meth:`flatten`).
        Requires pandas.
        """
        if self.feature_shape is not None:
            return self.flatten().to_frame()
        pd = _import_pandas()
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
        if output_names is not None and not self._has_output_axis():
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
            "feature_shape": None if self.feature_shape is None else list(self.feature_shape),
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
                       meta["output_names"], output, meta["method"],
                       meta.get("feature_shape"))


def _import_pandas():
    """pandas, which ``to_frame()`` needs, or an ImportError saying how to install it."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on environment
        raise ImportError("to_frame() needs pandas: pip install sklxai[pandas]") from exc
    return pd


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


def _row_arrays(exp):
    """(values, base_values, data, output) with the row axis, added back after ``exp[i]``."""
    arrays = (exp.values, exp.base_values, exp.data, exp.output)
    if exp._axes()[0]:
        return arrays
    return tuple(None if a is None else a[None] for a in arrays)


def _concat_inputs(explanations):
    """The first of ``explanations`` and the row arrays of each, checked for concatenation.

    Refuses what :meth:`Explanation.concat` cannot stack: no explanations, something that is
    not an Explanation, or one that differs from the first (see :func:`_check_concat`).
    """
    exps = list(explanations)
    if not exps:
        raise ValueError("Explanation.concat: `explanations` is empty; pass at least one "
                         "Explanation.")
    for i, e in enumerate(exps):
        if not isinstance(e, Explanation):
            raise TypeError(f"Explanation.concat: explanations[{i}] is a "
                            f"{type(e).__name__}, not an Explanation.")
    first = exps[0]
    rows = [_row_arrays(e) for e in exps]
    for i, (e, arrays) in enumerate(zip(exps[1:], rows[1:]), start=1):
        _check_concat(i, first, rows[0], e, arrays)
    return first, rows


def _check_concat(i, first, first_arrays, other, arrays):
    """Refuse ``explanations[i]`` in :meth:`Explanation.concat` where it differs from the first."""
    where = f"Explanation.concat: explanations[{i}]"
    for what, a, b, fix in (
            ("feature_names", other.feature_names, first.feature_names,
             "select the same features in the same order, e.g. exp[:, names]"),
            ("output_names", other.output_names, first.output_names,
             "select the same outputs, e.g. exp.select_output(name) on each"),
            ("method", other.method, first.method,
             "concatenate explanations of one explainer"),
            ("feature_shape", other.feature_shape, first.feature_shape,
             "concatenate explanations of images of one shape")):
        if a != b:
            raise ValueError(f"{where} has {what} {a!r}, but explanations[0] has {b!r}; {fix}.")
    labels = ("values", "base_values", "data", "output")
    for what, a, b in zip(labels, arrays, first_arrays):
        if (a is None) != (b is None):
            has, lacks = (i, 0) if b is None else (0, i)
            raise ValueError(f"{where}: explanations[{has}] has a model output but "
                             f"explanations[{lacks}] has none; give all of them an output, or "
                             "none.")
        if a is not None and a.shape[1:] != b.shape[1:]:
            raise ValueError(
                f"{where} has {what} of shape {a.shape[1:]} per row, but explanations[0] has "
                f"{b.shape[1:]}; concatenate explanations of the same features and outputs "
                "(a one-row explanation without its row axis counts as one row).")
