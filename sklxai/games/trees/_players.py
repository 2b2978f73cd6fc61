"""The players of a tree ensemble's inputs and of its leaves' paths (shared by the tree
algorithms: :mod:`~sklxai.games.trees.interventional`,
:mod:`~sklxai.games.trees.path_dependent`, :mod:`~sklxai.games.trees.interactions`)."""

import numpy as np


def node_players(trees, members):
    """The player of each input column and of each node, given each player's columns.

    Parameters
    ----------
    trees : sklxai.models.trees.TreeEnsemble
    members : list of int arrays
        The input columns of each player (every column in at most one player).

    Returns
    -------
    player_of_input : int64 ndarray (n_inputs,)
        ``len(members)`` for columns of no player.
    node_player : int64 ndarray (N,)
        The player each node splits on; ``len(members)`` at leaves and for columns of no
        player (whose splits every hybrid row follows as x and b do).
    """
    P = len(members)
    player_of_input = np.full(trees.n_inputs, P, dtype=np.int64)
    for p, cols in enumerate(members):
        player_of_input[np.asarray(cols, dtype=np.int64)] = p
    return player_of_input, trees.node_players(player_of_input, P)


def path_slots(step_player, P):
    """Number the distinct players on each path (its *slots*, in the players' order), from the
    player of each path step (L, D; P for padding and steps on no player): their count (L,),
    each step's slot (L, D; D for padding and steps on no player) and each slot's player
    (L, D + 1; P beyond)."""
    L, D = step_player.shape
    on = step_player < P
    rows = np.nonzero(on)[0]
    unique, inverse = np.unique(rows * (P + 1) + step_player[on], return_inverse=True)
    owner = unique // (P + 1)
    first = np.searchsorted(owner, np.arange(L))  # each leaf's first distinct player
    slot = np.full((L, D), D, dtype=np.int64)
    slot[on] = inverse.reshape(-1) - first[rows]
    slot_player = np.full((L, D + 1), P, dtype=np.int64)
    slot_player[owner, np.arange(len(unique)) - first[owner]] = unique % (P + 1)
    return np.bincount(owner, minlength=L), slot, slot_player
