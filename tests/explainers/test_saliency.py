"""Saliency and InputXGradient against captum's, and against closed forms on linear models."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from sklxai import get_explainer
from sklxai.explainers.input_x_gradient import InputXGradient
from sklxai.explainers.saliency import Saliency

captum_attr = pytest.importorskip("captum.attr")

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require")


def _data(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("net, shape", [("mlp", (30, 5)), ("cnn", (30, 2, 6, 6))])
def test_equal_to_captum_on_an_mlp_and_a_cnn(nets, net, shape):
    model, X = getattr(nets, net)(), _data(shape)
    rows = torch.as_tensor(X[:7])
    pred = model(rows).argmax(1)
    cases = [(Saliency(model, device="cpu"), captum_attr.Saliency(model), {}),
             (Saliency(model, abs=False, device="cpu"), captum_attr.Saliency(model),
              {"abs": False}),
             (InputXGradient(model, device="cpu"), captum_attr.InputXGradient(model), {})]
    for ours, theirs, kw in cases:
        exp = ours.fit(X).explain(X[:7])
        assert exp.values.shape == X[:7].shape  # images keep their shape
        ref = theirs.attribute(rows, target=pred, **kw).detach().numpy()
        np.testing.assert_allclose(exp.values, ref, rtol=1e-6, atol=1e-6)
        for t in (0, 2):  # a fixed target for every row
            ref = theirs.attribute(rows, target=t, **kw).detach().numpy()
            np.testing.assert_allclose(ours.set_params(target=t).explain(X[:7]).values, ref,
                                       rtol=1e-6, atol=1e-6)
    assert (Saliency(model, device="cpu").fit(X).explain(X[:7]).values >= 0).all()


def test_linear_closed_forms():
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 3).double()
    W, c = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    X = np.random.default_rng(2).normal(size=(25, 4))
    pred = (X @ W.T + c).argmax(axis=1)
    assert len(set(pred)) > 1
    sal = Saliency(lin, device="cpu").fit(X).explain(X)
    np.testing.assert_allclose(sal.values, np.abs(W[pred]), atol=1e-15)
    np.testing.assert_allclose(sal.output, (X @ W.T + c)[np.arange(25), pred], atol=1e-12)
    np.testing.assert_allclose(sal.base_values, c[pred], atol=1e-15)  # f(0)
    signed = Saliency(lin, abs=False, target=1, device="cpu").fit(X).explain(X)
    np.testing.assert_allclose(signed.values, np.broadcast_to(W[1], (25, 4)), atol=1e-15)
    ixg = InputXGradient(lin, device="cpu").fit(X).explain(X)
    np.testing.assert_allclose(ixg.values, X * W[pred], atol=1e-12)
    # another baseline: (x - b) * w, complete on a linear model
    bg = X[:10]
    ixg = InputXGradient(lin, background=bg, baseline="mean", target=2, device="cpu").fit(X)
    exp = ixg.explain(X)
    np.testing.assert_allclose(exp.values, (X - bg.mean(0)) * W[2], atol=1e-12)
    np.testing.assert_allclose(exp.base_values, bg.mean(0) @ W[2] + c[2], atol=1e-12)
    assert exp.diagnostics["completeness_gap"].max() < 1e-10


def test_completeness_gap_measures_curvature(nets):
    """x * grad is not complete on a curved model: the gap is what the formula says."""
    model = nets.mlp().double()
    X = np.random.default_rng(3).normal(size=(12, 5))
    exp = InputXGradient(model, device="cpu").fit(X).explain(X)
    delta = exp.output - exp.base_values
    gap = np.abs(exp.values.sum(1) - delta) / np.maximum(np.abs(delta), 1e-6)
    np.testing.assert_allclose(exp.diagnostics["completeness_gap"], gap, rtol=1e-10)
    assert gap.max() > 1e-3


def test_skorch_classifier_explains_probabilities():
    from skorch import NeuralNetClassifier

    X = _data((60, 5), seed=4)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    torch.manual_seed(0)
    net = NeuralNetClassifier(torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(),
                                                  torch.nn.Linear(8, 2)),
                              criterion=torch.nn.CrossEntropyLoss, max_epochs=3, lr=0.1,
                              train_split=None, verbose=0).fit(X, y)
    proba = torch.nn.Sequential(net.module_, torch.nn.Softmax(dim=1))
    rows = torch.as_tensor(X[:6])
    pred = proba(rows).argmax(1)
    exp = Saliency(net, abs=False, device="cpu").fit(X).explain(X[:6])
    ref = captum_attr.Saliency(proba).attribute(rows, target=pred, abs=False)
    np.testing.assert_allclose(exp.values, ref.detach().numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(exp.output, net.predict_proba(X[:6]).max(1), rtol=1e-6)


def test_batching_registry_save_load_and_refusals(nets, tmp_path):
    model = nets.mlp().double()
    X = np.random.default_rng(5).normal(size=(20, 5))
    for cls, name in ((Saliency, "saliency"), (InputXGradient, "input_x_gradient")):
        assert get_explainer(name) is cls
        ref = cls(model, device="cpu").fit(X)
        small = cls(model, internal_batch_size=3, device="cpu").fit(X)
        # the same numbers up to the rounding of the matrix products' batch sizes
        np.testing.assert_allclose(small.transform(X), ref.transform(X), rtol=1e-12,
                                   atol=1e-15)
        ref.save(tmp_path / f"{name}.pt")
        loaded = cls.load(tmp_path / f"{name}.pt", model, device="cpu")
        np.testing.assert_array_equal(loaded.transform(X), ref.transform(X))
        assert loaded.get_params()["internal_batch_size"] is None
        clf = LogisticRegression().fit(X, X[:, 0] > 0)
        with pytest.raises(TypeError, match="differentiable.*KernelSHAP"):
            cls(clf, device="cpu").fit(X)
    with pytest.raises(TypeError, match="abs must be True or False"):
        Saliency(model, abs="yes", device="cpu").fit(X)
