"""Explanation: slicing by position and name, select_output, concat, efficiency gap, to_frame,
save/load, to_shap; subclasses' fields and diagnostics through all of them; the explainers'
hook that builds the explanation."""

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


# ---------------------------------------------------------------------------------- select_output


def assert_same(a, b):
    """Two explanations hold the same arrays (shape and dtype too), names and method."""
    for attr in ("values", "base_values", "data", "output"):
        x, y = getattr(a, attr), getattr(b, attr)
        if y is None:
            assert x is None, attr
            continue
        assert x.shape == y.shape and x.dtype == y.dtype, attr
        np.testing.assert_array_equal(x, y, err_msg=attr)
    assert a.feature_names == b.feature_names
    assert a.output_names == b.output_names
    assert a.method == b.method


@pytest.mark.parametrize("key, k", [(1, 1), ("yes", 1), (-1, 1), (np.int64(0), 0), ("no", 0)])
def test_select_output_is_the_output_slice(exp3, key, k):
    one = exp3.select_output(key)
    assert one.values.shape == (4, 3) and one.base_values.shape == (4,)
    np.testing.assert_array_equal(one.values, exp3.values[:, :, k])
    np.testing.assert_array_equal(one.base_values, exp3.base_values[:, k])
    np.testing.assert_array_equal(one.output, exp3.output[:, k])
    np.testing.assert_array_equal(one.data, exp3.data)
    assert one.output_names == [OUTPUTS[k]]
    assert one.feature_names == FEATURES and one.method == "Test"
    assert_same(one, exp3[:, :, key])


def test_select_output_after_row_or_feature_slicing(exp3):
    # one row (no row axis) and one feature (no feature axis) keep their output axis last
    assert_same(exp3[2].select_output("no"), exp3[2, :, "no"])
    assert exp3[2].select_output("no").values.shape == (3,)
    assert_same(exp3[:, "income"].select_output(1), exp3[:, "income", 1])
    assert_same(exp3[:, :, ["yes"]].select_output(0), exp3[:, :, "yes"])
    assert float(exp3[3, "age"].select_output("no").values) == exp3.values[3, 0, 0]


def test_select_output_keeps_the_efficiency_gap(exp3):
    # the gap of exp3 (0.5) is in row 1, output "yes"
    assert exp3.select_output("yes").efficiency_gap == pytest.approx(0.5, abs=1e-12)
    assert exp3.select_output("no").efficiency_gap == pytest.approx(0.0, abs=1e-12)
    assert exp3[1].select_output(1).efficiency_gap == pytest.approx(0.5, abs=1e-12)


def test_select_output_of_one_output_is_itself(exp2):
    for key in (0, -1, np.int64(0), "target"):
        assert exp2.select_output(key) is exp2
    assert exp2[1].select_output("target") is not None
    with pytest.raises(KeyError, match="'target'"):
        exp2.select_output("yes")
    with pytest.raises(KeyError, match="0, -1"):
        exp2.select_output(1)
    # an integer class label is the name of the one output a binary classifier explains
    pos = Explanation(exp2.values, exp2.base_values, exp2.data, FEATURES, output_names=[1])
    assert pos.select_output(1) is pos


def test_select_output_errors(exp3):
    with pytest.raises(KeyError, match=r"maybe.*\['no', 'yes'\]"):
        exp3.select_output("maybe")
    with pytest.raises(IndexError, match=r"out of range for 2 outputs"):
        exp3.select_output(2)
    with pytest.raises(TypeError, match="several"):
        exp3.select_output([0, 1])
    with pytest.raises(TypeError, match="several"):
        exp3.select_output(slice(None))
    with pytest.raises(TypeError, match="True"):
        exp3.select_output(True)


def test_select_output_names_and_positions():
    rng = np.random.RandomState(4)
    values = rng.randn(3, 2, 2)
    unnamed = Explanation(values, rng.randn(3, 2), rng.randn(3, 2), ["a", "b"])
    one = unnamed.select_output(1)
    assert one.output_names is None and one.output is None
    np.testing.assert_array_equal(one.values, values[:, :, 1])
    # ints are positions, as in exp[:, :, k]; an int label is picked by its position
    labelled = Explanation(values, rng.randn(3, 2), rng.randn(3, 2), ["a", "b"],
                           output_names=[3, 5])
    assert labelled.select_output(1).output_names == [5]
    assert labelled.select_output(labelled.output_names.index(5)).output_names == [5]
    with pytest.raises(IndexError, match="pass its position 1"):
        labelled.select_output(5)


