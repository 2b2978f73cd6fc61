"""Size limits that keep sklxai's code readable: no class over 300 lines, and the tree
explainer an estimator only (its algorithm lives beside the tree layout, in
``sklxai/games/trees/``)."""

import ast
import pathlib

import sklxai

ROOT = pathlib.Path(sklxai.__file__).parent
MAX_CLASS_LINES = 300
MAX_TREE_EXPLAINER_LINES = 250


def class_lengths(root=ROOT):
    """(lines, "path:Class") of every class defined under ``root``, nested ones included."""
    out = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                length = node.end_lineno - node.lineno + 1
                out.append((length, f"{path.relative_to(root.parent)}:{node.name}"))
    return out


def test_no_class_over_the_limit():
    long = sorted(((n, name) for n, name in class_lengths() if n > MAX_CLASS_LINES),
                  reverse=True)
    assert not long, f"classes over {MAX_CLASS_LINES} lines: {long}"


def test_tree_explainer_is_an_estimator_only():
    lines = len((ROOT / "explainers" / "tree.py").read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_TREE_EXPLAINER_LINES, (
        f"sklxai/explainers/tree.py has {lines} lines; the tree algorithm belongs in "
        "sklxai/games/trees/")


def test_class_lengths_are_measured(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text("class A:\n" + "    x = 1\n" * 400 + "\n\nclass B:\n    pass\n")
    lengths = dict((name, n) for n, name in class_lengths(pkg))
    assert lengths == {"pkg/a.py:A": 401, "pkg/a.py:B": 2}
