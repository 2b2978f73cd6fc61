"""Reading one layer's activations of a torch/skorch model through a forward hook.

What lives here: finding the torch module inside what the user gave, resolving a layer name (or
the penultimate layer), and one forward pass that returns the model's raw outputs together with
that layer's activations (with or without a graph). What does not: anything about XNN itself.
"""

import contextlib
import copy

import torch


def torch_module(model, owner):
    """The ``torch.nn.Module`` of a fitted skorch net or a bare module; a TypeError otherwise.

    Returns
    -------
    module : torch.nn.Module
    output_names : list or None
        The class labels of a fitted skorch classifier.
    """
    try:
        from skorch import NeuralNet
    except ImportError:  # pragma: no cover - skorch is a dependency
        NeuralNet = ()
    if isinstance(model, torch.nn.Module):
        return model, None
    if isinstance(model, NeuralNet):
        if not hasattr(model, "module_"):
            raise ValueError(
                f"{owner}: the skorch net {type(model).__name__} is not initialized; fit it "
                "before explaining it.")
        classes = model.classes_ if hasattr(model, "classes_") else None
        return model.module_, None if classes is None else list(classes)
    raise TypeError(
        f"{owner} reads a layer's activations, so the model must be a torch.nn.Module or a "
        f"fitted skorch net; got {type(model).__name__}.")


def place(module, device):
    """``module`` on ``device``: the user's own object if it is there, else a moved copy (the
    user's module is never moved)."""
    params = list(module.parameters()) + list(module.buffers())
    if not params or all(_same_device(p.device, device) for p in params):
        return module
    return copy.deepcopy(module).to(device)


def _same_device(a, b):
    return a == b or (a.type == b.type and b.index is None)


def input_dtype(module):
    """The floating dtype of the module's parameters (float32 when it has none)."""
    for p in module.parameters():
        if p.dtype.is_floating_point:
            return p.dtype
    return torch.float32


def resolve_layer(module, layer, owner):
    """The hooked submodule and where its activations are read.

    Parameters
    ----------
    module : torch.nn.Module
    layer : str or None
        A name from ``module.named_modules()``: its output is read. None: the penultimate
        layer, i.e. the input of the last submodule that has parameters of its own.
    owner : str
        For messages.

    Returns
    -------
    name : str
    submodule : torch.nn.Module
    site : {"output", "input"}
    """
    named = dict(module.named_modules())
    if layer is None:
        with_params = [n for n, m in named.items()
                       if n and any(True for _ in m.parameters(recurse=False))]
        if not with_params:
            raise ValueError(
                f"{owner}: the model has no submodule with parameters, so it has no "
                "penultimate layer; name the layer to explain with layer=.")
        name = with_params[-1]
        return name, named[name], "input"
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a module name (str) or None; got {layer!r}.")
    if layer not in named or layer == "":
        valid = [n for n in named if n]
        shown = ", ".join(repr(n) for n in valid[:30]) + (" ..." if len(valid) > 30 else "")
        raise ValueError(
            f"{owner}: the model has no layer named {layer!r}; valid names (from "
            f"model.named_modules()) are: {shown}.")
    return layer, named[layer], "output"


@contextlib.contextmanager
def eval_mode(module):
    """Dropout and batch-norm as at prediction time; every submodule gets its mode back."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def forward_with_activations(module, submodule, site, X, owner):
    """One forward pass of ``module`` on ``X``: its raw output and ``submodule``'s activations.

    Gradients flow when the caller enables them. The activations are flattened to (n, p).

    Returns
    -------
    output : torch.Tensor of shape (n, k)
    activations : torch.Tensor of shape (n, p)
    """
    seen = []

    def grab(mod, args, out=None):
        value = args[0] if site == "input" else out
        if isinstance(value, (tuple, list)):
            value = value[0]
        seen.append(value)

    if site == "input":
        handle = submodule.register_forward_pre_hook(lambda mod, args: grab(mod, args))
    else:
        handle = submodule.register_forward_hook(grab)
    try:
        with eval_mode(module):
            out = module(X)
    finally:
        handle.remove()
    if len(seen) != 1:
        what = "never" if not seen else f"{len(seen)} times"
        raise ValueError(
            f"{owner}: the hooked layer ran {what} in one forward pass; pick a layer that runs "
            "exactly once per input (layer=).")
    if isinstance(out, (tuple, list)):
        out = out[0]
    out = out.reshape(out.shape[0], -1)
    act = seen[0]
    if not isinstance(act, torch.Tensor) or act.shape[:1] != X.shape[:1]:
        raise ValueError(
            f"{owner}: the hooked layer's activations are not a tensor with one row per input "
            f"(got {type(act).__name__}); pick another layer.")
    return out, act.reshape(act.shape[0], -1)
