"""The Gaussian conditional game: removed features drawn from a multivariate normal given the
kept ones (Aas, Jullum & Loland 2021)."""

import torch

from sklxai.games.conditional import ConditionalGame, normal_pool, pair_keys, pool_indices
from sklxai.utils import param_validation as pv

#: conditional covariances are factored after adding this multiple of their mean diagonal
_JITTER = 1e-10
#: the least number of draws of the base value v(empty)
_EMPTY_DRAWS = 10_000


class GaussianGame(ConditionalGame):
    """Conditional game of a multivariate normal fitted to the data.

    v_x(S) = E f(x_S, Z) with Z ~ N(mu_R + Sigma_RS Sigma_SS^-1 (x_S - mu_S),
    Sigma_RR - Sigma_RS Sigma_SS^-1 Sigma_SR), R the features outside S, estimated by the mean of
    f over ``n_samples`` draws of Z. The mean mu is fit's column means and Sigma its Ledoit-Wolf
    shrunk covariance (:class:`sklearn.covariance.LedoitWolf`), in the model's columns. The
    conditional mean maps (Sigma_RS Sigma_SS^-1) and the Cholesky factors of the conditional
    covariances of every distinct coalition in a batch come from one batched Cholesky solve on
    the Sigma_SS blocks, and the draws of all of the batch's (row, coalition) pairs from one
    tensor operation. Feature groups are conditioned on as blocks (a coalition
    of groups keeps all of their columns).

    The game suits continuous features whose joint law is roughly normal; for skewed or
    discrete columns see :class:`~sklxai.games.CopulaGame`, for categorical ones
    :class:`~sklxai.games.EmpiricalGame` or the surrogate game.

    Parameters
    ----------
    n_samples : int
        Draws of the removed features per (row, coalition).
    random_state : int or None
        Seed of the draws; None takes the explainer's ``random_state``. The draws of a (row,
        coalition) pair are a fixed function of the row, the coalition and the seed.
    batch_size : int or None
        Model rows per forward call; None takes the explainer's.

    Attributes
    ----------
    mean_ : ndarray of shape (d,)
    covariance_ : ndarray of shape (d, d)
        The fitted normal's parameters (Ledoit-Wolf shrinkage).
    n_features_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklxai import ExactShapley
    >>> from sklxai.games import GaussianGame
    >>> rng = np.random.default_rng(0)
    >>> X = rng.multivariate_normal([0, 0], [[1, 0.9], [0.9, 1]], size=500)
    >>> model = LinearRegression().fit(X, X[:, 0])
    >>> exp = ExactShapley(model, game=GaussianGame(n_samples=200), random_state=0,
    ...                    device="cpu").fit(X).explain(X[:1])
    >>> exp.values.shape, exp.std_errors.shape
    ((1, 2), (1, 2))
    """

    samples = True
    accepts_categorical = False

    def __init__(self, *, n_samples=100, random_state=None, batch_size=None):
        super().__init__(random_state=random_state, batch_size=batch_size)
        self.n_samples = n_samples

    def _fit_distribution(self, X, background):
        from sklearn.covariance import LedoitWolf

        pv.positive_int()(self.n_samples, "n_samples")
        Z = self._scores(X)
        lw = LedoitWolf().fit(Z.cpu().numpy())
        self.mean_, self.covariance_ = lw.location_, lw.covariance_
        self._prepare()

    def _state(self):
        return {"mean": self.mean_, "covariance": self.covariance_}

    def _set_state(self, tensors, background):
        pv.positive_int()(self.n_samples, "n_samples")
        self.mean_ = tensors["mean"].double().numpy()
        self.covariance_ = tensors["covariance"].double().numpy()
        self._prepare()

    def _prepare(self):
        """The device tensors, the pool of draws and v(empty), from ``mean_`` and
        ``covariance_``."""
        self.n_features_ = len(self.mean_)
        self._mu = torch.as_tensor(self.mean_, dtype=torch.float64, device=self.device)
        self._sigma = torch.as_tensor(self.covariance_, dtype=torch.float64, device=self.device)
        self._pool = normal_pool(self.seed_, self.n_features_, self.device)
        d = self.n_features_
        empty = torch.zeros(1, d, dtype=torch.bool, device=self.device)
        # the base value, shared by every row's values: its error shifts them all alike, so it
        # gets many more draws (keyed on a row of zeros)
        draws = self._draws(torch.zeros(1, d, dtype=torch.float64, device=self.device),
                            torch.zeros(1, dtype=torch.long, device=self.device), empty,
                            max(10 * self.n_samples, _EMPTY_DRAWS))
        both = self._mean_and_variance(draws)
        k = both.shape[-1] // 2
        self._empty = (both[0, :k], both[0, k:])

    def _scores(self, X):
        """The columns the normal is fitted on (the identity here; normal scores for the
        copula)."""
        return X

    def _from_scores(self, Z, columns):
        """Draws in score space back to the model's columns (the identity here)."""
        return Z

    def _to_scores(self, X, columns):
        return X

    def _rows_per_pair(self):
        return self.n_samples

    def _patterns(self, patterns):
        """For U coalitions (U, d): the maps from kept deviations x - mu to the conditional
        mean, (U, d, d), nonzero only in each coalition's [removed, kept] block
        (Sigma_RS Sigma_SS^-1), and the Cholesky factors of the conditional covariances, (U, d, d),
        nonzero only in the [removed, removed] block. One batched solve for all of them: with
        D the kept columns' indicator, A = D Sigma D + (I - D) is Sigma_SS on the kept block and
        the identity elsewhere, so A^-1 holds Sigma_SS^-1 where Sigma_SS sits."""
        sigma = self._sigma
        keep = patterns.double()  # (U, d)
        drop = 1.0 - keep
        eye = torch.eye(sigma.shape[0], dtype=torch.float64, device=sigma.device)
        A = keep[:, :, None] * sigma * keep[:, None, :] + torch.diag_embed(drop)
        inv_a = torch.cholesky_inverse(torch.linalg.cholesky(A)) * keep[:, :, None] * \
            keep[:, None, :]
        coef = drop[:, :, None] * (sigma @ inv_a)  # Sigma_RS Sigma_SS^-1 on [R, S]
        cond = drop[:, :, None] * (sigma - coef @ sigma) * drop[:, None, :]
        cond = (cond + cond.transpose(1, 2)) / 2
        scale = (cond.diagonal(dim1=1, dim2=2).sum(dim=1) /
                 drop.sum(dim=1).clamp(min=1))[:, None, None]
        factor = torch.linalg.cholesky(cond + _JITTER * scale * eye * drop[:, None, :]
                                       + torch.diag_embed(keep))
        return coef, factor * drop[:, :, None] * drop[:, None, :]

    def _draws(self, X, rows, masks, n_samples):
        """Model inputs (P, n_samples, d): x on the kept columns, conditional draws elsewhere,
        every pair's draws at once."""
        X64 = X.double()[rows]
        d = masks.shape[1]
        patterns, inverse = torch.unique(masks, dim=0, return_inverse=True)
        coef, factor = self._patterns(patterns)
        keys = pair_keys(X, rows, masks, self.seed_)
        columns = torch.arange(d, device=X.device)
        kept = masks.double()
        deviation = (self._to_scores(X64, columns) - self._mu) * kept  # (P, d), scores
        mean = self._mu + torch.einsum("pij,pj->pi", coef[inverse], deviation)
        eps = self._pool[pool_indices(keys, n_samples, self._pool.shape[0])]  # (P, s, d)
        z = mean[:, None, :] + torch.einsum("psj,pij->psi", eps, factor[inverse])
        inputs = torch.where(masks[:, None, :], X64[:, None, :], self._from_scores(z, columns))
        return inputs.to(self._input_dtype)

    def _evaluate_chunk(self, X, rows, masks):
        full = masks.all(dim=1)
        if bool(full.all()):  # v(N) = f(x), no draws
            out = self._call_model(X[rows], report=True).double()
            return torch.cat([out, torch.zeros_like(out)], dim=-1)
        return self._mean_and_variance(self._draws(X, rows, masks, self.n_samples))
