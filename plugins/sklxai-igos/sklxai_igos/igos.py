"""I-GOS and iGOS++: saliency maps by mask optimisation with integrated-gradient directions.

I-GOS (Qi, Khorram & Li, AAAI 2020) looks for the smallest, smoothest deletion mask that makes the
model's score drop, descending along the integrated gradient of the score with respect to the
mask, with an Armijo line search. iGOS++ (Khorram et al., CHIL 2021) optimises a deletion and an
insertion mask together, with a bilateral total-variation term. Both are built on the public
:class:`sklxai.GradientExplainer`: everything here works on batches of rows on the model's device.
"""

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F

from sklxai import GradientExplainer
from sklxai.utils.validation import check_positive_int, seed_from

_OPTIMIZERS = ("line_search", "nag")
_BASELINES = ("auto", "blur", "mean", "zeros")


class IGOS(GradientExplainer):
    """I-GOS saliency (Qi, Khorram & Li, 2020) of a torch or skorch model.

    A deletion mask ``M`` with values in [0, 1] (1 keeps a pixel, 0 replaces it by the baseline)
    is optimised for each explained row x, baseline b and explained output f:

    ``L(M) = 1/K sum_{k=1..K} f(b + (k/K) U(M) (x - b)) + l1 * mean(1 - M) + tv * TV(M)``

    where ``U`` upsamples the low-resolution mask (``mask_size``) bilinearly to the image and
    ``TV(M)`` is the mean squared difference between vertical plus horizontal neighbours of the
    low-resolution mask. The first term averages the score along the straight path from the
    baseline to the masked row, so its gradient with respect to M is the *integrated gradient*
    of the mask that I-GOS descends along (a sum of gradients along the path, which the paper
    shows to escape the poor local optima of the plain gradient of the masked score). Each of
    ``n_iter`` iterations computes that direction plus the regulariser's gradient and takes a
    projected step ``M <- clip(M - a g, 0, 1)``: ``a`` by a backtracking Armijo line search per row
    (``optimizer="line_search"``: try ``step_size``, multiply by ``ls_decay`` until
    ``L(M_new) <= L(M) - ls_c * a * ||g||^2``, with g the projected gradient, zero where the
    mask sits at a bound and g points outside; a row that reaches ``ls_min_step`` keeps its
    mask, so the loss never increases), or a Nesterov accelerated step of fixed size
    (``optimizer="nag"``). The mask starts at 1 (nothing deleted).

    The returned values are a **saliency**, not the raw mask (sklxai's orientation, larger =
    more evidence for the explained output): ``values = 1 - U(M)`` in [0, 1], at the input's
    resolution and in its shape (the same value in every channel of a pixel): (n, C, H, W)
    for images passed as (n, C, H, W), (n, d) for flattened rows. Masks are not additive,
    so there is no completeness property: the Explanation's ``base_values`` (f at the baseline)
    and ``output`` (f at the row) are reported, but ``values`` do not sum to their difference.

    All rows are optimised together on the adapter's device, in blocks of
    ``internal_batch_size // ig_steps`` rows (each forward pass then holds at most
    ``internal_batch_size`` path points); there is no Python loop over rows or pixels.

    Parameters
    ----------
    model : fitted skorch net or torch.nn.Module
        A differentiable model (or a Pipeline with column-wise preprocessing ending in one).
        For a skorch classifier the explained outputs are probabilities, as in the papers
        (softmax scores); a bare module is explained on its raw outputs.
    background, n_background, fast_path, device, random_state, batch_size
        See :class:`sklxai.BaseExplainer`. The background only serves ``baseline="mean"``;
        ``random_state`` seeds the ``noise``.
    target : None, int, label or array of int
        Which output to explain. None (default): each row's predicted output. An int or label:
        that output for every row. An array: one output index per row.
    baseline : "auto", "blur", "mean", "zeros" or array-like
        What deleted pixels become. "auto" (default): "zeros" (a black image) for images, the
        baseline of captum's attributions, of the other sklxai image explainers and of
        :func:`sklxai.metrics.deletion_auc` / :func:`~sklxai.metrics.insertion_auc`; "mean" (of
        the background rows) for tabular data. "blur": a Gaussian blur of each explained image
        (the papers' choice; needs images; see Notes). Arrays are in the model's input space:
        (d,) or (n, d) rows, or for images one image (C, H, W) or one per row (n, C, H, W).
    image_shape : tuple (C, H, W) or None
        Shape of one image when the rows are *flattened* images (the model starts with
        ``torch.nn.Unflatten(1, (C, H, W))``). None (default): the shape of ``fit``'s images
        when X is (n, C, H, W) or (n, H, W) (the usual way: pass images as images), else
        tabular data, one mask value per feature (per raw column of a Pipeline) and no TV
        term. Given together with image input, it must be the images' (C, H, W).
    mask_size : int, tuple (h, w) or None
        Resolution of the optimised mask, upsampled bilinearly (corners aligned) to H x W.
        None: ``min(28, ceil(H / 2))`` by ``min(28, ceil(W / 2))`` (28 x 28 at 224 x 224, as the
        papers; 4 x 4 for 8 x 8 digits). Ignored for tabular data.
    l1 : float, default=1.0
        Weight of the L1 term ``mean(1 - M)``: larger values delete a smaller area.
    tv : float or None
        Weight of the total-variation term: larger values give smoother masks. None: the
        papers' 20 for a 28 x 28 mask, scaled by ``h * w / 28**2`` for an h x w mask (0.41 for
        4 x 4): the mean squared difference of a smooth mask grows as the grid gets coarser, and
        20 would freeze a 4 x 4 mask. The value used is ``tv_``.
    n_iter : int, default=15
        Optimisation iterations.
    ig_steps : int, default=20
        Points K on the path for the integrated gradient (and the loss), at ``k / K``.
    optimizer : {"line_search", "nag"}, default="line_search"
        Armijo backtracking line search (monotone loss) or Nesterov's accelerated gradient
        with the fixed step ``step_size``.
    step_size : float or None
        First step tried by the line search, or NAG's step. None: the number of mask values p
        per row for the line search (784 for a 28 x 28 mask, close to the papers' 1000; 16 for
        4 x 4), which keeps the step comparable across mask resolutions (the gradients scale
        as 1 / p); p / 4 for NAG, whose fixed step must be safe (p made it diverge on digits).
    ls_c : float, default=1e-4
        Armijo's sufficient-decrease constant, in (0, 1).
    ls_decay : float, default=0.2
        Factor applied to the step after a failed Armijo test, in (0, 1).
    ls_min_step : float, default=1e-5
        Smallest step tried; a row whose test fails below it keeps its mask for that iteration.
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to every path point (the reference code adds
        0.2 in normalised-image units, a SmoothGrad-like regulariser). The same draw serves the
        direction and the line search of one iteration. 0 keeps the method deterministic.
    blur_sigma : float or None
        Standard deviation, in pixels, of the Gaussian blur of ``baseline="blur"``. None: a tenth
        of the larger image side.
    internal_batch_size : int or None
        Path points per forward + backward pass. None: ``batch_size`` when given, else 4096 on
        CPU and 65536 on CUDA.

    Attributes
    ----------
    baseline_ : ndarray of shape (d_model,) or (n, d_model), or None
        The baseline in model space; None for "blur" (computed from each explained row).
    image_shape_ : tuple (C, H, W) or None
        The image shape used: ``image_shape``, or that of ``fit``'s images.
    tv_ : float
        The TV weight used (``tv``, or its resolution-scaled default; 0 for tabular data).
    mask_shape_ : tuple
        Shape of one optimised mask: (h, w) for images, (n_players,) for tabular data.

    See Also
    --------
    IGOSPlusPlus : deletion and insertion masks, bilateral TV.
    sklxai.IntegratedGradients : the path integral of input gradients.

    Notes
    -----
    Every explanation holds, per row, ``diagnostics["mask"]``: the final mask at the input's
    resolution (model space, (n, d_model)), with ``values == 1 - mask`` (for a Pipeline,
    summed over each raw column's model columns); and ``diagnostics["loss_curve"]``: the
    objective L(M) at the initial mask and after every iteration, (n, n_iter + 1). With
    ``optimizer="line_search"`` and ``noise=0`` it never increases. ``explain`` writes nothing
    on the explainer.

    Defaults follow the authors' code (``L1=1, L2=20`` at 28 x 28, 15 iterations, 20
    integration steps, Armijo constants ``1e-4``, ``0.2``, ``1e-5``). Departures, chosen where
    the papers are silent: a row whose line search fails keeps its mask (the reference takes
    the last, tiny step) and the Armijo test uses the projected gradient (the reference's full
    gradient at M = 1 makes rows whose mask does not move backtrack to the smallest step every
    iteration); the default TV weight and step scale with the mask resolution; the default
    baseline of images is black, not the papers' blur: a mask optimised against a blurred image
    ranks the pixels whose blurring lowers the score, and deletion / insertion metrics with a
    black baseline (the usual default, sklxai's included) then score it below a random map
    (measured on a 97%-accurate digits CNN with adaptive average pooling, 100 images, insertion
    AUC: blur 0.35 (I-GOS) and 0.37 (iGOS++) against 0.44 for random; black 0.53 and 0.79;
    ``benchmarks/deep_attributions.py``). Pass ``baseline="blur"`` for the papers' maps, and
    score them with the same blurred images as the metric's baseline; noise
    is off by default and, when on, is drawn once per iteration so that the Armijo test
    compares like with like. ``l1=1`` is conservative: the deleted area stays small and the
    saliency is mostly the ordering of a slightly moved mask; smaller ``l1`` (e.g. 0.3)
    deletes more.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai_igos import IGOS
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(256, 3), torch.nn.Softmax(dim=1))
    >>> X = np.random.default_rng(0).random((10, 1, 8, 8)).astype(np.float32)  # images
    >>> igos = IGOS(cnn, mask_size=4, n_iter=3, ig_steps=5, device="cpu").fit(X)
    >>> exp = igos.explain(X[:2])
    >>> exp.values.shape, igos.image_shape_, exp.diagnostics["loss_curve"].shape
    ((2, 1, 8, 8), (1, 8, 8), (2, 4))
    >>> bool(((exp.values >= 0) & (exp.values <= 1)).all())
    True
    """

    #: number of masks optimised per row
    _n_masks = 1

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 fast_path="auto", baseline="auto", image_shape=None, mask_size=None, l1=1.0,
                 tv=None, n_iter=15, ig_steps=20, optimizer="line_search", step_size=None,
                 ls_c=1e-4, ls_decay=0.2, ls_min_step=1e-5, noise=0.0, blur_sigma=None,
                 internal_batch_size=None, device="auto", random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, baseline=baseline,
                         internal_batch_size=internal_batch_size, device=device,
                         random_state=random_state, batch_size=batch_size)
        self.image_shape = image_shape
        self.mask_size = mask_size
        self.l1 = l1
        self.tv = tv
        self.n_iter = n_iter
        self.ig_steps = ig_steps
        self.optimizer = optimizer
        self.step_size = step_size
        self.ls_c = ls_c
        self.ls_decay = ls_decay
        self.ls_min_step = ls_min_step
        self.noise = noise
        self.blur_sigma = blur_sigma

    # ------------------------------------------------------------------ parameters
    def _check_params(self):
        super()._check_params()
        check_positive_int(self.n_iter, "n_iter")
        check_positive_int(self.ig_steps, "ig_steps")
        check_positive_int(self.internal_batch_size, "internal_batch_size", allow_none=True)
        shape = _check_image_shape(self.image_shape)
        if shape is not None:
            _mask_shape(self.mask_size, shape)  # checked again at fit for image input
        _check_real(self.l1, "l1", low=0.0)
        if self.tv is not None:
            _check_real(self.tv, "tv", low=0.0)
        if not isinstance(self.optimizer, str) or self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {list(_OPTIMIZERS)}; "
                             f"got {self.optimizer!r}.")
        if self.step_size is not None:
            _check_real(self.step_size, "step_size", low=0.0, low_open=True)
        _check_real(self.ls_c, "ls_c", low=0.0, high=1.0, low_open=True, high_open=True)
        _check_real(self.ls_decay, "ls_decay", low=0.0, high=1.0, low_open=True,
                    high_open=True)
        _check_real(self.ls_min_step, "ls_min_step", low=0.0, low_open=True)
        _check_real(self.noise, "noise", low=0.0)
        if self.blur_sigma is not None:
            _check_real(self.blur_sigma, "blur_sigma", low=0.0, low_open=True)
        b = self.baseline
        if isinstance(b, str) and b not in _BASELINES:
            raise ValueError(f"baseline must be one of {list(_BASELINES)} or an array of shape "
                             f"(d,) or (n, d); got {b!r}.")

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y):
        self.image_shape_ = self._fit_image_shape()
        b = self.baseline
        if isinstance(b, str) and b == "blur" and self.image_shape_ is None:
            raise ValueError("baseline='blur' needs images: fit on X of shape (n, C, H, W) (or "
                             "flattened rows with image_shape=(C, H, W)); only images can be "
                             "blurred. Use baseline='mean' or 'zeros' for tabular data.")
        super()._fit(X, y)  # refuses scikit-learn models, resolves the baseline
        d_model = self.prepared_.model_rows(self.background_[:1]).shape[1]
        groups = self._player_groups(d_model)
        if self.image_shape_ is not None:
            C, H, W = self.image_shape_
            if C * H * W != d_model:
                raise ValueError(
                    f"image_shape={tuple(self.image_shape)} holds {C * H * W} values but the "
                    f"model's input has {d_model} columns; pass the (C, H, W) of one flattened "
                    "image."
                )
            if groups is not None:
                raise ValueError(
                    "image_shape is given, but the Pipeline maps raw columns to groups of model "
                    "columns; explain images with a model that takes the flattened image (or a "
                    "column-wise scaler), or leave image_shape=None for tabular data."
                )
            self.mask_shape_ = _mask_shape(self.mask_size, self.image_shape_)
            h, w = self.mask_shape_
            self.tv_ = float(self.tv) if self.tv is not None else 20.0 * h * w / 28**2
        else:
            self.mask_shape_ = (d_model if groups is None else len(groups),)
            self.tv_ = 0.0

    def _fit_image_shape(self):
        """``image_shape``, or the (C, H, W) of fit's images; the two must agree."""
        given = _check_image_shape(self.image_shape)
        seen = self.prepared_.image_shape  # public: None unless fit's X held images
        if seen is None:
            return given
        if given is not None and given != seen:
            raise ValueError(
                f"image_shape={tuple(self.image_shape)}, but fit's X holds images of shape "
                f"{self.prepared_.input_shape} (C, H, W = {seen}); leave image_shape=None for "
                "image input (it is read from X), or pass the images' own shape."
            )
        return seen

    def _resolve_baseline(self, d):
        b = self.baseline
        if isinstance(b, str) and b == "auto":
            b = "zeros" if self.image_shape_ is not None else "mean"
        if isinstance(b, str) and b == "blur":
            return None  # one blurred image per explained row, made in _baseline_rows
        if isinstance(b, str) and b == "mean":
            return self.prepared_.model_rows(self.background_).mean(axis=0)
        if isinstance(b, str) and b == "zeros":
            return np.zeros(self.prepared_.model_rows(self.background_[:1]).shape[1])
        return super()._resolve_baseline(d)

    def _player_groups(self, d_model):
        """Model columns of each raw column of a column-wise Pipeline, or None (identity)."""
        if self.prepared_.column_map is None:
            return None
        groups = self.prepared_.player_columns()
        if len(groups) == d_model and all(
                len(g) == 1 and g[0] == j for j, g in enumerate(groups)):
            return None
        return groups

    # ------------------------------------------------------------------ baselines
    def _baseline_rows(self, Xm):
        if self.baseline_ is None:  # "blur": one blurred copy of each explained image
            return self._blur(np.asarray(Xm, dtype=np.float64))
        return super()._baseline_rows(Xm)

    def _blur(self, rows):
        """Gaussian blur of flattened images (n, C*H*W), channel by channel, edges replicated."""
        C, H, W = self.image_shape_
        sigma = self.blur_sigma if self.blur_sigma is not None else max(H, W) / 10.0
        radius = max(1, math.ceil(3.0 * sigma))
        t = torch.arange(-radius, radius + 1, dtype=torch.float64)
        k = torch.exp(-0.5 * (t / sigma) ** 2)
        k = k / k.sum()
        img = torch.as_tensor(rows).reshape(-1, 1, H, W)  # channels as separate images
        img = F.pad(img, (radius, radius, radius, radius), mode="replicate")
        img = F.conv2d(img, k.view(1, 1, 1, -1))  # separable: rows, then columns
        img = F.conv2d(img, k.view(1, 1, -1, 1))
        return img.reshape(rows.shape[0], C * H * W).numpy()

    # ------------------------------------------------------------------ explain
    def _attribute(self, X, B, targets):
        n, d = X.shape
        ctx = _Context(self, d, X.device, X.dtype)
        gen = torch.Generator(device=X.device)
        gen.manual_seed(seed_from(self.random_state))
        per_block = max(1, self._points_per_pass() // self.ig_steps)
        masks, curves = [], []
        for start in range(0, n, per_block):
            sl = slice(start, start + per_block)
            M, curve = self._optimise(ctx, X[sl], B[sl], targets[sl], gen)
            masks.append(M)
            curves.append(curve)
        M = torch.cat(masks)
        diagnostics = self._masks(ctx.expand(M))  # of (n, n_masks, d)
        diagnostics["loss_curve"] = torch.cat(curves).cpu().numpy()
        values = 1.0 - diagnostics["mask"]
        if ctx.groups is not None:  # the base sums a raw column's model columns back
            values = values / ctx.group_sizes
            values[:, ctx.ungrouped] = 0.0
        return values, diagnostics

    def _masks(self, up):
        """The explanation's masks (see the class's notes) from the upsampled masks."""
        return {"mask": up[:, 0].double().cpu().numpy()}

    def _optimise(self, ctx, X, B, targets, gen):
        """Masks (n, n_masks, p) and loss curves (n, n_iter + 1) of one block of rows."""
        n = X.shape[0]
        M = torch.ones(n, self._n_masks, ctx.p, dtype=X.dtype, device=X.device)
        rows = _Rows(X, B, targets)
        curve = torch.empty(n, self.n_iter + 1, dtype=torch.float64, device=X.device)
        if self.step_size is not None:
            step = float(self.step_size)
        else:
            step = float(ctx.p) if self.optimizer == "line_search" else ctx.p / 4.0
        theta_prev = M
        for it in range(self.n_iter):
            noise = self._draw_noise(rows, ctx, gen)
            loss, grad = self._objective(ctx, M, rows, noise, need_grad=True)
            curve[:, it] = loss
            if self.optimizer == "line_search":
                M = self._line_search(ctx, M, grad, loss, rows, noise, step)
            else:  # Nesterov: th_t = M_t - a g; M_t+1 = th_t + t/(t+3) (th_t - th_t-1)
                theta = M - step * grad
                M = (theta + (it / (it + 3.0)) * (theta - theta_prev)).clamp_(0.0, 1.0)
                theta_prev = theta
        curve[:, -1], _ = self._objective(ctx, M, rows, self._draw_noise(rows, ctx, gen),
                                          need_grad=False)
        return M, curve

    def _line_search(self, ctx, M, grad, loss, rows, noise, step):
        """Armijo backtracking, one step per row; rows that find none keep their mask."""
        n = M.shape[0]
        dev = M.device
        # projected gradient: components pushing out of [0, 1] at a bound cannot move (the
        # clip undoes them), so they count neither in the Armijo test nor as progress
        grad = grad.masked_fill(((M >= 1) & (grad < 0)) | ((M <= 0) & (grad > 0)), 0.0)
        alpha = torch.full((n,), step, dtype=torch.float64, device=dev)
        gnorm2 = grad.double().pow(2).flatten(1).sum(1)
        new = M.clone()
        active = torch.nonzero(gnorm2 > 0).flatten()  # stationary rows keep their mask
        while active.numel():
            a = alpha[active]
            trial = (M[active] - a.to(M.dtype)[:, None, None] * grad[active]).clamp_(0.0, 1.0)
            sub_noise = None if noise is None else [z[active] for z in noise]
            trial_loss, _ = self._objective(ctx, trial, rows.take(active), sub_noise,
                                            need_grad=False)
            ok = trial_loss <= loss[active] - self.ls_c * a * gnorm2[active]
            new[active[ok]] = trial[ok]
            alpha[active] *= self.ls_decay
            active = active[~ok & (alpha[active] >= self.ls_min_step)]
        return new

    def _draw_noise(self, rows, ctx, gen):
        if not self.noise:
            return None
        n, d = rows.X.shape
        shape = (n, self.ig_steps, d)
        return [torch.randn(shape, generator=gen, device=rows.X.device, dtype=rows.X.dtype)
                * self.noise for _ in range(self._n_terms)]

    # ------------------------------------------------------------------ the objective
    #: number of path terms in the objective (noise draws per iteration)
    _n_terms = 1

    def _terms(self, up):
        """Path terms (weight, "del" or "ins", upsampled mask (n, d)) of the objective."""
        return [(1.0, "del", up[:, 0])]

    def _regularised_mask(self, M):
        """The low-resolution mask (n, p) that the L1 and TV terms see."""
        return M[:, 0]

    def _tv_term(self, ctx, m, X):
        return _tv(m.view(-1, *ctx.mask_shape))

    def _objective(self, ctx, M, rows, noise, need_grad):
        """Objective L(M) per row (n,), float64, and its gradient (n, n_masks, p) or None."""
        with torch.enable_grad() if need_grad else torch.no_grad():
            Mv = M.detach().requires_grad_(need_grad)
            up = ctx.expand(Mv)
            m = self._regularised_mask(Mv)
            reg = self.l1 * (1.0 - m).mean(dim=1)
            if ctx.image and self.tv_:
                reg = reg + self.tv_ * self._tv_term(ctx, m, rows.X)
            loss = reg.detach().double()
            surrogate = reg.sum()
            for j, (weight, kind, u) in enumerate(self._terms(up)):
                start, end = (rows.B, rows.X) if kind == "del" else (rows.X, rows.B)
                score, G = self._path_score(start, end, u.detach(), rows.targets,
                                            None if noise is None else noise[j], need_grad)
                loss = loss + weight * score
                if need_grad:
                    # chain rule through the upsampling and mask products, by autograd
                    surrogate = surrogate + weight * (u * G).sum()
            if not need_grad:
                return loss, None
            (grad,) = torch.autograd.grad(surrogate, Mv)
        return loss, grad

    def _path_score(self, start, end, u, targets, noise, need_grad):
        """Mean of f over the K points ``start + (k/K) u (end - start)`` of each row (n,),
        and its gradient with respect to u (n, d) when asked: the integrated gradient."""
        n, d = start.shape
        K = self.ig_steps
        c = torch.arange(1, K + 1, dtype=start.dtype, device=start.device) / K
        D = end - start
        P = start[:, None, :] + c[None, :, None] * (u * D)[:, None, :]
        if noise is not None:
            P = P + noise
        P = P.reshape(n * K, d)
        tt = targets.repeat_interleave(K)
        if need_grad:
            scores, grad = self._target_gradient(P, tt)
            G = (grad.view(n, K, d) * c[None, :, None]).sum(dim=1) * D / K
        else:
            scores, G = self.adapter_(P).gather(1, tt[:, None])[:, 0], None
        return scores.double().view(n, K).mean(dim=1), G


class IGOSPlusPlus(IGOS):
    """iGOS++ saliency (Khorram et al., 2021): bilateral deletion and insertion masks.

    Two masks with values in [0, 1] are optimised for each row, a deletion mask ``Md`` and an
    insertion mask ``Mi`` (both start at 1; a 0 marks an important pixel in both). With
    ``del(u) = 1/K sum_k f(b + (k/K) u (x - b))`` (the score along the path from the baseline
    to the row with the pixels where u is 0 deleted) and
    ``ins(u) = 1/K sum_k f(x + (k/K) u (b - x))`` (the path from the row to the baseline with
    only the pixels where u is 0 kept), ``Ud = U(Md)``, ``Ui = U(Mi)``:

    ``L = 1/2 [del(Ud) - ins(Ui) + del(Ud Ui) - ins(Ud Ui)]
    + l1 * mean(1 - Md Mi) + tv * BTV(Md Mi)``

    so deleting the pixels that ``Md Mi`` marks must make the score drop, and inserting them
    alone must make it rise. ``BTV(m) = 1/2 [TV(m) + sum over neighbour pairs (i, j) of
    w_ij |U(m)_i - U(m)_j|^2]`` (as means, vertical plus horizontal) adds to the low-resolution
    TV a bilateral term in image space, with ``w_ij = exp(-mean_c (x_ci - x_cj)^2 / tv_sigma)``:
    the mask may change across the image's edges but should be smooth inside regions. The
    1/2 on the path terms follows the authors' code (it balances four path terms against the
    regulariser); here the Armijo test uses the same objective as the gradient.

    The returned saliency is ``values = 1 - U(Md) U(Mi)``, in [0, 1] (larger = more evidence
    for the explained output): a pixel is salient when either mask marks it, i.e. when deleting
    it lowers the score or inserting it raises it. This is the complement of the combined mask
    that the authors' code returns and evaluates. For tabular data (``image_shape=None``) the
    masks hold one value per feature, U is the identity and there is no TV term.

    Parameters
    ----------
    model, background, n_background, target, fast_path, baseline, image_shape, mask_size, l1, \
tv, n_iter, ig_steps, optimizer, step_size, ls_c, ls_decay, ls_min_step, noise, blur_sigma, \
internal_batch_size, device, random_state, batch_size
        As in :class:`IGOS`; the line search moves both masks with one step per row, NAG
        (``optimizer="nag"``, the authors' default for iGOS++) both with the fixed step.
    tv_sigma : float, default=0.01
        Range parameter of the bilateral weights, in squared input units.

    Attributes
    ----------
    baseline_, image_shape_, tv_, mask_shape_
        As in :class:`IGOS`.

    Notes
    -----
    The explanation's ``diagnostics`` hold, per row, ``"loss_curve"`` as in :class:`IGOS`,
    ``"deletion_mask"`` and ``"insertion_mask"``: ``U(Md)`` and ``U(Mi)`` at the input's
    resolution (n, d_model), and ``"mask"``: the combined mask ``U(Md) U(Mi)``, with
    ``values == 1 - mask``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai_igos import IGOSPlusPlus
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(5, 2), torch.nn.Softmax(dim=1))
    >>> X = np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32)
    >>> exp = IGOSPlusPlus(net, n_iter=4, ig_steps=8, device="cpu").fit(X).explain(X[:3])
    >>> exp.values.shape
    (3, 5)
    """

    _n_masks = 2
    _n_terms = 4

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 fast_path="auto", baseline="auto", image_shape=None, mask_size=None, l1=1.0,
                 tv=None, tv_sigma=0.01, n_iter=15, ig_steps=20, optimizer="line_search",
                 step_size=None, ls_c=1e-4, ls_decay=0.2, ls_min_step=1e-5, noise=0.0,
                 blur_sigma=None, internal_batch_size=None, device="auto", random_state=None,
                 batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, baseline=baseline, image_shape=image_shape,
                         mask_size=mask_size, l1=l1, tv=tv, n_iter=n_iter, ig_steps=ig_steps,
                         optimizer=optimizer, step_size=step_size, ls_c=ls_c, ls_decay=ls_decay,
                         ls_min_step=ls_min_step, noise=noise, blur_sigma=blur_sigma,
                         internal_batch_size=internal_batch_size, device=device,
                         random_state=random_state, batch_size=batch_size)
        self.tv_sigma = tv_sigma

    def _check_params(self):
        super()._check_params()
        _check_real(self.tv_sigma, "tv_sigma", low=0.0, low_open=True)

    def _terms(self, up):
        ud, ui = up[:, 0], up[:, 1]
        both = ud * ui
        return [(0.5, "del", ud), (-0.5, "ins", ui), (0.5, "del", both), (-0.5, "ins", both)]

    def _regularised_mask(self, M):
        return M[:, 0] * M[:, 1]

    def _tv_term(self, ctx, m, X):
        C, H, W = self.image_shape_
        low = _tv(m.view(-1, *ctx.mask_shape))
        up = ctx.upsample(m[:, None])[:, 0]  # (n, H, W)
        img = X.reshape(-1, C, H, W)
        wv = torch.exp(-(img[:, :, 1:] - img[:, :, :-1]).pow(2).mean(dim=1) / self.tv_sigma)
        wh = torch.exp(-(img[..., 1:] - img[..., :-1]).pow(2).mean(dim=1) / self.tv_sigma)
        bil = _mean_or_zero(wv * (up[:, 1:] - up[:, :-1]).pow(2)) + _mean_or_zero(
            wh * (up[..., 1:] - up[..., :-1]).pow(2))
        return 0.5 * (low + bil)

    def _masks(self, up):
        deletion, insertion = (up[:, j].double().cpu().numpy() for j in (0, 1))
        return {"deletion_mask": deletion, "insertion_mask": insertion,
                "mask": deletion * insertion}


