"""Banzhaf values (``index="BV"``) of TreeShapley's interventional games and of ExactShapley,
against brute force: each player's marginal contribution averaged over all 2**(d-1) coalitions
of the others, the coalition values from model calls on hybrid rows."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.neighbors import KNeighborsRegressor

from sklxai import ExactShapley, Explanation, TreeShapley
from sklxai.games.trees import interventional


def brute_force_banzhaf(predict, x, background):
    """(d, k) Banzhaf values of the marginal game v(S) = mean_b f(x_S, b_not S)."""
    d = len(x)
    masks = ((np.arange(2**d)[:, None] >> np.arange(d)) & 1).astype(bool)  # (2**d, d)
    hybrid = np.where(masks[:, None, :], x, background[None])  # (2**d, m, d)
    out = np.asarray(predict(hybrid.reshape(-1, d)), dtype=float)
    v = out.reshape(2**d, len(background), -1).mean(axis=1)  # (2**d, k)
    values = np.zeros((d, v.shape[1]))
    for i in range(d):
        without = np.flatnonzero(~masks[:, i])
        values[i] = (v[without | (1 << i)] - v[without]).mean(axis=0)
    return values, v[0]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 5))
    y = X[:, 0] * X[:, 1] + np.abs(X[:, 2]) - X[:, 3] + 0.1 * rng.normal(size=200)
    return X, y


def _as_3d(values):
    return values if values.ndim == 3 else values[:, :, None]


@pytest.mark.parametrize("how", ["tables", "walks", "dense"])
def test_tree_banzhaf_values_equal_brute_force(data, monkeypatch, how):
    X, y = data
    if how != "tables":  # every tree walked, or every leaf in products over the background
        monkeypatch.setattr(interventional, "_TABLE_MAX_SLOTS", 0)
    if how == "dense":
        monkeypatch.setattr(interventional, "_WALK_MAX_PLAYERS", 0)
    model = GradientBoostingRegressor(n_estimators=8, max_depth=4, random_state=0).fit(X, y)
    background = X[:7]
    est = TreeShapley(model, background=background, index="BV", device="cpu").fit(X)
    assert (est._values.walked is not None) == (how == "walks")
    exp = est.explain(X[20:23])
    for r, x in enumerate(X[20:23]):
        expected, empty = brute_force_banzhaf(model.predict, x, background)
        np.testing.assert_allclose(exp.values[r], expected[:, 0], rtol=0, atol=1e-10)
        np.testing.assert_allclose(exp.base_values[r], empty[0], rtol=0, atol=1e-10)
    assert exp.index == "BV" and exp.efficiency_gap is None


@pytest.mark.parametrize("game", ["marginal", "baseline"])
def test_tree_banzhaf_values_of_a_classifier_and_the_baseline_game(data, game):
    X, y = data
    model = RandomForestClassifier(n_estimators=4, max_depth=5, random_state=0).fit(
        X, np.digitize(y, [-0.5, 0.8]))
    background = X[:6]
    exp = TreeShapley(model, background=background, game=game, index="banzhaf",
                      device="cpu").fit(X).explain(X[30:32])
    reference = background.mean(axis=0, keepdims=True) if game == "baseline" else background
    for r, x in enumerate(X[30:32]):
        expected, empty = brute_force_banzhaf(model.predict_proba, x, reference)
        np.testing.assert_allclose(exp.values[r], expected, rtol=0, atol=1e-10)
        np.testing.assert_allclose(exp.base_values[r], empty, rtol=0, atol=1e-10)


def test_exact_banzhaf_values_equal_brute_force(data):
    X, y = data
    model = KNeighborsRegressor(n_neighbors=4).fit(X, y)  # neither trees nor additive
    background = X[:5]
    exp = ExactShapley(model, background=background, index="BV", device="cpu").fit(X) \
        .explain(X[40:43])
    for r, x in enumerate(X[40:43]):
        expected, empty = brute_force_banzhaf(model.predict, x, background)
        np.testing.assert_allclose(exp.values[r], expected[:, 0], rtol=0, atol=1e-10)
        np.testing.assert_allclose(exp.base_values[r], empty[0], rtol=0, atol=1e-10)
    assert exp.index == "BV" and exp.efficiency_gap is None
    # Banzhaf values are not efficient: here they do not add up to the output
    assert np.abs(exp.values.sum(axis=1) + exp.base_values - exp.output).max() > 1e-3


def test_exact_and_tree_banzhaf_values_agree_on_trees(data):
    X, y = data
    model = GradientBoostingRegressor(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    kwargs = {"background": X[:8], "index": "Bv", "device": "cpu"}
    tree = TreeShapley(model, **kwargs).fit(X).explain(X[50:60])
    exact = ExactShapley(model, **kwargs).fit(X).explain(X[50:60])
    np.testing.assert_allclose(tree.values, exact.values, rtol=0, atol=1e-10)


def test_banzhaf_values_of_an_additive_model_are_its_shapley_values(data):
    # an additive game: every coalition gives player i the same contribution w_i (x_i - E b_i)
    X, _ = data
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(X, X @ np.array([1.0, -2.0, 0.5, 3.0, 0.0]))
    exp = ExactShapley(model, background=X[:9], index="BV", device="cpu").fit(X).explain(X[:4])
    np.testing.assert_allclose(exp.values, (X[:4] - X[:9].mean(axis=0)) * model.coef_,
                               rtol=0, atol=1e-10)


def test_the_index_parameter_is_stored_as_given_and_checked_at_fit(data):
    X, y = data
    model = GradientBoostingRegressor(n_estimators=3, random_state=0).fit(X, y)
    for cls in (TreeShapley, ExactShapley):
        est = cls(model, index="Banzhaf", n_background=5, device="cpu")
        assert clone(est).get_params()["index"] == "Banzhaf"
        assert est.fit(X).index_ == "BV"
        assert cls(model, n_background=5, device="cpu").fit(X).explain(X[:2]).index == "SV"
        with pytest.raises(ValueError, match="index must be 'SV'.*got 'owen'"):
            cls(model, index="owen").fit(X)


def test_explanations_keep_their_index(tmp_path, data):
    X, y = data
    model = GradientBoostingRegressor(n_estimators=3, random_state=0).fit(X, y)
    exp = TreeShapley(model, index="BV", n_background=5, device="cpu").fit(X).explain(X[:4])
    assert exp[1:3].index == "BV" and exp[0].index == "BV" and exp[:, 0].index == "BV"
    assert Explanation.concat([exp[:2], exp[2:]]).index == "BV"
    exp.save(tmp_path / "bv.npz")
    back = Explanation.load(tmp_path / "bv.npz")
    assert back.index == "BV" and back.efficiency_gap is None
    np.testing.assert_array_equal(back.values, exp.values)
    shapley = TreeShapley(model, n_background=5, device="cpu").fit(X).explain(X[:4])
    with pytest.raises(ValueError, match="index 'SV', but explanations\\[0\\] has 'BV'"):
        Explanation.concat([exp, shapley])
    with pytest.raises(ValueError, match="index must be 'SV'"):
        Explanation(exp.values, exp.base_values, exp.data, exp.feature_names, index="banzhaf")
