"""InteractionExplanation.concat: rows stacked in order, higher-order terms with them."""

import numpy as np
import pytest

from sklxai import Explanation, InteractionExplanation
from sklxai.explainers.interaction_indices import interaction_sets

D = 4


def _random(n=5, k=None, max_order=3, seed=0, output=True, std_errors=False):
    rng = np.random.default_rng(seed)
    sets = interaction_sets(D, max_order)
    tail = () if k is None else (k,)
    terms = rng.normal(size=(n, len(sets), *tail))
    return InteractionExplanation.from_terms(
        terms, sets, base_values=rng.normal(size=(n, *tail)), data=rng.normal(size=(n, D)),
        std_errors=np.abs(terms) / 10 if std_errors else None,
        feature_names=list("abcd"), output=rng.normal(size=(n, *tail)) if output else None,
        output_names=None if k is None else [f"o{j}" for j in range(k)], method="test",
        max_order=max_order)


@pytest.mark.parametrize("k", [None, 3])
def test_concat_of_slices_gives_back_the_explanation(k):
    exp = _random(n=7, k=k, std_errors=True)
    for cuts in ([slice(0, 2), slice(2, 7)], [slice(0, 1), [3, 5], slice(6, 7)]):
        parts = [exp[c] for c in cuts]
        both = InteractionExplanation.concat(parts)
        rows = np.concatenate([np.arange(7)[c] for c in cuts])
        for name in ("values", "base_values", "data", "output", "std_errors"):
            np.testing.assert_array_equal(getattr(both, name), getattr(exp, name)[rows])
        assert set(both.higher_order) == set(exp.higher_order) and len(exp.higher_order) == 4
        for key, v in exp.higher_order.items():
            np.testing.assert_array_equal(both.higher_order[key], v[rows])
        assert (both.feature_names, both.output_names, both.method, both.index,
                both.max_order) == (exp.feature_names, exp.output_names, "test", "k-SII", 3)
        assert both.efficiency_gap == pytest.approx(exp[rows].efficiency_gap, abs=0)
    whole = InteractionExplanation.concat([exp[:3], exp[3:]])
    assert not np.shares_memory(whole.values, exp.values)
    one = InteractionExplanation.concat(iter([exp]))
    np.testing.assert_array_equal(one.values, exp.values)


def test_concat_refuses_what_does_not_match():
    exp = _random()
    with pytest.raises(ValueError, match="empty"):
        InteractionExplanation.concat([])
    with pytest.raises(TypeError, match=r"explanations\[1\] is a Explanation"):
        InteractionExplanation.concat(
            [exp, Explanation(np.zeros((1, D)), np.zeros(1), np.zeros((1, D)), list("abcd"))])
    other = exp._replace(feature_names=list("wxyz"))
    with pytest.raises(ValueError, match=r"explanations\[1\] has feature_names"):
        InteractionExplanation.concat([exp, other])
    with pytest.raises(ValueError, match="index 'SII'"):
        InteractionExplanation.concat([exp, exp._replace(index="SII")])
    with pytest.raises(ValueError, match="higher-order sets"):
        InteractionExplanation.concat([exp, _random(max_order=2)._replace(max_order=3)])
    with pytest.raises(ValueError, match=r"explanations\[0\] has a model output but "
                                         r"explanations\[1\] has none"):
        InteractionExplanation.concat([exp, _random(output=False)])
    with pytest.raises(ValueError, match=r"explanations\[1\] has standard errors but "
                                         r"explanations\[0\] has none; give all of them "
                                         "standard errors, or none"):
        InteractionExplanation.concat([exp, _random(std_errors=True)])
    with pytest.raises(ValueError, match="values of shape"):
        InteractionExplanation.concat([_random(k=2), _random(k=3)._replace(output_names=[
            "o0", "o1"])])
