"""ExactInteractions and its indices against their definitions, brute force and shapiq.

Every reference here is computed from all 2**d coalition values another way: the coalition
values by calling the model on masked rows (numpy), the indices from their discrete-derivative
definitions (SII, BII, STII), SII aggregated with scipy's Bernoulli numbers (k-SII), a KKT
system of the Shapley-kernel least squares (FSII), and shapiq's ``ExactComputer``.
"""

import math
import warnings
from itertools import combinations

import numpy as np
import pytest
import torch
from scipy.special import bernoulli
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklxai import ExactInteractions, ExactShapley, InteractionExplanation
from sklxai.explainers.interaction_indices import interaction_sets, interaction_values

INDICES = ["k-SII", "SII", "STII", "FSII", "BII"]


# ------------------------------------------------------------------ definitions, by brute force
def _bits(s):
    return sum(1 << j for j in s)


def _subsets(items):
    items = list(items)
    return [c for r in range(len(items) + 1) for c in combinations(items, r)]


def _derivative(v, S, T):
    """Discrete derivative Delta_S v(T) = sum_{L subset of S} (-1)^(|S|-|L|) v(T + L), for every
    row and output: v is (n, 2**d, k)."""
    return sum((-1) ** (len(S) - len(L)) * v[:, _bits(T) | _bits(L)] for L in _subsets(S))


def _sii(v, d, S):
    s = len(S)
    rest = [p for p in range(d) if p not in S]
    return sum(math.factorial(d - len(T) - s) * math.factorial(len(T)) / math.factorial(d - s + 1)
               * _derivative(v, S, T) for T in _subsets(rest))


def _bii(v, d, S):
    rest = [p for p in range(d) if p not in S]
    return sum(_derivative(v, S, T) for T in _subsets(rest)) / 2 ** (d - len(S))


def _stii(v, d, S, k):
    if len(S) < k:
        return _derivative(v, S, ())
    rest = [p for p in range(d) if p not in S]
    return k / d * sum(_derivative(v, S, T) / math.comb(d - 1, len(T)) for T in _subsets(rest))


def _ksii(v, d, S, k):
    b = bernoulli(k)  # B_1 = -1/2
    supersets = [U for U in _subsets(range(d)) if set(S) <= set(U) and len(U) <= k]
    return sum(b[len(U) - len(S)] * _sii(v, d, U) for U in supersets)


def _fsii(v, d, k):
    """The constrained weighted least squares of order k, as a KKT system, per row and output."""
    sets = interaction_sets(d, k)
    coalitions = _subsets(range(d))[1:-1]  # inner ones
    Z = np.array([[float(set(T) <= set(S)) for T in sets] for S in coalitions])
    w = np.array([(d - 1) / (math.comb(d, len(S)) * len(S) * (d - len(S))) for S in coalitions])
    p = len(sets)
    kkt = np.zeros((p + 1, p + 1))
    kkt[:p, :p] = 2 * Z.T @ (w[:, None] * Z)
    kkt[:p, p] = kkt[p, :p] = 1.0
    rows = [_bits(S) for S in coalitions]
    out = np.empty((v.shape[0], p, v.shape[2]))
    for r in range(v.shape[0]):
        for o in range(v.shape[2]):
            rhs = np.append(2 * Z.T @ (w * v[r, rows, o]), v[r, -1, o])
            out[r, :, o] = np.linalg.solve(kkt, rhs)[:p]
    return out


def definition(v, d, index, k):
    """Every term of ``index`` up to order k (interaction_sets' order), (n, m, outputs)."""
    if index == "FSII":
        return _fsii(v, d, k)
    one = {"SII": lambda S: _sii(v, d, S), "BII": lambda S: _bii(v, d, S),
           "STII": lambda S: _stii(v, d, S, k), "k-SII": lambda S: _ksii(v, d, S, k)}[index]
    return np.stack([one(S) for S in interaction_sets(d, k)], axis=1)


def banzhaf(v, d):
    return np.stack([sum(v[:, _bits(S) | 1 << i] - v[:, _bits(S)]
                         for S in _subsets([p for p in range(d) if p != i])) / 2 ** (d - 1)
                     for i in range(d)], axis=1)


