"""GradientSHAP: expected gradients, the mean of IG's integrand at random points of random paths."""

import numpy as np
import torch

from sklxai.explainers.gradient import GradientExplainer, _completeness_gap
from sklxai.explanation import Explanation
from sklxai.utils import param_validation as pv
from sklxai.utils.memory import chunk_size

#: d-sized temporaries of one (row, sample) point: the noisy row, its background row, the
#: point, the gradient, the contribution and its square (float64 at most)
_TEMPORARIES = 8


def _row_draws(seed, row, n_background, n_samples):
    """The generator of explained row ``row`` and its first draws: the background row index and
    the path position alpha of each of its ``n_samples`` samples. The generator's stream goes
    on with the row's input noise (``standard_normal((samples, d))``, in sample order)."""
    gen = np.random.default_rng([seed, row])
    return gen, gen.integers(n_background, size=n_samples), gen.random(n_samples)


class GradientSHAP(GradientExplainer):
    """GradientSHAP, or expected gradients (Erion et al., 2021; Lundberg and Lee, 2017).

    For a row x, background rows b (the reference distribution) and the explained output f_t,
    ``values_i = E_{b, alpha ~ U(0, 1), eps} [(x + eps - b)_i * d f_t(b + alpha (x + eps - b))
    / d x_i]``: Integrated Gradients' integrand at a random point of the straight path from a
    random background row, averaged. Each row's expectation is estimated from ``n_samples``
    independent draws (a background row, alpha, and Gaussian input noise eps of standard
    deviation ``stdevs`` when it is positive). All (row, sample) points are evaluated in
    batches on the device, chunked so that the temporaries fit the memory budget
    (:mod:`sklxai.utils.memory`), and accumulated.

    Completeness holds in expectation (``stdevs=0``): ``E[sum_i values_i] = f_t(x) - E_b
    f_t(b)``, and ``base_values`` are ``E_b f_t(b)`` over the background rows. Each
    explanation reports the estimate's gap per row, ``diagnostics["completeness_gap"]``
    (:class:`~sklxai.explainers.integrated_gradients.IntegratedGradients`' definition), which
    shrinks as ``n_samples`` grows, and ``std_errors``: the standard deviation of each value's
    ``n_samples`` terms over ``sqrt(n_samples)``.

    Gradients are needed, so the model must be a skorch net or a ``torch.nn.Module`` (or a
    Pipeline whose preprocessing is column-wise and ends in one, explained on its fast path:
    paths then run in model space and each raw column gets the sum of its model columns'
    values). A scikit-learn model raises a TypeError at ``fit``. For a skorch classifier the
    explained outputs are the probabilities.

    Parameters
    ----------
    model : fitted skorch net or torch.nn.Module
        See :class:`~sklxai.base.BaseExplainer`.
    background : array-like of shape (b, d), images (b, C, H, W) or None
        The reference rows the paths start from. None: ``n_background`` rows drawn from
        ``fit``'s X.
    n_background, fast_path, device, batch_size
        See :class:`~sklxai.base.BaseExplainer`.
    target : None, int, label or array of int
        Which output to explain: None (default) each row's predicted output, an int or label
        that output for every row, an array one output index per row of ``explain``'s X.
    n_samples : int
        Draws per explained row (default 200, shap's ``GradientExplainer`` default; captum's
        ``GradientShap`` defaults to 5, whose estimates are noisy). Cost: ``n_samples``
        forward + backward passes per row.
    stdevs : float
        Standard deviation of the Gaussian noise added to the explained row in each draw
        (captum's ``stdevs``, in the model's input units); 0 (default): none.
    internal_batch_size : int or None
        At most this many points per forward + backward pass (also bounded by the memory
        budget). None: ``batch_size`` when given, else 65536 on CUDA, and on the CPU as many
        (at most 4096) as keep the model's largest layer output within 16 MiB a pass (measured
        in the run that gives f(x)).
    random_state : None, int or RandomState
        Seeds the background draw and the samples; with an int, values are reproducible, and
        independent of the batching.

    Attributes
    ----------
    baseline_ : ndarray of shape (d_model,)
        The mean of the background rows in model space (the reference's mean point; the
        values average over the rows themselves).
    std_errors_dof_ : float
        Degrees of freedom of ``std_errors``: ``n_samples - 1``.

    Notes
    -----
    Row r's draws come from its own generator, seeded by ``(seed, r)``, so they do not depend
    on how the points are batched. With ``n_samples=1`` there is no spread to measure and
    ``std_errors`` is None.

    captum's ``GradientShap`` computes the same estimator (with ``n_samples=5`` by default and
    the global numpy and torch random state) of what the module returns (logits for a bare
    classifier module) and no standard errors; shap's ``GradientExplainer`` draws the same
    samples (200 by default) per row, with its own standard deviations of the samples.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai.explainers.gradient_shap import GradientSHAP
    >>> lin = torch.nn.Linear(3, 1).double()
    >>> X = np.random.default_rng(0).normal(size=(20, 3))
    >>> exp = GradientSHAP(lin, n_samples=50, device="cpu", random_state=0).fit(X).explain(X[:2])
    >>> exp.values.shape, exp.std_errors.shape
    ((2, 3), (2, 3))
    """

    _parameter_constraints = {
        **GradientExplainer._parameter_constraints,
        "n_samples": pv.positive_int(),
        "stdevs": pv.real_in(0, float("inf"), inclusive=(True, False)),
    }

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 fast_path="auto", n_samples=200, stdevs=0.0, internal_batch_size=None,
                 device="auto", random_state=None, batch_size=None):
        super().__init__(model, background=background, n_background=n_background, target=target,
                         fast_path=fast_path, internal_batch_size=internal_batch_size,
                         device=device, random_state=random_state, batch_size=batch_size)
        self.n_samples = n_samples
        self.stdevs = stdevs

    # ------------------------------------------------------------------ fit
    def _fit(self, X, y):
        super()._fit(X, y)
        self.std_errors_dof_ = float(self.n_samples - 1)

    def _resolve_baseline(self, d):
        """The mean background row in model space (the paths start at the rows themselves)."""
        return self._model_rows(self.background_).mean(axis=0)

    # ------------------------------------------------------------------ explain
    def _base_outputs(self, B, rows_t):
        """E_b f_t(b): the explained output averaged over the background rows."""
        return self._outputs(self._model_rows(self.background_)).mean(axis=0)[rows_t]

    def _explain_target(self, X, target):
        values, base, output, names, extra = super()._explain_target(X, target)
        diagnostics = dict(extra["diagnostics"])
        errors = diagnostics.pop("std_errors")
        return values, base, output, names, {
            "diagnostics": diagnostics, "std_errors": errors if self.n_samples > 1 else None}

    def _make_explanation(self, X, **fields):
        if fields["std_errors"] is not None:  # the values' shape (images)
            fields["std_errors"] = np.reshape(fields["std_errors"], np.shape(fields["values"]))
        return Explanation(**fields)

    def _attribute(self, X, B, targets):
        """The mean of each row's ``n_samples`` terms (x + eps - b) * grad, and their
        standard errors per player (raw column) as a diagnostic."""
        n, d = X.shape
        S = self.n_samples
        dev = X.device
        bg = torch.as_tensor(np.array(self._model_rows(self.background_), copy=True),
                             dtype=X.dtype, device=dev)
        draws = [_row_draws(self._seed, r, bg.shape[0], S) for r in range(n)]
        gens = [g for g, _, _ in draws]
        idx = torch.as_tensor(np.stack([i for _, i, _ in draws]), device=dev)
        alpha = torch.as_tensor(np.stack([a for _, _, a in draws]), dtype=X.dtype, device=dev)
        players = self._player_matrix(d, dev)
        total = torch.zeros(n, d, dtype=torch.float64, device=dev)
        squares = torch.zeros(n, d if players is None else players.shape[1],
                              dtype=torch.float64, device=dev)
        chunk = min(self._points_per_pass(),
                    chunk_size(_TEMPORARIES * 8 * d, dev, maximum=n * S))
        for start in range(0, n * S, chunk):
            p = torch.arange(start, min(start + chunk, n * S), device=dev)
            r, s = p // S, p % S
            x = X[r]
            if self.stdevs > 0:
                x = x + self._noise(gens, r.cpu().numpy(), d, X.dtype, dev)
            b = bg[idx[r, s]]
            a = alpha[r, s][:, None]
            grad = self._gradients(a * x + (1 - a) * b, targets[r])  # captum's point
            term = (x - b).double() * grad.double()
            total.index_add_(0, r, term)
            squares.index_add_(0, r, (term if players is None else term @ players) ** 2)
        mean = total / S
        mean_players = mean if players is None else mean @ players
        var = (squares / S - mean_players**2).clamp_min(0.0)
        errors = (var / max(S - 1, 1)).sqrt()  # sample std / sqrt(S)
        return mean, {"std_errors": errors}

    def _noise(self, gens, rows, d, dtype, dev):
        """Each point's input noise, from its row's generator in sample order (rows sorted)."""
        uniq, counts = np.unique(rows, return_counts=True)
        z = np.concatenate([gens[u].standard_normal((c, d)) for u, c in zip(uniq, counts)])
        return torch.as_tensor(z * self.stdevs, dtype=dtype, device=dev)

    def _player_matrix(self, d, dev):
        """(d_model, P) 0/1 matrix summing model columns to raw columns; None without a
        column map (the players are the model columns)."""
        if self.prepared_.column_map is None:
            return None
        cols = self.prepared_.player_columns()
        M = torch.zeros(d, len(cols), dtype=torch.float64, device=dev)
        for j, c in enumerate(cols):
            M[torch.as_tensor(c, device=dev), j] = 1.0
        return M

    def _after_attribute(self, values, output, base):
        """The relative completeness gap of each row against f(x) - E_b f(b)."""
        return {"completeness_gap": _completeness_gap(values, output, base)}
