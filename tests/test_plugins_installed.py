"""The project's own plugin distributions (plugins/*): installed, found, and removable.

Each one is listed with its distribution, and uninstalling it (simulated by a fresh interpreter
whose site-packages lacks that distribution's files) removes its names and nothing else.
"""

import importlib.metadata
import pathlib
import subprocess
import sys
import sysconfig
import textwrap

import pytest

import sklxai

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = pathlib.Path(__file__).resolve().parents[1]
GROUPS = {"sklxai.explainers": "explainers", "sklxai.optimizers": "optimizers",
          "sklxai.metrics": "metrics", "sklxai.models": "models", "sklxai.training": "training"}


def _plugins():
    found = []
    for pyproject in sorted(ROOT.glob("plugins/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        names = {GROUPS[g]: sorted(eps) for g, eps in project.get("entry-points", {}).items()
                 if g in GROUPS}
        found.append((project["name"], names))
    return found


PLUGINS = _plugins()


def test_the_repository_has_the_seed_plugins():
    dists = {name for name, _ in PLUGINS}
    assert {"sklxai-samp", "sklxai-igos", "sklxai-bort"} <= dists


@pytest.mark.parametrize("dist, names", PLUGINS, ids=[p[0] for p in PLUGINS])
def test_plugin_is_listed_with_its_distribution_and_loads(dist, names):
    importlib.metadata.distribution(dist)  # installed by scripts/setup.sh
    for kind, entry_names in names.items():
        listed = sklxai.list_plugins(kind, refresh=True)
        for name in entry_names:
            assert listed[name].distribution == dist
            assert sklxai.get_plugin(kind, name) is not None


@pytest.mark.parametrize("dist, names", PLUGINS, ids=[p[0] for p in PLUGINS])
def test_uninstalling_a_plugin_removes_its_names_and_nothing_else(dist, names, tmp_path):
    site = pathlib.Path(sysconfig.get_paths()["purelib"])
    norm = dist.replace("-", "_")
    # a copy of site-packages without the distribution's metadata and editable-install hooks
    for entry in site.iterdir():
        if entry.name.startswith((f"{norm}-", f"__editable__.{norm}-",
                                  f"__editable___{norm}_")):
            continue
        (tmp_path / entry.name).symlink_to(entry)
    others = {n for d, ns in PLUGINS if d != dist for n in ns.get("explainers", [])}
    script = textwrap.dedent(f"""
        import site, sys
        sys.path = [p for p in sys.path if "site-packages" not in p]
        site.addsitedir({str(tmp_path)!r})
        import sklxai
        removed = {names!r}
        for kind, entry_names in removed.items():
            listed = sklxai.list_plugins(kind)
            assert not set(entry_names) & set(listed), (kind, sorted(listed))
            for name in entry_names:
                try:
                    sklxai.get_plugin(kind, name)
                except ValueError:
                    pass
                else:
                    raise AssertionError(name + " still loads")
        listed = sklxai.list_explainers()
        assert {sorted(others)!r} and set({sorted(others)!r}) <= set(listed), sorted(listed)
        import numpy as np
        from sklearn.linear_model import LinearRegression
        X = np.random.default_rng(0).normal(size=(30, 3))
        exact = sklxai.get_explainer("exact")(LinearRegression().fit(X, X.sum(1)), device="cpu")
        assert exact.fit(X).explain(X[:2]).values.shape == (2, 3)
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
