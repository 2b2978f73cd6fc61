"""Training of C3LT's networks, both through skorch ``NeuralNet``.

- :func:`fit_autoencoder`: the generative model when the user brings none, an
  :class:`~sklxai_c3lt.networks.Autoencoder` fitted by mean squared reconstruction error;
- :func:`restored_net`: a trained net of either kind rebuilt from saved weights and history
  (``C3LT.load``), without training;
- :func:`fit_maps`: the latent maps g and h. The net's module is a :class:`CycleObjective`,
  whose forward pass takes a batch of each class and returns the three loss terms; its
  criterion, :class:`C3LTCriterion`, weighs them. Only g and h are parameters: the encoder, the
  decoder and the classifier are held outside the module tree, so skorch neither trains them
  nor switches them to training mode.

Budgets are optimizer steps, rounded up to whole epochs over the training rows; the learning
rate halves eight times over training (the reference code halves it every 25 of 200 epochs).
Both trainings run under a forked torch random state seeded from the estimator's seed: results
are reproducible and the caller's global torch state is left as it was.
"""

import math

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import LRScheduler
from skorch.history import History
from torch import nn

from sklxai_c3lt.losses import classification_loss, cycle_loss, proximity_loss
from sklxai_c3lt.networks import Autoencoder

#: the learning rate halves this many times over training (reference: every 25 of 200 epochs)
_N_DECAYS = 8


class CycleObjective(nn.Module):
    """The maps g and h with everything their loss needs; ``forward`` returns the loss terms.

    Parameters
    ----------
    g, h : torch.nn.Module
        Latent maps, source -> target and target -> source (the trained parameters).
    encoder, decoder : torch.nn.Module
        The generative model, frozen (in eval mode, no gradients to its weights).
    log_proba : callable
        Inputs ``(n, *input_shape)`` -> classifier log-probabilities ``(n, k)``, differentiable.
    source, target : int
        Output indices of the two classes.
    scale : float
        The data's range, the unit of the input-space L1 terms.
    smoothness_weight, entropy_weight : float
        Weights inside the proximity term (the reference's p1, p2).
    """

    def __init__(self, g, h, encoder, decoder, log_proba, *, source, target, scale,
                 smoothness_weight, entropy_weight):
        super().__init__()
        self.g, self.h = g, h
        self.frozen = (encoder, decoder, log_proba)  # a tuple: not registered as submodules
        self.source, self.target = source, target
        self.scale = scale
        self.smoothness_weight, self.entropy_weight = smoothness_weight, entropy_weight

    def forward(self, xa, xb):
        """Loss terms (classification, proximity, cycle) for source rows ``xa`` and target
        rows ``xb``, as a tensor of shape (3,)."""
        encoder, decoder, log_proba = self.frozen
        with torch.no_grad():
            za, zb = encoder(xa), encoder(xb)
        za_cf, zb_cf = self.g(za), self.h(zb)
        xa_cf, xb_cf = decoder(za_cf), decoder(zb_cf)
        za_cyc, zb_cyc = self.h(za_cf), self.g(zb_cf)
        xa_cyc, xb_cyc = decoder(za_cyc), decoder(zb_cyc)
        cls = (classification_loss(log_proba(xa_cf), self.target)
               + classification_loss(log_proba(xb_cf), self.source)) / 2
        prox_kw = {"scale": self.scale, "smoothness_weight": self.smoothness_weight,
                   "entropy_weight": self.entropy_weight}
        prox = (proximity_loss(xa, xa_cf, **prox_kw) + proximity_loss(xb, xb_cf, **prox_kw)) / 2
        cyc = (cycle_loss(xa, xa_cyc, za, za_cyc, scale=self.scale)
               + cycle_loss(xb, xb_cyc, zb, zb_cyc, scale=self.scale)) / 2
        return torch.stack([cls, prox, cyc])


class C3LTCriterion(nn.Module):
    """``classification + alpha * proximity + beta * cycle`` (the reference's total loss
    without its optional adversarial term).

    Parameters
    ----------
    alpha : float
        Weight of the proximity term.
    beta : float
        Weight of the cycle-consistency term.
    """

    def __init__(self, alpha=0.1, beta=0.1):
        super().__init__()
        self.alpha, self.beta = alpha, beta

    def forward(self, terms, y_true=None):
        return terms[0] + self.alpha * terms[1] + self.beta * terms[2]


def _epochs(steps, n_rows, batch_size):
    return max(1, math.ceil(steps / math.ceil(n_rows / batch_size)))


