"""Plot tests: render to PNG and check the figures hold the expected elements."""

import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.colors import to_rgba

from sklxai import Explanation, plotting
from sklxai.plotting import bar, beeswarm, dependence, image, waterfall
from sklxai.plotting._plots import NEGATIVE_COLOR, POSITIVE_COLOR


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _save(ax, tmp_path, name="plot.png"):
    fig = ax.figure
    path = tmp_path / name
    fig.savefig(path)
    assert path.stat().st_size > 1000
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    return path


def _ytick_labels_top_down(ax):
    ticks = ax.get_yticks()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    return [lab for _, lab in sorted(zip(ticks, labels), key=lambda p: -p[0])]


def _bars_top_down(ax):
    rects = list(ax.patches)
    return sorted(rects, key=lambda r: -(r.get_y() + r.get_height() / 2))


@pytest.fixture
def exp2d():
    rng = np.random.default_rng(0)
    n, d = 40, 12
    scales = np.linspace(0.1, 2.0, d)[rng.permutation(d)]
    values = rng.normal(size=(n, d)) * scales
    data = rng.normal(size=(n, d))
    names = [f"f{j}" for j in range(d)]
    return Explanation(values, rng.normal(size=n), data, names, ["y"])


@pytest.fixture
def exp3d():
    rng = np.random.default_rng(1)
    n, d, k = 30, 5, 3
    values = rng.normal(size=(n, d, k)) * np.array([1.0, 5.0, 0.1])[None, None, :]
    # make output "b" order differ from output "c": feature 4 dominates "b"
    values[:, 4, 1] *= 20
    base = rng.normal(size=(n, k))
    data = rng.normal(size=(n, d))
    return Explanation(values, base, data, list("vwxyz"), ["a", "b", "c"])


@pytest.fixture
def exp_object():
    """Raw pipeline columns: strings and numbers in one object array."""
    rng = np.random.default_rng(2)
    n = 25
    data = np.empty((n, 3), dtype=object)
    data[:, 0] = rng.integers(18, 80, size=n)
    data[:, 1] = rng.choice(["Private", "State-gov", "Self-emp"], size=n)
    data[:, 2] = rng.normal(size=n)
    values = rng.normal(size=(n, 3)) * np.array([1.0, 3.0, 0.5])
    return Explanation(values, np.full(n, 0.3), data, ["age", "workclass", "score"])


# ---------------------------------------------------------------------- bar
def test_bar_orders_by_mean_abs_and_sums_the_rest(exp2d, tmp_path):
    ax = bar(exp2d, max_display=5)
    _save(ax, tmp_path)
    imp = np.abs(exp2d.values).mean(axis=0)
    order = np.argsort(-imp)
    labels = _ytick_labels_top_down(ax)
    assert labels[:4] == [f"f{j}" for j in order[:4]]
    assert labels[4] == "8 other features"
    bars = _bars_top_down(ax)
    assert len(bars) == 5
    widths = [r.get_width() for r in bars]
    np.testing.assert_allclose(widths[:4], imp[order[:4]], rtol=0, atol=1e-12)
    np.testing.assert_allclose(widths[4], imp[order[4:]].sum(), rtol=0, atol=1e-12)
    assert ax.get_title() == "Global importance: y"


def test_bar_without_rest_when_everything_fits(exp2d):
    ax = bar(exp2d, max_display=20)
    assert len(ax.patches) == 12
    assert not any("other" in lab for lab in _ytick_labels_top_down(ax))
    widths = [r.get_width() for r in _bars_top_down(ax)]
    assert widths == sorted(widths, reverse=True)


def test_bar_output_selection_by_name_and_default(exp3d, tmp_path):
    ax = bar(exp3d, output="b")
    _save(ax, tmp_path)
    imp_b = np.abs(exp3d.values[:, :, 1]).mean(axis=0)
    assert _ytick_labels_top_down(ax) == [list("vwxyz")[j] for j in np.argsort(-imp_b)]
    assert _ytick_labels_top_down(ax)[0] == "z"
    assert ax.get_title().endswith(": b")
    # default: the last output, the same as naming it or indexing it
    default = bar(exp3d)
    assert default.get_title().endswith(": c")
    by_index = bar(exp3d, output=2)
    assert _ytick_labels_top_down(default) == _ytick_labels_top_down(by_index)
    with pytest.raises(KeyError, match="unknown output"):
        bar(exp3d, output="nope")


