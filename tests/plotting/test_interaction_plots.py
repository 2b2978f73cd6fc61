"""Interaction plots: the data drawn equals the same quantities computed from the terms."""

import sys
from itertools import combinations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba

from sklxai import Explanation, InteractionExplanation, plotting
from sklxai.plotting import interaction_dependence, interaction_heatmap, interaction_network
from sklxai.plotting._plots import NON_NUMERIC_COLOR

D, N = 5, 24
NAMES = ["age", "bmi", "bp", "s1", "s2"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _terms(k=None, seed=0):
    """Random order-1 and order-2 terms (n, m[, k]) of clearly different sizes, their sets,
    and the explanation built from them."""
    rng = np.random.default_rng(seed)
    sets = [(i,) for i in range(D)] + list(combinations(range(D), 2))
    tail = () if k is None else (k,)
    scales = rng.permutation(np.linspace(0.1, 3.0, len(sets) * (k or 1)))
    terms = rng.normal(size=(N, len(sets), *tail)) * scales.reshape(len(sets), *tail)
    exp = InteractionExplanation.from_terms(
        terms, sets, base_values=np.zeros((N, *tail)), data=rng.normal(size=(N, D)),
        feature_names=NAMES, output_names=None if k is None else [f"o{j}" for j in range(k)])
    return exp, terms, sets


def _mean_abs(terms, sets):
    """(d, d) brute force: mean |term| of each pair off the diagonal, of each player on it."""
    out = np.zeros((D, D))
    for col, s in enumerate(sets):
        m = np.mean(np.abs(terms[:, col]))
        out[s[0], s[-1]] = out[s[-1], s[0]] = m
    return out


def _row_sums(terms, sets):
    """(n, d): a player's own term plus half of each of its pairs'."""
    out = np.zeros((N, D))
    for col, s in enumerate(sets):
        for p in s:
            out[:, p] += terms[:, col] / len(s)
    return out


@pytest.mark.parametrize("diagonal", [False, True])
def test_heatmap_draws_the_mean_absolute_terms_in_importance_order(diagonal):
    exp, terms, sets = _terms()
    ax = interaction_heatmap(exp, diagonal=diagonal)
    order = np.argsort(-np.abs(_row_sums(terms, sets)).mean(axis=0))
    assert [t.get_text() for t in ax.get_yticklabels()] == [NAMES[j] for j in order]
    assert [t.get_text() for t in ax.get_xticklabels()] == [NAMES[j] for j in order]
    drawn = ax.images[0].get_array()
    expected = _mean_abs(terms, sets)[np.ix_(order, order)]
    off = ~np.eye(D, dtype=bool)
    np.testing.assert_allclose(drawn.data[off], expected[off], rtol=1e-12)
    assert list(np.diagonal(drawn.mask)) == [not diagonal] * D
    if diagonal:
        np.testing.assert_allclose(np.diagonal(drawn.data), np.diagonal(expected), rtol=1e-12)
    assert not drawn.mask[off].any()


def test_heatmap_max_display_and_output():
    exp, terms, sets = _terms(k=2, seed=3)
    for output, k in ((None, 1), ("o0", 0), (1, 1)):
        ax = interaction_heatmap(exp, output=output, max_display=3, diagonal=True)
        order = np.argsort(-np.abs(_row_sums(terms[..., k], sets)).mean(axis=0))[:3]
        np.testing.assert_allclose(ax.images[0].get_array().data,
                                   _mean_abs(terms[..., k], sets)[np.ix_(order, order)],
                                   rtol=1e-12)
        assert ax.get_title().endswith(f": o{k}")


def _brute_partner(terms, sets, j):
    best, partner = -1.0, None
    for col, s in enumerate(sets):
        if len(s) == 2 and j in s:
            m = np.mean(np.abs(terms[:, col]))
            if m > best:
                best, partner = m, s[0] if s[1] == j else s[1]
    return partner


@pytest.mark.parametrize("feature", range(D))
def test_dependence_is_coloured_by_the_brute_force_strongest_partner(feature):
    exp, terms, sets = _terms(seed=feature)
    X = exp.data + 10.0  # X, when given, is what is drawn
    ax = interaction_dependence(exp, NAMES[feature], X=X)
    partner = _brute_partner(terms, sets, feature)
    points = ax.collections[0]
    np.testing.assert_array_equal(points.get_array(), X[:, partner])
    np.testing.assert_array_equal(points.get_offsets()[:, 0], X[:, feature])
    np.testing.assert_allclose(points.get_offsets()[:, 1], _row_sums(terms, sets)[:, feature],
                               rtol=1e-12, atol=1e-12)
    assert ax.figure.axes[1].get_ylabel() == NAMES[partner]  # the colour bar
    assert ax.get_title() == f"{NAMES[feature]}, coloured by {NAMES[partner]}"


def test_dependence_main_effect_a_chosen_colour_and_an_output():
    exp, terms, sets = _terms(k=2, seed=7)
    ax = interaction_dependence(exp, 1, show="main", color="s2", output="o0")
    np.testing.assert_array_equal(ax.collections[0].get_offsets()[:, 1], terms[:, 1, 0])
    np.testing.assert_array_equal(ax.collections[0].get_array(), exp.data[:, 4])
    ax = interaction_dependence(exp, "age")  # the last output
    assert ax.figure.axes[-1].get_ylabel() == NAMES[_brute_partner(terms[..., 1], sets, 0)]


def test_dependence_of_strings_and_bad_arguments():
    exp, _, _ = _terms()
    X = exp.data.astype(object)
    X[:, 0] = np.where(exp.data[:, 0] > 0, "high", "low")
    ax = interaction_dependence(exp, "age", X=X, color="age")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["high", "low"]
    assert np.ma.getmaskarray(ax.collections[0].get_array()).all()  # not numeric: grey
    ax.figure.canvas.draw()
    np.testing.assert_allclose(ax.collections[0].get_facecolors(),
                               [to_rgba(NON_NUMERIC_COLOR, 0.9)] * N)
    with pytest.raises(ValueError, match=r"X must hold the 24 explained rows.*\(24, 5\)"):
        interaction_dependence(exp, "age", X=exp.data[:3])
    with pytest.raises(ValueError, match="show must be 'row_sum' or 'main'"):
        interaction_dependence(exp, "age", show="total")
    with pytest.raises(KeyError, match="unknown feature 'nope'"):
        interaction_dependence(exp, "nope")
    shapley = Explanation(np.zeros((2, D)), np.zeros(2), np.zeros((2, D)), NAMES)
    for plot in (interaction_heatmap, interaction_network):
        with pytest.raises(TypeError, match="take an sklxai.InteractionExplanation"):
            plot(shapley)


def _edges(ax):
    """The pairs drawn, by node names read back from the node labels' positions."""
    where = {tuple(np.round(t.get_position(), 9)): t.get_text() for t in ax.texts}
    lines = next(c for c in ax.collections if isinstance(c, LineCollection))
    pairs = [frozenset(where[tuple(np.round(p, 9))] for p in seg)
             for seg in lines.get_segments()]
    return pairs, lines.get_linewidths()


@pytest.mark.parametrize("networkx", [True, False])
def test_network_edges_are_the_top_pairs(networkx, monkeypatch):
    if not networkx:
        monkeypatch.setitem(sys.modules, "networkx", None)  # import fails: circle by hand
    else:
        pytest.importorskip("networkx")
    monkeypatch.setitem(sys.modules, "pandas", None)  # the plots need no pandas
    exp, terms, sets = _terms(seed=11)
    strength = {frozenset(NAMES[p] for p in s): np.mean(np.abs(terms[:, col]))
                for col, s in enumerate(sets) if len(s) == 2}
    ranked = sorted(strength, key=strength.get, reverse=True)
    ax = interaction_network(exp, top=4)
    pairs, widths = _edges(ax)
    assert pairs == ranked[:4]
    assert list(np.argsort(-np.asarray(widths))) == [0, 1, 2, 3]
    np.testing.assert_allclose(np.asarray(widths) - 0.5,
                               7.5 * np.array([strength[p] for p in pairs]) / strength[pairs[0]],
                               rtol=1e-12)
    assert sorted(t.get_text() for t in ax.texts) == sorted(NAMES)
    if not networkx:
        pos = np.array([t.get_position() for t in ax.texts])
        np.testing.assert_allclose(np.hypot(pos[:, 0], pos[:, 1]), 1.0, rtol=1e-12)


def test_network_more_pairs_than_there_are_and_bad_top():
    exp, _, _ = _terms(k=2)
    pairs, _ = _edges(interaction_network(exp, top=100, output="o0"))
    assert len(pairs) == D * (D - 1) // 2
    with pytest.raises(ValueError, match="top must be an int >= 1"):
        interaction_network(exp, top=0)


@pytest.mark.parametrize("plot", ["interaction_heatmap", "interaction_dependence",
                                  "interaction_network"])
def test_missing_matplotlib_message(plot, monkeypatch):
    exp, _, _ = _terms()
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    args = ("age",) if plot == "interaction_dependence" else ()
    with pytest.raises(ImportError, match=r"pip install sklxai\[plot\]"):
        getattr(plotting, plot)(exp, *args)
