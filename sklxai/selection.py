"""Shapley-based feature selection: keep the columns with the largest mean |phi|."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.feature_selection import SelectorMixin
from sklearn.utils.validation import check_is_fitted

from sklxai.utils.validation import is_dataframe


class ShapleySelector(SelectorMixin, BaseEstimator):
    """Select features by their mean absolute Shapley value, as a scikit-learn selector.

    ``fit`` fits a clone of ``explainer`` on (X, y) (which fits a clone of its model when that
    model is unfitted), explains ``n_rows`` rows of X, and ranks features by mean ``|phi|``
    over rows and outputs. ``transform`` keeps the selected columns (DataFrames stay DataFrames
    with ``set_output``). Works inside Pipelines and ``GridSearchCV`` (e.g. over ``max_features`` or
    ``explainer__n_coalitions``).

    Parameters
    ----------
    explainer : BaseExplainer
        A Shapley explainer (e.g. ``KernelSHAP(model)``); cloned at fit.
    max_features : int, float or None
        Keep at most this many features (a float in (0, 1] is a fraction of them).
    threshold : float, "mean", "median" or None
        Keep features whose importance is >= threshold. None: "mean" when ``max_features`` is
        None, else no threshold.
    n_rows : int
        Rows of X explained to estimate the importances (drawn with ``random_state``).
    random_state : None or int

    Attributes
    ----------
    explainer_ : BaseExplainer
        The fitted clone.
    importances_ : ndarray of shape (n_features,)
        Mean ``|phi|`` per feature.
    threshold_ : float
        The threshold applied (-inf when only ``max_features`` selects).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklxai import KernelSHAP, ShapleySelector
    >>> X = np.random.default_rng(0).normal(size=(200, 5))
    >>> y = 3 * X[:, 1] - 2 * X[:, 4]
    >>> sel = ShapleySelector(KernelSHAP(LinearRegression(), n_background=20), max_features=2)
    >>> sel.fit(X, y).get_support(indices=True)
    array([1, 4])
    """

    def __init__(self, explainer, *, max_features=None, threshold=None, n_rows=256,
                 random_state=None):
        self.explainer = explainer
        self.max_features = max_features
        self.threshold = threshold
        self.n_rows = n_rows
        self.random_state = random_state

    def fit(self, X, y=None):
        """Fit the explainer and compute the importances.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like or None
            Needed when the explainer's model is unfitted.

        Returns
        -------
        self : ShapleySelector
        """
        if not isinstance(self.n_rows, numbers.Integral) or self.n_rows < 1:
            raise ValueError(f"n_rows must be a positive int; got {self.n_rows!r}.")
        self.explainer_ = clone(self.explainer).fit(X, y)
        n = len(X)
        rows = np.random.default_rng(self.random_state).permutation(n)[: self.n_rows]
        rows = np.sort(rows)
        sample = X.iloc[rows] if is_dataframe(X) else np.asarray(X)[rows]
        values = np.abs(self.explainer_.explain(sample).values)
        imp = values.mean(axis=0)
        if imp.ndim == 2:  # several outputs: average them
            imp = imp.mean(axis=1)
        if len(imp) != self.explainer_.n_features_in_:
            raise ValueError(
                "ShapleySelector needs one value per input column; the explainer explains "
                f"{len(imp)} players for {self.explainer_.n_features_in_} columns "
                "(feature_groups are not supported here)."
            )
        self.importances_ = imp
        self.n_features_in_ = self.explainer_.n_features_in_
        if hasattr(self.explainer_, "feature_names_in_"):
            self.feature_names_in_ = self.explainer_.feature_names_in_
        self.threshold_ = self._resolve_threshold(imp)
        return self

    def _resolve_threshold(self, imp):
        t = self.threshold
        if t is None:
            t = "mean" if self.max_features is None else -np.inf
        if isinstance(t, str):
            if t not in ("mean", "median"):
                raise ValueError(f"threshold must be a float, 'mean' or 'median'; got {t!r}.")
            return float(np.mean(imp) if t == "mean" else np.median(imp))
        return float(t)

    def _get_support_mask(self):
        check_is_fitted(self)
        imp = self.importances_
        mask = imp >= self.threshold_
        if self.max_features is not None:
            k = self.max_features
            if isinstance(k, numbers.Real) and not isinstance(k, numbers.Integral):
                if not 0 < k <= 1:
                    raise ValueError(f"max_features as a float must be in (0, 1]; got {k}.")
                k = max(1, int(round(k * len(imp))))
            elif not 1 <= k <= len(imp):
                raise ValueError(f"max_features must be in 1..{len(imp)}; got {k}.")
            top = np.zeros_like(mask)
            top[np.argsort(-imp, kind="stable")[:k]] = True
            mask &= top
        return mask

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # raw pipeline columns may hold missing values
        tags.input_tags.string = True
        return tags