def _train(net, X, y, seed):
    device = torch.device(net.device)
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        net.fit(X, y)
    return net


def _net(module, criterion, *, epochs, batch_size, lr, device, **params):
    return NeuralNet(
        module=module, criterion=criterion, optimizer=torch.optim.Adam, lr=lr,
        max_epochs=epochs, batch_size=batch_size, train_split=None, device=str(device),
        iterator_train__shuffle=True, verbose=0,
        callbacks=[("lr_decay", LRScheduler(policy=torch.optim.lr_scheduler.StepLR,
                                            step_size=max(1, epochs // _N_DECAYS),
                                            gamma=0.5))],
        **params,
    )


def fit_autoencoder(X, *, latent_dim, hidden_size, steps, batch_size, lr, device, seed):
    """Fit an :class:`~sklxai_c3lt.networks.Autoencoder` to ``X`` through skorch.

    Parameters
    ----------
    X : float32 ndarray of shape (n, *input_shape)
    latent_dim, hidden_size : int
    steps, batch_size : int
        Optimizer steps (rounded up to whole epochs) and rows per step.
    lr : float
        Adam's learning rate.
    device : torch.device
    seed : int

    Returns
    -------
    net : skorch.NeuralNet
        Fitted; ``net.module_`` is the autoencoder, ``net.history`` its losses.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        flat = X.reshape(X.shape[0], -1)
        module = Autoencoder(X.shape[1:], latent_dim, hidden_size, flat.min(axis=0),
                             flat.max(axis=0))
    net = _net(module, nn.MSELoss, epochs=_epochs(steps, len(X), batch_size),
               batch_size=batch_size, lr=lr, device=device)
    return _train(net, X, X, seed)


def fit_maps(objective, Xa, Xb, *, alpha, beta, steps, batch_size, lr, device, seed):
    """Train the maps of ``objective`` (a :class:`CycleObjective`) through skorch.

    The two classes are paired row by row for batching: the smaller one is repeated (every row
    once, then rows drawn at random) to the size of the larger one. The loss terms of the two
    directions are separate, so the pairing only decides which rows share a batch.

    Parameters
    ----------
    objective : CycleObjective
    Xa, Xb : float32 ndarray of shape (n_a, *input_shape), (n_b, *input_shape)
        Rows of the source and target class.
    alpha, beta : float
        Weights of the proximity and cycle terms.
    steps, batch_size : int
        Optimizer steps (rounded up to whole epochs) and pairs per step.
    lr : float
        Adam's learning rate (the reference's ``lr_map``).
    device : torch.device
    seed : int

    Returns
    -------
    net : skorch.NeuralNet
        Fitted; ``net.history`` holds the total loss per epoch.
    """
    rng = np.random.default_rng(seed)
    n = max(len(Xa), len(Xb))

    def spread(rows):
        extra = rng.choice(len(rows), size=n - len(rows), replace=True)
        return rows[np.concatenate([rng.permutation(len(rows)), extra])]

    X = {"xa": spread(Xa), "xb": spread(Xb)}
    net = _net(objective, C3LTCriterion, epochs=_epochs(steps, n, batch_size),
               batch_size=batch_size, lr=lr, device=device, criterion__alpha=alpha,
               criterion__beta=beta)
    return _train(net, X, np.zeros(n, dtype=np.float32), seed)


def restored_net(module, history, *, kind, batch_size, lr, device, alpha=0.1, beta=0.1):
    """A net like those :func:`fit_autoencoder` and :func:`fit_maps` return, around ``module``
    (weights already loaded), with the saved ``history``; nothing is trained.

    Parameters
    ----------
    module : Autoencoder or CycleObjective
        The trained module (its weights restored).
    history : list of dict
        The net's saved ``history`` (one dict per epoch).
    kind : {"autoencoder", "maps"}
        Which net it is: its criterion (mean squared error, or :class:`C3LTCriterion`).
    batch_size : int
    lr : float
    device : torch.device
    alpha, beta : float
        The maps' loss weights (``kind="maps"``).

    Returns
    -------
    net : skorch.NeuralNet
        Initialized; ``net.module_`` is ``module`` on ``device``, ``net.history`` the saved one.
    """
    if kind == "autoencoder":
        criterion, params = nn.MSELoss, {}
    else:
        criterion, params = C3LTCriterion, {"criterion__alpha": alpha, "criterion__beta": beta}
    net = _net(module, criterion, epochs=max(1, len(history)), batch_size=batch_size, lr=lr,
               device=device, **params).initialize()
    net.history = History(history)
    return net
