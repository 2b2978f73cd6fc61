"""Which values of a game an explainer computes: Shapley values ("SV") or Banzhaf values ("BV").

For a game v over d players, both are averages of a player's marginal contributions
v(S + i) - v(S) over the coalitions S of the others:

- Shapley values weight a coalition of size s by s! (d-s-1)! / d! (every size counts alike);
  they are efficient: they sum to v(N) - v(empty).
- Banzhaf values weight every coalition alike, 2**-(d-1); they are not efficient, so an
  :class:`~sklxai.Explanation` of them (``index="BV"``) has no efficiency gap.

The explainers that compute both (:class:`~sklxai.ExactShapley`, :class:`~sklxai.TreeShapley`)
take an ``index`` parameter, stored as given and read through :func:`resolve_index` at ``fit``.
"""

from sklxai.utils.param_validation import Constraint

#: accepted spellings (compared case-insensitively) -> the index
_NAMES = {"sv": "SV", "shapley": "SV", "bv": "BV", "banzhaf": "BV"}


def resolve_index(value, name="index"):
    """The index ("SV" or "BV") that ``value`` names.

    Parameters
    ----------
    value : str
        "SV" or "shapley" for Shapley values, "BV" or "banzhaf" for Banzhaf values, in any case.
    name : str
        The parameter, for the message.

    Returns
    -------
    str
        "SV" or "BV".

    Raises
    ------
    ValueError
        When ``value`` names neither.
    """
    index = _NAMES.get(value.lower()) if isinstance(value, str) else None
    if index is None:
        raise ValueError(f"{name} must be 'SV' (Shapley values) or 'BV' (Banzhaf values; "
                         f"'banzhaf' also works, in any case); got {value!r}.")
    return index


#: the ``index`` parameter's constraint (see :func:`resolve_index`)
INDEX = Constraint(lambda value, name: resolve_index(value, name) and None,
                   "'SV' or 'BV' ('shapley', 'banzhaf'; any case)")
