"""ShapleySampler: the sampling estimator that measured most accurate for the budget and d."""

from sklxai.explainers._shapley import ShapleyExplainer, shared_params
from sklxai.utils import param_validation as pv

#: method name -> (module, class, its pairing parameter)
_METHODS = {
    "kernel": ("sklxai.explainers.kernel", "KernelSHAP", "paired"),
    "permutation": ("sklxai.explainers.permutation", "PermutationSHAP", "antithetic"),
    "leverage": ("sklxai.explainers.leverage", "LeverageSHAP", "paired"),
    "msr": ("sklxai.explainers.msr", "RegressionMSR", "paired"),
}


def choose_method(d, n_coalitions):
    """The estimator ``method="auto"`` picks for d players and a budget of coalitions.

    The rule table, from ``benchmarks/estimators.py`` (:doc:`/benchmarks`, "Sampling
    estimators": Adult MLP d = 12, breast-cancer GBDT d = 30, digits GBDT d = 64, at 512,
    2048 and 8192 coalitions):

    ==================================  ==============  ====================================
    case                                method          why
    ==================================  ==============  ====================================
    ``n_coalitions >= 2**d - 2``        ``"kernel"``    every coalition: exact, no surrogate
    d = 1                               ``"kernel"``    one player takes all: exact
    ``n_coalitions >= 8 * d``           ``"msr"``       lowest error on every measured setting
                                                        and budget short of enumeration (from
                                                        8 coalitions per player: d = 64 at
                                                        512)
    otherwise                           ``"leverage"``  fewer draws per player than measured:
                                                        RegressionMSR's folds then hold under
                                                        two draws of a size and correct little
    ==================================  ==============  ====================================

    Below 8 coalitions per player nothing was measured; there each size pair has fewer than
    four draws, under the two per fold that RegressionMSR's correction needs.

    Examples
    --------
    >>> choose_method(12, 8192), choose_method(64, 512), choose_method(64, 256)
    ('kernel', 'msr', 'leverage')
    """
    if d <= 1 or n_coalitions >= 2**d - 2:
        return "kernel"
    return "msr" if n_coalitions >= _MSR_DRAWS_PER_PLAYER * d else "leverage"


#: RegressionMSR is the most accurate from this many coalitions per player (measured down to 8,
#: d = 64 at 512 coalitions)
_MSR_DRAWS_PER_PLAYER = 8


class ShapleySampler(ShapleyExplainer):
    """The sampling Shapley estimator that measured most accurate for the budget and d.

    ``method="auto"`` picks by :func:`choose_method`'s rule table, derived from the measured
    errors of ``benchmarks/estimators.py`` (:doc:`/benchmarks`, "Sampling estimators"):
    :class:`~sklxai.explainers.kernel.KernelSHAP` where the budget covers every coalition (the
    values are then exact), :class:`~sklxai.explainers.msr.RegressionMSR` from 8 coalitions
    per player, :class:`~sklxai.explainers.leverage.LeverageSHAP` below; a method name uses
    that estimator. The chosen estimator, with this explainer's settings, computes
    the values and their standard errors.

    Parameters
    ----------
    model, background, n_background, target, fast_path, device, random_state, batch_size
        As for :class:`~sklxai.explainers.kernel.KernelSHAP`.
    method : {"auto", "kernel", "permutation", "leverage", "msr"}
        The estimator: KernelSHAP, PermutationSHAP, LeverageSHAP, RegressionMSR, or "auto".
    n_coalitions, paired
        Coalitions evaluated per row, the budget of every method; paired (complement)
        sampling, antithetic permutations for "permutation".
    game, feature_groups, surrogate_params, n_jobs, verbose
        As for KernelSHAP.

    Attributes
    ----------
    method_ : str
        The method used.
    estimator_ : ShapleyExplainer
        The estimator that computes the values, sharing this explainer's fitted game.
    std_errors_dof_ : float
        The estimator's degrees of freedom of its standard errors.
    expected_value_ : ndarray of shape (n_outputs,)

    Examples
    --------
    With a budget that covers every coalition of 4 features, "auto" picks KernelSHAP (exact):

    >>> from sklxai import ShapleySampler
    >>> from sklearn.linear_model import Ridge
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(100, 4))
    >>> est = ShapleySampler(Ridge().fit(X, X[:, 0]), n_background=10,
    ...                      random_state=0).fit(X)
    >>> est.method_
    'kernel'
    """

    _parameter_constraints = {
        **ShapleyExplainer._parameter_constraints,
        "n_coalitions": pv.positive_int(minimum=2),
        "method": pv.options("auto", *_METHODS),
        "paired": pv.boolean(),
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 game="marginal", feature_groups=None, surrogate_params=None, fast_path="auto",
                 n_coalitions=2048, method="auto", paired=True, n_jobs=None, verbose="auto",
                 device="auto", random_state=None, batch_size=None):
        super().__init__(**shared_params(locals()))
        self.n_coalitions = n_coalitions
        self.method = method
        self.paired = paired

    def _fit_shapley(self, d):
        from importlib import import_module

        self.method_ = choose_method(d, self.n_coalitions) if self.method == "auto" \
            else self.method
        module, name, pairing = _METHODS[self.method_]
        cls = getattr(import_module(module), name)
        params = {key: value for key, value in self.get_params(deep=False).items()
                  if key in ShapleyExplainer._get_param_names()}
        estimator = cls(**params, n_coalitions=self.n_coalitions, **{pairing: self.paired})
        # the estimator shares this explainer's fitted state (game, players, seed), then
        # prepares its own design
        own = set(self.get_params(deep=False))
        estimator.__dict__.update({k: v for k, v in self.__dict__.items() if k not in own})
        estimator._fit_shapley(d)
        self.estimator_ = estimator
        self.std_errors_dof_ = estimator.std_errors_dof_

    def _coalitions_per_row(self, d):
        return self.estimator_._coalitions_per_row(d)

    def _shapley_values(self, X, fx, rng):
        return self.estimator_._shapley_values(X, fx, rng)
