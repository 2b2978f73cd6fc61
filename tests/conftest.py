"""Shared test set-up: one torch thread, and fixtures over the references in sklxai_reference."""

import pytest
import torch
from sklxai_reference import brute_force_shapley, marginal_reference

# Tests use small tensors: one thread is as fast, and far more robust when other processes
# share the (2-core) machine, where torch's thread pool otherwise slows down many times over.
torch.set_num_threads(1)


@pytest.fixture
def brute_force():
    return brute_force_shapley


@pytest.fixture
def marginal_ref():
    return marginal_reference
