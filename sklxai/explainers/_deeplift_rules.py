"""DeepLIFT's rules, applied to every torch operation a model calls.

The model is run twice under a :class:`torch.overrides.TorchFunctionMode`: first on the
reference rows (:class:`ReferenceTape` records the inputs of every operation that needs a
rule), then on the explained rows (:class:`DeepLiftMode` replays the tape: the k-th such
operation gets the k-th recorded reference inputs). Modules call the functional operations
(``nn.ReLU`` calls ``F.relu``, ``nn.LayerNorm`` calls ``F.layer_norm``), so one interception
covers functional, reused and in-place activations alike. Each operation is one of:

* linear in its varying inputs (linear, conv, add, mean, reshape, indexing, batch norm in eval
  mode, average pooling, ...): its own gradient is the exact multiplier, nothing is changed;
* elementwise of one varying input (ReLU, GELU, SiLU, sigmoid, tanh, softplus, ELU, exp, ...):
  the rescale rule, multiplier ``(f(v) - f(v')) / (v - v')``, the derivative at the midpoint
  where ``|v - v'|`` is below ``sqrt(eps) (1 + |v|)``;
* bilinear in two varying inputs (a product, a matrix product, einsum, a linear layer whose
  weight varies): the gradient at the midpoints, exact for a bilinear map
  (``B(a, b) - B(a', b') = B((a + a') / 2, b - b') + B(a - a', (b + b') / 2)``);
* a division by a varying tensor: ``a / b - a' / b' = (a - a') (1/b + 1/b') / 2 + (a + a') / 2
  * (-(b - b') / (b b'))``, exact;
* grouped (softmax, log-softmax, layer, RMS and group norm, vector norms, max pooling, amax):
  each output y_o depends on a group S_o of inputs; the multipliers are the Jacobian at the
  midpoint plus a rank-one correction inside each group,
  ``m_ok = J_ok + [k in S_o] r_o (v_k - v'_k) / sum_{j in S_o} (v_j - v'_j)^2`` with
  ``r_o = (y_o - y'_o) - sum_k J_ok (v_k - v'_k)``, so ``sum_k m_ok (v_k - v'_k) = y_o - y'_o``
  exactly;
* attention (``scaled_dot_product_attention``, ``multi_head_attention_forward``) and the other
  Python functions of ``torch.nn.functional`` (``F.normalize``, ``F.glu``, ...): run as their
  parts, each under its rule.

Every other operation on a varying tensor raises a NotImplementedError naming it: none is let
through with a rule that would break completeness.
"""

import math
import types

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map


def _resolve(spec):
    """Callables from "module.name" strings (those this torch lacks are skipped)."""
    out = []
    for name in spec.split():
        owner, attr = name.rsplit(".", 1)
        obj = {"torch": torch, "Tensor": torch.Tensor, "F": F, "linalg": torch.linalg,
               "special": torch.special, "nn": torch._C._nn}[owner]
        if hasattr(obj, attr):
            out.append(getattr(obj, attr))
    return out


def _getters(names):
    return [getattr(torch.Tensor, n).__get__ for n in names if hasattr(torch.Tensor, n)]


