"""Faithfulness correlation (Bhatt, Weller & Moura, IJCAI 2020).

For random subsets S of features, the drop of the model's score when S is set to a baseline,
f(x) - f(x with S removed), should follow the total attribution of S: the metric is their Pearson
correlation over the subsets, one number per row (1 is best).
"""

import numbers

import numpy as np

from sklxai.metrics._common import (
    attribution_players,
    masked_scores,
    player_setup,
    prepare,
    resolve_targets,
)
from sklxai.utils.validation import check_positive_int, seed_from


def faithfulness_correlation(model, X, attributions, *, target=None, baseline=0.0,
                             subset_size=0.25, n_subsets=50, image_shape=None, patch_size=None,
                             random_state=None, device="auto", batch_size=None):
    """Pearson correlation between attribution sums and output drops over random subsets.

    For each row, ``n_subsets`` subsets S of ``subset_size`` features are drawn uniformly; for
    each, ``sum_{i in S} a_i`` is paired with ``f_t(x) - f_t(x_S <- baseline)``, and the
    correlation of the two over the subsets is the row's score.

    Parameters
    ----------
    model : skorch net, torch.nn.Module, scikit-learn estimator or ModelAdapter
        A fitted model; classifiers are scored on their probabilities.
    X : array-like of shape (n, d)
        Rows in the model's input space: images (n, C, H, W) or (n, H, W), or flattened in
        (C, H, W) order with ``image_shape``.
    attributions : Explanation or array-like
        As in :func:`~sklxai.metrics.deletion_curve`: (n, d), (n, d, k) (the scored output's slice), or for
        images (n, C, H, W) or a spatial map (n, H, W).
    target : None, int, label or array of int (n,)
        The output scored. None: each row's predicted output.
    baseline : float or array-like of shape (d,) or (n, d), default=0.0
        Value that removed features take.
    subset_size : int or float, default=0.25
        Features per subset: an int, or a fraction in (0, 1) of the features (at least one).
        With ``image_shape``, counted in pixel locations (or patches).
    n_subsets : int, default=50
        Random subsets per row (at least 2).
    image_shape : tuple (C, H, W) or (H, W), optional
        For images: a pixel location is removed with all its channels. Read from image input;
        needed for flattened images only.
    patch_size : int, optional
        With ``image_shape``: subsets of square patches instead of pixels.
    random_state : None, int, RandomState or Generator
        Seeds the subsets.
    device : "auto", str or torch.device, default="auto"
    batch_size : int, optional
        Model rows per call.

    Returns
    -------
    correlation : ndarray of shape (n,)
        One correlation per row, in [-1, 1]; NaN for a row whose attribution sums or output
        drops do not vary over the subsets (e.g. all-zero attributions). Use ``np.nanmean``
        to summarise.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai.metrics import faithfulness_correlation
    >>> model = torch.nn.Linear(4, 1, bias=False)
    >>> X = np.random.default_rng(0).normal(size=(3, 4))
    >>> exact = X * model.weight.detach().numpy()   # the linear model's contributions
    >>> faithfulness_correlation(model, X, exact, random_state=0, device="cpu").round(6)
    array([1., 1., 1.])
    """
    adapter, X, batch_size, input_shape = prepare(model, X, device=device,
                                                  batch_size=batch_size)
    n, d = X.shape
    shape, owner, n_players, B = player_setup(n, d, baseline, image_shape, patch_size,
                                              input_shape)
    n_subsets = check_positive_int(n_subsets, "n_subsets", minimum=2)
    size = _subset_size(subset_size, n_players)
    fx = adapter.predict(X, batch_size)
    targets = resolve_targets(adapter, target, fx)
    scores = attribution_players(attributions, targets, target is not None, shape, owner,
                                 n_players)
    rng = np.random.default_rng(seed_from(random_state))

    # rows are processed in blocks so that the subset masks stay bounded for wide inputs
    rows_per_block = max(1, batch_size // n_subsets)
    out = np.empty(n)
    for r0 in range(0, n, rows_per_block):
        idx = np.arange(r0, min(n, r0 + rows_per_block))
        # uniform subsets of `size` players: the `size` smallest of i.i.d. uniform keys
        keys = rng.random((len(idx), n_subsets, n_players))
        chosen = np.argpartition(keys, size - 1, axis=2)[:, :, :size]
        removed = np.zeros(keys.shape, dtype=bool)
        np.put_along_axis(removed, chosen, True, axis=2)
        attr_sum = (removed * scores[idx, None, :]).sum(axis=2)
        rows = np.repeat(idx, n_subsets)
        perturbed = masked_scores(adapter, X, B, targets, rows,
                                  ~removed.reshape(-1, n_players), owner, batch_size)
        drop = fx[idx, targets[idx]][:, None] - perturbed.reshape(len(idx), n_subsets)
        out[idx] = _pearson_rows(attr_sum, drop)
    return out


def _subset_size(subset_size, n_players):
    if isinstance(subset_size, (float, np.floating)):
        if not 0 < subset_size < 1:
            raise ValueError(
                f"subset_size={subset_size} as a fraction must be in (0, 1); give an int for a "
                "number of features."
            )
        return max(1, int(np.rint(subset_size * n_players)))
    if isinstance(subset_size, bool) or not isinstance(subset_size, numbers.Integral):
        raise TypeError(f"subset_size must be an int or a float in (0, 1); got {subset_size!r}.")
    if not 1 <= subset_size <= n_players:
        raise ValueError(
            f"subset_size={subset_size} must be between 1 and the number of features "
            f"({n_players})."
        )
    return int(subset_size)


def _pearson_rows(a, b):
    """Pearson correlation of each row of a with the same row of b; NaN when one is constant."""
    # attribution sums are float64 sums in varying order: a spread within rounding of their
    # size is no variation (a constant map must give NaN, not a correlation with noise)
    flat_a = np.ptp(a, axis=1) <= 1e-9 * np.abs(a).max(axis=1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    num = (a * b).sum(axis=1)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    constant = flat_a | (den == 0)
    r = num / np.where(constant, 1.0, den)
    return np.where(constant, np.nan, np.clip(r, -1.0, 1.0))
