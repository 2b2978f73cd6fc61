"""Value functions: v_x(S) for a batch of rows x and coalitions S, evaluated on the device.

A game takes rows ``X`` (n, d) and boolean coalition masks ``(m, d)`` (shared by all rows) or
``(n, m, d)`` (one set per row), and returns coalition values ``(n, m, k)`` for the k model
outputs. Games call model adapters; they know nothing about Shapley estimators.

- :mod:`~sklxai.games.marginal`: the marginal (interventional) game and its single-baseline case;
- :mod:`~sklxai.games.tree`: the marginal game of a tree model computed from its trees (no model
  calls on hybrid rows);
- :mod:`~sklxai.games.surrogate`: FastSHAP's learned surrogate game (a masked network trained to
  match the model) and :func:`~sklxai.games.surrogate.fit_surrogate`.
"""

from sklxai.games.marginal import BaselineGame, Game, MarginalGame
from sklxai.games.surrogate import SurrogateGame, SurrogateModule, fit_surrogate
from sklxai.games.tree import TreeGame

__all__ = [
           "BaselineGame",
           "Game",
           "MarginalGame",
           "SurrogateGame",
           "SurrogateModule",
           "TreeGame",
           "fit_surrogate",
]
