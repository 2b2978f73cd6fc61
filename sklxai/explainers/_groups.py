"""Players of Shapley explainers: raw columns, or feature groups of them (one-hot blocks,
image patches), mapped to the model-space columns they own."""

import numpy as np

from sklxai.games.grouped import check_feature_groups


class FeatureGroupsMixin:
    """``feature_groups`` for explainers whose players are columns or groups of columns.

    The explainer declares a ``feature_groups`` parameter; :meth:`_fit_players` validates it at
    ``fit`` (after the model is prepared) and returns each player's model-space columns. Values
    then have one column per group, named by the dict's keys, and ``Explanation.data`` one
    value per group.

    Attributes
    ----------
    feature_groups_ : dict or None
        The validated groups, name -> raw column indices.
    """

    def _fit_players(self, X):
        """Validate ``feature_groups`` for fit's rows X; the model columns of each player."""
        groups = None
        self.feature_groups_ = None
        if self.feature_groups is not None:
            names, groups = check_feature_groups(self.feature_groups, X.shape[1],
                                                 self.prepared_.feature_names)
            self.feature_groups_ = dict(zip(names, groups, strict=True))
        return self.prepared_.player_columns(groups)

    def _players_are_features(self):
        return not self.feature_groups_

    def _feature_names(self):
        if self.feature_groups_:
            return list(self.feature_groups_)
        return super()._feature_names()

    def _explanation_data(self, X):
        data = super()._explanation_data(X)
        if not self.feature_groups_:
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