#: operations linear (affine) jointly in all their tensor inputs, or that only move values
_LINEAR = set(_resolve("""
    Tensor.__add__ Tensor.__radd__ Tensor.__iadd__ Tensor.__sub__ Tensor.__rsub__ Tensor.__isub__
    Tensor.__neg__ Tensor.__pos__ Tensor.__getitem__ Tensor.__setitem__ Tensor.add Tensor.add_
    Tensor.sub Tensor.sub_ Tensor.neg Tensor.sum Tensor.mean Tensor.view Tensor.view_as
    Tensor.reshape Tensor.reshape_as Tensor.permute Tensor.transpose Tensor.flatten
    Tensor.unflatten Tensor.contiguous Tensor.expand Tensor.expand_as Tensor.repeat
    Tensor.squeeze Tensor.unsqueeze Tensor.chunk Tensor.split Tensor.unbind Tensor.t
    Tensor.to Tensor.float Tensor.double Tensor.half Tensor.type_as Tensor.clone Tensor.flip
    Tensor.roll Tensor.narrow Tensor.select Tensor.index_select Tensor.gather Tensor.movedim
    Tensor.tile Tensor.cumsum Tensor.diagonal Tensor.tril Tensor.triu Tensor.masked_fill
    Tensor.copy_ Tensor.zero_ Tensor.fill_ Tensor.detach Tensor.requires_grad_ Tensor.swapaxes
    Tensor.swapdims Tensor.repeat_interleave Tensor.trace Tensor.nansum Tensor.unfold Tensor.__len__ Tensor.__iter__
    torch.add torch.sub torch.subtract torch.neg torch.sum torch.mean torch.cat torch.concat
    torch.stack torch.hstack torch.vstack torch.reshape torch.permute torch.transpose
    torch.flatten torch.unflatten torch.squeeze torch.unsqueeze torch.chunk torch.split
    torch.unbind torch.t torch.flip torch.roll torch.narrow torch.select torch.index_select
    torch.gather torch.movedim torch.tile torch.cumsum torch.diagonal torch.tril torch.triu
    torch.masked_fill torch.repeat_interleave torch.clone torch.detach torch.trace torch.swapaxes torch.where
    torch.zeros_like torch.ones_like torch.full_like torch.empty_like torch.broadcast_to
    torch.conv1d torch.conv2d torch.conv3d torch.conv_transpose1d torch.conv_transpose2d
    torch.conv_transpose3d torch.avg_pool1d
    F.linear F.conv1d F.conv2d F.conv3d F.conv_transpose1d F.conv_transpose2d
    F.conv_transpose3d F.avg_pool1d F.avg_pool2d F.avg_pool3d F.adaptive_avg_pool1d
    F.adaptive_avg_pool2d F.adaptive_avg_pool3d F.pad F.dropout F.dropout1d F.dropout2d
    F.dropout3d F.alpha_dropout F.feature_alpha_dropout F.embedding F.pixel_shuffle
    F.pixel_unshuffle F.unfold F.fold F.interpolate F.upsample
    nn.linear nn.avg_pool2d nn.avg_pool3d nn.adaptive_avg_pool2d nn.adaptive_avg_pool3d
    nn.pad
""")) | set(_getters(["T", "mT", "H", "mH", "shape", "dtype", "device", "data", "real", "ndim", "is_cuda", "requires_grad", "grad", "layout", "names"]))

#: bilinear when two inputs vary (the gradient at the midpoints is exact); linear otherwise
_BILINEAR = set(_resolve("""
    Tensor.__mul__ Tensor.__rmul__ Tensor.__imul__ Tensor.mul Tensor.mul_ Tensor.__matmul__
    Tensor.__rmatmul__ Tensor.matmul Tensor.bmm Tensor.mm Tensor.mv Tensor.outer Tensor.dot
    torch.mul torch.multiply torch.matmul torch.bmm torch.mm torch.mv torch.outer torch.dot
    torch.einsum torch.baddbmm torch.addmm torch.addbmm torch.tensordot
    F.linear F.conv1d F.conv2d F.conv3d torch.conv1d torch.conv2d torch.conv3d nn.linear
"""))

#: a division: linear in the numerator, a rule for a varying divisor
_DIVISION = set(_resolve("""
    Tensor.__truediv__ Tensor.__itruediv__ Tensor.div Tensor.div_ Tensor.divide torch.div
    torch.divide torch.true_divide Tensor.__rtruediv__
"""))

