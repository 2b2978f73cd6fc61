"""Fixtures for the sklxai-bort tests."""

import numpy as np
import pytest
import torch

# small tensors: one thread is as fast, and robust on a shared 2-core machine
torch.set_num_threads(1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