@pytest.mark.parametrize("plot", [bar, beeswarm, waterfall])
def test_plots_pick_outputs_as_select_output_does(exp3d, plot):
    # a plot of output "b" is the plot of exp3d.select_output("b"), whatever names it
    for key in ("b", 1, -2, np.int64(1)):
        ax = plot(exp3d, output=key)
        same = plot(exp3d.select_output(1))
        assert ax.get_title() == same.get_title() and ax.get_title().endswith(": b")
        assert _ytick_labels_top_down(ax) == _ytick_labels_top_down(same)
        plt.close("all")
    for bad, error in ((3, IndexError), ("nope", KeyError), (True, TypeError)):
        with pytest.raises(error) as from_plot:
            plot(exp3d, output=bad)
        with pytest.raises(error) as from_explanation:
            exp3d.select_output(bad)
        assert str(from_plot.value) == str(from_explanation.value)


def test_image_of_an_array_picks_outputs_by_position():
    values = np.random.default_rng(2).normal(size=(2, 16, 3))
    for key, k in ((None, 2), (0, 0), (-2, 1)):
        ax = image(values, row=1, image_shape=(4, 4), output=key)
        np.testing.assert_allclose(ax.images[-1].get_array(), values[1, :, k].reshape(4, 4))
    with pytest.raises(IndexError, match="out of range for 3 outputs"):
        image(values, image_shape=(4, 4), output=3)


def test_bar_stacked_all_outputs(exp3d, tmp_path):
    ax = bar(exp3d, output="all")
    _save(ax, tmp_path)
    assert len(ax.patches) == 5 * 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]


def test_bar_on_given_axes(exp2d):
    _, ax = plt.subplots()
    assert bar(exp2d, ax=ax) is ax


# ---------------------------------------------------------------------- beeswarm
def test_beeswarm_one_collection_per_feature_and_colorbar(exp2d, tmp_path):
    ax = beeswarm(exp2d, max_display=6)
    _save(ax, tmp_path)
    assert len(ax.collections) == 6
    order = np.argsort(-np.abs(exp2d.values).mean(axis=0))
    assert _ytick_labels_top_down(ax) == [f"f{j}" for j in order[:6]]
    # each strip holds every row's attribution of its feature
    for coll in ax.collections:
        j = int(coll.get_label()[1:])
        np.testing.assert_allclose(np.sort(coll.get_offsets()[:, 0]),
                                   np.sort(exp2d.values[:, j]))
    # a colorbar labelled "feature value" with low/high ends
    cbar_axes = [a for a in ax.figure.axes if a is not ax]
    assert len(cbar_axes) == 1
    cax = cbar_axes[0]
    assert cax.get_ylabel() == "feature value"
    assert [t.get_text() for t in cax.get_yticklabels()] == ["low", "high"]


def test_beeswarm_object_data_is_grey_for_strings(exp_object, tmp_path):
    ax = beeswarm(exp_object)
    _save(ax, tmp_path)
    assert len(ax.collections) == 3
    by_name = {c.get_label(): c for c in ax.collections}
    grey = np.array(to_rgba("#999999"))
    work = by_name["workclass"].get_facecolors()
    assert np.allclose(work[:, :3], grey[:3])
    age = by_name["age"].get_facecolors()
    assert not np.allclose(age[:, :3], grey[:3])  # numbers in an object column still get colours
    assert len(np.unique(age.round(6), axis=0)) > 1


def test_beeswarm_3d_output_by_name(exp3d):
    ax = beeswarm(exp3d, output="b", max_display=2)
    assert len(ax.collections) == 2
    assert _ytick_labels_top_down(ax)[0] == "z"
    assert ax.get_title().endswith(": b")


# ---------------------------------------------------------------------- waterfall
def test_waterfall_ends_at_base_plus_sum_and_colours_by_sign(exp2d, tmp_path):
    row = 3
    ax = waterfall(exp2d, row, max_display=5)
    _save(ax, tmp_path)
    phi, base = exp2d.values[row], exp2d.base_values[row]
    bars = ax.patches
    assert len(bars) == 5
    # drawn bottom to top: each bar starts where the previous ended, from the base value
    start = base
    for rect in bars:
        assert abs(rect.get_x() - start) < 1e-9
        start = rect.get_x() + rect.get_width()
    assert abs(start - (base + phi.sum())) < 1e-9
    for rect in bars:
        want = POSITIVE_COLOR if rect.get_width() >= 0 else NEGATIVE_COLOR
        assert np.allclose(rect.get_facecolor(), to_rgba(want))
    # largest |phi| on top, labels "name = value", rest summed at the bottom
    order = np.argsort(-np.abs(phi))
    labels = _ytick_labels_top_down(ax)
    j = order[0]
    assert labels[0] == f"f{j} = {exp2d.data[row, j]:.4g}"
    assert labels[-1] == "8 other features"
    top = _bars_top_down(ax)
    assert abs(top[0].get_width() - phi[order[0]]) < 1e-12
    assert abs(top[-1].get_width() - phi[order[4:]].sum()) < 1e-12
    texts = [t.get_text() for t in ax.texts]
    assert any(t.startswith("f(x) = ") for t in texts)
    assert any(t.startswith("E[f(X)] = ") for t in texts)


