"""The Shapley explainers on the conditional games: closed-form values of a linear model on
Gaussian data, credit moved by correlation, every estimator on the same game, the refusals."""

import itertools
from math import factorial

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from sklxai import (
    ExactInteractions,
    ExactShapley,
    KernelInteractions,
    KernelSHAP,
    LeverageSHAP,
    PermutationSHAP,
    RegressionMSR,
    ShapleySampler,
    TreeShapley,
)
from sklxai.games import CopulaGame, EmpiricalGame, GaussianGame

CORR = np.array([[1.0, 0.8, 0.3, 0.0],
                 [0.8, 1.0, 0.5, 0.0],
                 [0.3, 0.5, 1.0, 0.2],
                 [0.0, 0.0, 0.2, 1.0]])
CONDITIONAL = ("gaussian", "copula", "empirical")


def _data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.multivariate_normal(np.zeros(4), CORR, size=n)
    return X, LinearRegression().fit(X, X @ [1.0, -2.0, 0.5, 1.5] + 0.3)


def _closed_form_shapley(coef, intercept, mean, cov, x, groups):
    """Shapley values of v(S) = coef . E[X | x_S] + intercept under N(mean, cov), players the
    column groups, by enumerating every coalition in numpy."""
    p = len(groups)

    def v(players):
        s = np.array(sorted(c for j in players for c in groups[j]), dtype=int)
        r = np.setdiff1d(np.arange(len(x)), s)
        z = x.astype(float).copy()
        z[r] = mean[r]
        if len(s) and len(r):
            z[r] += cov[np.ix_(r, s)] @ np.linalg.solve(cov[np.ix_(s, s)], x[s] - mean[s])
        return coef @ z + intercept

    phi = np.zeros(p)
    for i in range(p):
        others = [j for j in range(p) if j != i]
        for size in range(p):
            w = factorial(size) * factorial(p - size - 1) / factorial(p)
            for S in itertools.combinations(others, size):
                phi[i] += w * (v(S + (i,)) - v(S))
    return phi


@pytest.mark.parametrize("groups", [None, [[0, 1], [2], [3]]])
def test_exact_shapley_on_the_gaussian_game_equals_the_closed_form(groups):
    X, model = _data()
    game = GaussianGame(n_samples=300)
    est = ExactShapley(model, game=game, feature_groups=groups, random_state=0,
                       device="cpu").fit(X)
    rows = X[:6]
    exp = est.explain(rows)
    fitted = est.game_.game if groups is not None else est.game_
    players = groups if groups is not None else [[j] for j in range(4)]
    truth = np.array([_closed_form_shapley(model.coef_, model.intercept_, fitted.mean_,
                                           fitted.covariance_, x, players) for x in rows])
    z = (exp.values - truth) / exp.std_errors
    assert np.abs(z).max() < 3, np.abs(z).max()
    assert 0.3 < np.mean(z**2) < 2.0  # the standard errors are of the right size
    assert est.std_errors_dof_ == 299
    # the base value is E f(X) under the game's normal, and efficiency holds exactly
    base = model.coef_ @ fitted.mean_ + model.intercept_
    assert abs(est.expected_value_[0] - base) < 3 * float(fitted.empty_variance()[0]) ** 0.5
    np.testing.assert_allclose(exp.values.sum(axis=1) + exp.base_values,
                               model.predict(rows), atol=1e-9)
    assert game.adapter is None  # the explainer fitted a copy; the parameter is unchanged


