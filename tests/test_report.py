"""The HTML report: one self-contained file, every section, user strings escaped.

The last test opens a report in headless Chromium and checks the screenshot is not blank; it is
skipped where no Chromium binary is installed (CI): ``apt-get install -y chromium`` on Debian.
"""

import base64
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from sklxai import Explanation, make_report
from sklxai.metrics import relative_error
from sklxai.report import _SECTIONS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NASTY_FEATURE = "<b>x</b>"
NASTY_OUTPUT = "<script>alert(1)</script>"
FEATURES = ["age", "income", NASTY_FEATURE, "hours"]


def _explanation(n=12, k=2, seed=0, **kw):
    rng = np.random.default_rng(seed)
    shape = (n, len(FEATURES), k) if k else (n, len(FEATURES))
    values = rng.normal(size=shape)
    base = rng.normal(size=(n, k) if k else n)
    output = values.sum(axis=1) + base
    names = ["no", NASTY_OUTPUT][:k] if k else None
    return Explanation(values, base, rng.normal(size=(n, len(FEATURES))), FEATURES,
                       output_names=names, output=output, **kw)


def _sections(text):
    """id -> the HTML of that section."""
    found = re.findall(r'<section id="([^"]+)">(.*?)</section>', text, re.DOTALL)
    return dict(found)


def _assert_self_contained(text):
    lowered = text.lower()
    for bad in ('src="http', "src='http", 'href="http', "href='http", "<script",
                "<link", "@import", "url(", "<iframe", "<object", "<embed"):
        assert bad not in lowered, bad
    imgs = re.findall(r"<img\b[^>]*>", text)
    assert imgs
    for tag in imgs:
        m = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', tag)
        assert m, tag[:80]
        assert base64.b64decode(m.group(1), validate=True)[:8] == PNG_SIGNATURE
    # every link stays inside the page
    for href in re.findall(r'href="([^"]*)"', text):
        assert href.startswith("#"), href


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    exp = _explanation(method="kernelshap")
    rng = np.random.default_rng(1)
    reference = Explanation(exp.values + 0.01 * rng.normal(size=exp.values.shape),
                            exp.base_values, exp.data, FEATURES, exp.output_names,
                            exp.output, method="exact")
    path = tmp_path_factory.mktemp("report") / "report.html"
    text = make_report(exp, path, reference=reference, title="My <i>model</i> & co",
                       timings={"<fit>": 1.5}, extra={"<key>": "<value>", "acc": 0.123456},
                       n_waterfalls=2, dpi=50)
    return exp, reference, path, text


def test_report_is_one_self_contained_file(report):
    _, _, path, text = report
    assert path.read_text(encoding="utf-8") == text
    assert text.startswith("<!DOCTYPE html>")
    _assert_self_contained(text)
    assert "Content-Security-Policy" in text


def test_report_has_every_section(report):
    _, _, _, text = report
    sections = _sections(text)
    assert list(sections) == [sid for sid, _ in _SECTIONS]
    for sid, heading in _SECTIONS:
        assert f"<h2>{heading}</h2>" in sections[sid]
    assert sections["importance"].count("<img") == 1
    assert sections["beeswarm"].count("<img") == 1
    assert sections["waterfalls"].count("<img") == 2
    assert "highest model output" in sections["waterfalls"]
    assert "lowest model output" in sections["waterfalls"]


def test_user_strings_are_escaped(report):
    _, _, _, text = report
    assert NASTY_FEATURE not in text
    assert "&lt;b&gt;x&lt;/b&gt;" in text
    assert NASTY_OUTPUT not in text and "&lt;script&gt;" in text
    assert "<i>model</i>" not in text
    assert "My &lt;i&gt;model&lt;/i&gt; &amp; co" in text
    assert "<key>" not in text and "&lt;key&gt;" in text and "&lt;value&gt;" in text
    assert "&lt;fit&gt;" in text


