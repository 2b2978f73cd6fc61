"""What the Shapley explainers share: the game, feature groups, row chunking, progress."""

import copy

import numpy as np

from sklxai._explain_results import select_target
from sklxai.base import BaseExplainer
from sklxai.explainers._game_noise import GameNoiseMixin
from sklxai.explainers._groups import FeatureGroupsMixin
from sklxai.games import BaselineGame, MarginalGame
from sklxai.games.conditional import ConditionalGame
from sklxai.games.grouped import GroupedGame
from sklxai.utils import param_validation as pv
from sklxai.utils.progress import PartialProgress

#: Rows are explained in blocks that each carry their own random seed (a sampling explainer's
#: draws depend on its block), so their size is fixed, never taken from the memory budget:
#: values must not depend on the machine or its settings. A block holds at most this many
#: coalition values (n_rows * n_coalitions * n_outputs, 32 MiB of float64)...
_VALUES_PER_CHUNK = 2**22
#: ...and at most this many rows (the model's and an explainer network's activations grow with
#: the rows of a block). Within a block, the game calls the model ``batch_size`` rows at a time.
_MAX_ROWS_PER_CHUNK = 2**15

_GAMES = ("marginal", "baseline", "surrogate", "gaussian", "copula", "empirical")
#: the conditional games named by a string, built with their default settings
_CONDITIONAL = ("gaussian", "copula", "empirical")
#: the ``verbose`` parameter of every explainer that shows progress
VERBOSE = pv.any_of(pv.options("auto"), pv.boolean(), pv.positive_int(minimum=0))


def _check_surrogate_params(value, name):
    from sklxai.games.surrogate import SURROGATE_DEFAULTS

    if value is None:
        return
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a dict of surrogate training settings or None; got "
                        f"{type(value).__name__}.")
    unknown = sorted(set(value) - set(SURROGATE_DEFAULTS))
    if unknown:
        raise ValueError(f"{name} has unknown keys {unknown}; valid keys are "
                         f"{sorted(SURROGATE_DEFAULTS)}.")


def _check_game(value, name):
    if isinstance(value, ConditionalGame):
        return
    if not (isinstance(value, str) and value in _GAMES):
        raise ValueError(f"{name} must be one of {list(_GAMES)} or a ConditionalGame (e.g. "
                         f"sklxai.games.GaussianGame(n_samples=500)); got {value!r}.")


def game_param_state(game):
    """The ``game`` parameter as JSON: its name, or a conditional game's class and settings
    (:meth:`~sklxai.games.conditional.ConditionalGame.get_config`)."""
    if not isinstance(game, ConditionalGame):
        return game
    from sklxai.games import CopulaGame, EmpiricalGame, GaussianGame

    if type(game) not in (GaussianGame, CopulaGame, EmpiricalGame):
        raise ValueError(
            f"save() stores the conditional games of sklxai.games (GaussianGame, CopulaGame, "
            f"EmpiricalGame); game={type(game).__name__} is another class. Use joblib.dump "
            "(a pickle: load only files you trust), or pass the game again when loading "
            "(load(path, model, game=...)).")
    return {"class": type(game).__name__, "config": game.get_config()}


def game_param_from_state(state):
    """The conditional game object :func:`game_param_state` describes (unfitted)."""
    import sklxai.games

    return getattr(sklxai.games, state["class"])(**state["config"])


def _named_game(name):
    """A conditional game named by ``game=``, with its default settings."""
    from sklxai.games import CopulaGame, EmpiricalGame, GaussianGame

    return {"gaussian": GaussianGame, "copula": CopulaGame, "empirical": EmpiricalGame}[name]()


