"""Tests for sklxai.registry with real (tiny) distributions written into a temporary folder.

Each test builds ``*.dist-info`` folders (METADATA + entry_points.txt) and their modules under
``tmp_path`` and puts it on ``sys.path``, so importlib.metadata discovers them exactly as it
would discover pip-installed plugins.
"""

import importlib.metadata
import importlib.util
import inspect
import re
import subprocess
import sys
import textwrap
import warnings

import pytest

from sklxai.registry import (
    PluginError,
    PluginInfo,
    PluginWarning,
    clear_cache,
    get_explainer,
    get_metric,
    get_model,
    get_training_method,
    get_optimizer,
    get_plugin,
    list_explainers,
    list_metrics,
    list_models,
    list_optimizers,
    list_training_methods,
    list_plugins,
)

TEST_PREFIX = "sklxai_testplugin"

GOOD_SRC = """
from sklxai.base import BaseExplainer

class GoodExplainer(BaseExplainer):
    pass
"""


def _sklxai_installed():
    try:
        importlib.metadata.distribution("sklxai")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_builtins = pytest.mark.skipif(
    not _sklxai_installed(), reason="sklxai is not installed (pip install -e .)"
)


def make_dist(root, name, entry_points, modules=None, version="0.1", raw_entry_points=None):
    """Write an installed-looking distribution ``name`` under ``root``.

    entry_points: {group: {ep_name: "module:attr"}}; modules: {module_name: source}.
    """
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if raw_entry_points is not None:
        text = raw_entry_points
    else:
        text = ""
        for group, eps in entry_points.items():
            text += f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
    (info / "entry_points.txt").write_text(text)
    for mod, src in (modules or {}).items():
        pkg = root / mod
        pkg.mkdir()
        (pkg / "__init__.py").write_text(textwrap.dedent(src))
    return info


