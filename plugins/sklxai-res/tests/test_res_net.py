"""The skorch nets: masks in the dict form of X, rows without masks, gradient flow, errors,
parameters, saliency, and the plugin registration."""


import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklxai_res import (
    GRADIANetClassifier,
    RESNetClassifier,
    grad_cam,
    normalize_maps,
    res_loss,
)
from skorch.helper import SliceDict

import sklxai

NAN = np.nan


class GapCNN(torch.nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, width, 3, padding=1)
        self.act1 = torch.nn.ReLU()
        self.conv2 = torch.nn.Conv2d(width, width, 3, padding=1)
        self.act2 = torch.nn.Tanh()
        self.fc = torch.nn.Linear(width, 3)

    def forward(self, X):
        return self.fc(self.act2(self.conv2(self.act1(self.conv1(X)))).mean(dim=(2, 3)))


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((n, 1, 8, 8)).astype(np.float32)
    masks = (images[:, 0] > 0.6).astype(np.float32)
    y = (np.arange(n) % 3).astype(np.int64)
    return images, masks, y


def _net(cls=RESNetClassifier, **kwargs):
    params = {"cam_layer": "act2", "max_epochs": 2, "lr": 0.05, "batch_size": 12,
              "train_split": None, "verbose": 0, "optimizer": torch.optim.SGD}
    params.update(kwargs)
    torch.manual_seed(0)
    return cls(GapCNN, **params)


def _batch(images, masks, y):
    X = {"X": torch.as_tensor(images), "mask": torch.as_tensor(masks)}
    return X, torch.as_tensor(y)


def _step_grads(net, batch):
    """Gradients of every parameter after one train_step_single, and its returned loss."""
    net.module_.zero_grad()
    net.history.new_epoch()
    net.history.new_batch()
    step = net.train_step_single(batch)
    grads = {name: p.grad.clone() for name, p in net.module_.named_parameters()}
    return grads, step["loss"].item(), net.history[-1, "batches", -1, "train_explanation_loss"]


# ------------------------------------------------------------------------ registration
@pytest.mark.parametrize("name, cls", [("res", RESNetClassifier), ("gradia", GRADIANetClassifier)])
def test_registered_as_training_methods(name, cls):
    info = sklxai.list_training_methods(refresh=True)[name]
    assert info.distribution == "sklxai-res"
    assert sklxai.get_training_method(name) is cls


# ------------------------------------------------------------------------ masks and fitting
def test_masks_in_the_dict_form_of_X_drive_training():
    images, masks, y = _data()
    net = _net().fit({"X": images, "mask": masks}, y)
    values = net.history[:, "train_explanation_loss"]
    assert len(values) == 2 and all(v > 0 for v in values)
    assert net.predict(images).shape == (24,)  # plain images at prediction time
    np.testing.assert_array_equal(net.predict({"X": images, "mask": masks}), net.predict(images))
    # the masks matter: other masks, other weights (same seed, same data otherwise)
    other = _net().fit({"X": images, "mask": 1.0 - masks}, y)
    assert not torch.allclose(net.module_.conv1.weight, other.module_.conv1.weight)
    # (n, 1, H, W) masks are the same masks
    same = _net().fit({"X": images, "mask": masks[:, None]}, y)
    torch.testing.assert_close(net.module_.conv1.weight, same.module_.conv1.weight)


def test_slicedict_for_scikit_learn_tools():
    images, masks, y = _data()
    net = _net(GRADIANetClassifier).fit(SliceDict(X=images, mask=masks), y)
    assert net.history[-1, "train_explanation_loss"] > 0


def test_explanation_term_equals_the_loss_on_the_annotated_rows():
    images, masks, y = _data(n=6)
    masks[[1, 4]] = NAN  # two rows without annotation
    masks[0, :4] = NAN  # and half of one row's pixels
    net = _net(explanation_weight=0.5).initialize()
    _, loss, explanation = _step_grads(net, _batch(images, masks, y))

    keep = [0, 2, 3, 5]
    X = torch.as_tensor(images)
    feats = []
    handle = net.module_.act2.register_forward_hook(lambda m, i, o: feats.append(o))
    logits = net.module_(X)
    handle.remove()
    scores = logits[keep, y[keep]]
    cam = grad_cam(scores, feats[0])[keep]
    expected = res_loss(normalize_maps(cam), torch.as_tensor(masks[keep])).item()
    ce = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y)).item()
    assert explanation == pytest.approx(expected, rel=1e-5)
    assert loss == pytest.approx(ce + 0.5 * expected, rel=1e-5)


def test_rows_without_masks_train_on_cross_entropy_only():
    images, masks, y = _data(n=6)
    net = _net(explanation_weight=3.0).initialize()
    grads, loss, explanation = _step_grads(net, _batch(images, np.full_like(masks, NAN), y))
    plain_grads, plain_loss, _ = _step_grads(_net(explanation_weight=0.0).initialize(),
                                             _batch(images, masks, y))
    assert explanation == 0.0
    assert loss == pytest.approx(plain_loss)
    for name in grads:
        torch.testing.assert_close(grads[name], plain_grads[name])
    # and a whole fit where half the rows are unannotated works
    masks[::2] = NAN
    _net().fit({"X": images, "mask": masks}, y)


