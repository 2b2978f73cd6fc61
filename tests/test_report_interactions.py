"""The HTML report of an InteractionExplanation: its interaction section and the row sums."""

import re
from itertools import combinations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from sklxai import Explanation, InteractionExplanation, make_report
from sklxai.report import _SECTIONS

FEATURES = ["age", "<b>bmi</b>", "bp", "s5"]
D, N = len(FEATURES), 15


def _sections(text):
    return dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', text, re.DOTALL))


def _table_rows(html, header=True):
    """The cells of each body row of the first table in ``html``, tags removed."""
    table = re.search(r"<table>(.*?)</table>", html, re.DOTALL).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.DOTALL)[1 if header else 0:]
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r)]
            for r in rows]


def _terms(k=None, seed=0, max_order=2):
    rng = np.random.default_rng(seed)
    sets = [s for order in range(1, max_order + 1) for s in combinations(range(D), order)]
    tail = () if k is None else (k,)
    scales = rng.permutation(np.linspace(0.2, 3.0, len(sets) * (k or 1)))
    terms = rng.normal(size=(N, len(sets), *tail)) * scales.reshape(len(sets), *tail)
    base = rng.normal(size=(N, *tail))
    exp = InteractionExplanation.from_terms(
        terms, sets, base_values=base, data=rng.normal(size=(N, D)), feature_names=FEATURES,
        output=base + terms.sum(axis=1), method="ExactInteractions", max_order=max_order,
        output_names=None if k is None else ["no", "yes"])
    return exp, terms, sets


def _brute(terms, sets):
    """Each player's row sum (own term, half of each pair's; (n, d)) and the pairs ranked by
    mean |term|: [(name, name, mean |term|, mean term)]."""
    sums = np.zeros((N, D))
    ranked = []
    for col, s in enumerate(sets):
        if len(s) == 1:
            sums[:, s[0]] += terms[:, col]
        elif len(s) == 2:
            sums[:, s[0]] += terms[:, col] / 2
            sums[:, s[1]] += terms[:, col] / 2
            ranked.append((FEATURES[s[0]], FEATURES[s[1]], np.mean(np.abs(terms[:, col])),
                           np.mean(terms[:, col])))
    return sums, sorted(ranked, key=lambda r: -r[2])


@pytest.mark.parametrize("k", [None, 2])
def test_report_shows_the_interactions_and_the_row_sums(k):
    exp, terms, sets = _terms(k=k)
    text = make_report(exp, title="interactions", max_display=4, dpi=40)
    sections = _sections(text)
    assert list(sections) == [sid for sid, _ in _SECTIONS]
    inter = sections["interactions"]
    assert [alt for alt in re.findall(r'alt="([^"]+)"', inter)] == [
        "interaction heatmap", "interaction network", "interaction dependence plot"]
    assert all(src.startswith("data:image/png;base64,")
               for src in re.findall(r'src="([^"]+)"', text))
    shown = terms if k is None else terms[..., 1]  # the last output by default
    sums, ranked = _brute(shown, sets)
    rows = _table_rows(inter)
    assert len(rows) == 4
    for row, (a, b, mean_abs, mean) in zip(rows, ranked):
        assert row[1:3] == [a.replace("<", "&lt;").replace(">", "&gt;"),
                            b.replace("<", "&lt;").replace(">", "&gt;")]
        assert float(row[3]) == pytest.approx(mean_abs, rel=1e-3)
        assert float(row[4]) == pytest.approx(mean, rel=1e-3, abs=1e-4)
    assert "<b>bmi</b>" not in text
    # the importance table: mean |row sum| per feature, largest first
    importance = _table_rows(sections["importance"])
    order = np.argsort(-np.abs(sums).mean(axis=0))
    assert [r[1] for r in importance] == [FEATURES[j].replace("<", "&lt;").replace(">", "&gt;")
                                          for j in order]
    for r, j in zip(importance, order):
        assert float(r[2]) == pytest.approx(np.abs(sums[:, j]).mean(), rel=1e-3)
    strongest = FEATURES[order[0]].replace("<", "&lt;").replace(">", "&gt;")
    assert f"{strongest} (the largest mean |row sum|)" in inter
    assert "all terms add up to the model output within" in inter


def test_report_picks_an_output_and_compares_row_sums_with_a_reference():
    exp, terms, sets = _terms(k=2, seed=4)
    reference = exp._replace(values=exp.values * 1.01)
    text = make_report(exp, output="no", reference=reference, max_display=2, dpi=40)
    sections = _sections(text)
    _, ranked = _brute(terms[..., 0], sets)
    assert [r[1:3] for r in _table_rows(sections["interactions"])] == [
        [a.replace("<", "&lt;").replace(">", "&gt;"), b.replace("<", "&lt;").replace(">", "&gt;")]
        for a, b, _, _ in ranked[:2]]
    accuracy = dict((r[0], r[1]) for r in _table_rows(sections["accuracy"], header=False))
    # every row sum scaled by 1.01: relative error 1 / 101 of the reference's norm
    assert float(accuracy["relative error (output shown)"].rstrip("%")) == pytest.approx(
        100 / 101, rel=1e-3)


def test_terms_of_order_three_are_counted_and_the_row_sums_carry_no_output():
    exp, _, _ = _terms(max_order=3, seed=2)
    text = make_report(exp, dpi=30)
    inter = _sections(text)["interactions"]
    assert "and 4 terms of order 3 to 3 (not drawn)" in inter
    assert "all terms add up to the model output within" in inter
    # the row sums do not add up to the output once order-3 terms exist: no gap claimed
    assert "model output not recorded" in _sections(text)["summary"]


def test_a_shapley_explanation_says_it_has_no_interactions():
    rng = np.random.default_rng(0)
    exp = Explanation(rng.normal(size=(5, D)), np.zeros(5), rng.normal(size=(5, D)), FEATURES)
    inter = _sections(make_report(exp, dpi=30))["interactions"]
    assert "holds no interaction terms" in inter and "<img" not in inter
