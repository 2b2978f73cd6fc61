"""Test setup of the sklxai-rcbm plugin: one torch thread (tiny nets, shared 2-core CI)."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

torch.set_num_threads(1)