def _forget_test_modules():
    for mod in [m for m in sys.modules if m.startswith(TEST_PREFIX)]:
        del sys.modules[mod]


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.delenv("SKLXAI_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    _forget_test_modules()
    clear_cache()
    yield
    clear_cache()
    _forget_test_modules()


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A fresh folder on sys.path that plays the role of site-packages."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


@pytest.fixture
def good(site):
    make_dist(
        site,
        "sklxai-testplugin-good",
        {"sklxai.explainers": {"good": "sklxai_testplugin_good:GoodExplainer"}},
        {"sklxai_testplugin_good": GOOD_SRC},
        version="1.2.3",
    )
    return site


@pytest.fixture
def broken(site):
    make_dist(
        site,
        "sklxai-testplugin-broken",
        {"sklxai.explainers": {"broken": "sklxai_testplugin_broken:Whatever"}},
        {"sklxai_testplugin_broken": "raise RuntimeError('boom at import')\n"},
    )
    return site


@pytest.fixture
def wrongtype(site):
    make_dist(
        site,
        "sklxai-testplugin-wrong",
        {
            "sklxai.explainers": {
                "anint": "sklxai_testplugin_wrong:ANSWER",
                "afunc": "sklxai_testplugin_wrong:explain",
            }
        },
        {"sklxai_testplugin_wrong": "ANSWER = 42\n\ndef explain(x):\n    return x\n"},
    )
    return site


def _messages(record):
    return [str(w.message) for w in record if issubclass(w.category, PluginWarning)]


# ------------------------------------------------------------------------------------------
# listing and laziness
# ------------------------------------------------------------------------------------------


def test_listing_shows_distribution_and_version(good):
    plugins = list_explainers()
    info = plugins["good"]
    assert isinstance(info, PluginInfo)
    assert info.name == "good"
    assert info.kind == "explainers"
    assert info.value == "sklxai_testplugin_good:GoodExplainer"
    assert info.distribution == "sklxai-testplugin-good"
    assert info.version == "1.2.3"
    assert info.status == "unloaded"
    assert info.error is None
    assert info.qualified_name == "sklxai-testplugin-good:good"
    assert not info.builtin
    assert list(plugins) == sorted(plugins)


def test_plugin_info_is_frozen(good):
    info = list_explainers()["good"]
    with pytest.raises(AttributeError):
        info.name = "other"


def test_listing_is_lazy_and_get_imports(good):
    list_explainers()
    assert "sklxai_testplugin_good" not in sys.modules
    cls = get_explainer("good")
    assert "sklxai_testplugin_good" in sys.modules
    from sklxai.base import BaseExplainer

    assert issubclass(cls, BaseExplainer)
    assert cls.__name__ == "GoodExplainer"
    assert list_explainers()["good"].status == "ok"


def test_loaded_objects_are_cached(good):
    first = get_explainer("good")
    del sys.modules["sklxai_testplugin_good"]  # a second import would make a new class
    assert get_explainer("good") is first


def test_name_whitespace_is_stripped_but_case_is_exact(good):
    assert get_explainer("  good\n").__name__ == "GoodExplainer"
    with pytest.raises(ValueError, match="Did you mean 'good'"):
        get_explainer("GOOD")


def test_generic_and_convenience_functions_agree(good):
    assert list_plugins("explainers") == list_explainers()
    assert get_plugin("explainers", "good") is get_explainer("good")


def test_get_explainer_accepts_a_class_unchanged(good):
    cls = get_explainer("good")
    assert get_explainer(cls) is cls
    with pytest.raises(TypeError, match="BaseExplainer"):
        get_explainer(int)
    with pytest.raises(TypeError):
        get_explainer(cls.__new__(cls))  # an instance, not a class


def test_qualified_name_always_works(good):
    cls = get_explainer("sklxai-testplugin-good:good")
    # distribution names are compared normalized (PEP 503)
    assert get_explainer("sklxai_testplugin_good:good") is cls


# ------------------------------------------------------------------------------------------
# broken and wrong-type plugins
# ------------------------------------------------------------------------------------------


def test_broken_plugin_warns_and_raises_but_others_work(good, broken):
    plugins = list_explainers()  # listing does not import anything, so nothing breaks
    assert {"good", "broken"} <= set(plugins)
    with pytest.warns(PluginWarning, match="sklxai-testplugin-broken") as record:
        with pytest.raises(PluginError) as excinfo:
            get_explainer("broken")
    assert any("boom at import" in m for m in _messages(record))
    err = excinfo.value
    assert isinstance(err, ImportError)
    assert "broken" in str(err)
    assert "sklxai-testplugin-broken" in str(err)
    assert "boom at import" in str(err)
    assert isinstance(err.__cause__, RuntimeError)
    assert err.plugin == "broken"
    assert err.distribution == "sklxai-testplugin-broken"
    # the failure is remembered, and the others keep working
    assert list_explainers()["broken"].status == "broken"
    assert get_explainer("good").__name__ == "GoodExplainer"
    with pytest.warns(PluginWarning), pytest.raises(PluginError, match="boom at import"):
        get_explainer("broken")


def test_validate_marks_broken_and_wrong_type(good, broken, wrongtype):
    with pytest.warns(PluginWarning) as record:
        plugins = list_explainers(validate=True)
    assert plugins["good"].status == "ok"
    assert plugins["good"].error is None
    for name in ("broken", "anint", "afunc"):
        assert plugins[name].status == "broken", name
    assert "boom at import" in plugins["broken"].error
    assert "BaseExplainer" in plugins["anint"].error
    messages = _messages(record)
    assert any("sklxai-testplugin-broken" in m and "boom at import" in m for m in messages)
    assert any("sklxai-testplugin-wrong" in m and "anint" in m for m in messages)
    # validation loaded the good one: it is usable and imported
    assert "sklxai_testplugin_good" in sys.modules
    assert get_explainer("good").__name__ == "GoodExplainer"


@pytest.mark.parametrize("name", ["anint", "afunc"])
def test_wrong_type_raises_plugin_error(wrongtype, name):
    with pytest.warns(PluginWarning, match="sklxai-testplugin-wrong"):
        expected = "expected a class deriving from sklxai.base.BaseExplainer"
        with pytest.raises(PluginError, match=expected):
            get_explainer(name)


def test_corrupted_metadata_is_skipped_per_distribution(good, site):
    # torch scans entry points on its first import and would itself choke on the corrupted
    # distribution below; import it now so that this test only exercises the registry.
    pytest.importorskip("torch")
    # An entry_points.txt line without "=" makes importlib.metadata.entry_points() raise.
    make_dist(
        site,
        "sklxai-testplugin-corrupt",
        None,
        raw_entry_points="[sklxai.explainers]\nthis line has no equals sign\n",
    )
    with pytest.raises(Exception):
        importlib.metadata.entry_points(group="sklxai.explainers")
    with pytest.warns(PluginWarning, match="sklxai-testplugin-corrupt"):
        plugins = list_explainers()
    assert "good" in plugins
    assert get_explainer("good").__name__ == "GoodExplainer"


def test_unreadable_metadata_is_reported(good, site):
    info = make_dist(
        site,
        "sklxai-testplugin-undecodable",
        {"sklxai.explainers": {"undecodable": "sklxai_testplugin_undecodable:X"}},
    )
    (info / "METADATA").write_bytes(b"Metadata-Version: 2.1\nName: \xff\xfe\nVersion: 0.1\n")
    with pytest.warns(PluginWarning, match="sklxai_testplugin_undecodable") as record:
        plugins = list_explainers()
    assert any("UnicodeDecodeError" in m for m in _messages(record))
    assert plugins["undecodable"].distribution == "unknown"
    assert plugins["good"].distribution == "sklxai-testplugin-good"


# ------------------------------------------------------------------------------------------
# name clashes
# ------------------------------------------------------------------------------------------


def test_duplicate_third_party_names_are_ambiguous(site):
    for letter in "ab":
        make_dist(
            site,
            f"sklxai-testplugin-dup{letter}",
            {"sklxai.explainers": {"dup": f"sklxai_testplugin_dup{letter}:GoodExplainer"}},
            {f"sklxai_testplugin_dup{letter}": GOOD_SRC},
        )
    with pytest.warns(PluginWarning) as record:
        plugins = list_explainers()
    messages = [m for m in _messages(record) if "'dup'" in m]
    assert messages
    assert "sklxai-testplugin-dupa" in messages[0] and "sklxai-testplugin-dupb" in messages[0]
    # no silent pick: only qualified keys are listed
    assert "dup" not in plugins
    assert plugins["sklxai-testplugin-dupa:dup"].distribution == "sklxai-testplugin-dupa"
    assert plugins["sklxai-testplugin-dupb:dup"].distribution == "sklxai-testplugin-dupb"
    with pytest.raises(ValueError, match="ambiguous") as excinfo:
        get_explainer("dup")
    msg = str(excinfo.value)
    assert "sklxai-testplugin-dupa" in msg and "sklxai-testplugin-dupb" in msg
    assert "distribution:name" in msg
    a = get_explainer("sklxai-testplugin-dupa:dup")
    b = get_explainer("sklxai-testplugin-dupb:dup")
    assert a.__module__ == "sklxai_testplugin_dupa"
    assert b.__module__ == "sklxai_testplugin_dupb"


def test_identical_registrations_are_not_a_clash(good, monkeypatch):
    # Duplicated metadata (e.g. an editable install seen twice) yields the same
    # (name, value, distribution) twice; that is one plugin, not a clash.
    real = importlib.metadata.entry_points

    def doubled(**params):
        eps = list(real(**params))
        return eps + eps

    monkeypatch.setattr(importlib.metadata, "entry_points", doubled)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        plugins = list_explainers()
        assert plugins["good"].distribution == "sklxai-testplugin-good"
        assert get_explainer("good").__name__ == "GoodExplainer"


def test_same_distribution_seen_twice_on_path_is_not_a_clash(tmp_path, monkeypatch):
    # The same distribution installed in two sys.path folders: the first one wins, silently.
    for folder in ("a", "b"):
        root = tmp_path / folder
        root.mkdir()
        make_dist(
            root,
            "sklxai-testplugin-twice",
            {"sklxai.explainers": {"twice": "sklxai_testplugin_twice:GoodExplainer"}},
        )
        monkeypatch.syspath_prepend(str(root))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        plugins = list_explainers()
    assert plugins["twice"].distribution == "sklxai-testplugin-twice"


@needs_builtins
def test_shadowing_a_builtin_warns_and_builtin_wins(site):
    make_dist(
        site,
        "sklxai-testplugin-shadow",
        {"sklxai.explainers": {"exact": "sklxai_testplugin_shadow:GoodExplainer"}},
        {"sklxai_testplugin_shadow": GOOD_SRC},
    )
    with pytest.warns(PluginWarning, match="built-in wins") as record:
        plugins = list_explainers()
    msg = next(m for m in _messages(record) if "built-in wins" in m)
    assert "sklxai-testplugin-shadow" in msg and "sklxai" in msg
    assert plugins["exact"].distribution == "sklxai"
    assert plugins["exact"].builtin
    assert plugins["sklxai-testplugin-shadow:exact"].distribution == "sklxai-testplugin-shadow"
    # the third-party one stays reachable under its qualified name
    cls = get_explainer("sklxai-testplugin-shadow:exact")
    assert cls.__module__ == "sklxai_testplugin_shadow"


# ------------------------------------------------------------------------------------------
# built-ins and SKLXAI_DISABLE_PLUGIN_AUTOLOAD
# ------------------------------------------------------------------------------------------


@needs_builtins
def test_builtins_are_listed_from_sklxai_distribution():
    plugins = list_explainers()
    for name in ("exact", "kernelshap", "permutation"):
        assert plugins[name].distribution == "sklxai"
        assert plugins[name].version == importlib.metadata.version("sklxai")
        assert plugins[name].builtin


@needs_builtins
@pytest.mark.parametrize("value", ["1", "true", "YES"])
def test_disable_autoload_hides_third_party_keeps_builtins(good, monkeypatch, value):
    assert "good" in list_explainers()
    monkeypatch.setenv("SKLXAI_DISABLE_PLUGIN_AUTOLOAD", value)
    # read at discovery time: a re-scan sees the new setting
    plugins = list_explainers(refresh=True)
    assert "good" not in plugins
    assert "exact" in plugins
    with pytest.raises(ValueError, match="SKLXAI_DISABLE_PLUGIN_AUTOLOAD"):
        get_explainer("good")


def test_disable_autoload_other_values_keep_plugins(good, monkeypatch):
    monkeypatch.setenv("SKLXAI_DISABLE_PLUGIN_AUTOLOAD", "0")
    assert "good" in list_explainers()


@needs_builtins
def test_get_builtin_exact():
    from sklxai.base import BaseExplainer

    assert issubclass(get_explainer("exact"), BaseExplainer)


# ------------------------------------------------------------------------------------------
# errors, refresh, kinds
# ------------------------------------------------------------------------------------------


def test_unknown_name_lists_available(good):
    with pytest.raises(ValueError, match=r"Unknown explainer 'foo'\. Available: .*'good'"):
        get_explainer("foo")


def test_unknown_qualified_name(good):
    with pytest.raises(ValueError, match="Unknown explainer"):
        get_explainer("sklxai-testplugin-nope:good")


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="explainers.*optimizers.*metrics"):
        list_plugins("widgets")
    with pytest.raises(ValueError, match="Valid kinds"):
        get_plugin("widgets", "x")


