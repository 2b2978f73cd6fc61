"""SmoothGrad against captum's NoiseTunnel given the same noise, and its own definition."""

import numpy as np
import pytest
import sklearn
import torch

from sklxai import get_explainer
from sklxai.explainers.gradient_shap import GradientSHAP
from sklxai.explainers.input_x_gradient import InputXGradient
from sklxai.explainers.integrated_gradients import IntegratedGradients
from sklxai.explainers.saliency import Saliency
from sklxai.explainers.smoothgrad import SmoothGrad

captum_attr = pytest.importorskip("captum.attr")

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require")

KINDS = ["smoothgrad", "smoothgrad_sq", "vargrad"]


def _noise_tunnel(monkeypatch, sg, method, X, kw):
    """captum's NoiseTunnel on each row, with our noise: sigma = noise * (max - min) of the
    row, and the standard normal draws of SmoothGrad's generator for that row."""
    model = sg.explainer_.model_
    out = []
    for r in range(len(X)):
        x = torch.as_tensor(X[r:r + 1])
        sigma = sg.noise * float(X[r].max() - X[r].min())
        z = torch.as_tensor(sg._row_noise(r, X[r].size) * sigma, dtype=x.dtype)
        monkeypatch.setattr(captum_attr.NoiseTunnel, "_add_noise_to_input", staticmethod(
            lambda inp, sd, k, z=z: inp.repeat_interleave(k, 0) + z.reshape(k, *inp.shape[1:])))
        target = int(model(x).argmax())
        out.append(captum_attr.NoiseTunnel(method(model)).attribute(
            x, nt_type=sg.kind, nt_samples=sg.n_samples, stdevs=sigma, target=target,
            **kw).detach().numpy()[0])
        monkeypatch.undo()
    return np.stack(out)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("net, shape", [("mlp", (20, 5)), ("cnn", (20, 2, 6, 6))])
def test_equal_to_captum_noise_tunnel_with_the_same_noise(nets, monkeypatch, kind, net, shape):
    model = getattr(nets, net)()
    X = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    cases = [(Saliency(model, device="cpu"), captum_attr.Saliency, {}),
             (IntegratedGradients(model, baseline="zeros", n_steps=6, method="riemann_middle",
                                  device="cpu"),
              captum_attr.IntegratedGradients, {"n_steps": 6, "method": "riemann_middle"})]
    for inner, method, kw in cases:
        sg = SmoothGrad(inner, n_samples=5, noise=0.2, kind=kind, random_state=0).fit(X)
        exp = sg.explain(X[:3])
        assert exp.values.shape == X[:3].shape
        ref = _noise_tunnel(monkeypatch, sg, method, X[:3], kw)
        np.testing.assert_allclose(exp.values, ref, rtol=1e-5, atol=1e-6)


def test_definition_on_a_linear_model():
    """Gradients of a linear model do not depend on x: SmoothGrad of Saliency is |w|, VarGrad
    of it 0; InputXGradient's copies are (x + eps) * w, so their mean and variance follow from
    the noise itself."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 2).double()
    W = lin.weight.detach().numpy()
    X = np.random.default_rng(1).normal(size=(10, 4))
    S = 30
    sal = SmoothGrad(Saliency(lin, target=1, device="cpu"), n_samples=S, random_state=0)
    np.testing.assert_allclose(sal.fit(X).explain(X[:3]).values, np.abs(W[[1, 1, 1]]),
                               atol=1e-14)
    var = sal.set_params(kind="vargrad").fit(X).explain(X[:3]).values
    np.testing.assert_allclose(var, 0.0, atol=1e-14)
    for kind in KINDS:
        sg = SmoothGrad(InputXGradient(lin, target=0, device="cpu"), n_samples=S, noise=0.1,
                        kind=kind, random_state=2).fit(X)
        exp = sg.explain(X[:3])
        copies = np.stack([(X[r] + 0.1 * np.ptp(X[r]) * sg._row_noise(r, 4)) * W[0]
                           for r in range(3)])  # (n, S, d)
        expected = {"smoothgrad": copies.mean(1), "smoothgrad_sq": (copies**2).mean(1),
                    "vargrad": copies.var(1)}[kind]
        np.testing.assert_allclose(exp.values, expected, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(exp.output, X[:3] @ W[0] + lin.bias.detach().numpy()[0])
    # no noise: the wrapped explainer's values
    ig = IntegratedGradients(lin, n_steps=4, device="cpu")
    np.testing.assert_allclose(
        SmoothGrad(ig, n_samples=3, noise=0.0).fit(X).explain(X[:3]).values,
        ig.fit(X).explain(X[:3]).values, atol=1e-14)


def test_target_chunks_seed_registry_and_save_load(nets, tmp_path):
    assert get_explainer("smoothgrad") is SmoothGrad
    model = nets.mlp().double()
    X = np.random.default_rng(3).normal(size=(20, 5))
    sg = SmoothGrad(Saliency(model, abs=False, device="cpu"), n_samples=4,
                    random_state=0).fit(X)
    ref = sg.explain(X[:6])
    pred = model(torch.as_tensor(X[:6])).argmax(1).numpy()
    np.testing.assert_allclose(ref.output, model(torch.as_tensor(X[:6])).detach().numpy()[
        np.arange(6), pred])
    # per-row and fixed targets reach the wrapped explainer without fitting again
    sg.set_params(explainer__target=pred)
    np.testing.assert_allclose(sg.explain(X[:6]).values, ref.values, atol=1e-15)
    sg.set_params(explainer__target=None)
    with sklearn.config_context(working_memory=2 * 4 * 8 * 5 * 4 / 2**20):  # 2 rows a call
        np.testing.assert_allclose(sg.explain(X[:6]).values, ref.values, rtol=1e-12,
                                   atol=1e-15)
    other = SmoothGrad(Saliency(model, abs=False, device="cpu"), n_samples=4, random_state=1)
    assert not np.allclose(other.fit(X).explain(X[:6]).values, ref.values)
    sg.save(tmp_path / "sg.pt")
    loaded = SmoothGrad.load(tmp_path / "sg.pt", model, device="cpu")
    np.testing.assert_array_equal(loaded.transform(X[:6]), sg.transform(X[:6]))
    assert loaded.get_params()["n_samples"] == 4 and loaded.explainer.abs is False
    gs = SmoothGrad(GradientSHAP(model, n_samples=3, random_state=0, device="cpu"),
                    n_samples=2, random_state=0).fit(X)
    assert np.isfinite(gs.transform(X[:2])).all()
    with pytest.raises(TypeError, match="explainer must be a gradient explainer"):
        SmoothGrad(model).fit(X)
    with pytest.raises(ValueError, match="one baseline row per explained row"):
        SmoothGrad(InputXGradient(model, baseline=np.zeros((6, 5)))).fit(X)
    with pytest.raises(ValueError, match="kind must be one of"):
        SmoothGrad(Saliency(model), kind="tunnel").fit(X)
    with pytest.raises(ValueError, match="noise must be a number"):
        SmoothGrad(Saliency(model), noise=-0.1).fit(X)