def test_importance_table_and_accuracy(report):
    exp, reference, _, text = report
    sections = _sections(text)
    # the last output is shown by default, and the report says so
    assert "show output 1" in sections["summary"]
    imp = np.abs(exp.values[:, :, 1]).mean(axis=0)
    top = FEATURES[int(np.argmax(imp))]
    first_row = re.search(r"<tr><td>1</td><td>([^<]*)</td>", sections["importance"]).group(1)
    assert first_row == top.replace("<", "&lt;").replace(">", "&gt;")
    acc = sections["accuracy"]
    shown = relative_error(exp.values[:, :, 1], reference.values[:, :, 1])
    every = relative_error(exp.values, reference.values)
    assert f"{100 * shown:.3f}%" in acc
    assert f"{100 * every:.3f}%" in acc
    assert "exact" in acc
    max_err = np.abs(exp.values[:, :, 1] - reference.values[:, :, 1]).max()
    assert f"{max_err:.4g}" in acc
    assert "0.1235" in sections["settings"]  # extra floats with 4 significant digits
    assert "1.500" in sections["timing"]


def test_report_of_a_fitted_explainer(tmp_path):
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    from sklxai import ExactShapley, KernelSHAP

    X, y = load_diabetes(return_X_y=True, as_frame=True)
    X = X.iloc[:80, :5]
    model = Ridge().fit(X, y.iloc[:80])
    est = KernelSHAP(model, n_background=10, n_coalitions=32, random_state=0).fit(X)
    exp = est.explain(X.iloc[:6])
    exact = ExactShapley(model, background=est.background_).fit(X).explain(X.iloc[:6])
    est.fit_time_ = 0.25  # as the amortized explainers record it
    text = make_report(exp, None, explainer=est, reference=exact, n_waterfalls=1, dpi=40)
    assert not list(tmp_path.iterdir())  # path=None writes nothing
    sections = _sections(text)
    settings = sections["settings"]
    assert "sklxai.explainers.kernel.KernelSHAP" in settings
    assert "sklearn.linear_model._ridge.Ridge" in settings
    assert "n_coalitions" in settings and "<code>32</code>" in settings
    assert "device" in settings and "cpu" in settings
    assert "fit_time_" in sections["timing"] and "0.250" in sections["timing"]
    # a regressor: one output, no note about picking one
    assert 'class="note"' not in sections["summary"]
    assert f"{100 * relative_error(exp, exact):.3f}%" in sections["accuracy"]


def test_parameter_reprs_are_escaped_and_shortened():
    class Dummy:
        def get_params(self, deep=True):
            return {"name": "<img src=x onerror=alert(1)>", "background": np.zeros((500, 4)),
                    "long": "y" * 1000}

    text = make_report(_explanation(n=4, k=0), explainer=Dummy(), n_waterfalls=0, dpi=30)
    settings = _sections(text)["settings"]
    assert "<img src=x" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in settings
    assert "ndarray of shape (500, 4)" in settings
    assert "y" * 200 not in settings and "..." in settings
    assert "No reference was given" in _sections(text)["accuracy"]
    assert "No timings were recorded" in _sections(text)["timing"]


def test_the_report_picks_outputs_as_select_output_does():
    exp = _explanation(n=6, k=2, seed=3)
    # the reference of output 0 only agrees with the report of output 0, named or by position
    ref = exp.select_output("no").values
    for key in ("no", 0, -2):
        text = make_report(exp, output=key, reference=ref, n_waterfalls=0, dpi=30)
        assert "show output 0 (no)" in _sections(text)["summary"]
        assert "max |phi - phi*|</th><td>0</td>" in _sections(text)["accuracy"]
    other = make_report(exp, output=1, reference=ref, n_waterfalls=0, dpi=30)
    assert "max |phi - phi*|</th><td>0</td>" not in _sections(other)["accuracy"]
    for bad, error in ((2, IndexError), ("yes", KeyError), (True, TypeError)):
        with pytest.raises(error) as from_report:
            make_report(exp, output=bad)
        with pytest.raises(error) as from_explanation:
            exp.select_output(bad)
        assert str(from_report.value) == str(from_explanation.value)