def test_refresh_picks_up_new_distribution(good):
    assert "late" not in list_explainers()
    make_dist(
        good,
        "sklxai-testplugin-late",
        {"sklxai.explainers": {"late": "sklxai_testplugin_late:GoodExplainer"}},
        {"sklxai_testplugin_late": GOOD_SRC},
    )
    assert "late" not in list_explainers()  # cached
    assert "late" in list_explainers(refresh=True)
    assert get_explainer("late").__name__ == "GoodExplainer"


def test_clear_cache_rescans(good):
    assert "late" not in list_explainers()
    make_dist(
        good,
        "sklxai-testplugin-late",
        {"sklxai.explainers": {"late": "sklxai_testplugin_late:GoodExplainer"}},
    )
    clear_cache()
    assert "late" in list_explainers()


# ------------------------------------------------------------------------------------------
# optimizers and metrics
# ------------------------------------------------------------------------------------------

OPT_SRC = """
import torch

class MySGD(torch.optim.SGD):
    pass

def not_an_optimizer(params):
    return None
"""

METRIC_SRC = """
def gap(a, b):
    return abs(a - b)

NOT_CALLABLE = 3
"""


def test_optimizer_and_metric_kinds(site):
    make_dist(
        site,
        "sklxai-testplugin-extras",
        {
            "sklxai.optimizers": {
                "my-sgd": "sklxai_testplugin_opt:MySGD",
                "fake": "sklxai_testplugin_opt:not_an_optimizer",
            },
            "sklxai.metrics": {
                "gap": "sklxai_testplugin_metric:gap",
                "three": "sklxai_testplugin_metric:NOT_CALLABLE",
            },
        },
        {"sklxai_testplugin_opt": OPT_SRC, "sklxai_testplugin_metric": METRIC_SRC},
    )
    assert set(list_optimizers()) >= {"my-sgd", "fake"}
    assert set(list_metrics()) >= {"gap", "three"}
    # kinds are separate: an optimizer name is not an explainer
    assert "my-sgd" not in list_explainers()

    import torch

    opt = get_optimizer("my-sgd")
    assert issubclass(opt, torch.optim.Optimizer)
    assert get_optimizer(torch.optim.Adam) is torch.optim.Adam
    with pytest.warns(PluginWarning), pytest.raises(PluginError, match="torch.optim.Optimizer"):
        get_optimizer("fake")

    assert get_metric("gap")(1, 3) == 2
    with pytest.warns(PluginWarning), pytest.raises(PluginError, match="callable"):
        get_metric("three")
    with pytest.raises(ValueError, match="Unknown metric"):
        get_metric("nope")


