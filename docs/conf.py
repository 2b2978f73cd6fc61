"""Sphinx configuration of the sklxai documentation.

Build: ``bash scripts/docs.sh`` (installs the ``docs`` extra, then
``sphinx-build -W --keep-going -b html docs docs/_build/html``).

Nothing is fetched at build time (no intersphinx: CI reaches package registries only) and the
gallery is not executed (its examples train networks); ``python examples/NAME.py`` runs one.
"""

import os
import sys

# the package itself comes from the venv (editable install); this makes a plain checkout work too
sys.path.insert(0, os.path.abspath(".."))
# no third-party plugins are loaded while documenting: the API is sklxai's own
os.environ.setdefault("SKLXAI_DISABLE_PLUGIN_AUTOLOAD", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import sklxai  # noqa: E402

project = "sklxai"
author = "the sklxai developers"
copyright = "the sklxai developers, BSD-3-Clause"
version = release = sklxai.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "literal"          # `x` in the guide is code, as in the README
pygments_style = "sphinx"

# -- API reference: autosummary stubs from the docstrings (numpydoc format) ---------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"         # numpydoc's Parameters sections carry the types
autodoc_member_order = "groupwise"
# the sklearn-contrib practice: autosummary lists the members, numpydoc does not add a second
# (stub-less) table of them
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
numpydoc_xref_param_type = False

# -- gallery: examples/ rendered, not executed ---------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "plot_gallery": False,              # the examples train networks: run them yourself
    "filename_pattern": r"^$",          # and never execute one, even with -D plot_gallery=1
    "download_all_examples": False,
    "doc_module": ("sklxai",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"sklxai": None},
    "remove_config_comments": True,
    "show_memory": False,
    "show_signature": False,
}

# -- HTML ------------------------------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"sklxai {release}"
html_static_path = []
html_theme_options = {
    "description": "scikit-learn-style explainability for torch/skorch models",
    "fixed_sidebar": True,
    "page_width": "1180px",
    "sidebar_width": "230px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}



def _skip_foreign_member(app, what, name, obj, skip, options):
    """Document sklxai's own members only, not those inherited from scikit-learn or torch.

    ``get_params``, ``set_output``, ``Module.forward`` and the like are documented by their own
    projects, and their docstrings refer to labels that exist only there.
    """
    if skip or what != "class":
        return None
    target = getattr(obj, "fget", None) or getattr(obj, "__func__", None) or obj
    module = getattr(target, "__module__", None) or ""
    if module and not module.startswith(("sklxai", "sklxai_")):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_member)