def test_correlation_moves_credit_to_the_unused_feature():
    """x0 and x1 correlate at 0.95, the model is x0 + x2: the marginal game gives x1 nothing;
    the conditional games give it about half of x0's credit, rho x1 / 2 under the normal."""
    rng = np.random.default_rng(1)
    C = np.array([[1.0, 0.95, 0.0], [0.95, 1.0, 0.0], [0.0, 0.0, 1.0]])
    X = rng.multivariate_normal(np.zeros(3), C, size=3000)
    model = LinearRegression().fit(X[:, [0, 2]], X[:, 0] + X[:, 2])
    model = LinearRegression().fit(X, model.predict(X[:, [0, 2]]))  # coef of x1: 0
    rows = X[:100]
    marginal = ExactShapley(model, device="cpu").fit(X).explain(rows).values
    assert np.abs(marginal[:, 1]).max() < 1e-9
    share = {}
    for g in CONDITIONAL:
        # the empirical game weights the background rows: 1,000 of them
        exp = ExactShapley(model, game=g, n_background=1000, random_state=0,
                           device="cpu").fit(X).explain(rows)
        share[g] = np.abs(exp.values[:, 1]).mean() / np.abs(exp.values[:, 0]).mean()
        if g == "gaussian":  # the closed form under the game's fitted normal
            fitted = ExactShapley(model, game=g, device="cpu").fit(X).game_
            truth = np.array([_closed_form_shapley(model.coef_, model.intercept_, fitted.mean_,
                                                   fitted.covariance_, x, [[0], [1], [2]])
                              for x in rows])
            assert np.abs((exp.values - truth) / exp.std_errors).max() < 3.5
        # about rho x1 / 2 for each game
        assert np.sqrt(np.mean((exp.values[:, 1] - 0.95 * rows[:, 1] / 2) ** 2)) < 0.1, g
    # x1 takes 0.45 to 1 of x0's credit (rho x1 / 2 against x0 - rho x1 / 2)
    assert all(0.6 < s < 1.1 for s in share.values()), share


@pytest.mark.parametrize("game", CONDITIONAL)
def test_every_estimator_explains_the_same_game(game):
    X, model = _data(n=1500, seed=2)
    rows = X[:4]
    exact = ExactShapley(model, game=game, random_state=0, device="cpu").fit(X).explain(rows)
    # a full budget enumerates every coalition: the same coalition values, the same Shapley
    # values (the draws are a function of the row and the coalition)
    kernel = KernelSHAP(model, game=game, n_coalitions=2**4, random_state=0,
                        device="cpu").fit(X).explain(rows)
    np.testing.assert_allclose(kernel.values, exact.values, atol=1e-9)
    pairwise = ExactInteractions(model, game=game, random_state=0, device="cpu").fit(X)
    inter = pairwise.explain(rows)
    assert inter.efficiency_gap < 1e-8  # k-SII terms add up to f(x) - v(empty)
    enumerated = KernelInteractions(model, game=game, n_coalitions=2**4, random_state=0,
                                    device="cpu").fit(X).explain(rows)
    np.testing.assert_allclose(enumerated.values, inter.values, atol=1e-8)
    # a linear model has no interactions in the marginal game; it has in a conditional one
    assert np.abs(np.asarray(inter.values) * (1 - np.eye(4))).max() > 0.01
    scale = np.abs(exact.values).max()
    for cls in (PermutationSHAP, LeverageSHAP, RegressionMSR, ShapleySampler):
        est = cls(model, game=game, n_coalitions=64, random_state=0, device="cpu").fit(X)
        exp = est.explain(rows)
        np.testing.assert_allclose(exp.values.sum(axis=1) + exp.base_values,
                                   model.predict(rows), atol=1e-8)
        np.testing.assert_allclose(exp.base_values, exact.base_values, atol=1e-12)
        assert np.abs(exp.values - exact.values).max() < 0.25 * scale, cls.__name__


