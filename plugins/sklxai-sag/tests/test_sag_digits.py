"""SAG on a small digits CNN: roots are sufficient and minimal, checked by independent passes."""

import itertools

import numpy as np
import torch
from sklxai_sag import SAG


def _probability(net, image, patches, target):
    """P(target) of the CNN with only ``patches`` (2x2, row-major over 4x4) shown, zeros else."""
    keep = np.zeros((8, 8), dtype=bool)
    for p in patches:
        r, q = divmod(p, 4)
        keep[2 * r:2 * r + 2, 2 * q:2 * q + 2] = True
    shown = np.where(keep, image[0], 0.0).astype(np.float32)[None, None]
    with torch.no_grad():
        return float(torch.softmax(net.module_(torch.as_tensor(shown)), dim=1)[0, target])


def test_roots_are_sufficient_and_no_proper_subset_is(digits_cnn):
    net, X = digits_cnn
    Xt = X[1500:1508]
    sag = SAG(net, seed_params={"n_iter": 5, "ig_steps": 8}, max_depth=1, random_state=0,
              device="cpu").fit(X[:200])
    exp = sag.explain(Xt)
    assert exp.values.shape == (8, 1, 8, 8)
    n_roots = 0
    for i, g in enumerate(exp.graphs):
        full = _probability(net, Xt[i], range(16), g.target)
        assert g.full_score == np.float32(full) or abs(g.full_score - full) < 1e-5
        for root in g.roots:
            n_roots += 1
            assert _probability(net, Xt[i], root, g.target) >= 0.9 * full - 1e-6
            for k in range(len(root)):
                for sub in itertools.combinations(root, k):
                    assert _probability(net, Xt[i], sub, g.target) < 0.9 * full + 1e-6, (
                        i, root, sub)
        # roots share at most one patch, and there are at most three
        assert len(g.roots) <= 3
        for a, b in itertools.combinations(g.roots, 2):
            assert len(set(a) & set(b)) <= 1
        # values: how many roots hold each pixel's patch
        counts = np.zeros(16)
        for root in g.roots:
            counts[list(root)] += 1
        np.testing.assert_array_equal(exp.values[i, 0], np.kron(counts.reshape(4, 4),
                                                                np.ones((2, 2))))
    assert n_roots >= 8  # every image of a confident CNN has at least one root
