"""The amortized explainers' network: how it is built, and what it sees (the rows, and the
model's outputs on them).

Explaining a row computes v(N) = f(x) anyway (the efficient normalisation needs it), so the
default network of SimSHAP and FastSHAP can take the outputs as further inputs at no cost
(``output_inputs``), with their log-odds where they are probabilities: a probability
saturates where the model is sure, the log-odds go on, and beyond the fit rows' range they
tell the network how far into saturation a row is (measured in the docs' benchmarks,
"Amortized").
"""

import copy

import torch

from sklxai.explainers.networks import MLPExplainerModule, SplitMLPExplainerModule, tree_splits

#: probabilities are clipped to [eps, 1 - eps] before their log-odds
OUTPUT_LOG_ODDS_EPS = 1e-6


def output_features(fx, log_odds):
    """The network's further inputs (n, k or 2k), float32, from the model's outputs ``fx``
    (n, k): the outputs, then, with ``log_odds``, log(p / (1 - p)) of each, p clipped to
    [1e-6, 1 - 1e-6] (in float64: in float32, 1 - 1e-6 rounds)."""
    if not log_odds:
        return fx.to(torch.float32)
    p = fx.double().clamp(OUTPUT_LOG_ODDS_EPS, 1 - OUTPUT_LOG_ODDS_EPS)
    return torch.cat([fx, torch.log(p) - torch.log1p(-p)], dim=1).to(torch.float32)


def network_rows(est, X):
    """fit's rows X (n, n_features) as the network's inputs (numpy, float32 where outputs
    are added); decides ``est.output_inputs_`` and ``est.output_log_odds_``: the outputs
    where ``output_inputs="auto"``, the network is the default one and the targets are
    sampled, their log-odds where every output on X lies in [0, 1]."""
    est.output_inputs_ = (est.output_inputs == "auto" and est.module is None
                          and est.targets_ == "sampled")
    est.output_log_odds_ = None
    if not est.output_inputs_:
        return X
    rows = est.game_.as_tensor(X)
    fx = est.game_.full(rows)
    est.output_log_odds_ = bool(((fx >= 0) & (fx <= 1)).all())
    return network_inputs(est, rows, fx).cpu().numpy()


def network_inputs(est, X, fx):
    """The network's inputs (n, width), float32: the rows X (n, n_features), then, with
    ``est.output_inputs_``, :func:`output_features` of the model's outputs ``fx`` (n, k)."""
    X = X.to(torch.float32)
    if not est.output_inputs_:
        return X
    return torch.cat([X, output_features(fx, est.output_log_odds_).to(X.device)], dim=1)


def output_width(est):
    """How many of the network's inputs are the model's outputs (0 without them)."""
    if not est.output_inputs_:
        return 0
    return len(est._null) * (2 if est.output_log_odds_ else 1)


def build_module(est, X):
    """The explainer network of ``est`` for its inputs X (n, width): ``est.module`` (a class
    called as module(width, n_players * k), or a copy of an instance), else the default MLP
    standardising X, with the tree model's own splits as inputs where ``tree_inputs`` allows
    (:class:`~sklxai.explainers.networks.SplitMLPExplainerModule`); sets ``est.tree_inputs_``
    for the default network."""
    d, n_attr = X.shape[1], est._n_players * est.n_outputs_
    if est.module is None:
        scale = X.std(axis=0)
        scale[scale == 0] = 1.0
        trees = None if est.tree_inputs is False else est.prepared_.trees
        splits = None if trees is None else tree_splits(trees)
        est.tree_inputs_ = splits is not None
        if splits is not None:  # the model's own splits as inputs (see tree_inputs)
            return SplitMLPExplainerModule(d, n_attr, tuple(est.hidden_sizes),
                                           X.mean(axis=0), scale, *splits)
        return MLPExplainerModule(d, n_attr, tuple(est.hidden_sizes), X.mean(axis=0), scale)
    module = (est.module(d, n_attr) if isinstance(est.module, type)
              else copy.deepcopy(est.module))
    if not isinstance(module, torch.nn.Module):
        raise TypeError(
            "module must be a torch.nn.Module instance or a class called as "
            f"module(n_features, n_attributions); got {type(module).__name__}."
        )
    return module
