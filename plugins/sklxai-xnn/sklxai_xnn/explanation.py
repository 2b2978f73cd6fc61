"""XNNExplanation: an :class:`sklxai.Explanation` over x-features, with their input maps."""

import numpy as np

from sklxai import Explanation


class XNNExplanation(Explanation):
    """What :meth:`XNN.explain <sklxai_xnn.XNN.explain>` returns.

    As an :class:`sklxai.Explanation`, its players are the x-features: ``values`` are their
    contributions ``w[t, j] * x_j`` to the reconstructed output ``t`` of each row,
    ``base_values`` the readout's bias ``b[t]``, and ``output`` the reconstructed output, so
    ``values.sum(axis=1) + base_values == output`` exactly (``efficiency_gap``); ``data`` holds
    the x-feature activations. ``maps``, ``inputs``, ``targets`` and ``model_output`` hold one
    entry per row: slicing the rows slices them (``exp[:2].maps`` are the first two rows'
    maps), and slicing features, :meth:`flatten`, :meth:`select_output` and :meth:`concat`
    keep them (an x-feature's map stays ``maps[:, j]``). ``save``/``load`` keep the arrays of
    :class:`sklxai.Explanation` only.

    Parameters
    ----------
    values : ndarray of shape (n, m)
        Contributions of the m x-features.
    base_values : ndarray of shape (n,)
    data : ndarray of shape (n, m)
        The x-feature activations.
    feature_names : list of str
        The x-features' names.
    output_names : list or None
    output : ndarray of shape (n,)
        The reconstructed output.
    maps : ndarray of shape (n, m, *input_shape)
        One attribution map per x-feature over the input, the input's own shape.
    inputs : ndarray of shape (n, *input_shape)
        The rows explained.
    targets : ndarray of int of shape (n,)
        The output explained in each row.
    model_output : ndarray of shape (n,)
        The model's own value of that output (its raw output, e.g. the logit).
    attribution : str
        How ``maps`` were computed.
    method : str
    feature_shape, diagnostics
        As :class:`sklxai.Explanation` (None: the x-features are one axis, no diagnostics).

    Attributes
    ----------
    maps, inputs, targets, model_output, attribution
        As above.

    Examples
    --------
    >>> import numpy as np
    >>> e = XNNExplanation(np.ones((1, 2)), np.zeros(1), np.ones((1, 2)), ["xf0", "xf1"],
    ...                    output=np.array([2.0]), maps=np.zeros((1, 2, 3)),
    ...                    inputs=np.zeros((1, 3)), targets=np.array([0]),
    ...                    model_output=np.array([2.1]), attribution="gradient_x_input")
    >>> e.efficiency_gap, e.maps.shape
    (0.0, (1, 2, 3))
    """

    _row_fields = ("maps", "inputs", "targets", "model_output")
    _fields = ("attribution",)

    def __init__(self, values, base_values, data, feature_names, output_names=None,
                 output=None, *, maps, inputs, targets, model_output, attribution,
                 method="XNN", feature_shape=None, diagnostics=None):
        super().__init__(values, base_values, data, feature_names, output_names=output_names,
                         output=output, method=method, feature_shape=feature_shape,
                         diagnostics=diagnostics)
        self.maps = np.asarray(maps)
        self.inputs = np.asarray(inputs)
        self.targets = np.asarray(targets)
        self.model_output = np.asarray(model_output)
        self.attribution = attribution