MODEL_SRC = """
from sklearn.base import BaseEstimator, ClassifierMixin

class MyModel(ClassifierMixin, BaseEstimator):
    pass

class NotAnEstimator:
    pass
"""

TRAINING_SRC = """
class Supervise:
    def __init__(self, weight=1.0):
        self.weight = weight

NOT_CALLABLE = "res"
"""


def test_model_and_training_kinds(site):
    make_dist(
        site,
        "sklxai-testplugin-models",
        {
            "sklxai.models": {
                "mine": "sklxai_testplugin_model:MyModel",
                "plain": "sklxai_testplugin_model:NotAnEstimator",
            },
            "sklxai.training": {
                "supervise": "sklxai_testplugin_training:Supervise",
                "bad": "sklxai_testplugin_training:NOT_CALLABLE",
            },
        },
        {"sklxai_testplugin_model": MODEL_SRC, "sklxai_testplugin_training": TRAINING_SRC},
    )
    assert set(list_models()) >= {"mine", "plain"}
    assert set(list_training_methods()) >= {"supervise", "bad"}
    assert "mine" not in list_explainers() and "supervise" not in list_models()

    from sklearn.base import BaseEstimator
    from sklearn.linear_model import LogisticRegression

    assert issubclass(get_model("mine"), BaseEstimator)
    assert get_model(LogisticRegression) is LogisticRegression
    with pytest.warns(PluginWarning), pytest.raises(PluginError, match="BaseEstimator"):
        get_model("plain")
    with pytest.raises(TypeError, match="registered model"):
        get_model(3)

    assert get_training_method("supervise")(weight=2.0).weight == 2.0
    with pytest.warns(PluginWarning), pytest.raises(PluginError, match="class or callable"):
        get_training_method("bad")
    with pytest.raises(ValueError, match="Unknown training method"):
        get_training_method("nope")


