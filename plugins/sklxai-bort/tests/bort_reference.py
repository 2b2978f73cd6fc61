"""Independent references for the sklxai-bort tests (numpy only; shares no code with the plugin).

A uniquely named module rather than conftest.py, so that importing it cannot pick up another
test folder's conftest when every suite runs in one pytest run.
"""

import numpy as np
import torch


def numpy_delta(weight, c):
    """``(W W^T - c I) W`` in float64 numpy, ``W`` flattened to (out, -1)."""
    w = np.asarray(weight, dtype=np.float64)
    m = w.reshape(w.shape[0], -1)
    return ((m @ m.T - c * np.eye(m.shape[0])) @ m).reshape(w.shape)


def leaf(array):
    """A float64 leaf tensor that requires grad, from a numpy array."""
    return torch.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)
