"""I-GOS / iGOS++ on a small skorch CNN trained on 8x8 digits: faithfulness against random
attributions (deletion / insertion AUC, computed here independently of sklxai), the effect of
the L1 and TV weights, and the monotone loss of the Armijo line search."""

import numpy as np
import pytest
from sklxai_igos import IGOS, IGOSPlusPlus

BOTH = [IGOS, IGOSPlusPlus]
# small budgets: 5 iterations, 10 path points, a 4x4 mask; the metric's baseline (black)
SMALL = {"image_shape": (1, 8, 8), "mask_size": 4, "baseline": "zeros", "n_iter": 5,
         "ig_steps": 10, "device": "cpu"}


def deletion_insertion_auc(net, X, saliency):
    """Mean deletion and insertion AUC of the predicted class, one pixel per step, pixels
    replaced by (deletion) or revealed on (insertion) a black image, most salient first."""
    n, d = X.shape
    pred = net.predict_proba(X).argmax(axis=1)
    order = np.argsort(-saliency, axis=1, kind="stable")
    ranks = np.empty_like(order)
    ranks[np.arange(n)[:, None], order] = np.arange(d)
    steps = np.arange(d + 1)[:, None, None]  # (d+1, 1, 1): pixels removed / inserted so far
    chosen = ranks[None] < steps  # (d+1, n, d)
    deleted = np.where(chosen, 0.0, X[None]).astype(np.float32).reshape(-1, d)
    inserted = np.where(chosen, X[None], 0.0).astype(np.float32).reshape(-1, d)
    aucs = []
    for Z in (deleted, inserted):
        p = net.predict_proba(Z).reshape(d + 1, n, -1)[:, np.arange(n), pred]  # (d+1, n)
        aucs.append(((p[1:] + p[:-1]) / 2).mean(axis=0).mean())  # trapezoid over [0, 1]
    return aucs


@pytest.fixture(scope="module")
def rows(digits_cnn):
    _, X = digits_cnn
    return X[1400:1420]


@pytest.mark.parametrize("cls", BOTH)
def test_beats_random_attribution_on_deletion_and_insertion(digits_cnn, rows, cls):
    net, X = digits_cnn
    exp = cls(net, l1=0.3, random_state=0, **SMALL).fit(X[:100]).explain(rows)
    assert exp.values.shape == (20, 64)
    rand = np.random.default_rng(0).random(rows.shape)
    del_r, ins_r = deletion_insertion_auc(net, rows, rand)
    del_m, ins_m = deletion_insertion_auc(net, rows, exp.values)
    # measured: random 0.236 / 0.248; I-GOS 0.108 / 0.417; iGOS++ 0.109 / 0.428
    assert del_m < del_r - 0.05
    assert ins_m > ins_r + 0.05
    # the predicted class was explained, with probabilities as outputs
    proba = net.predict_proba(rows)
    np.testing.assert_allclose(exp.output, proba.max(axis=1), rtol=1e-5)


@pytest.mark.parametrize("cls", BOTH)
def test_armijo_line_search_never_increases_the_loss(digits_cnn, rows, cls):
    net, X = digits_cnn
    est = cls(net, l1=0.3, **SMALL).fit(X[:100])
    curve = est.explain(rows).diagnostics["loss_curve"]
    assert curve.shape == (20, SMALL["n_iter"] + 1)
    assert (np.diff(curve, axis=1) <= 1e-6).all()  # float32 net: re-evaluation rounding only
    assert (curve[:, -1] < curve[:, 0] - 1e-3).mean() >= 0.9


@pytest.mark.parametrize("cls", BOTH)
def test_larger_l1_deletes_a_smaller_area(digits_cnn, rows, cls):
    net, X = digits_cnn
    areas = []
    for l1 in (0.1, 0.3, 1.0):
        est = cls(net, l1=l1, **SMALL).fit(X[:100])
        areas.append((1.0 - est.explain(rows).diagnostics["mask"]).mean())
    assert areas[0] > areas[1] > areas[2]
    assert areas[0] > 2 * areas[2]


@pytest.mark.parametrize("cls", BOTH)
def test_larger_tv_gives_smoother_saliency(digits_cnn, rows, cls):
    net, X = digits_cnn

    def roughness(values):
        img = values.reshape(-1, 8, 8)
        tv = (np.diff(img, axis=1) ** 2).sum(axis=(1, 2)) + (np.diff(img, axis=2) ** 2).sum(
            axis=(1, 2))
        return np.mean(tv / np.maximum((img**2).sum(axis=(1, 2)), 1e-12))

    # a full-resolution mask: only the TV term makes it smooth
    kw = dict(SMALL, mask_size=8, l1=0.1)
    rough = {tv: roughness(cls(net, tv=tv, **kw).fit(X[:100]).explain(rows).values)
             for tv in (0.0, 5.0)}
    assert rough[5.0] < 0.8 * rough[0.0]
