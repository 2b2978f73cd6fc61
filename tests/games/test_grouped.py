"""GroupedGame: coalitions of feature groups, deduplicated at group level."""

import numpy as np
import torch

from sklxai.games import MarginalGame
from sklxai.games.grouped import GroupedGame, image_patch_groups
from sklxai.models import make_adapter


def test_grouped_values_equal_expanded_feature_masks_with_and_without_dedupe():
    rng = np.random.default_rng(0)
    # 70 integer-valued columns (more than the 62 a feature-level key can hold) in 7 groups
    X = rng.integers(0, 2, size=(3, 70)).astype(np.float32)
    bg = rng.integers(0, 2, size=(5, 70)).astype(np.float32)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(70, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    groups = [np.arange(10 * i, 10 * i + 10) for i in range(7)]
    masks = torch.as_tensor(rng.random((12, 7)) < 0.5)
    member = torch.zeros(7, 70)
    for i, cols in enumerate(groups):
        member[i, cols] = 1
    expanded = (masks.float() @ member) > 0
    plain = MarginalGame(make_adapter(model, device="cpu"), bg, dedupe=False).values(X, expanded)
    for dedupe in (True, False, "auto"):
        game = GroupedGame(MarginalGame(make_adapter(model, device="cpu"), bg, dedupe=dedupe),
                           groups)
        torch.testing.assert_close(game.values(X, masks), plain, rtol=0, atol=1e-6)
        per_row = masks[None].expand(3, -1, -1)
        torch.testing.assert_close(game.values(X, per_row), plain, rtol=0, atol=1e-6)


def test_patch_groups_cover_an_image_once():
    groups = image_patch_groups((3, 4, 4), 2)  # channels travel with their patch
    assert len(groups) == 4 and len(groups["patch_0_0"]) == 12
    assert sorted(np.concatenate(list(groups.values()))) == list(range(48))
