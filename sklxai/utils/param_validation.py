"""Declared parameters, checked once: constraints in the manner of scikit-learn's.

Every explainer class lists the constraint of each constructor parameter in a class attribute
``_parameter_constraints`` (a dict, name -> :class:`Constraint`, merged with its base class's),
and ``fit`` calls :func:`validate_params` once. As in scikit-learn, a parameter without a declared
constraint is skipped here, and a test checks that sklxai's own explainers declare every one.
Plugins declare theirs the same way (the constraints below are public).
"""

import numbers

import numpy as np

from sklxai.utils.validation import check_positive_int, resolve_device


class Constraint:
    """A named check of one parameter value: ``check(value, name)`` raises when it is invalid.

    Parameters
    ----------
    check : callable
        Called as ``check(value, name)``; raises a ValueError or TypeError that names the
        parameter, the problem and the fix.
    description : str
        What is accepted, for documentation and messages.
    """

    def __init__(self, check, description):
        self.check = check
        self.description = description

    def __call__(self, value, name):
        self.check(value, name)

    def __repr__(self):
        return f"Constraint({self.description})"


def positive_int(minimum=1, *, allow_none=False):
    """An int >= ``minimum`` (or None when allowed)."""
    def check(value, name):
        check_positive_int(value, name, minimum=minimum, allow_none=allow_none)

    return Constraint(check, f"int >= {minimum}" + (" or None" if allow_none else ""))


def real_in(low, high, *, inclusive=(False, False), allow_none=False):
    """A real number in the interval from ``low`` to ``high`` (open unless ``inclusive``)."""
    left, right = "[" if inclusive[0] else "(", "]" if inclusive[1] else ")"
    text = f"a number in {left}{low}, {high}{right}"

    def check(value, name):
        if value is None and allow_none:
            return
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be {text}; got {value!r}.")
        above = value >= low if inclusive[0] else value > low
        below = value <= high if inclusive[1] else value < high
        if not (above and below):  # NaN fails both
            raise ValueError(f"{name} must be {text}; got {value}.")

    return Constraint(check, text + (" or None" if allow_none else ""))


def options(*values):
    """One of ``values`` (compared with ``==``, booleans only with booleans)."""
    def check(value, name):
        for allowed in values:
            same_kind = isinstance(allowed, bool) == isinstance(value, bool)
            if same_kind and _equal(value, allowed):
                return
        raise ValueError(f"{name} must be one of {list(values)}; got {value!r}.")

    return Constraint(check, f"one of {list(values)}")


def boolean():
    """True or False (numpy booleans included)."""
    def check(value, name):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False; got {value!r}.")

    return Constraint(check, "bool")


def any_of(*constraints):
    """Accepted when one of ``constraints`` accepts it; the message lists them all."""
    text = " or ".join(c.description for c in constraints)

    def check(value, name):
        for constraint in constraints:
            try:
                constraint(value, name)
                return
            except (TypeError, ValueError):
                continue
        raise ValueError(f"{name} must be {text}; got {value!r}.")

    return Constraint(check, text)


def not_none(message):
    """Anything but None; ``message`` says what to pass instead."""
    def check(value, name):
        if value is None:
            raise ValueError(message)

    return Constraint(check, "not None")


def device():
    """A torch device: "auto", "cpu", "cuda", "cuda:1" or a ``torch.device``."""
    def check(value, name):
        resolve_device(value)

    return Constraint(check, "'auto', 'cpu', 'cuda' or a torch.device")


def unchecked(description):
    """A parameter checked later, where its meaning is known (a model, data, a module)."""
    return Constraint(lambda value, name: None, description)


def validate_params(estimator):
    """Check every declared constructor parameter of ``estimator`` against its constraint.

    Parameters without a declared constraint are skipped (as in scikit-learn);
    :func:`undeclared_params` lists them, for tests.

    Raises
    ------
    TypeError
        When a value has the wrong type.
    ValueError
        When a value is out of range or not one of the options.
    """
    constraints = type(estimator)._parameter_constraints
    for name, value in estimator.get_params(deep=False).items():
        if name in constraints:
            constraints[name](value, name)


def undeclared_params(estimator_class):
    """Constructor parameters of ``estimator_class`` with no declared constraint (sorted)."""
    names = estimator_class._get_param_names()
    return sorted(set(names) - set(estimator_class._parameter_constraints))


def _equal(a, b):
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays and the like are never option strings
        return False
