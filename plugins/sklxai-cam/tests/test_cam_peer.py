"""The maps against pytorch-grad-cam (distribution ``grad-cam``, a dev dependency; see
:func:`load_pytorch_grad_cam` for how it loads on the CPU build of torch): raw maps at the layer
to 1e-6, and the maps after its ReLU, resizing and min-max scaling to 1e-4."""

import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from sklxai_cam import GradCAM, HiResCAM, LayerCAM, ScoreCAM


def load_pytorch_grad_cam():
    """Import pytorch-grad-cam (distribution ``grad-cam``), the peer the maps are compared with.

    It imports torchvision at module level, which fails where torchvision's C ops do not load
    (a CPU build of torch beside the registries' torchvision); grad-cam's CAMs use none of the
    C ops, so torchvision is imported first through the core tests' loader
    (``tests/torchvision_loader.py``, found from this file's place in the repository), which
    declares the two op schemas it needs. With a matching pair nothing is declared.
    """
    tests = Path(__file__).resolve().parents[3] / "tests"
    if str(tests) not in sys.path:
        sys.path.append(str(tests))
    from torchvision_loader import import_torchvision

    import_torchvision()
    import pytorch_grad_cam

    return pytorch_grad_cam


gc = load_pytorch_grad_cam()
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402


def _cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(OrderedDict([
        ("conv1", torch.nn.Conv2d(2, 4, 3, padding=1)), ("act1", torch.nn.ReLU()),
        ("conv2", torch.nn.Conv2d(4, 5, 3)), ("act2", torch.nn.ReLU()),
        ("pool", torch.nn.AdaptiveAvgPool2d(2)), ("flat", torch.nn.Flatten()),
        ("fc", torch.nn.Linear(20, 3))])).double()


@pytest.fixture(scope="module")
def model_and_images():
    images = torch.randn(6, 2, 8, 8, generator=torch.Generator().manual_seed(1)).double()
    return _cnn(), images


def _peer(peer_class, cnn, images, targets):
    """pytorch-grad-cam's maps (n, H, W) and its raw maps at the layer (n, h, w)."""
    cam = peer_class(model=cnn, target_layers=[cnn.act2])
    wanted = [ClassifierOutputTarget(int(t)) for t in targets]
    scaled = cam(input_tensor=images, targets=wanted)
    acts = cam.activations_and_grads.activations[0].cpu().numpy()
    gradients = cam.activations_and_grads.gradients  # none for Score-CAM
    grads = gradients[0].cpu().numpy() if gradients else None
    raw = cam.get_cam_image(images, cnn.act2, wanted, acts, grads, False)
    return scaled, raw


def _scaled_like_the_peer(layer_maps, size):
    """Its post-processing (``compute_cam_per_layer`` and ``aggregate_multi_layers`` of one
    layer): ReLU, min-max to [0, 1] (eps 1e-7), bilinear resize (``cv2.resize``: half-pixel
    centres, as ``align_corners=False``), min-max again."""
    m = _min_max(torch.as_tensor(layer_maps).clamp_min(0))
    m = torch.nn.functional.interpolate(m[:, None], size=size, mode="bilinear",
                                        align_corners=False)[:, 0]
    return _min_max(m).numpy()


def _min_max(m):
    m = m - m.flatten(1).min(dim=1).values[:, None, None]
    return m / (1e-7 + m.flatten(1).max(dim=1).values[:, None, None])


@pytest.mark.parametrize("ours, theirs", [(GradCAM, gc.GradCAM), (HiResCAM, gc.HiResCAM),
                                          (LayerCAM, gc.LayerCAM)])
@pytest.mark.parametrize("target", [None, 2])
def test_maps_equal_pytorch_grad_cam(model_and_images, ours, theirs, target):
    cnn, images = model_and_images
    est = ours(cnn, cam_layer="act2", target=target, device="cpu").fit(images.numpy())
    exp = est.explain(images.numpy())
    targets = (cnn(images).argmax(1).numpy() if target is None else np.full(6, target))
    scaled, raw = _peer(theirs, cnn, images, targets)
    layer_maps = exp.diagnostics["layer_maps"]
    assert layer_maps.shape == raw.shape == (6, 6, 6)
    np.testing.assert_allclose(layer_maps, raw, rtol=0, atol=1e-6)
    assert np.abs(raw).max() > 1e-3  # not a vacuous comparison of zeros
    np.testing.assert_allclose(_scaled_like_the_peer(layer_maps, (8, 8)), scaled, atol=1e-4)
    # the explainer's values are the ReLU'd layer maps upsampled bilinearly, not scaled
    up = torch.nn.functional.interpolate(torch.as_tensor(layer_maps).clamp_min(0)[:, None],
                                         size=(8, 8), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(exp.values, up.numpy(), rtol=1e-12, atol=1e-12)


def test_score_cam_runs_and_is_close_to_pytorch_grad_cams(model_and_images, capsys):
    """For information: pytorch-grad-cam upsamples Score-CAM's masks with
    ``UpsamplingBilinear2d`` (``align_corners=True``) and sklxai-cam with
    ``align_corners=False`` as every other map, so the maps differ slightly."""
    cnn, images = model_and_images
    exp = ScoreCAM(cnn, cam_layer="act2", target=1, device="cpu").fit(images.numpy()).explain(
        images.numpy())
    assert exp.values.shape == (6, 1, 8, 8) and np.isfinite(exp.values).all()
    scaled, raw = _peer(gc.ScoreCAM, cnn, images, np.full(6, 1))
    ours = _scaled_like_the_peer(exp.diagnostics["layer_maps"], (8, 8))
    corr = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(ours, scaled)]
    with capsys.disabled():
        print(f"\nScore-CAM vs pytorch-grad-cam: max |diff| {np.abs(ours - scaled).max():.3g}, "
              f"correlations {np.round(corr, 4).tolist()}")
    assert min(corr) > 0.9
