"""GRADIA and RES losses against hand computations and the reference's brute-force solver."""

import math

import numpy as np
import pytest
import torch
from sklxai_res import gaussian_blur_masks, gradia_loss, res_loss, res_threshold

NAN = float("nan")


def _brute_force_threshold(x, y):
    """The reference code's BF_solver, loop for loop (signs: y < 0 negative, y > 0 positive)."""
    x, y = x.flatten().tolist(), y.flatten().tolist()
    neg = [i for i, v in enumerate(y) if v < 0]
    pos = [i for i, v in enumerate(y) if v > 0]
    best, best_count = 0.0, 0.0
    for candidates, shift in ((neg, 1e-4), (pos, 0.0)):
        for i in candidates:
            v = x[i] + shift
            count = sum(v > x[j] for j in neg) / max(len(neg), 1) if neg else 0.0
            count += sum(v <= x[j] for j in pos) / len(pos) if pos else 0.0
            if count > best_count:
                best, best_count = v, count
    return best


def test_gradia_is_the_mean_absolute_error_over_annotated_pixels():
    sal = torch.tensor([[[0.2, 0.9], [0.4, 0.0]]])
    mask = torch.tensor([[[0.0, 1.0], [NAN, 1.0]]])
    assert gradia_loss(sal, mask).item() == pytest.approx((0.2 + 0.1 + 1.0) / 3)


@pytest.mark.parametrize("decimals", [None, 1])  # 1 decimal: many ties between pixels
@pytest.mark.parametrize("seed", range(5))
def test_threshold_matches_the_brute_force_solver(seed, decimals):
    rng = np.random.default_rng(seed)
    values = rng.random((3, 4, 4))
    sal = torch.tensor(values if decimals is None else np.round(values, decimals))
    mask = torch.tensor((rng.random((3, 4, 4)) < 0.4).astype(float))
    signs = torch.where(mask >= 0.5, 1.0, -1.0)
    assert res_threshold(sal, mask).item() == pytest.approx(_brute_force_threshold(sal, signs))


def test_res_loss_by_hand():
    sal = torch.tensor([[[0.1, 0.8], [0.6, 0.3]]], dtype=torch.float64)
    mask = torch.tensor([[[0.0, 1.0], [1.0, NAN]]], dtype=torch.float64)
    # threshold: negatives {0.1}, positives {0.8, 0.6}; candidate 0.1001 puts all 3 right
    assert res_threshold(sal, mask).item() == pytest.approx(0.1001)
    # ties: a negative and a positive pixel at 0.3; "negatives strictly below" picks 0.3001
    tied = torch.tensor([[[0.3, 0.3, 0.8]]], dtype=torch.float64)
    assert res_threshold(tied, torch.tensor([[[0.0, 1.0, 1.0]]])).item() == pytest.approx(0.3001)
    a, k = 0.1001, 5.0
    robust = (abs(math.tanh(k * (0.1 - a)) + 1) + abs(math.tanh(k * (0.8 - a)) - 1)
              + abs(math.tanh(k * (0.6 - a)) - 1)) / 3
    # no blur: the imputed mask is the mask itself (NaN -> 0, excluded from the mean)
    imputation = (0.1 + 0.2 + 0.4) / 3
    assert res_loss(sal, mask, blur_sigma=0.0).item() == pytest.approx(robust + imputation)
    # slack: the robust term only counts beyond it
    assert res_loss(sal, mask, slack=0.05, blur_sigma=0.0).item() == pytest.approx(
        max(robust - 0.05, 0) + imputation)
    assert res_loss(sal, mask, slack=10.0, blur_sigma=0.0).item() == pytest.approx(imputation)
    # a fixed threshold and another sharpness
    fixed = (abs(math.tanh(2 * (0.1 - 0.5)) + 1) + abs(math.tanh(2 * 0.3) - 1)
             + abs(math.tanh(2 * 0.1) - 1)) / 3
    assert res_loss(sal, mask, sharpness=2.0, threshold=0.5, blur_sigma=0.0).item() == (
        pytest.approx(fixed + imputation))


def test_blur_is_the_3x3_gaussian_of_the_reference():
    mask = torch.zeros(1, 5, 5, dtype=torch.float64)
    mask[0, 2, 2] = 1.0
    g = math.exp(-1 / (2 * 0.8**2))
    kernel = torch.tensor([g, 1.0, g], dtype=torch.float64)
    expected = torch.zeros(5, 5, dtype=torch.float64)
    expected[1:4, 1:4] = kernel[:, None] * kernel[None, :]
    torch.testing.assert_close(gaussian_blur_masks(mask, 0.8)[0], expected, atol=1e-5, rtol=0)
    # unannotated pixels count as 0 and negatives are clipped
    assert torch.equal(gaussian_blur_masks(torch.tensor([[[NAN, 1.0]]]), 0.0),
                       torch.tensor([[[0.0, 1.0]]]))


def test_robust_term_saturates_on_a_wrongly_annotated_pixel():
    """RES's robust term (res_loss minus its L1 imputation part, which is gradia_loss without
    blur) costs a pixel the mask gets wrong at most 2 / n_pixels, and stops pulling on it once
    the map is clearly on the other side of the threshold; the L1 pull never stops."""
    sal = torch.tensor([[[0.0, 1.0, 1.0, 0.0]]], requires_grad=True)
    mask = torch.tensor([[[0.0, 1.0, 1.0, 1.0]]])  # last pixel: wrongly annotated
    res = res_loss(sal, mask, threshold=0.5, blur_sigma=0.0, sharpness=50.0)
    (res_grad,) = torch.autograd.grad(res, sal)
    l1 = gradia_loss(sal, mask)
    (l1_grad,) = torch.autograd.grad(l1, sal)
    robust_value, robust_grad = (res - l1).item(), res_grad - l1_grad
    assert robust_value == pytest.approx(2 / 4, abs=1e-6)
    assert abs(robust_grad[0, 0, 3].item()) < 1e-9
    assert l1_grad[0, 0, 3].item() == pytest.approx(-0.25)


def test_shape_and_empty_mask_errors():
    with pytest.raises(ValueError, match="same|shape"):
        res_loss(torch.zeros(2, 4, 4), torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match="no annotated pixel"):
        gradia_loss(torch.zeros(1, 2, 2), torch.full((1, 2, 2), NAN))
