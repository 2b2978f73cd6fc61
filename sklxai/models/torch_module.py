"""Adapter for a bare ``torch.nn.Module``."""

import copy

import torch

from sklxai.models._base import ModelAdapter, _as_2d
from sklxai.utils.validation import resolve_device

#: rows per module call on the CPU without gradients (see TorchModuleAdapter.forward): on a
#: 2-core AMD EPYC a 30-64-64-2 MLP ran 131,072 rows in 31 ms in pieces of 2,048-8,192 rows,
#: against 50-72 ms in pieces of 32,768, whose activations (8 MiB a layer) leave the cache
_CPU_PIECE_ROWS = 4096


def _module_device(module):
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    return None


def _module_dtype(module):
    for p in module.parameters():
        if p.dtype.is_floating_point:
            return p.dtype
    return torch.float32


def _place_module(module, device):
    """The module on ``device``: the user's own object if it is there, else a moved copy.

    The user's module is never moved: they may keep training or serving it where it is.
    """
    current = _module_device(module)
    if current is None or current == device or (
        current.type == device.type and device.index is None
    ):
        return module
    return copy.deepcopy(module).to(device)


class TorchModuleAdapter(ModelAdapter):
    """A bare torch module, called in eval mode with an optional output nonlinearity.

    Parameters
    ----------
    module : torch.nn.Module
        Maps (n, d) inputs to (n, k) outputs (or (n,) for one output).
    device : "auto", str or torch.device
        Where to run it; a copy is made if the module lives elsewhere.
    output_fn : callable or None
        Applied to the module's output (e.g. ``torch.softmax``); None keeps raw outputs.

    Attributes
    ----------
    module : torch.nn.Module
        The module that is called, on ``device`` (the user's own object, or a copy where it
        lived on another device): public, e.g. for forward hooks on its layers (the XNN plugin
        reads a layer's activations this way).
    device : torch.device
    input_dtype : torch.dtype
        The dtype of the module's floating-point parameters.
    """

    def __init__(self, module, *, device="auto", output_fn=None, output_names=None,
                 is_classifier=False):
        dev = resolve_device(device)
        self.module = _place_module(module, dev)
        self.device = _module_device(self.module) or dev
        self.input_dtype = _module_dtype(self.module)
        self.output_fn = output_fn
        self.output_names = output_names
        self.is_classifier = is_classifier
        if self.device.type == "cuda":
            self.default_batch_size = 2**20

    def forward(self, X):
        step = _CPU_PIECE_ROWS
        if self.device.type == "cpu" and not torch.is_grad_enabled() and len(X) > 2 * step:
            # many rows without gradients (games, predictions): pieces whose activations stay
            # in the CPU's cache, the same outputs
            return torch.cat([_as_2d(self.module_output(X[i : i + step]))
                              for i in range(0, len(X), step)])
        return _as_2d(self.module_output(X))

    def module_output(self, X):
        """The module's output for ``X`` as it returns it (after ``output_fn``), before
        :meth:`forward` makes it (n, k); in eval mode, keeping gradients."""
        module = self.module
        # dropout and batch-norm must behave as at prediction time; afterwards every submodule
        # gets back its own mode (module.train() would also switch on submodules the user froze)
        modes = [(m, m.training) for m in module.modules()]
        changed = any(training for _, training in modes)
        if changed:
            module.eval()
        try:
            out = module(X)
            if isinstance(out, (tuple, list)):
                out = out[0]
            if self.output_fn is not None:
                out = self.output_fn(out)
        finally:
            if changed:
                for m, training in modes:
                    m.training = training
        return out
