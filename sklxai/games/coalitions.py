"""Coalitions of players: Shapley weights, enumeration, and one stratified kernel sampler.

Everything that chooses coalitions lives here, once:

- weights: :func:`shapley_size_weights` (the Shapley sum's weight of a size) and
  :func:`kernel_size_mass` (the Shapley kernel's total mass of a size);
- enumeration: :func:`all_masks` (every coalition) and :func:`coalitions_of_size`;
- random primitives, each for a ``numpy.random.Generator`` or a ``torch.Generator``:
  :func:`draw_sizes` (sizes with given probabilities) and :func:`uniform_subsets` (a uniform
  subset of each given size);
- :class:`StratifiedDesign`, the one sampler of the Shapley kernel (KernelSHAP's design,
  SimSHAP's and FastSHAP's training draws), :class:`LeverageDesign` (a uniform size, then a
  uniform coalition of it: LeverageSHAP's design) and :func:`draw_surrogate_masks` (surrogate
  training).
"""

import math
from itertools import combinations

import numpy as np
import torch

#: enumeration rules of :class:`StratifiedDesign`
RULES = ("coverage", "half")
#: size proposals of :class:`StratifiedDesign`
PROPOSALS = ("kernel", "sqrt")


def shapley_size_weights(d):
    """Weight of a coalition of each size in the Shapley sum.

    Parameters
    ----------
    d : int
        Number of players.

    Returns
    -------
    weights : float64 ndarray of shape (d,)
        ``w[s] = s! (d - s - 1)! / d!`` for s = 0..d-1: phi_i = sum over S not containing i of
        ``w[|S|] (v(S + i) - v(S))``.

    Examples
    --------
    >>> shapley_size_weights(3) * 6
    array([2., 1., 2.])
    """
    return np.array(
        [math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d) for s in range(d)]
    )


def kernel_size_mass(d):
    """Total Shapley-kernel weight of each coalition size s = 1..d-1.

    Each of the C(d, s) coalitions of size s has kernel weight (d-1) / (C(d, s) s (d-s)), so
    the size as a whole has (d-1) / (s (d-s)).

    Parameters
    ----------
    d : int
        Number of players (>= 2).

    Returns
    -------
    mass : float64 ndarray of shape (d - 1,)
        The mass of size s at index s - 1.

    Examples
    --------
    >>> kernel_size_mass(4)
    array([1.  , 0.75, 1.  ])
    """
    s = np.arange(1, d)
    return (d - 1) / (s * (d - s))


def all_masks(d, device=None):
    """Every coalition of d players.

    Parameters
    ----------
    d : int
        Number of players.
    device : torch.device or str, optional

    Returns
    -------
    masks : bool tensor of shape (2**d, d)
        Row t is the binary expansion of t (player j is in it when bit j is set).

    Examples
    --------
    >>> all_masks(2).int().tolist()
    [[0, 0], [1, 0], [0, 1], [1, 1]]
    """
    t = torch.arange(2**d, device=device)
    bits = torch.arange(d, device=device)
    return ((t[:, None] >> bits[None, :]) & 1).bool()


def coalitions_of_size(d, size):
    """Every coalition of ``size`` of d players, in lexicographic order of their members.

    Parameters
    ----------
    d : int
        Number of players.
    size : int
        Coalition size, 0..d.

    Returns
    -------
    masks : bool ndarray of shape (C(d, size), d)

    Examples
    --------
    >>> coalitions_of_size(3, 2).astype(int).tolist()
    [[1, 1, 0], [1, 0, 1], [0, 1, 1]]
    """
    members = list(combinations(range(d), size))
    masks = np.zeros((len(members), d), dtype=bool)
    if size:
        masks[np.arange(len(members))[:, None], np.array(members)] = True
    return masks


def _selection_subsets(sizes, d, generator):
    """Uniform subsets of the given sizes (n,) on the CPU, by selection sampling: one uniform
    u_j in [0, 1) per player, player j taken when u_j < (places still to fill) / (d - j); the
    ratio is exactly 1 when every remaining player must be taken, and 0 when none may."""
    u = torch.rand(d, len(sizes), generator=generator)
    left = torch.as_tensor(sizes).to(u.dtype)  # a copy: filled places are taken off
    masks = torch.empty(d, len(sizes), dtype=torch.bool)
    for j in range(d):
        torch.lt(u[j], left / (d - j), out=masks[j])
        left -= masks[j].to(u.dtype)
    return masks.T.contiguous()


