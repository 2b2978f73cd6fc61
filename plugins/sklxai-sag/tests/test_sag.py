"""SAG on a model whose minimal sufficient patch sets are known by construction."""

import re

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklxai_sag import SAG, SAGExplanation, SAGGraph, plot_sag

import sklxai
from sklxai.utils.param_validation import undeclared_params

TRUE_ROOTS = [(0, 1), (5, 10)]


def patch_on(X, p):
    """Whether every pixel of patch p (2x2 patches of 8x8 images, row-major) is on, per image."""
    img = X.reshape(-1, 8, 8)
    r, q = divmod(p, 4)
    return img[:, 2 * r:2 * r + 2, 2 * q:2 * q + 2].amin(dim=(1, 2)).clamp(0, 1)


class TwoPairs(torch.nn.Module):
    """Class 1 has probability 0.95 iff patches {0, 1} are both shown or {5, 10} both are
    (0.05 otherwise, smoothly in between): exactly two minimal sufficient sets."""

    def forward(self, X):
        a = patch_on(X, 0) * patch_on(X, 1)
        b = patch_on(X, 5) * patch_on(X, 10)
        s = 0.05 + 0.9 * torch.maximum(a, b)
        return torch.stack([1 - s, s], dim=1)


@pytest.fixture
def two_pairs():
    return TwoPairs().double()


def _images(n=3, seed=0):
    """All-ones images (every patch 'on') with a little noise on patches the model ignores."""
    rng = np.random.default_rng(seed)
    X = np.ones((n, 1, 8, 8))
    X[:, :, 6:, 6:] = rng.random((n, 1, 2, 2))
    return X


def _independent_score(model, image, patches, target, baseline=0.0):
    """The model's probability of ``target`` with only ``patches`` shown, masked by hand."""
    keep = np.zeros((8, 8), dtype=bool)
    for p in patches:
        r, q = divmod(p, 4)
        keep[2 * r:2 * r + 2, 2 * q:2 * q + 2] = True
    shown = np.where(keep, image[0], baseline)[None, None]
    with torch.no_grad():
        return float(model(torch.as_tensor(shown))[0, target])


@pytest.mark.parametrize("seed", [None, "callable", "igos"])
def test_roots_are_exactly_the_true_minimal_sets(two_pairs, seed):
    if seed == "callable":  # a deliberately unhelpful seed: favours patches the model ignores
        def seed(X, targets):
            out = np.zeros((len(X), 8, 8))
            out[:, 4:, :4] = 1.0
            return out
    params = {"seed_params": {"n_iter": 3, "ig_steps": 4}} if seed == "igos" else {}
    X = _images()
    exp = SAG(two_pairs, seed=seed, device="cpu", **params).fit(X).explain(X)
    assert isinstance(exp, SAGExplanation) and len(exp.graphs) == 3
    for g in exp.graphs:
        assert isinstance(g, SAGGraph)
        assert sorted(g.roots) == TRUE_ROOTS and sorted(g.candidates) == TRUE_ROOTS
        assert g.target == 1 and g.patch_grid == (4, 4) and g.patch_size == 2
        np.testing.assert_allclose([g.nodes[r] for r in g.roots], 0.95)
    # values: per pixel, the number of roots holding its patch, in the images' shape
    assert exp.values.shape == (3, 1, 8, 8)
    expected = np.zeros((8, 8))
    expected[0:2, 0:4] = 1          # patches 0 and 1
    expected[2:4, 2:4] = 1          # patch 5
    expected[4:6, 4:6] = 1          # patch 10
    np.testing.assert_array_equal(exp.values[:, 0], np.broadcast_to(expected, (3, 8, 8)))
    np.testing.assert_allclose(exp.output, 0.95)
    np.testing.assert_allclose(exp.base_values, 0.05)


def test_slicing_flatten_select_output_and_concat_keep_the_graphs(two_pairs):
    X = _images(3)
    est = SAG(two_pairs, seed=None, target=np.array([1, 0, 1]), device="cpu").fit(X)
    fitted = dict(vars(est))
    exp = est.explain(X)
    assert vars(est) == fitted  # the graphs are the explanation's, not the explainer's
    g0, g1, g2 = exp.graphs
    assert [g.target for g in exp.graphs] == [1, 0, 1]
    assert g1.roots == [()]  # class 0 is as likely on the baseline image as on the full one
    tail = exp[1:]
    assert isinstance(tail, SAGExplanation) and tail.graphs == [g1, g2]
    np.testing.assert_array_equal(tail.values, exp.values[1:])
    assert exp[[2, 0]].graphs == [g2, g0]
    assert exp[np.array([False, True, False])].graphs == [g1]
    one = exp[1]
    assert isinstance(one, SAGExplanation) and one.graphs is g1
    assert one.values.shape == (1, 8, 8)
    flat = exp.flatten()
    assert isinstance(flat, SAGExplanation) and flat.graphs == exp.graphs
    assert flat.values.shape == (3, 64) and flat[2].graphs is g2
    picked = exp.select_output(0)  # one class per image: no output axis, itself
    assert picked is exp
    both = SAGExplanation.concat([exp[2], exp[:2]])
    assert isinstance(both, SAGExplanation) and both.graphs == [g2, g0, g1]
    np.testing.assert_array_equal(both.values, exp.values[[2, 0, 1]])
    with pytest.raises(ValueError, match="SAGExplanation"):
        sklxai.Explanation.concat([exp, sklxai.Explanation(exp.values, exp.base_values, exp.data,
                                                          exp.feature_names)])


