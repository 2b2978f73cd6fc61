"""Standard errors of the sampling explainers: their formula against an independent
computation, their shape through explain (targets, images, rows), the explainers without them,
and the coverage of their 95% intervals against exact Shapley values."""

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklxai_reference import TableGame

from sklxai import ExactShapley, KernelSHAP, PermutationSHAP
from sklxai.explainers._shapley import ShapleyExplainer, shared_params
from sklxai.explainers.solvers import (
    kernel_shap_std_errors,
    mean_and_std_error,
    solve_kernel_shap,
)
from sklxai.games.coalitions import StratifiedDesign

SAMPLERS = {"kernel": KernelSHAP, "permutation": PermutationSHAP}


def _interval_hits(est, exp, exact):
    """Whether each nonzero exact value lies in its documented 95% interval."""
    q = stats.t.ppf(0.975, est.std_errors_dof_)
    keep = exact != 0
    return (np.abs(exp.values - exact) <= q * exp.std_errors)[keep]


# ------------------------------------------------------------------------------- coverage
@pytest.mark.parametrize("name, budget", [("kernel", 128), ("permutation", 196)])
def test_95_percent_intervals_cover_the_exact_values(name, budget):
    """8,000 intervals: 100 random games (a table game's outputs) of 8 players x 10 seeds."""
    d, k = 8, 100
    hits = []
    for seed in range(10):
        table = np.random.default_rng(100 + seed).normal(size=(2**d, k))
        model = TableGame(table)  # explained at x = ones against a zero row: the table itself
        x, bg = np.ones((1, d)), np.zeros((1, d))
        exact = ExactShapley(model, background=bg, device="cpu").fit(x).explain(x).values
        est = SAMPLERS[name](model, background=bg, n_coalitions=budget, random_state=seed,
                             device="cpu").fit(x)
        exp = est.explain(x)
        assert np.abs(exp.values - exact).max() > 0.01  # sampled, not exact
        hits.append(_interval_hits(est, exp, exact))
    hits = np.concatenate(hits)
    assert hits.size >= 7_900
    # binomial sd at 95% over 8,000 intervals is 0.24%; the rows share coalitions (kernel) or
    # permutations (one row, several outputs), so the band allows for fewer independent trials
    assert 0.925 <= hits.mean() <= 0.975, hits.mean()


