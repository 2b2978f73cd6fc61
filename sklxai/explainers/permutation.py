"""PermutationSHAP: Shapley values as averaged marginal contributions along permutations."""

import numpy as np
import torch

from sklxai.explainers._shapley import ShapleyExplainer
from sklxai.utils.validation import check_positive_int


class PermutationSHAP(ShapleyExplainer):
    """Permutation sampling of Shapley values (Strumbelj & Kononenko), antithetic by default.

    For each row, features are added to the coalition in random orders; each feature's value is
    its average marginal contribution. With ``antithetic=True`` every permutation is followed by
    its reverse, which lowers the variance. Every permutation's contributions sum to
    f(x) - E[f], so efficiency holds exactly; the estimate is unbiased. Cost per row:
    ``n_permutations * (d - 1)`` coalitions.

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
    n_permutations : int
        Permutations per row (rounded up to even when ``antithetic``).
    antithetic : bool
        Pair every permutation with its reverse.
    n_jobs : int or None
        Parallel jobs over chunks of rows, through joblib: None means 1 unless inside a
        ``joblib.parallel_config`` context, e.g. ``parallel_config(backend="dask")`` to run on
        a Dask cluster. Every chunk has its own seed, so values do not depend on ``n_jobs``.
    verbose : int
        0: silent; 1: a progress bar over the explained rows.

    Attributes
    ----------
    game_ : sklxai.games.Game
    expected_value_ : ndarray of shape (n_outputs,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklxai import PermutationSHAP
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> model = LinearRegression().fit(X, X @ [1.0, 2.0, 3.0])
    >>> exp = PermutationSHAP(model, n_permutations=4, random_state=0).fit(X).explain(X[:2])
    >>> np.allclose(exp.values, (X[:2] - X.mean(0)) * [1.0, 2.0, 3.0])
    True
    """

    def __init__(self, model, *, background=None, n_background=100, target=None, game="marginal",
                 feature_groups=None, fast_path="auto", n_permutations=10, antithetic=True,
                 n_jobs=None, verbose=0, device="auto", random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, device=device, random_state=random_state,
                         batch_size=batch_size)
        self.game = game
        self.feature_groups = feature_groups
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.n_permutations = n_permutations
        self.antithetic = antithetic

    def _fit_shapley(self, d):
        check_positive_int(self.n_permutations, "n_permutations")

    def _n_perms(self):
        p = self.n_permutations
        return p + (p % 2) if self.antithetic else p

    def _coalitions_per_row(self, d):
        return self._n_perms() * max(d - 1, 1)

    def _shapley_values(self, X, fx, rng):
        n, d = X.shape[0], self._n_players
        P = self._n_perms()
        total = fx - self._null  # (n, k)
        if d == 1:
            return total[:, None, :]
        n_draw = P // 2 if self.antithetic else P
        # drawn on the CPU from numpy so that CPU and GPU runs use the same permutations
        order = np.argsort(rng.random((n, n_draw, d)), axis=2)
        if self.antithetic:
            order = np.concatenate([order, order[:, :, ::-1]], axis=1)
        rank = np.argsort(order, axis=2)  # rank[i] = position of feature i
        rank = torch.as_tensor(rank, device=X.device)
        steps = torch.arange(1, d, device=X.device)
        # prefix of length t holds the features whose rank is < t
        masks = rank[:, :, None, :] < steps[None, None, :, None]  # (n, P, d-1, d)
        v = self._centered_values(X, masks.reshape(n, P * (d - 1), d))
        k = v.shape[-1]
        v = v.reshape(n, P, d - 1, k)
        zero = torch.zeros(n, P, 1, k, dtype=v.dtype, device=v.device)
        full = total[:, None, None, :].expand(n, P, 1, k)
        path = torch.cat([zero, v, full], dim=2)  # values along each permutation, (n,P,d+1,k)
        gains = path[:, :, 1:] - path[:, :, :-1]  # gain at each position
        per_feature = torch.gather(gains, 2, rank[..., None].expand(n, P, d, k))
        return per_feature.mean(dim=1)
