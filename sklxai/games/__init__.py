"""Value functions: v_x(S) for a batch of rows x and coalitions S, evaluated on the device.

A game takes rows ``X`` (n, d) and boolean coalition masks ``(m, d)`` (shared by all rows) or
``(n, m, d)`` (one set per row), and returns coalition values ``(n, m, k)`` for the k model
outputs. Games call model adapters; they know nothing about Shapley estimators.
"""

from sklxai.games.marginal import BaselineGame, Game, MarginalGame

__all__ = ["Game", "MarginalGame", "BaselineGame"]