@pytest.mark.parametrize("second_order", [True, False])
def test_gradient_flows_into_the_model_through_the_explanation_term(second_order):
    images, masks, y = _data(n=6)
    batch = _batch(images, masks, y)
    with_term, _, _ = _step_grads(_net(explanation_weight=1.0, second_order=second_order)
                                  .initialize(), batch)
    without, _, _ = _step_grads(_net(explanation_weight=0.0).initialize(), batch)
    diff = {name: (with_term[name] - without[name]).abs().max().item() for name in with_term}
    assert diff["conv1.weight"] > 1e-6 and diff["conv2.weight"] > 1e-6
    # the head enters the map only through Grad-CAM's channel weights (a gradient)
    assert (diff["fc.weight"] > 1e-6) == second_order


# ------------------------------------------------------------------------ errors
def test_unknown_layer_is_a_clear_error():
    images, masks, y = _data()
    with pytest.raises(ValueError, match=r"Unknown layer 'conv3'.*'conv1', 'conv2'"):
        _net(cam_layer="conv3").fit({"X": images, "mask": masks}, y)


@pytest.mark.parametrize("bad", [
    lambda m: m[:, :7],                  # wrong resolution
    lambda m: m[:-1],                    # one mask missing
    lambda m: np.stack([m, m], axis=1),  # two channels
])
def test_mask_shape_mismatch_is_a_clear_error(bad):
    images, masks, y = _data()
    with pytest.raises(ValueError, match=r"one mask per image.*\(24, 8, 8\)"):
        _net().fit({"X": images, "mask": bad(masks)}, y)


def test_bad_mask_values_and_missing_images_key():
    images, masks, y = _data()
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        _net().fit({"X": images, "mask": masks * 255}, y)
    with pytest.raises(ValueError, match="no 'X'"):
        _net().fit({"images": images, "mask": masks}, y)


def test_fitting_without_masks_warns():
    images, _, y = _data()
    with pytest.warns(UserWarning, match="got no masks"):
        net = _net().fit(images, y)
    assert net.history[-1, "train_explanation_loss"] == 0.0


# ------------------------------------------------------------------------ parameters
def test_get_params_and_clone():
    net = _net(sharpness=3.0, slack=0.1, threshold=0.4, blur_sigma=0.0, second_order=False,
               explanation_weight=2.0)
    params = net.get_params(deep=False)
    expected = {"cam_layer": "act2", "sharpness": 3.0, "slack": 0.1, "threshold": 0.4,
                "blur_sigma": 0.0, "second_order": False, "explanation_weight": 2.0}
    for key, value in expected.items():
        assert params[key] == value
    assert params["criterion"] is torch.nn.CrossEntropyLoss
    twin = clone(net)
    assert type(twin) is RESNetClassifier
    assert twin.get_params(deep=False)["sharpness"] == 3.0
    twin.set_params(slack=0.5, cam_layer="act1")
    assert (twin.slack, twin.cam_layer, net.slack) == (0.5, "act1", 0.1)
    gradia = clone(_net(GRADIANetClassifier, explanation_weight=4.0))
    assert gradia.explanation_weight == 4.0 and "sharpness" not in gradia.get_params()


def test_threshold_and_slack_reach_the_loss():
    images, masks, y = _data(n=6)
    batch = _batch(images, masks, y)
    _, _, base = _step_grads(_net().initialize(), batch)
    _, _, slacked = _step_grads(_net(slack=10.0).initialize(), batch)
    _, _, fixed = _step_grads(_net(threshold=0.9).initialize(), batch)
    assert slacked < base and fixed != base


# ------------------------------------------------------------------------ saliency
def test_saliency_is_the_normalized_grad_cam_of_the_chosen_class():
    images, masks, y = _data(n=10)
    net = _net(GRADIANetClassifier, max_epochs=1).fit({"X": images, "mask": masks}, y)
    maps = net.saliency(images)
    assert maps.shape == (10, 8, 8) and maps.min() >= 0 and maps.max() <= 1
    net.module_.eval()
    feats = []
    handle = net.module_.act2.register_forward_hook(lambda m, i, o: feats.append(o))
    logits = net.module_(torch.as_tensor(images))
    handle.remove()
    pred = logits.argmax(1)
    expected = normalize_maps(grad_cam(logits[torch.arange(10), pred], feats[0]))
    np.testing.assert_allclose(maps, expected.detach().numpy(), atol=1e-6)
    target_maps = net.saliency(images, target=y)
    expected = normalize_maps(grad_cam(logits[torch.arange(10), torch.as_tensor(y)], feats[0]))
    np.testing.assert_allclose(target_maps, expected.detach().numpy(), atol=1e-6)
    assert net.saliency(images, target=2).shape == (10, 8, 8)
    with pytest.raises(ValueError, match="one class index per row"):
        net.saliency(images, target=[0, 1])