def test_overlap_and_root_count_limit_the_roots(two_pairs):
    X = _images(1)
    one = SAG(two_pairs, seed=None, n_roots=1, device="cpu").fit(X).explain(X).graphs[0]
    assert one.roots == [(0, 1)] and sorted(one.candidates) == TRUE_ROOTS  # ties: first set


class Three(torch.nn.Module):
    """Class 1 iff two of patches {0, 1, 2} are shown: three sets sharing a patch pairwise."""

    def forward(self, X):
        s = torch.clamp((patch_on(X, 0) + patch_on(X, 1) + patch_on(X, 2)) / 2, max=1)
        return torch.stack([1 - s, s], dim=1)


def test_max_overlap_keeps_roots_diverse():
    X = np.ones((1, 1, 8, 8))
    loose = SAG(Three(), seed=None, device="cpu").fit(X).explain(X).graphs[0]
    assert loose.roots == [(0, 1), (0, 2), (1, 2)]  # overlap 1 each: all kept
    strict = SAG(Three(), seed=None, max_overlap=0, device="cpu").fit(X).explain(X).graphs[0]
    assert strict.roots == [(0, 1)] and len(strict.candidates) == 3


def test_graph_nodes_match_independent_forward_passes_and_edges_remove_one_patch(two_pairs):
    X = _images(2)
    exp = SAG(two_pairs, seed=None, max_depth=2, max_children=2, device="cpu").fit(X).explain(X)
    for i, g in enumerate(exp.graphs):
        for node, prob in g.nodes.items():
            # a module without parameters runs in float32
            assert prob == pytest.approx(_independent_score(two_pairs, X[i], node, 1), abs=1e-6)
        assert all(len(set(p) - set(c)) == 1 and set(c) < set(p) for p, c in g.edges)
        one_apart = {(p, c) for p in g.nodes for c in g.nodes
                     if len(c) == len(p) - 1 and set(c) < set(p)}
        assert set(g.edges) == one_apart
        assert all(g.depths[c] <= g.depths[p] + 1 for p, c in g.edges)
        assert max(g.depths.values()) == 2
        for node in g.nodes:  # every non-root node is reachable from a root
            assert g.depths[node] == 0 or any(c == node for _, c in g.edges)
        # roots of size 2: their children are single patches, then the empty set
        assert {len(s) for s in g.nodes} == {0, 1, 2}
        assert g.nodes[()] == pytest.approx(g.baseline_score)


def test_max_children_bounds_the_graph():
    X = np.ones((1, 1, 8, 8))

    class Big(torch.nn.Module):  # sufficient only with the whole top row of patches
        def forward(self, Z):
            s = patch_on(Z, 0) * patch_on(Z, 1) * patch_on(Z, 2) * patch_on(Z, 3)
            return torch.stack([1 - s, s], dim=1)

    g = SAG(Big(), seed=None, max_children=1, max_depth=3, device="cpu").fit(X).explain(X)
    g = g.graphs[0]
    assert g.roots == [(0, 1, 2, 3)]
    assert sorted(len(s) for s in g.nodes) == [1, 2, 3, 4]  # a chain
    assert all(len(g.children(s)) <= 1 for s in g.nodes)


def test_blur_and_array_baselines(two_pairs):
    X = _images(1)
    blurred = SAG(two_pairs, seed=None, baseline="blur", device="cpu").fit(X).explain(X)
    # the blur of an all-ones image is all ones: nothing can be hidden, the empty set suffices
    assert blurred.graphs[0].roots == [()]
    half = SAG(two_pairs, seed=None, baseline=np.full((1, 8, 8), 0.5), device="cpu").fit(X)
    g = half.explain(X).graphs[0]
    assert g.nodes[(0, 1)] == pytest.approx(_independent_score(two_pairs, X[0], (0, 1), 1, 0.5))


def test_flattened_rows_with_image_shape_give_the_same_graphs():
    X = _images(2)

    class Flat(TwoPairs):  # takes flattened rows
        pass

    img = SAG(TwoPairs().double(), seed=None, device="cpu").fit(X).explain(X)
    flat = SAG(Flat().double(), seed=None, image_shape=(1, 8, 8), device="cpu")
    fexp = flat.fit(X.reshape(2, -1)).explain(X.reshape(2, -1))
    assert fexp.values.shape == (2, 64)
    np.testing.assert_array_equal(fexp.values, img.values.reshape(2, -1))
    assert [g.roots for g in fexp.graphs] == [g.roots for g in img.graphs]
    assert flat.transform(X.reshape(2, -1)).shape == (2, 64)


