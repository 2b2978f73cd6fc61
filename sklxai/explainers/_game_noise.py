"""The game's Monte Carlo noise in a Shapley explainer's standard errors.

A conditional game that draws the removed features (:class:`~sklxai.games.GaussianGame`,
:class:`~sklxai.games.CopulaGame`) reports with each coalition value the variance of its Monte
Carlo mean (:meth:`~sklxai.games.conditional.ConditionalGame.values_and_variances`), and of
v(empty)'s. An estimate linear in the coalition values carries that noise through its weights;
an estimator adds to its own standard errors the part they do not count (coalitions evaluated
once, a coalition listed twice, which is one game value, and v(empty), shared by every value).
"""

import torch

from sklxai.games.conditional import ConditionalGame
from sklxai.games.grouped import GroupedGame


class GameNoiseMixin:
    """The game-noise helpers of :class:`~sklxai.explainers._shapley.ShapleyExplainer`
    (needs its fitted ``game_`` and ``_null``)."""

    def _sampling_game(self):
        """The feature game when it draws (a conditional game with Monte Carlo noise), else
        None."""
        game = self.game_.game if isinstance(self.game_, GroupedGame) else self.game_
        return game if isinstance(game, ConditionalGame) and game.samples else None

    def _centered_values_and_variances(self, X, masks):
        """:meth:`_centered_values` and the variance of each value's Monte Carlo mean, (n, m, k)
        float64, where the game draws; None in its place where the game is exact."""
        game = self._sampling_game()
        if game is None:
            return self._centered_values(X, masks), None
        if isinstance(self.game_, GroupedGame):  # coalitions of groups -> of their columns
            masks = self.game_.expand(torch.as_tensor(masks, device=self.game_.device).bool())
        values, variances = game.values_and_variances(X, masks)
        return values.double() - self._null, variances.double()

    def _with_game_noise(self, errors, propagated, null_coef):
        """Standard errors with the game's Monte Carlo noise added, where the game draws.

        An estimate linear in the coalition values carries their noise through its weights:
        ``propagated`` (n, p, k) is the variance that the values' noise adds and ``errors``
        (n, p, k) or None the estimator's own standard errors do not count (the sum over the
        coalitions of their squared weights times :meth:`_centered_values_and_variances`'
        variances, less what ``errors`` already holds), and ``null_coef`` ((p,), (n, p) or a
        number) is the weight of v(empty) in each estimate: its draws are shared by every
        coalition value and every row. Returns ``sqrt(errors**2 + propagated +
        null_coef**2 var(v(empty)))``, (n, p, k).
        """
        var_null = self._sampling_game().empty_variance().double()
        null_coef = torch.as_tensor(null_coef, dtype=torch.float64, device=propagated.device)
        var = propagated + null_coef[..., None] ** 2 * var_null
        if errors is not None:
            var = var + errors.double() ** 2
        return var.clamp(min=0.0).sqrt()

    def _one_player_errors(self, total):
        """Standard errors (n, 1, k) of one player's value, ``total`` (n, k) = f(x) - v(empty):
        0, or v(empty)'s where the game draws."""
        zero = torch.zeros_like(total[:, None, :], dtype=torch.float64)
        return zero if self._sampling_game() is None else self._with_game_noise(None, zero, 1.0)
