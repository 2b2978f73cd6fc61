"""The ``sklxai`` command: list plugins, explain a saved model on a data file, run the demo.

What lives here: argument parsing, file reading/writing and exit codes for the shell. What does
not: any explaining logic (that is the explainers'), or the demo itself (``sklxai.demo``).

Exit codes (every subcommand):

* 0: success;
* 1: an unexpected failure (a broken plugin, an error inside the model);
* 2: a usage error (bad option, unknown method or parameter);
* 3: a missing or unreadable file (model, data, background, output location);
* 4: bad data (missing or extra columns, values the explainer refuses, a bad target, ...).

Heavy imports (pandas, torch, the explainers) happen inside the subcommands, so ``--help``,
``--version`` and ``list`` stay fast.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import time
import warnings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_FILE = 3
EXIT_DATA = 4

_PARQUET_SUFFIXES = (".parquet", ".pq")
#: the demo's default report file (sklxai.demo.DEFAULT_REPORT; not imported: it pulls in torch)
_DEMO_REPORT = "sklxai-demo-report.html"

_PICKLE_WARNING = (
    "Security: MODEL is loaded with joblib/pickle, and loading a pickle runs arbitrary code. "
    "Only load files you trust."
)


class CLIError(Exception):
    """An error the command reports as one line on stderr, with an exit code (no traceback)."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def _version():
    from sklxai import __version__

    return __version__


