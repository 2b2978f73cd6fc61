"""TreeGame: the marginal game of tree models from their trees equals the model-call game."""

import numpy as np
import pytest
import torch
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)

import sklxai.games.trees.game as tree_game_module
from sklxai import ExactShapley, KernelSHAP
from sklxai.games import BaselineGame, MarginalGame, TreeGame
from sklxai.models import make_adapter
from sklxai.models.trees import read_trees

RNG = np.random.default_rng(0)
X = RNG.normal(size=(300, 6))
X_NAN = X.copy()
X_NAN[RNG.random(X.shape) < 0.05] = np.nan
X_CAT = X_NAN.copy()
X_CAT[:, 3] = RNG.integers(0, 4, size=len(X))  # a categorical column with 4 codes
Y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
Y3 = np.digitize(X[:, 0], [-0.5, 0.5])


def _models():
    cat = np.zeros(6, dtype=bool)
    cat[3] = True
    return {
        "gbdt-regressor": (GradientBoostingRegressor(n_estimators=30, max_depth=3,
                                                     random_state=0).fit(X, X[:, 0] * X[:, 1]),
                           X),
        "hgb-binary-nan-categorical": (HistGradientBoostingClassifier(
            max_iter=25, categorical_features=cat, random_state=0).fit(X_CAT, Y), X_CAT),
        "hgb-multiclass": (HistGradientBoostingClassifier(max_iter=15, random_state=0).fit(
            X_NAN, Y3), X_NAN),
        "gbdt-multiclass": (GradientBoostingClassifier(n_estimators=10, random_state=0).fit(
            X, Y3), X),
        "forest-proba": (RandomForestClassifier(8, max_depth=5, random_state=0).fit(X, Y), X),
        # decision_function, a nonlinear function of the mean path length (its trees' sum)
        "isolation-forest": (IsolationForest(n_estimators=10, max_features=0.7,
                                             random_state=0).fit(X_NAN), X_NAN),
    }


MODELS = _models()


def _games(model, data, background_rows=25):
    adapter = make_adapter(model, device="cpu")
    bg = data[:background_rows]
    return TreeGame(adapter, read_trees(model), bg), MarginalGame(adapter, bg)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_equals_the_model_call_game(name):
    model, data = MODELS[name]
    tree_game, marginal = _games(model, data)
    assert tree_game.output_rule_ is not None
    gen = torch.Generator().manual_seed(0)
    shared = torch.rand(40, 6, generator=gen) < 0.5
    per_row = torch.rand(4, 30, 6, generator=gen) < 0.5
    groups = torch.tensor([[1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]],
                          dtype=torch.float32)
    grouped = torch.rand(7, 3, generator=gen) < 0.5
    rows = data[30:34]
    for masks, kwargs in ((shared, {}), (per_row, {}), (grouped, {"groups": groups})):
        got = tree_game.values(rows, masks, **kwargs)
        want = marginal.values(rows, masks, **kwargs)
        assert got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want.double().numpy(), rtol=0, atol=1e-12)


def test_every_coalition_and_the_efficiency_of_exact_values():
    # all 2**6 coalitions at once: v(N) is the model's output, v(empty) the background mean
    model, data = MODELS["hgb-binary-nan-categorical"]
    tree_game, _ = _games(model, data)
    every = ((torch.arange(64)[:, None] >> torch.arange(6)) & 1).bool()
    values = tree_game.values(data[40:42], every)
    np.testing.assert_allclose(values[:, -1].numpy(), model.predict_proba(data[40:42]),
                               atol=1e-12)
    np.testing.assert_allclose(values[0, 0].numpy(),
                               model.predict_proba(data[:25]).mean(axis=0), atol=1e-12)


@pytest.mark.parametrize("name", ["gbdt-multiclass", "isolation-forest"])
def test_shapley_explainers_on_tree_models_use_it_and_agree_with_the_generic_game(name):
    model, data = MODELS[name]
    data = data[~np.isnan(data).any(axis=1)]  # the explainers refuse NaN rows
    exact = ExactShapley(model, background=data[:20], device="cpu").fit(data)
    assert isinstance(exact.game_, TreeGame)
    generic = ExactShapley(make_adapter(model, device="cpu"), background=data[:20],
                           device="cpu").fit(data)  # an adapter: no trees to read
    assert type(generic.game_) is MarginalGame
    np.testing.assert_allclose(exact.explain(data[50:53]).values,
                               generic.explain(data[50:53]).values, atol=1e-12)
    baseline = ExactShapley(model, background=data[:20], game="baseline", device="cpu").fit(data)
    assert isinstance(baseline.game_, TreeGame) and len(baseline.game_.background) == 1
    reference = BaselineGame(make_adapter(model, device="cpu"), data[:20].mean(axis=0))
    masks = torch.rand(10, 6, generator=torch.Generator().manual_seed(1)) < 0.5
    np.testing.assert_allclose(baseline.game_.values(data[60:62], masks).numpy(),
                               reference.values(data[60:62], masks).double().numpy(),
                               atol=1e-12)