def coalition_values(predict, X, background, groups):
    """v(S) - v(empty) (n, 2**d, k): the model's mean over the background with the columns of
    the players in S taken from the row, by calling the model on every masked row."""
    d = len(groups)
    out = []
    for S in (tuple(j for j in range(d) if t >> j & 1) for t in range(2**d)):
        cols = [c for p in S for c in groups[p]]
        rows = np.repeat(background[None], len(X), axis=0)
        rows[:, :, cols] = X[:, None, cols]
        pred = predict(rows.reshape(-1, X.shape[1])).reshape(len(X), len(background), -1)
        out.append(pred.mean(axis=1))
    v = np.stack(out, axis=1)
    return v - v[:, :1]


# ------------------------------------------------------------------ models
def _mlp(d, k=2):
    torch.manual_seed(d)
    return torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.Tanh(),
                               torch.nn.Linear(16, k)).double()


def _torch_predict(model):
    return lambda A: model(torch.as_tensor(A)).detach().numpy()


def _case(name):
    """(model, its predict on float64 rows -> (m, k), X, background, feature_groups)."""
    rng = np.random.default_rng(1)
    if name == "mlp6":
        X = rng.normal(size=(40, 6))
        model = _mlp(6)
        return model, _torch_predict(model), X, X[:5], None
    if name == "gbr6":
        X = rng.normal(size=(200, 6))
        y = X[:, 0] * X[:, 1] + np.sin(X[:, 2] * X[:, 3]) + X[:, 4]
        model = GradientBoostingRegressor(n_estimators=20, max_depth=4, random_state=0).fit(X, y)
        return model, lambda A: model.predict(A)[:, None], X, X[:4], None
    if name == "logreg_groups":  # 8 columns in 5 groups, 3 classes
        X = rng.normal(size=(150, 8))
        y = np.digitize(X[:, 0] + X[:, 3] * X[:, 5], [-0.5, 0.5])
        model = LogisticRegression(max_iter=500).fit(X, y)
        groups = [[0, 1], [2], [3, 4], [5], [6, 7]]
        return model, model.predict_proba, X, X[:6], groups
    if name == "mlp10":
        X = rng.normal(size=(30, 10))
        model = _mlp(10, k=1)
        return model, _torch_predict(model), X, X[:3], None
    raise KeyError(name)


