"""FastSHAP: an amortized Shapley explainer trained with the weighted least-squares loss."""

import torch

from sklxai.explainers._amortized import AmortizedShapley


class FastSHAP(AmortizedShapley):
    """FastSHAP (Jethani et al. 2022): the KernelSHAP objective, amortized over rows.

    The explainer network's efficient prediction phi minimises
    E_S [(v(S) - v(empty) - sum_{i in S} phi_i)^2] with S drawn from the Shapley kernel (paired
    with complements), whose minimiser under the efficiency constraint is the Shapley value.
    Predictions are made exactly efficient by the additive normalisation, as in the paper.
    The loss is a quadratic in phi, so a row's draws are kept as sums (C = sum w m m^T,
    b = sum w m v, sum w v^2) and reused by later epochs like SimSHAP's (``refresh_every``):
    the loss then averages every coalition drawn for the row so far.

    Parameters
    ----------
    model, background, n_background, target, game, feature_groups, module, hidden_sizes, n_subsets,
    background_samples, refresh_every, max_epochs,
    max_time, lr, optimizer, train_batch_size, validation_fraction, patience, callbacks, verbose,
    accelerator, device, random_state, batch_size
        As in :class:`~sklxai.SimSHAP`.

    Attributes
    ----------
    module_, net_, history_, refresh_every_, fit_time_, expected_value_
        As in :class:`~sklxai.SimSHAP`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression
    >>> from sklxai import FastSHAP
    >>> X = np.random.default_rng(0).normal(size=(500, 4))
    >>> model = LinearRegression().fit(X, X @ [1.0, -1.0, 2.0, 0.0])
    >>> FastSHAP(model, n_background=20, max_epochs=5, random_state=0).fit(X).transform(X[:2]).shape
    (2, 4)
    """

    def __init__(self, model, *, background=None, n_background=100, target=None, game="marginal",
                 feature_groups=None, fast_path="auto", module=None, hidden_sizes=(256, 256, 256),
                 n_subsets=32, background_samples=None, refresh_every="auto",
                 max_epochs=100, max_time=None, lr=3e-3,
                 optimizer=torch.optim.AdamW, train_batch_size=256, validation_fraction=0.1,
                 patience=30, callbacks=None, verbose=0, accelerator=None, device="auto",
                 random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, device=device, random_state=random_state,
                         batch_size=batch_size)
        self.game = game
        self.feature_groups = feature_groups
        self.module = module
        self.hidden_sizes = hidden_sizes
        self.n_subsets = n_subsets
        self.background_samples = background_samples
        self.refresh_every = refresh_every
        self.max_epochs = max_epochs
        self.max_time = max_time
        self.lr = lr
        self.optimizer = optimizer
        self.train_batch_size = train_batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.callbacks = callbacks
        self.accelerator = accelerator
        self.verbose = verbose

    def _objective(self, phi, stats):
        # weights sum to 1 per draw: the kernel expectation of the squared residual
        return stats.kernel_loss(phi)
