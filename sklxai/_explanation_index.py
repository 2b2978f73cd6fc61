"""Indexing an :class:`~sklxai.Explanation`: rows, features and outputs, and its fields.

The bodies of ``Explanation.__getitem__`` and ``select_output`` (documented there). Every
selection keeps the explanation's class and fields: the fields that hold one entry per row
(``diagnostics`` and a subclass's ``_row_fields``: arrays, lists or dicts of them, the row
first) are sliced the way the rows of ``values`` are (an int drops the row axis: the entry of
that row), and ``concat`` joins them. ``std_errors``, of the shape of ``values``, goes through
every selection exactly as ``values`` does (:func:`like_values`).
"""

import numbers

import numpy as np


def index(exp, key):
    """``exp[key]``: rows, then features (index or name), then outputs (index or name)."""
    if not isinstance(key, tuple):
        key = (key,)
    if exp.feature_shape is not None:
        return _image_rows(exp, key)
    if len(key) > exp.values.ndim:
        raise IndexError(f"too many indices: values have {exp.values.ndim} dimensions.")
    rows, feats, outs = (key + (slice(None), slice(None)))[:3]
    feats = _resolve(feats, exp.feature_names, "feature")
    if exp.values.ndim == 3:
        outs = _resolve(outs, exp.output_names or list(range(exp.values.shape[2])), "output")
    row_dim = np.ndim(rows) == 0 and not isinstance(rows, slice)
    cells = (slice(None),) * (0 if row_dim else 1) + (feats,)
    names = np.asarray(exp.feature_names, dtype=object)[feats]
    names = [names] if np.ndim(names) == 0 else list(names)
    part = with_rows(exp, rows, **like_values(exp, lambda a: a[rows][cells]),
                     data=exp.data[rows][cells], feature_names=names)
    return take_outputs(part, outs) if exp.values.ndim == 3 else part


def _image_rows(exp, key):
    """``exp[rows]`` of an image explanation; other keys are refused (see the class)."""
    if len(key) > 1 and any(not (isinstance(k, slice) and k == slice(None)) for k in key[1:]):
        raise IndexError(
            f"an image explanation (values of shape {exp.values.shape}) is indexed by rows "
            "only, e.g. exp[0] or exp[:10]; pick an output with exp.select_output(k), index "
            "pixels on exp.values, or index features on exp.flatten()."
        )
    rows = key[0]
    if not exp._axes()[0]:
        raise IndexError("this explanation has no row axis left to index.")
    return with_rows(exp, rows, **like_values(exp, lambda a: a[rows]), data=exp.data[rows])


def with_rows(exp, rows, **changes):
    """``exp`` with ``rows`` of its base values, output and per-row fields, and ``changes``."""
    fields = {name: take_rows(getattr(exp, name), rows)
              for name in ("diagnostics", *exp._row_fields)}
    output = None if exp.output is None else exp.output[rows]
    return exp._replace(base_values=exp.base_values[rows], output=output, **fields, **changes)


def take_outputs(exp, outs):
    """Index the output axis (the last one) of values, base values, output and names by
    ``outs``: a position, a list of positions or a slice (names already resolved)."""
    output = None if exp.output is None else exp.output[..., outs]
    out_names = exp.output_names
    if out_names is not None:
        sel = np.asarray(out_names, dtype=object)[outs]
        out_names = [sel] if np.ndim(sel) == 0 else list(sel)
    return exp._replace(**like_values(exp, lambda a: a[..., outs]),
                        base_values=exp.base_values[..., outs], output=output,
                        output_names=out_names)


def like_values(exp, select):
    """``values`` and ``std_errors`` (None stays None) of ``exp`` through one selection.

    ``select`` takes an array of the shape of ``values`` and returns the part kept (an index or
    a reshape), so that standard errors always match the values they belong to.
    """
    errors = exp.std_errors
    return {"values": select(exp.values),
            "std_errors": None if errors is None else select(errors)}


def replace(exp, changes):
    """``exp._replace(**changes)``: the same class with the same fields (a subclass's
    included), less ``changes``; ``std_errors`` and ``index`` are passed only when set (a
    subclass need not take what its explainer never gives)."""
    fields = {"values": exp.values, "base_values": exp.base_values, "data": exp.data,
              "feature_names": exp.feature_names, "output_names": exp.output_names,
              "output": exp.output, "method": exp.method,
              "feature_shape": exp.feature_shape, "diagnostics": exp.diagnostics,
              "std_errors": exp.std_errors, "index": exp.index}
    fields.update({name: getattr(exp, name) for name in (*exp._row_fields, *exp._fields)})
    fields.update(changes)
    if fields["std_errors"] is None:
        del fields["std_errors"]
    if fields["index"] == "SV":
        del fields["index"]
    return type(exp)(**fields)


