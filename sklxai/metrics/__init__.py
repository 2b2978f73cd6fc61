"""Dataset-wide evaluation of attributions.

- :mod:`~sklxai.metrics.accuracy`: :func:`relative_error` against a reference (exact values);
  the efficiency gap is :attr:`sklxai.Explanation.efficiency_gap`;
- :mod:`~sklxai.metrics.deletion`: deletion and insertion curves and their areas (RISE);
- :mod:`~sklxai.metrics.faithfulness`: faithfulness correlation (Bhatt et al. 2020);
- :mod:`~sklxai.metrics.cross_testing`: one model's explanations scored by other models;
- :mod:`~sklxai.metrics.sub_explanations`: counting minimal sufficient explanations of images
  (Shitole et al. 2021), and its search (:class:`SufficientSetSearch`, :func:`patch_players`),
  public for explainers that build on it.

The model-based metrics take a fitted model (skorch net, torch module, scikit-learn estimator),
rows in the model's input space (images as (n, C, H, W) or (n, H, W) arrays or tensors, or
flattened in (C, H, W) order with ``image_shape``) and attributions (an
:class:`~sklxai.Explanation` or an array), and evaluate all perturbed inputs in batches on the
model's device. Per-row metrics return one number per row (averaging is left to the user);
cross-testing returns a labelled matrix, sub-explanation counting a result object. Explainers and
plots do not live here. Importing this package imports torch; ``import sklxai`` does not.
"""

# the function cross_testing shares its module's name: importing it here, once, makes the package
# attribute the function (a lazy __getattr__ would be shadowed by the submodule once imported)
from sklxai.metrics.accuracy import relative_error
from sklxai.metrics.cross_testing import CrossTestingResult, cross_testing
from sklxai.metrics.deletion import (
    deletion_auc,
    deletion_curve,
    insertion_auc,
    insertion_curve,
)
from sklxai.metrics.faithfulness import faithfulness_correlation
from sklxai.metrics.sub_explanations import (
    SubExplanations,
    SufficientSetSearch,
    count_sub_explanations,
    patch_players,
)

__all__ = [
    "CrossTestingResult",
    "SubExplanations",
    "SufficientSetSearch",
    "count_sub_explanations",
    "cross_testing",
    "deletion_auc",
    "deletion_curve",
    "faithfulness_correlation",
    "insertion_auc",
    "insertion_curve",
    "patch_players",
    "relative_error",
]
