"""The Gaussian-copula conditional game: the Gaussian game on normal scores of the empirical
marginals (Aas, Jullum & Loland 2021), for skewed and discrete columns."""

import torch

from sklxai.games.gaussian import GaussianGame


class CopulaGame(GaussianGame):
    """Conditional game of a Gaussian copula with the data's empirical marginals.

    Each column j is mapped to normal scores z_j = Phi^-1(F_j(x_j)), F_j the empirical
    distribution of fit's column j (the mid-point of its jump at x_j, so that tied values, as
    in discrete columns, share one score inside their step); the scores' mean and Ledoit-Wolf
    covariance are fitted, the removed features' scores are drawn from the Gaussian conditional
    given the kept features' scores (as in :class:`~sklxai.games.GaussianGame`), and each draw
    is mapped back through F_j's quantile function: the smallest of fit's values whose
    empirical distribution reaches Phi(z). Draws therefore take only values seen in fit's data
    (a discrete column stays discrete, a skewed one keeps its tail).

    Kept discrete values are conditioned on through their mid-point score, an approximation of
    conditioning on the whole step of F_j that grows coarser as the steps grow larger.

    Parameters
    ----------
    n_samples : int
        Draws of the removed features per (row, coalition).
    random_state : int or None
        Seed of the draws; None takes the explainer's ``random_state``.
    batch_size : int or None
        Model rows per forward call; None takes the explainer's.

    Attributes
    ----------
    mean_ : ndarray of shape (d,)
    covariance_ : ndarray of shape (d, d)
        The fitted normal's parameters on the normal scores.
    n_features_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklxai import KernelSHAP
    >>> X = np.exp(np.random.default_rng(0).normal(size=(300, 3)))
    >>> model = LinearRegression().fit(X, X.sum(axis=1))
    >>> KernelSHAP(model, game="copula", device="cpu", random_state=0).fit(X).explain(
    ...     X[:2]).values.shape
    (2, 3)
    """

    def _scores(self, X):
        self._sorted = torch.sort(X, dim=0).values  # (n, d): each column's quantile table
        return self._to_scores(X, torch.arange(X.shape[1], device=X.device))

    def _state(self):
        return {**super()._state(), "quantiles": self._sorted}

    def _set_state(self, tensors, background):
        self._sorted = tensors["quantiles"].double().to(self.device)
        super()._set_state(tensors, background)

    def _to_scores(self, X, columns):
        """Normal scores of X's columns (rows, len(columns)) under F_j of those columns."""
        table = self._sorted[:, columns].T.contiguous()  # (c, n)
        values = X.T.contiguous()  # (c, rows)
        below = torch.searchsorted(table, values, right=False)
        upto = torch.searchsorted(table, values, right=True)
        n = table.shape[1]
        u = ((below + upto).double() / (2 * n)).clamp(0.5 / n, 1 - 0.5 / n)
        return torch.special.ndtri(u).T

    def _from_scores(self, Z, columns):
        """Draws in score space (p, s, c) back to fit's values of those columns."""
        n = self._sorted.shape[0]
        u = torch.special.ndtr(Z)
        index = (torch.ceil(u * n) - 1).clamp(0, n - 1).long()  # (p, s, c)
        table = self._sorted[:, columns]  # (n, c)
        flat = index.reshape(-1, len(columns))
        return torch.gather(table, 0, flat).reshape(Z.shape)
