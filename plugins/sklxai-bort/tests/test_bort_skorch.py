"""BortSGD as a skorch optimizer: a small CNN on scikit-learn's 8x8 digits."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklxai_bort import BortSGD, orthogonality_error

skorch = pytest.importorskip("skorch")


class SmallCNN(torch.nn.Module):
    def __init__(self, channels=8):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, channels, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(channels)
        self.fc = torch.nn.Linear(channels * 4 * 4, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
        return self.fc(x.flatten(1))


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return train_test_split(X, y.astype(np.int64), test_size=0.3, random_state=0, stratify=y)


def _fit(digits, **kwargs):
    X_train, X_test, y_train, y_test = digits
    torch.manual_seed(0)
    net = skorch.NeuralNetClassifier(
        SmallCNN, criterion=torch.nn.CrossEntropyLoss, optimizer=BortSGD,
        optimizer__momentum=0.9, lr=0.05, max_epochs=3, batch_size=64, train_split=None,
        verbose=0, **kwargs,
    )
    net.fit(X_train, y_train)
    return net, net.score(X_test, y_test)


def test_skorch_fits_with_bort(digits):
    net, accuracy = _fit(digits, optimizer__gamma=0.5)
    assert isinstance(net.optimizer_, BortSGD)
    assert [g["gamma"] for g in net.optimizer_.param_groups] == [0.5]
    assert accuracy > 0.85
    plain, _ = _fit(digits, optimizer__gamma=0.0)
    assert orthogonality_error(net.module_) < 0.5 * orthogonality_error(plain.module_)


def test_skorch_param_groups_and_set_params(digits):
    net, accuracy = _fit(digits, optimizer__gamma=0.5, optimizer__param_groups=[("conv.*", {"gamma": 0.0})])
    assert [g["gamma"] for g in net.optimizer_.param_groups] == [0.0, 0.5]
    assert accuracy > 0.8
    net.set_params(optimizer__c=2.0)  # re-initializes the optimizer with the new key
    assert all(g["c"] == 2.0 for g in net.optimizer_.param_groups)