class ShapleyExplainer(FeatureGroupsMixin, GameNoiseMixin, BaseExplainer):
    """Base of the explainers that estimate Shapley values of a game over the features.

    Adds to :class:`~sklxai.base.BaseExplainer` what every Shapley explainer takes: the game,
    feature groups, the surrogate game's settings, parallel row chunks and progress output.
    Subclasses implement :meth:`_shapley_values` for a chunk of rows (and may use
    :meth:`_fit_shapley` to prepare coalition designs once). A sampling estimator returns its
    standard errors alongside the values, ``(values, std_errors)``; they reach
    ``Explanation.std_errors`` through the row chunks, ``target`` and the images' shape as the
    values do (see :meth:`_shapley_values`).

    Parameters
    ----------
    model, background, n_background, target, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer`.
    game : {"marginal", "baseline", "surrogate", "gaussian", "copula", "empirical"} or \
ConditionalGame
        "marginal": v_x(S) = mean over the background of f(x_S, b_not S) (the default, the game
        of ``shap.KernelExplainer``); "baseline": one reference row, the background mean;
        "surrogate": FastSHAP's masked surrogate network, trained on ``fit``'s X (see
        :class:`~sklxai.games.surrogate.SurrogateGame`). The conditional games,
        v_x(S) = E[f(x_S, X_not S) | X_S = x_S], fitted on ``fit``'s X: "gaussian"
        (:class:`~sklxai.games.GaussianGame`), "copula" (:class:`~sklxai.games.CopulaGame`)
        and "empirical" (:class:`~sklxai.games.EmpiricalGame`, weights on the background rows),
        each with its default settings; pass one of those objects, e.g.
        ``game=GaussianGame(n_samples=500)``, to choose its settings (the explainer fits a
        copy). See :ref:`which_game`.
    feature_groups : dict, list of lists or None
        Explain groups of columns as single players (one-hot blocks, image patches: see
        :func:`~sklxai.games.grouped.image_patch_groups`); every column in exactly one group.
        Values then have one column per group, named by the dict's keys.
    surrogate_params : dict or None
        Training settings of the surrogate game (``game="surrogate"`` only), overriding
        :data:`~sklxai.games.surrogate.SURROGATE_DEFAULTS` key by key, e.g.
        ``{"max_epochs": 100, "hidden_sizes": (128, 128)}``.
    n_jobs : int or None
        Parallel jobs over chunks of rows, through joblib: None means 1 unless inside a
        ``joblib.parallel_config`` context, e.g. ``parallel_config(backend="dask")`` to run on
        a Dask cluster. Every chunk has its own seed, so values do not depend on ``n_jobs``.
    verbose : int, bool or "auto"
        "auto": a progress bar over the explained rows (and over a training's steps, where the
        method trains something) for a job expected to take longer than about 10 s
        (:data:`sklxai.utils.callbacks.PROGRESS_SECONDS`), the expectation measured on the
        job's first rows (or training steps); none for shorter jobs. The bar moves within a
        chunk of rows too, as the game's model calls progress (:mod:`sklxai.utils.progress`;
        for chunks run in this process). 0 or False: silent; 1 or True: always a bar (and a
        training's epoch table). Values do not depend on it.

    Attributes
    ----------
    game_ : sklxai.games.Game
    feature_groups_ : dict or None
        The validated groups, name -> raw column indices.
    expected_value_ : ndarray of shape (n_outputs,)
        v(empty): the base value of every explanation.
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "game": pv.Constraint(_check_game, f"one of {list(_GAMES)} or a ConditionalGame"),
        "feature_groups": pv.unchecked("dict, list of lists or None (checked against X)"),
        "surrogate_params": pv.Constraint(_check_surrogate_params, "dict or None"),
        "n_jobs": pv.unchecked("int or None (joblib's n_jobs)"),
        "verbose": VERBOSE,
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 game="marginal", feature_groups=None, surrogate_params=None, fast_path="auto",
                 n_jobs=None, verbose="auto", device="auto", random_state=None,
                 batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, device=device, random_state=random_state,
                         batch_size=batch_size)
        self.game = game
        self.feature_groups = feature_groups
        self.surrogate_params = surrogate_params
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit(self, X, y):
        # games live in the model's space: raw rows on the generic path, the preprocessed rows
        # of a column-wise pipeline on the fast path (players are then raw columns)
        self._background_model = self._model_rows(self.background_)
        self.game_ = self._make_game(X)
        members = self._fit_players(X)
        if self.feature_groups_ is not None or self.prepared_.column_map is not None:
            self.game_ = GroupedGame(self.game_, members)
        self._n_players = len(members)
        self._null = self.game_.empty_value().double()
        self.expected_value_ = self._null.cpu().numpy()
        self._fit_shapley(self._n_players)

    def _make_game(self, X):
        """The game named by the ``game`` parameter, built on the fitted adapter and background.

        X is fit's validated data (games that learn something, e.g. a surrogate, train on it,
        in model space; the others do not need it, so it is only transformed when used).
        """
        if isinstance(self.game, ConditionalGame) or self.game in _CONDITIONAL:
            return self._conditional_game(X)
        if self.game == "surrogate":
            from sklxai.games.surrogate import SURROGATE_DEFAULTS, SurrogateGame
            from sklxai.utils.validation import resolve_device

            device = resolve_device(self._device())
            # a surrogate saved with the explainer (see load) is rebuilt as is, not retrained
            saved = self.__dict__.pop("_saved_surrogate", None)
            if saved is not None:
                return SurrogateGame.from_state(self.adapter_, saved[0], saved[1],
                                                batch_size=self.batch_size, device=device)
            params = {**SURROGATE_DEFAULTS, **(self.surrogate_params or {})}
            return SurrogateGame.fit(
                self.adapter_, self._model_rows(X), batch_size=self.batch_size, device=device,
                random_state=self._seed, verbose=self.verbose, **params,
            )
        background = self._background_model
        if self.game == "baseline":
            background = background.mean(axis=0, keepdims=True)
        trees = self.prepared_.trees  # of the model the game calls (a Pipeline's last step)
        if trees is not None:  # the same game, from the trees' structure where it helps
            from sklxai.games.trees import TreeGame

            return TreeGame(self.adapter_, trees, background, batch_size=self.batch_size)
        if self.game == "marginal":
            return MarginalGame(self.adapter_, background, batch_size=self.batch_size)
        return BaselineGame(self.adapter_, background[0], batch_size=self.batch_size)

    def _conditional_game(self, X):
        """A fitted copy of the conditional game ``game`` names or is, in the model's space
        (on a Pipeline's fast path, groups of model columns stand for each raw column)."""
        game = (copy.deepcopy(self.game) if isinstance(self.game, ConditionalGame)
                else _named_game(self.game))
        if game.random_state is None and game.samples:
            game.random_state = self._seed
        if game.batch_size is None:
            game.batch_size = self.batch_size
        if not game.accepts_categorical:
            self._refuse_categorical(type(game).__name__)
        # a distribution saved with the explainer (see load) is restored, not refitted
        saved = self.__dict__.pop("_saved_game", None)
        if saved is not None:
            return game.restore(self.adapter_, self._background_model, *saved)
        return game.fit(self.adapter_, self._model_rows(X), self._background_model)

    def _refuse_categorical(self, name):
        """A Gaussian or copula game cannot condition on categorical raw columns."""
        prep = self.prepared_
        found = set()
        if prep.encoder is not None:
            found |= set(np.flatnonzero(prep.encoder.is_categorical_).tolist())
        if prep.column_map is not None:  # a raw column encoded into several model columns
            found |= {j for j, cols in enumerate(prep.column_map.groups) if len(cols) > 1}
        if found:
            names = [str(prep.feature_names[j]) if prep.feature_names is not None else str(j)
                     for j in sorted(found)]
            raise ValueError(
                f"game={name} models numeric columns with a normal law, but columns {names} are "
                "categorical (encoded categories or one-hot blocks). Use game='empirical' or "
                "game='surrogate' for data with categorical columns.")

    def _unsaved_params(self):
        unsaved = super()._unsaved_params()
        # a game object is saved as its class and settings (_get_state)
        return unsaved + ("game",) if isinstance(self.game, ConditionalGame) else unsaved

    def _get_state(self):
        meta, tensors = super()._get_state()
        from sklxai.games.surrogate import SurrogateGame

        if isinstance(self.game_, SurrogateGame):  # a learned game: its architecture and weights
            meta["surrogate"] = self.game_.get_config()
            tensors.update({f"surrogate.{k}": v
                            for k, v in self.game_.module.state_dict().items()})
        feature_game = self.game_.game if isinstance(self.game_, GroupedGame) else self.game_
        if isinstance(feature_game, ConditionalGame):  # its distribution, fitted on fit's rows
            meta["game_param"] = game_param_state(self.game)
            meta["conditional_game"], state = feature_game.get_state()
            tensors.update({f"game.{k}": v for k, v in state.items()})
        return meta, tensors

    @classmethod
    def _params_from_state(cls, meta):
        params = super()._params_from_state(meta)
        if isinstance(meta.get("game_param"), dict):
            params["game"] = game_param_from_state(meta["game_param"])
        return params

    def _restore(self, X, meta, tensors):
        self._pick_saved_games(meta, tensors)
        super()._restore(X, meta, tensors)

    def _pick_saved_games(self, meta, tensors):
        """Keep a saved surrogate or conditional game for :meth:`_make_game` to restore."""
        if meta.get("surrogate") is not None:
            self._saved_surrogate = (meta["surrogate"], _prefixed(tensors, "surrogate."))
        if meta.get("conditional_game") is not None:
            self._saved_game = (meta["conditional_game"], _prefixed(tensors, "game."))

    def _fit_shapley(self, d):
        """Method-specific preparation for d features (coalition designs and the like)."""

    def _coalitions_per_row(self, d):
        return 1

    def _n_values(self, d):
        """Values per row and output that :meth:`_shapley_values` returns: one per player
        (d), or another count for an explainer of other values (e.g. interaction terms)."""
        return d

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
        values = np.empty((n, self._n_values(d), k))
        output = np.empty((n, k))
        errors = None
        jobs = (delayed(_explain_chunk)(self, X[s : s + per_chunk], [seed, i])
                for i, s in enumerate(starts))
        results = iter(Parallel(n_jobs=self._n_jobs(), return_as="generator")(jobs))
        with _progress(self, n) as bar:
            partial = PartialProgress(bar)
            for s in starts:
                # a chunk run here (lazily, by next) moves the bar as its game reports progress
                with partial.unit(min(per_chunk, n - s)):
                    phi, fx, se = next(results)
                values[s : s + len(fx)] = phi
                output[s : s + len(fx)] = fx
                if se is not None:
                    errors = np.empty(values.shape) if errors is None else errors
                    errors[s : s + len(fx)] = se
                partial.finish()
        base = np.broadcast_to(self.expected_value_, output.shape).copy()
        if errors is None:
            return values, base, output
        return values, base, output, {"std_errors": errors}

    def _explain_target(self, X, target):
        # the standard errors are of every output, as the values: select target's the same way
        *results, extra = super()._explain_target(X, target)
        errors = extra.get("std_errors")
        if errors is not None:
            none = np.zeros((errors.shape[0], errors.shape[2]))
            extra["std_errors"] = select_target(errors, none, none, target,
                                                self.output_names_)[0]
        return (*results, extra)

    def _make_explanation(self, X, **fields):
        errors = fields.get("std_errors")
        if errors is not None:  # in the values' shape (an image's, where it has one)
            fields["std_errors"] = errors.reshape(np.shape(fields["values"]))
        return super()._make_explanation(X, **fields)

    def _n_jobs(self):
        """Parallel jobs over row chunks (the ``n_jobs`` parameter)."""
        return self.n_jobs

    def _shapley_values(self, X, fx, rng):
        """Shapley values (n, d, k) float64 for rows X (n, d) with model outputs fx (n, k).

        The hook of the standard errors: an estimator that measures its own variance returns
        the pair ``(values, std_errors)``, both tensors of shape (n, d, k), instead of the
        values alone. ``std_errors`` are the standard deviations of the values' estimation
        error for these rows, from the estimator's own draws (independent permutations,
        coalition draws or batches), never from running it again; they count the game's noise
        where the game samples, 0 where a value is exact, NaN where it cannot be measured.
        :func:`~sklxai.explainers.solvers.mean_and_std_error` and
        :func:`~sklxai.explainers.solvers.kernel_shap_std_errors` compute them for averages of
        independent estimates and for the KernelSHAP regression. An estimator returns the
        pair for every chunk of rows or for none, and states in ``_fit_shapley`` the degrees
        of freedom of its standard errors, ``std_errors_dof_`` (inf where its values are
        exact): a 95% interval is ``values ± scipy.stats.t.ppf(0.975, std_errors_dof_) *
        std_errors``.
        """
        raise NotImplementedError  # pragma: no cover - abstract

    def _centered_values(self, X, masks):
        """v(S) - v(empty) in float64, shape (n, m, k)."""
        return self.game_.values(X, masks).double() - self._null


#: the parameters every Shapley explainer shares, documented once: a subclass's docstring says
#: ``{shared_parameters}`` where they go, and :func:`shared_docstring` puts them there
SHARED_PARAMETERS = """\
model, background, n_background, target, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer` (``model``: a fitted skorch net,
        torch.nn.Module, scikit-learn estimator or Pipeline).
    game, feature_groups, surrogate_params, n_jobs, verbose
        See :class:`~sklxai.explainers._shapley.ShapleyExplainer`."""


def shared_docstring(cls):
    """Class decorator: :data:`SHARED_PARAMETERS` in place of ``{shared_parameters}`` in the
    class's docstring (kept as is when Python runs without docstrings)."""
    if cls.__doc__:
        cls.__doc__ = cls.__doc__.replace("{shared_parameters}", SHARED_PARAMETERS)
    return cls


def shared_params(arguments):
    """The arguments of :class:`ShapleyExplainer`'s ``__init__`` among a subclass ``__init__``'s
    ``locals()``: subclasses pass the shared parameters on with
    ``super().__init__(**shared_params(locals()))`` and store only their own."""
    return {name: arguments[name] for name in ShapleyExplainer._get_param_names()}


def _prefixed(tensors, prefix):
    """The entries of ``tensors`` whose name starts with ``prefix``, without it."""
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _explain_chunk(explainer, X, seed):
    """Shapley values (n, d, k), outputs (n, k) and standard errors ((n, d, k) or None) of one
    chunk of rows, as ndarrays."""
    rng = np.random.default_rng(seed)
    Xt = explainer.game_.as_tensor(explainer._model_rows(X))
    fx = explainer.game_.full(Xt).double()
    phi = explainer._shapley_values(Xt, fx, rng)
    phi, errors = phi if isinstance(phi, tuple) else (phi, None)
    errors = None if errors is None else errors.double().cpu().numpy()
    return phi.cpu().numpy(), fx.cpu().numpy(), errors


def _progress(explainer, n):
    """A progress bar over explained rows, as the explainer's ``verbose`` says (for "auto",
    shown once the rows done so far say that the rows take longer than about 10 s)."""
    from sklxai.utils.callbacks import AutoProgress

    return AutoProgress(n, verbose=explainer.verbose, desc=type(explainer).__name__,
                        unit="rows")
