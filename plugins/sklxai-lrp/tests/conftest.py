"""Test setup of the sklxai-lrp plugin: one torch thread (small tensors, shared 2-core CI)."""

import torch

torch.set_num_threads(1)
