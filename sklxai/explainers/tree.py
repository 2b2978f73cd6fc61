"""TreeShapley: exact Shapley values of tree ensembles, batched on the device.

The estimator: it validates its parameters, takes the model's trees from the prepared model
(``prepared_.trees``, read once at ``fit``), encodes the background, and hands the algorithm,
:class:`~sklxai.games.trees.interventional.InterventionalValues` (per-leaf closed forms, value
tables, walks) or, for the path-dependent game,
:class:`~sklxai.games.trees.path_dependent.PathDependentValues` (per-leaf product games), chunks
of rows within the memory budget. See ``docs/design.rst``, "Tree ensembles", for the formulas.
"""

import numpy as np
import torch

from sklxai.base import BaseExplainer
from sklxai.explainers._groups import FeatureGroupsMixin
from sklxai.explainers._shapley import _CONDITIONAL, VERBOSE, _progress
from sklxai.games.conditional import ConditionalGame
from sklxai.games.indices import INDEX, resolve_index
from sklxai.games.trees.interventional import InterventionalValues
from sklxai.games.trees.path_dependent import PathDependentValues
from sklxai.utils import param_validation as pv
from sklxai.utils.memory import element_budget
from sklxai.utils.validation import check_target, resolve_device

_MODEL_OUTPUTS = ("auto", "raw", "probability")
_TREE_GAMES = pv.options("marginal", "baseline", "path_dependent")


def _check_tree_game(value, name):
    """The tree games; a conditional game gets its own message (no tree algorithm computes it)."""
    if isinstance(value, ConditionalGame) or (isinstance(value, str) and value in _CONDITIONAL):
        shown = type(value).__name__ if isinstance(value, ConditionalGame) else repr(value)
        raise ValueError(f"{name}={shown}: the tree explainers compute the marginal, baseline and "
                         "path-dependent games from the trees' structure; no tree algorithm "
                         "computes a conditional game. Explain the tree model with ExactShapley "
                         f"or KernelSHAP and {name}={shown}, or use {name}='marginal' or "
                         "'path_dependent'.")
    _TREE_GAMES.check(value, name)