def _is_torch(generator):
    return isinstance(generator, torch.Generator)


def draw_sizes(sizes, mass, n, *, generator, device=None):
    """Draw n coalition sizes, with replacement, each with probability proportional to its mass.

    Parameters
    ----------
    sizes : int ndarray or tensor of shape (m,)
        The sizes to draw from.
    mass : float ndarray (or tensor, torch only) of shape (m,)
        Their (unnormalised) probabilities, e.g. ``kernel_size_mass(d)[sizes - 1]``.
    n : int
        Number of draws.
    generator : numpy.random.Generator or torch.Generator
        numpy: ``generator.choice`` (the draws are an ndarray); torch: ``torch.multinomial`` on
        float32 masses (a tensor on ``device``, where the generator must live).
    device : torch.device or str, optional
        torch only.

    Returns
    -------
    drawn : int64 ndarray or tensor of shape (n,)
    """
    if _is_torch(generator):
        p = torch.as_tensor(mass, dtype=torch.float32, device=device)
        pick = torch.multinomial(p, n, replacement=True, generator=generator)
        return torch.as_tensor(sizes, device=device)[pick]
    return generator.choice(sizes, size=n, p=mass / mass.sum())


def uniform_subsets(sizes, d, *, generator, device=None):
    """A uniformly random coalition of each given size.

    The players whose random keys rank below the size form the coalition (the first ``size``
    of a uniform random order). With a torch generator on the CPU, selection sampling instead
    (Knuth's algorithm S: player j joins with probability (places left) / (players left), in
    one pass over the players), which draws the same distribution without a sort, the costliest
    part of drawing the training coalitions at d = 30 (:doc:`/benchmarks`, "Amortized").

    Parameters
    ----------
    sizes : int ndarray or tensor of shape (n,)
        Size of each coalition, 0..d.
    d : int
        Number of players.
    generator : numpy.random.Generator or torch.Generator
        numpy: keys from ``generator.random`` (an ndarray comes back); torch: from
        ``torch.rand`` on ``device`` (a tensor).
    device : torch.device or str, optional
        torch only.

    Returns
    -------
    masks : bool ndarray or tensor of shape (n, d)
        Row i has exactly ``sizes[i]`` players.

    Examples
    --------
    >>> masks = uniform_subsets(np.array([0, 2, 3]), 3, generator=np.random.default_rng(0))
    >>> masks.sum(axis=1).tolist()
    [0, 2, 3]
    """
    n = len(sizes)
    if _is_torch(generator):
        if torch.device(device or generator.device).type == "cpu":
            return _selection_subsets(sizes, d, generator)
        # the order's first sizes[i] players, scattered back to their columns (the inverse
        # permutation without a second sort)
        keys = torch.rand(n, d, generator=generator, device=device)
        first = torch.arange(d, device=keys.device) < sizes[:, None]
        return torch.empty_like(first).scatter_(1, keys.argsort(dim=1), first)
    keys = generator.random((n, d))
    masks = np.empty((n, d), dtype=bool)
    np.put_along_axis(masks, keys.argsort(axis=1), np.arange(d) < sizes[:, None], axis=1)
    return masks


