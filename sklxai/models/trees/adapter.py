"""Compiled trees as a model adapter: a tree model's outputs as a batched torch function.

The adapter runs :meth:`TreeEnsemble.raw`, which walks the trees: every row starts at the root of
every tree and takes one step per level (the routing rule of
:meth:`TreeEnsemble.values_go_left`), so a batch costs rows x trees x depth gathers, on the
adapter's device.
"""

import torch

from sklxai.models._base import ModelAdapter
from sklxai.models.trees.readers import read_trees
from sklxai.utils.validation import resolve_device

_MODEL_OUTPUTS = ("auto", "raw")


class TreeAdapter(ModelAdapter):
    """A fitted tree model run as its compiled trees (:class:`TreeEnsemble`) on a device.

    Every row is sent down every tree at once, in float64 tensors: no call into the model's
    library, no round trip through numpy. The outputs are those the generic scikit-learn
    adapter gives: ``predict`` for regressors, ``predict_proba`` for classifiers (forests,
    single trees and boosted models alike), or the raw margin with ``model_output="raw"``.

    Parameters
    ----------
    model : fitted tree model
        Any model :func:`~sklxai.models.trees.read_trees` reads (scikit-learn's trees, forests
        and gradient boosting, XGBoost, LightGBM and CatBoost).
    model_output : {"auto", "raw"}
        "auto": ``predict`` of regressors, ``predict_proba`` of classifiers (for a boosting
        ``xgboost.Booster`` or ``lightgbm.Booster`` with a logistic or softmax objective, the
        class probabilities too, two columns when binary). "raw": the sum of the trees, the
        margin (``decision_function`` of a boosted classifier, one column when binary;
        ``predict_proba`` of a forest, whose trees average probabilities).
    device : "auto", str or torch.device
        Where the trees run ("auto": CUDA when available).

    Attributes
    ----------
    trees : TreeEnsemble
        The compiled trees, on ``device``.
    output_names : list or None
        The class labels of a classifier (the positive class alone for a binary margin).
    is_classifier : bool
        Whether the outputs are class probabilities.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from sklxai.models.trees.adapter import TreeAdapter
    >>> X = np.random.default_rng(0).normal(size=(100, 3))
    >>> model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, X[:, 0] > 0)
    >>> adapter = TreeAdapter(model, device="cpu")
    >>> bool(np.allclose(adapter.predict(X), model.predict_proba(X), rtol=0, atol=1e-12))
    True
    """

    input_dtype = torch.float64
    default_batch_size = 2**14

    def __init__(self, model, *, model_output="auto", device="auto"):
        if model_output not in _MODEL_OUTPUTS:
            raise ValueError(f"model_output must be one of {list(_MODEL_OUTPUTS)}; got "
                             f"{model_output!r}.")
        self.model = model
        self.model_output = model_output
        self.device = resolve_device(device)
        self.trees = read_trees(model).to(self.device)
        if self.device.type == "cuda":
            self.default_batch_size = 2**16
        probabilities = self.trees.raw_method == "predict_proba"
        boosted_classifier = self.trees.link in ("sigmoid", "softmax")
        self.is_classifier = probabilities or (boosted_classifier and model_output == "auto")
        names = self.trees.output_names
        if names is not None and model_output == "raw" and self.trees.link == "sigmoid":
            names = [names[1]]  # a binary margin: the log-odds of the second class
        self.output_names = None if names is None else list(names)

    def forward(self, X):
        """The explained outputs (see ``model_output``) at input rows X of shape (n, n_inputs):
        float64 (n, k) on the device."""
        if X.dim() != 2 or X.shape[1] != self.trees.n_inputs:
            raise ValueError(
                f"X has {X.shape[-1] if X.dim() else 0} features, but "
                f"{type(self.model).__name__} is expecting {self.trees.n_inputs} features as "
                "input."
            )
        if X.requires_grad and torch.is_grad_enabled():
            raise TypeError(
                f"{type(self.model).__name__} is a tree model: its outputs are piecewise "
                "constant, without gradients. Explain it with TreeShapley, ExactShapley or "
                "KernelSHAP, not with a gradient explainer."
            )
        raw = self.trees.raw_encoded(self.trees.encode(X))
        return raw if self.model_output == "raw" else self.trees.inverse_link(raw)