def _explainer(name, **params):
    model, _, X, background, groups = _case(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ExactInteractions(model, background=background, feature_groups=groups,
                                 device="cpu", random_state=0, **params).fit(X)


def _values(name, n_rows=3):
    model, predict, X, background, groups = _case(name)
    groups = groups or [[j] for j in range(X.shape[1])]
    return X[-n_rows:], coalition_values(predict, X[-n_rows:], background, groups), len(groups)


def _terms(exp):
    """(n, m, k) terms of an explanation, in interaction_sets' order."""
    terms = exp.terms()
    d = len(exp.feature_names)
    out = np.stack([terms[s] for s in interaction_sets(d, exp.max_order)], axis=1)
    return out if out.ndim == 3 else out[:, :, None]


class _Product(torch.nn.Module):
    def forward(self, A):
        return A[:, :1] * A[:, 1:2]


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("index", INDICES)
@pytest.mark.parametrize("order", [1, 2, 3])
def test_indices_equal_their_definitions_on_a_random_game(index, order):
    d = 5
    v = np.random.default_rng(order).normal(size=(2, 2**d, 2))
    v -= v[:, :1]
    got = interaction_values(torch.as_tensor(v), index, order).numpy()
    np.testing.assert_allclose(got, definition(v, d, index, order), rtol=0, atol=1e-10)


@pytest.mark.parametrize("case", ["mlp6", "gbr6", "logreg_groups"])
@pytest.mark.parametrize("index", INDICES)
def test_explainer_equals_the_definition_from_every_coalition(case, index):
    X, v, d = _values(case)
    exp = _explainer(case, index=index).explain(X)
    np.testing.assert_allclose(_terms(exp), definition(v, d, index, 2), rtol=0, atol=1e-10)


@pytest.mark.parametrize("index", ["k-SII", "STII", "SII"])
def test_order_three_on_a_model_equals_the_definition(index):
    X, v, d = _values("gbr6", n_rows=2)
    exp = _explainer("gbr6", index=index, max_order=3).explain(X)
    assert len(exp.higher_order) == math.comb(6, 3)
    np.testing.assert_allclose(_terms(exp), definition(v, d, index, 3), rtol=0, atol=1e-10)


def test_ten_features_k_sii_equals_its_definition():
    X, v, d = _values("mlp10", n_rows=2)
    exp = _explainer("mlp10").explain(X)
    np.testing.assert_allclose(_terms(exp), definition(v, d, "k-SII", 2), rtol=0, atol=1e-10)


@pytest.mark.parametrize("case", ["mlp6", "logreg_groups"])
@pytest.mark.parametrize("index, order", [("k-SII", 2), ("k-SII", 3), ("STII", 2), ("STII", 3),
                                          ("FSII", 2), ("FSII", 3)])
def test_efficient_indices_add_up_to_the_output(case, index, order):
    X = _case(case)[2][:4]
    exp = _explainer(case, index=index, max_order=order).explain(X)
    assert exp.efficiency_gap < 1e-10
    total = sum(v for v in exp.terms().values()) + exp.base_values
    np.testing.assert_allclose(total, exp.output, rtol=0, atol=1e-10)


@pytest.mark.parametrize("case", ["mlp6", "gbr6", "logreg_groups"])
def test_k_sii_rows_and_sii_diagonal_are_the_shapley_values(case):
    model, _, X, background, groups = _case(case)
    shapley = ExactShapley(model, background=background, feature_groups=groups, device="cpu")
    phi = shapley.fit(X).explain(X[:4]).values
    ksii = _explainer(case).explain(X[:4])
    np.testing.assert_allclose(ksii.values.sum(axis=2), phi, rtol=0, atol=1e-10)
    sii = _explainer(case, index="sii").explain(X[:4])
    d = phi.shape[1]
    np.testing.assert_allclose(sii.values[:, np.arange(d), np.arange(d)], phi, rtol=0,
                               atol=1e-10)


@pytest.mark.parametrize("case", ["mlp6", "logreg_groups"])
def test_banzhaf_interactions_of_order_one_are_the_banzhaf_values(case):
    X, v, d = _values(case)
    exp = _explainer(case, index="BII").explain(X)
    diagonal = exp.values[:, np.arange(d), np.arange(d)]
    np.testing.assert_allclose(diagonal, banzhaf(v, d), rtol=0, atol=1e-10)


@pytest.mark.parametrize("index, atol", [("SII", 1e-10), ("k-SII", 1e-10), ("STII", 1e-10),
                                         ("BII", 1e-10), ("FSII", 1e-8)])
@pytest.mark.parametrize("order", [2, 3])
def test_equals_shapiq_exact_computer_on_the_same_game(index, atol, order):
    shapiq = pytest.importorskip("shapiq")
    X, v, d = _values("mlp6", n_rows=2)
    exp = _explainer("mlp6", index=index, max_order=order).explain(X)
    for row in range(2):
        for out in range(2):
            table = v[row, :, out]

            def game(coalitions, table=table):
                return table[coalitions.astype(np.int64) @ (1 << np.arange(d))]

            ref = shapiq.ExactComputer(game, n_players=d)(index=index, order=order)
            got = exp.select_output(out).terms()
            for s, value in got.items():
                assert abs(value[row] - ref[s]) < atol, (s, value[row], ref[s])


def test_fsii_brute_force_decides_and_shapiq_is_close():
    # FSII by its KKT system (above) to 1e-10; shapiq's exact FSII within 1e-8 of it
    X, v, d = _values("gbr6", n_rows=2)
    exp = _explainer("gbr6", index="fsii").explain(X)
    np.testing.assert_allclose(_terms(exp), _fsii(v, d, 2), rtol=0, atol=1e-10)


def test_a_product_has_only_its_pair_under_every_index():
    # f = x0 * x1 against a zero baseline: v(S) = x0 x1 1[{0, 1} in S], one Moebius term
    model = _Product()
    x = np.array([[2.0, -3.0, 1.0, 5.0]])
    for index in INDICES:
        est = ExactInteractions(model, index=index, background=np.zeros((1, 4)), device="cpu")
        values = est.fit(np.zeros((2, 4))).explain(x).values[0]
        expected = np.zeros((4, 4))
        expected[0, 1] = expected[1, 0] = -3.0  # half of the pair's -6 in each cell
        if index in ("SII", "BII"):  # not efficient: players carry half the pair (BII) / SV
            expected[0, 0] = expected[1, 1] = -3.0
        np.testing.assert_allclose(values, expected, atol=1e-12, err_msg=index)


def test_sixteen_features_are_enumerated_and_efficient():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 16))
    model = _mlp(16, k=1)
    est = ExactInteractions(model, background=X[:1], device="cpu").fit(X)
    exp = est.explain(X[:2])
    assert exp.values.shape == (2, 16, 16)
    assert exp.efficiency_gap < 1e-10
    shapley = ExactShapley(model, background=X[:1], device="cpu").fit(X).explain(X[:2])
    np.testing.assert_allclose(exp.values.sum(axis=2), shapley.values, atol=1e-10)