class StratifiedDesign:
    """Coalitions from the Shapley kernel: extreme sizes enumerated, the rest sampled.

    The Shapley kernel puts most of its mass on the smallest and largest coalitions (sizes 1
    and d-1 carry 2 / sum_s (d-1)/(s(d-s)) of it: 36% for d = 12), which are also the fewest.
    Size pairs (s, d-s) are enumerated from the outside in, each coalition with its exact
    kernel weight; the rest of the budget samples the other sizes from the kernel restricted to
    them (size s with probability proportional to (d-1)/(s(d-s)), then a uniform subset of that
    size, with its complement when ``paired``), the sampled coalitions sharing the remaining
    mass equally (or, with ``proposal="sqrt"``, sizes in proportion to the square root of that
    mass, importance-weighted). Weighted averages over a draw are unbiased for expectations
    over the kernel, with less variance than plain sampling (stratification).

    Two enumeration rules, because the designs serve two uses:

    - ``"coverage"`` (``shap.KernelExplainer``'s rule, used by KernelSHAP): a size pair is
      enumerated when the remaining budget, spent by the kernel on the remaining sizes, would be
      expected to cover all of its coalitions; a budget of at least 2**d - 2 enumerates every
      coalition (in :func:`all_masks` order), so KernelSHAP is then exact. One draw serves every
      row, so the budget goes where a sample would land anyway.
    - ``"half"`` (SimSHAP and FastSHAP training, with ``proposal="sqrt"``): size pairs are
      enumerated while they fit in half the budget. Training draws afresh for every row and
      step, and the sampled half keeps every draw different, so the middle sizes are reached
      across draws.

    Parameters
    ----------
    d : int
        Number of players (>= 2).
    budget : int
        Coalitions per draw (enumerated + sampled, excluding the empty and the full one). A
        budget left for sampling gives at least one sample (two when paired), even past it.
    rule : {"coverage", "half"}
        Which size pairs are enumerated, see above.
    paired : bool
        Sample each coalition together with its complement (antithetic; lower variance).
    normalize : bool
        Weights sum to 1 (an expectation over the kernel: SimSHAP, FastSHAP) instead of the
        total kernel mass sum_s (d-1)/(s(d-s)) (the least-squares weights of KernelSHAP).
    proposal : {"kernel", "sqrt"}
        How the sampled sizes are drawn. "kernel": with probability proportional to their
        kernel mass, every sampled coalition then weighing the same. "sqrt": proportional to
        the square root of that mass, each coalition weighted by its size's kernel mass over
        its probability (importance sampling: weighted averages stay unbiased, and the weights
        sum to the sampled sizes' mass in expectation, not in every draw). It draws fewer of
        the smallest and largest coalitions, whose terms in SimSHAP's estimator vary least,
        and more of the middle sizes (see the docs' benchmarks); each row then has its own
        weights.

    Attributes
    ----------
    enumerated : bool ndarray of shape (e, d)
        The enumerated coalitions, in every draw.
    enumerated_weights : float64 ndarray of shape (e,)
        Their exact kernel weights.
    sizes : int64 ndarray
        The sizes left to sampling.
    rest_mass : float
        Their kernel weight in total, shared equally by the sampled coalitions.
    n_sampled : int
        Sampled coalitions per draw (complements included).
    weights : float64 ndarray of shape (e + n_sampled,) or None
        The weight of every coalition of a draw (what :meth:`draw` returns); None with the
        "sqrt" proposal, whose weights depend on the sizes drawn.
    size_weights : float64 ndarray of shape (d + 1,)
        The weight of a sampled coalition of each size (0 for sizes never sampled).

    Examples
    --------
    >>> design = StratifiedDesign(12, 64, rule="half", normalize=True)
    >>> len(design.enumerated), design.n_sampled
    (24, 40)
    >>> masks, weights = design.draw(3, generator=np.random.default_rng(0))
    >>> masks.shape, round(float(weights.sum()), 12)
    ((3, 64, 12), 1.0)
    """

    def __init__(self, d, budget, *, rule="coverage", paired=True, normalize=False,
                 proposal="kernel"):
        if rule not in RULES:
            raise ValueError(f"rule={rule!r} is not supported; use one of {list(RULES)}.")
        if proposal not in PROPOSALS:
            raise ValueError(f"proposal={proposal!r} is not supported; use one of "
                             f"{list(PROPOSALS)}.")
        self.d, self.budget, self.rule = d, budget, rule
        self.paired, self.normalize, self.proposal = paired, normalize, proposal
        mass = kernel_size_mass(d)  # size s at index s-1
        unit = mass / mass.sum() if normalize else mass
        if rule == "coverage" and budget >= 2**d - 2:  # every coalition: exact
            masks = all_masks(d).numpy()
            sizes = masks.sum(axis=1)
            masks = masks[(sizes > 0) & (sizes < d)]
            sizes = masks.sum(axis=1)
            binom = np.array([math.comb(d, s) for s in range(d + 1)], dtype=np.float64)
            self._set(masks, unit[sizes - 1] / binom[sizes], [], 0, unit)
            return
        enumerated, weights = [], []
        left = list(range(1, d))  # sizes not enumerated yet
        for s in range(1, d // 2 + 1):
            pair = [s] if s == d - s else [s, d - s]
            count = sum(math.comb(d, t) for t in pair)
            if not self._enumerates(pair, count, len(enumerated), left, mass):
                break
            for t in pair:
                block = coalitions_of_size(d, t)
                enumerated.extend(block)
                weights.extend([unit[t - 1] / math.comb(d, t)] * len(block))
                left.remove(t)
        remaining = budget - len(enumerated)
        n_draws = 0
        if remaining > 0 and left:
            n_draws = max(remaining // 2 if paired else remaining, 1)
        self._set(np.asarray(enumerated, dtype=bool).reshape(-1, d), weights, left, n_draws,
                  unit)

    def _enumerates(self, pair, count, used, left, mass):
        """Whether the size pair, of ``count`` coalitions, is enumerated after ``used`` ones."""
        if self.rule == "half":
            return used + count <= self.budget // 2
        remaining = self.budget - used
        share = sum(mass[t - 1] for t in pair) / sum(mass[t - 1] for t in left)
        return count <= remaining and remaining * share >= count

    def _set(self, enumerated, weights, left, n_draws, unit):
        self.enumerated = enumerated
        self.enumerated_weights = np.asarray(weights, dtype=np.float64)
        self.sizes = np.asarray(left, dtype=np.int64)
        self.rest_mass = float(unit[self.sizes - 1].sum()) if len(left) else 0.0
        self._n_draws = n_draws
        self.n_sampled = 2 * n_draws if self.paired else n_draws
        kernel = unit[self.sizes - 1]
        self._probability = kernel if self.proposal == "kernel" else np.sqrt(kernel)
        self._probability = self._probability / max(self._probability.sum(), 1e-300)
        self.size_weights = np.zeros(self.d + 1)
        self.size_weights[self.sizes] = kernel / (self._probability * max(self.n_sampled, 1))
        self.weights = None if self.proposal != "kernel" else np.concatenate([
            self.enumerated_weights,
            np.full(self.n_sampled, self.rest_mass / max(self.n_sampled, 1)),
        ])

    def draw(self, n, *, generator, device=None):
        """Coalitions for n rows: the enumerated ones, then fresh samples for each row.

        Parameters
        ----------
        n : int
            Number of rows (independent draws).
        generator : numpy.random.Generator or torch.Generator
            numpy: ndarrays come back; torch: tensors on ``device`` (where the generator must
            live). Sizes are drawn first for all rows, then the subsets' keys.
        device : torch.device or str, optional
            torch only.

        Returns
        -------
        masks : bool ndarray or tensor of shape (n, m, d)
            m = e + n_sampled; row i's sampled coalitions, then their complements when paired.
        weights : ndarray (float64) or tensor (float32, the training precision)
            Of shape (m,), shared by every row, with the "kernel" proposal; of shape (n, m)
            with "sqrt".
        """
        d, k = self.d, self._n_draws
        is_torch = _is_torch(generator)
        if is_torch:
            enum = torch.as_tensor(self.enumerated, device=device)[None].expand(n, -1, -1)
        else:
            enum = np.broadcast_to(self.enumerated, (n, *self.enumerated.shape))
        parts, part_sizes = [enum], []  # the sampled parts' sizes (n, k) each
        if k:
            # the kernel's unnormalised mass, as always drawn: the same draws as before
            probability = kernel_size_mass(d)[self.sizes - 1] if self.proposal == "kernel" \
                else self._probability
            sizes = draw_sizes(self.sizes, probability, n * k, generator=generator,
                               device=device)
            sampled = uniform_subsets(sizes, d, generator=generator, device=device)
            sampled, sizes = sampled.reshape(n, k, d), sizes.reshape(n, k)
            parts += [sampled, ~sampled] if self.paired else [sampled]
            part_sizes = [sizes, d - sizes] if self.paired else [sizes]
        if is_torch:
            masks = torch.cat(parts, dim=1)
            if self.weights is not None:
                return masks, torch.as_tensor(self.weights, dtype=torch.float32, device=device)
            table = torch.as_tensor(self.size_weights, dtype=torch.float32, device=device)
            enum_w = torch.as_tensor(self.enumerated_weights, dtype=torch.float32, device=device)
            return masks, torch.cat([enum_w.expand(n, -1)] + [table[s] for s in part_sizes], 1)
        masks = np.concatenate(parts, axis=1)
        if self.weights is not None:
            return masks, self.weights.copy()
        enum_w = np.broadcast_to(self.enumerated_weights, (n, len(self.enumerated)))
        return masks, np.concatenate([enum_w] + [self.size_weights[s] for s in part_sizes], 1)


def draw_surrogate_masks(n, d, *, generator, device):
    """Coalitions for surrogate training: (n, d) bool, even rows uniform-size, odd rows kernel.

    Uniform-size rows have ``|S|`` uniform in 0..d; kernel rows ``|S|`` in 1..d-1 with probability
    proportional to (d-1)/(s(d-s)) (uniform-size when d < 2); the subset is then uniform.

    Parameters
    ----------
    n, d : int
        Rows and players.
    generator : torch.Generator
    device : torch.device or str
        Where the generator and the masks live.

    Returns
    -------
    masks : bool tensor of shape (n, d)
    """
    sizes = torch.randint(0, d + 1, (n,), generator=generator, device=device)
    if d >= 2:
        s = torch.arange(1, d, device=device, dtype=torch.float32)
        # the mass in float32 torch arithmetic (within an ulp of kernel_size_mass), as the
        # surrogate always drew it, so that its draws stay the same
        kernel = draw_sizes(s.long(), (d - 1) / (s * (d - s)), n, generator=generator,
                            device=device)
        odd = torch.arange(n, device=device) % 2 == 1
        sizes = torch.where(odd, kernel, sizes)
    return uniform_subsets(sizes, d, generator=generator, device=device)


#: above this many coalition pairs, :class:`LeverageDesign` draws with replacement (repeats are
#: then rarer than one in 2**40 draws)
_MAX_ENUMERABLE_POPULATION = 2**40


class LeverageDesign:
    """Coalitions drawn by their leverage scores: a uniform size, then a uniform coalition of it.

    The leverage scores of the Shapley regression (once the efficiency constraint is projected
    out) are proportional to 1 / C(d, s) for a coalition of s players (Musco & Witter 2025), so
    leverage score sampling draws the size uniformly from 1..d-1 and then a uniform coalition
    of that size, independently (with replacement) and, when ``paired``, each with its
    complement. Each coalition's weight is its Shapley-kernel weight over its probability,
    proportional to 1 / (s (d - s)). A budget of at least 2**d - 2 takes every coalition (in
    :func:`all_masks` order, with their kernel weights), and the solution is then exact.

    Parameters
    ----------
    d : int
        Number of players (>= 2).
    budget : int
        Coalitions per draw, complements included.
    paired : bool
        Draw each coalition together with its complement.

    Attributes
    ----------
    n_units : int
        Independent draws (coalition pairs when paired); 0 when every coalition is taken.

    Examples
    --------
    >>> masks, weights = LeverageDesign(10, 64).draw(generator=np.random.default_rng(0))
    >>> masks.shape, bool((masks[:32] == ~masks[32:]).all())
    ((64, 10), True)
    """

    def __init__(self, d, budget, *, paired=True):
        self.d, self.budget, self.paired = d, budget, paired
        self.exact = budget >= 2**d - 2
        if self.exact:
            self.n_units = 0
        else:
            self.n_units = max(budget // 2 if paired else budget, 1)

    def draw(self, *, generator):
        """Coalitions and their weights, from a ``numpy.random.Generator``.

        Returns
        -------
        masks : bool ndarray of shape (m, d)
            The drawn coalitions, then their complements in the same order when paired
            (every inner coalition when the budget covers them).
        weights : float64 ndarray of shape (m,)
        """
        d = self.d
        if self.exact:
            masks = all_masks(d).numpy()
            sizes = masks.sum(axis=1)
            masks = masks[(sizes > 0) & (sizes < d)]
            return masks, self._weights(masks)
        k = self.n_units
        sizes = generator.integers(1, d, size=k)  # uniform over 1..d-1
        # a uniform coalition of each size: the players of the s smallest random keys
        ranks = np.argsort(np.argsort(generator.random((k, d)), axis=1), axis=1)
        masks = ranks < sizes[:, None]
        if self.paired:
            masks = np.concatenate([masks, ~masks])
        sizes = masks.sum(axis=1)
        weights = 1.0 / (sizes * (d - sizes))  # kernel weight / probability, up to a factor
        return masks, weights / weights.mean()

    def _weights(self, masks):
        d = self.d
        sizes = masks.sum(axis=1)
        binom = np.array([math.comb(d, s) for s in range(d + 1)], dtype=np.float64)
        weights = (d - 1) / (binom[sizes] * sizes * (d - sizes))
        return weights / weights.mean()  # a common factor, for the solver's conditioning
