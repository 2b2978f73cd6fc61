"""Warnings and errors of sklxai's own."""


class AccuracyWarning(UserWarning):
    """An explainer measured its own error and found it above its ``tolerance``.

    Amortized explainers (SimSHAP, FastSHAP) return efficient, plausible-looking values whether
    or not their network learned the game; ``fit`` checks them against a reference on held-out
    rows and warns with this class when the relative error exceeds ``tolerance``. Filter it
    like any warning, e.g. ``warnings.simplefilter("error", AccuracyWarning)`` to make it fatal.
    """
