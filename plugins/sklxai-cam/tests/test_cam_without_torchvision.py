"""sklxai, its plugins and the CAM explainers need no torchvision: with its import blocked (as
where it is absent), everything imports and a CAM is computed."""

import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[3]


def test_sklxai_and_every_plugin_work_without_torchvision():
    packages = sorted(p.name for p in ROOT.glob("plugins/*/sklxai_*") if p.is_dir())
    assert "sklxai_cam" in packages and "sklxai_res" in packages
    code = textwrap.dedent(f"""
        import importlib, sys
        sys.modules["torchvision"] = None  # import torchvision raises ImportError
        import numpy as np, torch
        import sklxai
        for name in {packages!r}:
            importlib.import_module(name)
        cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(),
                                  torch.nn.Flatten(), torch.nn.Linear(18, 2))
        images = np.random.default_rng(0).normal(size=(2, 1, 5, 5)).astype(np.float32)
        cam = sklxai.get_explainer("gradcam")(cnn, device="cpu").fit(images)
        assert cam.explain(images).values.shape == (2, 1, 5, 5)
        assert "torchvision" not in [m.split(".")[0] for m in sys.modules if sys.modules[m]]
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