class _Linear(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.lin = torch.nn.Linear(d, 1)

    def forward(self, X):
        return self.lin(X.float())


def _net_pipeline(pre, X, y):
    """``pre`` then a linear torch regressor (a Pipeline the fast path takes)."""
    from skorch import NeuralNetRegressor

    torch.manual_seed(0)
    width = clone(pre).fit_transform(X).shape[1]
    net = NeuralNetRegressor(_Linear(width), max_epochs=3, lr=0.05, train_split=None,
                             verbose=0)
    return make_pipeline(pre, net).fit(X, np.asarray(y, dtype=np.float32).reshape(-1, 1))


@pytest.mark.parametrize("game", CONDITIONAL)
def test_a_float32_torch_model_on_every_conditional_game(game, nets):
    X, _ = _data(n=600, seed=6)
    X = np.column_stack([X, X[:, 0] * X[:, 1]])  # 5 features for the MLP
    net = nets.mlp(d=5)
    rows = X[:3]
    exact = ExactShapley(net, game=game, random_state=0, device="cpu").fit(X).explain(rows)
    kernel = KernelSHAP(net, game=game, n_coalitions=2**5, random_state=0,
                        device="cpu").fit(X).explain(rows)
    out = net(torch.as_tensor(rows, dtype=torch.float32)).detach().double().numpy()
    np.testing.assert_allclose(exact.values.sum(axis=1) + exact.base_values, out, atol=1e-5)
    np.testing.assert_allclose(kernel.values, exact.values, atol=1e-6)


def test_a_pipeline_on_its_fast_path_conditions_on_its_raw_columns():
    X, _ = _data(n=2000, seed=3)
    pipe = _net_pipeline(StandardScaler(), X, X @ [1.0, -2, 0.5, 1.5])
    est = ExactShapley(pipe, game=GaussianGame(n_samples=300), random_state=0,
                       device="cpu").fit(X)
    assert est.prepared_.fast_path
    rows = X[:5]
    exp = est.explain(rows)
    # the game lives in the scaled columns: the closed form there, one player per raw column
    Z = pipe[0].transform(rows)
    game = est.game_.game if hasattr(est.game_, "groups") else est.game_
    lin = pipe[-1].module_.lin
    coef, intercept = lin.weight.detach().double().numpy()[0], float(lin.bias.detach())
    truth = np.array([_closed_form_shapley(coef, intercept, game.mean_, game.covariance_, z,
                                           [[j] for j in range(4)]) for z in Z])
    assert np.abs((exp.values - truth) / exp.std_errors).max() < 3


def test_categorical_columns_are_refused_by_the_normal_games():
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200),
                       "c": rng.choice(["x", "y", "z"], size=200)})
    y = df["a"] + (df["c"] == "x")
    pre = ColumnTransformer([("num", "passthrough", ["a", "b"]),
                             ("cat", OneHotEncoder(sparse_output=False), ["c"])])
    generic = make_pipeline(pre, LinearRegression()).fit(df, y)  # encoded categories
    fast = _net_pipeline(pre, df, y)  # one-hot blocks in model space
    for pipe in (generic, fast):
        for game in ("gaussian", "copula", CopulaGame()):
            with pytest.raises(ValueError, match=r"\['c'\] are categorical.*game='empirical'"):
                ExactShapley(pipe, game=game, device="cpu").fit(df)
        est = ExactShapley(pipe, game="empirical", device="cpu").fit(df)
        exp = est.explain(df[:3])
        assert exp.values.shape[:2] == (3, 3)  # players: the raw columns
        np.testing.assert_allclose(exp.values.sum(axis=1) + exp.base_values,
                                   np.ravel(pipe.predict(df[:3])), atol=1e-5)


def test_tree_shapley_refuses_the_conditional_games():
    X, _ = _data(n=200)
    forest = RandomForestRegressor(n_estimators=3, max_depth=2, random_state=0).fit(X, X[:, 0])
    for game in (*CONDITIONAL, GaussianGame(n_samples=50)):
        shown = "GaussianGame" if isinstance(game, GaussianGame) else repr(game)
        with pytest.raises(ValueError, match=rf"game={shown}: .*no tree algorithm computes a "
                           r"conditional game.*ExactShapley or KernelSHAP.*game='marginal' or "
                           "'path_dependent'"):
            TreeShapley(forest, game=game, device="cpu").fit(X)
    with pytest.raises(ValueError, match="game must be one of"):
        TreeShapley(forest, game="normal", device="cpu").fit(X)
    # the fix the message names works: ExactShapley explains the forest on the Gaussian game
    exp = ExactShapley(forest, game="gaussian", random_state=0, device="cpu").fit(X).explain(X[:2])
    np.testing.assert_allclose(exp.values.sum(axis=1) + exp.base_values,
                               np.ravel(forest.predict(X[:2])), atol=1e-6)


def test_game_parameter_validation_and_clone():
    X, model = _data(n=200)
    with pytest.raises(ValueError, match="game must be one of .* or a ConditionalGame"):
        KernelSHAP(model, game="normal", device="cpu").fit(X)
    game = EmpiricalGame(sigma=0.2)
    est = KernelSHAP(model, game=game, device="cpu")
    assert clone(est).get_params()["game"].sigma == 0.2
    assert est.fit(X).game_ is not game and game.adapter is None


def test_same_random_state_same_values_whatever_the_rows_explained_with():
    X, model = _data(n=500, seed=5)
    rows = X[:6]
    est = PermutationSHAP(model, game="gaussian", n_coalitions=32, random_state=3,
                          device="cpu").fit(X)
    a = est.explain(rows).values
    again = clone(est).fit(X).explain(rows).values
    np.testing.assert_array_equal(a, again)
    other = clone(est).set_params(random_state=4).fit(X).explain(rows).values
    assert not np.allclose(a, other)