class TreeShapley(FeatureGroupsMixin, BaseExplainer):
    """Exact Shapley values of tree ensembles and tree Pipelines (interventional TreeSHAP).

    Computes the values of the same marginal game as :class:`~sklxai.ExactShapley`,
    v_x(S) = mean over the background of f(x_S, b_not S), or of the baseline game (one reference
    row, the background mean), exactly and without sampling: each leaf's contribution has a
    closed form (see the module docstring), evaluated in batched tensor operations on the
    device. Trees whose paths hold at most 10 players get per-leaf value tables at ``fit``
    (summed over the background once): ``explain`` then costs leaves x players per row. Other
    trees are walked by (row, set of background rows) walkers that visit only the leaves they
    can reach (products over rows x background x leaves beyond 62 players).
    ``game="path_dependent"`` explains the path-dependent game instead (no background: the
    trees' training covers stand in for it; per-leaf product games), and ``index="BV"`` gives
    Banzhaf values of any of these games.

    Supported models: scikit-learn's DecisionTree*, ExtraTree*, RandomForest*, ExtraTrees*,
    GradientBoosting*, HistGradientBoosting* (categorical splits and missing values included)
    and IsolationForest, and XGBoost, LightGBM and CatBoost models when installed (CatBoost's
    one-hot categorical columns too, given as a DataFrame that holds every category the model
    splits on; its CTR-encoded columns and one-hot Depthwise/Lossguide trees are refused); and
    Pipelines whose preprocessing is column-wise and whose last step is one of these (values
    per raw column).
    Other models raise a TypeError: use ExactShapley or KernelSHAP for them.

    **What is explained** (``model_output``): regressors' ``predict``; forests' and single
    trees' ``predict_proba`` (an average of trees, so exact); gradient-boosted classifiers' raw
    margin, ``decision_function`` (log-odds; one output for a binary model); boosted regressors
    with a log link (Poisson, gamma, Tweedie losses) their raw, log-scale prediction, whose
    exponential ``predict`` returns; an IsolationForest its mean path length over the trees
    normalised by that of a random tree, ``E[h(x)] / c(max_samples_)`` = -log2(-score_samples(x))
    (higher: more normal; ``decision_function`` is -2**(-raw) - ``offset_``, increasing in it).
    A boosted model's ``predict_proba`` (and an isolation forest's scores) is a nonlinear
    function of the summed trees, for which no exact tree algorithm exists: explain it with
    ExactShapley or KernelSHAP, which compute its coalition values from the trees
    (:class:`~sklxai.games.TreeGame`) or run the compiled trees (the same layout as a batched
    torch function) on the device. This is shap's ``model_output="raw"`` choice.

    Parameters
    ----------
    model : fitted tree model or Pipeline ending in one
    background, n_background, target, fast_path, device, random_state
        See :class:`~sklxai.base.BaseExplainer`.
    batch_size : int or None
        Rows per evaluation of the model's compiled trees (the explained outputs and the base
        value), as for every explainer: rows per model call. None: as many as the memory budget
        holds. Chunks of rows, leaves and background rows come from the memory budget,
        scikit-learn's ``working_memory`` on the CPU (:mod:`sklxai.utils.memory`).
    game : {"marginal", "baseline", "path_dependent"}
        The marginal game over the background, the game of one baseline row (the
        background's mean), or the path-dependent game (shap's "tree_path_dependent",
        XGBoost's ``pred_contribs``): no background, the players outside a coalition
        integrated out along the trees in proportion to the training weight that reached each
        node (``weighted_n_node_samples``, HistGradientBoosting's counts, XGBoost's covers,
        LightGBM's counts, CatBoost's leaf weights). ``fit`` still takes X (its columns and
        names); passing ``background`` with it is an error.
    index : {"SV", "BV"}
        "SV": Shapley values (efficient: they sum to the output minus the base value). "BV"
        (or "banzhaf", any case): Banzhaf values, every coalition of the others weighted
        alike; not efficient, so the Explanation records ``index="BV"`` and has no
        efficiency gap.
    feature_groups : dict, list of lists or None
        Explain groups of columns as single players, as for the other Shapley explainers.
    model_output : {"auto", "raw", "probability"}
        "auto": ``predict`` for regressors, ``predict_proba`` for forests and single trees, the
        raw margin for gradient-boosted classifiers. "raw": the sum of the trees
        (``decision_function`` for boosted classifiers). "probability": ``predict_proba``,
        refused for boosted models (see above).
    verbose : int, bool or "auto"
        "auto": a progress bar over the explained rows when they are expected to take longer
        than about 10 s (measured on the first chunk); 0 or False: none; 1 or True: always.

    Attributes
    ----------
    trees_ : sklxai.models.trees.TreeEnsemble
        The model's trees in the tensor layout, on the device.
    expected_value_ : ndarray of shape (n_outputs,)
        v(empty), the base value: the mean model output over the background, or for the
        path-dependent game the trees' output averaged over their covers.
    index_ : {"SV", "BV"}
        The index computed.
    feature_groups_ : dict or None
    n_outputs_, output_names_
        The explained outputs (one margin for a binary boosted classifier).

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> from sklxai import TreeShapley
    >>> X, y = make_regression(n_samples=300, n_features=6, random_state=0)
    >>> gbdt = GradientBoostingRegressor(n_estimators=20).fit(X, y)
    >>> exp = TreeShapley(gbdt, n_background=50, device="cpu").fit(X).explain(X[:3])
    >>> bool(abs(exp.values.sum(1) + exp.base_values - gbdt.predict(X[:3])).max() < 1e-9)
    True
    """

    _parameter_constraints = {
        **BaseExplainer._parameter_constraints,
        "game": pv.Constraint(_check_tree_game, _TREE_GAMES.description),
        "index": INDEX,
        "feature_groups": pv.unchecked("dict, list of lists or None (checked against X)"),
        "model_output": pv.options(*_MODEL_OUTPUTS),
        "verbose": VERBOSE,
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 game="marginal", feature_groups=None, model_output="auto", fast_path="auto",
                 verbose="auto", device="auto", random_state=None, batch_size=None,
                 index="SV"):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, device=device, random_state=random_state,
                         batch_size=batch_size)
        self.game = game
        self.feature_groups = feature_groups
        self.model_output = model_output
        self.verbose = verbose
        self.index = index

    # ------------------------------------------------------------------ fit
    def _check_params(self):
        super()._check_params()
        if self.game == "path_dependent" and self.background is not None:
            raise ValueError("background= is not used by game='path_dependent' (it integrates "
                             "the trees over their training covers); drop background=, or "
                             "use game='marginal' to explain against a background.")

    def _fit(self, X, y):
        final = self.model_[-1] if self.prepared_.fast_path else self.model_
        if self.prepared_.trees is None:
            from sklxai.models.trees import read_trees

            # raises the TypeError that names the supported models or the setting refused
            read_trees(final, categories=self.prepared_.categories)
        self.trees_ = self.prepared_.trees.to(resolve_device(self.device))
        self._check_model_output(final)
        members = self._fit_players(X)
        self._n_players = len(members)
        self._background_z = None
        if self.game != "path_dependent":
            self._background_z = self.trees_.encode(self._as_tensor(self._reference_rows()))
        self._values = self._algorithm(members)
        names = self.trees_.output_names
        k = self.trees_.n_outputs
        if names is not None and len(names) == 2 and k == 1:
            names = [names[1]]  # a binary model's margin: the log-odds of the second class
        self.n_outputs_ = k
        self.output_names_ = list(names) if names is not None and len(names) == self.n_outputs_ \
            else list(range(self.n_outputs_))
        if self.target is not None:
            check_target(self.target, self.n_outputs_, output_names=self.output_names_)
        self.expected_value_ = (self._values.expected_value if self._background_z is None
                                else self.trees_.raw_encoded(self._background_z,
                                                             batch_size=self.batch_size)
                                .mean(dim=0)).cpu().numpy()

    def _algorithm(self, members):
        """The values' algorithm (TreeInteractions' hook); sets ``index_`` and ``_width``."""
        self.index_, self._width = resolve_index(self.index), len(members)
        if self._background_z is None:
            return PathDependentValues(self.trees_, members, index=self.index_)
        return InterventionalValues(self.trees_, members, self._background_z,
                                    budget=self._budget(), index=self.index_)

    def _check_model_output(self, final):
        """Refuse ``model_output="probability"`` where it is not the sum of the trees."""
        boosted = self.trees_.link != "identity"
        if self.model_output == "probability" and boosted:
            raise ValueError(
                f"model_output='probability': {type(final).__name__}'s predictions "
                "(predict_proba, a log-link regressor's predict, an isolation forest's scores) "
                "are a nonlinear function of its summed trees, for which no exact tree "
                "algorithm exists. Explain the raw margin (model_output='raw', the default), or "
                "the predictions with ExactShapley or KernelSHAP (they compute them from the "
                "trees)."
            )

    def _reference_rows(self):
        rows = self._model_rows(self.background_)
        return rows.mean(axis=0, keepdims=True) if self.game == "baseline" else rows

    def _as_tensor(self, rows):
        return torch.tensor(np.asarray(rows), dtype=torch.float64, device=self.trees_.device)

    def _budget(self):
        """Elements of one temporary (rows x leaves x players or background rows): a few such
        float64 tensors live at once, so each gets a quarter of the memory budget."""
        return element_budget(self.trees_.device, itemsize=4 * 8)

    # ------------------------------------------------------------------ explain
    def _explain(self, X, rng):
        n, k = X.shape[0], self.n_outputs_
        Zx_all = self.trees_.encode(self._as_tensor(self._model_rows(X)))
        m = 1 if self._background_z is None else len(self._background_z)
        budget = self._budget()
        rows = max(1, min(n, budget // max(m, 1)))
        values = np.empty((n, self._width, k))
        output = np.empty((n, k))
        with _progress(self, n) as bar:
            for start in range(0, n, rows):
                Zx = Zx_all[start : start + rows]
                phi = self._values.values(Zx, budget)
                values[start : start + len(Zx)] = phi[:, : self._width].cpu().numpy()
                output[start : start + len(Zx)] = self.trees_.raw_encoded(
                    Zx, batch_size=self.batch_size).cpu().numpy()
                bar.update(len(Zx))
        base = np.broadcast_to(self.expected_value_, output.shape).copy()
        return values, base, output, {"index": self.index_}
