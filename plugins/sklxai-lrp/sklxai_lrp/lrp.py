"""Layer-wise relevance propagation (LRP) of torch and skorch models, computed by zennit."""

import numbers

import numpy as np
import torch

from sklxai import GradientExplainer
from sklxai.utils import param_validation as pv
from sklxai_lrp import _zennit

__all__ = ["LRP"]


def _check_composite_params(value, name):
    if value is None:
        return
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"{name} must be a dict of keyword arguments of the composite (str "
                        f"keys) or None; got {value!r}.")


def _check_canonizers(value, name):
    if value is None:
        return
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(c, str) for c in names):
        raise TypeError(f"{name} must be None, a canonizer name or a list of them "
                        f"({sorted(_zennit.CANONIZERS)}); got {value!r}.")
    unknown = [c for c in names if c not in _zennit.CANONIZERS]
    if unknown:
        raise ValueError(f"{name} has unknown canonizer(s) {unknown}; the names are "
                         f"{sorted(_zennit.CANONIZERS)}.")


class LRP(GradientExplainer):
    """Layer-wise relevance propagation (Bach et al., 2015) with zennit's composites.

    The explained output f_t(x) is the relevance at the output; each layer hands its relevance
    down to its inputs by the rule the composite assigns to it (Montavon et al., 2019), and the
    relevance that reaches the input is ``values``. zennit (Anders et al.) computes it: its
    composite's hooks turn one backward pass into the relevance propagation, so the values
    equal zennit's ``Gradient`` attributor with the composite and the output relevance
    ``f_t(x)`` at the explained output (0 at the others). The rules map the relevance above
    linearly, so one backward pass from a relevance of 1, scaled by f_t(x), gives them.

    Composites (``composite``), for a network of convolutional and linear layers:

    * ``"EpsilonPlusFlat"`` (default): the flat rule at the first linear or convolutional
      layer, z+ at the other convolutions, epsilon at the linear layers;
    * ``"EpsilonPlus"``: z+ at every convolution, epsilon at the linear layers;
    * ``"EpsilonGammaBox"``: the z-box rule at the first convolution (inputs bounded by
      ``low`` and ``high``), gamma at the other convolutions, epsilon at the linear layers;
    * ``"EpsilonAlpha2Beta1"``: alpha-beta (alpha 2, beta 1) at every convolution, epsilon at
      the linear layers.

    Activation modules pass relevance on unchanged, sums and average pooling split it in
    proportion to their inputs, batch norms pass it on (merge them into the layer before with
    ``canonizers="sequential_merge_batchnorm"``). Operations that are not modules (``F.relu``,
    ``x + y`` outside zennit's canonized blocks) take their plain gradient.

    Conservation: on a network without biases every rule above hands down the relevance it
    gets, up to the stabilisers (epsilon, 1e-6 by default), so the values sum to f_t(x);
    biases, the stabilisers and layers without a rule (a skorch classifier's softmax, which
    is differentiated plainly) make them differ. The explanation's ``base_values`` are 0 (LRP
    distributes f_t(x) itself, against no reference), ``output`` is f_t(x), and
    ``diagnostics["completeness_gap"]`` reports each row's relative gap
    ``|sum_i values_i - f_t(x)| / max(|f_t(x)|, 1e-6)``, the completeness gap of the other
    gradient explainers with a base of 0.

    zennit is imported when the explainer is fitted (``pip install zennit``); the plugin
    imports and registers without it.

    Parameters
    ----------
    model : fitted skorch net or torch.nn.Module
        A differentiable model; its rules attach to its submodules
        (``module.named_modules()``). For a skorch classifier the explained output is the
        probability, as ``predict_proba`` returns it: explain ``net.module_`` to propagate
        the logit's relevance with no softmax in between.
    composite : {"EpsilonPlusFlat", "EpsilonPlus", "EpsilonGammaBox", "EpsilonAlpha2Beta1"}, \
default="EpsilonPlusFlat"
        zennit's composite: which rule each layer gets (see above).
    composite_params : dict or None, default=None
        Keyword arguments of the composite's constructor: ``epsilon`` (the epsilon rule's
        stabiliser), ``stabilizer`` (the other rules'), ``gamma`` (EpsilonGammaBox),
        ``low`` and ``high`` (EpsilonGammaBox: the bounds of the inputs, numbers or
        tensors that broadcast to an image; None of them: the smallest and the largest value
        of the background rows), ``zero_params`` (parameter names to zero, e.g.
        ``["bias"]``), ``layer_map``/``first_map`` (zennit's own mappings, put before the
        composite's). ``canonizers`` is its own parameter.
    canonizers : None, str or list of str, default=None
        zennit's canonizers, applied while the relevance is computed and undone afterwards:
        ``"sequential_merge_batchnorm"`` (a batch norm right after a linear or convolutional
        layer is merged into it), ``"resnet"`` (torchvision ResNets: batch norms merged and
        the residual additions made modules whose relevance is split in proportion) and
        ``"vgg"`` (torchvision VGGs).
    background, n_background, fast_path, device, random_state, batch_size
        See :class:`~sklxai.base.BaseExplainer`. The background only serves
        EpsilonGammaBox's default bounds; nothing here is random.
    target : None, int, label or array of int
        Which output to explain: None (default) each row's predicted output, an int or label
        that output for every row, an array one output index per row of ``explain``'s X.
    internal_batch_size : int or None, default=None
        Rows per forward + backward pass. None: ``batch_size`` when given, else 4096 rows on
        CPU and 65536 on CUDA. Results do not depend on it.

    Attributes
    ----------
    composite_params_ : dict
        The composite's keyword arguments as used (``composite_params`` with
        EpsilonGammaBox's default ``low`` and ``high`` filled in).
    canonizers_ : tuple of str
        The canonizers' names.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai_lrp import LRP
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, bias=False), torch.nn.ReLU(),
    ...                           torch.nn.Flatten(), torch.nn.Linear(48, 2, bias=False))
    >>> images = torch.rand(4, 1, 6, 6).numpy()
    >>> exp = LRP(cnn, composite="EpsilonPlus", device="cpu").fit(images).explain(images)
    >>> exp.values.shape
    (4, 1, 6, 6)
    >>> bool(exp.diagnostics["completeness_gap"].max() < 1e-4)  # no biases: conserved
    True
    """

    _parameter_constraints = {
        **GradientExplainer._parameter_constraints,
        "composite": pv.options(*_zennit.COMPOSITES),
        "composite_params": pv.Constraint(_check_composite_params, "a dict or None"),
        "canonizers": pv.Constraint(_check_canonizers,
                                    "None, a canonizer name or a list of them"),
    }

    def __init__(self, model, *, composite="EpsilonPlusFlat", composite_params=None,
                 canonizers=None, background=None, n_background=100, target=None,
                 fast_path="auto", internal_batch_size=None, device="auto", random_state=None,
                 batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, baseline="zeros",
                         internal_batch_size=internal_batch_size, device=device,
                         random_state=random_state, batch_size=batch_size)
        self.composite = composite
        self.composite_params = composite_params
        self.canonizers = canonizers

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y):
        super()._fit(X, y)
        owner = type(self).__name__
        _zennit.import_zennit(owner)
        accepted = _zennit.composite_parameters(self.composite)
        params = dict(self.composite_params or {})
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            hint = (" (pass canonizers as the canonizers parameter)"
                    if "canonizers" in unknown else "")
            raise ValueError(
                f"composite_params has keys {unknown} that composite={self.composite!r} does "
                f"not take{hint}; its parameters are {sorted(accepted)}.")
        for bound, pick in (("low", np.min), ("high", np.max)):
            if bound in accepted and params.get(bound) is None:
                params[bound] = float(pick(self._model_rows(self.background_)))
        for key in ("epsilon", "stabilizer", "gamma"):
            value = params.get(key, accepted.get(key))
            if isinstance(value, numbers.Real) and not (value >= 0 and np.isfinite(value)):
                raise ValueError(f"composite_params[{key!r}] must be a finite number >= 0; "
                                 f"got {value!r}.")
        low, high = params.get("low"), params.get("high")
        if all(isinstance(v, numbers.Real) for v in (low, high)) and not (
                np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"composite_params' low and high must be finite numbers with low "
                             f"< high (the inputs' bounds); got low={low!r}, high={high!r}.")
        self.composite_params_ = params
        names = self.canonizers
        self.canonizers_ = tuple([names] if isinstance(names, str) else names or ())
        _zennit.make_composite(self.composite, params, self.canonizers_)  # fails now, not later

    # ------------------------------------------------------------------ explain
    def _base_outputs(self, B, rows_t):
        """0 for every row: LRP distributes the explained output itself."""
        return np.zeros(len(rows_t))

    def _attribute(self, X, B, targets):
        """The relevance at the input of output ``targets[r]`` at row r (B is unused)."""
        composite = _zennit.make_composite(self.composite, self.composite_params_,
                                           self.canonizers_)
        relevance, start = [], 0
        with composite.context(self.adapter_.module):
            while start < X.shape[0]:  # the pass size may shrink on the way (out of memory)
                stop = start + self._points_per_pass()
                scores, grad = self._target_gradient(X[start:stop], targets[start:stop])
                relevance.append(scores.double()[:, None] * grad.double())
                start = stop
        return torch.cat(relevance)

    def _after_attribute(self, values, output, base):
        """Each row's relative gap between the relevance's sum and f_t(x) (base is 0)."""
        delta = output - base
        return {"completeness_gap": np.abs(values.sum(axis=1) - delta)
                / np.maximum(np.abs(delta), 1e-6)}

