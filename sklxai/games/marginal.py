"""The marginal (interventional) game over a background, and its single-baseline special case."""

import warnings

import numpy as np
import torch

from sklxai.utils.memory import chunk_size
from sklxai.utils.progress import report_progress, share_of_work


class Game:
    """Coalition values v_x(S) of a model's outputs, batched over rows and coalitions.

    Subclasses implement :meth:`_evaluate_chunk`. The public entry points are :meth:`values`,
    :meth:`null` (v of the empty coalition) and :meth:`full` (v of all features, i.e. the model
    output at x).

    A game declares what it supports instead of being probed: ``supports_sampled_values`` says
    whether it has :meth:`sampled_values` (unbiased estimates of v from a few random background
    rows; only games with a background do).
    """

    supports_sampled_values = False

    def __init__(self, adapter, *, batch_size=None):
        self.adapter = adapter
        self.batch_size = batch_size or adapter.default_batch_size

    @property
    def device(self):
        return self.adapter.device

    def as_tensor(self, X):
        """``X`` on the game's device in the model's dtype."""
        return self.adapter.to_input(X)

    def full(self, X):
        """Model outputs at ``X``: v_x(N), shape (n, k)."""
        return self._call_model(self.as_tensor(X))

    def _call_model(self, inputs, *, report=False):
        """The model on ``inputs`` in batches of ``batch_size`` rows.

        When the device runs out of memory, the batch size is halved (with a warning) and the
        work goes on from the batch that failed; nothing computed is lost. ``report``: tell an
        explainer's progress bar, after each batch, the fraction of ``inputs`` done
        (:func:`~sklxai.utils.progress.report_progress`; coalition values report, v(N) not).
        """
        outs, i = [], 0
        while i < len(inputs):
            step = self.batch_size
            try:
                outs.append(self.adapter(inputs[i : i + step]))
            except torch.OutOfMemoryError:
                if step == 1:
                    raise
                self.batch_size = max(1, step // 2)
                if inputs.is_cuda:
                    torch.cuda.empty_cache()
                warnings.warn(
                    f"Out of device memory with batch_size={step} model rows; continuing with "
                    f"batch_size={self.batch_size}.", UserWarning, stacklevel=2,
                )
                continue
            i += step
            if report:
                report_progress(min(i, len(inputs)), len(inputs))
        if not outs:
            return self.adapter(inputs)
        return outs[0] if len(outs) == 1 else torch.cat(outs)

    def empty_value(self):
        """v(empty), the same for every row, shape (k,): the expected output (base value)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def null(self, X):
        """v_x(empty), shape (n, k)."""
        X = self.as_tensor(X)
        masks = torch.zeros(1, X.shape[1], dtype=torch.bool, device=X.device)
        return self.values(X, masks)[:, 0]

    #: whether _evaluate_chunk takes coalitions of feature groups directly
    _supports_groups = False

    def values(self, X, masks, *, groups=None):
        """Coalition values.

        Parameters
        ----------
        X : tensor or ndarray of shape (n, d)
        masks : bool tensor of shape (m, d), shared by all rows, or (n, m, d), one set per row.
            True marks a feature present (taken from x).
        groups : float tensor of shape (G, d) or None
            Membership of features in G groups; ``masks`` are then coalitions of groups
            (last dimension G).

        Returns
        -------
        values : tensor of shape (n, m, k)
        """
        X = self.as_tensor(X)
        masks = torch.as_tensor(masks, device=X.device).bool()
        if X.dim() != 2:
            raise ValueError(f"X must be 2-D (n, d); got shape {tuple(X.shape)}.")
        n, d = X.shape
        if groups is not None and not self._supports_groups:
            masks, groups = (masks.to(groups.dtype) @ groups) > 0, None
        if masks.dim() not in (2, 3):
            raise ValueError(f"masks must be (m, d) or (n, m, d); got shape {tuple(masks.shape)}.")
        width = d if groups is None else groups.shape[0]
        if masks.shape[-1] != width:
            what = "features" if groups is None else "groups"
            raise ValueError(f"masks have {masks.shape[-1]} columns but there are {width} {what}.")
        if masks.dim() == 3 and masks.shape[0] != n:
            raise ValueError(f"per-row masks have {masks.shape[0]} rows but X has {n}.")
        self._check_width(d)
        shared = masks.dim() == 2
        m = masks.shape[-2]
        chunk = self._pairs_per_chunk()
        total = n * m
        out = None
        for start in range(0, total, chunk):
            idx = torch.arange(start, min(start + chunk, total), device=X.device)
            r, j = idx // m, idx % m
            mk = masks[j] if shared else masks[r, j]
            # progress reports from within the chunk count as its share of the pairs
            with share_of_work(start, start + len(idx), total):
                vals = (self._evaluate_chunk(X, r, mk) if groups is None
                        else self._evaluate_chunk(X, r, mk, groups))
            if out is None:
                out = torch.empty(total, vals.shape[-1], dtype=vals.dtype, device=vals.device)
            out[start : start + len(idx)] = vals
            report_progress(start + len(idx), total)  # to an explainer's bar, if one listens
        if out is None:  # no rows or no masks: ask the model how many outputs it has
            k = self.full(X[:1] if n else self.background[:1]).shape[1]
            return torch.empty(n, m, k, device=X.device)
        return out.reshape(n, m, -1)

    def _pairs_per_chunk(self):
        return max(1, self.batch_size)

    def _check_width(self, d):
        """Refuse rows of the wrong width (games with reference rows override this)."""

    def _evaluate_chunk(self, X, rows, masks):
        """Values for P (row, mask) pairs: rows (P,) index X (n, d), masks (P, d) -> (P, k)."""
        raise NotImplementedError  # pragma: no cover - abstract


class MarginalGame(Game):
    """Interventional game: v_x(S) = mean over background rows b of f(x_S, b_{not S}).

    This is the value function of ``shap.KernelExplainer`` with a background data set.

    Parameters
    ----------
    adapter : ModelAdapter
        The model.
    background : array-like of shape (b, d)
        Rows whose values replace the absent features.
    batch_size : int or None
        Model rows per forward call (memory bound); default from the adapter's device.
    dedupe : {"auto", True, False}
        Evaluate each distinct model input once. Where x and a background row agree on a
        feature (common with categorical and integer columns), coalitions that differ only
        there give the same input; on Adult this removes most model calls. The values are
        identical either way. "auto" dedupes a chunk when the agreement rate predicts at least
        20% fewer model calls.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklxai.models import make_adapter
    >>> from sklxai.games import MarginalGame
    >>> lin = torch.nn.Linear(2, 1, bias=False)
    >>> game = MarginalGame(make_adapter(lin, device="cpu"), np.zeros((3, 2)))
    >>> game.values(np.ones((1, 2)), torch.tensor([[True, False]])).shape
    torch.Size([1, 1, 1])
    """

    def __init__(self, adapter, background, *, batch_size=None, dedupe="auto"):
        super().__init__(adapter, batch_size=batch_size)
        if dedupe not in ("auto", True, False):
            raise ValueError(f"dedupe must be 'auto', True or False; got {dedupe!r}.")
        self.dedupe = dedupe
        bg = self.as_tensor(background)
        if bg.dim() != 2 or bg.shape[0] == 0:
            raise ValueError(
                f"background must be a non-empty 2-D array; got shape {tuple(bg.shape)}."
            )
        self.background = bg
        self._own_outputs = None  # f(b) of every background row, see sampled_values
        self._strata_cache = {}  # n_samples -> the background's strata (sampled_values)

    def empty_value(self):
        """Mean model output over the background, shape (k,)."""
        return self._background_outputs().double().mean(dim=0)

    supports_sampled_values = True

    def sampled_values(self, X, masks, n_samples, *, generator):
        """Unbiased estimates of v_x(S) from ``n_samples`` background rows per coalition.

        Amortized explainers train on noisy targets anyway: spending the same model calls on
        more coalitions and fewer background rows each lowers the targets' variance when, as
        is usual, coalitions vary more than background rows.

        The rows are drawn stratified. The background is ordered by the model's own output on each
        row f(b) (the output that varies most over the background; the first of those within a
        relative 1e-4 of the largest variance) and cut into ``n_samples`` strata of consecutive
        rows, as equal in size as the count allows; each (row, coalition) draws one row from each
        stratum, weighted by the stratum's share of the background. Rows whose outputs differ most
        (a classifier's two classes) then never all fall in one draw; on the breast-cancer MLP of
        the docs' benchmarks this takes a quarter to a third off the variance of SimSHAP's targets.
        With ``n_samples`` at least the background's size, every row is its own stratum: the exact
        value, at the background's model calls.

        Each drawn row's own output, whose mean over its stratum is known, also serves as a
        control variate: the estimate is sum over strata h of (n_h / n) (f(x_S, b_h{not S})
        - c_S (f(b_h) - mean of f over stratum h)), with c_S the share of features taken from
        the row, ``1 - |S| / d`` (the best coefficient where f is additive and its features
        vary alike). It stays unbiased for any c_S and is exact for S empty (its effect on
        the estimates' error is measured in the docs' benchmarks).

        Parameters
        ----------
        X : tensor of shape (n, d)
        masks : bool tensor of shape (n, m, d)
        n_samples : int
            Background rows drawn for each (row, coalition), one from each stratum.
        generator : torch.Generator on the game's device

        Returns
        -------
        values : tensor of shape (n, m, k)
        """
        X = self.as_tensor(X)
        n, m, d = masks.shape
        order, first, sizes, share, own = self._strata(n_samples)
        pick = torch.rand(n, m, len(sizes), generator=generator, device=X.device)
        offset = (pick * sizes).long().clamp_(max=sizes - 1)  # uniform within each stratum
        idx = order[first + offset]  # (n, m, strata)
        out = []
        per_chunk = max(1, self.batch_size // len(sizes))
        rows = torch.arange(n, device=X.device)[:, None].expand(n, m).reshape(-1)
        flat_masks, flat_idx = masks.reshape(n * m, d), idx.reshape(n * m, len(sizes))
        for start in range(0, n * m, per_chunk):
            sl = slice(start, start + per_chunk)
            inputs = torch.where(flat_masks[sl, None, :], X[rows[sl]][:, None, :],
                                 self.background[flat_idx[sl]])
            vals = self.adapter(inputs.reshape(-1, d))
            vals = vals.reshape(-1, len(sizes), vals.shape[-1])
            absent = 1.0 - flat_masks[sl].to(vals.dtype).mean(dim=1)
            terms = vals - absent[:, None, None] * own[flat_idx[sl]].to(vals.dtype)
            out.append(torch.einsum("csk,s->ck", terms, share.to(vals.dtype)))
        return torch.cat(out).reshape(n, m, -1)

    def _strata(self, n_samples):
        """The background's strata for ``n_samples`` draws (see :meth:`sampled_values`): the
        rows ordered by their output, each stratum's first position and size in that order,
        its share of the background, and every row's output less its stratum's mean."""
        cached = self._strata_cache.get(n_samples)
        if cached is not None:
            return cached
        own = self._background_outputs()
        B = own.shape[0]
        h = min(int(n_samples), B)
        # the first output within a relative 1e-4 of the largest variance: a classifier's
        # complementary probabilities vary alike, and rounding must not pick between them
        spread = own.var(dim=0) if B > 1 else torch.ones(own.shape[1], dtype=own.dtype)
        varying = int(torch.nonzero(spread >= spread.max() * (1 - 1e-4))[0, 0])
        order = torch.sort(own[:, varying], stable=True).indices
        bounds = torch.tensor([(j * B) // h for j in range(h + 1)], device=own.device)
        first, sizes = bounds[:-1], bounds[1:] - bounds[:-1]
        stratum = torch.empty(B, dtype=torch.long, device=own.device)
        stratum[order] = torch.repeat_interleave(torch.arange(h, device=own.device), sizes)
        means = torch.zeros(h, own.shape[1], dtype=own.dtype, device=own.device)
        means.index_add_(0, stratum, own)
        means /= sizes[:, None].to(own.dtype)
        cached = (order, first, sizes, sizes.to(own.dtype) / B, own - means[stratum])
        self._strata_cache[n_samples] = cached
        return cached

    def _background_outputs(self):
        """f(b) for every background row, shape (b, k): computed on first use, then kept."""
        if self._own_outputs is None:
            self._own_outputs = self.full(self.background)
        return self._own_outputs

    def _pairs_per_chunk(self):
        if self.dedupe is False:
            return max(1, self.batch_size // self.background.shape[0])
        # deduplicated chunks hold many more (row, b, coalition) triples: more repeats are found
        # and only the distinct inputs reach the model, in batches of batch_size
        # a triple's temporaries: int64 key, order and inverse, and at worst a distinct input
        # row (d float64 values and d presence flags)
        d = self.background.shape[1]
        triples = chunk_size(32 + 9 * d, self.background.device)
        return max(1, max(triples, self.batch_size) // self.background.shape[0])

    def _check_width(self, d):
        if d != self.background.shape[1]:
            raise ValueError(
                f"X has {d} features but the background has {self.background.shape[1]}."
            )

    _supports_groups = True

    def _evaluate_chunk(self, X, rows, masks, groups=None):
        bg = self.background
        P, players = masks.shape
        d, B = X.shape[1], bg.shape[0]
        if self.dedupe is not False:
            row0 = int(rows.min())
            # which features of each row in the chunk differ from each background row
            differs = X[row0 : int(rows.max()) + 1, None, :] != bg[None, :, :]  # (r, B, d)
            if groups is not None:  # a group differs when any of its columns does
                differs = (differs.to(groups.dtype) @ groups.T) > 0  # (r, B, G)
            if self._worth_deduping(differs, players):
                return self._evaluate_unique(X, rows - row0, row0, masks, differs, groups)
        if groups is not None:
            masks = (masks.to(groups.dtype) @ groups) > 0
        inputs = torch.where(masks[:, None, :], X[rows][:, None, :], bg[None, :, :])
        out = self._call_model(inputs.reshape(-1, d), report=True)
        return out.reshape(P, B, -1).mean(dim=1)

    def _worth_deduping(self, differs, d):
        n_ids = differs.shape[0] * differs.shape[1]
        if d > 62 or n_ids >= 2 ** (62 - d):  # the keys below must fit in an int64
            return False
        if self.dedupe is True:
            return True
        # a uniform random coalition leaves feature i's input unchanged with prob. 1 - p_i / 2
        # when x and b agree on it with prob. p_i; the product estimates the distinct fraction
        agree = 1.0 - differs.float().mean(dim=(0, 1))
        return float(torch.prod(1.0 - agree / 2)) < 0.8

    def _evaluate_unique(self, X, local_rows, row0, masks, differs, groups=None):
        """Evaluate each distinct (row, background row, effective coalition) once.

        The input f sees is fixed by the features that are present AND differ from b, so
        coalitions are coded as bit sets and ANDed with each (row, b) pair's difference set.
        """
        bg = self.background
        P, d = masks.shape
        B = bg.shape[0]
        bits = torch.arange(d, device=masks.device)
        diff_code = (differs.long() << bits).sum(dim=-1)  # (r, B)
        mask_code = (masks.long() << bits).sum(dim=-1)  # (P,)
        code = mask_code[:, None] & diff_code[local_rows]  # (P, B)
        ident = local_rows[:, None] * B + torch.arange(B, device=masks.device)[None, :]
        n_keys = (differs.shape[0] * B) << d
        uniq, inverse = _unique_keys(((ident << d) | code).reshape(-1), n_keys)
        ident_u, code_u = uniq >> d, uniq & ((1 << d) - 1)
        present = ((code_u[:, None] >> bits) & 1).bool()
        if groups is not None:  # present groups -> present columns
            present = (present.to(groups.dtype) @ groups) > 0
        inputs = torch.where(present, X[row0 + ident_u // B], bg[ident_u % B])
        out = self._call_model(inputs, report=True)
        return out[inverse].reshape(P, B, -1).mean(dim=1)


def _unique_keys(keys, n_keys):
    """``torch.unique(keys, return_inverse=True)`` for keys in [0, n_keys).

    When the key range is small compared with the number of keys, a presence table is
    linear-time and several times faster than the sort behind ``torch.unique`` on CPU.
    """
    if n_keys > 8 * keys.numel():
        return torch.unique(keys, return_inverse=True)
    seen = torch.zeros(n_keys, dtype=torch.bool, device=keys.device)
    seen[keys] = True
    uniq = seen.nonzero().squeeze(1)
    position = torch.empty(n_keys, dtype=torch.long, device=keys.device)
    position[uniq] = torch.arange(len(uniq), device=keys.device)
    return uniq, position[keys]


class BaselineGame(MarginalGame):
    """Single-baseline game: v_x(S) = f(x_S, z_{not S}) for one reference row z.

    Parameters
    ----------
    adapter : ModelAdapter
    baseline : array-like of shape (d,) or (1, d)
        The reference row (for example the background mean).
    """

    def __init__(self, adapter, baseline, *, batch_size=None, dedupe="auto"):
        z = np.asarray(baseline, dtype=np.float64)
        if z.ndim == 1:
            z = z[None, :]
        if z.ndim != 2 or z.shape[0] != 1:
            raise ValueError(f"baseline must be one row of shape (d,); got shape {z.shape}.")
        super().__init__(adapter, z, batch_size=batch_size, dedupe=dedupe)