# ---------------------------------------------------------------------------------- helpers


class _Rows:
    """The rows of one block: X, baselines B, targets, all tensors on the device."""

    def __init__(self, X, B, targets):
        self.X, self.B, self.targets = X, B, targets

    def take(self, idx):
        return _Rows(self.X[idx], self.B[idx], self.targets[idx])


class _Context:
    """How a low-resolution mask (n, n_masks, p) becomes a mask on the model's input (d)."""

    def __init__(self, est, d, device, dtype):
        self.image = est.image_shape_ is not None
        self.mask_shape = est.mask_shape_
        self.p = int(np.prod(self.mask_shape))
        self.groups = None
        if self.image:
            self.C, self.H, self.W = est.image_shape_
            return
        groups = est._player_groups(d)
        if groups is not None:
            self.groups = groups
            col = np.full(d, len(groups), dtype=np.int64)  # index p: a constant 1 (kept)
            sizes = np.ones(d)
            for j, g in enumerate(groups):
                col[g] = j
                sizes[g] = max(len(g), 1)
            self.column = torch.as_tensor(col, device=device)
            self.group_sizes = sizes
            self.ungrouped = col == len(groups)

    def upsample(self, m):
        """(n, c, h, w)-viewable masks (n, c, p) -> (n, c, H, W), bilinear, corners aligned."""
        n, c = m.shape[:2]
        m = m.reshape(n * c, 1, *self.mask_shape)
        if tuple(self.mask_shape) != (self.H, self.W):
            m = F.interpolate(m, size=(self.H, self.W), mode="bilinear", align_corners=True)
        return m.reshape(n, c, self.H, self.W)

    def expand(self, M):
        """Masks (n, n_masks, p) -> (n, n_masks, d) on the model's input columns."""
        n, k = M.shape[:2]
        if self.image:
            up = self.upsample(M)[:, :, None].expand(n, k, self.C, self.H, self.W)
            return up.reshape(n, k, self.C * self.H * self.W)
        if self.groups is None:
            return M
        ones = torch.ones(n, k, 1, dtype=M.dtype, device=M.device)
        return torch.cat([M, ones], dim=2)[:, :, self.column]