#: elementwise functions of one varying input: the rescale rule
_ELEMENTWISE = set(_resolve("""
    F.relu F.relu_ torch.relu torch.relu_ Tensor.relu Tensor.relu_ F.relu6 F.leaky_relu
    F.leaky_relu_ F.elu F.elu_ F.selu F.selu_ F.celu F.celu_ F.gelu F.silu F.mish F.softplus
    F.hardtanh F.hardtanh_ F.hardsigmoid F.hardswish F.logsigmoid F.softsign F.tanhshrink
    F.sigmoid F.tanh F.threshold F.rrelu nn.gelu nn.silu nn.softplus nn.elu nn.leaky_relu
    nn.hardtanh nn.hardsigmoid nn.hardswish nn.log_sigmoid nn.mish nn.relu6
    torch.sigmoid torch.sigmoid_ Tensor.sigmoid Tensor.sigmoid_ torch.tanh torch.tanh_
    Tensor.tanh Tensor.tanh_ torch.exp Tensor.exp Tensor.exp_ torch.log Tensor.log torch.log1p
    Tensor.log1p torch.expm1 Tensor.expm1 torch.sqrt Tensor.sqrt torch.rsqrt Tensor.rsqrt
    torch.abs Tensor.abs Tensor.__abs__ torch.sin Tensor.sin torch.cos Tensor.cos torch.erf
    Tensor.erf torch.square Tensor.square torch.reciprocal Tensor.reciprocal torch.clamp
    Tensor.clamp Tensor.clamp_ torch.clip Tensor.clip torch.clamp_min Tensor.clamp_min
    torch.clamp_max Tensor.clamp_max torch.pow Tensor.pow Tensor.__pow__ Tensor.__rpow__
    special.expit special.erf torch.atan Tensor.atan torch.arctan torch.sinh
    torch.cosh torch.asinh torch.log2 torch.log10 torch.exp2 torch.softplus torch.selu
    torch.celu torch.rrelu torch.hardshrink torch.threshold F.softshrink
"""))

_SOFTMAX = set(_resolve("F.softmax F.log_softmax torch.softmax torch.log_softmax Tensor.softmax "
                        "Tensor.log_softmax special.softmax special.log_softmax"))
_NORMS = set(_resolve("F.layer_norm torch.layer_norm F.rms_norm torch.rms_norm"))
_MAXPOOLS = set(_resolve("F.max_pool1d F.max_pool2d F.max_pool3d torch.max_pool1d "
                         "torch.max_pool2d torch.max_pool3d F.max_pool1d_with_indices "
                         "F.max_pool2d_with_indices F.max_pool3d_with_indices"))
_AMAX = set(_resolve("torch.amax Tensor.amax torch.amin Tensor.amin torch.logsumexp "
                     "Tensor.logsumexp"))
_BATCH_NORM = set(_resolve("F.batch_norm torch.batch_norm F.instance_norm"))
_GROUP_NORM = set(_resolve("F.group_norm torch.group_norm"))
_VECTOR_NORMS = set(_resolve("linalg.vector_norm Tensor.norm"))
_ATTENTION = set(_resolve("F.scaled_dot_product_attention"))
_MHA = set(_resolve("F.multi_head_attention_forward"))


class NoDeepLiftRule(NotImplementedError):
    """An operation on varying tensors that DeepLIFT has no completeness-keeping rule for."""


def _name(func):
    qual = getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or repr(func)
    mod = getattr(func, "__module__", None)
    return f"{mod}.{qual}" if mod and mod not in qual else qual


def _varies(t):
    return isinstance(t, torch.Tensor) and t.is_floating_point() and t.requires_grad


def _detach_params(obj):
    return obj.detach() if isinstance(obj, torch.nn.Parameter) else obj


def _tensor_slots(args, kwargs):
    """Flat leaves of (args, kwargs), their tree and the indices of the varying tensors."""
    leaves, spec = tree_flatten((args, kwargs))
    return leaves, spec, [i for i, v in enumerate(leaves) if _varies(v)]


def _rebuild(leaves, spec):
    from torch.utils._pytree import tree_unflatten

    return tree_unflatten(leaves, spec)


def _kind(func, args, kwargs, n_varying):
    """Which rule an operation with ``n_varying`` varying tensor inputs gets (None: none
    needed, its own gradient is exact)."""
    if n_varying == 0:
        return None
    if func in _BILINEAR:
        if func is torch.einsum and n_varying > 2:
            return "unsupported"  # a product of three varying factors
        return "bilinear" if n_varying >= 2 else None
    if func in _DIVISION:
        return "division"
    if func in _LINEAR:
        return None
    if func in _ELEMENTWISE:
        return "elementwise" if n_varying == 1 else "unsupported"
    if func in _SOFTMAX or func in _NORMS or func in _MAXPOOLS or func in _AMAX or (
            func in _GROUP_NORM or func in _VECTOR_NORMS):
        return "grouped" if n_varying == 1 else "unsupported"
    if func in _BATCH_NORM:
        return "batch_norm"
    if func in _ATTENTION:
        return "attention"
    if func in _MHA:
        return "mha"
    return "unknown"


