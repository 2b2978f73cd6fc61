"""Input validation: every refusal names what is wrong; accepted input comes back as float64."""

import numpy as np
import pytest

from sklxai.utils.validation import (
    check_positive_int,
    check_tabular,
    check_target,
    column_names,
    resolve_device,
)

# ---------------------------------------------------------------------------------- check_tabular


def test_accepts_numbers_and_returns_c_contiguous_float64():
    X = np.asfortranarray(np.arange(6, dtype=np.int32).reshape(3, 2))
    out = check_tabular(X)
    assert out.dtype == np.float64 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, [[0, 1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(check_tabular([[1, 2], [3, 4]]), [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(check_tabular(np.array([[True, False]])), [[1.0, 0.0]])


@pytest.mark.parametrize("bad, where", [(np.nan, "row 1, column 2"), (np.inf, "row 1, column 2"),
                                        (-np.inf, "row 1, column 2")])
def test_nan_and_inf_are_refused_with_their_position(bad, where):
    X = np.zeros((3, 4))
    X[1, 2] = bad
    X[2, 0] = bad
    with pytest.raises(ValueError, match=f"NaN or infinite.*{where}"):
        check_tabular(X)


def test_one_dimensional_input_suggests_reshape():
    with pytest.raises(ValueError, match=r"1-D.*reshape\(1, -1\) for a single row"):
        check_tabular(np.arange(3.0), name="X")


def test_three_dimensional_input_is_refused():
    with pytest.raises(ValueError, match=r"2-D.*\(2, 3, 4\)"):
        check_tabular(np.zeros((2, 3, 4)))


def test_empty_input():
    with pytest.raises(ValueError, match=r"0 sample\(s\) \(shape=\(0, 3\)\)"):
        check_tabular(np.zeros((0, 3)))
    assert check_tabular(np.zeros((0, 3)), allow_empty=True).shape == (0, 3)
    with pytest.raises(ValueError, match=r"0 feature\(s\)"):
        check_tabular(np.zeros((3, 0)))


def test_wrong_number_of_features_names_both_counts():
    with pytest.raises(ValueError, match="background has 3 features.*expecting 4"):
        check_tabular(np.zeros((2, 3)), name="background", n_features=4)
    with pytest.raises(ValueError, match="X has 5 features, but SimSHAP is expecting 4"):
        check_tabular(np.zeros((2, 5)), n_features=4, owner="SimSHAP")
    assert check_tabular(np.zeros((2, 4)), n_features=4).shape == (2, 4)


def test_none_and_ragged_and_complex_are_refused():
    with pytest.raises(ValueError, match="X is None"):
        check_tabular(None)
    with pytest.raises(ValueError, match="could not be converted"):
        check_tabular([[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match="complex"):
        check_tabular(np.ones((2, 2), dtype=complex))


def test_sparse_input_is_refused_with_a_fix():
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match=r"sparse.*toarray\(\)"):
        check_tabular(sparse.csr_matrix(np.eye(3)))


def test_strings():
    with pytest.raises(ValueError, match="must be numeric"):
        check_tabular(np.array([["1.0", "male"], ["2", "female"]]))
    with pytest.raises(ValueError, match="must be numeric"):
        check_tabular(np.array([[1.0, "male"]], dtype=object))
    # numeric strings and object arrays of numbers convert
    out = check_tabular(np.array([["1.5", "2"], ["-3", "4e1"]], dtype=object))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[1.5, 2.0], [-3.0, 40.0]])
    np.testing.assert_array_equal(check_tabular(np.array([["0.25", "7"]])), [[0.25, 7.0]])


# ---------------------------------------------------------------------------------- DataFrames


@pytest.fixture
def pd():
    return pytest.importorskip("pandas")


def test_dataframe_numeric(pd):
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": [True, False]})
    out = check_tabular(df)
    np.testing.assert_array_equal(out, [[1.0, 0.5, 1.0], [2.0, 1.5, 0.0]])
    np.testing.assert_array_equal(column_names(df), ["a", "b", "c"])
    assert column_names(out) is None


def test_dataframe_missing_and_extra_columns_are_named(pd):
    df = pd.DataFrame({"age": [1.0], "hours": [2.0], "zip": [3.0]})
    with pytest.raises(ValueError) as info:
        check_tabular(df, feature_names=["age", "income", "hours"])
    msg = str(info.value)
    assert "missing columns ['income']" in msg
    assert "unexpected columns ['zip']" in msg
    with pytest.raises(ValueError, match=r"missing columns \['hours'\]"):
        check_tabular(df[["age", "zip"]].rename(columns={"zip": "income"}),
                      feature_names=["age", "income", "hours"])
    with pytest.raises(ValueError, match=r"unexpected columns \['zip'\]"):
        check_tabular(df, feature_names=["age", "hours"])


def test_dataframe_reordered_columns_are_reordered(pd):
    df = pd.DataFrame({"c": [3.0, 30.0], "a": [1.0, 10.0], "b": [2.0, 20.0]})
    out = check_tabular(df, feature_names=np.array(["a", "b", "c"], dtype=object))
    np.testing.assert_array_equal(out, [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]])


def test_dataframe_string_columns_are_named(pd):
    df = pd.DataFrame({"age": [30, 40], "sex": ["m", "f"], "n": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"non-numeric columns \['sex'\]"):
        check_tabular(df)


def test_dataframe_nan_is_refused(pd):
    df = pd.DataFrame({"a": [1.0, np.nan], "b": [1.0, 2.0]})
    with pytest.raises(ValueError, match="row 1, column 0"):
        check_tabular(df)


# ---------------------------------------------------------------------------------- check_target


def test_target_none_and_ints():
    assert check_target(None, 3) is None
    assert check_target(2, 3) == 2
    assert check_target(np.int64(0), 3) == 0
    assert check_target(-1, 3) == 2  # negative indices count from the end
    for bad in (3, -4):
        with pytest.raises(ValueError, match="out of range.*3 output"):
            check_target(bad, 3)


def test_target_labels():
    assert check_target("yes", 2, output_names=["no", "yes"]) == 1
    assert check_target(">50K", 2, output_names=["<=50K", ">50K"]) == 1
    with pytest.raises(ValueError, match=r"'maybe'.*\['no', 'yes'\]"):
        check_target("maybe", 2, output_names=["no", "yes"])
    with pytest.raises(ValueError, match="'yes'"):
        check_target("yes", 2)
    # a bool is a label only among bool labels: True is not the output named 1
    assert check_target(True, 2, output_names=[False, True]) == 1
    assert check_target(np.bool_(False), 2, output_names=[False, True]) == 0
    with pytest.raises(ValueError, match="target=True"):
        check_target(True, 2, output_names=[0, 1])


def test_target_per_row():
    out = check_target([0, 2, 1], 3, n_rows=3)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [0, 2, 1])
    with pytest.raises(ValueError, match="2 entries but X has 3 rows"):
        check_target(np.array([0, 1]), 3, n_rows=3)
    with pytest.raises(ValueError, match="outside 0..2"):
        check_target(np.array([0, 3, 1]), 3, n_rows=3)
    with pytest.raises(ValueError, match="outside 0..2"):
        check_target(np.array([0, -1, 1]), 3, n_rows=3)
    with pytest.raises(ValueError, match="integer"):
        check_target(np.array([0.0, 1.0]), 3, n_rows=2)
    with pytest.raises(ValueError, match="1-D"):
        check_target(np.zeros((2, 2), dtype=int), 3)


# ---------------------------------------------------------------------------------- check_positive_int


def test_check_positive_int():
    assert check_positive_int(5, "n") == 5
    value = check_positive_int(np.int64(3), "n")
    assert value == 3 and type(value) is int
    assert check_positive_int(0, "n", minimum=0) == 0
    assert check_positive_int(None, "n", allow_none=True) is None
    with pytest.raises(ValueError, match="n_background must be >= 1; got 0"):
        check_positive_int(0, "n_background")
    with pytest.raises(ValueError, match=">= 2"):
        check_positive_int(1, "n", minimum=2)
    for bad in (1.5, 2.0, "3", True, None):
        with pytest.raises(TypeError, match="batch_size must be an int"):
            check_positive_int(bad, "batch_size")


# ---------------------------------------------------------------------------------- devices


def test_resolve_device():
    torch = pytest.importorskip("torch")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    with pytest.raises(ValueError, match="not a valid torch device"):
        resolve_device("gpu0")


def test_check_images_flattens_arrays_and_tensors():
    import torch

    from sklxai.utils import check_images

    X = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    rows, shape = check_images(torch.as_tensor(X))
    assert shape == (3, 4, 5) and rows.dtype == np.float64
    np.testing.assert_array_equal(rows, X.reshape(2, -1))
    rows, shape = check_images(X[:, 0].tolist())
    assert shape == (4, 5)
    with pytest.raises(ValueError, match=r"X has 5 dimensions"):
        check_images(X[None])
    with pytest.raises(ValueError, match=r"X has 0 sample"):
        check_images(X[:0])
    with pytest.raises(ValueError, match=r"fitted on images of shape \(1, 4, 5\).*X\[:, None\]"):
        check_images(X[:, 0], image_shape=(1, 4, 5), owner="IG")
    bad = X.copy()
    bad[1, 2, 3, 4] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite.*\(1, 2, 3, 4\)"):
        check_images(bad)


@pytest.mark.parametrize("seed", [0, 1, 42, np.int64(7), 2**31 - 2])
def test_seed_from_an_int_is_sklearns_first_draw_of_that_seed(seed):
    from sklearn.utils import check_random_state

    from sklxai.utils.validation import seed_from

    expected = int(check_random_state(int(seed)).randint(2**31 - 1))
    assert seed_from(seed) == expected and seed_from(seed) == expected  # cached: the same
    with pytest.raises(ValueError, match="Seed must be between"):
        seed_from(-1)