def test_output_choice_one_row_and_bad_inputs():
    exp = _explanation(n=5)
    text = make_report(exp, output="no", n_waterfalls=0, dpi=30)
    assert "show output 0 (no), as asked" in _sections(text)["summary"]
    one = make_report(exp[2], waterfall_rows=[0], dpi=30)
    assert _sections(one)["waterfalls"].count("<img") == 1
    assert "<td>1</td>" in _sections(one)["summary"]  # one row explained
    # a reference for the shown output only is accepted; a mismatched one is not
    make_report(exp, reference=exp.values[:, :, 1], n_waterfalls=0, dpi=30)
    with pytest.raises(ValueError, match="same rows"):
        make_report(exp, reference=exp.values[:3], n_waterfalls=0, dpi=30)
    with pytest.raises(KeyError):
        make_report(exp, output="nope")
    with pytest.raises(ValueError, match="out of range"):
        make_report(exp, waterfall_rows=[7])
    image = Explanation(np.zeros((2, 1, 8, 8)), np.zeros(2), np.zeros((2, 1, 8, 8)),
                        [f"p{i}" for i in range(64)])
    with pytest.raises(ValueError, match="Image attributions"):
        make_report(image)
    with pytest.raises(TypeError, match="Explanation"):
        make_report(np.zeros((3, 4)))


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_report_renders_in_headless_chromium(report, tmp_path):
    """Open the report in headless Chromium; the screenshot must be a real, non-blank page."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium binary (Debian: apt-get install -y chromium)")
    import matplotlib.image

    _, _, path, _ = report
    shot = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        res = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={shot}",
             "--window-size=1280,2400", path.resolve().as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.exists() and shot.read_bytes()[:8] == PNG_SIGNATURE
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2400, 1280)
    rgb = pixels[..., :3].reshape(-1, 3)
    assert rgb.std(axis=0).max() > 0.05  # not a blank page
    # the embedded figures drew the red bars of positive contributions (#ff0051)
    red = (rgb[:, 0] > 0.9) & (rgb[:, 1] < 0.15) & (rgb[:, 2] > 0.2) & (rgb[:, 2] < 0.45)
    assert red.sum() > 500


def test_summary_shows_the_largest_standard_error_relative_to_its_row():
    from sklxai.report import relative_std_error

    values = np.array([[1.0, -1.0, 2.0], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]])
    errors = np.array([[0.1, 0.2, 0.1], [0.1, 0.05, 0.05], [0.1, 0.1, 0.1]])
    exp = Explanation(values, np.zeros(3), np.zeros((3, 3)), ["a", "b", "c"],
                      std_errors=errors)
    # row 0: 0.2 / (4/3) = 15%; row 1: 0.1 / 0.5 = 20%; row 2 (all zero) left out
    summary = relative_std_error(values, errors)
    assert summary["row"] == 1
    np.testing.assert_allclose([summary["max"], summary["median"]], [0.2, 0.175])
    text = _sections(make_report(exp, None, n_waterfalls=0, dpi=30))["summary"]
    assert "largest standard error" in text and "20.0% (row 1)" in text
    assert "17.5%" in text
    assert "largest standard error" not in _sections(make_report(
        exp._replace(std_errors=None), None, n_waterfalls=0, dpi=30))["summary"]
    # (n, d, k) values: one output, or every (row, output)
    three = np.stack([values, 2 * values], axis=2)
    errs3 = np.stack([errors, errors * 10], axis=2)
    assert relative_std_error(three, errs3, 0)["row"] == 1
    every = relative_std_error(three, errs3)
    assert every["row"] == 1 and np.isclose(every["max"], 1.0)  # 1.0 / (2 * 0.5)