@pytest.mark.parametrize("cls, game, groups", [
    (KernelSHAP, "copula", None),
    (PermutationSHAP, GaussianGame(n_samples=30), None),
    (ExactShapley, "gaussian", [[0, 1], [2], [3]]),
    (KernelSHAP, EmpiricalGame(sigma=0.3), None),
])
def test_save_and_load_keep_the_fitted_distribution(tmp_path, cls, game, groups):
    """The game fitted on fit's 300 rows is stored: the loaded explainer gives the same values
    and standard errors, where a game fitted on the background alone would not."""
    X, model = _data(n=300, seed=7)
    est = cls(model, game=game, feature_groups=groups, n_background=40, random_state=0,
              device="cpu").fit(X)
    rows = X[:4]
    before = est.explain(rows)
    est.save(tmp_path / "explainer.sklxai")
    loaded = cls.load(tmp_path / "explainer.sklxai", model, device="cpu")
    after = loaded.explain(rows)
    np.testing.assert_array_equal(after.values, before.values)
    np.testing.assert_array_equal(after.base_values, before.base_values)
    if before.std_errors is not None:
        np.testing.assert_array_equal(after.std_errors, before.std_errors)
    saved = est.game_.game if groups is not None else est.game_
    restored = loaded.game_.game if groups is not None else loaded.game_
    assert type(restored) is type(saved)
    np.testing.assert_array_equal(restored.covariance_, saved.covariance_)
    assert restored.get_config() == saved.get_config()
    if isinstance(game, GaussianGame | EmpiricalGame):  # the parameter is rebuilt as it was
        assert loaded.game.get_config() == game.get_config()
    else:
        assert loaded.game == game
    # the background alone (40 rows) gives another distribution: what loading used to refit
    refit = clone(est).fit(est.background_)
    refit_game = refit.game_.game if groups is not None else refit.game_
    assert not np.allclose(refit_game.covariance_, saved.covariance_)


def test_save_refuses_a_game_class_it_cannot_rebuild(tmp_path):
    class Custom(GaussianGame):
        pass

    X, model = _data(n=300, seed=7)
    est = KernelSHAP(model, game=Custom(n_samples=10), random_state=0, device="cpu").fit(X)
    with pytest.raises(ValueError, match="game=Custom is another class.*joblib.dump"):
        est.save(tmp_path / "kernel.sklxai")


@pytest.mark.filterwarnings("ignore::sklxai.exceptions.AccuracyWarning")  # two epochs
@pytest.mark.parametrize("name", ["SimSHAP", "FastSHAP"])
def test_amortized_explainers_on_the_gaussian_game(name, nets, tmp_path):
    import sklxai

    X, _ = _data(n=400, seed=8)
    net = nets.mlp(d=4)
    rows = X[:5]
    est = getattr(sklxai, name)(net, game=GaussianGame(n_samples=64), hidden_sizes=(16,),
                                n_coalitions=8, max_epochs=2, max_time=5.0, n_background=20,
                                min_epoch_rows=1, train_batch_size=64, device="cpu",
                                random_state=0).fit(X[:200])
    assert len(est.history_) >= 1  # trained
    exp = est.explain(rows)
    out = net(torch.as_tensor(rows, dtype=torch.float32)).detach().double().numpy()
    # efficient: the values sum to f(x) minus the base value
    np.testing.assert_allclose(exp.values.sum(axis=1) + exp.base_values, out, atol=1e-5)
    game = est.game_
    np.testing.assert_allclose(est.expected_value_, game.empty_value().numpy())
    # v(empty) = E f(X) under the game's fitted normal, by 200,000 independent numpy draws; the
    # game's 64-draw mean lies within four of its standard errors (and the reference's) of it
    draws = np.random.default_rng(1).multivariate_normal(game.mean_, game.covariance_, 200_000)
    f = net(torch.as_tensor(draws, dtype=torch.float32)).detach().double().numpy()
    se = np.sqrt(game.empty_variance().numpy() + f.var(axis=0) / len(f))
    assert np.all(np.abs(est.expected_value_ - f.mean(axis=0)) <= 4 * se)
    # saved and loaded with the game's fitted normal (fit's 200 rows, not the background's 20)
    est.save(tmp_path / "amortized.sklxai")
    loaded = type(est).load(tmp_path / "amortized.sklxai", net, device="cpu")
    np.testing.assert_array_equal(loaded.explain(rows).values, exp.values)
    np.testing.assert_array_equal(loaded.game_.covariance_, game.covariance_)
    np.testing.assert_array_equal(loaded.expected_value_, est.expected_value_)
