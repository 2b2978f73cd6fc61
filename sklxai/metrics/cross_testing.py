"""Cross-testing: the salient features found from one model's explanations, scored by others.

In the evaluations of the Bort and SAMP papers (zbr17), an attribution map of model A orders the
features, and the deletion (or insertion) AUC of model B under that order shows whether A's
explanation points at evidence that B uses too. The diagonal is each model scored on its own
explanations, i.e. the ordinary :func:`~sklxai.metrics.deletion_auc`.
"""

from dataclasses import dataclass, field

import numpy as np

from sklxai._explanation_io import _import_pandas
from sklxai.metrics._common import (
    attribution_players,
    order_ranks,
    player_setup,
    prepare,
    resolve_targets,
)
from sklxai.metrics.deletion import _MODES, _auc, curve_scores, step_counts


@dataclass
class CrossTestingResult:
    """The matrix of a cross-test.

    Attributes
    ----------
    scores : ndarray of shape (n_explanations, n_models)
        ``scores[a, b]``: mean over rows of the AUC of model b's score when features are
        removed (or inserted) in the order of explanation a.
    per_row : ndarray of shape (n_explanations, n_models, n)
        The AUC of every row, before averaging.
    explanation_names : list of str
        Row labels (the keys of ``explanations``).
    model_names : list of str
        Column labels (the keys of ``models``).
    metric : {"deletion", "insertion"}
        Lower is better for deletion, higher for insertion.
    """

    scores: np.ndarray
    per_row: np.ndarray = field(repr=False)
    explanation_names: list
    model_names: list
    metric: str

    def to_frame(self):
        """``scores`` as a pandas DataFrame: index = explanations, columns = scoring models."""
        pd = _import_pandas()
        return pd.DataFrame(
            self.scores,
            index=pd.Index(self.explanation_names, name="explanations of"),
            columns=pd.Index(self.model_names, name="scored by"),
        )


def cross_testing(models, explanations, X, *, metric="deletion", target=None, baseline=0.0,
                  n_steps=None, step_size=None, image_shape=None, patch_size=None,
                  device="auto", batch_size=None):
    """Score every model under the feature order of every explanation.

    Parameters
    ----------
    models : dict of str to model
        The scoring models (skorch nets, torch modules, scikit-learn estimators), all taking the
        same inputs X.
    explanations : dict of str to Explanation or array-like
        Attributions of the rows of X, e.g. ``{name: explanation of models[name] on X}``; keys
        need not be model names (a random map, another method...). Shapes as in
        :func:`~sklxai.metrics.deletion_curve`.
    X : array-like of shape (n, d)
        The rows explained: images (n, C, H, W) or (n, H, W), or flattened in (C, H, W)
        order with ``image_shape``.
    metric : {"deletion", "insertion"}, default="deletion"
        Which curve's area is reported.
    target : None, int, label or array of int (n,)
        The output scored. None: each scoring model's own predicted class at the intact row
        (so the diagonal equals ``deletion_auc(model, X, its explanation)``). Pass the true
        labels ``y`` to score every model on the true class. Explanations with several outputs,
        (n, d, k), are ranked by the slice of ``target``, or without it of the class their own
        model predicts.
    baseline, n_steps, step_size, image_shape, patch_size, device, batch_size
        As in :func:`~sklxai.metrics.deletion_curve`.

    Returns
    -------
    result : CrossTestingResult
        ``result.scores[a, b]`` is the mean AUC of model b under explanation a's order;
        ``result.to_frame()`` gives it as a labelled DataFrame.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai.metrics import cross_testing
    >>> _ = torch.manual_seed(0)
    >>> models = {"a": torch.nn.Linear(4, 1), "b": torch.nn.Linear(4, 1)}
    >>> X = np.random.default_rng(0).normal(size=(5, 4))
    >>> exps = {k: X * m.weight.detach().numpy() for k, m in models.items()}
    >>> res = cross_testing(models, exps, X, device="cpu")
    >>> res.scores.shape, res.explanation_names, res.model_names
    ((2, 2), ['a', 'b'], ['a', 'b'])
    """
    if metric not in _MODES:
        raise ValueError(f"metric={metric!r}; use one of {list(_MODES)}.")
    models = _check_named(models, "models")
    explanations = _check_named(explanations, "explanations")

    # every scoring model: adapter, inputs, per-row targets
    scorers = {}
    for name, model in models.items():
        adapter, X_arr, bs, input_shape = prepare(model, X, device=device,
                                                  batch_size=batch_size)
        targets = resolve_targets(adapter, target, adapter.predict(X_arr, bs))
        scorers[name] = (adapter, X_arr, bs, targets)
    first = next(iter(scorers.values()))
    X_arr = first[1]
    n, d = X_arr.shape
    shape, owner, n_players, B = player_setup(n, d, baseline, image_shape, patch_size,
                                              input_shape)
    counts = step_counts(n_players, n_steps, step_size)
    fractions = counts / n_players

    ranks = {}
    for name, attributions in explanations.items():
        # the output slice of (n, d, k) attributions: the target as its own model resolves it
        targets = scorers.get(name, first)[3]
        ranks[name] = order_ranks(attribution_players(
            attributions, targets, target is not None, shape, owner, n_players,
            name=f"explanations[{name!r}]"))

    per_row = np.empty((len(ranks), len(scorers), n))
    for i, rank in enumerate(ranks.values()):
        for j, (adapter, X_j, bs, targets) in enumerate(scorers.values()):
            scores = curve_scores(metric, adapter, X_j, B, targets, rank, owner, counts, bs)
            per_row[i, j] = _auc(fractions, scores)
    return CrossTestingResult(per_row.mean(axis=2), per_row, list(ranks), list(scorers), metric)


def _check_named(mapping, name):
    if not isinstance(mapping, dict):
        raise TypeError(
            f"{name} must be a dict {{name: ...}} so that the matrix is labelled; got "
            f"{type(mapping).__name__}."
        )
    if not mapping:
        raise ValueError(f"{name} is empty.")
    return {str(k): v for k, v in mapping.items()}