def test_dataframe_target_transform_and_names():
    pd = pytest.importorskip("pandas")
    model, _, X, background, _ = _case("logreg_groups")
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(8)])
    est = ExactInteractions(model, background=background, device="cpu", target=2,
                            feature_groups={"a": ["c0", "c1"], "b": ["c2"], "c": ["c3", "c4"],
                                            "d": ["c5"], "e": ["c6", "c7"]}).fit(frame)
    exp = est.explain(frame.iloc[:3])
    assert exp.feature_names == ["a", "b", "c", "d", "e"] and exp.values.shape == (3, 5, 5)
    names = est.get_feature_names_out()
    assert list(names[:6]) == ["a", "b", "c", "d", "e", "a b"] and len(names) == 15
    values = est.transform(frame.iloc[:3])
    assert values.shape == (3, 15)
    np.testing.assert_allclose(values[:, 5], 2 * exp.values[:, 0, 1], atol=1e-14)
    every = _explainer("logreg_groups").explain(X[:3])
    np.testing.assert_allclose(exp.values, every.values[..., 2], atol=1e-12)


def test_column_wise_pipeline_fast_path_equals_the_generic_path():
    from skorch import NeuralNetRegressor

    X = np.random.default_rng(0).normal(size=(60, 5))
    torch.manual_seed(0)
    net = NeuralNetRegressor(torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(),
                                                 torch.nn.Linear(8, 1)).double(),
                             max_epochs=1, train_split=None, verbose=0).initialize()
    pipe = make_pipeline(StandardScaler().fit(X), net)
    fast = ExactInteractions(pipe, background=X[:4], device="cpu", fast_path=True).fit(X)
    slow = ExactInteractions(pipe, background=X[:4], device="cpu", fast_path=False).fit(X)
    np.testing.assert_allclose(fast.explain(X[:3]).values, slow.explain(X[:3]).values,
                               atol=1e-10)


def test_baseline_and_surrogate_games():
    X = np.random.default_rng(0).normal(size=(80, 4))
    model = _mlp(4)
    base = ExactInteractions(model, game="baseline", device="cpu").fit(X)
    mean_row = X[:100].mean(axis=0, keepdims=True)  # n_background=100 >= 80 rows: all of X
    v = coalition_values(_torch_predict(model), X[:2], mean_row, [[j] for j in range(4)])
    np.testing.assert_allclose(_terms(base.explain(X[:2])), definition(v, 4, "k-SII", 2),
                               atol=1e-10)
    surrogate = ExactInteractions(model, game="surrogate", device="cpu", random_state=0,
                                  surrogate_params={"hidden_sizes": (8,), "max_epochs": 2})
    exp = surrogate.fit(X).explain(X[:2])
    assert exp.values.shape == (2, 4, 4, 2) and exp.efficiency_gap < 1e-10


def test_save_and_load_give_the_same_values(tmp_path):
    model, _, X, background, groups = _case("logreg_groups")
    est = _explainer("logreg_groups", index="stii", max_order=3)
    est.save(tmp_path / "est")
    back = ExactInteractions.load(tmp_path / "est", model, device="cpu")
    a, b = est.explain(X[:3]), back.explain(X[:3])
    assert back.index == "stii" and back.max_order == 3
    np.testing.assert_array_equal(a.values, b.values)
    assert a.higher_order.keys() == b.higher_order.keys()


