"""Product text speaks of the product only.

The README, the docs, the docstrings and comments of the code, the tests, the benchmarks, the
examples, the scripts and the plugins describe what sklxai does, with every figure's machine and
command. They never cite the project's own issue numbers, a design file outside the
documentation (the design is ``docs/design.rst``), a machine by its role instead of its CPU, or
how and when the project was made (periods of work, dates of work); a reader cannot follow such
references.
Citations of other projects' issues (``shap#1824``) and pytest's fixture scopes are fine.

This test scans every text file git knows under those paths (tracked, or new and not ignored)
and fails on such wording, naming the file, the line and the rule. A line that is legitimately
about something else goes in ``ALLOWED`` with the reason.

The patterns are assembled from pieces so that this file does not contain what it refuses; the
samples of the unit checks are assembled the same way.
"""

import os
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: what is product text: these paths of the repository
SCANNED = ("README.md", "docs", "sklxai", "plugins", "benchmarks", "tests", "examples", "scripts")
#: text files among them, by suffix
TEXT_SUFFIXES = {".py", ".rst", ".md", ".txt", ".toml", ".sh", ".cfg", ".ini", ".yml", ".yaml",
                 ".html", ".css", ".js"}
#: generated or local outputs, skipped when git cannot list the files (a copy without .git)
SKIPPED_DIRS = {"_build", "auto_examples", "generated", "gen_modules", "__pycache__", ".venv",
                "results", "build", "dist", ".pytest_cache"}

_ISSUE = "iss" + "ue"
_SESSION = "sess" + "ion"

#: rule name -> compiled pattern (case-insensitive)
RULES = {
    # the project's own issue numbers; a citation such as shap#1824 has no such word
    "issue number": re.compile(r"\b" + _ISSUE + r"s?\s+#?\d", re.IGNORECASE),
    # a design file outside the documentation
    "outside design file": re.compile(r"\bDESIGN" + r"\.md\b", re.IGNORECASE),
    # a file outside the repository
    "outside the repository": re.compile(r"\.\./shar" + r"ed/", re.IGNORECASE),
    "machine by its role": re.compile(r"\bdevelop" + r"ment\s+machines?\b", re.IGNORECASE),
    # periods of work; pytest's fixture scope and code are exempted below
    "period of work": re.compile(r"\b(" + _SESSION + r"s?|spr" + r"ints?)\b", re.IGNORECASE),
    # dates of work: ISO dates in text (a date format such as %Y-%m-%d does not match)
    "date": re.compile(r"\b(19|20)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\b"),
    # figures or code dated by how the project was made
    "history": re.compile(
        r"\bwas\s+[\d.]+x\s+bef" + r"ore\b"
        r"|\bbefore\s+(the|its|this)\s+(re" + r"write|re" + r"design|re" + r"factor\w*)\b"
        r"|\bwe\s+(now|then)\b"
        r"|\blast\s+ti" + r"me\b",
        re.IGNORECASE,
    ),
}

#: (path, rule, a piece of the line) -> why that line is about something else
ALLOWED = {}


def _is_code_use(rule, line, match):
    """Whether a "period of work" match is code or pytest's fixture scope, not prose."""
    if rule != "period of work" or not match.group(1).lower().startswith(_SESSION[:4]):
        return False
    before, after = line[: match.start()], line[match.end():]
    if re.search(r"scope\s*=\s*[\"']$", before):  # @pytest.fixture(scope="...")
        return True
    if before.endswith(".") or after.startswith(("(", ".")):  # requests.Session(), x.session.get
        return True
    # a parameter or argument: def pytest_sessionstart(session), f(session, ...)
    return before.rstrip().endswith(("(", ",")) and after.lstrip().startswith((")", ",", ":", "="))


def find_history_text(text, path="<text>"):
    """Every (path, line number, rule, line) where ``text`` speaks of its own making.

    Parameters
    ----------
    text : str
    path : str
        The file's path relative to the repository, for messages and ``ALLOWED``.

    Returns
    -------
    findings : list of tuple
    """
    findings = []
    for number, line in enumerate(text.splitlines(), start=1):
        for rule, pattern in RULES.items():
            for match in pattern.finditer(line):
                if _is_code_use(rule, line, match) or _allowed(path, rule, line):
                    continue
                findings.append((path, number, rule, line.strip()))
                break
    return findings


def _allowed(path, rule, line, allowed=None):
    allowed = ALLOWED if allowed is None else allowed
    return any(p == path and r == rule and piece in line for (p, r, piece) in allowed)


