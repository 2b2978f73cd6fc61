"""The LRP explainer as an sklxai estimator: images and rows, targets, batching, skorch nets,
persistence, parameters and bad input; and the plugin without zennit."""

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from lrp_zennit_loader import load_zennit
from sklearn.base import clone

import sklxai
from sklxai.utils.param_validation import undeclared_params
from sklxai_lrp import LRP

zennit = load_zennit()
import zennit.attribution  # noqa: E402
import zennit.composites  # noqa: E402


def _cnn(channels=2):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(channels, 3, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(3 * 3 * 3, 3))
    with torch.no_grad():
        net[4].weight.mul_(10.0)
    return net


def _images(n=5, channels=2, seed=1):
    return np.random.default_rng(seed).normal(size=(n, channels, 6, 6)).astype(np.float32)


def _zennit_relevance(model, images, targets, name="EpsilonPlusFlat"):
    composite = getattr(zennit.composites, name)()
    with zennit.attribution.Gradient(model, composite) as attributor:
        _, relevance = attributor(
            torch.as_tensor(images),
            lambda out: out * torch.nn.functional.one_hot(targets, out.shape[1]).to(out))
    return relevance.numpy()


def test_is_registered_and_declares_every_parameter():
    assert sklxai.get_explainer("lrp") is LRP
    assert sklxai.list_plugins("explainers")["lrp"].distribution == "sklxai-lrp"
    assert undeclared_params(LRP) == []
    est = LRP(torch.nn.Linear(3, 2), composite="EpsilonPlus", composite_params={"epsilon": 0.1},
              canonizers=["sequential_merge_batchnorm"])
    assert clone(est).get_params()["composite_params"] == {"epsilon": 0.1}


def test_images_of_one_channel_without_a_channel_axis():
    net, images = _cnn(channels=1), _images(channels=1)[:, 0]  # (n, H, W)
    exp = LRP(net, device="cpu").fit(images).explain(images)
    assert exp.values.shape == (5, 6, 6)
    out = net(torch.as_tensor(images)[:, None])
    expected = _zennit_relevance(net, images[:, None], out.argmax(1))[:, 0]
    np.testing.assert_allclose(exp.values, expected, rtol=1e-5, atol=1e-6)


def test_rows_of_a_tabular_model():
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    X = np.random.default_rng(0).normal(size=(10, 4))
    exp = LRP(mlp, target=1, device="cpu").fit(X).explain(X[:3])
    assert exp.values.shape == (3, 4) and exp.feature_names == ["x0", "x1", "x2", "x3"]
    expected = _zennit_relevance(mlp, X[:3].astype(np.float32), torch.ones(3, dtype=torch.long))
    np.testing.assert_allclose(exp.values, expected, rtol=1e-5, atol=1e-6)


def test_per_row_targets_and_batching_do_not_change_the_values():
    net, images = _cnn(), _images()
    whole = LRP(net, target=np.array([0, 1, 2, 1, 0]), device="cpu").fit(images)
    exp = whole.explain(images)
    for t in range(3):
        single = LRP(net, target=t, device="cpu").fit(images).explain(images).values
        rows = np.flatnonzero(np.array([0, 1, 2, 1, 0]) == t)
        np.testing.assert_allclose(exp.values[rows], single[rows], rtol=1e-6, atol=1e-7)
    batched = clone(whole).set_params(internal_batch_size=2).fit(images).explain(images)
    np.testing.assert_allclose(batched.values, exp.values, rtol=1e-6, atol=1e-7)
    assert batched.diagnostics["completeness_gap"].shape == (5,)


def test_a_skorch_classifier_explains_the_probability(tmp_path):
    from skorch import NeuralNetClassifier

    net = NeuralNetClassifier(_cnn(), criterion=torch.nn.CrossEntropyLoss,
                              device="cpu").initialize()
    images = _images()
    exp = LRP(net, composite="EpsilonPlus", device="cpu").fit(images).explain(images)
    proba = net.predict_proba(images)
    np.testing.assert_allclose(exp.output, proba.max(1), rtol=1e-6)

    class _Proba(torch.nn.Module):  # the softmax as an operation, not a module: its gradient
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, x):
            return torch.softmax(self.module(x), dim=1)

    expected = _zennit_relevance(_Proba(net.module_), images,
                                 torch.as_tensor(proba.argmax(1)), "EpsilonPlus")
    np.testing.assert_allclose(exp.values, expected, rtol=1e-5, atol=1e-7)
    path = tmp_path / "lrp.pkl"
    path.write_bytes(pickle.dumps(LRP(net, device="cpu").fit(images)))
    again = pickle.loads(path.read_bytes())
    np.testing.assert_allclose(again.explain(images).values,
                               LRP(net, device="cpu").fit(images).explain(images).values)


