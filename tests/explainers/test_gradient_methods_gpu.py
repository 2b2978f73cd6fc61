"""Saliency, InputXGradient, GradientSHAP, SmoothGrad and Occlusion on CUDA agree with the CPU
(skipped without CUDA); GradientSHAP's 200 samples of 224 x 224 images fit the memory budget."""

import numpy as np
import pytest
import torch

from sklxai import GradientSHAP, InputXGradient, Occlusion, Saliency, SmoothGrad

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

MAKERS = {
    "saliency": lambda model, device: Saliency(model, device=device),
    "input_x_gradient": lambda model, device: InputXGradient(model, device=device),
    "gradient_shap": lambda model, device: GradientSHAP(model, n_samples=16, device=device,
                                                         random_state=0),
    "smoothgrad": lambda model, device: SmoothGrad(Saliency(model, device=device),
                                                   n_samples=8, random_state=0),
    "occlusion": lambda model, device: Occlusion(model, window=(2, 2), stride=2, target=1,
                                                 device=device),
}


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_cuda_matches_cpu_on_a_cnn(nets, name):
    model = nets.cnn()
    X = np.random.default_rng(0).normal(size=(20, 2, 6, 6)).astype(np.float32)
    cpu = MAKERS[name](model, "cpu").fit(X).explain(X[:6])
    gpu = MAKERS[name](model, "cuda").fit(X).explain(X[:6])
    # the same draws (numpy generators); only float32 rounding differs
    np.testing.assert_allclose(gpu.values, cpu.values, rtol=1e-4, atol=1e-5)
    assert next(model.parameters()).device.type == "cpu"  # the user's module is not moved


def test_gradient_shap_200_samples_of_large_images_fit_the_memory_budget():
    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(3, 32, 7, stride=2, padding=3), torch.nn.ReLU()]
    for _ in range(4):  # a ResNet-like stem and stages, built by hand
        layers += [torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.BatchNorm2d(32),
                   torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
    model = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(32, 10)).eval()
    X = np.random.default_rng(1).normal(size=(6, 3, 224, 224)).astype(np.float32)
    torch.cuda.reset_peak_memory_stats()
    est = GradientSHAP(model, n_samples=200, device="cuda", random_state=0).fit(X)
    exp = est.explain(X[:2])
    assert exp.values.shape == exp.std_errors.shape == (2, 3, 224, 224)
    assert np.isfinite(exp.values).all()
    assert exp.diagnostics["completeness_gap"].shape == (2,)
    free, total = torch.cuda.mem_get_info()
    assert torch.cuda.max_memory_allocated() < 0.8 * total
