"""What the Shapley explainers share: the game, row chunking, and Shapley weights."""

import math

import numpy as np
import torch

from sklxai.base import BaseExplainer
from sklxai.games import BaselineGame, MarginalGame
from sklxai.games.grouped import GroupedGame, check_feature_groups

#: coalition values held in memory at once while explaining (n_rows * n_coalitions * n_outputs)
_VALUES_PER_CHUNK = 2**22
#: rows per chunk at most, whatever the method (the model's and an explainer network's
#: activations grow with the rows of a chunk: a million rows at once would take gigabytes)
_MAX_ROWS_PER_CHUNK = 2**15

_GAMES = ("marginal", "baseline", "surrogate")


class ShapleyExplainer(BaseExplainer):
    """Base of the explainers that estimate Shapley values of a game over the features.

    Adds the ``game`` parameter to :class:`~sklxai.base.BaseExplainer`: "marginal" (default,
    v_x(S) = mean over the background of f(x_S, b_not S)) or "baseline" (one reference row, the
    background mean). Subclasses implement :meth:`_shapley_values` for a chunk of rows.

    Attributes
    ----------
    game_ : sklxai.games.Game
    expected_value_ : ndarray of shape (n_outputs,)
        v(empty): the base value of every explanation.
    """

    def _fit(self, X, y):
        # games live in the model's space: raw rows on the generic path, the preprocessed rows
        # of a column-wise pipeline on the fast path (players are then raw columns)
        self._background_model = self._model_rows(self.background_)
        self.game_ = self._make_game(X)
        groups = getattr(self, "feature_groups", None)
        d_raw = X.shape[1]
        if groups is None:
            self.feature_groups_ = None
            members = [np.array([j]) for j in range(d_raw)]
        else:
            names, members = check_feature_groups(
                groups, d_raw, getattr(self, "feature_names_in_", None))
            self.feature_groups_ = dict(zip(names, members))
        column_map = getattr(self, "column_map_", None)
        if column_map is not None:  # raw columns -> their model-space columns
            members = [np.concatenate([column_map.groups[j] for j in m]).astype(np.int64)
                       for m in members]
        if groups is not None or column_map is not None:
            self.game_ = GroupedGame(self.game_, members)
        self._n_players = len(members)
        self._null = self.game_.empty_value().double()
        self.expected_value_ = self._null.cpu().numpy()
        self._fit_shapley(self._n_players)

    def _feature_names(self):
        if getattr(self, "feature_groups_", None):
            return list(self.feature_groups_)
        return super()._feature_names()

    def _explanation_data(self, X):
        data = super()._explanation_data(X)
        if not getattr(self, "feature_groups_", None):
            return data
        # one value per group: the column itself for one-column groups, else the mean of its
        # columns (the first column's value when they are not numeric)
        out = []
        for cols in self.feature_groups_.values():
            block = data[:, cols]
            if len(cols) == 1 or block.dtype == object:
                out.append(block[:, 0])
            else:
                out.append(block.mean(axis=1))
        return np.stack(out, axis=1)

    def _make_game(self, X):
        """The game named by the ``game`` parameter, built on the fitted adapter and background.

        X is fit's validated data (games that learn something, e.g. a surrogate, train on it,
        in model space; the others do not need it, so it is only transformed when used).
        """
        game = getattr(self, "game", "marginal")
        if game not in _GAMES:
            raise ValueError(f"game={game!r} is not supported; use one of {list(_GAMES)}.")
        if game == "surrogate":
            from sklxai.games.surrogate import SURROGATE_DEFAULTS, SurrogateGame
            from sklxai.utils.validation import resolve_device

            # a surrogate saved with the explainer (see load) is rebuilt as is, not retrained
            saved = self.__dict__.pop("_saved_surrogate", None)
            if saved is not None:
                return SurrogateGame.from_state(
                    self.adapter_, saved[0], saved[1], batch_size=self.batch_size,
                    device=resolve_device(self._device()))
            # training settings: SURROGATE_DEFAULTS, each overridable by `surrogate_<name>`
            params = {name: getattr(self, f"surrogate_{name}", default)
                      for name, default in SURROGATE_DEFAULTS.items()}
            return SurrogateGame.fit(
                self.adapter_, self._model_rows(X), batch_size=self.batch_size,
                device=resolve_device(self._device()),
                random_state=self._seed, verbose=getattr(self, "verbose", 0), **params,
            )
        if game == "marginal":
            return MarginalGame(self.adapter_, self._background_model, batch_size=self.batch_size)
        return BaselineGame(
            self.adapter_, self._background_model.mean(axis=0), batch_size=self.batch_size
        )

    def _get_state(self):
        meta, tensors = super()._get_state()
        from sklxai.games.surrogate import SurrogateGame

        if isinstance(self.game_, SurrogateGame):  # a learned game: its architecture and weights
            meta["surrogate"] = self.game_.get_config()
            tensors.update({f"surrogate.{k}": v
                            for k, v in self.game_.module.state_dict().items()})
        return meta, tensors

    def _restore(self, X, meta, tensors):
        if meta.get("surrogate") is not None:
            self._saved_surrogate = (meta["surrogate"], _prefixed(tensors, "surrogate."))
        super()._restore(X, meta, tensors)

    def _fit_shapley(self, d):
        """Method-specific preparation for d features (coalition designs and the like)."""

    def _coalitions_per_row(self, d):
        return 1

    def _explain(self, X, rng):
        # Rows go in chunks of bounded size (memory does not grow with n beyond the output
        # arrays), each chunk with its own seed, so the values do not depend on where chunks
        # run: joblib runs them in this process by default, or on any backend the user
        # configures (``joblib.parallel_config(backend="dask")``), with ``n_jobs``.
        from joblib import Parallel, delayed

        n, d, k = X.shape[0], self._n_players, self.n_outputs_
        per_chunk = max(1, min(_MAX_ROWS_PER_CHUNK,
                               _VALUES_PER_CHUNK // (self._coalitions_per_row(d) * k)))
        starts = range(0, n, per_chunk)
        seed = int(rng.integers(2**63 - 1))
        values = np.empty((n, d, k))
        output = np.empty((n, k))
        jobs = (delayed(_explain_chunk)(self, X[s : s + per_chunk], [seed, i])
                for i, s in enumerate(starts))
        results = Parallel(n_jobs=self._n_jobs(), return_as="generator")(jobs)
        with _progress(self, n) as bar:
            for s, (phi, fx) in zip(starts, results):
                values[s : s + len(fx)] = phi
                output[s : s + len(fx)] = fx
                bar.update(len(fx))
        base = np.broadcast_to(self.expected_value_, output.shape).copy()
        return values, base, output

    def _n_jobs(self):
        """Parallel jobs over row chunks: the ``n_jobs`` parameter where a method has one."""
        return getattr(self, "n_jobs", 1)

    def _shapley_values(self, X, fx, rng):
        """Shapley values (n, d, k) float64 for rows X (n, d) with model outputs fx (n, k)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _centered_values(self, X, masks):
        """v(S) - v(empty) in float64, shape (n, m, k)."""
        return self.game_.values(X, masks).double() - self._null


def shapley_size_weights(d):
    """w(s) = s! (d - s - 1)! / d!, the weight of a coalition of size s in the Shapley sum."""
    return np.array(
        [math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d) for s in range(d)]
    )


def kernel_size_mass(d):
    """Total Shapley-kernel weight of each coalition size s = 1..d-1: (d-1) / (s (d-s))."""
    s = np.arange(1, d)
    return (d - 1) / (s * (d - s))


def all_masks(d, device=None):
    """Every coalition of d features as a bool tensor (2**d, d); row t is the binary of t."""
    t = torch.arange(2**d, device=device)
    bits = torch.arange(d, device=device)
    return ((t[:, None] >> bits[None, :]) & 1).bool()


def _prefixed(tensors, prefix):
    """The entries of ``tensors`` whose name starts with ``prefix``, without it."""
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _explain_chunk(explainer, X, seed):
    """Shapley values (n, d, k) and outputs (n, k) of one chunk of rows, as ndarrays."""
    rng = np.random.default_rng(seed)
    Xt = explainer.game_.as_tensor(explainer._model_rows(X))
    fx = explainer.game_.full(Xt).double()
    phi = explainer._shapley_values(Xt, fx, rng)
    return phi.cpu().numpy(), fx.cpu().numpy()


def _progress(explainer, n):
    """A progress bar over explained rows when the explainer is verbose, else a silent one."""
    from tqdm.auto import tqdm

    verbose = bool(getattr(explainer, "verbose", 0))
    return tqdm(total=n, unit="rows", desc=type(explainer).__name__, disable=not verbose,
                leave=False)
