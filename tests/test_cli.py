"""The ``sklxai`` command, driven for real in a subprocess on temporary files.

The subprocesses run with the temporary directory as working directory, so what they import is
the installed sklxai (its entry points included), not whatever metadata lies in the checkout.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
joblib = pytest.importorskip("joblib")

N_ROWS = 300
N_EXPLAIN = 5


def run_cli(*args, cwd, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "sklxai.cli", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def fitted(workdir):
    """A raw-column Pipeline (one-hot + scaling + logistic regression) saved with joblib."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from sklxai.datasets import ADULT_CATEGORICAL, ADULT_NUMERIC, load_adult

    X, y = load_adult("train")
    X, y = X.iloc[:N_ROWS].reset_index(drop=True), y.iloc[:N_ROWS]
    pre = ColumnTransformer([
        ("cat", OneHotEncoder(handle_unknown="ignore"), list(ADULT_CATEGORICAL)),
        ("num", StandardScaler(), list(ADULT_NUMERIC)),
    ])
    pipe = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(X, y)
    model_path = workdir / "model.joblib"
    data_path = workdir / "data.csv"
    joblib.dump(pipe, model_path)
    X.to_csv(data_path, index=False)
    return pipe, X, model_path, data_path


def _check_report_file(path, *needles):
    """The report exists, is self-contained (images inline) and holds every needle."""
    import base64
    import re

    text = Path(path).read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    for bad in ('src="http', 'href="http', "<script", "<link"):
        assert bad not in text
    imgs = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(imgs) == text.count("<img") >= 3
    assert base64.b64decode(imgs[0])[:8] == b"\x89PNG\r\n\x1a\n"
    for sid in ("summary", "importance", "beeswarm", "waterfalls", "accuracy", "settings",
                "timing"):
        assert f'<section id="{sid}">' in text
    for needle in needles:
        assert needle in text, needle
    return text


def test_explain_writes_values_that_add_up(fitted, workdir):
    pipe, X, model_path, data_path = fitted
    out = workdir / "out.csv"
    # the HTML report (--report) is checked in the same run: a subprocess costs ~9 s here
    report = workdir / "explain_report.html"
    with_report = importlib.util.find_spec("matplotlib") is not None
    res = run_cli("explain", model_path, data_path, "--method", "kernelshap",
                  "--param", "n_coalitions=64", "--n-background", 10, "--rows", N_EXPLAIN,
                  "--output", out, *(["--report", report] if with_report else []), cwd=workdir)
    assert res.returncode == 0, res.stderr
    # KernelSHAP's standard errors: the largest relative to its row, on stderr and the report
    assert "KernelSHAP's largest standard error relative to its row's mean |value|: " \
        in res.stderr.replace("kernelshap's", "KernelSHAP's")
    if with_report:
        assert f"wrote the HTML report to {report}" in res.stderr
        _check_report_file(report, "KernelSHAP", "n_coalitions", "sklearn.pipeline.Pipeline",
                           f"explain {N_EXPLAIN} rows", "No reference was given",
                           "largest standard error / the row's mean |phi|")
    frame = pd.read_csv(out)
    assert frame.shape[0] == N_EXPLAIN

    classes = list(pipe.classes_)
    feats = list(X.columns)
    value_cols = [f"{c}__{f}" for c in classes for f in feats]
    base_cols = [f"base_value__{c}" for c in classes]
    assert list(frame.columns[: len(value_cols)]) == value_cols
    for col in base_cols:
        assert col in frame.columns

    proba = pipe.predict_proba(X.iloc[:N_EXPLAIN])
    for j, c in enumerate(classes):
        total = frame[[f"{c}__{f}" for f in feats]].sum(axis=1) + frame[f"base_value__{c}"]
        np.testing.assert_allclose(total.to_numpy(), proba[:, j], atol=1e-6)


