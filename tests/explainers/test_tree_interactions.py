"""TreeInteractions: the interaction terms of tree ensembles from the trees, checked against
ExactInteractions (every coalition of the same game), shap's and XGBoost's path-dependent
interaction values, and a brute force of the path-dependent game's k-SII from its definition."""

import math

import numpy as np
import pytest
import torch
from sklearn.ensemble import (
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklxai import ExactInteractions, TreeInteractions, TreeShapley
from sklxai.explainers.interaction_indices import interaction_sets, interaction_values
from sklxai.games.coalitions import all_masks

INDICES = ["k-SII", "SII", "STII", "FSII", "BII"]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    y = X[:, 0] * X[:, 1] + 2 * X[:, 2] * (X[:, 3] > 0) + np.sin(2 * X[:, 4])
    return X, y


def _gbdt(X, y):
    return GradientBoostingRegressor(n_estimators=8, max_depth=4, random_state=0).fit(X, y)


def _forest(X, y):  # three classes: predict_proba, three outputs
    return RandomForestClassifier(n_estimators=4, max_depth=5, random_state=0).fit(
        X, np.digitize(y, [-1.0, 1.0]))


def _hgb(X, y):
    X = X.copy()
    X[::7, 1] = np.nan  # missing values route as the model learned
    return HistGradientBoostingRegressor(max_iter=6, max_leaf_nodes=10).fit(X, y)


def _xgboost(X, y):
    xgboost = pytest.importorskip("xgboost")
    return xgboost.XGBRegressor(n_estimators=8, max_depth=4, random_state=0).fit(X, y)


def _lightgbm(X, y):
    lightgbm = pytest.importorskip("lightgbm")
    return lightgbm.LGBMRegressor(n_estimators=8, num_leaves=12, min_child_samples=5,
                                  verbose=-1, random_state=0).fit(X, y)


MODELS = {"gbdt": _gbdt, "forest-proba": _forest, "hgb-nan": _hgb, "xgboost": _xgboost,
          "lightgbm": _lightgbm}


def _rows(name, X):
    rows = X[:6].copy()
    if name == "hgb-nan":
        rows[::2, 1] = np.nan
    return rows


def _coalition_values(trees, rows, background):
    """v(S) (n, 2**d, k) of the marginal game, every coalition: the trees' summed outputs on
    the hybrid rows (x_S, b_not S), averaged over the background rows b."""
    d = rows.shape[1]
    masks = all_masks(d, device="cpu").numpy()  # (2**d, d)
    hybrid = np.where(masks[None, :, None, :], rows[:, None, None, :],
                      background[None, None, :, :])  # (n, 2**d, m, d)
    Z = trees.encode(torch.as_tensor(hybrid.reshape(-1, d), dtype=torch.float64))
    raw = trees.raw_encoded(Z)
    return raw.reshape(len(rows), len(masks), len(background), -1).mean(dim=2)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("game", ["marginal", "baseline"])
@pytest.mark.parametrize("max_order", [2, 3, 4])
def test_equals_exact_interactions_on_the_same_game(data, name, game, max_order):
    X, y = data
    model = MODELS[name](X, y)
    background, rows = _rows(name, X[40:52]), _rows(name, X)
    # ExactInteractions calls XGBoost's float32 predictions: against it 1e-6; against the same
    # game's float64 coalition values (the trees evaluated on every hybrid row) 1e-10
    atol = 1e-6 if name == "xgboost" else 1e-10
    for index in INDICES:
        params = {"index": index, "background": background, "game": game, "device": "cpu",
                  "max_order": max_order}
        tree = TreeInteractions(model, **params).fit(X)
        exact = ExactInteractions(model, **params).fit(X)
        got, want = tree.explain(rows), exact.explain(rows)
        assert got.values.shape == want.values.shape
        np.testing.assert_allclose(got.values, want.values, rtol=0, atol=atol, err_msg=index)
        np.testing.assert_allclose(got.base_values, want.base_values, rtol=0, atol=atol)
        # terms of order 3 and more: in higher_order, as ExactInteractions puts them
        assert sorted(got.higher_order) == sorted(want.higher_order)
        assert len(got.higher_order) == sum(math.comb(5, s) for s in range(3, max_order + 1))
        for key, value in want.higher_order.items():
            np.testing.assert_allclose(got.higher_order[key], value, rtol=0, atol=atol)
        reference = background if game == "marginal" else background.mean(0, keepdims=True)
        coalitions = _coalition_values(tree.trees_, rows, reference)
        terms = interaction_values(coalitions - coalitions[:, :1], index, max_order)
        np.testing.assert_allclose(tree.transform(rows),
                                   terms.permute(0, 2, 1).reshape(len(rows), -1).numpy(),
                                   rtol=0, atol=1e-10, err_msg=index)


def test_order_one_terms_and_transform_equal_exact_interactions(data):
    X, y = data
    model = _gbdt(X, y)
    params = {"background": X[:10], "device": "cpu", "max_order": 1}
    for index in INDICES:
        tree = TreeInteractions(model, index=index, **params).fit(X)
        exact = ExactInteractions(model, index=index, **params).fit(X)
        np.testing.assert_allclose(tree.transform(X[:5]), exact.transform(X[:5]), rtol=0,
                                   atol=1e-10)
        assert list(tree.get_feature_names_out()) == list(exact.get_feature_names_out())
    # order-1 SII is the Shapley value, order-1 BII the Banzhaf value (TreeShapley's)
    for index, value_index in [("SII", "SV"), ("BII", "BV")]:
        terms = TreeInteractions(model, index=index, **params).fit(X).explain(X[:5]).values
        values = TreeShapley(model, index=value_index, background=X[:10],
                             device="cpu").fit(X).explain(X[:5]).values
        np.testing.assert_allclose(np.diagonal(terms, axis1=1, axis2=2), values, atol=1e-12)


def test_k_sii_is_efficient_and_rows_sum_to_the_shapley_values(data):
    X, y = data
    model = _forest(X, y)
    exp = TreeInteractions(model, background=X[:20], device="cpu").fit(X).explain(X[:8])
    shapley = TreeShapley(model, background=X[:20], device="cpu").fit(X).explain(X[:8])
    np.testing.assert_allclose(exp.values.sum(axis=2), shapley.values, atol=1e-12)
    total = exp.values.sum(axis=(1, 2)) + exp.base_values
    np.testing.assert_allclose(total, model.predict_proba(X[:8]), atol=1e-12)


def test_feature_groups_and_pipelines_equal_exact_interactions(data):
    X, y = data
    model = make_pipeline(StandardScaler(), _gbdt(X, y))
    model.fit(X, y)
    groups = {"a": [0, 1], "b": [2], "c": [3, 4]}
    params = {"background": X[:10], "feature_groups": groups, "device": "cpu"}
    tree = TreeInteractions(model, **params).fit(X).explain(X[:5])
    exact = ExactInteractions(model, **params).fit(X).explain(X[:5])
    assert tree.values.shape == (5, 3, 3)
    np.testing.assert_allclose(tree.values, exact.values, rtol=0, atol=1e-10)


# ------------------------------------------------------------------ path-dependent game
def _cover_value(tree_, value, node, x, known):
    """A scikit-learn tree's output with the features outside ``known`` integrated out along
    the tree in proportion to the training weight of each child."""
    left, right = tree_.children_left[node], tree_.children_right[node]
    if left < 0:
        return value[node]
    f = tree_.feature[node]
    if known[f]:
        nxt = left if np.float32(x[f]) <= tree_.threshold[node] else right
        return _cover_value(tree_, value, nxt, x, known)
    w = tree_.weighted_n_node_samples
    return (w[left] * _cover_value(tree_, value, left, x, known)
            + w[right] * _cover_value(tree_, value, right, x, known)) / w[node]


def _brute_force_k_sii(model, x):
    """k-SII (order 2) of a forest's path-dependent game from the definitions: the Shapley
    values and the Shapley interaction index by enumerating every coalition."""
    d = len(x)
    trees = [est.tree_ for est in model.estimators_]

    def v(mask):
        known = np.array([mask >> i & 1 for i in range(d)], dtype=bool)
        return np.mean([_cover_value(t, t.value[:, 0, 0], 0, x, known) for t in trees])

    values = {mask: v(mask) for mask in range(2**d)}
    phi, sii = np.zeros(d), np.zeros((d, d))
    for i in range(d):
        for mask in range(2**d):
            if mask >> i & 1:
                continue
            s = mask.bit_count()
            phi[i] += (math.factorial(s) * math.factorial(d - s - 1) / math.factorial(d)
                       * (values[mask | 1 << i] - values[mask]))
            for j in range(i + 1, d):
                if mask >> j & 1:
                    continue
                delta = (values[mask | 1 << i | 1 << j] - values[mask | 1 << i]
                         - values[mask | 1 << j] + values[mask])
                sii[i, j] += (math.factorial(s) * math.factorial(d - s - 2)
                              / math.factorial(d - 1) * delta)
    sii = sii + sii.T
    out = sii / 2  # shap's layout: half of each pair's term in each of its cells
    np.fill_diagonal(out, phi - sii.sum(axis=1) / 2)
    return out, values[0]


def test_path_dependent_k_sii_equals_the_brute_force_game(data):
    X, y = data
    model = RandomForestRegressor(n_estimators=3, max_depth=5, random_state=0).fit(X, y)
    exp = TreeInteractions(model, game="path_dependent", device="cpu").fit(X).explain(X[:4])
    for row in range(4):
        truth, empty = _brute_force_k_sii(model, X[row])
        np.testing.assert_allclose(exp.values[row], truth, rtol=0, atol=1e-10)
        np.testing.assert_allclose(exp.base_values[row], empty, rtol=0, atol=1e-10)


def test_path_dependent_matches_shap_interaction_values(data):
    shap = pytest.importorskip("shap")
    X, y = data
    model = GradientBoostingRegressor(n_estimators=20, max_depth=5, random_state=0).fit(X, y)
    exp = TreeInteractions(model, game="path_dependent", device="cpu").fit(X).explain(X[:20])
    reference = shap.TreeExplainer(model).shap_interaction_values(X[:20])
    np.testing.assert_allclose(exp.values, reference, rtol=0, atol=1e-10)


def test_path_dependent_matches_xgboost_pred_interactions(data):
    xgboost = pytest.importorskip("xgboost")
    X, y = data
    model = xgboost.XGBRegressor(n_estimators=15, max_depth=5, random_state=0).fit(X, y)
    exp = TreeInteractions(model, game="path_dependent", device="cpu").fit(X).explain(X[:30])
    reference = model.get_booster().predict(xgboost.DMatrix(X[:30]), pred_interactions=True)
    np.testing.assert_allclose(exp.values, reference[:, :-1, :-1], rtol=0, atol=1e-5)
    np.testing.assert_allclose(exp.base_values, reference[:, -1, -1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("index", INDICES)
@pytest.mark.parametrize("max_order", [2, 3, 4])
def test_path_dependent_indices_equal_the_enumerated_game(data, index, max_order):
    # the game's coalition values from the brute-force recursion, every index from them by
    # ExactInteractions' enumeration of all coalitions
    X, y = data
    model = RandomForestRegressor(n_estimators=2, max_depth=4, random_state=0).fit(X, y)
    x, d = X[3], X.shape[1]
    trees = [est.tree_ for est in model.estimators_]
    coalition = torch.zeros(1, 2**d, 1, dtype=torch.float64)
    for mask in range(2**d):  # all_masks' order: bit i of the position is player i
        known = np.array([mask >> i & 1 for i in range(d)], dtype=bool)
        coalition[0, mask, 0] = float(np.mean([_cover_value(t, t.value[:, 0, 0], 0, x, known)
                                               for t in trees]))
    terms = interaction_values(coalition - coalition[:, :1], index, max_order)[0, :, 0].numpy()
    exp = TreeInteractions(model, index=index, game="path_dependent", max_order=max_order,
                           device="cpu").fit(X).transform(X[3:4])[0]
    assert len(terms) == len(interaction_sets(d, max_order))
    np.testing.assert_allclose(exp, terms, rtol=0, atol=1e-10)


# ------------------------------------------------------------------ parameters
def test_refuses_bad_orders_and_unknown_indices(data):
    X, y = data
    model = _gbdt(X, y)
    with pytest.raises(ValueError, match="max_order"):
        TreeInteractions(model, max_order=0, device="cpu").fit(X)
    with pytest.raises(ValueError, match="index"):
        TreeInteractions(model, index="SV", device="cpu").fit(X)
    with pytest.raises(ValueError, match="background= is not used"):
        TreeInteractions(model, game="path_dependent", background=X[:5], device="cpu").fit(X)
    with pytest.raises(TypeError):
        TreeInteractions(StandardScaler().fit(X), device="cpu").fit(X)


def test_index_names_any_case_and_records_it(data):
    X, y = data
    est = TreeInteractions(_gbdt(X, y), index="k-sii", background=X[:5], device="cpu").fit(X)
    assert est.index_ == "k-SII"
    assert est.interactions_[:5] == [(0,), (1,), (2,), (3,), (4,)]
    assert est.explain(X[:2]).index == "k-SII"


@pytest.mark.parametrize("game", ["marginal", "path_dependent"])
@pytest.mark.parametrize("max_order", [2, 3])
def test_terms_without_tables_equal_the_tables(data, monkeypatch, game, max_order):
    # trees whose paths hold at most _TABLE_MAX_SLOTS players are tabulated by groups of
    # leaves; in the other trees, leaves within that size get a table of their own and longer
    # paths are computed per row (and background row): the same terms every way
    from sklxai.games.trees import interactions

    X, y = data
    model = _gbdt(X, y)  # depth 4: paths of up to 4 players
    params = {"background": X[:15]} if game == "marginal" else {"game": game}
    params["max_order"] = max_order
    for index in INDICES:
        grouped = TreeInteractions(model, index=index, device="cpu", **params).fit(X)
        assert grouped._values.patterns is not None and not grouped._values.buckets
        want = grouped.transform(X[:6])
        for limit in (3, 0):
            with monkeypatch.context() as patch:
                patch.setattr(interactions, "_TABLE_MAX_SLOTS", limit)
                est = TreeInteractions(model, index=index, device="cpu", **params).fit(X)
            buckets = est._values.buckets
            assert {b.table is not None for b in buckets} == ({True, False} if limit else {False})
            assert limit or est._values.patterns is None
            np.testing.assert_allclose(est.transform(X[:6]), want, rtol=0, atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("game", ["marginal", "path_dependent"])
@pytest.mark.parametrize("max_order", [2, 3])
def test_terms_on_cuda_equal_the_cpu(data, game, max_order):
    X, y = data
    model = _gbdt(X, y)
    params = {"background": X[:15]} if game == "marginal" else {"game": game}
    params["max_order"] = max_order
    cpu = TreeInteractions(model, device="cpu", **params).fit(X).transform(X[:6])
    cuda = TreeInteractions(model, device="cuda", **params).fit(X).transform(X[:6])
    np.testing.assert_allclose(cuda, cpu, rtol=0, atol=1e-12)


@pytest.mark.parametrize("index", INDICES)
def test_closed_form_pair_terms_equal_the_product_game_polynomials(monkeypatch, index):
    # the interventional tables' closed forms in |A| and |B| (bit counts of every row and
    # background pattern) against the product game's terms built factor by factor, at orders up
    # to 4 and paths of 6 players; in chunks of background patterns the same
    from sklxai.explainers.tree_interactions import index_weights
    from sklxai.games.trees import interactions

    U = 6
    for k in (1, 2, 4):
        weights = np.array([index_weights(index, k, s, U + 1) for s in range(1, k + 1)])
        K = torch.as_tensor(interactions._count_tables(weights, U))
        member = torch.as_tensor(interactions.slot_subsets(U, k))
        closed = interactions.pattern_pair_terms(U, K, member)
        patterns = ((torch.arange(2**U)[:, None] >> torch.arange(U)) & 1).double()
        polynomial = interactions.product_game_terms(
            patterns[None].expand(2**U, -1, -1), patterns[:, None].expand(-1, 2**U, -1),
            torch.as_tensor(weights), member)
        assert closed.shape == (2**U, 2**U, len(member))
        np.testing.assert_allclose(closed, polynomial, rtol=0, atol=1e-14)
        monkeypatch.setattr(interactions, "_CHUNK", 500)
        np.testing.assert_allclose(interactions.pattern_pair_terms(U, K, member), closed,
                                   rtol=0, atol=0)
        monkeypatch.undo()
