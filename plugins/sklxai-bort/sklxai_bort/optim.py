"""BortSGD and BortAdamW: torch's SGD and AdamW plus the Bort correction.

Both add ``gamma * Delta(W)``, with ``Delta(W) = (W W^T - c I) W`` (see
:func:`~sklxai_bort.bort_correction`), to the update of every real weight with ``ndim >= 2``
(Linear/Conv weights; biases and normalization parameters are 1-D and never corrected) in each
param group whose ``gamma`` is > 0. They differ in where the term enters, as in the reference
implementation (zbr17/Bort):

* :class:`BortSGD` adds it to the gradient before SGD's step, so momentum, Nesterov and
  ``weight_decay`` treat it like the loss gradient: it is the plain gradient of the penalty
  ``gamma * ||W W^T - c I||_F^2 / 4``.
* :class:`BortAdamW` applies it as a separate, decoupled step ``W <- W - lr * gamma * Delta(W)``
  before AdamW's own step, the way AdamW decouples weight decay: were it added to the gradient,
  Adam's per-coordinate normalization would rescale it and ``gamma`` would lose its meaning.

The selection by ``ndim`` is the only one possible from what an optimizer is given (skorch, for
one, passes bare tensors); to choose by layer type use :func:`~sklxai_bort.bort_param_groups`,
or give a param group ``gamma=0``.
"""

from __future__ import annotations

import torch

from sklxai_bort.constraint import _check_c, _check_gamma, bort_correction

__all__ = ["BortAdamW", "BortSGD"]

_DEFAULT_GAMMA = 0.01
_DEFAULT_C = 1.0


def _unhooked(step):
    """The undecorated ``step`` of a torch optimizer class.

    torch wraps a class's ``step`` with its hook runner the first time the class is
    instantiated. Ours is wrapped too; calling a wrapped base ``step`` from it would run every
    step hook (the user's, LR schedulers') twice.
    """
    return step.__wrapped__ if getattr(step, "hooked", False) else step


def _evaluate(closure):
    # gradients must exist before the correction is computed, so the closure runs first
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def _targets(group):
    """The parameters of ``group`` that get the correction (those with a gradient)."""
    for p in group["params"]:
        if p.grad is None or p.ndim < 2 or p.is_complex():
            continue
        if p.grad.is_sparse:
            raise RuntimeError(
                f"a parameter of shape {tuple(p.shape)} has a sparse gradient, which the dense "
                "Bort correction would densify; put it in a param group with gamma=0"
            )
        yield p


class _BortMixin:
    """Validation, defaults and state handling of the ``gamma`` and ``c`` group keys."""

    def _check_kwargs(self, kwargs):
        # fused kernels unscale AMP gradients inside the step, after our correction would have
        # been mixed into still-scaled ones; differentiable steps would be cut by our no_grad
        for name in ("fused", "differentiable"):
            if kwargs.get(name):
                raise ValueError(f"{name}=True is not supported by {type(self).__name__}")

    def _init_bort(self, gamma, c):
        # torch's constructor built the groups before it knew our keys: fill them in now
        self.defaults.update(gamma=gamma, c=c)
        for group in self.param_groups:
            group.setdefault("gamma", gamma)
            group.setdefault("c", c)

    def add_param_group(self, param_group):
        """Add a param group; its ``gamma`` and ``c``, if given, are validated first.

        Parameters
        ----------
        param_group : dict
            As for :meth:`torch.optim.Optimizer.add_param_group`; may hold ``"gamma"`` (>= 0)
            and ``"c"`` (> 0), which default to the optimizer's.
        """
        if isinstance(param_group, dict):  # torch rejects the rest itself
            index = len(getattr(self, "param_groups", ()))
            if "gamma" in param_group:
                param_group["gamma"] = _check_gamma(
                    param_group["gamma"], f"gamma of param group {index}")
            if "c" in param_group:
                param_group["c"] = _check_c(param_group["c"], f"c of param group {index}")
        super().add_param_group(param_group)

    def __setstate__(self, state):
        # a state dict saved by plain SGD/AdamW has no Bort keys: use this optimizer's
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("gamma", self.defaults.get("gamma", _DEFAULT_GAMMA))
            group.setdefault("c", self.defaults.get("c", _DEFAULT_C))


