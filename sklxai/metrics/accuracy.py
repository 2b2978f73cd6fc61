"""Accuracy of attributions against a reference (e.g. exact Shapley values).

The efficiency gap (how far values plus base value are from the model output) is not repeated
here: it is :attr:`sklxai.Explanation.efficiency_gap`.
"""

import numpy as np


def relative_error(values, reference):
    """Relative L2 error of attributions against a reference, over rows.

    ``mean_i ||phi_i - phi*_i||_2 / mean_i ||phi*_i||_2``: the error and the norm of each row
    are taken over all of its entries (features, and outputs for (n, d, k) values), then
    averaged over rows. This is the accuracy figure of the README and the benchmarks.

    Parameters
    ----------
    values : Explanation or array-like of shape (n, ...)
        The attributions to judge.
    reference : Explanation or array-like of the same shape
        The reference attributions, e.g. from :class:`sklxai.ExactShapley`.

    Returns
    -------
    error : float
        0 for a perfect match; 1 is as large as the reference itself (e.g. all-zero values).

    Examples
    --------
    >>> import numpy as np
    >>> from sklxai.metrics import relative_error
    >>> ref = np.array([[3.0, 4.0], [0.0, 5.0]])
    >>> relative_error(ref + [[0.0, 0.5], [0.5, 0.0]], ref)
    0.1
    """
    values, reference = _values(values, "values"), _values(reference, "reference")
    if values.shape != reference.shape:
        raise ValueError(
            f"values has shape {values.shape} but reference has shape {reference.shape}; "
            "compare attributions of the same rows, features and outputs."
        )
    if values.ndim == 0 or len(reference) == 0:
        raise ValueError("relative_error needs at least one row of attributions.")
    n = len(reference)
    diff = np.linalg.norm((values - reference).reshape(n, -1), axis=1)
    return float(diff.mean() / np.linalg.norm(reference.reshape(n, -1), axis=1).mean())


def _values(x, name):
    x = getattr(x, "values", x)  # an Explanation (or a DataFrame): its array of values
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers ({exc}).") from None
