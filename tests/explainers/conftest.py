"""Small networks for the gradient explainers' and occlusion's tests, built by hand (no
torchvision): an MLP on rows and a CNN on (n, 2, 6, 6) images, both with three outputs."""

import types

import pytest
import torch


def _mlp(d=5):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def _cnn():
    torch.manual_seed(1)
    return torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(4, 4, 3), torch.nn.Softplus(), torch.nn.Flatten(),
        torch.nn.Linear(4, 3))


@pytest.fixture
def nets():
    """``nets.mlp(d=5)`` and ``nets.cnn()``: fresh float32 modules with fixed weights."""
    return types.SimpleNamespace(mlp=_mlp, cnn=_cnn)
