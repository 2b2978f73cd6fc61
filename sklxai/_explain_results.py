"""What :meth:`BaseExplainer.explain <sklxai.BaseExplainer.explain>` does with the results of an
explainer's hooks: it splits them into arrays and extra fields, and selects the outputs that
``target`` asks for.
"""

import numpy as np


def split_results(results, hook, n_arrays):
    """The ``n_arrays`` items a hook returned, and its extra fields (a dict, ``{}`` if none).

    ``_explain`` returns 3 items and ``_explain_target`` 4, each optionally followed by a dict
    of extra fields for the explanation (see :meth:`sklxai.BaseExplainer._make_explanation`).
    """
    results = tuple(results)
    if len(results) == n_arrays:
        return results, {}
    if len(results) == n_arrays + 1 and isinstance(results[-1], dict):
        return results[:-1], results[-1]
    raise TypeError(
        f"{hook} returned {len(results)} items; it returns {n_arrays} arrays, optionally "
        "followed by a dict of extra fields for the explanation (see "
        "BaseExplainer._make_explanation).")


def select_target(values, base, output, target, output_names):
    """The outputs ``target`` selects of every output's values (n, d, k), base values and
    outputs (n, k), and the explanation's output names.

    ``target`` is what ``check_target`` resolved: None (every output; the output axis is
    dropped when there is one output), a position (that output for every row) or an array of
    one position per row (output names then None).
    """
    if target is None:
        if values.shape[2] == 1:
            return values[:, :, 0], base[:, 0], output[:, 0], output_names
        return values, base, output, output_names
    if np.ndim(target) == 0:
        return (values[:, :, target], base[:, target], output[:, target],
                [output_names[target]])
    rows = np.arange(values.shape[0])
    return values[rows, :, target], base[rows, target], output[rows, target], None
