"""Differentiable Grad-CAM against hand computations on tiny nets."""

import pytest
import torch
from sklxai_res import (
    ActivationRecorder,
    get_layer,
    grad_cam,
    normalize_maps,
    resize_maps,
)


def _tiny_net(seed=0):
    """conv 3x3 (1 -> 2 channels) on 4x4 images -> (2, 2, 2) activations -> linear head."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8, 3)
    ).double()


def test_grad_cam_matches_the_closed_form_of_a_linear_head():
    net = _tiny_net()
    X = torch.randn(5, 1, 4, 4, dtype=torch.float64)
    target = torch.tensor([0, 1, 2, 1, 0])
    with ActivationRecorder(net, "1") as rec:
        logits = net(X)
    cam = grad_cam(logits.gather(1, target[:, None])[:, 0], rec.activation)

    # by hand: d logit_k / d A[c, i, j] = W[k, c*4 + i*2 + j], so the channel weight is the
    # mean of W[k] over the channel's 4 positions
    A = torch.relu(torch.nn.functional.conv2d(X, net[0].weight, net[0].bias))
    W = net[3].weight.detach().reshape(3, 2, 2, 2)
    expected = torch.stack(
        [(W[k].mean(dim=(1, 2))[:, None, None] * A[r]).sum(0) for r, k in enumerate(target)]
    )
    torch.testing.assert_close(cam, expected)


def test_grad_cam_of_a_batch_equals_row_by_row_autograd():
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(3, 4, 3),
        torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 5), torch.nn.Tanh(),
        torch.nn.Linear(5, 3),
    ).double()
    X = torch.randn(4, 1, 5, 5, dtype=torch.float64)
    with ActivationRecorder(net, "3") as rec:
        out = net(X)
    cam = grad_cam(out[:, 2], rec.activation, create_graph=False)
    for r in range(len(X)):
        with ActivationRecorder(net, "3") as one:
            score = net(X[r : r + 1])[0, 2]
        (g,) = torch.autograd.grad(score, one.activation)
        expected = (g.mean(dim=(2, 3), keepdim=True) * one.activation).sum(1)[0]
        torch.testing.assert_close(cam[r], expected.detach())


def test_create_graph_makes_the_map_differentiable_in_the_head():
    net = _tiny_net()
    X = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    for create_graph, head_has_grad in [(True, True), (False, False)]:
        net.zero_grad()
        with ActivationRecorder(net, "1") as rec:
            out = net(X)
        grad_cam(out[:, 0], rec.activation, create_graph=create_graph).pow(2).sum().backward()
        head = net[3].weight.grad
        assert (head is not None and head.abs().sum() > 0) == head_has_grad
        assert net[0].weight.grad.abs().sum() > 0  # through the activations, always


def test_normalize_and_resize():
    maps = torch.tensor([[[2.0, 4.0], [6.0, 10.0]], [[3.0, 3.0], [3.0, 3.0]]])
    norm = normalize_maps(maps, eps=0.0 + 1e-12)
    torch.testing.assert_close(norm[0], torch.tensor([[0.0, 0.25], [0.5, 1.0]]))
    assert torch.all(normalize_maps(maps)[1] == 0)  # a constant map becomes zeros
    up = resize_maps(norm, (4, 4))
    assert up.shape == (2, 4, 4) and up[0].min() >= 0 and up[0].max() <= 1
    assert resize_maps(norm, (2, 2)) is norm


def test_unknown_layer_lists_the_names():
    net = _tiny_net()
    with pytest.raises(ValueError, match=r"Unknown layer 'conv9'.*Convolutional layers: '0'"):
        get_layer(net, "conv9")


def test_layer_must_run_once_and_be_a_feature_map():
    net = _tiny_net()
    with ActivationRecorder(net, "3") as rec:  # the linear head: a 2-D output
        net(torch.randn(2, 1, 4, 4, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="feature map"):
        _ = rec.activation
    with ActivationRecorder(net, "1") as rec:
        net(torch.randn(2, 1, 4, 4, dtype=torch.float64))
        net(torch.randn(2, 1, 4, 4, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="ran 2 times"):
        _ = rec.activation
    assert not net[1]._forward_hooks  # the hook is removed on exit
