"""Value functions: v_x(S) for a batch of rows x and coalitions S, evaluated on the device.

A game takes rows ``X`` (n, d) and boolean coalition masks ``(m, d)`` (shared by all rows) or
``(n, m, d)`` (one set per row), and returns coalition values ``(n, m, k)`` for the k model
outputs. Games call model adapters; they know nothing about the Shapley estimators, except
for the closed forms that only exist for the games of trees.

- :mod:`~sklxai.games.marginal`: the marginal (interventional) game and its single-baseline case;
- :mod:`~sklxai.games.trees`: the games of tree models from their trees:
  :class:`~sklxai.games.TreeGame` (the marginal game without model calls on hybrid rows) and the
  exact Shapley values of the marginal game (:mod:`~sklxai.games.trees.interventional`, on the
  per-leaf closed forms of :mod:`~sklxai.games.trees.closed_form`);
- :mod:`~sklxai.games.conditional`: the conditional (observational) games fitted on data,
  v_x(S) = E[f(x_S, X_not S) | X_S = x_S]: :class:`~sklxai.games.GaussianGame`,
  :class:`~sklxai.games.CopulaGame` (Gaussian draws, batched per coalition, seeded) and
  :class:`~sklxai.games.EmpiricalGame` (kernel-weighted background rows);
- :mod:`~sklxai.games.surrogate`: FastSHAP's learned surrogate game (a masked network trained to
  match the model) and :func:`~sklxai.games.surrogate.fit_surrogate`.
"""

from sklxai.games.conditional import ConditionalGame
from sklxai.games.copula import CopulaGame
from sklxai.games.empirical import EmpiricalGame
from sklxai.games.gaussian import GaussianGame
from sklxai.games.marginal import BaselineGame, Game, MarginalGame
from sklxai.games.surrogate import SurrogateGame, SurrogateModule, fit_surrogate
from sklxai.games.trees import TreeGame

__all__ = [
           "BaselineGame",
           "ConditionalGame",
           "CopulaGame",
           "EmpiricalGame",
           "Game",
           "GaussianGame",
           "MarginalGame",
           "SurrogateGame",
           "SurrogateModule",
           "TreeGame",
           "fit_surrogate",
]