def test_save_and_load_give_the_same_values(tmp_path):
    net, images = _cnn(), _images()
    est = LRP(net, composite="EpsilonGammaBox", composite_params={"gamma": 0.5},
              canonizers="sequential_merge_batchnorm", n_background=3, random_state=0,
              device="cpu").fit(images)
    est.save(tmp_path / "lrp.pt")
    again = LRP.load(tmp_path / "lrp.pt", net, device="cpu")
    assert again.composite_params_ == est.composite_params_  # the bounds from the background
    assert again.canonizers_ == ("sequential_merge_batchnorm",)
    np.testing.assert_array_equal(again.explain(images).values, est.explain(images).values)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_cpu_values():
    net, images = _cnn().double(), _images().astype(np.float64)
    cpu = LRP(net, target=1, device="cpu").fit(images).explain(images)
    gpu = LRP(net, target=1, device="cuda").fit(images).explain(images)
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("params, error, match", [
    ({"composite": "Epsilon"}, ValueError, r"composite must be one of \['EpsilonPlus'"),
    ({"composite_params": "eps"}, TypeError, "composite_params must be a dict"),
    ({"composite_params": {"alpha": 2}}, ValueError,
     r"composite_params has keys \['alpha'\] that composite='EpsilonPlusFlat' does not take"),
    ({"composite_params": {"canonizers": []}}, ValueError, "pass canonizers as the canonizers"),
    ({"composite_params": {"epsilon": -1.0}}, ValueError,
     r"composite_params\['epsilon'\] must be a finite number >= 0"),
    ({"composite_params": {"gamma": float("nan")}, "composite": "EpsilonGammaBox"},
     ValueError, r"composite_params\['gamma'\]"),
    ({"composite_params": {"low": 1.0, "high": float("inf")}, "composite": "EpsilonGammaBox"},
     ValueError, r"low and high must be finite numbers with low < high.*high=inf"),
    ({"composite_params": {"low": 2.0, "high": -2.0}, "composite": "EpsilonGammaBox"},
     ValueError, r"low=2.0, high=-2.0"),
    ({"canonizers": "batchnorm"}, ValueError,
     r"canonizers has unknown canonizer\(s\) \['batchnorm'\]; the names are"),
    ({"canonizers": [1]}, TypeError, "canonizers must be None, a canonizer name"),
    ({"internal_batch_size": 0}, ValueError, "internal_batch_size"),
])
def test_bad_parameters_are_refused_at_fit_naming_them(params, error, match):
    with pytest.raises(error, match=match):
        LRP(_cnn(), device="cpu", **params).fit(_images())


def test_a_scikit_learn_model_is_refused():
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).normal(size=(20, 3))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    with pytest.raises(TypeError, match="needs gradients"):
        LRP(model).fit(X)


def test_without_zennit_the_plugin_imports_registers_and_fit_says_what_to_install():
    # one fresh interpreter: zennit missing, then a torchvision whose import fails as it does
    # when its C ops were built for another torch
    code = textwrap.dedent("""
        import sys
        sys.modules["zennit"] = None  # import zennit raises ModuleNotFoundError
        import numpy as np, torch, sklxai, sklxai_lrp
        cls = sklxai.get_explainer("lrp")
        assert cls is sklxai_lrp.LRP
        X, model = np.zeros((4, 3)), torch.nn.Linear(3, 2)
        try:
            cls(model, device="cpu").fit(X)
        except ImportError as exc:
            print(exc)
        del sys.modules["zennit"]
        class Broken:
            def find_spec(self, name, path=None, target=None):
                if name == "torchvision":
                    raise RuntimeError("operator torchvision::nms does not exist")
        sys.meta_path.insert(0, Broken())
        assert "torchvision" not in sys.modules
        try:
            cls(model, device="cpu").fit(X)
        except ImportError as exc:
            print(exc)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    missing, broken = result.stdout.strip().splitlines()
    assert "zennit, which is not installed: pip install zennit" in missing
    assert "torchvision failed to load" in broken and "torchvision made for it" in broken