def test_intervals_on_a_model_cover_its_exact_values():
    """A logistic regression's probabilities: 30 rows x 6 features x 30 seeds (designs)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    y = (X[:, 0] + X[:, 1] * X[:, 2] - X[:, 3] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    bg, rows = X[:15], X[100:130]
    exact = ExactShapley(clf, background=bg, target=1, device="cpu").fit(X).explain(rows).values
    for cls, budget in ((KernelSHAP, 40), (PermutationSHAP, 300)):
        hits = []
        for seed in range(30):
            est = cls(clf, background=bg, target=1, n_coalitions=budget, random_state=seed,
                      device="cpu").fit(X)
            hits.append(_interval_hits(est, est.explain(rows), exact))
        # the rows of one fit share its coalitions: 30 designs are the independent trials
        covered = np.concatenate(hits).mean()
        assert 0.92 <= covered <= 0.975, (cls.__name__, covered)


# ------------------------------------------------------------------------------- formulas
def _sandwich_by_hand(Z, w, y, phi, e, paired):
    """The sandwich variance of the constrained regression, draw by draw in numpy."""
    d = Z.shape[1]
    A_inv = np.linalg.pinv(Z.T @ (w[:, None] * Z))
    a1 = A_inv @ np.ones(d)
    M = A_inv - np.outer(a1, a1) / a1.sum()
    r = y - Z @ phi
    sampled = np.arange(e, len(Z))
    units = np.split(sampled, 2)[0] if paired else sampled
    U = len(units)
    contrib = []
    for j in units:
        members = [j, j + U] if paired else [j]
        contrib.append(sum(M @ (w[m] * Z[m] * r[m]) for m in members))
    contrib = np.array(contrib)
    return np.sqrt(contrib.var(axis=0, ddof=0) * U * U / (U - d + 1))


@pytest.mark.parametrize("paired", [True, False])
def test_kernel_std_errors_equal_the_sandwich_by_hand(paired):
    d, rng = 7, np.random.default_rng(3)
    design = StratifiedDesign(d, 60, rule="coverage", paired=paired)
    masks, weights = design.draw(1, generator=rng)
    Z = masks[0].astype(float)
    y = rng.normal(size=(2, len(Z), 3))
    total = rng.normal(size=(2, 3))
    Zt, wt, yt = torch.as_tensor(Z), torch.as_tensor(weights), torch.as_tensor(y)
    phi = solve_kernel_shap(Zt, wt, yt, torch.as_tensor(total))
    se = kernel_shap_std_errors(Zt, wt, yt, phi, n_enumerated=len(design.enumerated),
                                paired=paired).numpy()
    for i in range(2):
        for c in range(3):
            want = _sandwich_by_hand(Z, weights, y[i, :, c], phi[i, :, c].numpy(),
                                     len(design.enumerated), paired)
            np.testing.assert_allclose(se[i, :, c], want, rtol=1e-9)


def test_mean_and_std_error():
    samples = torch.tensor([[1.0, 2.0, 4.0], [0.0, 0.0, 3.0]], dtype=torch.float64)
    mean, se = mean_and_std_error(samples, 1)
    np.testing.assert_allclose(mean, [7 / 3, 1.0])
    np.testing.assert_allclose(se, [np.std([1, 2, 4], ddof=1) / np.sqrt(3),
                                    np.std([0, 0, 3], ddof=1) / np.sqrt(3)])
    assert torch.isnan(mean_and_std_error(samples[:, :1], 1)[1]).all()


# ------------------------------------------------------------------------------- through explain
@pytest.fixture(scope="module")
def clf3():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 4))
    y = np.digitize(X[:, 0] + X[:, 1] * X[:, 2], [-0.5, 0.5])
    return LogisticRegression().fit(X, y), X


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_std_errors_have_the_shape_of_values_and_follow_target(clf3, name):
    clf, X = clf3
    kw = {"n_background": 10, "n_coalitions": 10, "random_state": 0, "device": "cpu"}
    full = SAMPLERS[name](clf, **kw).fit(X).explain(X[:5])
    assert full.std_errors.shape == full.values.shape == (5, 4, 3)
    assert np.isfinite(full.std_errors).all() and (full.std_errors > 0).any()
    one = SAMPLERS[name](clf, target=2, **kw).fit(X).explain(X[:5])
    np.testing.assert_allclose(one.values, full.values[:, :, 2])
    np.testing.assert_allclose(one.std_errors, full.std_errors[:, :, 2])
    per_row = SAMPLERS[name](clf, target=np.array([0, 1, 2, 0, 1]), **kw).fit(X).explain(X[:5])
    np.testing.assert_allclose(per_row.std_errors,
                               full.std_errors[np.arange(5), :, [0, 1, 2, 0, 1]])
    np.testing.assert_array_equal(full[1:3, "x1"].std_errors, full.std_errors[1:3, 1])


def test_values_do_not_depend_on_the_chunks_that_carry_the_errors(clf3, monkeypatch):
    from sklxai.explainers import _shapley

    clf, X = clf3
    est = PermutationSHAP(clf, n_background=10, n_coalitions=30, random_state=0,
                          device="cpu").fit(X)
    whole = est.explain(X[:7])
    monkeypatch.setattr(_shapley, "_MAX_ROWS_PER_CHUNK", 3)
    chunked = est.explain(X[:7])
    assert np.array_equal(chunked.std_errors[:3], whole.std_errors[:3])
    assert chunked.std_errors.shape == (7, 4, 3) and np.isfinite(chunked.std_errors).all()


def test_std_errors_of_pixels_keep_the_image_shape():
    X = np.random.default_rng(0).random((10, 2, 2, 2))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 3),
                                torch.nn.Tanh()).double()
    exp = KernelSHAP(model, n_background=3, n_coalitions=100, random_state=0,
                     device="cpu").fit(X).explain(X[:2])
    assert exp.values.shape == exp.std_errors.shape == (2, 2, 2, 2, 3)
    assert exp.select_output(1).std_errors.shape == (2, 2, 2, 2)


def test_exact_designs_have_zero_errors_and_exact_explainers_none(clf3):
    clf, X = clf3
    kernel = KernelSHAP(clf, n_background=10, device="cpu").fit(X)  # 2**4 - 2 <= 2048: exact
    exp = kernel.explain(X[:3])
    assert np.array_equal(exp.std_errors, np.zeros_like(exp.values))
    assert kernel.std_errors_dof_ == np.inf
    assert ExactShapley(clf, n_background=10, device="cpu").fit(X).explain(X[:3]).std_errors \
        is None


def test_too_few_draws_give_nan_errors(clf3):
    clf, X = clf3
    kernel = KernelSHAP(clf, n_background=10, n_coalitions=4, random_state=0,
                        device="cpu").fit(X)
    assert kernel.std_errors_dof_ == 0
    assert np.isnan(kernel.explain(X[:2]).std_errors).all()
    perm = PermutationSHAP(clf, n_background=10, n_coalitions=3, antithetic=False,
                           random_state=0, device="cpu").fit(X)
    assert perm.n_permutations_ == 1 and perm.std_errors_dof_ == 0
    assert np.isnan(perm.explain(X[:2]).std_errors).all()


class _HalfErrors(ShapleyExplainer):
    """An estimator through the hook: values from ExactShapley's weights, errors 0.5 * |phi|."""

    def __init__(self, model, *, background=None, n_background=100, target=None,
                 game="marginal", feature_groups=None, surrogate_params=None, fast_path="auto",
                 n_jobs=None, verbose=0, device="auto", random_state=None, batch_size=None):
        super().__init__(**shared_params(locals()))

    def _fit_shapley(self, d):
        self.std_errors_dof_ = float("inf")
        self._exact = ExactShapley(self.model, background=self.background_, device="cpu")

    def _shapley_values(self, X, fx, rng):
        phi = torch.as_tensor(self._exact.fit(self.background_).transform(X.numpy()))
        phi = phi.reshape(len(X), self.n_outputs_, -1).transpose(1, 2)
        return phi, 0.5 * phi.abs()


def test_the_hook_carries_a_subclass_errors(clf3):
    clf, X = clf3
    exp = _HalfErrors(clf, n_background=10, target=1, device="cpu").fit(X).explain(X[:4])
    np.testing.assert_allclose(exp.std_errors, 0.5 * np.abs(exp.values))
    assert exp.efficiency_gap < 1e-9
