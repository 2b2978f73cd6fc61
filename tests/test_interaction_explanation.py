"""InteractionExplanation: shap's layout, slicing, ranking, export and files."""

from itertools import combinations

import numpy as np
import pytest
import torch

from sklxai import ExactInteractions, InteractionExplanation
from sklxai.explainers.interaction_indices import interaction_sets

D = 5


def _random(n=4, k=None, max_order=3, index="k-SII", seed=0):
    """An explanation of random terms, and the terms (n, m[, k]) in interaction_sets' order."""
    rng = np.random.default_rng(seed)
    sets = interaction_sets(D, max_order)
    terms = rng.normal(size=(n, len(sets)) + (() if k is None else (k,)))
    tail = () if k is None else (k,)
    exp = InteractionExplanation.from_terms(
        terms, sets, base_values=rng.normal(size=(n, *tail)), data=rng.normal(size=(n, D)),
        feature_names=list("abcde"), output=rng.normal(size=(n, *tail)),
        output_names=None if k is None else [f"o{j}" for j in range(k)], method="test",
        index=index, max_order=max_order)
    return exp, terms, sets


def test_layout_is_shaps_and_terms_come_back():
    exp, terms, sets = _random()
    for col, s in enumerate(sets):
        if len(s) == 1:
            np.testing.assert_array_equal(exp.values[:, s[0], s[0]], terms[:, col])
        elif len(s) == 2:
            np.testing.assert_array_equal(exp.values[:, s[0], s[1]], terms[:, col] / 2)
            np.testing.assert_array_equal(exp.values[:, s[1], s[0]], terms[:, col] / 2)
        else:
            np.testing.assert_array_equal(exp.higher_order[s], terms[:, col])
    back = exp.terms()
    assert list(back) == sets
    np.testing.assert_allclose(np.stack(list(back.values()), axis=1), terms, rtol=0, atol=0)


def test_efficiency_gap_counts_every_term_and_only_for_efficient_indices():
    exp, terms, _ = _random()
    expected = np.abs(terms.sum(axis=1) + exp.base_values - exp.output).max()
    assert exp.efficiency_gap == pytest.approx(expected, rel=1e-12)
    assert _random(index="SII")[0].efficiency_gap is None
    assert _random(index="BII")[0].efficiency_gap is None


def test_rows_are_sliced_with_their_higher_order_terms():
    exp, terms, sets = _random(n=6, k=2)
    for rows in (slice(1, 4), [0, 5], np.arange(6) % 2 == 0, 3):
        part = exp[rows]
        picked = np.arange(6)[rows] if not isinstance(rows, int) else np.array([rows])
        assert len(part) == len(picked)
        np.testing.assert_array_equal(part.values, exp.values[picked])
        np.testing.assert_array_equal(part.output, exp.output[picked])
        for s in exp.higher_order:
            np.testing.assert_array_equal(part.higher_order[s], exp.higher_order[s][picked])
    with pytest.raises(TypeError, match="sliced by rows only"):
        exp[:, 0]


def test_select_output_by_position_and_name():
    exp, terms, sets = _random(k=3)
    one = exp.select_output("o1")
    assert one.values.shape == (4, D, D) and one.output_names == ["o1"]
    np.testing.assert_array_equal(one.values, exp.select_output(-2).values)
    np.testing.assert_array_equal(one.base_values, exp.base_values[:, 1])
    np.testing.assert_array_equal(one.higher_order[(0, 1, 2)], terms[:, sets.index((0, 1, 2)), 1])
    assert one.select_output(0) is one
    with pytest.raises(KeyError, match="unknown output"):
        exp.select_output("o7")


def test_top_pairs_over_the_data_set_and_per_row_equal_a_brute_force_ranking():
    exp, terms, sets = _random(n=5)
    pairs = {s: terms[:, c] for c, s in enumerate(sets) if len(s) == 2}
    ranked = sorted(pairs, key=lambda s: -np.abs(pairs[s]).mean())[:3]
    top = exp.top_pairs(3)
    assert list(zip(top["i"], top["j"])) == ranked
    np.testing.assert_allclose(top["mean_abs"], [np.abs(pairs[s]).mean() for s in ranked])
    np.testing.assert_allclose(top["mean"], [pairs[s].mean() for s in ranked])
    assert list(top["feature_i"]) == ["abcde"[s[0]] for s in ranked]
    per_row = exp.top_pairs(2, per_row=True)
    assert len(per_row) == 10
    for row in range(5):
        best = sorted(pairs, key=lambda s: -abs(pairs[s][row]))[:2]
        mine = per_row[per_row["row"] == row]
        assert list(zip(mine["i"], mine["j"])) == best and list(mine["rank"]) == [1, 2]
        np.testing.assert_allclose(mine["value"], [pairs[s][row] for s in best])