# ---------------------------------------------------------------------------------- concat


@pytest.mark.parametrize("name", ["exp2", "exp3"])
def test_concat_of_slices_is_the_original(name, request):
    exp = request.getfixturevalue(name)
    assert_same(Explanation.concat([exp[:1], exp[1:3], exp[3:]]), exp)
    # one-row explanations without their row axis count as one row each
    assert_same(Explanation.concat([exp[i] for i in range(len(exp))]), exp)
    assert_same(Explanation.concat(iter([exp[:2], exp[2], exp[3:]])), exp)
    assert_same(Explanation.concat([exp]), exp)
    assert Explanation.concat([exp[:0], exp]).values.shape == exp.values.shape
    # the efficiency gap is that of all the rows
    assert Explanation.concat([exp[:2], exp[2:]]).efficiency_gap == exp.efficiency_gap


def test_concat_of_one_output_and_one_feature(exp3):
    yes = Explanation.concat([exp3[:2].select_output("yes"), exp3[2:].select_output("yes")])
    assert_same(yes, exp3.select_output("yes"))
    assert_same(Explanation.concat([exp3[:1, "age"], exp3[1, "age"], exp3[2:, "age"]]),
                exp3[:, "age"])


def test_concat_makes_new_arrays(exp2):
    both = Explanation.concat([exp2[:2], exp2[2:]])
    assert not np.shares_memory(both.values, exp2.values)
    single = Explanation.concat([exp2])
    assert single is not exp2 and not np.shares_memory(single.values, exp2.values)


def test_concat_object_data_and_no_output():
    data = np.array([[1.0, "a"], [None, "b"], [3.5, "c"]], dtype=object)
    exp = Explanation(np.arange(6.0).reshape(3, 2), np.zeros(3), data, ["x", "kind"])
    both = Explanation.concat([exp[:1], exp[1:]])
    assert both.data.dtype == object and both.output is None
    assert_same(both, exp)
    assert both.data[1, 0] is None


def test_concat_refuses_mismatches(exp2, exp3):
    with pytest.raises(ValueError, match=r"`explanations` is empty"):
        Explanation.concat([])
    with pytest.raises(TypeError, match=r"explanations\[1\] is a ndarray"):
        Explanation.concat([exp2, exp2.values])

    renamed = Explanation(exp2.values, exp2.base_values, exp2.data, ["age", "pay", "hours"],
                          output_names=["target"], output=exp2.output, method="Test")
    with pytest.raises(ValueError, match=r"explanations\[1\] has feature_names .*pay.*"
                                         r"same features"):
        Explanation.concat([exp2, renamed])
    with pytest.raises(ValueError, match=r"explanations\[1\] has feature_names"):
        Explanation.concat([exp2, exp2[:, ["hours", "age", "income"]]])
    with pytest.raises(ValueError, match=r"output_names \['yes'\].*\['no'\].*select_output"):
        Explanation.concat([exp3.select_output("no"), exp3.select_output("yes")])
    other = Explanation(exp2.values, exp2.base_values, exp2.data, FEATURES,
                        output_names=["target"], output=exp2.output, method="Other")
    with pytest.raises(ValueError, match=r"method 'Other'.*'Test'.*one explainer"):
        Explanation.concat([exp2, other])
    no_output = Explanation(exp2.values, exp2.base_values, exp2.data, FEATURES,
                            output_names=["target"], method="Test")
    with pytest.raises(ValueError, match=r"explanations\[0\] has a model output but "
                                         r"explanations\[1\] has none"):
        Explanation.concat([exp2, no_output])
    with pytest.raises(ValueError, match=r"explanations\[1\] has a model output but "
                                         r"explanations\[0\] has none"):
        Explanation.concat([no_output, exp2])
    # the same names, but (n, d, k) values against (n, d) ones
    flat = Explanation(exp3.values, exp3.base_values, exp3.data, FEATURES, method="Test")
    plain = Explanation(exp2.values, exp2.base_values, exp2.data, FEATURES, method="Test")
    with pytest.raises(ValueError, match=r"values of shape \(3,\) per row, but "
                                         r"explanations\[0\] has \(3, 2\)"):
        Explanation.concat([flat, plain])


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


