"""Feature groups: a game whose players are groups of columns (one-hot blocks, image patches)."""

import numpy as np
import torch


def check_feature_groups(feature_groups, n_features, feature_names=None):
    """Validate ``feature_groups`` and return (names, list of column-index arrays).

    Parameters
    ----------
    feature_groups : dict {name: columns} or sequence of column sequences
        Columns are indices, or names when ``feature_names`` is given. Every feature must be in
        exactly one group.
    n_features : int
    feature_names : sequence of str or None

    Returns
    -------
    names : list of str
    groups : list of int ndarrays
    """
    if isinstance(feature_groups, dict):
        names = [str(k) for k in feature_groups]
        members = list(feature_groups.values())
    else:
        try:
            members = list(feature_groups)
        except TypeError:
            raise TypeError(
                "feature_groups must be a dict {name: columns} or a list of column lists; got "
                f"{type(feature_groups).__name__}."
            ) from None
        names = [f"group{i}" for i in range(len(members))]
    if not members:
        raise ValueError("feature_groups is empty; give at least one group.")
    lookup = None if feature_names is None else {str(f): i for i, f in enumerate(feature_names)}
    groups, owner = [], {}
    for name, cols in zip(names, members):
        cols = [cols] if isinstance(cols, (str, int, np.integer)) else list(cols)
        if not cols:
            raise ValueError(f"feature_groups: group {name!r} is empty.")
        idx = []
        for c in cols:
            if isinstance(c, str):
                if lookup is None or c not in lookup:
                    raise ValueError(
                        f"feature_groups: group {name!r} names column {c!r}, which is not a "
                        f"feature seen in fit ({list(lookup) if lookup else 'fit had no names'})."
                    )
                c = lookup[c]
            c = int(c)
            if not 0 <= c < n_features:
                raise ValueError(
                    f"feature_groups: group {name!r} has column {c}, outside 0..{n_features - 1}."
                )
            if c in owner:
                raise ValueError(
                    f"feature_groups: column {c} is in groups {owner[c]!r} and {name!r}; each "
                    "feature must be in exactly one group."
                )
            owner[c] = name
            idx.append(c)
        groups.append(np.asarray(idx, dtype=np.int64))
    missing = sorted(set(range(n_features)) - set(owner))
    if missing:
        shown = missing if feature_names is None else [str(feature_names[i]) for i in missing]
        raise ValueError(
            f"feature_groups leaves features {shown} out of every group; each feature must be in "
            "exactly one group (give a group of their own to those you want explained alone)."
        )
    return names, groups


class GroupedGame:
    """The game ``game`` played by groups of features: a coalition of groups includes all of
    their columns.

    Parameters
    ----------
    game : sklxai.games.Game
        The game over the individual features.
    groups : list of int arrays
        Column indices of each group (a partition of the features).
    """

    def __init__(self, game, groups):
        self.game = game
        d = sum(len(g) for g in groups)
        member = torch.zeros(len(groups), d, dtype=torch.float32)
        for i, cols in enumerate(groups):
            member[i, torch.as_tensor(cols)] = 1.0
        self._member = member.to(game.device)
        self.groups = groups

    @property
    def device(self):
        return self.game.device

    @property
    def adapter(self):
        return self.game.adapter

    @property
    def supports_sampled_values(self):
        return self.game.supports_sampled_values

    def __getattr__(self, name):  # background, batch_size, ...: those of the feature game
        if name == "game":
            raise AttributeError(name)
        return getattr(self.game, name)

    def as_tensor(self, X):
        return self.game.as_tensor(X)

    def full(self, X):
        return self.game.full(X)

    def empty_value(self):
        return self.game.empty_value()

    def expand(self, masks):
        """Group masks (..., G) -> feature masks (..., d)."""
        return (masks.to(torch.float32) @ self._member) > 0

    def values(self, X, masks):
        """v_x(S) for coalitions of groups ``masks`` (m, G) or (n, m, G)."""
        masks = torch.as_tensor(masks, device=self.device).bool()
        # games that know groups deduplicate at group level (images: 16 patches, not 64 pixels)
        return self.game.values(X, masks, groups=self._member)

    def sampled_values(self, X, masks, n_samples, *, generator):
        return self.game.sampled_values(X, self.expand(masks), n_samples, generator=generator)


def image_patch_groups(image_shape, patch_size):
    """Feature groups for flattened images: one group per square patch (all channels).

    Parameters
    ----------
    image_shape : tuple (H, W) or (C, H, W)
        Shape of one image; rows of X are the images flattened in C, H, W order.
    patch_size : int

    Returns
    -------
    groups : dict {"patch_r_c": column indices}, patches in row-major order

    Examples
    --------
    >>> groups = image_patch_groups((8, 8), 2)
    >>> len(groups), list(groups["patch_0_0"])
    (16, [0, 1, 8, 9])
    """
    if len(image_shape) == 2:
        image_shape = (1, *image_shape)
    c, h, w = image_shape
    if h % patch_size or w % patch_size:
        raise ValueError(f"patch_size={patch_size} does not divide the image size {h}x{w}.")
    index = np.arange(c * h * w).reshape(c, h, w)
    groups = {}
    for r in range(h // patch_size):
        for q in range(w // patch_size):
            block = index[:, r * patch_size:(r + 1) * patch_size,
                          q * patch_size:(q + 1) * patch_size]
            groups[f"patch_{r}_{q}"] = np.sort(block.reshape(-1))
    return groups


def patches_to_image(values, image_shape, patch_size):
    """Spread patch attributions (n, n_patches[, k]) back to pixels: (n, H, W[, k]).

    Each pixel gets its patch's value divided by the patch's pixel count, so the image sums to
    the same total as the patches (efficiency is kept).
    """
    values = np.asarray(values)
    h, w = image_shape[-2:]
    gh, gw = h // patch_size, w // patch_size
    grid = values.reshape(values.shape[0], gh, gw, *values.shape[2:])
    img = np.repeat(np.repeat(grid, patch_size, axis=1), patch_size, axis=2)
    return img / (patch_size * patch_size)
