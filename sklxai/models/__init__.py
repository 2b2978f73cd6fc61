"""Model adapters: turn what the user fitted into a batched torch function on a device.

An adapter maps a float tensor of model inputs ``(n, d)`` to a float tensor of outputs ``(n, k)``:
probabilities for classifiers (all classes), predictions for regressors. Games call adapters;
adapters never know about coalitions or explainers.

- :class:`SkorchAdapter`: a fitted skorch net, through ``net.module_`` and its output nonlinearity;
- :class:`TorchModuleAdapter`: a bare ``torch.nn.Module``;
- :class:`SklearnAdapter`: any scikit-learn estimator or Pipeline, called on CPU in batches;
- :class:`ImageAdapter`: a model that takes images (N, C, H, W), fed flat rows (see
  :mod:`sklxai.models.images`).

:func:`make_adapter` picks the right one; :func:`prepare_model` also fits an unfitted model,
encodes raw DataFrame columns, takes a column-wise Pipeline's fast path and maps raw columns
to model columns (the players), into one :class:`PreparedModel`.
"""

from sklxai.models._base import ModelAdapter
from sklxai.models.images import ImageAdapter
from sklxai.models.prepare import (
    PreparedModel,
    is_fitted_model,
    make_adapter,
    prepare_model,
)
from sklxai.models.sklearn_estimator import SklearnAdapter
from sklxai.models.skorch_net import SkorchAdapter
from sklxai.models.torch_module import TorchModuleAdapter

__all__ = [
    "ImageAdapter",
    "ModelAdapter",
    "PreparedModel",
    "SklearnAdapter",
    "SkorchAdapter",
    "TorchModuleAdapter",
    "is_fitted_model",
    "make_adapter",
    "prepare_model",
]