def test_kernelshap_on_a_tree_pipeline_takes_the_tree_game():
    pd = pytest.importorskip("pandas")
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": np.where(X[:, 2] > 0, "u", "v")})
    pre = ColumnTransformer([("num", StandardScaler(), ["a", "b"]),
                             ("cat", OneHotEncoder(sparse_output=False), ["c"])])
    pipe = Pipeline([("pre", pre), ("hgb", HistGradientBoostingClassifier(
        max_iter=20, random_state=0))]).fit(frame, Y)
    fast = KernelSHAP(pipe, background=frame[:20], n_coalitions=6, device="cpu",
                      random_state=0).fit(frame)
    assert isinstance(fast.game_.game, TreeGame)  # raw columns group the model columns
    generic = KernelSHAP(pipe, background=frame[:20], n_coalitions=6, fast_path=False,
                         device="cpu", random_state=0).fit(frame)
    np.testing.assert_allclose(fast.explain(frame[30:33]).values,
                               generic.explain(frame[30:33]).values, atol=1e-12)


@pytest.mark.parametrize("per_mask", [False, True])
def test_rows_walked_together_and_tabled_apart(monkeypatch, per_mask):
    # rows are walked a few at a time (here 3) and their coalition tables built fewer at a
    # time (here 1 or 2 rows): the values do not depend on the split
    model, data = MODELS["hgb-binary-nan-categorical"]
    tree_game, marginal = _games(model, data)
    masks = torch.rand(7, 10, 6, generator=torch.Generator().manual_seed(4)) < 0.5
    masks = masks if per_mask else masks[0]
    want = marginal.values(data[40:47], masks).double().numpy()
    monkeypatch.setattr(tree_game_module, "_WALK_ROWS", 3)
    for table_rows in (1, 2):
        monkeypatch.setattr(tree_game_module, "_TABLE_ELEMENTS", table_rows * 2**6 * 25 * 1)
        np.testing.assert_allclose(tree_game.values(data[40:47], masks).numpy(), want,
                                   atol=1e-12)


def test_falls_back_to_model_calls_where_the_trees_do_not_help(monkeypatch):
    model, data = MODELS["hgb-multiclass"]
    tree_game, marginal = _games(model, data)
    masks = torch.rand(12, 6, generator=torch.Generator().manual_seed(2)) < 0.5
    want = marginal.values(data[30:32], masks).double()
    calls = []

    def spy(*args):
        calls.append(1)
        return TreeGame._terms(tree_game, *args)

    monkeypatch.setattr(tree_game, "_terms", spy)
    monkeypatch.setattr(tree_game_module, "MAX_PLAYERS", 5)  # more players than tables hold
    np.testing.assert_allclose(tree_game.values(data[30:32], masks).numpy(), want.numpy(),
                               atol=1e-12)
    assert not calls
    monkeypatch.setattr(tree_game_module, "MAX_PLAYERS", 16)
    monkeypatch.setattr(tree_game_module, "MAX_EXPANSION", 10)  # deep trees: too many monomials
    np.testing.assert_allclose(tree_game.values(data[30:32], masks).numpy(), want.numpy(),
                               atol=1e-12)
    assert calls  # walked, then answered by model calls


def test_deep_trees_are_evaluated_by_model_calls(monkeypatch):
    # deep trees reach so many leaves per (row, background row) that model calls are faster
    model, data = MODELS["forest-proba"]
    monkeypatch.setattr(tree_game_module, "MAX_MEAN_DEPTH", 2.0)  # the forest is depth 5
    tree_game, marginal = _games(model, data)
    assert tree_game.output_rule_ == "raw" and not tree_game.from_trees_
    monkeypatch.setattr(tree_game, "_terms", None)  # never walked
    masks = torch.rand(9, 6, generator=torch.Generator().manual_seed(3)) < 0.5
    np.testing.assert_allclose(tree_game.values(data[30:32], masks).numpy(),
                               marginal.values(data[30:32], masks).double().numpy(), atol=0)


def test_an_adapter_whose_outputs_the_trees_cannot_express_is_called():
    forest = RandomForestRegressor(5, max_depth=4, random_state=0).fit(X, X[:, 0])
    other = RandomForestRegressor(5, max_depth=4, random_state=1).fit(X, X[:, 1])
    adapter = make_adapter(forest, device="cpu")
    game = TreeGame(adapter, read_trees(other), X[:20])  # trees of another model
    assert game.output_rule_ is None and not game.from_trees_
    masks = torch.tensor([[True, False, True, False, True, False]])
    np.testing.assert_allclose(game.values(X[:2], masks).numpy(),
                               MarginalGame(adapter, X[:20]).values(X[:2], masks).numpy())