def _image_explanation(k=None):
    rng = np.random.default_rng(0)
    shape = (3, 1, 2, 2) + (() if k is None else (k,))
    base = np.zeros(3) if k is None else np.zeros((3, k))
    values = rng.normal(size=shape)
    output = values.reshape(3, 4, *shape[4:]).sum(axis=1) + base
    return Explanation(values, base, rng.random((3, 1, 2, 2)), [f"x{i}" for i in range(4)],
                       output_names=None if k is None else list("abc"[:k]), output=output,
                       method="m", feature_shape=(1, 2, 2))


def test_image_explanation_rows_outputs_and_efficiency():
    exp = _image_explanation(k=2)
    assert exp.efficiency_gap < 1e-12
    assert exp[0].values.shape == (1, 2, 2, 2) and exp[0].efficiency_gap < 1e-12
    assert exp[1:].values.shape == (2, 1, 2, 2, 2) and exp[1:].data.shape == (2, 1, 2, 2)
    b = exp.select_output("b")
    assert b.values.shape == (3, 1, 2, 2) and b.efficiency_gap < 1e-12
    assert exp[0].select_output(1).values.shape == (1, 2, 2)
    with pytest.raises(IndexError, match="indexed by rows only"):
        exp[:, 0]


def test_image_explanation_flatten_frame_save_and_concat(tmp_path):
    exp = _image_explanation(k=2)
    flat = exp.flatten()
    assert flat.values.shape == (3, 4, 2) and flat.feature_shape is None
    assert flat.efficiency_gap < 1e-12
    assert exp.to_frame().shape == (3, 8)
    exp.save(tmp_path / "e.npz")
    back = Explanation.load(tmp_path / "e.npz")
    assert back.feature_shape == (1, 2, 2)
    np.testing.assert_array_equal(back.values, exp.values)
    both = Explanation.concat([exp[:1], exp[1], exp[2:]])
    np.testing.assert_array_equal(both.values, exp.values)
    with pytest.raises(ValueError, match="feature_shape"):
        Explanation.concat([exp, exp.flatten()])


# ---------------------------------------------------------------------------------- subclasses


class Tagged(Explanation):
    """An explanation with a list and an array per row, and a field of the whole."""

    _row_fields = ("notes", "scores")
    _fields = ("source",)

    def __init__(self, values, base_values, data, feature_names, output_names=None,
                 output=None, method=None, feature_shape=None, diagnostics=None, *, notes,
                 scores, source):
        super().__init__(values, base_values, data, feature_names, output_names, output,
                         method, feature_shape, diagnostics)
        self.notes, self.scores, self.source = notes, scores, source


@pytest.fixture
def tagged(exp3):
    return Tagged(exp3.values, exp3.base_values, exp3.data, FEATURES, OUTPUTS, exp3.output,
                  "Test", diagnostics={"gap": np.arange(4.0), "curve": np.ones((4, 2))},
                  notes=[("row", i) for i in range(4)], scores=np.arange(4) * 10,
                  source="unit")


@pytest.mark.parametrize("rows", [slice(1, 3), [3, 0], np.array([True, False, True, False])])
def test_slicing_rows_keeps_the_class_and_slices_the_row_fields(tagged, rows):
    picked = np.arange(4)[rows]
    part = tagged[rows]
    assert type(part) is Tagged and part.source == "unit"
    assert part.notes == [("row", i) for i in picked]
    np.testing.assert_array_equal(part.scores, picked * 10)
    np.testing.assert_array_equal(part.diagnostics["gap"], picked * 1.0)
    assert part.diagnostics["curve"].shape == (len(picked), 2)
    np.testing.assert_array_equal(part.values, tagged.values[picked])


