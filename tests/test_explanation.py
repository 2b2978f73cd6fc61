"""Explanation: slicing by position and name, efficiency gap, to_frame, save/load, to_shap."""

import numpy as np
import pytest

from sklxai import Explanation

FEATURES = ["age", "income", "hours"]
OUTPUTS = ["no", "yes"]


@pytest.fixture
def exp2():
    rng = np.random.RandomState(0)
    values = rng.randn(4, 3)
    base = rng.randn(4)
    data = rng.randn(4, 3)
    output = values.sum(axis=1) + base
    output[2] += 0.25  # one row off by a known amount
    return Explanation(values, base, data, FEATURES, output_names=["target"], output=output,
                       method="Test")


@pytest.fixture
def exp3():
    rng = np.random.RandomState(1)
    values = rng.randn(4, 3, 2)
    base = rng.randn(4, 2)
    data = rng.randn(4, 3)
    output = values.sum(axis=1) + base
    output[1, 1] -= 0.5
    return Explanation(values, base, data, FEATURES, output_names=OUTPUTS, output=output,
                       method="Test")


# ---------------------------------------------------------------------------------- slicing, 2-D


def test_row_slicing_2d(exp2):
    one = exp2[1]
    np.testing.assert_array_equal(one.values, exp2.values[1])
    assert one.values.shape == (3,)
    assert float(one.base_values) == exp2.base_values[1]
    np.testing.assert_array_equal(one.data, exp2.data[1])
    assert one.feature_names == FEATURES
    assert one.method == "Test"

    last = exp2[-1]
    np.testing.assert_array_equal(last.values, exp2.values[3])

    sub = exp2[1:3]
    assert len(sub) == 2
    np.testing.assert_array_equal(sub.values, exp2.values[1:3])
    np.testing.assert_array_equal(sub.output, exp2.output[1:3])

    picked = exp2[np.array([True, False, False, True])]
    np.testing.assert_array_equal(picked.values, exp2.values[[0, 3]])
    np.testing.assert_array_equal(picked.base_values, exp2.base_values[[0, 3]])


def test_feature_slicing_by_name_and_index_2d(exp2):
    col = exp2[:, "income"]
    np.testing.assert_array_equal(col.values, exp2.values[:, 1])
    np.testing.assert_array_equal(col.data, exp2.data[:, 1])
    assert col.feature_names == ["income"]
    np.testing.assert_array_equal(exp2[:, 1].values, col.values)

    two = exp2[1:3, ["hours", "age"]]
    np.testing.assert_array_equal(two.values, exp2.values[1:3][:, [2, 0]])
    np.testing.assert_array_equal(two.data, exp2.data[1:3][:, [2, 0]])
    assert two.feature_names == ["hours", "age"]

    cell = exp2[2, "hours"]
    assert float(cell.values) == exp2.values[2, 2]
    assert float(cell.data) == exp2.data[2, 2]


def test_unknown_names_raise_key_error_naming_them(exp2, exp3):
    with pytest.raises(KeyError, match="salary"):
        exp2[:, "salary"]
    with pytest.raises(KeyError, match="salary"):
        exp2[:, ["age", "salary"]]
    with pytest.raises(KeyError, match="maybe"):
        exp3[:, :, "maybe"]


def test_too_many_indices(exp2):
    with pytest.raises(IndexError):
        exp2[0, 0, 0]


# ---------------------------------------------------------------------------------- slicing, 3-D


def test_output_slicing_3d(exp3):
    yes = exp3[:, :, "yes"]
    np.testing.assert_array_equal(yes.values, exp3.values[:, :, 1])
    np.testing.assert_array_equal(yes.base_values, exp3.base_values[:, 1])
    np.testing.assert_array_equal(yes.output, exp3.output[:, 1])
    np.testing.assert_array_equal(yes.data, exp3.data)
    assert yes.output_names == ["yes"]
    np.testing.assert_array_equal(exp3[:, :, 1].values, yes.values)

    row = exp3[2]
    assert row.values.shape == (3, 2)
    np.testing.assert_array_equal(row.values, exp3.values[2])
    np.testing.assert_array_equal(row.base_values, exp3.base_values[2])
    assert row.output_names == OUTPUTS

    feat = exp3[:, "hours"]
    np.testing.assert_array_equal(feat.values, exp3.values[:, 2, :])
    assert feat.feature_names == ["hours"]

    cell = exp3[3, "age", "no"]
    assert float(cell.values) == exp3.values[3, 0, 0]
    assert float(cell.base_values) == exp3.base_values[3, 0]

    sub = exp3[[0, 2], ["income", "age"], ["yes"]]
    np.testing.assert_array_equal(sub.values, exp3.values[[0, 2]][:, [1, 0]][:, :, [1]])
    assert sub.output_names == ["yes"]


def test_output_slicing_without_output_names():
    values = np.arange(12.0).reshape(2, 3, 2)
    exp = Explanation(values, np.zeros((2, 2)), np.zeros((2, 3)), FEATURES)
    np.testing.assert_array_equal(exp[:, :, 1].values, values[:, :, 1])
    assert exp[:, :, 1].output_names is None


# ---------------------------------------------------------------------------------- efficiency


