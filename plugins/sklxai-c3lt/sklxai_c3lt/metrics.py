"""Quality of counterfactuals: validity, proximity and realism.

Plain numpy on arrays of any shape ``(n, ...)`` (images are compared flattened), so that any
counterfactual method (C3LT, a gradient baseline) is scored the same way.
"""

import numpy as np


def _flat(X, name):
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim < 2:
        raise ValueError(f"{name} must have a row axis and at least one feature axis; got shape "
                         f"{arr.shape}.")
    return arr.reshape(arr.shape[0], -1)


def validity(predicted, target_class):
    """Share of counterfactuals the classifier assigns to ``target_class``.

    Parameters
    ----------
    predicted : array-like of shape (n,)
        The classifier's predicted class of each counterfactual.
    target_class : label

    Returns
    -------
    validity : float in [0, 1]

    Examples
    --------
    >>> validity([9, 9, 4, 9], 9)
    0.75
    """
    predicted = np.asarray(predicted)
    return float(np.mean(predicted == target_class)) if predicted.size else float("nan")


def proximity(X, X_cf, *, ord=1):
    """Distance of each counterfactual to its query: the L1 (``ord=1``) or L2 (``ord=2``) norm
    of their difference, flattened.

    Parameters
    ----------
    X, X_cf : array-like of shape (n, ...)
        Queries and counterfactuals, the same shape.
    ord : {1, 2}

    Returns
    -------
    distances : ndarray of shape (n,)

    Examples
    --------
    >>> proximity([[0.0, 0.0]], [[3.0, -4.0]], ord=2)
    array([5.])
    """
    A, B = _flat(X, "X"), _flat(X_cf, "X_cf")
    if A.shape != B.shape:
        raise ValueError(f"X and X_cf must have the same shape; got {np.shape(X)} and "
                         f"{np.shape(X_cf)}.")
    if ord not in (1, 2):
        raise ValueError(f"ord must be 1 or 2; got {ord!r}.")
    return np.linalg.norm(B - A, ord=ord, axis=1)


def realism(X_cf, X_reference):
    """Euclidean distance of each counterfactual to its nearest real example (``X_reference``,
    e.g. the training rows of the target class): small when it looks like real data.

    Parameters
    ----------
    X_cf : array-like of shape (n, ...)
    X_reference : array-like of shape (m, ...)
        One item of each has the same shape.

    Returns
    -------
    distances : ndarray of shape (n,)

    Examples
    --------
    >>> realism([[0.0, 1.0]], [[0.0, 0.0], [0.0, 3.0]])
    array([1.])
    """
    A, R = _flat(X_cf, "X_cf"), _flat(X_reference, "X_reference")
    if A.shape[1] != R.shape[1] or len(R) == 0:
        raise ValueError(f"X_reference must hold at least one item of the counterfactuals' size "
                         f"{A.shape[1]}; got shape {np.shape(X_reference)}.")
    out = np.empty(len(A))
    for start in range(0, len(A), 1024):  # (chunk, m) distances at a time
        part = A[start:start + 1024]
        d2 = (part ** 2).sum(1)[:, None] - 2 * part @ R.T + (R ** 2).sum(1)[None, :]
        out[start:start + 1024] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


def counterfactual_scores(X, X_cf, predicted, target_class, X_reference):
    """The four summary numbers of a set of counterfactuals.

    Parameters
    ----------
    X, X_cf : array-like of shape (n, ...)
        Queries and their counterfactuals.
    predicted : array-like of shape (n,)
        The classifier's class of each counterfactual.
    target_class : label
    X_reference : array-like of shape (m, ...)
        Real examples of the target class.

    Returns
    -------
    scores : dict
        ``validity`` (share classified as ``target_class``), ``l1`` and ``l2`` (mean distance to
        the query), ``realism`` (mean distance to the nearest real example), ``n`` (rows).

    Examples
    --------
    >>> s = counterfactual_scores([[0.0, 0.0]], [[3.0, 4.0]], [1], 1, [[3.0, 5.0]])
    >>> s["validity"], s["l1"], s["l2"], s["realism"]
    (1.0, 7.0, 5.0, 1.0)
    """
    return {
        "validity": validity(predicted, target_class),
        "l1": float(proximity(X, X_cf, ord=1).mean()),
        "l2": float(proximity(X, X_cf, ord=2).mean()),
        "realism": float(realism(X_cf, X_reference).mean()),
        "n": int(np.shape(X_cf)[0]),
    }
