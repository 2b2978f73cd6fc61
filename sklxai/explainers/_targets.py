"""Training targets of the amortized explainers, kept as per-row sufficient statistics.

SimSHAP's unbiased targets and FastSHAP's weighted least-squares loss are both functions of a
few weighted sums over a row's drawn coalitions S (mask m_S, weight w_S, value
v_S = v(S) - v(empty)). Keeping those sums instead of the draws lets training

- reuse a row's game values in later epochs (the game costs far more than a network step), and
- add new draws to old ones, so that a row's target averages every coalition drawn for it so
  far: still unbiased, with a variance falling as 1 / (number of draws).

The control variate (the explainer's own prediction) enters linearly, so it is applied when the
target is formed, with the network's current prediction, not when the values were drawn.
"""

import torch

from sklxai.games.coalitions import kernel_size_mass


def simshap_weights(masks):
    """a_S^i of SimSHAP's unbiased estimator, for masks (..., d): g(d-|S|) in S, -g|S| out.

    With S from the Shapley kernel (:class:`~sklxai.games.coalitions.StratifiedDesign`, drawn
    from it or importance-weighted), E[a_S^i (v(S) - v(empty))] + (v(N) - v(empty)) / d is the
    Shapley value phi_i, and sum_i a_S^i = 0, so every per-subset target is efficient.
    """
    d = masks.shape[-1]
    size = masks.sum(dim=-1, keepdim=True).to(torch.float32)
    g = _kernel_constant(d)
    return torch.where(masks, g * (d - size), -g * size)


def _kernel_constant(d):
    """g = sum_s (d-1)/(s(d-s)) / (d-1), so that a_S = g (d m_S - |S|)."""
    return float(kernel_size_mass(d).sum()) / (d - 1)


class CoalitionStats:
    """Sums over a row's weighted coalition draws, from which targets and losses are formed.

    For each of n rows, over its drawn coalitions S (masks m_S in {0, 1}^d, weights w_S summing
    to 1 per draw, or in expectation where sizes are importance-sampled, values
    v_S = v(S) - v(empty) in R^k), summed over ``count`` draws:

    - ``C`` (n, d, d): sum w_S m_S m_S^T
    - ``b`` (n, d, k): sum w_S m_S v_S^T
    - ``h`` (n, d): sum w_S |S| m_S
    - ``e`` (n, k): sum w_S |S| v_S
    - ``q`` (n, k): sum w_S v_S^2
    - ``count`` (n,): draws added; ``total`` (n, k): v(N) - v(empty).

    Everything is float32 on the game's device. Rows are selected with :meth:`take` and
    accumulated with :meth:`add`; :meth:`zeros` allocates an empty store for a whole data set.
    """

    _sums = ("C", "b", "h", "e", "q")

    def __init__(self, C, b, h, e, q, count, total):
        self.C, self.b, self.h, self.e, self.q = C, b, h, e, q
        self.count, self.total = count, total

    @classmethod
    def from_draw(cls, masks, weights, values, total):
        """Statistics of one draw: masks (n, M, d) bool, weights (M,) shared by the rows or
        (n, M) per row, values (n, M, k)."""
        m = masks.to(values.dtype)
        weights = weights.to(values.dtype).expand(masks.shape[0], -1)
        wm = m * weights[:, :, None]
        w_size = weights * m.sum(dim=-1)  # (n, M)
        return cls(
            C=torch.einsum("nmd,nme->nde", wm, m),
            b=torch.einsum("nmd,nmk->ndk", wm, values),
            h=torch.einsum("nm,nmd->nd", w_size, m),
            e=torch.einsum("nm,nmk->nk", w_size, values),
            q=torch.einsum("nm,nmk->nk", weights, values**2),
            count=torch.ones(masks.shape[0], dtype=values.dtype, device=values.device),
            total=total,
        )

    @classmethod
    def zeros(cls, n, d, k, device):
        """An empty store for n rows (every count 0)."""
        def z(*shape):
            return torch.zeros(*shape, dtype=torch.float32, device=device)

        return cls(z(n, d, d), z(n, d, k), z(n, d), z(n, k), z(n, k), z(n), z(n, k))

    @staticmethod
    def nbytes(n, d, k):
        """Memory of :meth:`zeros` for n rows, in bytes."""
        return 4 * n * (d * d + d * k + d + 3 * k + 1)

    def take(self, rows):
        """The statistics of ``rows`` (an index tensor), as a new object."""
        return CoalitionStats(*(getattr(self, f)[rows] for f in self._sums),
                              self.count[rows], self.total[rows])

    def add(self, rows, other):
        """Add ``other``'s draws (one row of ``other`` per entry of ``rows``) in place."""
        for f in self._sums:
            getattr(self, f)[rows] += getattr(other, f).to(torch.float32)
        self.count[rows] += other.count.to(torch.float32)
        self.total[rows] = other.total.to(torch.float32)

    def _mean(self, name):
        value = getattr(self, name)
        return value / self.count.reshape(-1, *([1] * (value.dim() - 1)))

    def simshap_targets(self, control=None):
        """SimSHAP's unbiased, efficient per-row targets (n, d, k), averaged over the draws.

        target = c + sum_S w_S a_S (v_S - sum_{j in S} c_j) + (v(N) - v(empty) - sum c) / d,
        with a_S = g (d m_S - |S|) (:func:`simshap_weights`), unbiased for any c fixed given
        the row (the additive game of c has Shapley values c); ``control`` (n, d, k) is c,
        None for c = 0.
        """
        d = self.C.shape[-1]
        g = _kernel_constant(d)
        b, e = self._mean("b"), self._mean("e")
        target = g * (d * b - e[:, None, :])
        if control is not None:
            C, h = self._mean("C"), self._mean("h")
            covered = d * torch.einsum("nde,nek->ndk", C, control) \
                - torch.einsum("ne,nek->nk", h, control)[:, None, :]
            target = target + control - g * covered
            remainder = self.total - control.sum(dim=1)
        else:
            remainder = self.total
        return target + (remainder / d)[:, None, :]

    def kernel_loss(self, phi):
        """FastSHAP's loss: sum_S w_S (v_S - sum_{i in S} phi_i)^2, averaged over rows, outputs.

        Expanded as q - 2 phi^T b + phi^T C phi (per output), averaged over the draws; formed in
        float64, where the expansion loses nothing to cancellation at the residuals seen here.
        """
        phi = phi.to(torch.float64)
        C, b, q = (self._mean(f).to(torch.float64) for f in ("C", "b", "q"))
        quad = torch.einsum("ndk,nde,nek->nk", phi, C, phi)
        per_row = q - 2 * torch.einsum("ndk,ndk->nk", phi, b) + quad
        return per_row.mean()
