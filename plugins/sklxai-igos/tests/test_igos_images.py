"""I-GOS and iGOS++ on images passed as images, (n, C, H, W) or (n, H, W): the image shape is
read from X, values keep it, and the numbers equal those of flattened rows."""

import numpy as np
import pytest
import torch
from sklxai_igos import IGOS, IGOSPlusPlus

FAST = {"n_iter": 3, "ig_steps": 4, "mask_size": 2, "l1": 0.1}


def _cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(),
        torch.nn.Linear(4 * 16, 3), torch.nn.Softmax(dim=1)).double()


@pytest.mark.parametrize("cls", [IGOS, IGOSPlusPlus])
@pytest.mark.parametrize("baseline", ["blur", "zeros"])
def test_images_as_images_equal_flattened_rows(cls, baseline):
    X = np.random.default_rng(0).random((8, 2, 4, 4))
    cnn = _cnn()
    flat = torch.nn.Sequential(torch.nn.Unflatten(1, (2, 4, 4)), *cnn)
    est = cls(cnn, baseline=baseline, device="cpu", **FAST).fit(torch.as_tensor(X))
    exp = est.explain(X[:3])
    ref = cls(flat, image_shape=(2, 4, 4), baseline=baseline, device="cpu", **FAST)
    ref_exp = ref.fit(X.reshape(8, -1)).explain(X[:3].reshape(3, -1))
    assert est.image_shape_ == (2, 4, 4) and exp.values.shape == (3, 2, 4, 4)
    np.testing.assert_allclose(exp.values.reshape(3, -1), ref_exp.values, rtol=1e-12)
    np.testing.assert_allclose(exp.diagnostics["mask"], ref_exp.diagnostics["mask"])


def test_grey_images_and_the_image_shape_parameter():
    X = np.random.default_rng(0).random((8, 4, 4))
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.Flatten(),
                              torch.nn.Linear(32, 2), torch.nn.Softmax(dim=1)).double()
    est = IGOS(cnn, device="cpu", **FAST).fit(X)  # the CNN takes (n, 1, 4, 4)
    assert est.image_shape_ == (1, 4, 4) and est.explain(X[:2]).values.shape == (2, 4, 4)
    same = IGOS(cnn, image_shape=(1, 4, 4), device="cpu", **FAST).fit(X)
    assert same.image_shape_ == (1, 4, 4)
    with pytest.raises(ValueError, match=r"image_shape=\(1, 2, 8\), but fit's X holds images"):
        IGOS(cnn, image_shape=(1, 2, 8), device="cpu", **FAST).fit(X)