def test_top_pairs_needs_one_output_and_a_positive_k():
    exp = _random(k=2)[0]
    with pytest.raises(ValueError, match="select_output"):
        exp.top_pairs(3)
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        exp.select_output(0).top_pairs(0)


def test_to_frame_is_long_with_the_full_terms():
    pytest.importorskip("pandas")
    exp, terms, sets = _random(n=3, k=2)
    frame = exp.to_frame()
    low = [s for s in sets if len(s) <= 2]
    assert list(frame.columns) == ["output", "row", "i", "j", "value"]
    assert len(frame) == 3 * 2 * len(low)
    for out in range(2):
        for c, s in enumerate(sets[:len(low)]):
            names = "abcde"[s[0]], "abcde"[s[-1]]
            got = frame[(frame["output"] == f"o{out}") & (frame["i"] == names[0])
                        & (frame["j"] == names[1])].sort_values("row")["value"]
            np.testing.assert_allclose(got, terms[:, c, out])
    assert list(_random(k=None)[0].to_frame().columns) == ["row", "i", "j", "value"]


def test_save_and_load_keep_every_field(tmp_path):
    exp = _random(k=2, index="STII")[0]
    exp.save(tmp_path / "exp.npz")
    back = InteractionExplanation.load(tmp_path / "exp.npz")
    np.testing.assert_array_equal(back.values, exp.values)
    np.testing.assert_array_equal(back.output, exp.output)
    assert (back.index, back.max_order, back.feature_names, back.output_names, back.method) == (
        "STII", 3, list("abcde"), ["o0", "o1"], "test")
    assert list(back.higher_order) == list(exp.higher_order)
    for s, v in exp.higher_order.items():
        np.testing.assert_array_equal(back.higher_order[s], v)
    one = _random(max_order=2)[0]._replace(output=None)
    one.save(tmp_path / "one.npz")
    again = InteractionExplanation.load(tmp_path / "one.npz")
    assert again.output is None and again.higher_order == {}


def test_bad_values_shape_is_refused():
    with pytest.raises(ValueError, match=r"values must have shape \(n, d, d\)"):
        InteractionExplanation(np.zeros((2, 3)), np.zeros(2), np.zeros((2, 3)), list("abc"))


def _product_explanation():
    """x0 * x1 + x2 against a background of random rows: k-SII of a small torch model."""
    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.one = torch.nn.Parameter(torch.ones((), dtype=torch.float64))  # float64 model

        def forward(self, X):
            return self.one * (X[:, :1] * X[:, 1:2] + X[:, 2:3])

    X = np.random.default_rng(0).normal(size=(40, 4))
    est = ExactInteractions(Model(), background=X[:5], device="cpu").fit(X)
    return est, X


def test_to_shap_feeds_shaps_summary_plot():
    shap = pytest.importorskip("shap")
    plt = pytest.importorskip("matplotlib.pyplot")
    est, X = _product_explanation()
    exp = est.explain(X[:20])
    values = exp.to_shap()
    assert values.shape == (20, 4, 4)
    shap.summary_plot(values, exp.data, feature_names=exp.feature_names, show=False)
    plt.close("all")
    many = _random(k=2)[0].to_shap()
    assert len(many) == 2 and many[1].shape == (4, D, D)


def test_to_shapiq_equals_shapiqs_exact_computer_on_the_same_game():
    shapiq = pytest.importorskip("shapiq")
    est, X = _product_explanation()
    exp = est.explain(X[:2])
    for row in range(2):
        # the game of this row, by calling the model on every masked background row
        def game(coalitions, row=row):
            out = []
            for c in coalitions.astype(bool):
                rows = est.background_.copy()
                rows[:, c] = X[row, c]
                out.append(np.mean(rows[:, 0] * rows[:, 1] + rows[:, 2]))
            return np.array(out)

        ref = shapiq.ExactComputer(game, n_players=4)(index="k-SII", order=2)
        mine = exp.to_shapiq(row)
        assert mine.index == "k-SII" and mine.max_order == 2
        for s in [(), *[c for r in (1, 2) for c in combinations(range(4), r)]]:
            assert abs(mine[s] - ref[s]) < 1e-10, s
    assert len(exp.to_shapiq()) == 2
