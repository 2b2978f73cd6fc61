"""Exact, Kernel and Permutation Shapley against an independent brute-force computation."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklxai_reference import TableGame, brute_force_shapley, marginal_reference

from sklxai import ExactShapley, KernelSHAP, PermutationSHAP

ESTIMATORS = {
    "exact": lambda model, **kw: ExactShapley(model, device="cpu", **kw),
    "kernel_full": lambda model, **kw: KernelSHAP(model, n_coalitions=10_000, device="cpu", **kw),
}
SAMPLING = {
    "kernel": lambda model, **kw: KernelSHAP(model, n_coalitions=4096, device="cpu",
                                            random_state=0, **kw),
    "permutation": lambda model, **kw: PermutationSHAP(model, n_coalitions=1600, device="cpu",
                                                      random_state=0, **kw),
}


@pytest.fixture(scope="module")
def mlp3():
    """A 3-class MLP on 5 features, with a 12-row background."""
    X, y = make_classification(n_samples=300, n_features=5, n_informative=4, n_redundant=0,
                               n_classes=3, random_state=0)
    clf = MLPClassifier((16,), max_iter=500, random_state=0).fit(X, y)
    return clf, X, X[:12]


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_random_games_match_brute_force(name):
    rng = np.random.default_rng(1)
    for d in (2, 3, 5, 7):
        table = rng.normal(size=(2**d, 2))
        model = TableGame(table)

        def value(S, table=table, d=d):
            return table[sum(2**j for j in S)]

        ref = brute_force_shapley(value, d)
        est = ESTIMATORS[name](model, background=np.zeros((1, d))).fit(np.zeros((3, d)))
        exp = est.explain(np.ones((2, d)))
        np.testing.assert_allclose(exp.values[0], ref, atol=1e-10)
        np.testing.assert_allclose(exp.base_values[0], table[0], atol=1e-12)
        np.testing.assert_allclose(exp.output[0], table[-1], atol=1e-12)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_real_model_matches_brute_force(name, mlp3):
    clf, X, bg = mlp3
    exp = ESTIMATORS[name](clf, background=bg).fit(X).explain(X[20:23])
    assert exp.values.shape == (3, 5, 3)
    assert exp.base_values.shape == (3, 3)
    for i in range(3):
        ref = marginal_reference(clf.predict_proba, X[20 + i], bg)
        np.testing.assert_allclose(exp.values[i], ref, atol=1e-6)
    # efficiency on the model's own predict_proba
    np.testing.assert_allclose(exp.values.sum(axis=1) + exp.base_values,
                               clf.predict_proba(X[20:23]), atol=1e-6)


@pytest.mark.parametrize("name", sorted(SAMPLING))
def test_sampling_estimators_converge(name, mlp3):
    clf, X, bg = mlp3
    rows = X[30:34]
    exp = SAMPLING[name](clf, background=bg).fit(X).explain(rows)
    ref = np.stack([marginal_reference(clf.predict_proba, x, bg) for x in rows])
    err = np.abs(exp.values - ref).max()
    scale = np.abs(ref).max()
    assert err < 0.02 * scale
    # efficiency holds exactly for every sample, not only on average
    np.testing.assert_allclose(exp.values.sum(axis=1) + exp.base_values,
                               clf.predict_proba(rows), atol=1e-9)


def test_kernel_with_sampled_budget_is_close_and_improves_with_budget():
    rng = np.random.default_rng(3)
    d = 10
    X = rng.normal(size=(200, d))
    y = (X[:, :4].sum(1) + X[:, 4] * X[:, 5] > 0).astype(int)
    clf = MLPClassifier((32,), max_iter=500, random_state=0).fit(X, y)
    bg = X[:8]
    rows = X[50:53]
    ref = ExactShapley(clf, background=bg, device="cpu").fit(X).explain(rows).values
    errs = []
    for budget in (40, 200, 800):
        vals = KernelSHAP(clf, background=bg, n_coalitions=budget, random_state=0,
                          device="cpu").fit(X).explain(rows).values
        errs.append(np.linalg.norm(vals - ref) / np.linalg.norm(ref))
    assert errs[-1] < errs[0]
    assert errs[-1] < 0.05


@pytest.mark.parametrize("make", [ExactShapley, KernelSHAP, PermutationSHAP])
def test_linear_model_closed_form(make):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 6))
    w = rng.normal(size=6)
    model = LinearRegression().fit(X, X @ w + 0.5)
    bg = X[:25]
    exp = make(model, background=bg, device="cpu", random_state=0).fit(X).explain(X[:5])
    assert exp.values.shape == (5, 6)
    np.testing.assert_allclose(exp.values, model.coef_ * (X[:5] - bg.mean(axis=0)), atol=1e-8)
    np.testing.assert_allclose(exp.base_values, model.predict(bg).mean(), atol=1e-10)


@pytest.mark.parametrize("make", [ExactShapley, KernelSHAP, PermutationSHAP])
def test_symmetry_and_dummy_axioms(make):
    class Model(torch.nn.Module):
        # symmetric in features 0 and 1, ignores feature 3
        def forward(self, X):
            return torch.tanh(X[:, 0] * X[:, 1] + X[:, 0] + X[:, 1]) + X[:, 2] ** 2

    rng = np.random.default_rng(0)
    bg = rng.normal(size=(10, 4))
    bg[:, 1] = bg[:, 0]  # a background symmetric in features 0 and 1
    x = np.array([[0.7, 0.7, -1.2, 5.0]])
    exp = make(Model(), background=bg, device="cpu", random_state=0).fit(bg).explain(x)
    assert exp.values.shape == (1, 4)
    assert abs(exp.values[0, 0] - exp.values[0, 1]) < 1e-6
    assert abs(exp.values[0, 3]) < 1e-6


def test_kernel_full_budget_equals_exact_on_skorch_net():
    from skorch import NeuralNetClassifier

    X, y = make_classification(n_samples=200, n_features=6, random_state=1)
    X = X.astype(np.float32)
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)),
        criterion=torch.nn.CrossEntropyLoss, max_epochs=3, train_split=None, verbose=0,
    ).fit(X, y)
    bg = X[:10]
    exact = ExactShapley(net, background=bg, device="cpu").fit(X).explain(X[:4])
    kernel = KernelSHAP(net, background=bg, n_coalitions=62, device="cpu").fit(X).explain(X[:4])
    np.testing.assert_allclose(kernel.values, exact.values, atol=1e-6)
    ref = marginal_reference(lambda Z: net.predict_proba(Z.astype(np.float32)), X[0], bg)
    np.testing.assert_allclose(exact.values[0], ref, atol=1e-5)
    np.testing.assert_allclose(exact.values.sum(1) + exact.base_values,
                               net.predict_proba(X[:4]), atol=1e-5)


def test_targets_select_outputs(mlp3):
    clf, X, bg = mlp3
    full = ExactShapley(clf, background=bg, device="cpu").fit(X).explain(X[:4])
    one = ExactShapley(clf, background=bg, target=2, device="cpu").fit(X).explain(X[:4])
    assert one.values.shape == (4, 5) and one.base_values.shape == (4,)
    np.testing.assert_allclose(one.values, full.values[:, :, 2])
    assert one.output_names == [2]
    per_row = np.array([0, 1, 2, 1])
    rows = ExactShapley(clf, background=bg, target=per_row, device="cpu").fit(X).explain(X[:4])
    np.testing.assert_allclose(rows.values, full.values[np.arange(4), :, per_row])
    np.testing.assert_allclose(rows.output, clf.predict_proba(X[:4])[np.arange(4), per_row])


def test_label_target_and_out_of_range():
    X, y = make_classification(n_samples=100, n_features=4, random_state=0)
    labels = np.where(y == 1, "yes", "no")
    clf = LogisticRegression().fit(X, labels)
    kw = dict(n_background=10, device="cpu", random_state=0)
    exp = KernelSHAP(clf, target="yes", **kw).fit(X).explain(X[:2])
    full = KernelSHAP(clf, **kw).fit(X).explain(X[:2])
    np.testing.assert_allclose(exp.values, full.values[:, :, 1])
    assert full.output_names == ["no", "yes"]
    with pytest.raises(ValueError, match="target=5 is out of range"):
        KernelSHAP(clf, target=5, device="cpu").fit(X)
    with pytest.raises(ValueError, match="one output index per row"):
        KernelSHAP(clf, target=np.array([0, 1, 1]), device="cpu").fit(X).explain(X[:2])


def test_baseline_game_uses_background_mean():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    clf = MLPClassifier((8,), max_iter=300, random_state=0).fit(X, X[:, 0] > 0)
    bg = X[:20]
    exp = ExactShapley(clf, background=bg, game="baseline", device="cpu").fit(X).explain(X[:2])
    ref = marginal_reference(clf.predict_proba, X[0], bg.mean(axis=0, keepdims=True))
    np.testing.assert_allclose(exp.values[0], ref, atol=1e-8)
    with pytest.raises(ValueError, match="game must be one of .*got 'bogus'"):
        ExactShapley(clf, game="bogus", device="cpu").fit(X)


def test_permutation_is_unbiased_and_reproducible(mlp3):
    clf, X, bg = mlp3
    rows = X[40:42]
    ref = np.stack([marginal_reference(clf.predict_proba, x, bg) for x in rows])
    runs = [PermutationSHAP(clf, background=bg, n_coalitions=16, random_state=s, device="cpu")
            .fit(X).explain(rows).values for s in range(30)]
    single_err = np.mean([np.abs(r - ref).mean() for r in runs])
    mean_err = np.abs(np.mean(runs, axis=0) - ref).mean()
    assert mean_err < 0.4 * single_err  # averaging independent runs converges: no bias
    again = PermutationSHAP(clf, background=bg, n_coalitions=16, random_state=0,
                            device="cpu").fit(X).explain(rows).values
    np.testing.assert_array_equal(again, runs[0])


def test_exact_refuses_too_many_features():
    X = np.random.default_rng(0).normal(size=(30, 25))
    model = LinearRegression().fit(X, X[:, 0])
    with pytest.raises(ValueError, match="KernelSHAP"):
        ExactShapley(model, device="cpu").fit(X)
    with pytest.raises(ValueError, match="max_features=3"):
        ExactShapley(model, max_features=3, device="cpu").fit(X)


def test_single_feature():
    X = np.random.default_rng(0).normal(size=(30, 1))
    model = LinearRegression().fit(X, 3 * X[:, 0])
    for make in (ExactShapley, KernelSHAP, PermutationSHAP):
        exp = make(model, n_background=10, device="cpu").fit(X).explain(X[:3])
        np.testing.assert_allclose(exp.values[:, 0], model.predict(X[:3]) - exp.base_values)


def test_chunked_evaluation_matches_unchunked(mlp3):
    clf, X, bg = mlp3
    big = KernelSHAP(clf, background=bg, n_coalitions=20, random_state=0, device="cpu")
    small = KernelSHAP(clf, background=bg, n_coalitions=20, random_state=0, device="cpu",
                       batch_size=7)
    np.testing.assert_allclose(big.fit(X).transform(X[:5]), small.fit(X).transform(X[:5]),
                               atol=1e-12)


def test_permutation_defaults_are_within_two_percent_of_exact():
    # the default budget (2048 coalitions per row: 512 permutations at d = 5) is near exact
    from sklxai.metrics import relative_error

    X, y = make_classification(n_samples=300, n_features=5, n_informative=4, n_redundant=0,
                               random_state=1)
    clf = MLPClassifier((16,), max_iter=1000, random_state=0).fit(X, y)
    kw = dict(n_background=20, random_state=0, device="cpu")
    ref = ExactShapley(clf, **kw).fit(X).explain(X[:30])
    perm = PermutationSHAP(clf, **kw).fit(X)
    assert perm.n_permutations_ == 512
    assert relative_error(perm.explain(X[:30]), ref) < 0.02