class _Recorder(TorchFunctionMode):
    """What both passes share: parameters are detached (only what depends on the input rows
    varies, i.e. requires grad) and each operation is classified by its rule."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        args, kwargs = tree_map(_detach_params, (args, kwargs))
        leaves, spec, idx = _tensor_slots(args, kwargs)
        kind = _kind(func, args, kwargs, len(idx))
        if kind is None:
            if idx:
                masks = [v for v in leaves
                         if isinstance(v, torch.Tensor) and not v.is_floating_point()]
                if masks:
                    self._selection(func, masks)
            return func(*args, **kwargs)
        if kind == "batch_norm":
            training = _arg(func, args, kwargs, "training", 5, False)
            if func is not F.batch_norm or training:
                raise NoDeepLiftRule(
                    f"DeepLIFT has no rule for {_name(func)} with statistics of the batch "
                    "(training mode, instance or group norm): the reference rows would "
                    "change the explained rows' outputs. Explain the model in eval mode.")
            return func(*args, **kwargs)  # eval batch norm is affine
        if kind == "attention":
            with self:
                return _sdpa(*args, **kwargs)
        if kind == "mha":
            with self:
                return _MHA_BODY(*args, **kwargs)
        if kind == "unknown" and _composite(func):
            with self:  # a Python function of torch.nn.functional: run as its parts
                return _without_dispatch(func)(*args, **kwargs)
        if kind in ("unknown", "unsupported"):
            out = func(*args, **kwargs)
            if any(_varies(v) for v in tree_flatten(out)[0]):
                raise NoDeepLiftRule(
                    f"DeepLIFT has no rule for the operation {_name(func)} on tensors that "
                    "depend on the input (it would break completeness: the attributions "
                    "would no longer sum to f(x) - f(reference)). Supported: linear "
                    "operations, elementwise activations, products, divisions, softmax, "
                    "layer/RMS norm, batch norm in eval mode, max pooling and attention; "
                    "rewrite the model with those, or use IntegratedGradients.")
            return out
        return self._rule(func, kind, args, kwargs, leaves, spec, idx)


def _arg(func, args, kwargs, name, pos, default):
    if name in kwargs:
        return kwargs[name]
    return args[pos] if len(args) > pos else default


class ReferenceTape(_Recorder):
    """Runs the reference pass, recording the varying inputs of every ruled operation."""

    def __init__(self):
        super().__init__()
        self.entries = []

    def _rule(self, func, kind, args, kwargs, leaves, spec, idx):
        refs = [leaves[i].detach().clone() for i in idx]
        out = func(*args, **kwargs)
        # the output too, where the rule needs f(v') (no second run of the operation)
        kept = out.detach().clone() if kind in ("elementwise", "grouped") else None
        self.entries.append((func, kind, refs, kept))
        return out

    def _selection(self, func, masks):
        self.entries.append((func, "selection", [m.clone() for m in masks], None))


class DeepLiftMode(_Recorder):
    """Runs the explained pass: each ruled operation gets its reference inputs from the tape
    and DeepLIFT's multipliers as its gradient. ``broadcast``: the tape was recorded on one
    reference row shared by all rows, and its tensors are broadcast to the rows' shapes
    (refused where they do not broadcast to them)."""

    def __init__(self, tape, broadcast=False):
        super().__init__()
        self.entries = tape.entries
        self.position = 0
        self.broadcast = broadcast

    def _fits(self, ref, value):
        """Whether the recorded ``ref`` stands for ``value``'s reference: the same shape, or
        with ``broadcast`` one that broadcasts to it."""
        if ref.shape == value.shape:
            return True
        if not self.broadcast or ref.dim() > value.dim():
            return False
        return all(r in (1, v) for r, v in zip(ref.shape[::-1], value.shape[::-1]))

    def _next(self, func, kind):
        if self.position >= len(self.entries):
            raise _mismatch(func, "more operations than the reference pass")
        rfunc, rkind, refs, ref_out = self.entries[self.position]
        self.position += 1
        if rfunc is not func or rkind != kind:
            raise _mismatch(func, f"the reference pass ran {_name(rfunc)} at this step")
        return refs, ref_out

    def _selection(self, func, masks):
        refs, _ = self._next(func, "selection")
        if len(refs) != len(masks) or not all(
                self._fits(r, m) and torch.equal(r.expand_as(m), m)
                for r, m in zip(refs, masks)):
            raise NoDeepLiftRule(
                f"{_name(func)} selects values with a mask or index that differs between "
                "the rows and their references (e.g. torch.where(x > 0, x, 0)): DeepLIFT "
                "has no rule for selections that depend on the input. Use the activation "
                "functions (F.relu, ...) instead, or IntegratedGradients.")

    def _rule(self, func, kind, args, kwargs, leaves, spec, idx):
        refs, ref_out = self._next(func, kind)
        varying = [leaves[i] for i in idx]
        if len(refs) != len(varying) or not all(
                self._fits(r, v) for r, v in zip(refs, varying)):
            raise _mismatch(func, "inputs of other shapes than the reference pass")

        def fn(*tensors):
            new = list(leaves)
            for i, t in zip(idx, tensors):
                new[i] = t
            a, k = _rebuild(new, spec)
            return func(*a, **k)

        inplace = _is_inplace(func, args, kwargs)
        if inplace:
            def fn(*tensors, _fn=fn):
                return _fn(*[t.clone() for t in tensors])
        if kind == "elementwise":
            out = _Rescale.apply(fn, varying[0], refs[0], ref_out)
        elif kind == "bilinear":
            out = _Midpoint.apply(fn, len(varying), *varying, *refs)
        elif kind == "division":
            out = _division(func, args, kwargs, leaves, idx, refs, fn)
        elif func in _MAXPOOLS and varying[0].dim() == _pool_dims(func) + 2:  # batched
            out = _MaxPool.apply(fn, _max_pool_indices(func, args, kwargs),
                                 _group_sum(func, args, kwargs), varying[0], refs[0], ref_out)
        else:
            out = _Grouped.apply(fn, _group_sum(func, args, kwargs), varying[0], refs[0],
                                 ref_out)
        if inplace:
            target = args[0]
            target.copy_(out)
            return target
        return out

    def finish(self):
        if self.position != len(self.entries):
            raise _mismatch(None, "fewer operations than the reference pass")


def _mismatch(func, what):
    where = f" at {_name(func)}" if func is not None else ""
    return RuntimeError(
        f"DeepLIFT runs the model on the rows and on the references and pairs their "
        f"operations; the rows' pass has {what}{where}. The model's operations must not "
        "depend on the input values (no data-dependent control flow).")


def _is_inplace(func, args, kwargs):
    if kwargs.get("inplace") is True:
        return True
    name = getattr(func, "__name__", "")
    if name.endswith("_") and not name.endswith("__"):
        return True
    if name.startswith("__i") and name not in ("__init__", "__iter__"):
        return True
    for fname, pos in (("relu", 1), ("relu6", 1), ("elu", 2), ("selu", 1), ("celu", 2),
                       ("leaky_relu", 2), ("hardtanh", 3), ("silu", 1), ("mish", 1),
                       ("hardswish", 1), ("hardsigmoid", 1), ("threshold", 3)):
        if func is getattr(F, fname, None) and len(args) > pos and args[pos] is True:
            return True
    return False


# ---------------------------------------------------------------------- the rules
class _Rescale(torch.autograd.Function):
    """y = fn(v), elementwise; gradient multiplier (fn(v) - fn(v')) / (v - v')."""

    @staticmethod
    def forward(ctx, fn, v, v_ref, y_ref):
        y = fn(v)
        ctx.fn = fn
        ctx.v, ctx.v_ref = v.detach().clone(), v_ref
        ctx.dy = y.detach() - y_ref
        return y

    @staticmethod
    def backward(ctx, g):
        v, vr, dy = ctx.v, ctx.v_ref, ctx.dy
        dv = _difference(v, vr)
        tol = math.sqrt(torch.finfo(v.dtype).eps) * (1 + torch.maximum(v.abs(), vr.abs()))
        small = dv.abs() <= tol
        m = dy / torch.where(small, torch.ones_like(dv), dv)
        if bool(small.any()):  # the derivative at the midpoint, only where it is needed
            with torch.enable_grad():
                mid = ((v + vr) / 2).requires_grad_(True)
                (slope,) = torch.autograd.grad(ctx.fn(mid).sum(), mid)
            m = torch.where(small, slope, m)
        return None, g * m, None, None


class _Midpoint(torch.autograd.Function):
    """A map bilinear in its varying inputs; multipliers: its gradient at the midpoints."""

    @staticmethod
    def forward(ctx, fn, k, *tensors):
        xs, refs = tensors[:k], tensors[k:]
        ctx.fn, ctx.k = fn, k
        ctx.mids = [((a.detach() + r) / 2) for a, r in zip(xs, refs)]
        return fn(*xs)

    @staticmethod
    def backward(ctx, g):
        with torch.enable_grad():
            mids = [m.clone().requires_grad_(True) for m in ctx.mids]
            grads = torch.autograd.grad(ctx.fn(*mids), mids, g, allow_unused=True)
        grads = [torch.zeros_like(m) if d is None else d for m, d in zip(mids, grads)]
        return (None, None, *grads, *([None] * ctx.k))


class _Divide(torch.autograd.Function):
    """y = a / b with a varying divisor b (and a numerator a, varying or not)."""

    @staticmethod
    def forward(ctx, fn, a, b, a_ref, b_ref):
        ctx.a_mid = (a.detach() + a_ref) / 2
        ctx.inv_mid = (1 / b.detach() + 1 / b_ref) / 2
        ctx.slope = -1 / (b.detach() * b_ref)
        ctx.shapes = a.shape, b.shape
        return fn(a, b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        ga = _sum_to(g * ctx.inv_mid, sa)
        gb = _sum_to(g * ctx.a_mid * ctx.slope, sb)
        return None, ga, gb, None, None


def _difference(v, v_ref):
    """v - v', 0 where they are equal (masked attention scores are -inf in both)."""
    return torch.where(v == v_ref, torch.zeros_like(v), v - v_ref)


def _sum_to(t, shape):
    """Sum a broadcast gradient back to an input's shape."""
    while t.dim() > len(shape):
        t = t.sum(0)
    for i, s in enumerate(shape):
        if s == 1 and t.shape[i] != 1:
            t = t.sum(i, keepdim=True)
    return t


def _division(func, args, kwargs, leaves, idx, refs, fn):
    if kwargs.get("rounding_mode") is not None:
        raise NoDeepLiftRule(f"DeepLIFT has no rule for {_name(func)} with a rounding mode.")
    reverse = func is torch.Tensor.__rtruediv__
    num, den = (args[1], args[0]) if reverse else (args[0], args[1])
    if not _varies(den):  # a / constant: linear
        return func(*args, **kwargs)
    ref_of = dict(zip(idx, refs))
    pos = {id(v): i for i, v in enumerate(leaves)}
    den_ref = ref_of[pos[id(den)]]
    if _varies(num):
        num_ref = ref_of[pos[id(num)]]
    else:
        num_ref = num if isinstance(num, torch.Tensor) else torch.as_tensor(
            num, dtype=den.dtype, device=den.device)
        num = num_ref
    if reverse:
        return _Divide.apply(lambda a, b: func(b, a), num, den, num_ref, den_ref)
    rest = args[2:]
    return _Divide.apply(lambda a, b: func(a, b, *rest, **kwargs), num, den, num_ref, den_ref)


class _Grouped(torch.autograd.Function):
    """y = fn(v) where each output depends on a group of inputs (``group_sum`` sums an
    input-shaped tensor over each output's group): midpoint Jacobian plus the rank-one
    correction that makes each output's multipliers complete."""

    @staticmethod
    def forward(ctx, fn, group_sum, v, v_ref, y_ref):
        y = fn(v)
        ctx.fn, ctx.group_sum = fn, group_sum
        ctx.v, ctx.v_ref = v.detach().clone(), v_ref
        ctx.dy = y.detach() - y_ref
        return y

    @staticmethod
    def backward(ctx, g):
        v, vr = ctx.v, ctx.v_ref
        dv = _difference(v, vr)
        with torch.enable_grad():
            mid = ((v + vr) / 2).requires_grad_(True)
            y = ctx.fn(mid)
            u = torch.zeros_like(y, requires_grad=True)
            (vjp_u,) = torch.autograd.grad(y, mid, u, create_graph=True)
            (jvp,) = torch.autograd.grad(vjp_u, u, dv, retain_graph=True)
            (vjp,) = torch.autograd.grad(y, mid, g)
            z = torch.zeros_like(v, requires_grad=True)
            s = ctx.group_sum(z)
            denom = ctx.group_sum(dv * dv).detach()
            r = ctx.dy - jvp
            coef = torch.where(denom > 0, g * r / torch.where(denom > 0, denom, 1), 0)
            (back,) = torch.autograd.grad(s, z, coef)
        return None, None, vjp + dv * back, None, None


class _MaxPool(torch.autograd.Function):
    """Max pooling under :class:`_Grouped`'s rule, its Jacobian at the midpoint read from the
    midpoint's argmax indices (the entries autograd's own max pooling gradient picks) instead
    of a double backward: the same multipliers at a fraction of the cost."""

    @staticmethod
    def forward(ctx, fn, indices, group_sum, v, v_ref, y_ref):
        ctx.indices = indices
        return _Grouped.forward(ctx, fn, group_sum, v, v_ref, y_ref)

    @staticmethod
    def backward(ctx, g):
        v, vr = ctx.v, ctx.v_ref
        dv = _difference(v, vr)
        mid = (v + vr) / 2
        idx = ctx.indices(mid).flatten(2)  # flat indices into each (row, channel)'s window
        flat = (*mid.shape[:2], -1)
        jvp = dv.reshape(flat).gather(2, idx).view(g.shape)
        vjp = torch.zeros(flat[:2] + (dv[0, 0].numel(),), dtype=g.dtype, device=g.device)
        vjp.scatter_add_(2, idx, g.reshape(*flat[:2], -1))
        denom = ctx.group_sum(dv * dv)
        r = ctx.dy - jvp
        coef = torch.where(denom > 0, g * r / torch.where(denom > 0, denom, 1), 0)
        with torch.enable_grad():
            z = torch.zeros_like(v, requires_grad=True)
            (back,) = torch.autograd.grad(ctx.group_sum(z), z, coef)
        return None, None, None, vjp.view(v.shape) + dv * back, None, None


def _max_pool_indices(func, args, kwargs):
    """mid -> the argmax indices (flat within each row and channel) of max pooling ``func``
    with its own window arguments."""
    names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
    p = {n: _arg(func, args, kwargs, n, i + 1, None) for i, n in enumerate(names)}
    pool = {1: F.max_pool1d_with_indices, 2: F.max_pool2d_with_indices,
            3: F.max_pool3d_with_indices}[_pool_dims(func)]
    kw = {"kernel_size": p["kernel_size"], "stride": p["stride"] or None,
          "padding": p["padding"] or 0, "dilation": p["dilation"] or 1,
          "ceil_mode": bool(p["ceil_mode"])}
    return lambda mid: pool(mid, **kw)[1]


def _pool_dims(func):
    name = getattr(func, "__name__", "")
    return 1 if "1d" in name else 3 if "3d" in name else 2


def _group_sum(func, args, kwargs):
    """The group sum of a grouped operation: input-shaped -> output-shaped."""
    if func in _SOFTMAX:
        dim = _arg(func, args, kwargs, "dim", 1, None)
        if dim is None:
            raise NoDeepLiftRule(f"DeepLIFT needs {_name(func)}'s dim.")
        return lambda t: t.sum(dim, keepdim=True).expand_as(t)
    if func in _NORMS:
        shape = _arg(func, args, kwargs, "normalized_shape", 1, None)
        dims = tuple(range(-len(tuple(shape)), 0))
        return lambda t: t.sum(dims, keepdim=True).expand_as(t)
    if func in _GROUP_NORM:
        groups = _arg(func, args, kwargs, "num_groups", 1, None)

        def group_sum(t):
            g = t.reshape(t.shape[0], groups, -1)
            return g.sum(-1, keepdim=True).expand_as(g).reshape(t.shape)
        return group_sum
    if func in _AMAX or func in _VECTOR_NORMS:
        pos = 2 if func in _VECTOR_NORMS else 1
        dim = _arg(func, args, kwargs, "dim", pos, ())
        keep = _arg(func, args, kwargs, "keepdim", pos + 1, False)
        dim = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,) if isinstance(
            dim, int) else ()
        if not dim:
            return lambda t: t.sum()
        return lambda t: t.sum(dim, keepdim=keep)
    # max pooling: sums over the same windows (padding adds zeros, which add nothing)
    names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
             "return_indices")
    p = {n: _arg(func, args, kwargs, n, i, None) for i, n in enumerate(names)}
    if p["return_indices"] or "indices" in getattr(func, "__name__", ""):
        raise NoDeepLiftRule(f"DeepLIFT has no rule for {_name(func)} returning indices.")
    dilation = p["dilation"] or 1
    if any(d != 1 for d in (dilation if isinstance(dilation, (tuple, list)) else [dilation])):
        raise NoDeepLiftRule(f"DeepLIFT has no rule for {_name(func)} with dilation > 1.")
    kernel = p["kernel_size"]
    stride = p["stride"] if p["stride"] not in (None, [], ()) else kernel
    padding = p["padding"] or 0
    ceil = bool(p["ceil_mode"])
    name = getattr(func, "__name__", "")
    if "1d" in name:
        def window_sum(t):
            k = kernel if isinstance(kernel, int) else kernel[0]
            s = stride if isinstance(stride, int) else stride[0]
            q = padding if isinstance(padding, int) else padding[0]
            return F.avg_pool2d(t.unsqueeze(-2), (1, k), (1, s), (0, q), ceil, True, 1)[..., 0, :]
        return window_sum
    pool = F.avg_pool2d if "2d" in name else F.avg_pool3d
    return lambda t: pool(t, kernel, stride, padding, ceil, True, 1)