class BortSGD(_BortMixin, torch.optim.SGD):
    r"""SGD with the Bort correction added to the gradient.

    For each real parameter ``W`` with ``ndim >= 2`` and a gradient, in a group with
    ``gamma > 0``, the gradient SGD sees is

    .. math:: g + \gamma \, (W W^\top - c I) W

    (``W`` read as ``(W.shape[0], -1)``), i.e. the gradient of
    ``loss + gamma * ||W W^T - c I||_F^2 / 4``; momentum, Nesterov and ``weight_decay`` then act
    on it as usual. With ``momentum=0`` and ``weight_decay=0`` one step is
    ``W <- W - lr * (g + gamma * (W W^T - c I) W)``. ``p.grad`` is left as the loss made it.

    Parameters
    ----------
    params : iterable
        Tensors, ``(name, tensor)`` pairs or param-group dicts, as for
        :class:`torch.optim.SGD`. A group may set its own ``"gamma"`` and ``"c"``; see also
        :func:`~sklxai_bort.bort_param_groups`.
    lr, momentum, dampening, weight_decay, nesterov
        As for :class:`torch.optim.SGD`.
    gamma : float, default=0.01
        Weight of the Bort correction, >= 0; 0 gives plain SGD. Keyword only.
    c : float, default=1.0
        Boundedness constant, > 0: the target squared norm of each weight row. Keyword only.
    **kwargs
        Further keywords for :class:`torch.optim.SGD` (``maximize``, ``foreach``).
        ``fused=True`` and ``differentiable=True`` are not supported.

    Raises
    ------
    ValueError
        If ``gamma`` < 0 or ``c`` <= 0 (in the constructor or a param group, named in the
        message), or ``fused`` / ``differentiable`` is true.
    TypeError
        If ``gamma`` or ``c`` is not a real number.

    See Also
    --------
    BortAdamW : The AdamW variant, with a decoupled correction.
    sklxai_bort.orthogonality_error : How far a model is from the constraint.

    Examples
    --------
    >>> import torch
    >>> from sklxai_bort import BortSGD, orthogonality_error
    >>> _ = torch.manual_seed(0)
    >>> layer = torch.nn.Linear(16, 4)
    >>> opt = BortSGD(layer.parameters(), lr=0.1, momentum=0.9, gamma=1.0)
    >>> before = orthogonality_error(layer)
    >>> X, y = torch.randn(64, 16), torch.randn(64, 4)
    >>> for _ in range(50):
    ...     opt.zero_grad()
    ...     torch.nn.functional.mse_loss(layer(X), y).backward()
    ...     opt.step()
    >>> orthogonality_error(layer) < before
    True

    In skorch, Bort's keys are set like any optimizer argument:

    >>> import numpy as np
    >>> from skorch import NeuralNetClassifier
    >>> net = NeuralNetClassifier(
    ...     torch.nn.Sequential(torch.nn.Linear(16, 2)), criterion=torch.nn.CrossEntropyLoss,
    ...     optimizer=BortSGD, optimizer__gamma=0.1, lr=0.1, max_epochs=2, verbose=0)
    >>> _ = net.fit(np.random.rand(32, 16).astype("float32"), np.arange(32) % 2)
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, gamma=_DEFAULT_GAMMA, c=_DEFAULT_C, **kwargs):
        gamma, c = _check_gamma(gamma), _check_c(c)
        self._check_kwargs(kwargs)
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov, **kwargs)
        self._init_bort(gamma, c)

    @torch.no_grad()
    def step(self, closure=None):
        """Perform one optimization step.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss; run before the correction.

        Returns
        -------
        loss : torch.Tensor or None
            What ``closure`` returned.
        """
        loss = _evaluate(closure)
        originals = []
        try:
            for group in self.param_groups:
                if group["gamma"] == 0.0:
                    continue
                # maximize negates the gradient inside SGD; the penalty is still minimized
                scale = -group["gamma"] if group.get("maximize", False) else group["gamma"]
                for p in _targets(group):
                    originals.append((p, p.grad))
                    p.grad = p.grad + scale * bort_correction(p, group["c"])
            _unhooked(torch.optim.SGD.step)(self)
        finally:
            # give the user back the loss gradient, not the corrected one
            for p, grad in originals:
                p.grad = grad
        return loss


class BortAdamW(_BortMixin, torch.optim.AdamW):
    r"""AdamW with the Bort correction as a decoupled step.

    For each real parameter ``W`` with ``ndim >= 2`` and a gradient, in a group with
    ``gamma > 0``, a step first applies

    .. math:: W \leftarrow W - \mathrm{lr} \, \gamma \, (W W^\top - c I) W

    (``W`` read as ``(W.shape[0], -1)``) and then AdamW's own step on the result:
    ``W <- (1 - lr * weight_decay) W - lr * m_hat / (sqrt(v_hat) + eps)``. The moments ``m``
    and ``v`` see the loss gradient only, as in the reference implementation: like AdamW's
    weight decay, the correction is kept out of Adam's per-coordinate normalization, so its
    strength is ``lr * gamma`` everywhere. With a zero gradient the step is exactly
    ``W <- (1 - lr * weight_decay) * (W - lr * gamma * (W W^T - c I) W)``.

    Parameters
    ----------
    params : iterable
        Tensors, ``(name, tensor)`` pairs or param-group dicts, as for
        :class:`torch.optim.AdamW`. A group may set its own ``"gamma"`` and ``"c"``; see also
        :func:`~sklxai_bort.bort_param_groups`.
    lr, betas, eps, weight_decay, amsgrad
        As for :class:`torch.optim.AdamW`.
    gamma : float, default=0.01
        Weight of the Bort correction, >= 0; 0 gives plain AdamW. Keyword only.
    c : float, default=1.0
        Boundedness constant, > 0: the target squared norm of each weight row. Keyword only.
    **kwargs
        Further keywords for :class:`torch.optim.AdamW` (``maximize``, ``foreach``,
        ``capturable``). ``fused=True`` and ``differentiable=True`` are not supported.

    Raises
    ------
    ValueError
        If ``gamma`` < 0 or ``c`` <= 0 (in the constructor or a param group, named in the
        message), or ``fused`` / ``differentiable`` is true.
    TypeError
        If ``gamma`` or ``c`` is not a real number.

    See Also
    --------
    BortSGD : The SGD variant, with the correction in the gradient.
    sklxai_bort.bort_param_groups : Correct Linear/Conv weights only.

    Examples
    --------
    >>> import torch
    >>> from sklxai_bort import BortAdamW, bort_param_groups, orthogonality_error
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> opt = BortAdamW(bort_param_groups(model, gamma=10.0), lr=1e-2, weight_decay=0.0)
    >>> before = orthogonality_error(model)
    >>> X, y = torch.randn(64, 16), torch.randint(0, 2, (64,))
    >>> for _ in range(50):
    ...     opt.zero_grad()
    ...     torch.nn.functional.cross_entropy(model(X), y).backward()
    ...     opt.step()
    >>> orthogonality_error(model) < before
    True
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, gamma=_DEFAULT_GAMMA, c=_DEFAULT_C, **kwargs):
        gamma, c = _check_gamma(gamma), _check_c(c)
        self._check_kwargs(kwargs)
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, **kwargs)
        self._init_bort(gamma, c)

    @torch.no_grad()
    def step(self, closure=None):
        """Perform one optimization step.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss; run before the correction.

        Returns
        -------
        loss : torch.Tensor or None
            What ``closure`` returned.
        """
        loss = _evaluate(closure)
        for group in self.param_groups:
            if group["gamma"] == 0.0:
                continue
            rate = group["lr"] * group["gamma"]  # follows LR schedules, like weight decay
            for p in _targets(group):
                p.sub_(bort_correction(p, group["c"]).mul_(rate))
        _unhooked(torch.optim.AdamW.step)(self)
        return loss