def test_explain_with_target_writes_one_column_per_feature(fitted, workdir):
    _, X, model_path, data_path = fitted
    res = run_cli("explain", model_path, data_path, "--method", "permutation",
                  "--param", "n_coalitions=52", "--n-background", 5, "--rows", 3,
                  "--target", 1, "--quiet", cwd=workdir)  # CSV on stdout
    assert res.returncode == 0, res.stderr
    # --quiet leaves only the values' own accuracy on stderr, as for a self-measured error
    assert [line.split(":")[1] for line in res.stderr.splitlines()] == [
        " permutation's largest standard error relative to its row's mean |value|"]
    lines = res.stdout.strip().splitlines()
    assert lines[0].split(",")[: X.shape[1]] == list(X.columns)
    assert "base_value" in lines[0].split(",")
    assert len(lines) == 1 + 3


def test_report_in_a_missing_directory_is_a_file_error(fitted, workdir):
    _, _, model_path, data_path = fitted
    res = run_cli("explain", model_path, data_path, "--method", "kernelshap",
                  "--report", workdir / "no_such_dir" / "r.html", cwd=workdir)
    assert res.returncode == 3
    assert "no_such_dir" in res.stderr and "Traceback" not in res.stderr


def _fake_demo_result(**kwargs):
    """What sklxai.demo.run_demo returns, from a tiny model (the real demo takes ~20 s)."""
    from sklearn.linear_model import LogisticRegression

    from sklxai import ExactShapley, KernelSHAP

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 4)), columns=["age", "sex", "race", "hours"])
    y = (X["age"] + X["hours"] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    kernel = KernelSHAP(model, n_background=10, n_coalitions=32, random_state=0).fit(X)
    exp = kernel.explain(X.iloc[:5])
    exact = ExactShapley(model, background=kernel.background_).fit(X).explain(X.iloc[:5])
    return {"device": "cpu", "n_train": 60, "n_explained": 5, "model_accuracy": 0.9,
            "train_seconds": 0.1, "kernelshap_fit_seconds": 0.01, "kernelshap_seconds": 0.02,
            "exact_seconds": 0.03, "kernelshap_relative_error": 0.01, "efficiency_gap": 0.0,
            "explanation": exp, "exact_explanation": exact, "explainer": kernel,
            "feature_names": list(X.columns)}


def test_demo_report_options(monkeypatch, tmp_path):
    """The demo writes its report by default in the working directory, or where --report says."""
    pytest.importorskip("matplotlib")
    import sklxai.demo
    from sklxai.cli import main

    calls = []

    def fake_run_demo(**kwargs):
        calls.append(kwargs)
        return _fake_demo_result()

    monkeypatch.setattr(sklxai.demo, "run_demo", fake_run_demo)
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--quick", "--device", "cpu"]) == 0
    default = tmp_path / sklxai.demo.DEFAULT_REPORT
    _check_report_file(default, "KernelSHAP on Adult", "&gt;50K", "relative error",
                       "ExactShapley fit + explain 5 rows", "model test accuracy")
    default.unlink()
    assert main(["demo", "--quick", "--no-report"]) == 0
    assert not list(tmp_path.iterdir())
    assert main(["demo", "--report", str(tmp_path / "mine.html")]) == 0
    assert (tmp_path / "mine.html").exists()
    # a report that cannot be written is refused before the (long) demo runs
    n_calls = len(calls)
    assert main(["demo", "--report", str(tmp_path / "missing" / "r.html")]) == 3
    assert len(calls) == n_calls


def test_missing_model_file(fitted, workdir):
    _, _, _, data_path = fitted
    res = run_cli("explain", workdir / "nope.joblib", data_path, "--method", "kernelshap",
                  cwd=workdir)
    assert res.returncode == 3
    assert "nope.joblib" in res.stderr and "Traceback" not in res.stderr


def test_missing_data_file(fitted, workdir):
    _, _, model_path, _ = fitted
    res = run_cli("explain", model_path, workdir / "nope.csv", "--method", "kernelshap",
                  cwd=workdir)
    assert res.returncode == 3
    assert "nope.csv" in res.stderr and "Traceback" not in res.stderr


def test_unreadable_model_file(fitted, workdir):
    _, _, _, data_path = fitted
    bad = workdir / "garbage.joblib"
    bad.write_bytes(b"this is not a pickle")
    res = run_cli("explain", bad, data_path, "--method", "kernelshap", cwd=workdir)
    assert res.returncode == 3
    assert "Traceback" not in res.stderr


def test_missing_column_is_bad_data(fitted, workdir):
    _, X, model_path, _ = fitted
    short = workdir / "short.csv"
    X.drop(columns=["occupation"]).to_csv(short, index=False)
    res = run_cli("explain", model_path, short, "--method", "kernelshap",
                  "--param", "n_coalitions=64", "--n-background", 5, "--rows", 2, cwd=workdir)
    assert res.returncode == 4, res.stderr
    assert "occupation" in res.stderr
    assert "Traceback" not in res.stderr


def test_unknown_method_lists_valid_names(fitted, workdir):
    _, _, model_path, data_path = fitted
    res = run_cli("explain", model_path, data_path, "--method", "nosuchmethod", cwd=workdir)
    assert res.returncode == 2
    for name in ("exact", "kernelshap", "permutation"):
        assert name in res.stderr
    assert "Traceback" not in res.stderr


def test_unknown_and_malformed_params_are_usage_errors(fitted, workdir):
    _, _, model_path, data_path = fitted
    res = run_cli("explain", model_path, data_path, "--method", "kernelshap",
                  "--param", "no_such_param=3", cwd=workdir)
    assert res.returncode == 2
    assert "no_such_param" in res.stderr and "n_coalitions" in res.stderr
    res = run_cli("explain", model_path, data_path, "--method", "kernelshap",
                  "--param", "novalue", cwd=workdir)
    assert res.returncode == 2


@pytest.mark.parametrize("sub", [None, "list", "explain", "demo"])
def test_help(sub, workdir):
    res = run_cli(*([sub] if sub else []), "--help", cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert "usage: sklxai" in res.stdout
    if sub == "explain":
        text = " ".join(res.stdout.split())
        assert "pickle runs code" in text and "trust" in text
        assert "--method" in text and "--output" in text


def test_version_and_no_command(workdir):
    res = run_cli("--version", cwd=workdir)
    assert res.returncode == 0 and res.stdout.startswith("sklxai ")
    assert run_cli(cwd=workdir).returncode == 2


def test_list_shows_builtin_explainers(workdir):
    res = run_cli("list", "--kind", "all", cwd=workdir)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "DISTRIBUTION", "VERSION", "STATUS"]
    rows = {line.split()[1]: line.split() for line in lines[1:]
            if line.startswith("explainers ")}
    for name in ("exact", "kernelshap", "permutation", "simshap", "fastshap"):
        assert name in rows, res.stdout
        assert rows[name][2] == "sklxai"
        assert rows[name][4] == "ok"


def test_list_all_shows_every_plugin_kind(workdir):
    """Interpretable models and training methods are listed too (the project's own plugin
    distributions, installed with sklxai by scripts/setup.sh, register rcbm, res and gradia)."""
    res = run_cli("list", "--kind", "all", cwd=workdir)
    assert res.returncode == 0, res.stderr
    rows = {tuple(line.split()[:2]): line.split() for line in res.stdout.splitlines()[1:]}
    assert {kind for kind, _ in rows} == {"explainers", "optimizers", "metrics", "models",
                                          "training"}
    for kind, name, dist in (("models", "rcbm", "sklxai-rcbm"), ("training", "res", "sklxai-res"),
                             ("training", "gradia", "sklxai-res")):
        assert rows[kind, name][2] == dist and rows[kind, name][4] == "ok", res.stdout
    res = run_cli("list", "--kind", "training", cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[:5] == ["NAME", "DISTRIBUTION", "VERSION", "STATUS", "gradia"]


def test_list_shows_a_broken_plugin_once_and_a_clash_on_stderr(tmp_path, workdir):
    """A broken plugin is a table row with its reason (not repeated as a warning); a name
    claimed by two third parties goes to stderr."""
    for dist in ("sklxai-clitest-a", "sklxai-clitest-b"):
        module = dist.replace("-", "_")
        info = tmp_path / f"{module}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(
            f"[sklxai.models]\nbroken-{dist[-1]} = {module}:Model\nshared = {module}:Model\n"
        )
        (tmp_path / f"{module}.py").write_text("raise RuntimeError('boom at import')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])}
    res = subprocess.run([sys.executable, "-m", "sklxai.cli", "list", "--kind", "models"],
                         cwd=workdir, env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line for line in res.stdout.splitlines()[1:]}
    assert rows["broken-a"].split()[1:4] == ["sklxai-clitest-a", "0.1", "broken"]
    assert rows["broken-a"].endswith("(RuntimeError: boom at import)")
    assert "sklxai-clitest-a:shared" in rows and "sklxai-clitest-b:shared" in rows
    assert "rcbm" in rows
    errors = [line for line in res.stderr.splitlines() if line]
    assert all(line.startswith("warning: ") for line in errors), res.stderr
    assert not any("boom" in line for line in errors), res.stderr  # in the table, not here
    assert any("'shared' is registered by more than one distribution" in line
               for line in errors), res.stderr


def test_console_script_runs(workdir):
    script = shutil.which("sklxai")
    venv_script = Path(sys.executable).parent / ("sklxai.exe" if os.name == "nt" else "sklxai")
    if venv_script.exists():
        script = str(venv_script)
    if script is None:
        pytest.skip("the sklxai console script is not installed")
    res = subprocess.run([script, "--help"], cwd=workdir, capture_output=True, text=True,
                         timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert "explain" in res.stdout and "list" in res.stdout and "demo" in res.stdout


def test_main_returns_exit_codes_in_process():
    from sklxai.cli import main

    assert main(["--version"]) == 0
    assert main(["explain", "--method"]) == 2


def test_parquet_output_without_pyarrow_is_a_clear_error(fitted, workdir):
    import importlib.util

    if importlib.util.find_spec("pyarrow") is not None:
        pytest.skip("pyarrow is installed")
    _, _, model_path, data_path = fitted
    res = run_cli("explain", model_path, data_path, "--method", "kernelshap",
                  "--output", workdir / "out.parquet", cwd=workdir)
    assert res.returncode == 2
    assert "pyarrow" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("SKLXAI_RUN_SLOW") != "1",
                    reason="demo --quick takes ~20 s on a 2-core CPU; set SKLXAI_RUN_SLOW=1")
def test_demo_quick(workdir):
    report = workdir / "demo_report.html"
    res = run_cli("demo", "--quick", "--device", "cpu", "--report", report, cwd=workdir,
                  timeout=120)
    assert res.returncode == 0, res.stderr
    assert "relative error against exact Shapley values" in res.stdout
    assert f"Report: {report}" in res.stdout
    _check_report_file(report, "KernelSHAP on Adult", "education_num", "relative error",
                       "ExactShapley")


def test_explain_a_saved_skorch_net_with_a_gradient_method(workdir):
    """A skorch classifier saved with joblib, explained by IG (one value per feature)."""
    import torch
    from skorch import NeuralNetClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    torch.manual_seed(0)
    net = NeuralNetClassifier(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(),
                                                  torch.nn.Linear(8, 2)),
                              criterion=torch.nn.CrossEntropyLoss, max_epochs=3, lr=0.1,
                              train_split=None, verbose=0).fit(X, y)
    net_path, data_path, out = workdir / "net.joblib", workdir / "net.csv", workdir / "ig.csv"
    joblib.dump(net, net_path)
    pd.DataFrame(X, columns=["a", "b", "c", "d"]).to_csv(data_path, index=False)
    res = run_cli("explain", net_path, data_path, "--method", "integrated_gradients",
                  "--param", "n_steps=64", "--rows", 6, "--device", "cpu", "--output", out,
                  "--quiet", cwd=workdir)
    assert res.returncode == 0, res.stderr
    frame = pd.read_csv(out)
    assert frame.shape[0] == 6 and list(frame.columns[:4]) == ["a", "b", "c", "d"]
    # completeness (up to the quadrature's error on a ReLU net): values + f(baseline) = the
    # predicted class's probability
    proba = net.predict_proba(X[:6])
    top = proba.max(axis=1)
    base = frame.filter(like="base_value").to_numpy()[:, 0]
    np.testing.assert_allclose(frame[["a", "b", "c", "d"]].sum(axis=1) + base, top, atol=5e-3)


def test_explain_chunks_stacks_the_chunks_with_concat(capsys):
    """--chunk-size explains row chunks; the result is the one explanation of all the rows."""
    from argparse import Namespace

    import pandas as pd

    from sklxai.cli import _explain_chunks
    from sklxai.explanation import Explanation

    class Rows:  # a stand-in estimator: values, base and output made from the rows themselves
        def explain(self, X):
            x = X.to_numpy()
            values = np.stack([x, -x], axis=2)
            base = np.ones((len(x), 2))
            return Explanation(values, base, x, list(X.columns), ["no", "yes"],
                               values.sum(axis=1) + base, "Rows")

    X = pd.DataFrame(np.arange(14.0).reshape(7, 2), columns=["a", "b"])
    whole = Rows().explain(X)
    for size, quiet in ((3, False), (7, True), (100, True)):
        exp = _explain_chunks(Rows(), X, Namespace(chunk_size=size, quiet=quiet))
        for attr in ("values", "base_values", "data", "output"):
            np.testing.assert_array_equal(getattr(exp, attr), getattr(whole, attr))
        assert (exp.feature_names, exp.output_names, exp.method) == (["a", "b"], ["no", "yes"],
                                                                     "Rows")
    assert "explained 7/7 rows" in capsys.readouterr().err


def test_explain_prints_an_amortized_explainers_self_measured_error(fitted, workdir):
    _, _, model_path, data_path = fitted
    res = run_cli("explain", model_path, data_path, "--method", "simshap",
                  "--param", "max_epochs=1", "--param", "hidden_sizes=(8,)",
                  "--param", "augment=None", "--param", "min_epoch_rows=1",
                  "--n-background", 10, "--rows", 3, "--quiet", cwd=workdir)
    assert res.returncode == 0, res.stderr
    assert "simshap's self-measured error:" in res.stderr
    assert "held-out rows" in res.stderr and "AccuracyWarning" in res.stderr  # 1 epoch: bad


def test_explain_writes_interaction_terms_and_prints_the_strongest_pairs(workdir):
    """An interaction explainer: one line per row and term; each row's terms and base value add
    up to the model's predict_proba; stderr ranks the pairs as the table's mean |term| does."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(80, 4)), columns=["a", "b", "c", "d"])
    y = ((X.a * X.b > 0) ^ (X.c > 0.5)).astype(int)
    model = HistGradientBoostingClassifier(max_iter=20, max_depth=3, random_state=0).fit(X, y)
    joblib.dump(model, workdir / "gbdt.joblib")
    X.to_csv(workdir / "gbdt.csv", index=False)
    out, report = workdir / "interactions.csv", workdir / "interactions.html"
    with_report = importlib.util.find_spec("matplotlib") is not None
    res = run_cli("explain", workdir / "gbdt.joblib", workdir / "gbdt.csv", "--method",
                  "exact_interactions", "--n-background", 10, "--rows", 4, "--output", out,
                  *(["--report", report] if with_report else []), cwd=workdir)
    assert res.returncode == 0, res.stderr
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["output", "row", "i", "j", "value", "base_value",
                                   "model_output"]
    assert len(frame) == 2 * 4 * (4 + 6)  # outputs x rows x (own terms + pairs)
    proba = model.predict_proba(X.iloc[:4])
    for (o, r), part in frame.groupby(["output", "row"]):
        assert part["value"].sum() + part["base_value"].iloc[0] == pytest.approx(
            proba[r, o], abs=1e-9)
        assert part["model_output"].iloc[0] == pytest.approx(proba[r, o], abs=1e-12)
    pairs = frame[(frame.i != frame.j) & (frame.output == 1)]
    strength = pairs.groupby(["i", "j"])["value"].apply(lambda v: v.abs().mean())
    ranked = [f"{i} x {j}: " for i, j in strength.sort_values(ascending=False).index[:5]]
    printed = [line.split(". ", 1)[1].split(": ")[0] + ": "
               for line in res.stderr.split("strongest pairs of output 1")[1].splitlines()[1:6]]
    assert printed == ranked
    if with_report:
        text = Path(report).read_text(encoding="utf-8")
        inter = text.split('<section id="interactions">')[1].split("</section>")[0]
        assert inter.count('<img src="data:image/png;base64,') == 3


def test_interaction_frame_carries_std_errors_base_values_and_chunks(capsys):
    """In process: chunks of an interaction explainer are stacked with its concat, and the
    long table puts each term's standard error and its row's base value and output beside it."""
    from argparse import Namespace

    from sklxai import InteractionExplanation
    from sklxai.cli import _explain_chunks, _interaction_frame

    class Rows:  # terms made from the rows: own terms x, pair (a, b) a * b, per output
        def explain(self, X):
            x = X.to_numpy()
            values = np.zeros((len(x), 2, 2, 2))
            values[:, 0, 0], values[:, 1, 1] = x[:, :1], x[:, 1:] * 2
            values[:, 0, 1] = values[:, 1, 0] = (x[:, 0] * x[:, 1])[:, None] / 2
            base = np.stack([x[:, 0], -x[:, 0]], axis=1)
            return InteractionExplanation(values, base, x, list(X.columns), ["no", "yes"],
                                          values.sum(axis=(1, 2)) + base, "Rows",
                                          std_errors=np.abs(values) / 10)

    X = pd.DataFrame(np.arange(10.0).reshape(5, 2), columns=["a", "b"])
    exp = _explain_chunks(Rows(), X, Namespace(chunk_size=2, quiet=False))
    assert "explained 5/5 rows" in capsys.readouterr().err
    whole = Rows().explain(X)
    np.testing.assert_array_equal(exp.std_errors, whole.std_errors)
    frame = _interaction_frame(exp)
    assert list(frame.columns) == ["output", "row", "i", "j", "value", "std_error",
                                   "base_value", "model_output"]
    for out, sign in (("no", 1), ("yes", -1)):
        for r in range(5):
            a, b = X.iloc[r]
            part = frame[(frame.output == out) & (frame.row == r)].set_index(["i", "j"])
            assert part.loc[("a", "b"), "value"] == a * b
            assert part.loc[("a", "b"), "std_error"] == pytest.approx(a * b / 10)
            assert part.loc[("b", "b"), "std_error"] == pytest.approx(2 * b / 10)
            assert (part["base_value"] == sign * a).all()
            assert (part["model_output"] == a + 2 * b + a * b + sign * a).all()


def test_interaction_std_errors_are_read_over_every_term(capsys):
    """The standard-error line of an interaction explainer: the largest se over the d x d
    terms (every output) divided by its row's mean |term|."""
    from sklxai import InteractionExplanation
    from sklxai.cli import _print_std_errors

    values = np.ones((3, 2, 2, 2))
    errors = np.full((3, 2, 2, 2), 0.5)
    errors[1, 0, 1, 0] = 2.0  # row 1: 2 / mean |term| 1
    exp = InteractionExplanation(values, np.zeros((3, 2)), np.zeros((3, 2)), ["a", "b"],
                                 std_errors=errors)
    _print_std_errors("kernel_interactions", exp)
    assert capsys.readouterr().err.strip().endswith(
        "relative to its row's mean |value|: 200.0% (row 1); median over rows 50.0%")
