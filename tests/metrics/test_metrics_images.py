"""The metrics on images passed as images, (n, C, H, W) or (n, H, W), arrays or tensors: the
same numbers as on flattened rows with ``image_shape`` and an Unflatten model."""

import numpy as np
import pytest
import torch

from sklxai import IntegratedGradients
from sklxai.metrics import (
    count_sub_explanations,
    cross_testing,
    deletion_auc,
    faithfulness_correlation,
    insertion_curve,
)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(),
        torch.nn.Linear(64, 3), torch.nn.Softmax(dim=1)).double()
    flat = torch.nn.Sequential(torch.nn.Unflatten(1, (1, 4, 4)), *cnn)
    X = np.random.default_rng(0).random((6, 1, 4, 4))
    exp = IntegratedGradients(cnn, device="cpu").fit(X).explain(X)
    return cnn, flat, X, exp


@pytest.mark.parametrize("patch_size", [None, 2])
def test_deletion_and_insertion_on_images_equal_flattened_rows(setup, patch_size):
    cnn, flat, X, exp = setup
    flat_attr = exp.values.reshape(6, -1)
    a = deletion_auc(cnn, X, exp, patch_size=patch_size, device="cpu")
    b = deletion_auc(flat, X.reshape(6, -1), flat_attr, image_shape=(1, 4, 4),
                     patch_size=patch_size, device="cpu")
    np.testing.assert_allclose(a, b, rtol=1e-12)
    fa, ca = insertion_curve(cnn, torch.as_tensor(X[:, 0]), exp.values[:, 0], device="cpu")
    fb, cb = insertion_curve(flat, X.reshape(6, -1), flat_attr, image_shape=(4, 4),
                             device="cpu")
    np.testing.assert_allclose(fa, fb)
    np.testing.assert_allclose(ca, cb, rtol=1e-12)


def test_image_baselines_and_a_mismatched_image_shape(setup):
    cnn, _, X, exp = setup
    a = deletion_auc(cnn, X, exp, baseline=np.full((1, 4, 4), 0.5), device="cpu")
    b = deletion_auc(cnn, X, exp, baseline=0.5, device="cpu")
    np.testing.assert_allclose(a, b)
    with pytest.raises(ValueError, match=r"image_shape=\(2, 8\), but X holds images"):
        deletion_auc(cnn, X, exp, image_shape=(2, 8), device="cpu")
    with pytest.raises(ValueError, match=r"baseline has shape \(2, 2\)"):
        deletion_auc(cnn, X, exp, baseline=np.zeros((2, 2)), device="cpu")


def test_several_outputs_per_pixel_score_the_target_or_the_predicted_output(setup):
    cnn, _, X, exp = setup
    k3 = np.repeat(exp.values[..., None], 3, axis=-1)  # (n, C, H, W, k)
    np.testing.assert_allclose(deletion_auc(cnn, X, k3, target=1, device="cpu"),
                               deletion_auc(cnn, X, exp.values, target=1, device="cpu"))
    # without a target: each row's predicted output, and its slice of the attributions
    pred = cnn(torch.as_tensor(X)).argmax(dim=1).numpy()
    rng = np.random.default_rng(0)
    kk = rng.normal(size=(*exp.values.shape, 3))
    picked = kk[np.arange(len(X)), ..., pred]
    np.testing.assert_allclose(deletion_auc(cnn, X, kk, device="cpu"),
                               deletion_auc(cnn, X, picked, target=pred, device="cpu"))



def test_faithfulness_cross_testing_and_sub_explanations_on_images(setup):
    cnn, flat, X, exp = setup
    flat_attr = exp.values.reshape(6, -1)
    np.testing.assert_allclose(
        faithfulness_correlation(cnn, X, exp, random_state=0, device="cpu"),
        faithfulness_correlation(flat, X.reshape(6, -1), flat_attr, image_shape=(1, 4, 4),
                                 random_state=0, device="cpu"), rtol=1e-12)
    a = cross_testing({"m": cnn}, {"m": exp}, X, device="cpu").scores
    b = cross_testing({"m": flat}, {"m": flat_attr}, X.reshape(6, -1), image_shape=(1, 4, 4),
                      device="cpu").scores
    np.testing.assert_allclose(a, b, rtol=1e-12)
    ra = count_sub_explanations(cnn, X[:2], patch_size=2, device="cpu")
    rb = count_sub_explanations(flat, X[:2].reshape(2, -1), image_shape=(1, 4, 4),
                                patch_size=2, device="cpu")
    assert ra.sets == rb.sets and ra.patch_grid == (2, 2)
    with pytest.raises(ValueError, match="image_shape is required"):
        count_sub_explanations(flat, X[:2].reshape(2, -1), patch_size=2, device="cpu")