# ------------------------------------------------------------------------------------------
# every kind through its own pair of functions
# ------------------------------------------------------------------------------------------

EVERY_KIND_SRC = """
import torch
from sklearn.base import BaseEstimator

from sklxai.base import BaseExplainer

class Explainer(BaseExplainer):
    pass

class Optimizer(torch.optim.SGD):
    pass

def metric(a, b):
    return abs(a - b)

class Model(BaseEstimator):
    pass

class Method:
    pass

NOT_A_PLUGIN = 42
"""

# kind -> (list function, get function, singular noun in messages, attribute of the good one,
#          what the wrong one is said not to be)
EVERY_KIND = {
    "explainers": (list_explainers, get_explainer, "explainer", "Explainer",
                   "a class deriving from sklxai.base.BaseExplainer"),
    "optimizers": (list_optimizers, get_optimizer, "optimizer", "Optimizer",
                   "a class deriving from torch.optim.Optimizer"),
    "metrics": (list_metrics, get_metric, "metric", "metric", "a callable"),
    "models": (list_models, get_model, "model", "Model",
               "a class deriving from sklearn.base.BaseEstimator"),
    "training": (list_training_methods, get_training_method, "training method", "Method",
                 "a class or callable (a skorch net class, mix-in, criterion or callback)"),
}


