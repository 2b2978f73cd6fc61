"""relative_error against its definition."""

import numpy as np
import pytest

from sklxai import Explanation
from sklxai.metrics import relative_error


def test_definition():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(10, 4, 3))
    est = ref + 0.1 * rng.normal(size=ref.shape)
    num = np.mean([np.sqrt(((est[i] - ref[i]) ** 2).sum()) for i in range(10)])
    den = np.mean([np.sqrt((ref[i] ** 2).sum()) for i in range(10)])
    assert relative_error(est, ref) == pytest.approx(num / den, rel=1e-12)
    assert relative_error(ref, ref) == 0.0
    assert relative_error(np.zeros_like(ref), ref) == pytest.approx(1.0)


def test_explanations_accepted():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 5, 3))
    ea = Explanation(a, np.zeros(5), np.zeros((5, 3)), list("xyz"))
    eb = Explanation(b, np.zeros(5), np.zeros((5, 3)), list("xyz"))
    assert relative_error(ea, eb) == relative_error(a, b)


def test_demo_reexport():
    from sklxai import demo

    assert demo.relative_error is relative_error


@pytest.mark.parametrize("values, reference, match", [
    (np.zeros((3, 2)), np.zeros((3, 3)), "shape"),
    (np.zeros((0, 2)), np.zeros((0, 2)), "at least one row"),
    ([["a"]], [[1.0]], "values"),
])
def test_bad_input(values, reference, match):
    with pytest.raises(ValueError, match=match):
        relative_error(values, reference)
