"""The networks of C3LT: the small autoencoder fitted when the user brings no generative model,
and the latent maps g (source -> target) and h (target -> source).

Every module takes inputs in their own shape, ``(n, *input_shape)``: images ``(n, C, H, W)`` or
``(n, H, W)`` as they are, tabular rows ``(n, d)``. Training lives in :mod:`sklxai_c3lt.training`.
"""

import math

import torch
from torch import nn


class BoundedOutput(nn.Module):
    """``low + (high - low) * sigmoid(x)``: decoded values stay in the range of the data.

    Parameters
    ----------
    low, high : tensor of shape (d,)
        Per-feature minimum and maximum of the training data (a feature that never varies is
        decoded as its constant value).
    """

    def __init__(self, low, high):
        super().__init__()
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32))

    def forward(self, x):
        return self.low + (self.high - self.low) * torch.sigmoid(x)


class Autoencoder(nn.Module):
    """A small fully connected autoencoder for inputs of any shape.

    ``encoder``: flatten, two hidden ReLU layers of ``hidden_size``, a linear code of
    ``latent_dim``. ``decoder``: the mirror image, a :class:`BoundedOutput` and the input's
    shape again, so that images go in and come out as ``(n, C, H, W)``.

    Parameters
    ----------
    input_shape : tuple of int
        One input's shape, e.g. ``(1, 8, 8)`` or ``(64,)``.
    latent_dim : int
    hidden_size : int
    low, high : array-like of shape (prod(input_shape),)
        Per-feature range of the data (see :class:`BoundedOutput`).

    Attributes
    ----------
    encoder, decoder : torch.nn.Sequential

    Examples
    --------
    >>> import torch
    >>> ae = Autoencoder((1, 8, 8), 4, 16, torch.zeros(64), torch.ones(64))
    >>> ae(torch.rand(3, 1, 8, 8)).shape
    torch.Size([3, 1, 8, 8])
    """

    def __init__(self, input_shape, latent_dim, hidden_size, low, high):
        super().__init__()
        d = math.prod(input_shape)
        self.encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(d, hidden_size), nn.ReLU(),
            nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_size), nn.ReLU(),
            nn.Linear(hidden_size, hidden_size), nn.ReLU(), nn.Linear(hidden_size, d),
            BoundedOutput(low, high), nn.Unflatten(1, tuple(input_shape)),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))


class LatentMap(nn.Module):
    """One C3LT latent transformation: ``z' = z + T(z)``, T a two-layer ReLU network.

    As in the reference code (``NLMappingConv`` with one step), the result is rescaled to the
    norm of ``z`` when ``preserve_norm`` is True. Latent codes of any shape (``(n, k)``, or
    ``(n, k, 1, 1)`` as DCGAN encoders give them) are mapped flattened and given their shape
    back.

    Parameters
    ----------
    latent_dim : int
        Size of one flattened latent code.
    preserve_norm : bool

    Examples
    --------
    >>> import torch
    >>> g = LatentMap(4)
    >>> z = torch.randn(5, 4)
    >>> torch.allclose(g(z).norm(dim=1), z.norm(dim=1))
    True
    """

    def __init__(self, latent_dim, preserve_norm=True):
        super().__init__()
        self.preserve_norm = preserve_norm
        self.net = nn.Sequential(nn.Linear(latent_dim, latent_dim), nn.ReLU(),
                                 nn.Linear(latent_dim, latent_dim))

    def forward(self, z):
        flat = z.reshape(z.shape[0], -1)
        out = flat + self.net(flat)
        if self.preserve_norm:
            norm = flat.norm(dim=1, keepdim=True)
            out = out * norm / out.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return out.reshape(z.shape)
