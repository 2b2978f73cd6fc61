"""Feature groups (one-hot blocks, image patches) for every Shapley explainer."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, make_classification
from sklearn.linear_model import LogisticRegression
from sklxai_reference import brute_force_shapley

from sklxai import ExactShapley, KernelSHAP, PermutationSHAP, SimSHAP
from sklxai.explainers.networks import PatchCNNExplainerModule
from sklxai.games.grouped import image_patch_groups, patches_to_image

GROUPS = {"a": [0, 3], "b": [1], "c": [2, 4, 5]}


@pytest.fixture(scope="module")
def task():
    X, y = make_classification(n_samples=300, n_features=6, random_state=0)
    clf = LogisticRegression().fit(X, y)
    return clf, X, X[:8]


def _group_reference(clf, x, bg, groups):
    members = list(groups.values())

    def value(S):
        Z = bg.copy()
        for g in S:
            Z[:, members[g]] = x[members[g]]
        return clf.predict_proba(Z).mean(axis=0)

    return brute_force_shapley(value, len(members))


@pytest.mark.parametrize("make, kw", [(ExactShapley, {}), (KernelSHAP, {"n_coalitions": 100}),
                                      (PermutationSHAP, {"n_coalitions": 600})])
def test_grouped_values_match_brute_force_over_groups(task, make, kw):
    clf, X, bg = task
    est = make(clf, background=bg, feature_groups=GROUPS, random_state=0, device="cpu", **kw)
    exp = est.fit(X).explain(X[10:12])
    assert exp.values.shape == (2, 3, 2)
    assert exp.feature_names == ["a", "b", "c"]
    tol = 1e-8 if make is not PermutationSHAP else 0.02
    for i in range(2):
        ref = _group_reference(clf, X[10 + i], bg, GROUPS)
        np.testing.assert_allclose(exp.values[i], ref, atol=tol)
    assert exp.efficiency_gap < 1e-9
    np.testing.assert_allclose(exp.data[:, 0], X[10:12][:, [0, 3]].mean(axis=1))
    assert list(est.get_feature_names_out())[:3] == ["0__a", "0__b", "0__c"]


def test_groups_by_name_and_list(task):
    pd = pytest.importorskip("pandas")
    clf, X, bg = task
    df = pd.DataFrame(X, columns=list("uvwxyz"))
    model = LogisticRegression().fit(df, clf.predict(X))
    est = ExactShapley(model, n_background=8, feature_groups=[["u", "x"], ["v"], ["w", "y", "z"]],
                       random_state=0, device="cpu").fit(df)
    assert est.explain(df.iloc[:2]).feature_names == ["group0", "group1", "group2"]


@pytest.mark.parametrize("groups, match", [
    ({"a": [0, 1], "b": [1, 2, 3, 4, 5]}, "in groups 'a' and 'b'"),
    ({"a": [0, 1], "b": [2, 3]}, r"leaves features \[4, 5\] out"),
    ({"a": [0, 1, 2, 3, 4, 9]}, "outside 0..5"),
    ({"a": ["age"], "b": [0, 1, 2, 3, 4, 5]}, "not a feature seen in fit"),
    ({"a": []}, "is empty"),
])
def test_bad_groups(task, groups, match):
    clf, X, bg = task
    with pytest.raises(ValueError, match=match):
        ExactShapley(clf, background=bg, feature_groups=groups, device="cpu").fit(X)


def test_image_patch_groups_and_back_to_pixels():
    groups = image_patch_groups((8, 8), 2)
    assert len(groups) == 16 and list(groups["patch_1_2"]) == [20, 21, 28, 29]
    cols = np.concatenate(list(groups.values()))
    assert sorted(cols) == list(range(64))
    values = np.arange(2 * 16, dtype=float).reshape(2, 16)
    img = patches_to_image(values, (8, 8), 2)
    assert img.shape == (2, 8, 8)
    np.testing.assert_allclose(img.sum(axis=(1, 2)), values.sum(axis=1))
    assert img[0, 2, 4] == values[0, 6] / 4
    with pytest.raises(ValueError, match="does not divide"):
        image_patch_groups((8, 8), 3)


def test_simshap_patch_mode_with_a_cnn_on_digits():
    from skorch import NeuralNetClassifier

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    torch.manual_seed(0)
    cnn = torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 8, 8)), torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(8 * 16, 10))
    net = NeuralNetClassifier(cnn, criterion=torch.nn.CrossEntropyLoss, max_epochs=5, lr=0.1,
                              train_split=None, verbose=0).fit(X[:1000], y[:1000])
    groups = image_patch_groups((8, 8), 4)  # 4 patches of 4x4 pixels: exact is cheap
    exact = ExactShapley(net, n_background=8, feature_groups=groups, random_state=0,
                         device="cpu").fit(X[:1000])
    ref = exact.explain(X[1000:1040]).values
    sim = SimSHAP(net, background=exact.background_, feature_groups=groups,
                  module=PatchCNNExplainerModule((8, 8), patch_size=4, n_outputs=10,
                                                 channels=(16, 16)),
                  max_epochs=8, lr=3e-3, train_batch_size=32, n_coalitions=8, random_state=0,
                  augment=4096, device="cpu").fit(X[:1000])  # 8 epochs of 256 steps
    exp = sim.explain(X[1000:1040])
    assert exp.values.shape == (40, 4, 10)
    assert exp.efficiency_gap < 1e-6
    err = np.linalg.norm(exp.values - ref) / np.linalg.norm(ref)
    assert err < 0.45  # 8 short epochs on CPU; measured 0.36