def test_waterfall_one_row_slice_and_object_data(exp_object, tmp_path):
    ax = waterfall(exp_object[4])
    _save(ax, tmp_path)
    labels = _ytick_labels_top_down(ax)
    assert f"workclass = {exp_object.data[4, 1]}" in labels
    assert f"age = {exp_object.data[4, 0]}" in labels
    end = ax.patches[-1].get_x() + ax.patches[-1].get_width()
    assert abs(end - (0.3 + exp_object.values[4].sum())) < 1e-9


def test_waterfall_3d_output_by_name(exp3d):
    ax = waterfall(exp3d, 2, output="a")
    end = ax.patches[-1].get_x() + ax.patches[-1].get_width()
    want = exp3d.base_values[2, 0] + exp3d.values[2, :, 0].sum()
    assert abs(end - want) < 1e-9
    assert ax.get_title().endswith(": a")


# ---------------------------------------------------------------------- dependence
def test_dependence_numeric(exp2d, tmp_path):
    ax = dependence(exp2d, "f3")
    _save(ax, tmp_path)
    (coll,) = ax.collections
    xy = coll.get_offsets()
    np.testing.assert_allclose(xy[:, 0], exp2d.data[:, 3])
    np.testing.assert_allclose(xy[:, 1], exp2d.values[:, 3])
    assert ax.get_xlabel() == "f3"
    assert dependence(exp2d, 3).get_xlabel() == "f3"


def test_dependence_strings_as_category_positions(exp_object, tmp_path):
    ax = dependence(exp_object, "workclass")
    _save(ax, tmp_path)
    cats = sorted(set(exp_object.data[:, 1]))
    assert [t.get_text() for t in ax.get_xticklabels()] == cats
    xy = ax.collections[0].get_offsets()
    want = np.array([cats.index(v) for v in exp_object.data[:, 1]], dtype=float)
    assert np.all(np.abs(xy[:, 0] - want) <= 0.2)
    np.testing.assert_allclose(xy[:, 1], exp_object.values[:, 1])


def test_dependence_unknown_feature(exp2d):
    with pytest.raises(KeyError, match="unknown feature"):
        dependence(exp2d, "nope")


# ---------------------------------------------------------------------- image
def test_image_symmetric_limits_and_overlay(tmp_path):
    rng = np.random.default_rng(3)
    phi = rng.normal(size=(2, 64)) + 0.7  # skewed: limits must still be symmetric
    img = rng.uniform(0, 16, size=(2, 64))
    ax = image(phi, 1, image_shape=(8, 8), image=img[1])
    _save(ax, tmp_path)
    assert len(ax.images) == 2  # grayscale image under the heat map
    lo, hi = ax.images[-1].get_clim()
    assert lo == -hi
    assert np.isclose(hi, np.abs(phi[1]).max())
    np.testing.assert_allclose(ax.images[-1].get_array(), phi[1].reshape(8, 8))
    assert ax.images[0].get_cmap().name == "gray"


def test_image_from_explanation_with_outputs(tmp_path):
    rng = np.random.default_rng(4)
    values = rng.normal(size=(3, 16, 2))
    exp = Explanation(values, np.zeros((3, 2)), rng.normal(size=(3, 16)),
                      [f"p{i}" for i in range(16)], ["zero", "one"])
    ax = image(exp, 2, image_shape=(4, 4), output="zero")
    _save(ax, tmp_path)
    assert len(ax.images) == 1
    np.testing.assert_allclose(ax.images[-1].get_array(), values[2, :, 0].reshape(4, 4))
    lo, hi = ax.images[-1].get_clim()
    assert lo == -hi
    assert ax.get_title().endswith(": zero")


def test_image_shape_mismatch():
    with pytest.raises(ValueError, match="image_shape"):
        image(np.zeros((1, 10)), image_shape=(3, 3))


# ---------------------------------------------------------------------- extras
def test_public_names():
    assert set(plotting.__all__) == {"bar", "beeswarm", "waterfall", "dependence", "image",
                                     "interaction_heatmap", "interaction_dependence",
                                     "interaction_network"}
    assert plotting.__doc__


