"""Explanation: the values an explainer returns, with the data, base values and names."""

import numpy as np

from sklxai import _explanation_index, _explanation_io
from sklxai._explanation_index import join_rows, same


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
        The model output being explained; for Shapley values
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
    diagnostics : dict of str to ndarray, optional
        Figures the explainer measured while explaining each row, one entry per row (the first
        axis), e.g. :class:`~sklxai.explainers.integrated_gradients.IntegratedGradients`'
        ``"completeness_gap"``. Slicing rows slices them, :meth:`concat` joins them and
        :meth:`save` keeps them. None (default): none (``{}``).
    std_errors : ndarray or None, optional
        Standard errors of ``values`` (their shape) from a sampling explainer's own variance
        (:class:`~sklxai.KernelSHAP`, :class:`~sklxai.PermutationSHAP`); 95% interval:
        ``values ± t * std_errors``, t from its ``std_errors_dof_`` (:ref:`std_errors`). Kept
        through slicing, concat, save; shap's ``error_std``. None: exact, tree, amortized.
    index : {"SV", "BV"}, optional
        "SV" (default): Shapley values. "BV": Banzhaf values, which need not add up to
        ``output - base_values`` (no :attr:`efficiency_gap`); base values are v(empty) for both.

    Notes
    -----
    An explainer may return its own subclass, with more fields (built by its
    ``_make_explanation``, see :class:`~sklxai.BaseExplainer`). A subclass's ``__init__``
    takes the arguments above by name (``std_errors``, ``index`` only where its explainer sets
    them: they are passed only when set), plus its fields, each stored as the attribute of the
    same name and listed in a class attribute: ``_row_fields`` for those with one entry per row
    (arrays, lists or dicts of them, the row first), ``_fields`` for the others. Slicing,
    :meth:`flatten`, :meth:`select_output` and :meth:`concat` then return the subclass with
    every field: row fields follow the rows of ``values`` (``exp[:2].graphs`` holds the first
    two rows' entries, ``exp[0].graphs`` the first row's), the others are carried over as they
    are. :meth:`save` and :meth:`load` keep the fields above only.

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

    #: a subclass's extra fields with one entry per row, and its other extra fields
    _row_fields = ()
    _fields = ()

    def __init__(self, values, base_values, data, feature_names, output_names=None,
                 output=None, method=None, feature_shape=None, diagnostics=None,
                 std_errors=None, index="SV"):
        self.values = np.asarray(values)
        self.base_values = np.asarray(base_values)
        self.data = np.asarray(data)
        self.feature_names = list(feature_names)
        self.output_names = None if output_names is None else list(output_names)
        self.output = None if output is None else np.asarray(output)
        self.method = method
        self.feature_shape = None if feature_shape is None else tuple(
            int(v) for v in feature_shape)
        self.diagnostics = {} if diagnostics is None else {
            str(name): np.asarray(v) for name, v in dict(diagnostics).items()}
        self.std_errors = None if std_errors is None else np.asarray(std_errors, dtype=float)
        self.index = _explanation_index.check_index(index)

    def _replace(self, **changes):
        """The same class with the same fields (a subclass's included), less ``changes``."""
        return _explanation_index.replace(self, changes)

    def flatten(self):
        """The same explanation with one feature axis: values (n, d) or (n, d, k).

        Image explanations (``feature_shape`` set) have their feature axes flattened in C
        order, the order of ``feature_names``; any other explanation is returned as is.

        Returns
        -------
        explanation : Explanation
            Of this explanation's class, with its fields.

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
        return self._replace(**_explanation_index.like_values(
            self, lambda a: a.reshape(*lead, -1, *tail)),
            data=self.data.reshape(*lead, -1), feature_shape=None)

    # ------------------------------------------------------------------ shape helpers
    @property
    def shape(self):
        return self.values.shape

    def __len__(self):
        return self.values.shape[0]

    def __repr__(self):
        return (
            f"{type(self).__name__}(method={self.method!r}, values shape={self.values.shape}, "
            f"features={self.feature_names[:5]}{'...' if len(self.feature_names) > 5 else ''})"
        )

    @property
    def efficiency_gap(self):
        """Max ``|sum of values + base value - model output|`` (None without ``output``, or for
        Banzhaf values)."""
        return _explanation_index.efficiency_gap(self)

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
        The result has this explanation's class and fields (per-row ones sliced by the rows).
        """
        return _explanation_index.index(self, key)

    def _has_output_axis(self):
        """Whether ``values`` still has its output axis (always the last one) after slicing."""
        has_rows, has_features = self._axes()
        return self.values.ndim > int(has_rows) + self._n_feature_axes() * int(has_features)

    def select_output(self, output):
        """The explanation of one output, without the output axis.

        The one way to pick an output: the same as ``exp[:, :, output]`` on (n, d, k) values,
        and it also works on one row (``exp[0]``) or one feature (``exp[:, "age"]``). The plots
        (:mod:`sklxai.plotting`), the HTML report and the command line pick outputs with it.

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
            Of this explanation's class, with its fields. ``values`` of shape (n, d),
            ``base_values`` and ``output`` of shape (n,) and
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
        position = _explanation_index.output_position(self, output)
        return self if position is None else _explanation_index.take_outputs(self, position)

    # ------------------------------------------------------------------ combining
    @classmethod
    def concat(cls, explanations):
        """Stack explanations of the same features, outputs and method along the rows.

        Values, base values, data, model output, standard errors and the per-row fields
        (``diagnostics``, a subclass's ``_row_fields``) are concatenated in order; feature names, output names,
        method and a subclass's other fields are those shared by all.
        ``Explanation.concat([exp[:2], exp[2:]])`` gives back ``exp``.

        Parameters
        ----------
        explanations : iterable of Explanation
            At least one. A one-row explanation without its row axis (``exp[0]``) counts as
            one row. All must have the same ``feature_names``, ``output_names`` and
            ``method``, the same shape of values, base values, data and output beyond the
            row axis, and either all or none a model ``output`` (and ``std_errors``); all of
            one class, with the
            same ``diagnostics`` names and the same fields that are not per row.

        Returns
        -------
        explanation : Explanation
            A new explanation of their class with the rows of all of them (it shares no
            arrays with them).

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
        exps, rows = _concat_inputs(explanations)
        values, base, data, output, std_errors = (
            None if parts[0] is None else np.concatenate(parts) for parts in zip(*rows))
        has_rows = [e._axes()[0] for e in exps]
        fields = {name: join_rows(name, [getattr(e, name) for e in exps], has_rows)
                  for name in ("diagnostics", *exps[0]._row_fields)}
        return exps[0]._replace(values=values, base_values=base, data=data, output=output,
                                std_errors=std_errors, **fields)

    # ------------------------------------------------------------------ export
    def to_frame(self):
        """Values as a pandas DataFrame.

        One column per feature for (n, d) values; for (n, d, k) values the columns are a
        MultiIndex (output, feature). Image values are flattened first (:meth:`flatten`).
        Requires pandas.
        """
        return _explanation_io.to_frame(self)

    def to_shap(self):
        """The same values as a ``shap.Explanation`` (needs shap), for shap's own plots."""
        return _explanation_io.to_shap(self)

    def save(self, path):
        """Save to a ``.npz`` file: the arrays (``std_errors`` included) and ``diagnostics``,
        with names and method as JSON metadata (a subclass's own fields are not saved)."""
        _explanation_io.save(self, path)

    @classmethod
    def load(cls, path):
        """Load an Explanation written by :meth:`save` (no pickle involved)."""
        return _explanation_io.load(cls, path)


def _row_arrays(exp):
    """(values, base_values, data, output, std_errors) with the row axis (back after ``exp[i]``)."""
    arrays = (exp.values, exp.base_values, exp.data, exp.output, exp.std_errors)
    if exp._axes()[0]:
        return arrays
    return tuple(None if a is None else a[None] for a in arrays)


def _concat_inputs(explanations):
    """``explanations`` as a list, and the row arrays of each, checked for concatenation.

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
    return exps, rows


def _check_concat(i, first, first_arrays, other, arrays):
    """Refuse ``explanations[i]`` in :meth:`Explanation.concat` where it differs from the first."""
    where = f"Explanation.concat: explanations[{i}]"
    if type(other) is not type(first):
        raise ValueError(f"{where} is of class {type(other).__name__}, but explanations[0] of "
                         f"class {type(first).__name__}; concatenate explanations of one "
                         "explainer.")
    for name in first._fields:
        if not same(getattr(other, name), getattr(first, name)):
            raise ValueError(f"{where} has another {name} than explanations[0]; concatenate "
                             "explanations of one explainer and its settings.")
    for what, a, b, fix in (
            ("feature_names", other.feature_names, first.feature_names,
             "select the same features in the same order, e.g. exp[:, names]"),
            ("output_names", other.output_names, first.output_names,
             "select the same outputs, e.g. exp.select_output(name) on each"),
            ("method", other.method, first.method,
             "concatenate explanations of one explainer"),
            ("index", other.index, first.index,
             "concatenate explanations of one index (Shapley or Banzhaf values)"),
            ("feature_shape", other.feature_shape, first.feature_shape,
             "concatenate explanations of images of one shape")):
        if a != b:
            raise ValueError(f"{where} has {what} {a!r}, but explanations[0] has {b!r}; {fix}.")
    labels = ("values", "base_values", "data", "output", "std_errors")
    for what, a, b in zip(labels, arrays, first_arrays):
        if (a is None) != (b is None):
            has, lacks = (i, 0) if b is None else (0, i)
            noun = "a model output" if what == "output" else "standard errors"
            raise ValueError(f"{where}: explanations[{has}] has {noun} but "
                             f"explanations[{lacks}] has none; give all of them "
                             f"{noun.replace('a model ', 'an ')}, or none.")
        if a is not None and a.shape[1:] != b.shape[1:]:
            raise ValueError(
                f"{where} has {what} of shape {a.shape[1:]} per row, but explanations[0] has "
                f"{b.shape[1:]}; concatenate explanations of the same features and outputs "
                "(a one-row explanation without its row axis counts as one row).")
