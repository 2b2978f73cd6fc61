"""I-GOS / iGOS++ on hand-built models whose answer is known: shapes, orientation, targets,
baselines, parameters, determinism and the plugin registration."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklxai_igos import IGOS, IGOSPlusPlus

import sklxai

BOTH = [IGOS, IGOSPlusPlus]
FAST = {"n_iter": 4, "ig_steps": 6, "device": "cpu"}


class Region(torch.nn.Module):
    """One output, ``sigmoid(sum of the pixels in rows r, columns c of a 1x8x8 image - bias)``:
    only those pixels can matter."""

    def __init__(self, rows=slice(0, 3), cols=slice(0, 3), bias=2.0):
        super().__init__()
        sel = torch.zeros(8, 8, dtype=torch.float64)
        sel[rows, cols] = 1.0
        self.register_buffer("sel", sel.flatten())
        self.bias = bias
        # a float64 parameter makes the adapter feed float64 inputs
        self.unused = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, X):
        return torch.sigmoid(X @ self.sel - self.bias)[:, None]


def _softmax_linear(d=6, k=3, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, k), torch.nn.Softmax(dim=1)).double()


def _images(n=6, seed=0):
    return np.random.default_rng(seed).uniform(0.3, 1.0, size=(n, 64))


def _corner_indices(rows, cols):
    grid = np.arange(64).reshape(8, 8)
    return set(grid[rows, cols].ravel())


# ------------------------------------------------------------------ known answers
@pytest.mark.parametrize("cls", BOTH)
def test_saliency_concentrates_on_the_pixels_the_model_reads(cls):
    X = _images()
    est = cls(Region(), image_shape=(1, 8, 8), mask_size=8, baseline="zeros", l1=0.1, tv=0.0,
              **FAST).fit(X)
    exp = est.explain(X)
    corner = _corner_indices(slice(0, 3), slice(0, 3))
    outside = sorted(set(range(64)) - corner)
    assert exp.values.shape == (6, 64)
    for row in exp.values:
        assert set(np.argsort(-row, kind="stable")[:9]) == corner
    # the score has no gradient outside the corner, and L1 keeps the mask at 1 there
    np.testing.assert_array_equal(exp.values[:, outside], 0.0)
    assert (exp.values[:, sorted(corner)] > 0).all()
    # orientation: a saliency in [0, 1], the complement of the mask
    assert ((exp.values >= 0) & (exp.values <= 1)).all()
    np.testing.assert_allclose(exp.values, 1.0 - exp.diagnostics["mask"])


@pytest.mark.parametrize("cls", BOTH)
def test_low_resolution_mask_is_upsampled_onto_the_region(cls):
    # a 4x4 mask, bilinearly upsampled: the most salient pixels are in the model's quadrant
    model = Region(rows=slice(0, 4), cols=slice(0, 4), bias=4.0)
    X = _images(seed=1)
    est = cls(model, image_shape=(1, 8, 8), mask_size=4, baseline="zeros", l1=0.1, **FAST)
    exp = est.fit(X).explain(X)
    assert est.mask_shape_ == (4, 4)
    assert est.tv_ == pytest.approx(20.0 * 16 / 784)  # the resolution-scaled default
    quadrant = _corner_indices(slice(0, 4), slice(0, 4))
    far = sorted(_corner_indices(slice(5, 8), slice(5, 8)))
    for row in exp.values:
        assert set(np.argsort(-row, kind="stable")[:8]) <= quadrant
    assert exp.values[:, sorted(quadrant)].mean() > 5 * exp.values[:, far].mean()


def test_igospp_values_are_one_minus_the_product_of_both_masks():
    X = _images(seed=2)
    est = IGOSPlusPlus(Region(), image_shape=(1, 8, 8), mask_size=4, baseline="zeros", l1=0.1,
                       **FAST).fit(X)
    fitted = dict(vars(est))
    exp = est.explain(X)
    assert vars(est) == fitted  # the masks are the explanation's, not the explainer's
    deletion, insertion = exp.diagnostics["deletion_mask"], exp.diagnostics["insertion_mask"]
    np.testing.assert_allclose(exp.values, 1.0 - deletion * insertion)
    np.testing.assert_allclose(exp.diagnostics["mask"], deletion * insertion)
    # both masks moved: deleting and inserting the corner both matter for this model
    assert (deletion < 1).any() and (insertion < 1).any()
    np.testing.assert_array_equal(exp[2:4].diagnostics["deletion_mask"], deletion[2:4])


@pytest.mark.parametrize("cls", BOTH)
def test_tabular_mode_masks_features_of_a_small_mlp(cls):
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2),
                              torch.nn.Softmax(dim=1)).double()
    with torch.no_grad():  # only features 0 and 3 reach the output
        mlp[0].weight[:, [1, 2, 4, 5]] = 0.0
        mlp[0].weight[:, [0, 3]] *= 4.0
    X = np.random.default_rng(3).normal(size=(40, 6))
    est = cls(mlp, baseline="zeros", l1=0.05, **FAST).fit(X)
    exp = est.explain(X[:10])
    assert exp.values.shape == (10, 6) and est.mask_shape_ == (6,) and est.tv_ == 0.0
    np.testing.assert_array_equal(exp.values[:, [1, 2, 4, 5]], 0.0)
    assert (exp.values[:, [0, 3]].max(axis=1) > 0).mean() >= 0.8
    assert exp.diagnostics["loss_curve"].shape == (10, 5)


def test_tabular_pipeline_masks_raw_columns():
    pd = pytest.importorskip("pandas")
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from skorch import NeuralNetClassifier

    rng = np.random.default_rng(4)
    df = pd.DataFrame({"a": rng.normal(size=120).astype(np.float32),
                       "b": rng.normal(size=120).astype(np.float32),
                       "c": rng.choice(["x", "y", "z"], size=120)})
    y = ((df.a > 0) ^ (df.c == "x")).to_numpy().astype(np.int64)
    pre = ColumnTransformer([("num", StandardScaler(), ["a", "b"]),
                             ("cat", OneHotEncoder(sparse_output=False, dtype=np.float32),
                              ["c"])])
    torch.manual_seed(0)
    net = NeuralNetClassifier(torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(),
                                                  torch.nn.Linear(16, 2)),
                              criterion=torch.nn.CrossEntropyLoss, max_epochs=10, lr=0.2,
                              train_split=None, verbose=0)
    pipe = make_pipeline(pre, net).fit(df, y)
    est = IGOS(pipe, l1=0.01, **FAST).fit(df)
    exp = est.explain(df.iloc[:8])
    # one mask value per raw column; the one-hot columns of "c" share it
    assert est.mask_shape_ == (3,) and exp.values.shape == (8, 3)
    assert exp.feature_names == ["a", "b", "c"]
    mask = exp.diagnostics["mask"]  # in model space: a, b and c's three one-hot columns
    cat = mask[:, 2:]
    np.testing.assert_allclose(cat, cat[:, :1].repeat(3, axis=1))
    np.testing.assert_allclose(exp.values, 1.0 - mask[:, [0, 1, 2]], atol=1e-12)
    assert exp.values.max() > 0


# ------------------------------------------------------------------ targets and outputs
@pytest.mark.parametrize("cls", BOTH)
def test_targets_none_int_and_per_row(cls):
    model = _softmax_linear()
    X = np.random.default_rng(5).normal(size=(30, 6)) * 2
    probs = model(torch.as_tensor(X)).detach().numpy()
    pred = probs.argmax(axis=1)
    assert len(set(pred[:8])) > 1
    kw = dict(baseline="zeros", l1=0.1, **FAST)
    exp = cls(model, **kw).fit(X).explain(X[:8])
    assert exp.values.shape == (8, 6) and exp.base_values.shape == (8,)
    np.testing.assert_allclose(exp.output, probs[np.arange(8), pred[:8]], rtol=1e-10)
    base = model(torch.zeros(1, 6, dtype=torch.float64)).detach().numpy()[0]
    np.testing.assert_allclose(exp.base_values, base[pred[:8]], rtol=1e-10)
    # None explains the predicted class: the same as passing it per row
    per_row = cls(model, target=pred[:8], **kw).fit(X).explain(X[:8])
    np.testing.assert_allclose(per_row.values, exp.values, atol=1e-10)
    # rows are optimised independently: a per-row target matches the int targets row by row
    t = np.arange(8) % 3
    mixed = cls(model, target=t, **kw).fit(X).explain(X[:8]).values
    for k in range(3):
        one = cls(model, target=k, **kw).fit(X).explain(X[:8])
        assert one.output_names == [k]
        np.testing.assert_allclose(one.output, probs[:8, k], rtol=1e-10)
        np.testing.assert_allclose(mixed[t == k], one.values[t == k], atol=1e-10)
    assert cls(model, **kw).fit(X).transform(X[:3]).shape == (3, 6)


@pytest.mark.parametrize("cls", BOTH)
def test_blocks_of_rows_do_not_change_values(cls):
    model = Region()
    X = _images(n=7, seed=6)
    kw = dict(image_shape=(1, 8, 8), mask_size=4, baseline="zeros", l1=0.1, **FAST)
    ref = cls(model, **kw).fit(X).explain(X).values
    # 2 rows per block: internal_batch_size // ig_steps
    small = cls(model, internal_batch_size=12, **kw).fit(X).explain(X).values
    np.testing.assert_allclose(small, ref, atol=1e-10)


# ------------------------------------------------------------------ baselines
def test_blur_baseline_is_a_gaussian_blur_of_each_image():
    from scipy.ndimage import gaussian_filter

    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 1).double()
    X = _images(n=4, seed=7)
    est = IGOS(lin, image_shape=(1, 8, 8), baseline="blur", blur_sigma=1.0, **FAST).fit(X)
    assert est.baseline_ is None
    exp = est.explain(X)
    blurred = np.stack([gaussian_filter(x.reshape(8, 8), sigma=1.0, mode="nearest",
                                        truncate=3.0).ravel() for x in X])
    expected = lin(torch.as_tensor(blurred)).detach().numpy()[:, 0]
    np.testing.assert_allclose(exp.base_values, expected, rtol=1e-10)
    # the default sigma is a tenth of the side
    default = IGOS(lin, image_shape=(1, 8, 8), baseline="blur", **FAST).fit(X)
    assert default.baseline_ is None
    blurred = np.stack([gaussian_filter(x.reshape(8, 8), sigma=0.8, mode="nearest",
                                        truncate=3.75).ravel() for x in X])
    np.testing.assert_allclose(default.explain(X).base_values,
                               lin(torch.as_tensor(blurred)).detach().numpy()[:, 0], rtol=1e-10)
    # "auto" is a black image for images (the metrics' default baseline), the mean for tables
    auto = IGOS(lin, image_shape=(1, 8, 8), **FAST).fit(X)
    np.testing.assert_array_equal(auto.baseline_, np.zeros(64))
    np.testing.assert_allclose(auto.explain(X).base_values,
                               lin(torch.zeros(1, 64, dtype=torch.float64)).detach().numpy()[0, 0],
                               rtol=1e-10)
    tab = IGOS(_softmax_linear(d=64), **FAST).fit(X)
    np.testing.assert_allclose(tab.baseline_, tab.background_.mean(axis=0))


def test_array_baseline():
    X = _images(n=3, seed=8)
    b = np.full(64, 0.1)
    exp = IGOS(Region(), image_shape=(1, 8, 8), baseline=b, **FAST).fit(X).explain(X)
    expected = 1 / (1 + np.exp(-(9 * 0.1 - 2.0)))
    np.testing.assert_allclose(exp.base_values, expected)


# ------------------------------------------------------------------ optimisation
@pytest.mark.parametrize("cls", BOTH)
def test_noise_is_seeded_by_random_state(cls):
    X = _images(n=4, seed=9)
    kw = dict(image_shape=(1, 8, 8), mask_size=4, baseline="zeros", l1=0.1, noise=0.1, **FAST)
    runs = []
    for seed in (0, 0, 1):
        est = cls(Region(), random_state=seed, **kw).fit(X)
        exp = est.explain(X)
        runs.append((exp.values, exp.diagnostics["loss_curve"]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    # the losses are evaluated at noisy points (the masks themselves may saturate alike)
    assert not np.allclose(runs[0][1], runs[2][1])


@pytest.mark.parametrize("cls", BOTH)
def test_nag_optimizer_runs_and_moves_the_masks(cls):
    X = _images(n=4, seed=10)
    est = cls(Region(), image_shape=(1, 8, 8), mask_size=4, baseline="zeros", l1=0.1,
              optimizer="nag", **FAST).fit(X)
    exp = est.explain(X)
    assert ((exp.values >= 0) & (exp.values <= 1)).all() and exp.values.max() > 0.05
    curve = exp.diagnostics["loss_curve"]
    assert (curve[:, -1] < curve[:, 0]).all()


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize("params, match", [
    ({"l1": -1.0}, "l1"),
    ({"tv": -0.5}, "tv"),
    ({"n_iter": 0}, "n_iter"),
    ({"ig_steps": 0}, "ig_steps"),
    ({"optimizer": "adam"}, "optimizer"),
    ({"step_size": 0.0}, "step_size"),
    ({"ls_c": 1.5}, "ls_c"),
    ({"ls_decay": 1.0}, "ls_decay"),
    ({"ls_min_step": 0.0}, "ls_min_step"),
    ({"noise": -0.1}, "noise"),
    ({"blur_sigma": 0.0, "image_shape": (1, 8, 8)}, "blur_sigma"),
    ({"image_shape": (8, 8)}, "image_shape"),
    ({"image_shape": (1, 8, 8), "mask_size": 9}, "mask_size"),
    ({"image_shape": (1, 8, 8), "mask_size": (2, 2, 2)}, "mask_size"),
    ({"baseline": "median"}, "baseline"),
    ({"baseline": "blur"}, "image_shape"),
    ({"image_shape": (1, 4, 4)}, "image_shape"),
    ({"internal_batch_size": 0}, "internal_batch_size"),
])
def test_bad_parameters_raise_naming_the_argument(params, match):
    X = _images(n=3)
    with pytest.raises(ValueError, match=match):
        IGOS(Region(), **params).fit(X)


def test_igospp_checks_tv_sigma():
    with pytest.raises(ValueError, match="tv_sigma"):
        IGOSPlusPlus(Region(), tv_sigma=0.0).fit(_images(n=3))


@pytest.mark.parametrize("cls", BOTH)
def test_sklearn_model_is_refused(cls):
    X = np.random.default_rng(11).normal(size=(30, 3))
    clf = LogisticRegression().fit(X, X[:, 0] > 0)
    with pytest.raises(TypeError, match="differentiable"):
        cls(clf, device="cpu").fit(X)


@pytest.mark.parametrize("cls", BOTH)
def test_params_are_stored_unchanged_and_clone(cls):
    est = cls(Region(), image_shape=(1, 8, 8), mask_size=(2, 4), l1=0.3, tv=None,
              optimizer="nag", noise=0.05, random_state=3, device="cpu")
    params = est.get_params()
    assert params["mask_size"] == (2, 4) and params["tv"] is None
    assert params["optimizer"] == "nag" and params["l1"] == 0.3
    if cls is IGOSPlusPlus:
        assert params["tv_sigma"] == 0.01
    twin = clone(est)
    assert twin.get_params()["noise"] == 0.05 and twin.model is est.model
    X = _images(n=3)
    np.testing.assert_array_equal(est.set_params(n_iter=2).fit(X).explain(X).values,
                                  twin.set_params(n_iter=2).fit(X).explain(X).values)


def test_registered_as_plugins():
    infos = sklxai.list_explainers()
    for name, cls in (("igos", IGOS), ("igos++", IGOSPlusPlus)):
        assert infos[name].distribution == "sklxai-igos"
        assert sklxai.get_explainer(name) is cls