def test_efficiency_gap(exp2, exp3):
    assert exp2.efficiency_gap == pytest.approx(0.25, abs=1e-12)
    assert exp3.efficiency_gap == pytest.approx(0.5, abs=1e-12)
    # after slicing rows or outputs the gap is that of what is left
    assert exp2[2].efficiency_gap == pytest.approx(0.25, abs=1e-12)
    assert exp2[0].efficiency_gap == pytest.approx(0.0, abs=1e-12)
    assert exp2[[0, 1, 3]].efficiency_gap == pytest.approx(0.0, abs=1e-12)
    assert exp3[1].efficiency_gap == pytest.approx(0.5, abs=1e-12)
    assert exp3[0].efficiency_gap == pytest.approx(0.0, abs=1e-12)
    assert exp3[:, :, "no"].efficiency_gap == pytest.approx(0.0, abs=1e-12)
    assert exp3[1, :, "yes"].efficiency_gap == pytest.approx(0.5, abs=1e-12)
    no_output = Explanation(exp2.values, exp2.base_values, exp2.data, FEATURES)
    assert no_output.efficiency_gap is None


def test_efficiency_gap_by_hand():
    rng = np.random.RandomState(3)
    values, base = rng.randn(5, 4), rng.randn(5)
    output = rng.randn(5)
    exp = Explanation(values, base, rng.randn(5, 4), list("abcd"), output=output)
    expected = max(abs(values[i].sum() + base[i] - output[i]) for i in range(5))
    assert exp.efficiency_gap == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------------- to_frame


def test_to_frame_2d(exp2):
    pytest.importorskip("pandas")
    df = exp2.to_frame()
    assert list(df.columns) == FEATURES
    assert df.shape == (4, 3)
    np.testing.assert_array_equal(df.to_numpy(), exp2.values)
    np.testing.assert_array_equal(df["income"].to_numpy(), exp2.values[:, 1])

    one = exp2[2].to_frame()
    assert one.shape == (1, 3) and list(one.columns) == FEATURES
    np.testing.assert_array_equal(one.to_numpy()[0], exp2.values[2])

    col = exp2[:, "hours"].to_frame()
    assert list(col.columns) == ["hours"]
    np.testing.assert_array_equal(col["hours"].to_numpy(), exp2.values[:, 2])


def test_to_frame_3d_has_output_feature_multiindex(exp3):
    pd = pytest.importorskip("pandas")
    df = exp3.to_frame()
    assert isinstance(df.columns, pd.MultiIndex)
    assert list(df.columns.names) == ["output", "feature"]
    assert df.shape == (4, 6)
    assert list(df.columns) == [(o, f) for o in OUTPUTS for f in FEATURES]
    for k, o in enumerate(OUTPUTS):
        for j, f in enumerate(FEATURES):
            np.testing.assert_array_equal(df[(o, f)].to_numpy(), exp3.values[:, j, k])
    np.testing.assert_array_equal(df["yes"].to_numpy(), exp3.values[:, :, 1])

    row = exp3[1].to_frame()
    assert row.shape == (1, 6)
    assert row[("yes", "income")].iloc[0] == exp3.values[1, 1, 1]

    yes = exp3[:, :, "yes"].to_frame()
    assert list(yes.columns) == FEATURES
    np.testing.assert_array_equal(yes.to_numpy(), exp3.values[:, :, 1])


# ---------------------------------------------------------------------------------- save / load


def test_save_load_round_trip(tmp_path, exp3):
    path = tmp_path / "exp.npz"
    exp3.save(path)
    back = Explanation.load(path)
    for attr in ("values", "base_values", "data", "output"):
        np.testing.assert_array_equal(getattr(back, attr), getattr(exp3, attr))
    assert back.feature_names == FEATURES
    assert back.output_names == OUTPUTS
    assert back.method == "Test"
    assert back.efficiency_gap == pytest.approx(0.5, abs=1e-12)


def test_save_load_numpy_labels_and_no_output(tmp_path):
    rng = np.random.RandomState(2)
    exp = Explanation(rng.randn(3, 2, 2), rng.randn(3, 2), rng.randn(3, 2), ["a", "b"],
                      output_names=list(np.array([0, 1], dtype=np.int64)))
    path = tmp_path / "labels.npz"
    exp.save(path)
    back = Explanation.load(path)
    assert back.output_names == [0, 1]
    assert back.output is None and back.method is None
    np.testing.assert_array_equal(back.values, exp.values)

    plain = Explanation(rng.randn(2, 2), rng.randn(2), rng.randn(2, 2), ["a", "b"])
    plain.save(tmp_path / "plain.npz")
    back = Explanation.load(tmp_path / "plain.npz")
    assert back.output_names is None
    np.testing.assert_array_equal(back.base_values, plain.base_values)


# ---------------------------------------------------------------------------------- to_shap


def test_to_shap(exp3, exp2):
    shap = pytest.importorskip("shap")
    sh = exp3.to_shap()
    assert isinstance(sh, shap.Explanation)
    np.testing.assert_array_equal(sh.values, exp3.values)
    np.testing.assert_array_equal(sh.base_values, exp3.base_values)
    np.testing.assert_array_equal(sh.data, exp3.data)
    assert list(sh.feature_names) == FEATURES
    assert list(sh.output_names) == OUTPUTS

    # shap's own name-based slicing finds the same cells
    np.testing.assert_array_equal(sh[:, "income", "yes"].values, exp3.values[:, 1, 1])
    sh2 = exp2.to_shap()  # one output, named "target"
    np.testing.assert_array_equal(sh2.values, exp2.values)
    assert sh2.output_names == "target"
    np.testing.assert_array_equal(sh2[:, "income"].values, exp2.values[:, 1])
    np.testing.assert_array_equal(exp3[:, :, "no"].to_shap()[:, "age"].values,
                                  exp3.values[:, 0, 0])


def test_repr_and_len(exp3):
    assert len(exp3) == 4
    assert exp3.shape == (4, 3, 2)
    assert "Test" in repr(exp3) and "(4, 3, 2)" in repr(exp3)