# ------------------------------------------------------------------------------------ parser
def build_parser():
    """The argparse parser of the ``sklxai`` command (with every subcommand)."""
    parser = argparse.ArgumentParser(
        prog="sklxai",
        description="scikit-learn-style Shapley explanations from the shell.",
        epilog="Exit codes: 0 ok, 1 unexpected failure, 2 usage error, 3 missing or unreadable "
        "file, 4 bad data. Run 'sklxai COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"sklxai {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    # -- list
    from sklxai.registry import PLUGIN_GROUPS  # the standard library only: --help stays fast

    p_list = sub.add_parser(
        "list",
        help="list the registered explainers (and other plugins) with their origin",
        description="List every registered plugin with its distribution and version. Each one "
        "is imported and checked, so broken plugins are shown as 'broken' with the reason.",
    )
    p_list.add_argument(
        "--kind", choices=(*PLUGIN_GROUPS, "all"), default="explainers",
        help="which plugin kind to list: explainers, optimizers, metrics, models "
        "(interpretable models), training (training methods), or all of them (default: "
        "explainers)",
    )
    p_list.set_defaults(func=_cmd_list)

    # -- explain
    p_exp = sub.add_parser(
        "explain",
        help="explain a saved model on a CSV/Parquet data file and write the values",
        description="Fit an explainer on DATA for the fitted model in MODEL, explain the first "
        "--rows rows of DATA and write the attributions (one column per feature, or "
        "'output__feature' columns when several outputs are explained) plus the base value(s) "
        "and the model output(s) as CSV or Parquet. An interaction explainer "
        "(exact_interactions, kernel_interactions) writes one line per row and term instead: "
        "columns [output,] row, i, j (i == j for a feature's own term), value (the whole term), "
        "[std_error,] base_value, model_output; its strongest pairs are printed on stderr. "
        + _PICKLE_WARNING,
        epilog="Example: sklxai explain model.joblib data.csv --method kernelshap "
        "--param n_coalitions=512 --rows 100 --output values.csv --report report.html. "
        "Exit codes: 0 ok, 1 "
        "unexpected failure, 2 usage error (e.g. unknown method), 3 missing or unreadable file, "
        "4 bad data (missing/extra columns, refused values).",
    )
    p_exp.add_argument(
        "model", metavar="MODEL",
        help="joblib or pickle file of a fitted scikit-learn estimator or Pipeline (a Pipeline "
        "ending with a skorch net included). Loading a pickle runs code: only load trusted "
        "files.",
    )
    p_exp.add_argument(
        "data", metavar="DATA",
        help="CSV file (read with pandas.read_csv) or Parquet file (.parquet/.pq, needs "
        "pyarrow) with the columns the model was fitted on",
    )
    p_exp.add_argument(
        "--method", "-m", required=True, metavar="NAME",
        help="registered explainer name, e.g. exact, kernelshap, permutation, simshap, "
        "fastshap, exact_interactions (see 'sklxai list')",
    )
    bg = p_exp.add_mutually_exclusive_group()
    bg.add_argument(
        "--background", metavar="FILE",
        help="CSV/Parquet file of background (reference) rows; default: --n-background rows "
        "sampled from DATA",
    )
    bg.add_argument(
        "--n-background", type=_positive_int, default=100, metavar="N",
        help="rows sampled from DATA as background when --background is not given "
        "(default: 100)",
    )
    p_exp.add_argument(
        "--target", default=None, metavar="T",
        help="output to explain: an index or a class label (default: every output)",
    )
    p_exp.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto",
        help="where torch models and batched work run (default: auto = cuda when available)",
    )
    p_exp.add_argument(
        "--rows", type=_positive_int, default=None, metavar="N",
        help="explain the first N rows of DATA (default: all rows)",
    )
    p_exp.add_argument(
        "--output", "-o", default=None, metavar="OUT",
        help="output file, .csv or .parquet/.pq (Parquet needs pyarrow); default: CSV on "
        "stdout",
    )
    p_exp.add_argument(
        "--report", default=None, metavar="PATH",
        help="also write a self-contained HTML report of the explanation (global importance, "
        "beeswarm, waterfalls, explainer settings, timings; needs matplotlib) to PATH; for "
        "several outputs it shows the last one (use --target to pick one)",
    )
    p_exp.add_argument(
        "--param", "-p", action="append", default=[], metavar="KEY=VALUE",
        help="explainer parameter, repeatable, e.g. --param n_coalitions=512; the value is "
        "parsed as a Python literal, else kept as a string",
    )
    p_exp.add_argument(
        "--random-state", type=int, default=0, metavar="S",
        help="seed for the background draw and the sampling (default: 0)",
    )
    p_exp.add_argument(
        "--chunk-size", type=_positive_int, default=256, metavar="N",
        help="rows explained per call; progress is reported after each chunk (default: 256)",
    )
    p_exp.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p_exp.set_defaults(func=_cmd_explain, subparser=p_exp)

    # -- demo
    p_demo = sub.add_parser(
        "demo",
        help="train a skorch MLP on the bundled Adult data, explain it and check against exact",
        description="The README's main job on the bundled Adult data: train a skorch MLP, "
        "explain held-out rows with KernelSHAP and report the accuracy against exact Shapley "
        "values (the same as 'python -m sklxai.demo'). Besides the summary on stdout it writes "
        "a self-contained HTML report (figures, settings, timings, accuracy against exact "
        "values) to --report.",
    )
    p_demo.add_argument("--quick", action="store_true",
                        help="small, fast run (under a minute on a laptop CPU)")
    p_demo.add_argument("--rows", type=_positive_int, default=None, metavar="N",
                        help="held-out rows to explain (default: 20 with --quick, else 200)")
    p_demo.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where training and explaining run (default: auto)")
    rep_group = p_demo.add_mutually_exclusive_group()
    rep_group.add_argument("--report", default=_DEMO_REPORT, metavar="PATH",
                           help="where to write the HTML report (needs matplotlib; default: "
                           "%(default)s in the working directory)")
    rep_group.add_argument("--no-report", action="store_true",
                           help="write no HTML report, only the summary on stdout")
    p_demo.set_defaults(func=_cmd_demo)
    return parser


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _literal(text):
    """A Python literal when ``text`` is one, else the string itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


# ------------------------------------------------------------------------------------ list
def _cmd_list(args):
    from sklxai.registry import PLUGIN_GROUPS, list_plugins

    kinds = tuple(PLUGIN_GROUPS) if args.kind == "all" else (args.kind,)
    rows, broken = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for kind in kinds:
            for key, info in list_plugins(kind, validate=True).items():
                status = info.status
                reason = f"  ({info.error})" if status == "broken" and info.error else ""
                rows.append((kind, key, info.distribution, info.version, status + reason))
                if reason:
                    broken.append((f" plugin {info.name!r} ({info.value})", f": {info.error}"))
    header = ("KIND", "NAME", "DISTRIBUTION", "VERSION", "STATUS")
    if len(kinds) == 1:
        header, rows = header[1:], [r[1:] for r in rows]
    if not rows:
        print(f"No {' or '.join(kinds)} registered.")
    else:
        _print_table(header, rows)
    # Broken plugins are in the table; anything else the registry warned about (name clashes,
    # unreadable metadata) goes to stderr, once.
    seen = set()
    for w in caught:
        text = str(w.message)
        shown = any(plugin in text and text.endswith(error) for plugin, error in broken)
        if text not in seen and not shown:
            seen.add(text)
            print(f"warning: {text}", file=sys.stderr)
    return EXIT_OK


def _print_table(header, rows):
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths)] + [str(row[-1])]
        print("  ".join(cells).rstrip())


# ------------------------------------------------------------------------------------ explain
def _progress(args, message):
    if not args.quiet:
        print(f"sklxai: {message}", file=sys.stderr, flush=True)


def _is_parquet(path):
    return str(path).lower().endswith(_PARQUET_SUFFIXES)


def _have_pyarrow():
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


def _check_readable(path, what):
    if not os.path.exists(path):
        raise CLIError(f"{what} file not found: {path}", EXIT_FILE)
    if os.path.isdir(path):
        raise CLIError(f"{what} path is a directory, not a file: {path}", EXIT_FILE)
    if not os.access(path, os.R_OK):
        raise CLIError(f"{what} file is not readable: {path}", EXIT_FILE)


def _read_table(path, what):
    _check_readable(path, what)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - depends on environment
        raise CLIError("reading data files needs pandas: pip install sklxai[pandas]",
                       EXIT_FAILURE) from None
    if _is_parquet(path):
        if not _have_pyarrow():
            raise CLIError(
                f"{what} file {path} is Parquet, which needs pyarrow: pip install pyarrow "
                "(or pass a CSV file)", EXIT_FILE,
            )
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds; all mean unreadable
            raise CLIError(f"could not read {what} file {path}: {exc}", EXIT_FILE) from None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise CLIError(f"{what} file {path} is empty", EXIT_FILE) from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise CLIError(f"could not read {what} file {path} as CSV: {exc}", EXIT_FILE) from None


def _load_model(path):
    _check_readable(path, "model")
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - unpickling fails in many ways; all: unreadable
        raise CLIError(
            f"could not load model file {path} with joblib/pickle: "
            f"{type(exc).__name__}: {exc}", EXIT_FILE,
        ) from None


def _parse_params(parser, items):
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            parser.error(f"--param expects KEY=VALUE with a parameter name as KEY; got {item!r}")
        params[key] = _literal(value)
    return params


def _resolve_method(name):
    from sklxai.registry import PluginError, get_explainer

    try:
        return get_explainer(name)
    except PluginError as exc:
        raise CLIError(f"explainer {name!r} could not be loaded: {exc}", EXIT_FAILURE) from None
    except (ValueError, TypeError) as exc:
        raise CLIError(f"{exc} (see 'sklxai list')", EXIT_USAGE) from None


def _check_output(path):
    if path is None:
        return
    if _is_parquet(path):
        if not _have_pyarrow():
            raise CLIError(f"writing Parquet ({path}) needs pyarrow: pip install pyarrow, or "
                           "write a .csv file", EXIT_USAGE)
    elif not str(path).lower().endswith(".csv"):
        raise CLIError(f"--output must end with .csv, .parquet or .pq; got {path!r}", EXIT_USAGE)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(f"output directory does not exist: {parent}", EXIT_FILE)


def _check_report(path):
    """A --report PATH is usable: matplotlib is there and the directory exists."""
    if path is None:
        return
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise CLIError("--report needs matplotlib: pip install sklxai[plot]", EXIT_USAGE)
    if os.path.isdir(path):
        raise CLIError(f"--report path is a directory, not a file: {path}", EXIT_FILE)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(f"report directory does not exist: {parent}", EXIT_FILE)


def _write_report(path, write):
    """Run ``write(path)`` (which makes the report) with the CLI's error handling."""
    try:
        write(path)
    except OSError as exc:
        raise CLIError(f"could not write the report {path}: {exc}", EXIT_FILE) from None


def _explain_chunks(est, X, args):
    """Explain X in chunks of rows (progress after each); return one explanation (of the class
    the explainer returns: an Explanation, or an InteractionExplanation)."""
    n = len(X)
    parts = []
    t0 = time.perf_counter()
    for start in range(0, n, args.chunk_size):
        stop = min(start + args.chunk_size, n)
        parts.append(est.explain(X.iloc[start:stop]))
        if n > args.chunk_size:
            _progress(args, f"explained {stop}/{n} rows ({time.perf_counter() - t0:.1f} s)")
    return parts[0] if len(parts) == 1 else type(parts[0]).concat(parts)


def _is_interactions(exp):
    from sklxai._explanation_interactions import InteractionExplanation

    return isinstance(exp, InteractionExplanation)


def _interaction_frame(exp):
    """The long table written for interaction terms: one line per row and term of order 1 or
    2 (``to_frame``), with its standard error where there are some, then the row's base value
    and model output."""
    import numpy as np
    import pandas as pd

    frame = exp.to_frame()
    if exp.std_errors is not None:  # the same terms, in the same order, as full terms
        frame["std_error"] = exp._replace(values=exp.std_errors, higher_order={},
                                          std_errors=None).to_frame()["value"].to_numpy()
    n = len(exp)
    several = exp._has_output_axis()
    outs = (exp.output_names or list(range(exp.values.shape[-1]))) if several else [None]
    per_row = {"row": np.tile(np.arange(n), len(outs)),
               "base_value": np.asarray(exp.base_values).T.ravel()}
    if exp.output is not None:
        per_row["model_output"] = np.asarray(exp.output).T.ravel()
    if several:
        per_row = {"output": np.repeat(np.asarray(outs), n), **per_row}
    keys = ["output", "row"] if several else ["row"]
    return frame.merge(pd.DataFrame(per_row), on=keys, how="left", validate="many_to_one")


def _print_top_pairs(args, exp, k=5):
    """The strongest pairs (mean |term| over the rows), per output, on stderr."""
    from sklxai._explanation_interactions import ranked_pairs

    several = exp._has_output_axis()
    outs = range(exp.values.shape[-1]) if several else [None]
    names = exp.output_names or list(outs)
    for out in outs:
        one = exp if out is None else exp.select_output(out)
        which = "" if out is None else f" of output {names[out]}"
        _progress(args, f"strongest pairs{which} (mean |term| over {len(exp)} rows):")
        for rank, (i, j, mean_abs, mean) in enumerate(zip(*ranked_pairs(one, k)), 1):
            _progress(args, f"  {rank}. {exp.feature_names[i]} x {exp.feature_names[j]}: "
                      f"{mean_abs:.4g} (mean {mean:+.4g})")
    if exp.higher_order:
        _progress(args, f"{len(exp.higher_order)} terms of order 3 to {exp.max_order} are not "
                  "written (the table holds the terms of order 1 and 2)")


def _values_frame(est, exp):
    """The table written by ``explain``: values, then base value(s), then model output(s)."""
    import numpy as np
    import pandas as pd

    if _is_interactions(exp):
        return _interaction_frame(exp)
    values = exp.values
    if values.ndim == 2:
        columns = {name: values[:, j] for j, name in enumerate(exp.feature_names)}
        columns["base_value"] = exp.base_values
        if exp.output is not None:
            columns["model_output"] = exp.output
        return pd.DataFrame(columns)
    k = values.shape[2]
    names = [str(c) for c in est.get_feature_names_out()]
    outs = exp.output_names or list(range(k))
    each = [exp.select_output(j) for j in range(k)]
    flat = np.concatenate([one.values for one in each], axis=1)  # output-major, as transform()
    frame = pd.DataFrame(flat, columns=names)
    for out, one in zip(outs, each):
        frame[f"base_value__{out}"] = one.base_values
    if exp.output is not None:
        for out, one in zip(outs, each):
            frame[f"model_output__{out}"] = one.output
    return frame


def _print_std_errors(method, exp):
    """A sampling explainer's largest standard error relative to its row's mean |value|, on
    stderr (always shown, as the self-measured error: the values' own accuracy)."""
    from sklxai.report import _describe_relative, relative_std_error

    values, errors = exp.values, exp.std_errors
    if _is_interactions(exp) and errors is not None:  # every term of the d x d as a column
        values, errors = (a.reshape(len(a), -1, *a.shape[3:]) for a in (values, errors))
    relative = relative_std_error(values, errors)
    if relative is not None:
        print(f"sklxai: {method}'s largest standard error relative to its row's mean |value|: "
              f"{_describe_relative(relative)}", file=sys.stderr, flush=True)


def _cmd_explain(args):
    from sklxai.report import _measured_error

    # Usage errors first (cheap, no file is read), then files, then the work.
    params = _parse_params(args.subparser, args.param)
    _check_output(args.output)
    _check_report(args.report)
    # Existence checks are cheap and come before importing the explainer (torch).
    for path, what in ((args.model, "model"), (args.data, "data"),
                       (args.background, "background")):
        if path is not None:
            _check_readable(path, what)
    cls = _resolve_method(args.method)
    valid = set(cls._get_param_names()) - {"model"}
    unknown = sorted(set(params) - valid)
    if unknown:
        raise CLIError(
            f"unknown parameter(s) for {args.method!r}: {', '.join(unknown)}. Valid: "
            f"{', '.join(sorted(valid))}", EXIT_USAGE,
        )

    model = _load_model(args.model)
    data = _read_table(args.data, "data")
    background = None if args.background is None else _read_table(args.background, "background")
    if len(data) == 0:
        raise CLIError(f"data file {args.data} has no rows", EXIT_DATA)

    kwargs = {"n_background": args.n_background, "device": args.device,
              "random_state": args.random_state}
    if background is not None:
        kwargs["background"] = background
    if args.target is not None:
        kwargs["target"] = _literal(args.target)
    kwargs.update(params)
    kwargs = {k: v for k, v in kwargs.items() if k in valid}
    rows = data if args.rows is None else data.iloc[: args.rows]

    try:
        est = cls(model, **kwargs)
        _progress(args, f"fitting {args.method} on {len(data)} rows of {args.data}")
        t0 = time.perf_counter()
        est.fit(data)
        fit_s = time.perf_counter() - t0
        _progress(args, f"fitted in {fit_s:.1f} s; explaining {len(rows)} rows")
        measured = _measured_error(est)  # amortized explainers only
        if measured is not None:  # always shown: the values' own accuracy is part of them
            print(f"sklxai: {args.method}'s self-measured error: {measured.describe()}",
                  file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        exp = _explain_chunks(est, rows, args)
        explain_s = time.perf_counter() - t0
        _print_std_errors(args.method, exp)
        frame = _values_frame(est, exp)
        if _is_interactions(exp) and len(exp.feature_names) > 1:
            _print_top_pairs(args, exp)
    except (ValueError, TypeError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise CLIError(f"{message}", EXIT_DATA) from None

    try:
        if args.output is None:
            frame.to_csv(sys.stdout, index=False)
        elif _is_parquet(args.output):
            frame.to_parquet(args.output, index=False)
        else:
            frame.to_csv(args.output, index=False)
    except OSError as exc:
        raise CLIError(f"could not write {args.output}: {exc}", EXIT_FILE) from None
    if args.output is not None:
        _progress(args, f"wrote {frame.shape[0]} rows x {frame.shape[1]} columns to "
                  f"{args.output}")
    if args.report is not None:
        from sklxai.report import make_report

        details = {"model file": args.model, "data file": args.data,
                   "rows in data": len(data), "rows explained": len(rows),
                   "background": args.background or f"{args.n_background} rows of DATA"}
        if args.target is not None:
            details["target"] = args.target
        _write_report(args.report, lambda path: make_report(
            exp, path, explainer=est, title=f"sklxai explain: {args.method} on {args.data}",
            timings={"explainer fit (CLI)": fit_s, f"explain {len(rows)} rows": explain_s},
            extra=details))
        _progress(args, f"wrote the HTML report to {args.report}")
    return EXIT_OK


# ------------------------------------------------------------------------------------ demo
def _cmd_demo(args):
    from sklxai.demo import _print_report, run_demo, write_report

    path = None if args.no_report else args.report
    _check_report(path)
    try:
        report = run_demo(quick=args.quick, n_explain=args.rows, device=args.device)
    except ValueError as exc:  # e.g. --device cuda without CUDA
        raise CLIError(str(exc), EXIT_USAGE) from None
    _print_report(report)
    if path is not None:
        _write_report(path, lambda p: write_report(report, p))
        print(f"Report: {path}")
    return EXIT_OK


# ------------------------------------------------------------------------------------ main
def main(argv=None):
    """Run the ``sklxai`` command; return its exit code (see the module docstring)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return args.func(args)
    except SystemExit as exc:  # parser.error inside a subcommand
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except CLIError as exc:
        print(f"sklxai {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("sklxai: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
