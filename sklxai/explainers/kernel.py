"""KernelSHAP: Shapley values as a constrained weighted least-squares fit over coalitions.

The coalition design (:func:`kernel_coalitions`) and the solver (:func:`solve_kernel_shap`) are
plain functions, so other estimators can reuse them.
"""

import math

import numpy as np
import torch

from sklxai.explainers._shapley import ShapleyExplainer, all_masks, kernel_size_mass
from sklxai.utils.validation import check_positive_int


def kernel_coalitions(d, n_coalitions, rng, *, paired=True):
    """Coalitions and Shapley-kernel weights for KernelSHAP.

    With a budget of at least 2**d - 2, every non-trivial coalition is used with its exact
    kernel weight, and the solution is the exact Shapley value. Otherwise, as in
    ``shap.KernelExplainer``, coalition sizes are taken from the outside in (1 and d-1 first):
    a size pair whose subsets the budget can expect to cover is enumerated with exact weights;
    the rest of the budget samples the remaining sizes from the kernel (size s with probability
    proportional to (d-1)/(s(d-s)), then a uniform subset of that size), each with its
    complement when ``paired``, sharing the remaining kernel mass equally.

    Parameters
    ----------
    d : int
        Number of features (>= 2).
    n_coalitions : int
        Budget of coalitions (excluding the empty and the full one).
    rng : numpy.random.Generator
    paired : bool
        Sample each coalition together with its complement (antithetic; lower variance).

    Returns
    -------
    masks : bool ndarray of shape (m, d)
    weights : float64 ndarray of shape (m,)
        Kernel weights, summing to the total kernel mass sum_s (d-1)/(s(d-s)).
    """
    if n_coalitions >= 2**d - 2:
        masks = all_masks(d).numpy()
        sizes = masks.sum(axis=1)
        masks = masks[(sizes > 0) & (sizes < d)]
        sizes = masks.sum(axis=1)
        mass = kernel_size_mass(d)
        binom = np.array([math.comb(d, s) for s in range(d + 1)], dtype=np.float64)
        return masks, mass[sizes - 1] / binom[sizes]
    mass = kernel_size_mass(d)  # index s-1
    chosen, weights = [], []
    remaining = n_coalitions
    left = list(range(1, d))  # sizes not enumerated yet
    for s in range(1, d // 2 + 1):
        pair = [s] if s == d - s else [s, d - s]
        n_subsets = sum(math.comb(d, t) for t in pair)
        share = sum(mass[t - 1] for t in pair) / sum(mass[t - 1] for t in left)
        if n_subsets > remaining or remaining * share < n_subsets:
            break
        for t in pair:
            for combo in _combinations(d, t):
                chosen.append(combo)
                weights.append(mass[t - 1] / math.comb(d, t))
            left.remove(t)
        remaining -= n_subsets
    if remaining > 0 and left:
        left = np.array(left)
        p = mass[left - 1] / mass[left - 1].sum()
        n_draws = remaining // 2 if paired else remaining
        n_draws = max(n_draws, 1)
        sizes = rng.choice(left, size=n_draws, p=p)
        keys = rng.random((n_draws, d))
        ranks = keys.argsort(axis=1).argsort(axis=1)
        sampled = ranks < sizes[:, None]
        if paired:
            sampled = np.concatenate([sampled, ~sampled])
        w = mass[left - 1].sum() / len(sampled)
        chosen.extend(sampled)
        weights.extend([w] * len(sampled))
    return np.asarray(chosen, dtype=bool).reshape(-1, d), np.asarray(weights, dtype=np.float64)


def _combinations(d, size):
    from itertools import combinations

    for idx in combinations(range(d), size):
        mask = np.zeros(d, dtype=bool)
        mask[list(idx)] = True
        yield mask


def solve_kernel_shap(masks, weights, values, total):
    """Solve min sum_S w_S (y_S - sum_{i in S} phi_i)^2 subject to sum_i phi_i = total.

    Parameters
    ----------
    masks : tensor (m, d) of 0/1
    weights : tensor (m,)
    values : tensor (n, m, k)
        y_S = v(S) - v(empty) for every row and output.
    total : tensor (n, k)
        v(N) - v(empty): the efficiency constraint.

    Returns
    -------
    phi : tensor (n, d, k), float64; sum over d equals ``total`` to rounding.
    """
    Z = masks.double()
    w = weights.double()
    A = Z.T @ (w[:, None] * Z)  # (d, d), shared by every row and output
    A_inv = torch.linalg.pinv(A)
    b = torch.einsum("md,nmk->ndk", w[:, None] * Z, values.double())
    phi_u = torch.einsum("de,nek->ndk", A_inv, b)
    ones = torch.ones(Z.shape[1], dtype=torch.float64, device=Z.device)
    a1 = A_inv @ ones
    # Lagrange multiplier of the efficiency constraint, then the exact projection onto it
    nu = (phi_u.sum(dim=1) - total) / (ones @ a1)
    phi = phi_u - a1[None, :, None] * nu[:, None, :]
    # remove the last rounding residue so efficiency holds to float64 precision
    return phi + ((total - phi.sum(dim=1)) / Z.shape[1])[:, None, :]


class KernelSHAP(ShapleyExplainer):
    """Kernel SHAP (Lundberg & Lee 2017) on batched torch games.

    Fits the Shapley values as the solution of a weighted least-squares problem over coalitions,
    with the efficiency constraint (values sum to f(x) - E[f]) solved exactly. The same
    coalitions serve every row, so the system is factorised once and all rows are solved in one
    batched product. With ``n_coalitions >= 2**d - 2`` all coalitions are used and the result is
    the exact Shapley value.

    Parameters
    ----------
    model : fitted skorch net, torch.nn.Module or scikit-learn estimator
        See :class:`~sklxai.base.BaseExplainer`.
    background, n_background, target, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer`.
    game : {"marginal", "baseline", "surrogate"}
        The value function.
    feature_groups : dict, list of lists or None
        Explain groups of columns as single players (one-hot blocks, image patches: see
        :func:`~sklxai.games.grouped.image_patch_groups`); every column in exactly one group.
        Values then have one column per group, named by the dict's keys.
    n_coalitions : int
        Coalitions evaluated per row (the empty and the full one are extra and free).
    paired : bool
        Sample coalitions with their complements (paired sampling, Covert & Lee 2021).

    n_jobs : int or None
        Parallel jobs over chunks of rows, through joblib: None means 1 unless inside a
        ``joblib.parallel_config`` context, e.g. ``parallel_config(backend="dask")`` to run on
        a Dask cluster. Every chunk has its own seed, so values do not depend on ``n_jobs``.
    verbose : int
        0: silent; 1: a progress bar over the explained rows.

    Attributes
    ----------
    coalitions_ : bool ndarray of shape (m, d)
        The coalitions used (drawn once in ``fit`` from ``random_state``).
    weights_ : ndarray of shape (m,)
        Their kernel weights.
    expected_value_ : ndarray of shape (n_outputs,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklxai import KernelSHAP
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 4)); y = (X[:, 0] > 0).astype(int)
    >>> clf = LogisticRegression().fit(X, y)
    >>> exp = KernelSHAP(clf, n_background=20, random_state=0).fit(X).explain(X[:3])
    >>> exp.values.shape
    (3, 4, 2)
    """

    def __init__(self, model, *, background=None, n_background=100, target=None, game="marginal",
                 feature_groups=None, fast_path="auto", n_coalitions=2048, paired=True,
                 n_jobs=None, verbose=0, device="auto", random_state=None,
                 batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, device=device, random_state=random_state,
                         batch_size=batch_size)
        self.game = game
        self.feature_groups = feature_groups
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.n_coalitions = n_coalitions
        self.paired = paired

    def _fit_shapley(self, d):
        check_positive_int(self.n_coalitions, "n_coalitions", minimum=2)
        rng = np.random.default_rng(self._seed)
        if d == 1:
            masks, weights = np.zeros((0, 1), dtype=bool), np.zeros(0)
        else:
            masks, weights = kernel_coalitions(d, self.n_coalitions, rng, paired=self.paired)
        self.coalitions_, self.weights_ = masks, weights
        device = self.game_.device
        self._masks = torch.as_tensor(masks, device=device)
        self._weights = torch.as_tensor(weights, dtype=torch.float64, device=device)

    def _coalitions_per_row(self, d):
        return max(1, len(self.coalitions_))

    def _shapley_values(self, X, fx, rng):
        total = fx - self._null
        if self._n_players == 1:  # one feature takes all of f(x) - E[f]
            return total[:, None, :]
        values = self._centered_values(X, self._masks)
        return solve_kernel_shap(self._masks, self._weights, values, total)
