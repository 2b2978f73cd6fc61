"""How an amortized explainer measures its own error on held-out rows of ``fit``.

The reference is computed on the explainer's own game (the same players, background and
outputs): exact enumeration when the players are few, :class:`~sklxai.TreeShapley` for tree
models (the marginal or baseline game; exact, and cheap whatever the number of players), else
KernelSHAP at a large budget (4096 coalitions), whose own standard errors measure the reference's
noise, taken out of the reported error. The error is the relative error of
``docs/design.rst`` ("Measuring"), mean_i ||phi_i - phi*_i|| / mean_i ||phi*_i||, with a
bootstrap interval over the rows.
"""

import time

import numpy as np
import torch

from sklxai.explainers.solvers import (
    combine_exact,
    enumeration_weights,
    kernel_shap_std_errors,
    solve_kernel_shap,
)
from sklxai.utils.memory import chunk_size

#: players up to which "auto" enumerates every coalition (2**12 per row and background row)
EXACT_MAX_PLAYERS = 12
#: half the coalitions of the KernelSHAP reference (one run of twice as many)
KERNEL_COALITIONS = 2048
REFERENCES = ("auto", "exact", "kernel", "tree")
#: players up to which a tree game's coalition values give exact training targets (2**12
#: coalitions per row: about as many model-free evaluations as a KernelSHAP row)
EXACT_TARGET_PLAYERS = 12


class ErrorReport:
    """The outcome of a validation: error, interval, reference, noise and cost.

    Attributes
    ----------
    error : float
        Relative error against the reference (its noise taken out for "kernel").
    interval : tuple of float
        5% and 95% bootstrap quantiles of the error over the held-out rows.
    reference : str
        "exact", "kernel" or "tree".
    noise : float
        The reference's own relative error (0 for exact and tree).
    n_rows : int
    seconds : float
        What the check cost.
    """

    def __init__(self, error, interval, reference, noise, n_rows, seconds):
        self.error, self.interval, self.reference = error, interval, reference
        self.noise, self.n_rows, self.seconds = noise, n_rows, seconds

    def describe(self):
        """One line for people: the error, its interval, the reference and the cost."""
        lo, hi = self.interval
        noise = f", reference noise {self.noise:.1%}" if self.noise else ""
        return (f"{self.error:.1%} (90% interval {lo:.1%}-{hi:.1%}) against {self.reference} "
                f"values on {self.n_rows} held-out rows{noise}; the check took "
                f"{self.seconds:.1f} s")

    __str__ = describe

    def __repr__(self):
        return f"ErrorReport({self.describe()})"


def resolve_reference(choice, n_players, tree_ok):
    """The reference "auto" stands for: tree when the model's trees give the explained
    outputs exactly, exact for few players, else kernel."""
    if choice != "auto":
        return choice
    if tree_ok:
        return "tree"
    return "exact" if n_players <= EXACT_MAX_PLAYERS else "kernel"


def exact_targets_ok(explainer):
    """Whether the explainer's game gives every coalition's value from a tree model's trees
    (:class:`~sklxai.games.TreeGame`, shallow trees, no model calls on hybrids) for at most
    :data:`EXACT_TARGET_PLAYERS` players: exact Shapley values of its training rows are then
    cheap targets, whatever transform of the trees' sum the outputs are (a boosted
    classifier's ``predict_proba`` included)."""
    from sklxai.games.grouped import GroupedGame
    from sklxai.games.trees import TreeGame

    game = explainer.game_
    inner = game.game if isinstance(game, GroupedGame) else game
    return (isinstance(inner, TreeGame) and inner.from_trees_
            and explainer._n_players <= EXACT_TARGET_PLAYERS)


def game_exact_values(game, null, X, n_players):
    """Exact Shapley values (n, d, k), float64 ndarray, of model-space rows ``X`` on ``game``,
    every coalition enumerated, rows in chunks within the memory budget."""
    masks, a, b = enumeration_weights(n_players, game.device)
    k = max(int(torch.as_tensor(null).numel()), 1)
    rows = chunk_size(8 * 3 * len(masks) * k, game.device)  # values, centred, weighted
    out = []
    for start in range(0, len(X), rows):
        Xt = game.as_tensor(X[start : start + rows])
        total = game.full(Xt).double() - null
        values = game.values(Xt, masks).double() - null
        out.append(combine_exact(values, masks, a, b, total).cpu().numpy())
    return np.concatenate(out)


