"""Image patches on digits
=======================

Image patches on digits: exact Shapley values of 2x2 patches, SimSHAP with a CNN explainer.

A skorch CNN is trained on sklearn's bundled 8x8 digits, passed as images of shape (n, 1, 8, 8)
to the net, the explainers and the plot alike. Each image is split into 16 patches of
2x2 pixels (``image_patch_groups``), so exact Shapley values (all 2**16 coalitions) are
computable; SimSHAP learns to predict them in one forward pass with a convolutional explainer
network (``PatchCNNExplainerModule``). The values are drawn as an overlay on the images.

Run: python examples/digits_patches.py [--quick]   (writes digits_patches.png in a temp folder)
"""

import os
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot
import numpy as np
import torch
from sklearn.datasets import load_digits
from skorch import NeuralNetClassifier

from sklxai import ExactShapley, SimSHAP
from sklxai.explainers.networks import PatchCNNExplainerModule
from sklxai.games.grouped import image_patch_groups, patches_to_image
from sklxai.metrics import relative_error
from sklxai.plotting import image

quick = "--quick" in sys.argv
torch.manual_seed(0)
X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32).reshape(-1, 1, 8, 8)   # images, channels first
X_train, y_train, X_test = X[:1400], y[:1400], X[1400:]
cnn = torch.nn.Sequential(
    torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(),
    torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16 * 16, 10))
net = NeuralNetClassifier(cnn, criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.Adam,
                          lr=0.01, max_epochs=3 if quick else 15, train_split=None, verbose=0)
net.fit(X_train, y_train)
print(f"CNN test accuracy: {(net.predict(X_test) == y[1400:]).mean():.3f}")

patch = 4 if quick else 2                      # quick: 4 players of 4x4 pixels
groups = image_patch_groups((1, 8, 8), patch)  # 2: {"patch_0_0": [0, 1, 8, 9], ...}, 16 players
n_check = 10 if quick else 50
exact = ExactShapley(net, n_background=4 if quick else 16, feature_groups=groups,
                     target=None, random_state=0).fit(X_train)
reference = exact.explain(X_test[:n_check])   # (n, 16 patches, 10 classes)

simshap = SimSHAP(net, background=exact.background_, feature_groups=groups,
                  module=PatchCNNExplainerModule((8, 8), patch_size=patch, n_outputs=10,
                                                 channels=(16, 32)),
                  max_epochs=2 if quick else 40, n_coalitions=16, lr=3e-3, train_batch_size=64,
                  random_state=0)
simshap.fit(X_train[:300] if quick else X_train)
exp = simshap.explain(X_test[:n_check])
print(f"SimSHAP vs exact on {n_check} images: relative error "
      f"{relative_error(exp.values, reference.values):.1%}; efficiency gap "
      f"{exp.efficiency_gap:.1e}")

pred = net.predict(X_test[:4])
maps = patches_to_image(exp.values[np.arange(4), :, pred], (8, 8), patch)   # (4, 8, 8) per pixel
fig, axes = matplotlib.pyplot.subplots(1, 4, figsize=(10, 3))
for i, ax in enumerate(axes):
    image(maps, row=i, image=X_test[i], ax=ax)  # the shapes are read from the arrays
    ax.set_title(f"predicted {pred[i]}")
out = os.path.join(tempfile.mkdtemp(), "digits_patches.png")
fig.savefig(out)
print(f"overlay written to {out}")
