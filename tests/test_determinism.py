"""The same random_state gives identical values on CPU, for every registered explainer."""

import numpy as np
import pytest
import torch

import sklxai
from torchvision_loader import import_torchvision

CAMS = ("gradcam", "gradcam++", "hirescam", "layercam", "scorecam")
#: small settings per registered name, so that every explainer runs in about a second
FAST = {
    "kernelshap": {"n_coalitions": 16},
    "kernel_interactions": {"n_coalitions": 16},
    "permutation": {"n_coalitions": 12},
    "leverageshap": {"n_coalitions": 16},
    "msr": {"n_coalitions": 16, "n_trees": 4},
    "sampling": {"n_coalitions": 16},
    "simshap": {"max_epochs": 2, "hidden_sizes": (16,), "n_coalitions": 8},
    "fastshap": {"max_epochs": 2, "hidden_sizes": (16,), "n_coalitions": 8},
    "integrated_gradients": {"n_steps": 8},
    "gradient_shap": {"n_samples": 8, "stdevs": 0.1},
    "smoothgrad": {"n_samples": 4},
    "samp": {"n_steps": 8},
    "igos": {"n_iter": 3, "ig_steps": 4, "noise": 0.1},
    "igos++": {"n_iter": 3, "ig_steps": 4, "noise": 0.1},
    # SAG explains images: the 5 columns are a flattened 1x5 image, one patch per pixel; the
    # I-GOS seed's noise makes random_state matter
    "sag": {"image_shape": (1, 1, 5), "patch_size": 1,
            "seed_params": {"n_iter": 3, "ig_steps": 4, "noise": 0.1}},
    "c3lt": {"latent_dim": 2, "hidden_size": 8, "autoencoder_steps": 20, "map_steps": 20},
    "xnn": {"max_steps": 20, "hidden_size": 8},
    # class activation maps: the 5 columns are a flattened 1 x 5 image (a CNN, see _model)
    **{name: {"image_shape": (1, 1, -1)} for name in CAMS},
}
NAMES = sorted(sklxai.list_explainers())
#: explainers that wrap another (SmoothGrad) are built around the one named here
WRAPPERS = {"smoothgrad": "saliency"}
#: explainers whose library imports torchvision when they are fitted (LRP: zennit), loaded
#: first through the test loader (torchvision's C ops need not load)
NEEDS_TORCHVISION = {"lrp"}


def _model(name, X):
    if name in ("tree", "tree_interactions"):  # explain tree models only
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(10, max_depth=4, random_state=0).fit(
            X, np.digitize(X[:, 0], [-0.5, 0.5]))
    torch.manual_seed(0)
    if name == "c3lt":  # counterfactuals from class 0 to class 1: the model must predict both
        linear = torch.nn.Linear(5, 3).double()
        with torch.no_grad():
            linear.weight.zero_()
            linear.weight[0, 0], linear.weight[1, 0] = -1.0, 1.0
            linear.bias.copy_(torch.tensor([0.0, 0.0, -10.0]))
        return linear
    if name in CAMS:  # a layer with feature maps: a 1x1 convolution of the 1 x 5 image
        return torch.nn.Sequential(torch.nn.Unflatten(1, (1, 1, 5)), torch.nn.Conv2d(1, 2, 1),
                                   torch.nn.Tanh(), torch.nn.Flatten(),
                                   torch.nn.Linear(10, 3)).double()
    return torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(),
                               torch.nn.Linear(8, 3)).double()


@pytest.mark.parametrize("name", NAMES)
def test_same_random_state_same_values(name):
    cls = sklxai.get_explainer(name)
    if name in NEEDS_TORCHVISION:
        import_torchvision()
    X = np.random.default_rng(0).normal(size=(120, 5))
    model = _model(name, X)

    def run(seed):
        if name in WRAPPERS:
            inner = sklxai.get_explainer(WRAPPERS[name])(model, n_background=20, device="cpu",
                                                         random_state=seed)
            return cls(inner, random_state=seed, **FAST[name]).fit(X).transform(X[:7])
        est = cls(model, n_background=20, device="cpu", random_state=seed, **FAST.get(name, {}))
        return est.fit(X).transform(X[:7])

    first, second = run(3), run(3)
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, second)
