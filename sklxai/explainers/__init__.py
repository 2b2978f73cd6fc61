"""Explainers, one module per method.

- :mod:`~sklxai.explainers.exact`: ExactShapley, enumeration of all coalitions (the reference);
- :mod:`~sklxai.explainers.interactions`: ExactInteractions, Shapley interaction indices from
  every coalition, computed by :mod:`~sklxai.explainers.interaction_indices` (k-SII, SII,
  STII, FSII, Banzhaf interactions from the coalition values);
- :mod:`~sklxai.explainers.kernel`: KernelSHAP, constrained weighted least squares;
- :mod:`~sklxai.explainers.kernel_interactions`: KernelInteractions, interaction indices from
  a budget of sampled coalitions (a regression surrogate plus a Monte Carlo correction);
- :mod:`~sklxai.explainers.solvers`: from coalition values to Shapley values, shared by the
  estimators (exact enumeration weights, the constrained KernelSHAP solver); imports no
  explainer;
- :mod:`~sklxai.explainers.permutation`: PermutationSHAP, antithetic permutation sampling;
- :mod:`~sklxai.explainers.leverage`: LeverageSHAP, KernelSHAP's regression on coalitions
  drawn by their leverage scores (a uniform size, then a uniform coalition of it);
- :mod:`~sklxai.explainers.msr`: RegressionMSR, regression-adjusted Monte Carlo (a linear plus
  boosted-tree surrogate of each row's game, and a Monte Carlo correction of its residual);
- :mod:`~sklxai.explainers.sampler`: ShapleySampler, the sampling estimator that measured most
  accurate for the budget and d (``method="auto"``);
- :mod:`~sklxai.explainers.simshap` / :mod:`~sklxai.explainers.fastshap`: amortized explainers
  (a network predicts the values in one forward pass), sharing
  :mod:`~sklxai.explainers._amortized` (the explainer network, persistence) and
  :mod:`~sklxai.explainers._trainer` (the skorch NeuralNet that trains it);
- :mod:`~sklxai.explainers.integrated_gradients`: IntegratedGradients (path integral of gradients,
  Riemann and Gauss-Legendre rules, completeness gap);
- :mod:`~sklxai.explainers.saliency` / :mod:`~sklxai.explainers.input_x_gradient`: Saliency (the
  output's gradient, in absolute value by default) and InputXGradient ((x - baseline) * gradient);
- :mod:`~sklxai.explainers.gradient_shap`: GradientSHAP (expected gradients: IG's integrand at
  random path points from random background rows, averaged; standard errors);
- :mod:`~sklxai.explainers.deeplift`: DeepLIFT (rescale rule, complete by construction on every
  operation, :mod:`~sklxai.explainers._deeplift_rules`) and DeepSHAP (``baseline="background"``);
- :mod:`~sklxai.explainers.occlusion`: Occlusion (outputs only, any model: the output change when
  sliding windows are set to a baseline, averaged over the windows covering each feature);
- :mod:`~sklxai.explainers.smoothgrad`: SmoothGrad (any gradient explainer averaged over noisy
  copies of each row; SmoothGrad-squared, VarGrad);
- :mod:`~sklxai.explainers._shapley`: what the Shapley explainers share (game set-up, row
  chunking; subclasses pass the shared parameters with ``shared_params(locals())``);
- :mod:`~sklxai.explainers.tree`: TreeShapley, exact values of tree ensembles (closed-form
  leaf values, batched over rows, background and leaves);
- :mod:`~sklxai.explainers.tree_interactions`: TreeInteractions, exact interaction indices of
  any order of tree ensembles (closed-form terms of each leaf's product game);
- :mod:`~sklxai.explainers.gradient`: GradientExplainer, the public base class of the
  explainers that follow one output's gradient (IG here; SAMP and I-GOS in their plugins).
"""

from sklxai.explainers.deeplift import DeepLIFT
from sklxai.explainers.exact import ExactShapley
from sklxai.explainers.fastshap import FastSHAP
from sklxai.explainers.gradient import GradientExplainer
from sklxai.explainers.gradient_shap import GradientSHAP
from sklxai.explainers.integrated_gradients import IntegratedGradients
from sklxai.explainers.interactions import ExactInteractions
from sklxai.explainers.input_x_gradient import InputXGradient
from sklxai.explainers.kernel import KernelSHAP
from sklxai.explainers.kernel_interactions import KernelInteractions
from sklxai.explainers.occlusion import Occlusion
from sklxai.explainers.permutation import PermutationSHAP
from sklxai.explainers.saliency import Saliency
from sklxai.explainers.simshap import SimSHAP
from sklxai.explainers.smoothgrad import SmoothGrad
from sklxai.explainers.tree import TreeShapley
from sklxai.explainers.tree_interactions import TreeInteractions

__all__ = ["DeepLIFT", "ExactInteractions", "ExactShapley", "FastSHAP", "GradientExplainer", "GradientSHAP", "InputXGradient",
           "IntegratedGradients", "KernelInteractions", "KernelSHAP", "Occlusion", "PermutationSHAP", "Saliency",
           "SimSHAP", "SmoothGrad", "TreeInteractions", "TreeShapley"]
