"""The coalition module against closed forms, and draw for draw against reference samplers."""

import math
from itertools import combinations

import numpy as np
import pytest
import torch
from scipy import stats

from sklxai.games.coalitions import (
    StratifiedDesign,
    all_masks,
    coalitions_of_size,
    draw_sizes,
    draw_surrogate_masks,
    kernel_size_mass,
    shapley_size_weights,
    uniform_subsets,
)


class KernelDesign:  # the sampler SimSHAP/FastSHAP used before coalitions.py (reference)
    """How training draws coalitions: extreme sizes enumerated, the rest sampled (stratified).

    The Shapley kernel puts most of its mass on the smallest and largest coalitions (sizes 1 and
    d-1 carry 2 / sum_s (d-1)/(s(d-s)) of it: 36% for d = 12), which are also few. Size pairs
    (s, d-s) are enumerated from the outside in while they fit in half of the budget; each
    enumerated coalition gets its exact probability p(S) as weight, and the remaining mass is
    shared by coalitions sampled from the kernel restricted to the other sizes, each with its
    complement. The weighted average is unbiased for any expectation over the kernel, with less
    variance than plain sampling (stratification); :meth:`draw` returns masks and weights.

    Parameters
    ----------
    d : int
        Number of features (>= 2).
    n_subsets : int
        Coalitions per row (enumerated + sampled).
    """

    def __init__(self, d, n_subsets):
        mass = kernel_size_mass(d)  # size s at index s-1
        prob = mass / mass.sum()
        enumerated, weights = [], []
        left = list(range(1, d))
        budget = n_subsets // 2
        for s in range(1, d // 2 + 1):
            pair = [s] if s == d - s else [s, d - s]
            count = sum(math.comb(d, t) for t in pair)
            if len(enumerated) + count > budget:
                break
            for t in pair:
                for idx in combinations(range(d), t):
                    mask = np.zeros(d, dtype=bool)
                    mask[list(idx)] = True
                    enumerated.append(mask)
                    weights.append(prob[t - 1] / math.comb(d, t))
                left.remove(t)
        self.d = d
        self.enumerated = np.asarray(enumerated, dtype=bool).reshape(-1, d)
        self.enumerated_weights = np.asarray(weights, dtype=np.float64)
        self.sizes = np.asarray(left, dtype=np.int64)
        self.rest_mass = float(prob[self.sizes - 1].sum()) if left else 0.0
        n_sampled = n_subsets - len(enumerated)
        self.n_sampled = 2 * (n_sampled // 2) if left else 0

    def draw(self, n, *, generator, device):
        """Masks (n, M, d) bool and weights (M,) summing to 1, shared by the n rows."""
        d = self.d
        parts, weights = [], []
        if len(self.enumerated):
            enum = torch.as_tensor(self.enumerated, device=device)
            parts.append(enum[None].expand(n, -1, -1))
            weights.append(torch.as_tensor(self.enumerated_weights, dtype=torch.float32))
        if self.n_sampled:
            half = self.n_sampled // 2
            p = torch.as_tensor(kernel_size_mass(d)[self.sizes - 1], dtype=torch.float32,
                                device=device)
            pick = torch.multinomial(p, n * half, replacement=True, generator=generator)
            sizes = torch.as_tensor(self.sizes, device=device)[pick]
            sampled = _selection_reference(sizes, d, generator).reshape(n, half, d)
            parts.append(torch.cat([sampled, ~sampled], dim=1))
            weights.append(torch.full((self.n_sampled,), self.rest_mass / self.n_sampled))
        return torch.cat(parts, dim=1), torch.cat(weights).to(device)

CPU = torch.device("cpu")


def _selection_reference(sizes, d, generator):
    """Selection sampling written row by row (the rule of ``uniform_subsets`` with a torch
    generator on the CPU): one float32 uniform u_j per player, drawn player-major; player j
    joins when u_j < (places left) / (d - j), the ratio in float32."""
    sizes = np.asarray(sizes)
    u = torch.rand(d, len(sizes), generator=generator).numpy()
    masks = np.zeros((len(sizes), d), dtype=bool)
    for i, size in enumerate(sizes):
        left = int(size)
        for j in range(d):
            if u[j, i] < np.float32(left) / np.float32(d - j):
                masks[i, j] = True
                left -= 1
    return torch.as_tensor(masks)


def _kernel(d, masks):
    """The Shapley kernel (d-1) / (C(d,s) s (d-s)) of each coalition (rows of masks)."""
    s = np.asarray(masks).sum(axis=-1)
    return np.array([(d - 1) / (math.comb(d, k) * k * (d - k)) for k in s.ravel()]).reshape(
        s.shape)


def _generator(kind, seed):
    return np.random.default_rng(seed) if kind == "numpy" else torch.Generator().manual_seed(seed)


def _numpy(x):
    return x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


# ----------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("d", [1, 2, 5, 9])
def test_shapley_size_weights_are_one_over_d_binomial(d):
    w = shapley_size_weights(d)
    np.testing.assert_allclose(w, [1 / (d * math.comb(d - 1, s)) for s in range(d)], rtol=1e-14)
    # a player's weights over the coalitions of the others sum to 1
    assert sum(math.comb(d - 1, s) * w[s] for s in range(d)) == pytest.approx(1.0)


@pytest.mark.parametrize("d", [2, 3, 6, 10])
def test_enumeration_counts(d):
    masks = all_masks(d).numpy()
    assert masks.shape == (2**d, d) and len(np.unique(masks, axis=0)) == 2**d
    np.testing.assert_array_equal(masks @ (2 ** np.arange(d)), np.arange(2**d))
    for s in range(d + 1):
        block = coalitions_of_size(d, s)
        assert block.shape == (math.comb(d, s), d)
        assert (block.sum(axis=1) == s).all() and len(np.unique(block, axis=0)) == len(block)
    np.testing.assert_allclose(kernel_size_mass(d),
                               [math.comb(d, s) * _kernel(d, [[1] * s + [0] * (d - s)])[0]
                                for s in range(1, d)], rtol=1e-14)


@pytest.mark.parametrize("d", [2, 3, 5, 8])
@pytest.mark.parametrize("normalize", [False, True])
def test_full_budget_is_every_coalition_with_its_kernel_weight(d, normalize):
    design = StratifiedDesign(d, 2**d - 2, normalize=normalize)
    masks, weights = design.draw(2, generator=np.random.default_rng(0))
    assert design.n_sampled == 0 and masks.shape == (2, 2**d - 2, d)
    assert len(np.unique(masks[0], axis=0)) == 2**d - 2
    assert ((masks[0].sum(1) > 0) & (masks[0].sum(1) < d)).all()
    kernel = _kernel(d, masks[0])
    np.testing.assert_allclose(weights, kernel / kernel.sum() if normalize else kernel,
                               rtol=1e-13)


def test_enumeration_rules():
    half = StratifiedDesign(12, 64, rule="half", normalize=True)
    assert sorted(set(half.enumerated.sum(1))) == [1, 11] and half.n_sampled == 40
    # shap's rule spends 24 of 64 coalitions on sizes 1 and 11 only if the kernel would
    # expect to cover them: 64 * 36% = 23 < 24, so it samples everything instead
    assert StratifiedDesign(12, 64).enumerated.shape == (0, 12)
    sizes = set(StratifiedDesign(12, 2048).enumerated.sum(1).tolist())
    assert sizes == {1, 2, 3, 9, 10, 11}
    with pytest.raises(ValueError, match="rule="):
        StratifiedDesign(4, 8, rule="bogus")


# ------------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_sampled_sizes_follow_the_kernel(kind):
    d, n = 8, 20_000
    design = StratifiedDesign(d, 2)  # nothing enumerated: one sample and its complement
    assert design.enumerated.shape == (0, d) and design.n_sampled == 2
    masks, _ = design.draw(n, generator=_generator(kind, 0), device=CPU)
    counts = np.bincount(_numpy(masks)[:, 0].sum(-1), minlength=d)[1:]
    p = kernel_size_mass(d) / kernel_size_mass(d).sum()
    chi2 = ((counts - n * p) ** 2 / (n * p)).sum()
    assert chi2 < stats.chi2.ppf(0.999, d - 2)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_sqrt_proposal_draws_sizes_by_the_root_of_the_kernel_and_weighs_them_back(kind):
    d, n = 8, 20_000
    design = StratifiedDesign(d, 2, normalize=True, proposal="sqrt")
    masks, weights = design.draw(n, generator=_generator(kind, 0), device=CPU)
    masks, weights = _numpy(masks), _numpy(weights).astype(np.float64)
    size = masks.sum(-1)
    assert (size[:, 1] == d - size[:, 0]).all()  # paired
    counts = np.bincount(size[:, 0], minlength=d)[1:]
    kernel = kernel_size_mass(d) / kernel_size_mass(d).sum()
    q = np.sqrt(kernel) / np.sqrt(kernel).sum()
    chi2 = ((counts - n * q) ** 2 / (n * q)).sum()
    assert chi2 < stats.chi2.ppf(0.999, d - 2)
    # each coalition weighs its size's kernel mass over its probability, shared by the pair
    np.testing.assert_allclose(weights, kernel[size - 1] / (q[size - 1] * 2), rtol=1e-6)
    with pytest.raises(ValueError, match="proposal="):
        StratifiedDesign(4, 8, proposal="uniform")


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_uniform_subsets_are_uniform(kind):
    n = 12_000
    sizes = np.full(n, 2) if kind == "numpy" else torch.full((n,), 2)
    masks = _numpy(uniform_subsets(sizes, 4, generator=_generator(kind, 1), device=CPU))
    _, counts = np.unique(masks @ (2 ** np.arange(4)), return_counts=True)
    assert len(counts) == 6 and ((masks.sum(1)) == 2).all()
    assert ((counts - n / 6) ** 2 / (n / 6)).sum() < stats.chi2.ppf(0.999, 5)
    drawn = _numpy(draw_sizes(np.array([3, 5]), np.array([1.0, 3.0]), n,
                              generator=_generator(kind, 2), device=CPU))
    assert set(drawn) == {3, 5} and abs((drawn == 5).mean() - 0.75) < 0.02


def test_uniform_subsets_hold_the_players_whose_keys_rank_below_the_size():
    # the documented rule (numpy), with the ranks computed by sorting each row's keys twice
    n, d = 500, 30
    sizes = np.random.default_rng(3).integers(0, d + 1, n)
    keys = _generator("numpy", 4).random((n, d))
    expected = keys.argsort(axis=1).argsort(axis=1) < sizes[:, None]
    masks = uniform_subsets(sizes, d, generator=_generator("numpy", 4))
    np.testing.assert_array_equal(masks, expected)
    assert masks.dtype == bool and (masks.sum(axis=1) == sizes).all()


def test_uniform_subsets_on_the_cpu_are_selection_sampling():
    # the documented rule for a torch generator on the CPU, written row by row
    n, d = 500, 30
    sizes = torch.as_tensor(np.random.default_rng(3).integers(0, d + 1, n))
    expected = _selection_reference(sizes.numpy(), d, _generator("torch", 4))
    masks = uniform_subsets(sizes, d, generator=_generator("torch", 4), device=CPU)
    assert masks.dtype == torch.bool and masks.is_contiguous()
    assert torch.equal(masks, expected) and torch.equal(masks.sum(dim=1), sizes)
    # every size from 0 to d, also at d = 1000 (the ratio is exactly 1 when all must join)
    big = torch.arange(1001).repeat(3)
    assert torch.equal(uniform_subsets(big, 1000, generator=_generator("torch", 5),
                                       device=CPU).sum(dim=1), big)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_uniform_subsets_are_uniform_among_subsets_of_their_size(kind):
    # chi-square over the C(6, 3) = 20 subsets of size 3 of 6 players
    n, d = 20000, 6
    sizes = np.full(n, 3) if kind == "numpy" else torch.full((n,), 3)
    masks = _numpy(uniform_subsets(sizes, d, generator=_generator(kind, 6), device=CPU))
    codes = masks.astype(np.int64) @ (2 ** np.arange(d))
    counts = np.bincount(codes, minlength=2**d)[[int(sum(2**j for j in c))
                                                 for c in combinations(range(d), 3)]]
    assert counts.sum() == n
    assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("kind", ["numpy", "torch"])
@pytest.mark.parametrize("d, budget, rule", [(6, 16, "half"), (7, 40, "coverage"),
                                             (9, 30, "half")])
def test_paired_draws_are_complements(kind, d, budget, rule):
    design = StratifiedDesign(d, budget, rule=rule)
    masks = _numpy(design.draw(5, generator=_generator(kind, 0), device=CPU)[0])
    e, half = len(design.enumerated), design.n_sampled // 2
    assert half > 0
    np.testing.assert_array_equal(masks[:, e:e + half], ~masks[:, e + half:])
    np.testing.assert_array_equal(masks[:, :e], np.broadcast_to(design.enumerated, (5, e, d)))


@pytest.mark.parametrize("kind", ["numpy", "torch"])
@pytest.mark.parametrize("rule, paired, proposal", [
    ("coverage", True, "kernel"), ("coverage", False, "kernel"), ("half", True, "kernel"),
    ("half", True, "sqrt"), ("coverage", False, "sqrt")])
def test_weighted_averages_are_unbiased(kind, rule, paired, proposal):
    d, budget, n = 7, 30, 4000
    design = StratifiedDesign(d, budget, rule=rule, paired=paired, normalize=True,
                              proposal=proposal)
    assert design.n_sampled > 0
    masks, weights = design.draw(n, generator=_generator(kind, 0), device=CPU)
    masks, weights = _numpy(masks), _numpy(weights).astype(np.float64)
    if proposal == "kernel":
        assert weights.shape == (masks.shape[1],)
        assert weights.sum() == pytest.approx(1.0, abs=1e-6)
    else:  # per row, summing to 1 in expectation only
        assert weights.shape == masks.shape[:2]
        sums = weights.sum(-1)
        assert sums.std() > 1e-4 and abs(sums.mean() - 1) < 5 * sums.std() / math.sqrt(n)
    size = masks.sum(-1).astype(np.float64)
    table = np.random.default_rng(3).normal(size=2**d)
    every = all_masks(d).numpy()[1:-1]
    p = _kernel(d, every) / _kernel(d, every).sum()
    s = np.arange(1, d)
    q = kernel_size_mass(d) / kernel_size_mass(d).sum()
    cases = {  # f(S) per coalition of the draws, and E_kernel[f] in closed form
        "|S|": (size, d / 2),
        "|S|^2": (size**2, (q * s**2).sum()),
        "table": (table[masks @ (2 ** np.arange(d))], p @ table[every @ (2 ** np.arange(d))]),
    }
    for name, (f, expected) in cases.items():
        est = (f * weights).sum(-1)  # one estimate per row
        sem = est.std() / math.sqrt(n)
        assert abs(est.mean() - expected) < 5 * sem + 1e-6, name  # float32 weights (torch)


# ------------------------------------------------------- reference samplers, written apart
def kernel_coalitions(d, n_coalitions, rng, *, paired=True):
    """KernelSHAP's coalition design written without the module, the reference."""
    if n_coalitions >= 2**d - 2:
        masks = all_masks(d).numpy()
        sizes = masks.sum(axis=1)
        masks = masks[(sizes > 0) & (sizes < d)]
        sizes = masks.sum(axis=1)
        mass = kernel_size_mass(d)
        binom = np.array([math.comb(d, s) for s in range(d + 1)], dtype=np.float64)
        return masks, mass[sizes - 1] / binom[sizes]
    mass = kernel_size_mass(d)  # index s-1
    chosen, weights = [], []
    remaining = n_coalitions
    left = list(range(1, d))  # sizes not enumerated yet
    for s in range(1, d // 2 + 1):
        pair = [s] if s == d - s else [s, d - s]
        n_subsets = sum(math.comb(d, t) for t in pair)
        share = sum(mass[t - 1] for t in pair) / sum(mass[t - 1] for t in left)
        if n_subsets > remaining or remaining * share < n_subsets:
            break
        for t in pair:
            for combo in _combinations(d, t):
                chosen.append(combo)
                weights.append(mass[t - 1] / math.comb(d, t))
            left.remove(t)
        remaining -= n_subsets
    if remaining > 0 and left:
        left = np.array(left)
        p = mass[left - 1] / mass[left - 1].sum()
        n_draws = remaining // 2 if paired else remaining
        n_draws = max(n_draws, 1)
        sizes = rng.choice(left, size=n_draws, p=p)
        keys = rng.random((n_draws, d))
        ranks = keys.argsort(axis=1).argsort(axis=1)
        sampled = ranks < sizes[:, None]
        if paired:
            sampled = np.concatenate([sampled, ~sampled])
        w = mass[left - 1].sum() / len(sampled)
        chosen.extend(sampled)
        weights.extend([w] * len(sampled))
    return np.asarray(chosen, dtype=bool).reshape(-1, d), np.asarray(weights, dtype=np.float64)


def _combinations(d, size):
    from itertools import combinations

    for idx in combinations(range(d), size):
        mask = np.zeros(d, dtype=bool)
        mask[list(idx)] = True
        yield mask


def reference_surrogate_masks(n, d, *, generator, device):
    """``draw_surrogate_masks`` written without the module, the reference."""
    sizes = torch.randint(0, d + 1, (n,), generator=generator, device=device)
    if d >= 2:
        s = torch.arange(1, d, device=device, dtype=torch.float32)
        mass = (d - 1) / (s * (d - s))
        kernel = torch.multinomial(mass, n, replacement=True, generator=generator) + 1
        odd = torch.arange(n, device=device) % 2 == 1
        sizes = torch.where(odd, kernel, sizes)
    return _selection_reference(sizes, d, generator)


@pytest.mark.parametrize("paired", [True, False])
def test_coverage_rule_is_kernel_coalitions_draw_for_draw(paired):
    for d in (2, 3, 4, 5, 7, 10, 12, 13):
        for budget in (2, 3, 9, 16, 31, 100, 2**d - 3, 2**d - 2, 2048):
            for seed in (0, 1):
                ref_masks, ref_weights = kernel_coalitions(d, budget, np.random.default_rng(seed),
                                                           paired=paired)
                design = StratifiedDesign(d, budget, rule="coverage", paired=paired)
                masks, weights = design.draw(1, generator=np.random.default_rng(seed))
                np.testing.assert_array_equal(masks[0], ref_masks)
                assert weights.dtype == np.float64
                np.testing.assert_array_equal(weights, ref_weights)


def test_half_rule_is_kernel_design_draw_for_draw():
    for d in (2, 3, 5, 6, 8, 12):
        for budget in (2, 7, 16, 33, 64, 300):
            old, new = KernelDesign(d, budget), StratifiedDesign(d, budget, rule="half",
                                                                 normalize=True)
            np.testing.assert_array_equal(new.enumerated, old.enumerated)
            np.testing.assert_array_equal(new.enumerated_weights, old.enumerated_weights)
            np.testing.assert_array_equal(new.sizes, old.sizes)
            assert (new.rest_mass, new.n_sampled) == (old.rest_mass, old.n_sampled)
            for n, seed in ((1, 0), (5, 1), (64, 2)):
                a = old.draw(n, generator=torch.Generator().manual_seed(seed), device=CPU)
                b = new.draw(n, generator=torch.Generator().manual_seed(seed), device=CPU)
                assert b[1].dtype == a[1].dtype == torch.float32
                assert torch.equal(b[0], a[0]) and torch.equal(b[1], a[1])


def test_surrogate_masks_are_the_same_draws():
    for d in (1, 2, 6, 8, 13):
        for n, seed in ((9, 0), (4000, 1)):
            a = reference_surrogate_masks(n, d, generator=torch.Generator().manual_seed(seed),
                                          device=CPU)
            b = draw_surrogate_masks(n, d, generator=torch.Generator().manual_seed(seed),
                                     device=CPU)
            assert torch.equal(a, b)
