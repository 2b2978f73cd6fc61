"""Gradient attributions of a CNN, side by side
=============================================

Several attribution methods explain the same digits with the same CNN, each with its defaults.

A small skorch CNN is trained on sklearn's bundled 8x8 digits, passed as images of shape
(n, 1, 8, 8) to the net, the explainers, the metric and the plot alike. Each method explains
the predicted class of the same four test images: Integrated Gradients, Saliency, SmoothGrad (over
Saliency), DeepLIFT, Occlusion, and, when their plugins are installed, Grad-CAM (``sklxai-cam``)
and I-GOS (``sklxai-igos``). A row of the figure is one method, drawn with
:func:`sklxai.plotting.image` over the digit (red: evidence for the predicted class, blue:
against it); the script prints each method's mean insertion AUC on those images (the metric's
defaults: the predicted class, pixels put back onto a black image, most important first; higher
is better) next to a random map's.

Run: python examples/deep_attributions.py [--quick]   (writes deep_attributions.png in a temp
folder)
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

import sklxai
from sklxai.metrics import insertion_auc
from sklxai.plotting import image

quick = "--quick" in sys.argv
torch.manual_seed(0)
X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32).reshape(-1, 1, 8, 8)   # images, channels first
X_train, y_train, X_test = X[:1400], y[:1400], X[1400:]
cnn = torch.nn.Sequential(
    torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(),
    torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(),
    torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64 * 4, 10))
net = NeuralNetClassifier(cnn, criterion=torch.nn.CrossEntropyLoss, optimizer=torch.optim.AdamW,
                          lr=3e-3, batch_size=64, max_epochs=3 if quick else 30,
                          train_split=None, verbose=0, iterator_train__shuffle=True)
net.fit(X_train, y_train)
print(f"CNN test accuracy: {(net.predict(X_test) == y[1400:]).mean():.3f}")

# every method with its defaults; the explained output is each image's predicted class
methods = {
    "Integrated Gradients": sklxai.IntegratedGradients(net),
    "Saliency": sklxai.Saliency(net),
    "SmoothGrad": sklxai.SmoothGrad(sklxai.Saliency(net), n_samples=10 if quick else 50,
                                    random_state=0),
    "DeepLIFT": sklxai.DeepLIFT(net),
    "Occlusion": sklxai.Occlusion(net),
}
for name, registered in (("Grad-CAM", "gradcam"), ("I-GOS", "igos")):
    try:  # plugins: found by name when their distribution is installed
        cls = sklxai.get_explainer(registered)
    except (ValueError, sklxai.registry.PluginError):
        print(f"{name}: plugin not installed, left out")
        continue
    methods[name] = cls(net, n_iter=3) if registered == "igos" and quick else cls(net)

rows = X_test[:4]
pred = net.predict(rows)
random_map = np.random.default_rng(0).random(rows.shape)
print(f"insertion AUC (higher is better), 4 images: random map "
      f"{insertion_auc(net, rows, random_map).mean():.3f}")
explanations = {}
for name, explainer in methods.items():
    explanations[name] = explainer.fit(X_train).explain(rows)   # values (4, 1, 8, 8)
    print(f"  {name}: {insertion_auc(net, rows, explanations[name]).mean():.3f}")

fig, axes = matplotlib.pyplot.subplots(len(explanations), len(rows),
                                       figsize=(2.2 * len(rows), 2.2 * len(explanations)))
for r, (name, exp) in enumerate(explanations.items()):
    for i in range(len(rows)):
        ax = axes[r, i]
        # the shapes are read from the explanation; Occlusion explains every output by
        # default (values (4, 1, 8, 8, 10)): draw the predicted one
        several = exp.values.ndim == 5
        image(exp, row=i, image=rows[i], output=int(pred[i]) if several else None, ax=ax)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"predicted {pred[i]}" if r == 0 else "")
        if i == 0:
            ax.set_ylabel(name, fontsize=8)
fig.tight_layout()
out = os.path.join(tempfile.mkdtemp(), "deep_attributions.png")
fig.savefig(out)
print(f"figure written to {out}")
