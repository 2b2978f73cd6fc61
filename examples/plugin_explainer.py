"""Writing an explainer plugin
===========================

Write, install and use a third-party explainer plugin, exactly as another package would.

The plugin is a tiny distribution, ``sklxai-occlusion``, written to a temporary folder:

- ``occlusion_plugin/__init__.py`` defines ``Occlusion``, a subclass of ``sklxai.BaseExplainer``
  (leave-one-out attribution: f(x) minus f(x with feature i replaced by the background mean));
- ``pyproject.toml`` registers it under the entry-point group ``sklxai.explainers``.

It is installed with pip (into a temporary ``--target`` folder put on ``sys.path``, so your
environment is not touched; in a real project: ``pip install .``), found by
``sklxai.list_explainers()`` and used by name through ``sklxai.get_explainer("occlusion")``.
Taking the folder off ``sys.path`` uninstalls it: its name disappears and nothing else changes.

Run: python examples/plugin_explainer.py [--quick]
"""

import pathlib
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

import sklxai

PLUGIN = '''
"""Occlusion: an sklxai explainer plugin (leave-one-out attribution)."""

import numpy as np

from sklxai import BaseExplainer


class Occlusion(BaseExplainer):
    """phi_i(x) = f(x) - f(x with feature i set to the background mean).

    Model-agnostic and cheap (d + 1 model calls per row); not efficient (the values need not
    sum to f(x) - f(mean)). Parameters: see sklxai.BaseExplainer.
    """

    def _fit(self, X, y):
        # what the method learns at fit: the reference value of each feature
        self.reference_ = self.background_.mean(axis=0)

    def _explain(self, X, rng):
        n, d = X.shape
        predict = self.adapter_.predict
        fx = predict(X, batch_size=self.batch_size)                  # (n, k)
        occluded = np.repeat(X[:, None, :], d, axis=1)                 # (n, d, d)
        occluded[:, np.arange(d), np.arange(d)] = self.reference_
        fo = predict(occluded.reshape(n * d, d), batch_size=self.batch_size).reshape(n, d, -1)
        values = fx[:, None, :] - fo                                   # (n, d, k)
        base = np.broadcast_to(predict(self.reference_[None, :]), fx.shape).copy()
        return values, base, fx
'''

PYPROJECT = """
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "sklxai-occlusion"
version = "0.1.0"
dependencies = ["sklxai"]

[project.entry-points."sklxai.explainers"]
occlusion = "occlusion_plugin:Occlusion"

[tool.setuptools]
packages = ["occlusion_plugin"]
"""

root = pathlib.Path(tempfile.mkdtemp())
src, site = root / "sklxai-occlusion", root / "site"
(src / "occlusion_plugin").mkdir(parents=True)
(src / "occlusion_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
(src / "pyproject.toml").write_text(PYPROJECT)
subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                "--no-build-isolation", "--target", str(site), str(src)], check=True)
print(f"installed sklxai-occlusion into {site}")

sys.path.insert(0, str(site))                       # what `pip install .` does for you
info = sklxai.list_explainers(refresh=True)["occlusion"]
print(f"found 'occlusion' in {info.distribution} {info.version}")

X, y = load_diabetes(return_X_y=True)
model = Ridge().fit(X, y)
Occlusion = sklxai.get_explainer("occlusion")
explainer = Occlusion(model, background=X).fit(X)
exp = explainer.explain(X[:5])
# for a linear model, occlusion is w_i (x_i - mean_i): check it against the coefficients
np.testing.assert_allclose(exp.values, model.coef_ * (X[:5] - X.mean(axis=0)))
print("values of the first row:", np.round(exp.values[0], 1))

sys.path.remove(str(site))                          # what `pip uninstall` does
names = sklxai.list_explainers(refresh=True)
print("after uninstalling: 'occlusion' registered:", "occlusion" in names,
      "| built-ins still there:", all(n in names for n in ("exact", "kernelshap", "simshap")))
