"""How explainers follow scikit-learn's protocols: feature names out, clone and tags."""

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted


class SklearnProtocolMixin:
    """scikit-learn's ``get_feature_names_out``, ``__sklearn_clone__`` and
    ``__sklearn_tags__`` for :class:`~sklxai.BaseExplainer` (which supplies
    ``_feature_names``, ``_n_explained_outputs`` and ``output_names_``).
    """

    def get_feature_names_out(self, input_features=None):
        """Names of ``transform``'s columns: the features, prefixed by the output when several.

        Parameters
        ----------
        input_features : array-like of str or None
            Must match ``feature_names_in_`` when given.

        Returns
        -------
        names : ndarray of str
        """
        check_is_fitted(self)
        from sklearn.utils.validation import _check_feature_names_in

        feats = list(_check_feature_names_in(self, input_features))
        if len(feats) != len(self._feature_names()):  # explained players are feature groups
            feats = self._feature_names()
        if self._n_explained_outputs() == 1:
            return np.asarray(feats, dtype=object)
        return np.asarray(
            [f"{out}__{f}" for out in self.output_names_ for f in feats], dtype=object
        )

    def __sklearn_clone__(self):
        # A fitted model is frozen: explainers never change it, and cloning a skorch net or a
        # Pipeline would throw its weights away. Unfitted models are cloned as usual.
        from sklxai.models import is_fitted_model

        params = self.get_params(deep=False)
        for name, value in params.items():
            if name == "model" and is_fitted_model(value):
                continue
            params[name] = clone(value, safe=False)
        return type(self)(**params)

    def __sklearn_tags__(self):
        from sklxai.models import is_fitted_model

        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.input_tags.allow_nan = False
        tags.target_tags.required = not _safe(is_fitted_model, self.model)
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


def _safe(fn, *args):
    try:
        return fn(*args)
    except Exception:
        return False
