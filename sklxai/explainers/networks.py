"""Explainer networks for the amortized explainers (SimSHAP, FastSHAP).

A network maps model inputs (n, n_features) to raw attributions (n, n_players * k),
player-major; the explainer then makes them exactly efficient.
"""

import torch


class MLPExplainerModule(torch.nn.Module):
    """The default explainer network for tabular data: standardise, then a GELU MLP.

    Parameters
    ----------
    n_features : int
        Width of the model's input.
    n_attributions : int
        n_players * n_outputs.
    hidden_sizes : tuple of int
    mean, scale : array-like of shape (n_features,) or None
        Input standardisation (stored as buffers, so it is saved with the weights).
    """

    def __init__(self, n_features, n_attributions, hidden_sizes=(256, 256, 256), mean=None,
                 scale=None):
        super().__init__()
        mean = torch.zeros(n_features) if mean is None else torch.as_tensor(mean).float()
        scale = torch.ones(n_features) if scale is None else torch.as_tensor(scale).float()
        self.register_buffer("mean", mean.reshape(n_features))
        self.register_buffer("scale", scale.reshape(n_features))
        layers, width = [], n_features
        for h in hidden_sizes:
            layers += [torch.nn.Linear(width, h), torch.nn.GELU()]
            width = h
        layers.append(torch.nn.Linear(width, n_attributions))
        self.mlp = torch.nn.Sequential(*layers)

    def forward(self, X):
        return self.mlp((X - self.mean) / self.scale)


class PatchCNNExplainerModule(torch.nn.Module):
    """A convolutional explainer network for images explained by square patches.

    Takes flattened images (n, C * H * W), as the explainers see them, and returns one
    attribution per patch and output, (n, n_patches * k), patches in row-major order (the order
    of :func:`~sklxai.games.grouped.image_patch_groups`). 3x3 convolutions extract local
    features, average pooling summarises each patch, and an MLP over all patch summaries gives
    the attributions: a patch's Shapley value depends on the whole image, not only on itself.

    Parameters
    ----------
    image_shape : tuple (C, H, W) or (H, W)
    patch_size : int
    n_outputs : int
        k, the model outputs explained.
    channels : tuple of int
        Widths of the 3x3 convolution layers.
    hidden : int
        Width of the MLP's hidden layer.

    Examples
    --------
    >>> import torch
    >>> from sklxai.explainers.networks import PatchCNNExplainerModule
    >>> net = PatchCNNExplainerModule((8, 8), patch_size=2, n_outputs=10)
    >>> net(torch.zeros(5, 64)).shape
    torch.Size([5, 160])
    """

    def __init__(self, image_shape, patch_size, n_outputs, channels=(32, 64), hidden=256):
        super().__init__()
        if len(image_shape) == 2:
            image_shape = (1, *image_shape)
        c, h, w = image_shape
        if h % patch_size or w % patch_size:
            raise ValueError(
                f"patch_size={patch_size} does not divide the image size {h}x{w}."
            )
        self.image_shape = (c, h, w)
        n_patches = (h // patch_size) * (w // patch_size)
        layers, width = [], c
        for ch in channels:
            layers += [torch.nn.Conv2d(width, ch, 3, padding=1), torch.nn.GELU()]
            width = ch
        self.features = torch.nn.Sequential(*layers, torch.nn.AvgPool2d(patch_size))
        self.head = torch.nn.Sequential(
            torch.nn.Flatten(),
            torch.nn.Linear(width * n_patches, hidden),
            torch.nn.GELU(),
            torch.nn.Linear(hidden, n_patches * n_outputs),
        )
        self.n_patches, self.n_outputs = n_patches, n_outputs

    def forward(self, X):
        x = X.reshape(-1, *self.image_shape)
        out = self.head(self.features(x))  # (n, n_patches * k), patch-major
        return out


class SplitMLPExplainerModule(MLPExplainerModule):
    """:class:`MLPExplainerModule` whose inputs also say which side of a tree model's splits a
    row is on.

    A tree model's Shapley values are piecewise constant between its split thresholds, a shape
    an MLP on the raw columns learns slowly; the indicators 1[x_j <= t] of the model's own
    (feature, threshold) splits make those pieces inputs. The splits are buffers, saved with
    the weights.

    Parameters
    ----------
    n_features, n_attributions, hidden_sizes, mean, scale
        As in :class:`MLPExplainerModule`.
    split_column : int array-like of shape (s,)
        The input column of each split.
    split_threshold : float array-like of shape (s,)
        Its threshold: the indicator is 1 where ``x[column] <= threshold``.
    """

    def __init__(self, n_features, n_attributions, hidden_sizes=(256, 256, 256), mean=None,
                 scale=None, split_column=(), split_threshold=()):
        n_splits = len(split_column)
        super().__init__(n_features + n_splits, n_attributions, hidden_sizes)
        mean = torch.zeros(n_features) if mean is None else torch.as_tensor(mean).float()
        scale = torch.ones(n_features) if scale is None else torch.as_tensor(scale).float()
        self.mean, self.scale = mean.reshape(n_features), scale.reshape(n_features)
        self.register_buffer("split_column", torch.as_tensor(split_column, dtype=torch.long))
        self.register_buffer("split_threshold",
                             torch.as_tensor(split_threshold, dtype=torch.float32))

    def forward(self, X):
        below = (X[:, self.split_column] <= self.split_threshold).to(X.dtype)
        return self.mlp(torch.cat([(X - self.mean) / self.scale, below - 0.5], dim=1))


def tree_splits(trees, max_splits=2048):
    """The (input column, threshold) of a tree model's numeric splits, at most ``max_splits``.

    Distinct splits of each column are kept as they are while all fit, else thinned to evenly
    spaced quantiles of that column's thresholds (each column keeps an equal share).
    Categorical splits are left out (their codes are not ordered).

    Returns
    -------
    columns : int ndarray (s,)
    thresholds : float ndarray (s,)
    """
    import numpy as np

    columns, thresholds = trees.numeric_splits()
    pairs = np.unique(np.stack([columns, thresholds], axis=1), axis=0)
    if len(pairs) <= max_splits:
        return pairs[:, 0].astype(np.int64), pairs[:, 1]
    share = max(1, max_splits // max(len(np.unique(pairs[:, 0])), 1))
    kept = []
    for col in np.unique(pairs[:, 0]):
        values = pairs[pairs[:, 0] == col, 1]
        if len(values) > share:
            values = np.unique(np.quantile(values, np.linspace(0, 1, share)))
        kept += [(col, v) for v in values]
    kept = np.asarray(kept)
    return kept[:, 0].astype(np.int64), kept[:, 1]
