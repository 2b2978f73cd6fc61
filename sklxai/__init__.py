"""sklxai: scikit-learn-style explainability for torch/skorch models and any scikit-learn estimator.

Explainers are estimators (``fit``/``explain``/``transform``) found by name through entry-point
plugins. Public names are imported lazily, so ``import sklxai`` stays cheap (torch is only imported
when an explainer or adapter is first used).
"""

from importlib import import_module as _import_module

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "BaseExplainer": "sklxai.base",
    "Explanation": "sklxai.explanation",
    "ExactShapley": "sklxai.explainers.exact",
    "ExactInteractions": "sklxai.explainers.interactions",
    "InteractionExplanation": "sklxai._explanation_interactions",
    "KernelSHAP": "sklxai.explainers.kernel",
    "KernelInteractions": "sklxai.explainers.kernel_interactions",
    "PermutationSHAP": "sklxai.explainers.permutation",
    "LeverageSHAP": "sklxai.explainers.leverage",
    "RegressionMSR": "sklxai.explainers.msr",
    "ShapleySampler": "sklxai.explainers.sampler",
    "SimSHAP": "sklxai.explainers.simshap",
    "FastSHAP": "sklxai.explainers.fastshap",
    "IntegratedGradients": "sklxai.explainers.integrated_gradients",
    "Saliency": "sklxai.explainers.saliency",
    "InputXGradient": "sklxai.explainers.input_x_gradient",
    "GradientSHAP": "sklxai.explainers.gradient_shap",
    "DeepLIFT": "sklxai.explainers.deeplift",
    "Occlusion": "sklxai.explainers.occlusion",
    "SmoothGrad": "sklxai.explainers.smoothgrad",
    "GradientExplainer": "sklxai.explainers.gradient",
    "TreeShapley": "sklxai.explainers.tree",
    "TreeInteractions": "sklxai.explainers.tree_interactions",
    "ShapleySelector": "sklxai.selection",
    "MarginalGame": "sklxai.games",
    "BaselineGame": "sklxai.games",
    "make_adapter": "sklxai.models",
    "list_explainers": "sklxai.registry",
    "get_explainer": "sklxai.registry",
    "list_plugins": "sklxai.registry",
    "get_plugin": "sklxai.registry",
    "list_optimizers": "sklxai.registry",
    "get_optimizer": "sklxai.registry",
    "list_metrics": "sklxai.registry",
    "get_metric": "sklxai.registry",
    "list_models": "sklxai.registry",
    "get_model": "sklxai.registry",
    "list_training_methods": "sklxai.registry",
    "get_training_method": "sklxai.registry",
    "datasets": "sklxai.datasets",
    "metrics": "sklxai.metrics",
    "make_report": "sklxai.report",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'sklxai' has no attribute {name!r}") from None
    mod = _import_module(module)
    value = mod if module == f"sklxai.{name}" else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