@pytest.mark.parametrize("params, error, match", [
    ({"index": "shapley"}, ValueError, r"index must be one of \['k-SII'"),
    ({"index": 2}, ValueError, "index must be one of"),
    ({"max_order": 0}, ValueError, "max_order must be >= 1"),
    ({"max_order": 2.0}, TypeError, "max_order"),
    ({"max_features": 5}, ValueError, r"d=6 players is more than max_features=5"),
])
def test_bad_parameters_are_refused_naming_them(params, error, match):
    with pytest.raises(error, match=match):
        _explainer("mlp6", **params)


def test_index_is_case_insensitive_and_kept_as_given():
    est = _explainer("mlp6", index="k-sii")
    assert est.index == "k-sii" and est.index_ == "k-SII"
    assert est.explain(_case("mlp6")[2][:1]).index == "k-SII"


def test_explain_returns_an_interaction_explanation_with_its_fields():
    est = _explainer("mlp6", max_order=3)
    exp = est.explain(_case("mlp6")[2][:2])
    assert isinstance(exp, InteractionExplanation) and exp.method == "ExactInteractions"
    assert exp.values.shape == (2, 6, 6, 2) and exp.max_order == 3
    assert sorted(exp.higher_order) == list(combinations(range(6), 3))
    np.testing.assert_allclose(exp.values, exp.values.transpose(0, 2, 1, 3), atol=0)
    np.testing.assert_allclose(exp.base_values, np.broadcast_to(est.expected_value_, (2, 2)))


def test_shaps_interaction_values_with_a_background_are_zeros_where_ours_are_not():
    # shap's TreeExplainer with a background (interventional) returns zeros for interaction
    # values; the pair x0 * x1 of the marginal game is large (brute force: the definition)
    shap = pytest.importorskip("shap")
    from sklearn.ensemble import RandomForestRegressor

    X = np.random.default_rng(0).normal(size=(300, 3))
    forest = RandomForestRegressor(10, max_depth=5, random_state=0).fit(X, X[:, 0] * X[:, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = shap.TreeExplainer(forest, data=X[:20], feature_perturbation="interventional")
        zeros = theirs.shap_interaction_values(X[:3])
    assert np.all(np.asarray(zeros) == 0)
    ours = ExactInteractions(forest, background=X[:20], device="cpu").fit(X).explain(X[:3])
    v = coalition_values(lambda A: forest.predict(A)[:, None], X[:3], X[:20], [[0], [1], [2]])
    np.testing.assert_allclose(_terms(ours), definition(v, 3, "k-SII", 2), atol=1e-10)
    assert np.abs(ours.values[:, 0, 1]).max() > 0.1


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("index", INDICES)
def test_cuda_matches_cpu(index):
    X = np.random.default_rng(0).normal(size=(100, 8))
    model = _mlp(8)
    kw = dict(index=index, max_order=3, background=X[:10])
    cpu = ExactInteractions(model, device="cpu", **kw).fit(X).explain(X[:16])
    gpu = ExactInteractions(model, device="cuda", **kw).fit(X).explain(X[:16])
    np.testing.assert_allclose(_terms(gpu), _terms(cpu), rtol=0, atol=1e-10)
    assert next(model.parameters()).device.type == "cpu"  # the user's model is not moved


def test_image_patches_are_the_players():
    from sklxai.games.grouped import image_patch_groups

    X = np.random.default_rng(0).normal(size=(20, 1, 8, 8)).astype(np.float32)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    kw = dict(feature_groups=image_patch_groups((1, 8, 8), 4), device="cpu", n_background=5,
              random_state=0)
    exp = ExactInteractions(model, **kw).fit(X).explain(X[:2])
    phi = ExactShapley(model, **kw).fit(X).explain(X[:2]).values
    assert exp.values.shape == (2, 4, 4, 3) and exp.data.shape == (2, 4)
    np.testing.assert_allclose(exp.values.sum(axis=2), phi, rtol=0, atol=1e-10)
    # a linear model has no interactions, whatever the game
    np.testing.assert_allclose(exp.values[:, [0, 0, 1], [1, 2, 3]], 0, atol=1e-6)