def game_reference(game, null, Xt, n_players, reference, seed):
    """Reference values (n, d, k) and their relative noise on the game, exact or kernel."""
    from sklxai.games.coalitions import StratifiedDesign

    total = game.full(Xt).double() - null
    if reference == "exact":
        masks, a, b = enumeration_weights(n_players, Xt.device)
        values = game.values(Xt, masks).double() - null
        return combine_exact(values, masks, a, b, total), 0.0
    # one KernelSHAP run of twice the coalitions; its own standard errors measure its noise
    design = StratifiedDesign(n_players, 2 * KERNEL_COALITIONS, rule="coverage")
    masks, weights = design.draw(1, generator=np.random.default_rng([seed, 0]))
    masks = torch.as_tensor(masks[0], device=Xt.device)
    weights = torch.as_tensor(weights, dtype=torch.float64, device=Xt.device)
    values = game.values(Xt, masks).double() - null
    reference = solve_kernel_shap(masks, weights, values, total)
    errors = kernel_shap_std_errors(masks, weights, values, reference,
                                    n_enumerated=len(design.enumerated), paired=True)
    # a row's expected error norm is about the root of its summed variances
    size = reference.reshape(len(reference), -1).norm(dim=1).mean().clamp(min=1e-300)
    noise = errors.reshape(len(errors), -1).pow(2).sum(dim=1).sqrt().mean() / size
    return reference, float(torch.nan_to_num(noise, nan=0.0))


def measure(values, reference, noise, reference_name, n_rows, start, seed):
    """An :class:`ErrorReport` of ``values`` against ``reference`` (tensors or arrays)."""
    values = np.asarray(torch.as_tensor(values).double().cpu()).reshape(n_rows, -1)
    reference = np.asarray(torch.as_tensor(reference).double().cpu()).reshape(n_rows, -1)
    err = np.linalg.norm(values - reference, axis=1)
    size = np.linalg.norm(reference, axis=1)
    rng = np.random.default_rng(seed)
    boot = rng.integers(0, n_rows, size=(200, n_rows))
    samples = err[boot].mean(axis=1) / np.maximum(size[boot].mean(axis=1), 1e-300)
    point = err.mean() / max(size.mean(), 1e-300)
    # against a noisy reference the measured error is sqrt(error^2 + noise^2)
    corrected = float(np.sqrt(max(point**2 - noise**2, 0.0)))
    lo, hi = np.quantile(np.sqrt(np.maximum(samples**2 - noise**2, 0.0)), [0.05, 0.95])
    return ErrorReport(corrected, (float(lo), float(hi)), reference_name, float(noise), n_rows,
                       time.perf_counter() - start)


def measure_explainer(explainer, rows, X, tree=None):
    """The :class:`ErrorReport` of a fitted amortized explainer on the held-out rows of its fit
    (its trainer's validation split, ``validation_rows_`` of them: at most
    ``validation_rows``, as many as the validation's time budget allows, see
    :mod:`~sklxai.explainers._budget`): ``rows`` are fit's validated rows, ``X`` the same in
    the model's space, ``tree`` the fit's
    :class:`TreeReference` (one is made when needed and not given)."""
    start = time.perf_counter()
    _, valid = explainer.net_.get_split_datasets(X)
    idx = np.sort(np.asarray(valid.indices))[: explainer.validation_rows_]
    reference = resolve_reference(explainer.validation_reference, explainer._n_players,
                                  tree_reference_ok(explainer))
    game, null = explainer.game_, explainer._null
    Xt = game.as_tensor(X[idx])
    values = explainer._predict(Xt, game.full(Xt).double() - null)
    if reference == "tree":
        tree = TreeReference(explainer) if tree is None else tree
        truth, noise = tree.values(rows[idx]), 0.0
    else:
        truth, noise = game_reference(game, null, Xt, explainer._n_players, reference,
                                      explainer._seed)
    return measure(values, truth, noise, reference, len(idx), start, explainer._seed)


def tree_reference_ok(explainer):
    """Whether TreeShapley gives the explainer's outputs exactly: a tree model (or a column-wise
    Pipeline ending in one) whose trees sum to the explained outputs, on the marginal or
    baseline game."""
    trees = explainer.prepared_.trees
    return (explainer.game in ("marginal", "baseline") and trees is not None
            and trees.link == "identity")


class TreeReference:
    """Exact values on a fitted explainer's game by :class:`~sklxai.TreeShapley`, fitted on
    first use and then shared by the callers of one ``fit`` (the training targets and the
    validation), never kept on the explainer.

    Parameters
    ----------
    explainer : ShapleyExplainer
        Fitted up to its game (``prepared_``, ``background_``).
    """

    def __init__(self, explainer):
        self.explainer = explainer
        self._tree_shapley = None

    def values(self, rows):
        """Exact values (n, d, k) (or (n, d)) of validated ``rows``."""
        explainer = self.explainer
        raw = explainer.prepared_.raw_frame
        if self._tree_shapley is None:
            from sklxai.explainers.tree import TreeShapley

            background = raw(explainer.background_)
            self._tree_shapley = TreeShapley(
                explainer.model_, background=background, game=explainer.game,
                feature_groups=explainer.feature_groups, fast_path=explainer.fast_path,
                device=explainer.device).fit(background)
        return self._tree_shapley.explain(raw(rows)).values