def check_index(index):
    """``index`` of an Explanation: "SV" (Shapley values) or "BV" (Banzhaf values)."""
    if index not in ("SV", "BV"):
        raise ValueError(f"index must be 'SV' (Shapley values) or 'BV' (Banzhaf values); "
                         f"got {index!r}.")
    return index


def efficiency_gap(exp):
    """Max ``|sum of values + base value - model output|`` (see ``Explanation``), or None."""
    if exp.output is None or exp.index != "SV":
        return None
    has_rows, has_features = exp._axes()
    values = exp.values
    if has_features:  # sum over the feature axes, wherever slicing left them
        first = 1 if has_rows else 0
        values = values.sum(axis=tuple(range(first, first + exp._n_feature_axes())))
    total = values + exp.base_values
    return float(np.max(np.abs(total - exp.output))) if total.size else 0.0


def output_position(exp, output):
    """The position among ``exp``'s outputs that :meth:`Explanation.select_output` picks.

    A position in [0, k) for values with an output axis of k outputs; None when ``exp`` has one
    output already (no output axis), after checking that ``output`` is 0, -1 or its one name.
    Raises as :meth:`Explanation.select_output` says.
    """
    if isinstance(output, slice) or np.ndim(output) != 0:
        raise TypeError(f"select_output picks one output; got {output!r}. Use "
                        "exp[:, :, outputs] to keep several.")
    if isinstance(output, bool):  # neither a position nor (sensibly) a name
        raise TypeError(f"select_output takes a position or an output name; got {output!r}.")
    names = exp.output_names
    is_int = isinstance(output, (int, np.integer))
    if not exp._has_output_axis():
        name = names[0] if names is not None and len(names) == 1 else None
        if (is_int and int(output) in (0, -1)) or (name is not None and output == name):
            return None
        known = "0, -1" + ("" if name is None else f" or its name {name!r}")
        raise KeyError(f"unknown output {output!r}: this explanation has one output "
                       f"already; pass {known}.")
    k = exp.values.shape[-1]
    labels = names or list(range(k))
    idx = _resolve(output, labels, "output")
    if not -k <= idx < k:
        hint = (f"; {output!r} is an output name, pass its position "
                f"{labels.index(output)} instead" if output in labels else "")
        raise IndexError(f"output {idx} is out of range for {k} outputs {labels}: an int "
                         f"is a position in [{-k}, {k - 1}]{hint}.")
    return idx % k


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


def take_rows(value, rows):
    """``value[rows]`` for a per-row field: an array, a list (or tuple) or a dict of them.

    ``rows`` is what indexes the rows of ``values``: an int (the entry itself), a slice, or
    an array or list of positions or booleans (a list then).
    """
    if value is None:
        return None
    if isinstance(value, dict):
        return {name: take_rows(v, rows) for name, v in value.items()}
    if isinstance(value, (list, tuple)):
        picked = _objects(value)[rows]
        return picked.tolist() if isinstance(picked, np.ndarray) else picked
    return np.asarray(value)[rows]


def join_rows(name, parts, has_rows):
    """The per-row field ``name`` of several explanations, one after the other.

    ``parts`` are the field's values, ``has_rows`` whether each explanation still has its row
    axis (a one-row explanation without it, ``exp[0]``, holds its row's entry).
    """
    first = parts[0]
    if first is None:
        if any(p is not None for p in parts):
            raise ValueError(f"Explanation.concat: {name} is None in explanations[0] but not in "
                             "all of them; concatenate explanations of one explainer.")
        return None
    if isinstance(first, dict):
        for i, part in enumerate(parts[1:], start=1):
            if not isinstance(part, dict) or list(part) != list(first):
                raise ValueError(
                    f"Explanation.concat: explanations[{i}] has {name} "
                    f"{_keys(part)}, but explanations[0] has {list(first)}; concatenate "
                    "explanations of one explainer.")
        return {key: join_rows(f"{name}[{key!r}]", [p[key] for p in parts], has_rows)
                for key in first}
    if _is_list(parts, has_rows):
        joined = []
        for part, rows in zip(parts, has_rows):
            joined.extend(part if rows else [part])
        return joined
    return np.concatenate([np.asarray(p) if rows else np.asarray(p)[None]
                           for p, rows in zip(parts, has_rows)])


def _is_list(parts, has_rows):
    """Whether a per-row field is a list (of objects) rather than an array."""
    with_rows = [p for p, rows in zip(parts, has_rows) if rows]
    if with_rows:
        return isinstance(with_rows[0], (list, tuple))
    # only single rows: a list's entry is an object, an array's an array or a numpy scalar
    return not isinstance(parts[0], (np.ndarray, np.generic, numbers.Number))


def same(a, b):
    """Whether two values of a field that is not per row are equal (arrays element-wise)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and bool(np.array_equal(a, b))
    return bool(a == b)


def _objects(items):
    """A list as a 1-D object array (its entries kept whole, even tuples or arrays)."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def _keys(value):
    return list(value) if isinstance(value, dict) else repr(value)