@pytest.mark.parametrize("plot", ["bar", "beeswarm", "waterfall", "dependence", "image"])
def test_missing_matplotlib_message(plot, exp2d, monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    args = {"dependence": ("f0",)}.get(plot, ())
    kwargs = {"image_shape": (3, 4)} if plot == "image" else {}
    with pytest.raises(ImportError, match=r"pip install sklxai\[plot\]"):
        getattr(plotting, plot)(exp2d, *args, **kwargs)


def test_image_reads_the_shape_of_images_channels_first():
    import torch

    rng = np.random.default_rng(0)
    values = rng.normal(size=(2, 3, 4, 5, 2))  # (n, C, H, W, k)
    exp = Explanation(values, np.zeros((2, 2)), rng.random((2, 3, 4, 5)),
                      [f"x{i}" for i in range(60)], output_names=["a", "b"],
                      feature_shape=(3, 4, 5))
    ax = image(exp, row=1, output="a", image=torch.as_tensor(exp.data[1]))
    np.testing.assert_allclose(ax.images[-1].get_array(), values[1, ..., 0].sum(axis=0))
    np.testing.assert_allclose(ax.images[0].get_array(), exp.data[1].mean(axis=0))
    ax = image(exp[1], output=1)
    np.testing.assert_allclose(ax.images[-1].get_array(), values[1, ..., 1].sum(axis=0))
    ax = image(torch.as_tensor(values[..., 0]), row=0)  # (n, C, H, W) tensor
    np.testing.assert_allclose(ax.images[-1].get_array(), values[0, ..., 0].sum(axis=0))
    ax = image(values[:, 0, :, :, 0])  # (n, H, W)
    np.testing.assert_allclose(ax.images[-1].get_array(), values[0, 0, :, :, 0])
    with pytest.raises(ValueError, match="need image_shape"):
        image(rng.normal(size=(2, 20)))
    plt.close("all")


# ---------------------------------------------------------------------- standard errors
def _error_segments(ax):
    """(centre x, half width, y) of every horizontal error bar drawn on ``ax``."""
    from matplotlib.collections import LineCollection

    out = []
    for coll in ax.collections:
        if isinstance(coll, LineCollection):
            for seg in coll.get_segments():
                (x0, y0), (x1, _) = seg
                out.append(((x0 + x1) / 2, (x1 - x0) / 2, y0))
    return sorted(out, key=lambda s: -s[2])  # top down


def test_bar_draws_the_mean_standard_error_of_each_feature(exp3d, tmp_path):
    errors = np.abs(exp3d.values) * 0.1 + 0.01
    exp = exp3d._replace(std_errors=errors)
    ax = bar(exp, output="b", max_display=3)
    segments = _error_segments(ax)
    assert len(segments) == 3
    shown = errors[:, :, 1]
    imp = np.abs(exp3d.values[:, :, 1]).mean(axis=0)
    order = np.argsort(-imp, kind="stable")
    want_half = [shown[:, order[0]].mean(), shown[:, order[1]].mean(),
                 shown[:, order[2:]].mean(axis=0).sum()]
    want_centre = [imp[order[0]], imp[order[1]], imp[order[2:]].sum()]
    np.testing.assert_allclose([s[1] for s in segments], want_half, rtol=1e-9)
    np.testing.assert_allclose([s[0] for s in segments], want_centre, rtol=1e-9)
    _save(ax, tmp_path)
    assert not _error_segments(bar(exp3d, output="b"))  # none without standard errors


def test_waterfall_draws_each_value_standard_error_at_its_bar_end(exp2d, tmp_path):
    errors = np.full(exp2d.values.shape, 0.05)
    errors[3] = np.arange(12) / 100 + 0.01
    exp = exp2d._replace(std_errors=errors)
    ax = waterfall(exp, 3, max_display=4)
    segments = _error_segments(ax)
    phi = exp2d.values[3]
    order = np.argsort(-np.abs(phi), kind="stable")
    want = [errors[3, j] for j in order[:3]] + [errors[3, order[3:]].sum()]
    np.testing.assert_allclose([s[1] for s in segments], want, rtol=1e-9)
    bars = _bars_top_down(ax)
    ends = [r.get_x() + r.get_width() for r in bars]
    np.testing.assert_allclose([s[0] for s in segments], ends, rtol=1e-9)
    one = waterfall(exp[3], max_display=4)  # a one-row slice carries its row's errors
    np.testing.assert_allclose([s[1] for s in _error_segments(one)], want, rtol=1e-9)
    _save(ax, tmp_path)
