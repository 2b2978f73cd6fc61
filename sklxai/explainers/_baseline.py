"""Array baselines checked against what an explainer was fitted on (rows or images)."""

import numpy as np

from sklxai.utils.validation import check_numeric, check_tabular, is_dataframe


def baseline_rows(explainer, baseline, d):
    """An array-like ``baseline`` as validated, range-checked flat rows of fit's kind.

    Parameters
    ----------
    explainer : BaseExplainer
        Fitted up to its ``prepared_`` (the input's kind, feature names, precision).
    baseline : array-like
        One row (d,) or one per explained row (n, d); for an explainer fitted on images one
        image (C, H, W) or one per row (n, C, H, W).
    d : int
        The number of features of a row.

    Returns
    -------
    rows : ndarray of shape (m, d)
        The rows (raw, not yet in model space).
    one : bool
        Whether a single row (image) was given.
    """
    name = type(explainer).__name__
    owner = f"{name} (from fit's X)"
    shape = explainer.prepared_.input_shape
    if shape is not None:  # images: one image, or one per explained row
        arr = check_numeric(baseline, "baseline")
        one = arr.shape == shape
        if not one and arr.shape[1:] != shape:
            raise ValueError(
                f"baseline has shape {arr.shape}, but {name} was fitted on images of shape "
                f"{shape}; give one image of shape {shape} or one per explained row, "
                f"(n, {', '.join(map(str, shape))})."
            )
        rows = explainer.prepared_.validate(arr[None] if one else arr, name="baseline",
                                            owner=owner)
    else:
        arr = baseline if is_dataframe(baseline) else np.asarray(baseline, dtype=np.float64)
        one = np.ndim(arr) == 1
        rows = check_tabular(arr.reshape(1, -1) if one else arr, name="baseline",
                             feature_names=explainer.prepared_.feature_names, n_features=d,
                             owner=owner)
    explainer._check_range(rows, "baseline")
    return rows, one