def _sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
          enable_gqa=False):
    """scaled_dot_product_attention as its parts (each gets its own rule)."""
    if dropout_p:
        raise NoDeepLiftRule("DeepLIFT has no rule for attention dropout; explain in eval mode.")
    L, S = query.shape[-2], key.shape[-2]
    if enable_gqa and key.shape[-3] != query.shape[-3]:
        rep = query.shape[-3] // key.shape[-3]
        key = key.repeat_interleave(rep, -3)
        value = value.repeat_interleave(rep, -3)
    s = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * s
    if is_causal:
        keep = torch.ones(L, S, dtype=torch.bool, device=query.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    return torch.softmax(scores, dim=-1) @ value


def _composite(func):
    """Whether ``func`` is a Python function of torch.nn.functional (made of other torch
    operations, which the mode sees once its own dispatch is off)."""
    return isinstance(func, types.FunctionType) and func.__module__ == "torch.nn.functional"


_COPIES = {}


def _without_dispatch(f):
    """A copy of a Python torch function whose own ``has_torch_function`` checks are off, so
    that it runs as its parts under the mode (each part is intercepted)."""
    if f in _COPIES:
        return _COPIES[f]
    g = dict(f.__globals__)
    for name in ("has_torch_function", "has_torch_function_unary",
                 "has_torch_function_variadic"):
        g[name] = lambda *a, **k: False
    copy = types.FunctionType(f.__code__, g, f.__name__, f.__defaults__, f.__closure__)
    copy.__kwdefaults__ = f.__kwdefaults__
    _COPIES[f] = copy
    return copy


_MHA_BODY = _without_dispatch(F.multi_head_attention_forward)
