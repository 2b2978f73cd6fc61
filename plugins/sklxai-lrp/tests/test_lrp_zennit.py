"""LRP against zennit's own ``Gradient`` attributor: every composite on a small CNN, the
batch-norm canonizer on a CNN with batch norms and the ResNet canonizer on a torchvision ResNet,
to 1e-5 (float64 models)."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from lrp_zennit_loader import load_zennit

from sklxai_lrp import LRP

zennit = load_zennit()
import zennit.attribution  # noqa: E402
import zennit.canonizers  # noqa: E402
import zennit.composites  # noqa: E402
import zennit.torchvision  # noqa: E402

COMPOSITES = ["EpsilonPlus", "EpsilonPlusFlat", "EpsilonGammaBox", "EpsilonAlpha2Beta1"]


def _cnn():
    torch.manual_seed(0)
    net = torch.nn.Sequential(OrderedDict([
        ("conv1", torch.nn.Conv2d(2, 4, 3, padding=1)), ("act1", torch.nn.ReLU()),
        ("conv2", torch.nn.Conv2d(4, 5, 3)), ("act2", torch.nn.ReLU()),
        ("pool", torch.nn.AdaptiveAvgPool2d(2)), ("flat", torch.nn.Flatten()),
        ("fc", torch.nn.Linear(20, 3))])).double()
    with torch.no_grad():
        net.fc.weight.mul_(30.0)  # outputs of a few units: relevance well above the tolerance
    return net


def _bn_cnn():
    torch.manual_seed(2)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(144, 3)).double()
    with torch.no_grad():  # batch norms with their own statistics, not the identity
        for bn in (net[1], net[4]):
            bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-0.2, 0.2)
        net[7].weight.mul_(30.0)
    return net.eval()


def _images(n=5, shape=(2, 8, 8), seed=1):
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed)).double()


def _zennit_relevance(model, images, composite, targets):
    """zennit's relevance: its attributor, with the output's value as the relevance at the
    explained output and 0 at the others."""
    with zennit.attribution.Gradient(model, composite) as attributor:
        _, relevance = attributor(
            images.clone(),
            lambda out: out * torch.nn.functional.one_hot(targets, out.shape[1]).to(out))
    return relevance.numpy()


@pytest.mark.parametrize("name", COMPOSITES)
@pytest.mark.parametrize("target", [None, 2])
def test_each_composite_equals_zennits_attributor(name, target):
    cnn, images = _cnn(), _images()
    params = {"low": -3.0, "high": 3.0} if name == "EpsilonGammaBox" else None
    exp = LRP(cnn, composite=name, composite_params=params, target=target,
              device="cpu").fit(images.numpy()).explain(images.numpy())
    targets = cnn(images).argmax(1) if target is None else torch.full((5,), target)
    composite = getattr(zennit.composites, name)(**(params or {}))
    expected = _zennit_relevance(cnn, images, composite, targets)
    assert exp.values.shape == expected.shape == (5, 2, 8, 8)
    assert np.abs(expected).max() > 1e-2  # not a comparison of zeros
    np.testing.assert_allclose(exp.values, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(exp.output, cnn(images).detach().numpy()[range(5), targets])


def test_composite_params_reach_the_rules():
    cnn, images = _cnn(), _images()
    params = {"epsilon": 0.5, "gamma": 1.0, "low": -2.5, "high": 2.0, "zero_params": ["bias"]}
    exp = LRP(cnn, composite="EpsilonGammaBox", composite_params=params, target=1,
              device="cpu").fit(images.numpy()).explain(images.numpy())
    composite = zennit.composites.EpsilonGammaBox(**params)
    expected = _zennit_relevance(cnn, images, composite, torch.full((5,), 1))
    np.testing.assert_allclose(exp.values, expected, rtol=0, atol=1e-5)
    default = LRP(cnn, composite="EpsilonGammaBox", composite_params={"low": -2.5, "high": 2.0},
                  target=1, device="cpu").fit(images.numpy()).explain(images.numpy())
    assert np.abs(default.values - exp.values).max() > 1e-3  # the parameters changed them


def test_gamma_box_bounds_default_to_the_backgrounds_range():
    cnn, images = _cnn(), _images()
    est = LRP(cnn, composite="EpsilonGammaBox", target=0, device="cpu").fit(images.numpy())
    low, high = float(images.min()), float(images.max())  # 5 images: all are the background
    assert est.composite_params_ == {"low": low, "high": high}
    composite = zennit.composites.EpsilonGammaBox(low=low, high=high)
    expected = _zennit_relevance(cnn, images, composite, torch.zeros(5, dtype=torch.long))
    np.testing.assert_allclose(est.explain(images.numpy()).values, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["EpsilonPlusFlat", "EpsilonAlpha2Beta1"])
def test_batch_norm_canonizer_equals_zennits(name):
    net, images = _bn_cnn(), _images()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    est = LRP(net, composite=name, canonizers="sequential_merge_batchnorm", target=0,
              device="cpu").fit(images.numpy())
    exp = est.explain(images.numpy())
    composite = getattr(zennit.composites, name)(
        canonizers=[zennit.canonizers.SequentialMergeBatchNorm()])
    expected = _zennit_relevance(net, images, composite, torch.zeros(5, dtype=torch.long))
    np.testing.assert_allclose(exp.values, expected, rtol=0, atol=1e-5)
    assert np.abs(expected).max() > 1e-2  # not a comparison of zeros
    plain = LRP(net, composite=name, target=0, device="cpu").fit(images.numpy())
    assert np.abs(plain.explain(images.numpy()).values - expected).max() > 0.05 * np.abs(
        expected).max()  # the canonizer changed them
    # the canonizer is undone afterwards: the model's parameters and outputs are as before
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    np.testing.assert_allclose(net(images).detach().numpy()[:, 0], exp.output, rtol=1e-12)


def test_resnet_canonizer_equals_zennits_on_a_torchvision_resnet():
    import torchvision

    torch.manual_seed(3)
    resnet = torchvision.models.resnet18(num_classes=4).double().eval()
    with torch.no_grad():
        for module in resnet.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1), module.running_var.uniform_(0.5, 1.5)
    images = _images(n=2, shape=(3, 32, 32))
    est = LRP(resnet, composite="EpsilonPlusFlat", canonizers=["resnet"], target=1,
              device="cpu").fit(images.numpy())
    exp = est.explain(images.numpy())
    composite = zennit.composites.EpsilonPlusFlat(
        canonizers=[zennit.torchvision.ResNetCanonizer()])
    expected = _zennit_relevance(resnet, images, composite, torch.ones(2, dtype=torch.long))
    assert np.abs(expected).max() > 1e-6
    np.testing.assert_allclose(exp.values, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
