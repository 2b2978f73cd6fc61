"""The explanation network (XNN with an SRAE decoder) and its training loss, in torch.

Nothing here knows about hooks, models or estimators: :class:`XNNModule` maps standardized
activations to x-features, the reconstructed outputs and the reconstructed activations, and
:class:`XNNLoss` is the skorch criterion that scores them.
"""

import torch

#: keeps the cosine of the pull-away term finite for an x-feature that is zero on a whole batch
_EPS = 1e-8


class XNNModule(torch.nn.Module):
    """Encoder to non-negative x-features, a linear readout of the outputs, and a decoder.

    Parameters
    ----------
    n_inputs : int
        Size of the (flattened) activation vector.
    n_outputs : int
        Number of model outputs reconstructed.
    n_xfeatures : int
        Number of x-features (the explanation space's dimension).
    hidden_size : int
        Width of the hidden layer of the encoder and of the decoder.

    Examples
    --------
    >>> import torch
    >>> xf, y, z, bases = XNNModule(6, 3, 2, 8)(torch.zeros(4, 6))
    >>> xf.shape, y.shape, z.shape, bases.shape
    (torch.Size([4, 2]), torch.Size([4, 3]), torch.Size([4, 6]), torch.Size([8, 2]))
    """

    def __init__(self, n_inputs, n_outputs, n_xfeatures, hidden_size):
        super().__init__()
        # non-negative x-features: a concept is absent (near 0) or present with some strength;
        # softplus rather than ReLU, whose units can die for good (0 on every row, no gradient)
        self.encoder = torch.nn.Sequential(
            torch.nn.Linear(n_inputs, hidden_size), torch.nn.ReLU(),
            torch.nn.Linear(hidden_size, n_xfeatures), torch.nn.Softplus())
        self.readout = torch.nn.Linear(n_xfeatures, n_outputs)
        self.decoder = torch.nn.Sequential(
            torch.nn.Linear(n_xfeatures, hidden_size), torch.nn.ReLU(),
            torch.nn.Linear(hidden_size, n_inputs))

    @property
    def bases(self):
        """The x-features' directions in the encoder's hidden space, one column each (h, m)."""
        return self.encoder[2].weight.T

    def forward(self, Z):
        """x-features (n, m), reconstructed outputs (n, k), reconstructed activations (n, p),
        and :attr:`bases` (h, m), which the pull-away term of :class:`XNNLoss` reads."""
        xf = self.encoder(Z)
        return xf, self.readout(xf), self.decoder(xf), self.bases


def pull_away_term(V):
    """Mean squared cosine between the columns of ``V`` (one column per x-feature).

    ``PT = 1 / (m (m - 1)) * sum_{i != j} cos(V[:, i], V[:, j]) ** 2``: 0 when the columns are
    orthogonal, 1 when they are all parallel. A zero column has cosine 0 with every other.

    Parameters
    ----------
    V : torch.Tensor of shape (h, m)
        m vectors, m >= 2 (fewer: 0).

    Returns
    -------
    pt : torch.Tensor (scalar)

    Examples
    --------
    >>> import torch
    >>> float(pull_away_term(torch.tensor([[1.0, 0.0], [0.0, 1.0]])))
    0.0
    """
    m = V.shape[1]
    if m < 2:
        return V.new_zeros(())
    unit = V / (V.norm(dim=0, keepdim=True) + _EPS)
    cos2 = (unit.T @ unit) ** 2
    return (cos2.sum() - cos2.diagonal().sum()) / (m * (m - 1))


def reconstruction_loss(Z_hat, Z, kind):
    """Mean reconstruction loss of the activations.

    ``"sparse"`` is SRAE's ``log(1 + r ** 2)`` per activation: it grows slowly for large errors,
    so the x-features may leave part of the activation space unexplained (the paper's "sparse
    reconstruction"); ``"mse"`` is the plain squared error.

    Parameters
    ----------
    Z_hat, Z : torch.Tensor of shape (n, p)
        Reconstructed and true standardized activations.
    kind : {"sparse", "mse"}

    Returns
    -------
    loss : torch.Tensor (scalar)
    """
    r2 = (Z_hat - Z) ** 2
    return torch.log1p(r2).mean() if kind == "sparse" else r2.mean()


class XNNLoss(torch.nn.Module):
    """The XNN training loss, as a skorch criterion.

    ``loss = faithfulness + reconstruction_weight * reconstruction
    + sparsity * mean|x-features| + pull_away * PT``, where faithfulness is the mean squared
    error of the reconstructed (standardized) outputs and PT the :func:`pull_away_term` of the
    x-features' bases (their directions in the encoder's hidden space, the module's fourth
    output). On the bases rather than on a batch of x-feature values: there, an x-feature that
    is 0 on the whole batch would have cosine 0 with every other, so the term would reward
    switching x-features off.

    The target ``y_true`` is the standardized model outputs and activations side by side,
    ``[Y (n, k), Z (n, p)]``, so a plain skorch ``NeuralNet`` trains the network.

    Parameters
    ----------
    n_outputs : int
        k: the first k columns of ``y_true`` are the outputs.
    reconstruction : {"sparse", "mse"}
        See :func:`reconstruction_loss`.
    reconstruction_weight, sparsity, pull_away : float
        Weights of the terms (0 switches one off).

    Examples
    --------
    >>> import torch
    >>> loss = XNNLoss(1, "mse", 1.0, 0.0, 0.0)
    >>> xf = torch.ones(2, 2)
    >>> float(loss((xf, torch.ones(2, 1), torch.zeros(2, 3), torch.eye(2)), torch.ones(2, 4)))
    1.0
    """

    def __init__(self, n_outputs, reconstruction, reconstruction_weight, sparsity, pull_away):
        super().__init__()
        self.n_outputs = n_outputs
        self.reconstruction = reconstruction
        self.reconstruction_weight = reconstruction_weight
        self.sparsity = sparsity
        self.pull_away = pull_away

    def terms(self, y_pred, y_true):
        """The four unweighted terms: faithfulness, reconstruction, sparsity, pull-away."""
        xf, Y_hat, Z_hat, bases = y_pred
        Y, Z = y_true[:, :self.n_outputs], y_true[:, self.n_outputs:]
        return (((Y_hat - Y) ** 2).mean(), reconstruction_loss(Z_hat, Z, self.reconstruction),
                xf.abs().mean(), pull_away_term(bases))

    def forward(self, y_pred, y_true):
        faith, rec, l1, pt = self.terms(y_pred, y_true)
        return (faith + self.reconstruction_weight * rec + self.sparsity * l1
                + self.pull_away * pt)
