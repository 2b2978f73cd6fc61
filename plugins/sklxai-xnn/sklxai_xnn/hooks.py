"""Reading one layer's activations of a torch/skorch model through a forward hook.

What lives here: checking that a model has a torch module whose layers can be hooked,
resolving a layer name (or the penultimate layer), and one forward pass through the model's
sklxai adapter that returns the module's raw outputs together with that layer's activations
(with or without a graph). What does not: anything about XNN itself, and anything about input
shapes (the adapter takes flat rows and gives the module its own input shape).
"""

import torch


def check_torch_model(model, owner):
    """Refuse, before anything runs, a model whose layers cannot be hooked.

    Accepted: a ``torch.nn.Module``, a skorch net (an unfitted one is fitted, or refused, by
    :func:`sklxai.models.prepare_model` as for every explainer), or a scikit-learn ``Pipeline``
    whose last step is one of these.

    Parameters
    ----------
    model : object
        What the user passed as ``model``.
    owner : str
        Who asks (the explainer's class name), for messages.

    Raises
    ------
    TypeError
        For any other model.

    Examples
    --------
    >>> import torch
    >>> check_torch_model(torch.nn.Linear(2, 1), "XNN")
    >>> check_torch_model("a model", "XNN")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: XNN reads a layer's activations, so model must be a torch.nn.Module ...; got str.
    """
    from sklearn.pipeline import Pipeline

    try:
        from skorch import NeuralNet
    except ImportError:  # pragma: no cover - skorch is a dependency
        NeuralNet = ()
    final = model
    if isinstance(model, Pipeline) and len(model.steps) >= 2:
        final = model.steps[-1][1]
    if isinstance(final, torch.nn.Module):
        return
    if isinstance(final, NeuralNet):
        return
    raise TypeError(
        f"{owner} reads a layer's activations, so model must be a torch.nn.Module or a "
        f"skorch net (or a Pipeline ending in one); got {type(model).__name__}.")


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

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    >>> name, _, site = resolve_layer(net, None, "XNN")
    >>> name, site
    ('2', 'input')
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


def forward_with_activations(adapter, submodule, site, X, owner):
    """One forward pass of the model on flat rows ``X``: its raw output and ``submodule``'s
    activations.

    The pass runs through ``adapter`` (an sklxai model adapter of a torch module: it puts the
    module in eval mode for the call and gives it its own input shape, e.g. images), with one
    hook on ``adapter.module`` that reads its raw output (before the adapter's output
    nonlinearity, e.g. a skorch classifier's softmax) and one on ``submodule``. Gradients flow
    when the caller enables them. The output and the activations are flattened to 2-D.

    Parameters
    ----------
    adapter : sklxai.models.ModelAdapter
        The adapter of a torch module or skorch net (``BaseExplainer.adapter_``), which has
        the module it runs as ``adapter.module``.
    submodule : torch.nn.Module
        A submodule of ``adapter.module``.
    site : {"output", "input"}
        Whether its output or its input is read.
    X : torch.Tensor of shape (n, d)
        Model rows on the adapter's device, in its dtype.
    owner : str
        For messages.

    Returns
    -------
    output : torch.Tensor of shape (n, k)
    activations : torch.Tensor of shape (n, p)
    """
    seen, raw = [], []

    def grab(mod, args, out=None):
        value = args[0] if site == "input" else out
        if isinstance(value, (tuple, list)):
            value = value[0]
        seen.append(value)

    if site == "input":
        handle = submodule.register_forward_pre_hook(lambda mod, args: grab(mod, args))
    else:
        handle = submodule.register_forward_hook(grab)
    root = adapter.module.register_forward_hook(lambda mod, args, out: raw.append(out))
    try:
        adapter.forward(X)
    finally:
        handle.remove()
        root.remove()
    if len(seen) != 1:
        what = "never" if not seen else f"{len(seen)} times"
        raise ValueError(
            f"{owner}: the hooked layer ran {what} in one forward pass; pick a layer that runs "
            "exactly once per input (layer=).")
    out = raw[0]
    if isinstance(out, (tuple, list)):
        out = out[0]
    out = out.reshape(out.shape[0], -1)
    act = seen[0]
    if not isinstance(act, torch.Tensor) or act.shape[:1] != X.shape[:1]:
        raise ValueError(
            f"{owner}: the hooked layer's activations are not a tensor with one row per input "
            f"(got {type(act).__name__}); pick another layer.")
    return out, act.reshape(act.shape[0], -1)
