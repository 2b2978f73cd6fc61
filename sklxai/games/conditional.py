"""What the conditional (observational) games share: fitting on data, and seeded draws.

A conditional game values a coalition S by the model's expected output when the features
outside S follow their distribution *given* x_S, v_x(S) = E[f(x_S, X_not S) | X_S = x_S],
instead of their marginal distribution (:class:`~sklxai.games.MarginalGame`). The
distribution is estimated at :meth:`ConditionalGame.fit` from the rows passed to the
explainer's ``fit``: a Gaussian (:class:`~sklxai.games.GaussianGame`), a Gaussian copula
(:class:`~sklxai.games.CopulaGame`) or kernel weights on the background rows
(:class:`~sklxai.games.EmpiricalGame`).

Games that draw the removed features report, with the values, the variance of each value's
Monte Carlo mean (:meth:`ConditionalGame.values_and_variances`), from which explainers derive
the part of their standard errors that the game's own draws cause. The draws are a fixed
function of the row, the coalition and ``random_state`` (a counter-based generator): a
coalition value does not depend on the batch, the chunk of rows or the device it was computed
in, and the same (row, coalition) pair always gets the same value. The draws' standard normal
vectors are rows of a pool drawn once from the seed (:func:`normal_pool`), picked by a hash of the
pair and the draw's number (:func:`pool_indices`): d normal numbers cost one hash, and two draws
share a pool row with probability 1/65,536 (for up to 256 features; the pool has 2**24 numbers
in all for wider data), a negligible correlation between coalition values.
"""

import inspect

import torch

from sklxai.games.marginal import Game

#: the odd constants of splitmix64's finalizer, as signed 64-bit integers
_C1 = 0xBF58476D1CE4E5B9 - 2**64
_C2 = 0x94D049BB133111EB - 2**64
_GOLDEN = 0x9E3779B97F4A7C15 - 2**64


def _signed(value):
    """A Python integer modulo 2**64 as a signed 64-bit integer."""
    value %= 2**64
    return value - 2**64 if value >= 2**63 else value


def _shift_right(z, s):
    """Logical right shift of int64 tensors (torch's ``>>`` is arithmetic)."""
    return (z >> s) & ((1 << (64 - s)) - 1)


def _mix(z):
    """splitmix64's finalizer on an int64 tensor: a bijection whose output bits all depend on
    every input bit (wrapping arithmetic)."""
    z = (z ^ _shift_right(z, 30)) * _C1
    z = (z ^ _shift_right(z, 27)) * _C2
    return z ^ _shift_right(z, 31)


def pair_keys(X, rows, masks, seed):
    """One int64 key per (row, coalition) pair: a hash of the row's values, the coalition and
    ``seed``. X (n, d), rows (P,), masks (P, d) -> (P,)."""
    bits = X.contiguous()
    bits = bits.view(torch.int64 if bits.element_size() == 8 else torch.int32).long()
    key = torch.full((X.shape[0],), _signed(int(seed) * _GOLDEN), dtype=torch.int64, device=X.device)
    for j in range(X.shape[1]):
        key = _mix(key ^ (bits[:, j] + _signed((j + 1) * _GOLDEN)))
    key = key[rows]
    for j in range(masks.shape[1]):
        key = _mix(key ^ (masks[:, j].long() * _signed((j + 1) * _C1)))
    return key


