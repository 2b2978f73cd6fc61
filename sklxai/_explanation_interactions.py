"""InteractionExplanation: interaction index values for a set of rows, in shap's layout."""

import json

import numpy as np

from sklxai._explanation_index import output_position
from sklxai._explanation_io import _import_pandas

#: the indices whose terms sum to the output minus the base value
EFFICIENT = ("k-SII", "STII", "FSII")
#: prefix of the ``.npz`` entries that hold the terms of order 3 and more
_HIGHER = "higher."


class InteractionExplanation:
    """Interaction index values for a set of rows (:class:`~sklxai.ExactInteractions`).

    Parameters
    ----------
    values : ndarray of shape (n, d, d) or (n, d, d, k)
        The terms of order 1 and 2 in shap's layout (``shap_interaction_values``): player i's
        own term at ``[:, i, i]``, and half of the pair {i, j}'s term at ``[:, i, j]`` and
        half at ``[:, j, i]``, so the matrix is symmetric and a row sums to the player's term
        plus half of its pairs' (its Shapley value for k-SII of order 2). (n, d, d, k) for k
        outputs.
    base_values : ndarray of shape (n,) or (n, k)
        v(empty): the expected output over the background.
    data : ndarray of shape (n, d)
        The rows explained (one value per group where players are feature groups).
    feature_names : sequence of str
        The d players' names.
    output_names : sequence or None
        Names of the k outputs, or of the one output explained.
    output : ndarray of shape (n,) or (n, k), optional
        The model output explained.
    method : str, optional
        The explainer that produced it.
    index : {"k-SII", "SII", "STII", "FSII", "BII"}
        Which interaction index (see :class:`~sklxai.ExactInteractions`).
    max_order : int
        The largest order computed.
    higher_order : dict or None
        The terms of order 3 to ``max_order``: sorted tuple of player positions ->
        ndarray (n,) or (n, k). None: none ({}).
    std_errors : ndarray or None
        The standard errors of a sampling estimate (:class:`~sklxai.KernelInteractions`), in
        ``values``' layout (a pair's cells hold half of its term's standard error); None for
        exact values.

    Notes
    -----
    Slicing keeps the row axis: ``exp[0]`` is a one-row explanation with values (1, d, d),
    ``exp[:5]``, ``exp[[0, 2]]`` or a boolean mask select rows; :meth:`select_output` picks an
    output. The terms are the :attr:`full pair values <pair_values>`, twice the off-diagonal
    cells.

    Examples
    --------
    >>> import numpy as np
    >>> from sklxai import InteractionExplanation
    >>> values = np.array([[[1.0, 0.25], [0.25, 2.0]]])
    >>> exp = InteractionExplanation(values, np.zeros(1), np.zeros((1, 2)), ["a", "b"],
    ...                              output=np.array([3.5]))
    >>> exp.efficiency_gap
    0.0
    >>> exp.top_pairs(1)[["feature_i", "feature_j", "mean_abs"]].values.tolist()
    [['a', 'b', 0.5]]
    """

    def __init__(self, values, base_values, data, feature_names, output_names=None,
                 output=None, method=None, index="k-SII", max_order=2, higher_order=None,
                 std_errors=None):
        self.values = np.asarray(values, dtype=float)
        self.base_values = np.asarray(base_values, dtype=float)
        self.data = np.asarray(data)
        self.feature_names = list(feature_names)
        self.output_names = None if output_names is None else list(output_names)
        self.output = None if output is None else np.asarray(output, dtype=float)
        self.method = method
        self.index = str(index)
        self.max_order = int(max_order)
        self.higher_order = {tuple(int(i) for i in key): np.asarray(v, dtype=float)
                             for key, v in dict(higher_order or {}).items()}
        self.std_errors = None if std_errors is None else np.asarray(std_errors, dtype=float)
        d = len(self.feature_names)
        if self.values.ndim not in (3, 4) or self.values.shape[1:3] != (d, d):
            raise ValueError(f"values must have shape (n, d, d) or (n, d, d, k) with d = "
                             f"{d} feature names; got {self.values.shape}.")

    @classmethod
    def from_terms(cls, terms, sets, **fields):
        """The explanation of one value per set of players.

        Parameters
        ----------
        terms : ndarray of shape (n, m) or (n, m, k)
            The value of each of the m sets.
        sets : sequence of tuple of int
            The m sets of player positions (sizes 1 to ``max_order``).
        **fields
            The other parameters of :class:`InteractionExplanation` (``feature_names``
            among them); ``std_errors``, where given, one per set as ``terms`` (of sets of
            1 and 2 players).

        Returns
        -------
        explanation : InteractionExplanation
        """
        d = len(fields["feature_names"])
        if fields.get("std_errors") is not None:
            fields["std_errors"] = _pair_layout(fields["std_errors"], sets, d)[0]
        values, higher = _pair_layout(terms, sets, d)
        return cls(values, higher_order=higher, **fields)

    # ------------------------------------------------------------------ shape
    @property
    def shape(self):
        return self.values.shape

    def __len__(self):
        return self.values.shape[0]

    def __repr__(self):
        return (f"{type(self).__name__}(index={self.index!r}, max_order={self.max_order}, "
                f"values shape={self.values.shape}, features={self.feature_names[:5]}"
                f"{'...' if len(self.feature_names) > 5 else ''})")

    def _has_output_axis(self):
        return self.values.ndim == 4

    def _replace(self, **changes):
        fields = {name: getattr(self, name) for name in (
            "values", "base_values", "data", "feature_names", "output_names", "output",
            "method", "index", "max_order", "higher_order", "std_errors")}
        return type(self)(**{**fields, **changes})

    @property
    def pair_values(self):
        """The terms of order 1 and 2 as they are: ``values`` with its off-diagonal cells
        doubled (player i's term at [:, i, i], the pair {i, j}'s at [:, i, j] and [:, j, i])."""
        d = len(self.feature_names)
        scale = 2.0 - np.eye(d)
        return self.values * (scale if self.values.ndim == 3 else scale[:, :, None])

    def terms(self):
        """Every term: a dict sorted tuple of player positions -> ndarray (n,) or (n, k), by
        order, then lexicographically."""
        d = len(self.feature_names)
        pairs = self.pair_values
        out = {(i,): self.values[:, i, i] for i in range(d)}
        if self.max_order >= 2:
            out.update({(i, j): pairs[:, i, j] for i in range(d) for j in range(i + 1, d)})
        out.update(sorted(self.higher_order.items(), key=lambda kv: (len(kv[0]), kv[0])))
        return out

    @property
    def efficiency_gap(self):
        """Max ``|sum of every term + base value - output|`` for the efficient indices (k-SII,
        STII, FSII); None for SII and BII, whose terms need not add up, or without ``output``."""
        if self.index not in EFFICIENT or self.output is None:
            return None
        total = self.values.sum(axis=(1, 2)) + sum(self.higher_order.values(), 0.0)
        return float(np.max(np.abs(total + self.base_values - self.output), initial=0.0))

    # ------------------------------------------------------------------ slicing
    def __getitem__(self, rows):
        """The explanation of some rows (an int, slice, index array or boolean mask); the row
        axis is kept."""
        if isinstance(rows, tuple):
            raise TypeError("InteractionExplanation is sliced by rows only (exp[rows]); pick an "
                            "output with select_output(output).")
        rows = [rows] if np.ndim(rows) == 0 and not isinstance(rows, slice) else rows
        return self._replace(
            values=self.values[rows], base_values=self.base_values[rows], data=self.data[rows],
            output=None if self.output is None else self.output[rows],
            std_errors=None if self.std_errors is None else self.std_errors[rows],
            higher_order={key: v[rows] for key, v in self.higher_order.items()})

    def select_output(self, output):
        """The explanation of one output, without the output axis.

        Parameters
        ----------
        output : int or output name
            A position among the k outputs (negative counts from the end), or a name in
            ``output_names``.

        Returns
        -------
        explanation : InteractionExplanation
            values (n, d, d); itself when it has one output already (after checking that
            ``output`` is 0, -1 or its name).
        """
        k = output_position(self, output)
        if k is None:
            return self
        return self._replace(
            values=self.values[..., k], base_values=self.base_values[:, k],
            output=None if self.output is None else self.output[:, k],
            std_errors=None if self.std_errors is None else self.std_errors[..., k],
            output_names=None if self.output_names is None else [self.output_names[k]],
            higher_order={key: v[:, k] for key, v in self.higher_order.items()})

    @classmethod
    def concat(cls, explanations):
        """Stack explanations of the same players, outputs, method and index along the rows
        (as :meth:`Explanation.concat <sklxai.Explanation.concat>`): values, base values,
        data, output and each higher-order term are concatenated in order;
        ``InteractionExplanation.concat([exp[:2], exp[2:]])`` gives back ``exp``.

        Parameters
        ----------
        explanations : iterable of InteractionExplanation
            At least one, all with the same ``feature_names``, ``output_names``, ``method``,
            ``index``, ``max_order`` and higher-order sets, the same shapes beyond the row
            axis, and either all or none a model ``output``.

        Returns
        -------
        explanation : InteractionExplanation
            A new explanation with the rows of all of them (sharing no arrays with them).
        """
        return _concat(explanations)

    # ------------------------------------------------------------------ reading
    def top_pairs(self, k=10, *, per_row=False):
        """The pairs with the largest interactions (absolute full pair terms).

        Parameters
        ----------
        k : int
            How many pairs (per row with ``per_row``).
        per_row : bool
            False: over the data set, ranked by the mean absolute pair term over the rows.
            True: each row's own k largest.

        Returns
        -------
        pairs : pandas.DataFrame
            Columns ``i``, ``j`` (positions, i < j), ``feature_i``, ``feature_j`` and
            ``mean_abs``, ``mean`` over the rows; with ``per_row``, ``row``, ``rank`` (from 1),
            ``i``, ``j``, ``feature_i``, ``feature_j`` and ``value``.
        """
        return _top_pairs(self, k, per_row)

    # ------------------------------------------------------------------ export
    def to_frame(self):
        """The terms of order 1 and 2 as a long DataFrame: one line per row and term, with
        columns ``row``, ``i``, ``j`` (feature names; i == j for a player's own term) and
        ``value`` (the full term), and ``output`` first when there are several outputs."""
        return _to_frame(self)

    def to_shap(self):
        """The interaction values as shap's plots take them: ``values`` (n, d, d) for one
        output (``shap.summary_plot(exp.to_shap(), exp.data)``), a list of them, one per
        output, for several (shap's multi-output format)."""
        if not self._has_output_axis():
            return self.values
        return [self.values[..., k] for k in range(self.values.shape[-1])]

    def to_shapiq(self, row=None):
        """shapiq ``InteractionValues`` of one row (needs shapiq).

        Parameters
        ----------
        row : int or None
            Which row; None: a list, one per row.

        Returns
        -------
        interaction_values : shapiq.InteractionValues or list of them
            With every term of this explanation, the base value as ``baseline_value`` and as
            the empty set's term. For one output (use :meth:`select_output` first).
        """
        return _to_shapiq(self, row)

    def save(self, path):
        """Save to a ``.npz`` file: the arrays, the higher-order terms and the names as JSON
        metadata (no pickle)."""
        meta = {"feature_names": [str(f) for f in self.feature_names],
                "output_names": None if self.output_names is None else [
                    o.item() if hasattr(o, "item") else o for o in self.output_names],
                "method": self.method, "index": self.index, "max_order": self.max_order,
                "higher_order": [list(key) for key in self.higher_order]}
        arrays = {"values": self.values, "base_values": self.base_values, "data": self.data}
        if self.output is not None:
            arrays["output"] = self.output
        if self.std_errors is not None:
            arrays["std_errors"] = self.std_errors
        arrays.update({f"{_HIGHER}{n}": v for n, v in enumerate(self.higher_order.values())})
        np.savez_compressed(path, meta=np.asarray(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path):
        """Load an explanation written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            higher = {tuple(key): f[f"{_HIGHER}{n}"]
                      for n, key in enumerate(meta["higher_order"])}
            return cls(f["values"], f["base_values"], f["data"], meta["feature_names"],
                       meta["output_names"], f["output"] if "output" in f.files else None,
                       meta["method"], meta["index"], meta["max_order"], higher,
                       f["std_errors"] if "std_errors" in f.files else None)


def _pair_layout(terms, sets, d):
    """Terms (n, m[, k]) of the m sets in shap's (n, d, d[, k]) layout (a pair's term halved
    in each of its two cells), and the terms of larger sets as a dict."""
    terms = np.asarray(terms, dtype=float)
    values = np.zeros((terms.shape[0], d, d, *terms.shape[2:]))
    higher = {}
    for col, s in enumerate(sets):
        if len(s) == 1:
            values[:, s[0], s[0]] = terms[:, col]
        elif len(s) == 2:
            values[:, s[0], s[1]] = values[:, s[1], s[0]] = terms[:, col] / 2
        else:
            higher[tuple(s)] = terms[:, col]
    return values, higher


def _concat(explanations):
    exps = list(explanations)
    if not exps:
        raise ValueError("InteractionExplanation.concat: `explanations` is empty; pass at "
                         "least one InteractionExplanation.")
    for i, e in enumerate(exps):
        if not isinstance(e, InteractionExplanation):
            raise TypeError(f"InteractionExplanation.concat: explanations[{i}] is a "
                            f"{type(e).__name__}, not an InteractionExplanation.")
    first = exps[0]
    for i, e in enumerate(exps[1:], start=1):
        where = f"InteractionExplanation.concat: explanations[{i}]"
        for name in ("feature_names", "output_names", "method", "index", "max_order"):
            a, b = getattr(e, name), getattr(first, name)
            if a != b:
                raise ValueError(f"{where} has {name} {a!r}, but explanations[0] has {b!r}; "
                                 "concatenate explanations of one explainer and its settings.")
        if set(e.higher_order) != set(first.higher_order):
            raise ValueError(f"{where} has other higher-order sets than explanations[0]; "
                             "concatenate explanations of one explainer and its settings.")
        for name, noun in (("output", "a model output"), ("std_errors", "standard errors")):
            if (getattr(e, name) is None) != (getattr(first, name) is None):
                has, lacks = (i, 0) if getattr(first, name) is None else (0, i)
                raise ValueError(f"{where}: explanations[{has}] has {noun} but "
                                 f"explanations[{lacks}] has none; give all of them "
                                 f"{noun.replace('a model ', 'an ')}, or none.")
        for name in ("values", "base_values", "data", "output", "std_errors"):
            a, b = getattr(e, name), getattr(first, name)
            if a is not None and a.shape[1:] != b.shape[1:]:
                raise ValueError(f"{where} has {name} of shape {a.shape[1:]} per row, but "
                                 f"explanations[0] has {b.shape[1:]}; concatenate "
                                 "explanations of the same features and outputs.")

    def stack(name):
        parts = [getattr(e, name) for e in exps]
        return None if parts[0] is None else np.concatenate(parts)

    return first._replace(
        values=stack("values"), base_values=stack("base_values"), data=stack("data"),
        output=stack("output"), std_errors=stack("std_errors"),
        higher_order={key: np.concatenate([e.higher_order[key] for e in exps])
                      for key in first.higher_order})


def _single_output(exp, what):
    if exp._has_output_axis():
        raise ValueError(f"{what} reads one output; this explanation has "
                         f"{exp.values.shape[-1]}: pick one with exp.select_output(output).")


def _pair_terms(exp, k):
    """The pairs' positions i < j and full terms (n, number of pairs) of one output, after
    checking ``k``."""
    _single_output(exp, "top_pairs")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an int >= 1; got {k!r}.")
    i, j = np.triu_indices(len(exp.feature_names), 1)
    return i, j, exp.pair_values[:, i, j]


def ranked_pairs(exp, k):
    """The k pairs with the largest mean ``|pair term|`` over the rows, as arrays (no pandas):
    positions ``i``, ``j`` (i < j), ``mean_abs`` and ``mean``, largest first (ties: the first
    pair in (i, j) order). For one output; :meth:`InteractionExplanation.top_pairs` as a
    DataFrame."""
    i, j, pairs = _pair_terms(exp, k)
    mean_abs = np.abs(pairs).mean(axis=0)
    top = np.argsort(-mean_abs, kind="stable")[:k]
    return i[top], j[top], mean_abs[top], pairs.mean(axis=0)[top]


def _top_pairs(exp, k, per_row):
    pd = _import_pandas()
    names = np.asarray(exp.feature_names, dtype=object)
    if not per_row:
        i, j, mean_abs, mean = ranked_pairs(exp, k)
        return pd.DataFrame({"i": i, "j": j, "feature_i": names[i], "feature_j": names[j],
                             "mean_abs": mean_abs, "mean": mean})
    i, j, pairs = _pair_terms(exp, k)
    top = np.argsort(-np.abs(pairs), axis=1, kind="stable")[:, :k]  # (n, k)
    n, kk = top.shape
    return pd.DataFrame({"row": np.repeat(np.arange(n), kk), "rank": np.tile(np.arange(1, kk + 1), n),
                         "i": i[top].ravel(), "j": j[top].ravel(),
                         "feature_i": names[i[top]].ravel(), "feature_j": names[j[top]].ravel(),
                         "value": np.take_along_axis(pairs, top, axis=1).ravel()})


def _to_frame(exp):
    pd = _import_pandas()
    names = exp.feature_names
    parts = []
    outputs = range(exp.values.shape[-1]) if exp._has_output_axis() else [None]
    for out in outputs:
        one = exp if out is None else exp.select_output(out)
        for key, v in one.terms().items():
            if len(key) > 2:
                continue
            part = {"row": np.arange(len(v)), "i": names[key[0]], "j": names[key[-1]],
                    "value": v}
            if out is not None:
                part = {"output": (exp.output_names or list(outputs))[out], **part}
            parts.append(pd.DataFrame(part))
    frame = pd.concat(parts, ignore_index=True)
    first = ["output"] if exp._has_output_axis() else []
    return frame.sort_values([*first, "row"], kind="stable", ignore_index=True)


def _to_shapiq(exp, row):
    try:
        from shapiq import InteractionValues
    except ImportError as exc:
        raise ImportError("to_shapiq() needs shapiq: pip install shapiq") from exc
    _single_output(exp, "to_shapiq")
    if row is None:
        return [_to_shapiq(exp, r) for r in range(len(exp))]
    terms = exp.terms()
    base = float(exp.base_values[row])
    lookup = {(): 0, **{key: n + 1 for n, key in enumerate(terms)}}
    values = np.array([base, *(float(v[row]) for v in terms.values())])
    return InteractionValues(values, index=exp.index, max_order=exp.max_order,
                             n_players=len(exp.feature_names), min_order=0,
                             interaction_lookup=lookup, estimated=False, baseline_value=base)