def test_one_row_features_and_outputs_keep_the_fields(tagged):
    row = tagged[2]
    assert type(row) is Tagged and row.notes == ("row", 2) and row.scores == 20
    assert row.diagnostics["gap"] == 2.0
    feature = tagged[:, "income"]
    assert feature.notes == tagged.notes and feature.values.shape == (4, 2)
    yes = tagged.select_output("yes")
    assert type(yes) is Tagged and yes.notes == tagged.notes and yes.source == "unit"
    np.testing.assert_array_equal(yes.values, tagged.values[:, :, 1])
    np.testing.assert_array_equal(tagged[1:3, :, "no"].scores, [10, 20])
    assert tagged.flatten() is tagged  # one feature axis already


def test_concat_joins_the_row_fields_and_checks_the_others(tagged):
    both = Explanation.concat([tagged[3], tagged[:2], tagged[2:3]])
    assert type(both) is Tagged and both.source == "unit"
    assert both.notes == [("row", 3), ("row", 0), ("row", 1), ("row", 2)]
    np.testing.assert_array_equal(both.scores, [30, 0, 10, 20])
    np.testing.assert_array_equal(both.diagnostics["gap"], [3.0, 0.0, 1.0, 2.0])
    other = tagged._replace(source="elsewhere")
    with pytest.raises(ValueError, match="another source"):
        Explanation.concat([tagged, other])
    plain = Explanation(tagged.values, tagged.base_values, tagged.data, FEATURES, OUTPUTS,
                        tagged.output, "Test")
    with pytest.raises(ValueError, match="of class Explanation, but explanations\\[0\\] of class Tagged"):
        Explanation.concat([tagged, plain])
    no_curve = tagged._replace(diagnostics={"gap": np.arange(4.0)})
    with pytest.raises(ValueError, match="diagnostics"):
        Explanation.concat([tagged, no_curve])


def test_image_subclass_flatten_and_rows_keep_the_fields():
    img = _image_explanation(k=2)
    tagged = Tagged(img.values, img.base_values, img.data, img.feature_names, img.output_names,
                    img.output, img.method, img.feature_shape, notes=["a", "b", "c"],
                    scores=np.array([1, 2, 3]), source="img")
    flat = tagged.flatten()
    assert type(flat) is Tagged and flat.values.shape == (3, 4, 2) and flat.notes == tagged.notes
    assert tagged[1:].notes == ["b", "c"] and tagged[0].notes == "a"
    assert tagged[0].select_output("b").notes == "a"


def test_diagnostics_are_saved_and_loaded(tmp_path, exp2):
    gaps = np.array([0.1, 0.2, 0.3, 0.4])
    exp = exp2._replace(diagnostics={"completeness_gap": gaps, "steps": np.arange(4)})
    assert exp2.diagnostics == {}
    exp.save(tmp_path / "d.npz")
    back = Explanation.load(tmp_path / "d.npz")
    assert sorted(back.diagnostics) == ["completeness_gap", "steps"]
    np.testing.assert_array_equal(back.diagnostics["completeness_gap"], gaps)
    np.testing.assert_array_equal(back[1:3].diagnostics["steps"], [1, 2])


# ---------------------------------------------------------------------------------- the hook


class Scaled(Explanation):
    """What ``Doubling`` returns: the explanation and the scale it used."""

    _fields = ("scale",)

    def __init__(self, values, base_values, data, feature_names, output_names=None,
                 output=None, method=None, feature_shape=None, diagnostics=None, *, scale):
        super().__init__(values, base_values, data, feature_names, output_names, output,
                         method, feature_shape, diagnostics)
        self.scale = scale


def _doubling_class():
    from sklxai import BaseExplainer

    class Doubling(BaseExplainer):
        """phi = 2 x w for a linear model, with f(x) - f(0) per row as a diagnostic."""

        def _explain(self, X, rng):
            fx = self.adapter_.predict(X)
            f0 = self.adapter_.predict(np.zeros_like(X[:1]))
            values = 2.0 * (X[:, :, None] * self.model_.coef_[None, :, None])
            base = np.broadcast_to(f0, fx.shape).copy()
            return values, base, fx, {"diagnostics": {"rise": (fx - f0)[:, 0]}}

        def _make_explanation(self, X, **fields):
            return Scaled(**fields, scale=2.0)

    return Doubling