def test_networkx_export_and_plot(two_pairs):
    nx = pytest.importorskip("networkx")
    import matplotlib

    matplotlib.use("Agg")
    X = _images(1)
    g = SAG(two_pairs, seed=None, device="cpu").fit(X).explain(X).graphs[0]
    G = g.to_networkx()
    assert isinstance(G, nx.DiGraph)
    assert set(G.nodes) == set(g.nodes) and set(G.edges) == set(g.edges)
    assert nx.is_directed_acyclic_graph(G)
    assert {n for n, a in G.nodes(data=True) if a["root"]} == set(TRUE_ROOTS)
    for p, c, a in G.edges(data=True):
        assert a["removed"] in p and a["drop"] == pytest.approx(g.nodes[p] - g.nodes[c])
    assert G.graph["target"] == 1
    fig = plot_sag(g, X[0])
    assert len(fig.axes) == 1 + len(g.roots) + 1
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_networkx_missing_gives_a_clear_error(two_pairs, monkeypatch):
    import sys

    X = _images(1)
    g = SAG(two_pairs, seed=None, device="cpu").fit(X).explain(X).graphs[0]
    monkeypatch.setitem(sys.modules, "networkx", None)
    with pytest.raises(ImportError, match=r"pip install sklxai\[graph\]"):
        g.to_networkx()


# ------------------------------------------------------------------------------ hostile input
@pytest.mark.parametrize("params, error, match", [
    ({"threshold": 0.0}, ValueError, r"threshold must be a number in \(0, 1\]"),
    ({"threshold": 1.5}, ValueError, r"threshold must be a number in \(0, 1\]"),
    ({"threshold": "high"}, TypeError, r"threshold must be"),
    ({"patch_size": 3}, ValueError, r"patch_size=3 does not divide the image size 8x8"),
    ({"patch_size": 0}, ValueError, r"patch_size must be >= 1"),
    ({"seed": "no-such-explainer"}, ValueError, r"seed='no-such-explainer' is not a registered"),
    ({"seed": 3}, TypeError, r"seed must be None, the name of a registered explainer"),
    ({"seed_params": {"bogus": 1}}, TypeError, r"seed_params=.*not parameters of the seed"),
    ({"baseline": "nope"}, ValueError, r"baseline must be one of \['zeros', 'blur'\]"),
    ({"baseline": np.zeros((2, 8, 8))}, ValueError, r"baseline has shape \(2, 8, 8\)"),
    ({"baseline": np.full((1, 8, 8), np.nan)}, ValueError, r"baseline.*NaN or infinite"),
    ({"image_shape": (1, 4, 4)}, ValueError, r"image_shape=\(1, 4, 4\), but X holds images"),
    ({"max_overlap": -1}, ValueError, r"max_overlap must be >= 0"),
    ({"n_roots": 0}, ValueError, r"n_roots must be >= 1"),
])
def test_bad_parameters_are_refused_naming_them(two_pairs, params, error, match):
    with pytest.raises(error, match=match):
        SAG(two_pairs, device="cpu", **params).fit(_images(2))


def test_tabular_input_is_refused_naming_X(two_pairs):
    X = np.ones((5, 64))
    with pytest.raises(ValueError, match=r"X is 2-D .*SAG explains images.*image_shape"):
        SAG(two_pairs, seed=None, device="cpu").fit(X)
    with pytest.raises(ValueError, match=r"image_shape=\(1, 4, 4\) holds 16 values"):
        SAG(two_pairs, seed=None, image_shape=(1, 4, 4), device="cpu").fit(X)


def test_explain_refuses_images_of_another_shape_and_a_bad_seed_output(two_pairs):
    est = SAG(two_pairs, seed=None, device="cpu").fit(_images(2))
    with pytest.raises(ValueError, match=r"X holds images of shape \(1, 4, 4\)"):
        est.explain(np.ones((1, 1, 4, 4)))
    bad = SAG(two_pairs, seed=lambda X, t: np.ones((len(X), 5)), device="cpu").fit(_images(2))
    with pytest.raises(ValueError, match=r"seed returned attributions of shape \(2, 5\)"):
        bad.explain(_images(2))


# ------------------------------------------------------------------------------ estimator rules
def test_registered_params_clone_and_determinism(two_pairs):
    assert sklxai.get_explainer("sag") is SAG
    assert undeclared_params(SAG) == []
    est = SAG(two_pairs, patch_size=4, threshold=0.8, seed_params={"n_iter": 2, "ig_steps": 3},
              random_state=0, device="cpu")
    params = est.get_params()
    assert params["patch_size"] == 4 and params["seed_params"] == {"n_iter": 2, "ig_steps": 3}
    twin = clone(est)
    assert twin.get_params()["threshold"] == 0.8 and twin.model is two_pairs
    X = _images(3)
    a = est.fit(X).explain(X)
    b = twin.fit(X).explain(X)
    np.testing.assert_array_equal(a.values, b.values)
    assert [g.nodes for g in a.graphs] == [g.nodes for g in b.graphs]
    assert [g.edges for g in a.graphs] == [g.edges for g in b.graphs]
    assert est.patch_grid_ == (2, 2) and est.n_patches_ == 4
    assert re.search(r"igos|IGOS", type(est.seed_explainer_).__name__, re.IGNORECASE)