def normal_pool(seed, d, device):
    """A fixed pool of standard normal vectors (rows, d), float64, drawn on the CPU from ``seed``
    (the same on every device): 2**16 rows, fewer for wide data (at most 2**24 numbers, at least
    2**12 rows)."""
    rows = int(min(2**16, max(2**12, 2**24 // max(d, 1))))
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn(rows, d, generator=generator, dtype=torch.float64).to(device)


def pool_indices(keys, n_samples, pool_rows):
    """Which pool rows each pair's draws take, (P, n_samples): a hash of the pair's key and the
    draw's number, uniform over the pool. Two draws share a row with probability 1/pool_rows."""
    draw = torch.arange(n_samples, device=keys.device, dtype=torch.int64)
    z = _mix(keys[:, None] + _mix(draw * _GOLDEN + 1)[None, :])
    return _shift_right(z, 1) % pool_rows


class ConditionalGame(Game):
    """Base of the games fitted on data: v_x(S) = E[f(x_S, X_not S) | X_S = x_S].

    Built unfitted with its settings, so that it can be passed to an explainer as ``game=``;
    the explainer fits a copy on its model's adapter, the rows passed to its ``fit`` and its
    background (:meth:`fit`). Subclasses implement :meth:`_fit_distribution` and
    :meth:`_evaluate_chunk`, which returns the values and, for a game that draws, the variance
    of each value's mean over its draws, concatenated on the last axis.

    Parameters
    ----------
    random_state : int or None
        Seed of the draws; None takes the explainer's ``random_state``.
    batch_size : int or None
        Model rows per forward call; None takes the explainer's (or the adapter's default).

    Examples
    --------
    A fitted game, used on its own (explainers fit theirs):

    >>> import numpy as np, torch
    >>> from sklxai.models import make_adapter
    >>> from sklxai.games import GaussianGame
    >>> X = np.random.default_rng(0).normal(size=(100, 2))
    >>> game = GaussianGame(n_samples=50, random_state=0).fit(
    ...     make_adapter(torch.nn.Linear(2, 1), device="cpu"), X, X[:10])
    >>> values, variances = game.values_and_variances(X[:3], torch.tensor([[True, False]]))
    >>> values.shape, variances.shape
    (torch.Size([3, 1, 1]), torch.Size([3, 1, 1]))
    """

    #: whether values carry Monte Carlo noise (and variances are reported)
    samples = False
    #: whether the game models categorical columns (one-hot blocks, encoded categories)
    accepts_categorical = True

    def __init__(self, *, random_state=None, batch_size=None):
        self.random_state = random_state
        self.batch_size = batch_size
        self.adapter = None

    def fit(self, adapter, X, background):
        """Estimate the game's distribution.

        Parameters
        ----------
        adapter : ModelAdapter
            The model.
        X : array-like of shape (n, d)
            Rows in the model's space (fit's data).
        background : array-like of shape (b, d)
            The explainer's background rows in the model's space.

        Returns
        -------
        self
        """
        X = self._start(adapter, X)
        if X.dim() != 2 or X.shape[0] < 2:
            raise ValueError(f"{type(self).__name__} needs at least two rows to fit its "
                             f"distribution; got shape {tuple(X.shape)}.")
        if not torch.isfinite(X).all():
            raise ValueError(f"{type(self).__name__} needs finite data to fit its "
                             "distribution; the rows passed to fit hold NaN or infinite values. "
                             "Impute them first, or use game='marginal'.")
        self.seed_ = 0 if self.random_state is None else int(self.random_state)
        self._fit_distribution(X, self.as_tensor(background).double())
        return self

    def _start(self, adapter, X):
        """Bind the model; ``X`` as a float64 tensor (its model dtype is the draws')."""
        Game.__init__(self, adapter, batch_size=self.batch_size)
        X = self.as_tensor(X)
        self._input_dtype = X.dtype  # the model's input dtype: draws are cast to it
        return X.double()

    def get_config(self):
        """The game's settings, as its constructor takes them (plain values).

        Returns
        -------
        config : dict
        """
        names = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    def get_state(self):
        """The fitted distribution, for :meth:`restore` (an explainer's ``save`` stores it).

        Returns
        -------
        meta : dict
            The class, its settings (:meth:`get_config`) and the seed of the draws.
        tensors : dict of str to tensor
            The fitted parameters (float64, on the CPU).
        """
        self._check_fitted()
        meta = {"class": type(self).__name__, "config": self.get_config(), "seed": self.seed_}
        return meta, {k: torch.as_tensor(v).detach().cpu() for k, v in self._state().items()}

    def restore(self, adapter, background, meta, tensors):
        """Fit the game from :meth:`get_state`'s output instead of data: the same values, for
        the same model, seed and background, as the game that was saved.

        Parameters
        ----------
        adapter : ModelAdapter
        background : array-like of shape (b, d)
            The explainer's background rows in the model's space.
        meta, tensors
            :meth:`get_state`'s output.

        Returns
        -------
        self
        """
        background = self._start(adapter, background)
        self.seed_ = int(meta["seed"])
        self._set_state({k: torch.as_tensor(v) for k, v in tensors.items()}, background)
        return self

    def _fit_distribution(self, X, background):
        raise NotImplementedError  # pragma: no cover - abstract

    def _state(self):
        """The fitted parameters, name -> array or tensor."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _set_state(self, tensors, background):
        """The fitted parameters from :meth:`_state`'s names (float64 tensors) and the
        background (float64, model space): what :meth:`_fit_distribution` sets."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _check_fitted(self):
        if self.adapter is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(adapter, X, "
                               "background) first (explainers do it in their fit).")

    def full(self, X):
        self._check_fitted()
        return super().full(X)

    def _check_width(self, d):
        if d != self.n_features_:
            raise ValueError(f"X has {d} features but the game was fitted on "
                             f"{self.n_features_}.")

    def values(self, X, masks, *, groups=None):
        return self.values_and_variances(X, masks, groups=groups)[0]

    def values_and_variances(self, X, masks, *, groups=None):
        """Coalition values (n, m, k) and the variance of each value's Monte Carlo mean
        (n, m, k): zeros for a game that does not draw; v(N) is exact."""
        self._check_fitted()
        both = Game.values(self, X, masks, groups=groups)
        if both.shape[0] * both.shape[1] == 0:
            return both, torch.zeros_like(both)
        k = both.shape[-1] // 2
        return both[..., :k], both[..., k:]

    def empty_value(self):
        """v(empty), the expected model output under the fitted distribution, shape (k,)."""
        return self._empty[0]

    def empty_variance(self):
        """The variance of :meth:`empty_value`'s Monte Carlo mean, shape (k,)."""
        return self._empty[1]

    def _pairs_per_chunk(self):
        return max(1, self.batch_size // self._rows_per_pair())

    def _rows_per_pair(self):
        """Model rows behind one coalition value."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _mean_and_variance(self, inputs, weights=None):
        """The model on ``inputs`` (P, s, d): the (weighted) mean over s per pair and the
        variance of that mean (zeros when weighted: the weighted mean is no sample), (P, 2k)."""
        P, s, d = inputs.shape
        out = self._call_model(inputs.reshape(P * s, d), report=True).double()
        out = out.reshape(P, s, -1)
        if weights is not None:
            mean = (out * weights[..., None]).sum(dim=1)
            return torch.cat([mean, torch.zeros_like(mean)], dim=-1)
        mean = out.mean(dim=1)
        var = out.var(dim=1) / s if s > 1 else torch.full_like(mean, float("nan"))
        return torch.cat([mean, var], dim=-1)