def test_explainers_build_their_explanation_through_the_hook():
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    w = np.array([1.0, -2.0, 0.5])
    model = LinearRegression().fit(X, X @ w + 1.0)
    est = _doubling_class()(model, device="cpu").fit(X)
    fitted = dict(vars(est))
    exp = est.explain(X[:4])
    assert vars(est) == fitted  # explain writes nothing on the explainer
    assert type(exp) is Scaled and exp.scale == 2.0 and exp.method == "Doubling"
    np.testing.assert_allclose(exp.values, 2.0 * X[:4] * model.coef_)
    np.testing.assert_allclose(exp.diagnostics["rise"], X[:4] @ model.coef_, atol=1e-12)
    np.testing.assert_allclose(exp[1:].diagnostics["rise"], X[1:4] @ model.coef_, atol=1e-12)
    np.testing.assert_allclose(est.transform(X[:4]), exp.values)
    assert type(exp[0]) is Scaled and exp[0].scale == 2.0


def test_a_hook_returning_the_wrong_number_of_items_is_named():
    from sklearn.linear_model import LinearRegression

    class Broken(_doubling_class()):
        def _explain(self, X, rng):
            return super()._explain(X, rng)[:2]

    X = np.random.default_rng(1).normal(size=(10, 2))
    est = Broken(LinearRegression().fit(X, X[:, 0]), device="cpu").fit(X)
    with pytest.raises(TypeError, match="Broken._explain returned 2 items"):
        est.explain(X[:2])


# ---------------------------------------------------------------------------------- std_errors


def _with_errors(exp):
    """``exp`` with standard errors that encode their own position (values * 10 + 100)."""
    return exp._replace(std_errors=np.abs(exp.values) * 10 + 100)


def _errors_follow_values(part):
    np.testing.assert_array_equal(part.std_errors, np.abs(part.values) * 10 + 100)


@pytest.mark.parametrize("key", [1, slice(1, 3), np.array([True, False, False, True]),
                                 (slice(None), "income"), (slice(None), ["hours", "age"]),
                                 (0, slice(None), "yes"), (slice(None), slice(None), 0),
                                 (2, 1)])
def test_std_errors_are_sliced_as_values(exp3, key):
    exp = _with_errors(exp3)
    part = exp[key]
    assert part.std_errors.shape == part.values.shape
    _errors_follow_values(part)


def test_std_errors_through_select_output_flatten_and_concat(exp3):
    exp = _with_errors(exp3)
    for part in (exp.select_output("yes"), exp[0].select_output(0),
                 exp[:, "age"].select_output(-1)):
        _errors_follow_values(part)
    joined = Explanation.concat([exp[:1], exp[1], exp[2:]])
    np.testing.assert_array_equal(joined.std_errors, exp.std_errors)
    img = Explanation(np.arange(16.0).reshape(2, 1, 2, 4), np.zeros(2),
                      np.zeros((2, 1, 2, 4)), [f"p{i}" for i in range(8)],
                      feature_shape=(1, 2, 4), std_errors=np.arange(16.0).reshape(2, 1, 2, 4))
    flat = img.flatten()
    np.testing.assert_array_equal(flat.std_errors, np.arange(16.0).reshape(2, 8))
    np.testing.assert_array_equal(img[1].std_errors, np.arange(8.0, 16.0).reshape(1, 2, 4))


def test_concat_refuses_mixing_explanations_with_and_without_std_errors(exp2):
    with pytest.raises(ValueError, match=r"explanations\[1\] has standard errors but "
                                         r"explanations\[0\] has none"):
        Explanation.concat([exp2[:2], _with_errors(exp2)[2:]])


def test_std_errors_default_none_and_kept_by_save_load(tmp_path, exp3):
    assert exp3.std_errors is None and exp3[0].std_errors is None
    exp = _with_errors(exp3)
    exp.save(tmp_path / "e.npz")
    back = Explanation.load(tmp_path / "e.npz")
    np.testing.assert_array_equal(back.std_errors, exp.std_errors)
    exp3.save(tmp_path / "none.npz")
    assert Explanation.load(tmp_path / "none.npz").std_errors is None


def test_to_shap_maps_std_errors_to_error_std(exp3):
    pytest.importorskip("shap")
    exp = _with_errors(exp3)
    np.testing.assert_array_equal(exp.to_shap().error_std, exp.std_errors)
    np.testing.assert_array_equal(exp.select_output(1).to_shap().error_std,
                                  exp.std_errors[:, :, 1])
    assert exp3.to_shap().error_std is None
