"""SAMP on images passed as images, (n, C, H, W) or (n, H, W), arrays or tensors: values keep
the input's shape and equal those of flattened rows with an Unflatten model."""

import numpy as np
import pytest
import torch
from sklxai_samp import SAMP


@pytest.mark.parametrize("grey", [False, True])
def test_images_as_images_equal_flattened_rows(grey):
    X = np.random.default_rng(0).random((8, 1, 4, 4))
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(),
                              torch.nn.Flatten(), torch.nn.Linear(64, 3),
                              torch.nn.Softmax(dim=1)).double()
    flat = torch.nn.Sequential(torch.nn.Unflatten(1, (1, 4, 4)), *cnn)
    Xi = torch.as_tensor(X[:, 0] if grey else X)
    est = SAMP(cnn, n_steps=6, device="cpu").fit(Xi)
    exp = est.explain(Xi[:3])
    ref = SAMP(flat, n_steps=6, device="cpu").fit(X.reshape(8, -1))
    ref_exp = ref.explain(X[:3].reshape(3, -1))
    assert exp.values.shape == tuple(Xi[:3].shape)
    np.testing.assert_allclose(exp.values.reshape(3, -1), ref_exp.values, rtol=1e-12,
                               atol=1e-15)
    for name in ("completeness_gap", "path_steps"):
        np.testing.assert_allclose(exp.diagnostics[name], ref_exp.diagnostics[name])
    assert exp.efficiency_gap == pytest.approx(ref_exp.efficiency_gap, abs=1e-12)