def product_files():
    """Relative paths of the product's text files: what git lists (tracked, or new and not
    ignored) under ``SCANNED``; without git, a walk that skips generated folders."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *SCANNED],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout
        paths = [p for p in out.splitlines() if p]
    except (OSError, subprocess.CalledProcessError):
        paths = []
        for top in SCANNED:
            base = ROOT / top
            if base.is_file():
                paths.append(top)
                continue
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = [d for d in dirnames
                               if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
                rel = pathlib.Path(dirpath).relative_to(ROOT)
                paths += [str(rel / f) for f in filenames]
    return sorted(p for p in set(paths)
                  if pathlib.PurePath(p).suffix in TEXT_SUFFIXES and (ROOT / p).is_file())


# ------------------------------------------------------------------ the matcher on samples
def _joined(*parts):
    return "".join(parts)


@pytest.mark.parametrize("text, rule", [
    (_joined("Target (", _ISSUE, " 4): >= 20x on a GPU."), "issue number"),
    (_joined(_ISSUE.capitalize(), " 14, part 4: the amortized explainers"), "issue number"),
    (_joined("see ", _ISSUE, " #12"), "issue number"),
    (_joined("the relative error of DESIGN", ".md"), "outside design file"),
    (_joined("(``../shar", "ed/DESIGN", ".md``, \"Tree ensembles\")"), "outside design file"),
    (_joined("no package index; see ../shar", "ed/GPU.md"), "outside the repository"),
    (_joined("2-core CPU of the develop", "ment machine"), "machine by its role"),
    (_joined("rows/s on the develop", "ment machines"), "machine by its role"),
    (_joined("third ", _SESSION, " of the day"), "period of work"),
    (_joined("no GPU was lent to this ", _SESSION), "period of work"),
    (_joined("planned for the next spr", "int"), "period of work"),
    (_joined("Machine: AMD EPYC, 2026-", "11-23, shap 0.51"), "date"),
    (_joined("the forest was 0.71x bef", "ore its walk was rewritten"), "history"),
    (_joined("values pinned before the re", "design"), "history"),
    (_joined("we ", "now cache the trees"), "history"),
    (_joined("faster than last ti", "me"), "history"),
])
def test_matcher_refuses_history_wording(text, rule):
    rules = [found[2] for found in find_history_text(text)]
    assert rule in rules, (text, rules)


@pytest.mark.parametrize("text", [
    _joined("@pytest.fixture(scope=\"", _SESSION, "\")"),
    _joined("@pytest.fixture(scope='", _SESSION, "')"),
    _joined("client = requests.", _SESSION.capitalize(), "()"),
    _joined("out = http_", _SESSION, ".get(url)"),
    _joined("def pytest_", _SESSION, "start(", _SESSION, "):"),
    "shap/shap#3267 reports failures on deep trees; see also shap #3938",
    "Machine: a 2-core AMD EPYC CPU (1 torch thread, shap 0.51.0, load average about 1)",
    "stamp = now.strftime('%Y-%m-%d %H:%M UTC')",
    _joined("the ", _ISSUE, "s a user meets with raw columns"),
    "Only used to fit an unfitted model; the design is docs/design.rst",
    "before the method's own _fit; before the correction is computed",
])
def test_matcher_passes_product_text(text):
    assert find_history_text(text) == []


def test_allow_list_exempts_only_its_line():
    line = _joined("a license of 2001-", "05-01")
    allowed = {("data/LICENSE.txt", "date", "a license of"): "the data's own license"}
    assert _allowed("data/LICENSE.txt", "date", line, allowed)
    assert not _allowed("other.txt", "date", line, allowed)
    assert not _allowed("data/LICENSE.txt", "issue number", line, allowed)
    assert not _allowed("data/LICENSE.txt", "date", "another line", allowed)


# ------------------------------------------------------------------ the product
def test_product_text_speaks_of_the_product():
    files = product_files()
    # the scan is not vacuous: it sees the README, the design, the code and this file
    for must in ("README.md", "docs/design.rst", "sklxai/base.py", "tests/test_product_text.py"):
        assert must in files, f"{must} is not scanned"
    findings, used = [], set()
    for path in files:
        text = (ROOT / path).read_text(encoding="utf-8", errors="replace")
        findings += find_history_text(text, path)
        used |= {key for key in ALLOWED
                 if key[0] == path and key[2] in text}
    message = "\n".join(f"{path}:{number}: {rule}: {line}"
                        for path, number, rule, line in findings)
    assert not findings, (
        "Product text speaks of how or when the project was made; say what the product does "
        "(figures with their machine and command; the design is docs/design.rst), or add the "
        f"line to ALLOWED with the reason:\n{message}"
    )
    stale = set(ALLOWED) - used
    assert not stale, f"ALLOWED entries that match no line any more: {sorted(stale)}"