def _mean_or_zero(t):
    """Mean over all but the first axis; 0 when those axes are empty (a side of length 1)."""
    flat = t.flatten(1)
    if flat.shape[1] == 0:
        return torch.zeros(t.shape[0], dtype=t.dtype, device=t.device)
    return flat.mean(dim=1)


def _tv(m):
    """Total variation of masks (n, h, w): mean squared vertical + horizontal differences."""
    return _mean_or_zero((m[:, 1:] - m[:, :-1]).pow(2)) + _mean_or_zero(
        (m[:, :, 1:] - m[:, :, :-1]).pow(2))


def _check_image_shape(shape):
    if shape is None:
        return None
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    if dims is None or len(dims) != 3 or not all(
            isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool) and v > 0
            for v in dims):
        raise ValueError(f"image_shape must be None or a tuple (C, H, W) of positive ints; got "
                         f"{shape!r}. For a grey 8x8 image pass (1, 8, 8).")
    return tuple(int(v) for v in dims)


def _mask_shape(mask_size, image_shape):
    _, H, W = image_shape
    if mask_size is None:
        return (max(1, min(28, math.ceil(H / 2))), max(1, min(28, math.ceil(W / 2))))
    size = (mask_size, mask_size) if isinstance(mask_size, (numbers.Integral, np.integer)) \
        else mask_size
    try:
        dims = tuple(size)
    except TypeError:
        dims = None
    if dims is None or len(dims) != 2 or not all(
            isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool) and v > 0
            for v in dims):
        raise ValueError(f"mask_size must be None, a positive int or a pair (h, w); "
                         f"got {mask_size!r}.")
    h, w = (int(v) for v in dims)
    if h > H or w > W:
        raise ValueError(f"mask_size={mask_size!r} is finer than the image ({H} x {W}); use at "
                         f"most ({H}, {W}) (the mask is upsampled to the image, not pooled).")
    return (h, w)


def _check_real(value, name, *, low=None, high=None, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(
            value):
        raise ValueError(f"{name} must be a finite real number; got {value!r}.")
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low}"
        hi = "" if high is None else f"{high}" + (")" if high_open else "]")
        if high is None:
            rng = f"> {low}" if low_open else f">= {low}"
        else:
            rng = f"in {lo}, {hi}"
        raise ValueError(f"{name} must be {rng}; got {value!r}.")
    return float(value)