def test_every_plugin_kind_has_its_pair_of_functions():
    import sklxai
    import sklxai.registry as registry

    assert set(EVERY_KIND) == set(registry.PLUGIN_GROUPS)
    for kind, (lister, getter, noun, _, _) in EVERY_KIND.items():
        assert registry.PLUGIN_GROUPS[kind] == f"sklxai.{kind}"
        for fn in (lister, getter):
            assert fn.__name__ in registry.__all__
            assert getattr(sklxai, fn.__name__) is fn  # exported at the top level too
            assert fn.__module__ == "sklxai.registry"
        assert getter.__name__ == "get_" + noun.replace(" ", "_")
        assert lister.__name__ == "list_" + noun.replace(" ", "_") + "s"
        assert list(inspect.signature(lister).parameters) == ["validate", "refresh"]
        assert all(p.kind is p.KEYWORD_ONLY for p in inspect.signature(lister).parameters.values())
        assert list(inspect.signature(getter).parameters) == ["name"]
        with pytest.raises(TypeError):
            lister(True)  # validate and refresh are keyword-only, as list_plugins' are
        # the docstrings say which group and which kind
        assert f"``sklxai.{kind}``" in lister.__doc__ and noun in getter.__doc__
        assert f'"{kind}"' in list_plugins.__doc__ and f'"{kind}"' in get_plugin.__doc__


@pytest.mark.parametrize("kind", list(EVERY_KIND))
def test_each_kind_lists_loads_and_refuses_like_the_generic_functions(site, kind):
    lister, getter, noun, good_attr, expected = EVERY_KIND[kind]
    groups = {f"sklxai.{k}": {"fine": f"sklxai_testplugin_every:{EVERY_KIND[k][3]}",
                               "wrong": "sklxai_testplugin_every:NOT_A_PLUGIN"}
              for k in EVERY_KIND}
    make_dist(site, "sklxai-testplugin-every", groups,
              {"sklxai_testplugin_every": EVERY_KIND_SRC}, version="2.0")

    listed = lister()
    assert listed == list_plugins(kind)
    assert {"fine", "wrong"} <= set(listed)
    assert listed["fine"].kind == kind and listed["fine"].group == f"sklxai.{kind}"
    assert listed["fine"].status == "unloaded"
    assert "sklxai_testplugin_every" not in sys.modules  # listing imports nothing

    obj = getter("fine")
    assert obj is get_plugin(kind, "fine") is getter(" sklxai-testplugin-every:fine ")
    assert obj.__name__ == good_attr
    assert getter(obj) is obj  # an object of the right kind is returned unchanged

    with pytest.warns(PluginWarning, match=f"{noun} plugin 'wrong'"):
        with pytest.raises(PluginError, match=f"expected {re.escape(expected)}, got int 42"):
            getter("wrong")
    with pytest.warns(PluginWarning):
        validated = lister(validate=True, refresh=True)
    assert validated["fine"].status == "ok"
    assert validated["wrong"].status == "broken"
    with pytest.raises(ValueError, match=f"Unknown {noun} 'fin'.*Did you mean 'fine'"):
        getter("fin")
    with pytest.raises(TypeError, match=f"name of a registered {noun} or {re.escape(expected)}"):
        getter(42)


# ------------------------------------------------------------------------------------------
# import cost
# ------------------------------------------------------------------------------------------


def test_registry_import_and_listing_do_not_import_torch():
    code = (
        "import sys, sklxai.registry as r\n"
        "r.list_plugins('explainers'); r.list_plugins('optimizers'); r.list_plugins('metrics')\n"
        "heavy = [m for m in ('torch', 'sklxai.base') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
