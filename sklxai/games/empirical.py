"""The empirical conditional game: background rows weighted by their Mahalanobis closeness to x
on the kept features (the "empirical" method of Aas, Jullum & Loland 2021, as in shapr)."""

import numpy as np
import torch

from sklxai.games.conditional import ConditionalGame
from sklxai.utils import param_validation as pv


class EmpiricalGame(ConditionalGame):
    """Conditional game of kernel-weighted background rows.

    v_x(S) = sum_b w_S(x, b) f(x_S, b_not S) / sum_b w_S(x, b) over the background rows b, with

    - D_S(x, b)^2 = (x_S - b_S)^T Sigma_SS^-1 (x_S - b_S) / ``|S|``\\ :sup:`2`: the Mahalanobis
      distance on the kept features, Sigma the sample covariance of fit's rows, scaled by the
      number of kept features as shapr scales it (its ``mahalanobis_distance_cpp`` with
      ``S_scale_dist = TRUE`` divides the squared distance by ``|S|``\\ :sup:`2`);
    - w_S(x, b) = exp(-D_S(x, b)^2 / (2 sigma^2)), sigma = ``sigma`` (shapr's
      ``empirical.fixed_sigma``, 0.1);
    - truncation: only the largest weights that together carry ``eta`` of the total weight are
      kept (shapr's ``empirical.eta``, 0.95), i.e. the rows whose weight is at least that of the
      row where the cumulative share, from the largest weight down, first reaches ``eta``
      (rows tied with it are kept too). The kept weights are renormalised.

    The empty coalition weights every background row alike (v(empty) is the background's mean
    output, as in the marginal game) and the full coalition is f(x). Unlike shapr, the number
    of kept rows is not capped by a separate ``n_samples``: the background (``n_background``)
    bounds it. The game draws nothing: its values carry no Monte Carlo noise. Feature groups
    are conditioned on as blocks.

    Parameters
    ----------
    sigma : float
        Kernel bandwidth on the scaled distance.
    eta : float in (0, 1]
        Share of the total weight the kept rows carry.
    batch_size : int or None
        Model rows per forward call; None takes the explainer's.

    Attributes
    ----------
    covariance_ : ndarray of shape (d, d)
        The covariance of the Mahalanobis distance.
    n_features_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklxai import PermutationSHAP
    >>> from sklxai.games import EmpiricalGame
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> model = LinearRegression().fit(X, X.sum(axis=1))
    >>> PermutationSHAP(model, game=EmpiricalGame(sigma=0.2), device="cpu",
    ...                 random_state=0).fit(X).explain(X[:2]).values.shape
    (2, 3)
    """

    def __init__(self, *, sigma=0.1, eta=0.95, batch_size=None):
        super().__init__(random_state=None, batch_size=batch_size)
        self.sigma = sigma
        self.eta = eta

    def _fit_distribution(self, X, background):
        d = X.shape[1]
        self._prepare(torch.cov(X.T).reshape(d, d), background)

    def _state(self):
        return {"covariance": self.covariance_}

    def _set_state(self, tensors, background):
        self._prepare(tensors["covariance"].double().to(self.device), background)

    def _prepare(self, cov, background):
        """Settings checked, the covariance and background set, v(empty) computed."""
        pv.real_in(0, np.inf)(self.sigma, "sigma")
        pv.real_in(0, 1, inclusive=(False, True))(self.eta, "eta")
        if background.dim() != 2 or background.shape[0] == 0:
            raise ValueError("EmpiricalGame needs a non-empty background of rows to weight.")
        self.n_features_ = cov.shape[0]
        self.covariance_ = cov.cpu().numpy()
        self._cov = cov
        self.background = background
        self._bg = background.to(self._input_dtype)
        out = self._call_model(self._bg).double().mean(dim=0)
        self._empty = (out, torch.zeros_like(out))

    def _rows_per_pair(self):
        return self.background.shape[0]

    def _weights(self, X, rows, masks):
        """The truncated, normalised weights (P, B) of the background rows for each pair, all
        pairs at once: with D the kept columns' indicator, the pseudo-inverse of
        D Sigma D + (I - D), kept block only, is Sigma_SS^+ where Sigma_SS sits."""
        P, d = masks.shape
        bg = self.background
        patterns, inverse = torch.unique(masks, dim=0, return_inverse=True)
        keep = patterns.double()
        A = keep[:, :, None] * self._cov * keep[:, None, :] + torch.diag_embed(1.0 - keep)
        metric = torch.linalg.pinv(A, hermitian=True) * keep[:, :, None] * keep[:, None, :]
        size = keep.sum(dim=1)  # |S|
        diff = (X.double()[rows][:, None, :] - bg[None, :, :]) * masks[:, None, :]  # (P, B, d)
        dist2 = (torch.einsum("pbi,pij->pbj", diff, metric[inverse]) * diff).sum(dim=-1)
        dist2 = dist2 / size.clamp(min=1)[inverse, None] ** 2
        logw = -dist2 / (2 * self.sigma**2)
        w = torch.exp(logw - logw.max(dim=1, keepdim=True).values)
        w = _truncate(w / w.sum(dim=1, keepdim=True), self.eta)
        # v(empty): the background's mean; v(N): f(x) (every row alike, no truncation)
        ends = (size[inverse] == 0) | (size[inverse] == d)
        return torch.where(ends[:, None], torch.full_like(w, 1.0 / bg.shape[0]), w)

    def _evaluate_chunk(self, X, rows, masks):
        w = self._weights(X, rows, masks)
        inputs = torch.where(masks[:, None, :], X[rows][:, None, :], self._bg[None, :, :])
        return self._mean_and_variance(inputs, w)


def _truncate(w, eta):
    """Keep, per row of normalised weights w (P, B), the largest weights that carry ``eta`` of
    the mass (ties with the last one kept included), renormalised."""
    if eta >= 1:
        return w
    ordered = torch.sort(w, dim=1, descending=True).values
    reach = (ordered.cumsum(dim=1) >= eta - 1e-12).double().argmax(dim=1)
    threshold = ordered.gather(1, reach[:, None])
    kept = torch.where(w >= threshold, w, torch.zeros_like(w))
    return kept / kept.sum(dim=1, keepdim=True)
