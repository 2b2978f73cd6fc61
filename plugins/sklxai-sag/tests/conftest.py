"""Test setup of the sklxai-sag plugin: one torch thread, and a small digits CNN."""

import numpy as np
import pytest
import torch

# small tensors: one thread is as fast, and robust when other processes share the CPU
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits_cnn():
    """A skorch CNN trained 3 epochs on 8x8 digits as images (n, 1, 8, 8) in [0, 1], and them."""
    from sklearn.datasets import load_digits
    from skorch import NeuralNetClassifier

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(8 * 16, 10))
    net = NeuralNetClassifier(cnn, criterion=torch.nn.CrossEntropyLoss,
                              optimizer=torch.optim.Adam, lr=0.01, max_epochs=3, batch_size=128,
                              train_split=None, verbose=0).fit(X[:1400], y[:1400].astype(np.int64))
    return net, X
