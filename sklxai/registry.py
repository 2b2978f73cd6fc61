"""Entry-point discovery for every sklxai plugin kind.

What lives here: finding explainers, optimizers, metrics, interpretable models and training
methods by name through the entry-point groups ``sklxai.explainers``, ``sklxai.optimizers``,
``sklxai.metrics``, ``sklxai.models`` and ``sklxai.training``; loading them on
demand; checking that what was loaded is of the right kind; and reporting broken or clashing
plugins. What does not live here: the plugins themselves (sklxai's own explainers are
registered through sklxai's pyproject, exactly like a third party's, and live in
``sklxai/explainers/``).

Rules, in short:

* Discovery is lazy and cached per kind. Listing reads installed metadata only; a plugin's
  module is imported when its object is asked for (:func:`get_plugin`) or when listing with
  ``validate=True``. ``refresh=True`` re-scans; :func:`clear_cache` forgets everything.
* Built-ins are the entry points of the ``sklxai`` distribution. Setting the environment
  variable ``SKLXAI_DISABLE_PLUGIN_AUTOLOAD`` to ``1``, ``true`` or ``yes`` (read at discovery
  time) restricts discovery to them.
* Names are exact (case-sensitive); surrounding whitespace is stripped. A name may be qualified
  as ``"distribution:name"``, which always selects that distribution's plugin.
* A clash is never resolved silently: the built-in wins over a third party (with a
  :class:`PluginWarning`); between third parties the bare name is ambiguous, :func:`get_plugin`
  raises ``ValueError`` and the qualified names must be used.
* A plugin that fails to import, or that is of the wrong kind, raises :class:`PluginError` when
  asked for and is reported with a :class:`PluginWarning`; it never breaks listing, the other
  plugins, or ``import sklxai``.

One table, ``_KINDS``, describes the kinds (entry-point group, what a plugin must be, how
messages name it); :func:`list_plugins` and :func:`get_plugin` serve every kind, and each kind's
``list_*``/``get_*`` pair is generated from its row.

This module imports only the standard library; the class a kind's plugins must derive from
(``sklxai.base``, ``torch.optim``, ``sklearn.base``) is imported when a loaded object is checked.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.metadata as _metadata
import os
import re
import sys
import textwrap
import threading
import warnings
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

__all__ = [
    "PLUGIN_GROUPS",
    "PluginError",
    "PluginInfo",
    "PluginWarning",
    "clear_cache",
    "get_explainer",
    "get_metric",
    "get_model",
    "get_optimizer",
    "get_plugin",
    "get_training_method",
    "list_explainers",
    "list_metrics",
    "list_models",
    "list_optimizers",
    "list_plugins",
    "list_training_methods",
]


@dataclasses.dataclass(frozen=True)
class _Kind:
    """One plugin kind: its entry-point group, what a plugin must point to, how it is named.

    ``base`` is ``"module:Class"`` for kinds whose plugins are subclasses of a class (imported
    only when a plugin is checked); None for kinds whose plugins are any callable, described
    by ``expected``. The other fields name the kind in messages and in the docstrings of its
    ``list_*``/``get_*`` functions.
    """

    group: str
    noun: str  # singular, for messages ("Unknown explainer 'foo'")
    base: str | None
    expected: str  # what a plugin must be, for messages ("a class deriving from ...")
    example: str  # a registered name, for docstrings
    returns: str  # the numpydoc type of what get_<noun> returns
    returns_text: str

    @property
    def plural(self) -> str:
        return self.noun + "s"


def _subclass_of(base: str, returns_text: str, **fields: str) -> _Kind:
    module, _, name = base.partition(":")
    return _Kind(base=base, expected=f"a class deriving from {module}.{name}", returns="type",
                 returns_text=returns_text, **fields)


#: The plugin kinds, in the order they are listed. One table: every function below reads it.
_KINDS: dict[str, _Kind] = {
    "explainers": _subclass_of(
        "sklxai.base:BaseExplainer", group="sklxai.explainers", noun="explainer",
        example="exact", returns_text="A subclass of :class:`~sklxai.base.BaseExplainer`.",
    ),
    "optimizers": _subclass_of(
        "torch.optim:Optimizer", group="sklxai.optimizers", noun="optimizer",
        example="bort-adamw", returns_text="A subclass of ``torch.optim.Optimizer``.",
    ),
    "metrics": _Kind(
        group="sklxai.metrics", noun="metric", base=None, expected="a callable",
        example="deletion_auc", returns="callable", returns_text="The metric function.",
    ),
    "models": _subclass_of(
        "sklearn.base:BaseEstimator", group="sklxai.models", noun="model", example="rcbm",
        returns_text="An interpretable model class, a subclass of "
        ":class:`sklearn.base.BaseEstimator`.",
    ),
    "training": _Kind(
        group="sklxai.training", noun="training method", base=None,
        expected="a class or callable (a skorch net class, mix-in, criterion or callback)",
        example="res", returns="class or callable",
        returns_text="What the plugin registered, for example a skorch net class or mix-in.",
    ),
}

#: Plugin kind -> entry-point group.
PLUGIN_GROUPS = MappingProxyType({kind: spec.group for kind, spec in _KINDS.items()})

_BUILTIN_DIST = "sklxai"
_DISABLE_ENV = "SKLXAI_DISABLE_PLUGIN_AUTOLOAD"
_TRUTHY = frozenset({"1", "true", "yes"})
_UNKNOWN = "unknown"


class PluginWarning(UserWarning):
    """Warning about a plugin that is broken, of the wrong kind, or clashes with another."""


class PluginError(ImportError):
    """A plugin could not be loaded, or what it points to is not of the expected kind.

    Parameters
    ----------
    message : str
        What went wrong; names the plugin, its distribution and the original error.
    plugin : str, optional
        The plugin's name.
    distribution : str, optional
        The distribution that registered the plugin.

    Notes
    -----
    Subclasses :class:`ImportError` so that ``except ImportError`` around an optional plugin
    keeps working. When loading failed, the original exception is chained as ``__cause__``.
    """

    def __init__(self, message: str, *, plugin: str | None = None, distribution: str | None = None):
        super().__init__(message)
        self.plugin = plugin
        self.distribution = distribution


@dataclasses.dataclass(frozen=True)
class PluginInfo:
    """Where a registered plugin comes from, and what is known about it.

    Parameters
    ----------
    name : str
        The entry-point name (unqualified).
    kind : str
        The plugin kind: ``"explainers"``, ``"optimizers"``, ``"metrics"``, ``"models"`` or
        ``"training"``.
    value : str
        The entry-point target, ``"module:attr"``.
    distribution : str
        The distribution that registered it (``"unknown"`` when the metadata does not say).
    version : str
        That distribution's version (``"unknown"`` when the metadata does not say).
    status : {"ok", "broken", "unloaded"}
        ``"unloaded"``: not imported yet; ``"ok"``: loaded and of the right kind;
        ``"broken"``: loading failed or the object is of the wrong kind (see ``error``).
    error : str or None
        The error text when ``status == "broken"``, else None.
    """

    name: str
    kind: str
    value: str
    distribution: str
    version: str
    status: str = "unloaded"
    error: str | None = None

    @property
    def group(self) -> str:
        """str : The entry-point group of this plugin's kind."""
        return PLUGIN_GROUPS[self.kind]

    @property
    def qualified_name(self) -> str:
        """str : ``"distribution:name"``, which selects this plugin even when names clash."""
        return f"{self.distribution}:{self.name}"

    @property
    def builtin(self) -> bool:
        """bool : Whether the plugin is registered by sklxai itself."""
        return _normalize_dist(self.distribution) == _BUILTIN_DIST


class _Entry:
    """One discovered entry point plus its load state (mutable, private)."""

    __slots__ = ("ep", "error", "exc", "info", "key", "loaded", "obj")

    def __init__(self, info: PluginInfo, ep: Any):
        self.info = info
        self.ep = ep
        self.key = info.name  # the listing key; qualified when the bare name is taken
        self.loaded = False
        self.obj: Any = None
        self.error: str | None = None
        self.exc: BaseException | None = None

    @property
    def dist_key(self) -> str:
        return _normalize_dist(self.info.distribution)

    def current_info(self) -> PluginInfo:
        if self.loaded:
            return dataclasses.replace(self.info, status="ok", error=None)
        if self.error is not None:
            return dataclasses.replace(self.info, status="broken", error=self.error)
        return self.info


class _Scan:
    """The result of discovering one kind: listing keys, qualified lookups, ambiguous names."""

    __slots__ = ("ambiguous", "autoload", "entries", "qualified")

    def __init__(self, autoload: bool):
        self.entries: dict[str, _Entry] = {}
        self.qualified: dict[tuple[str, str], _Entry] = {}
        self.ambiguous: dict[str, list[_Entry]] = {}
        self.autoload = autoload


# kind -> _Scan. Module-level so every caller shares one discovery per process.
_CACHE: dict[str, _Scan] = {}
# Guards scanning only: loading happens outside it, because a plugin module may itself call
# into the registry at import time and must not deadlock against the import lock.
_LOCK = threading.RLock()


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _normalize_dist(name: str) -> str:
    # PEP 503 normalization, so "sklxai_plugin" and "sklxai-plugin" are one distribution.
    return re.sub(r"[-_.]+", "-", name).lower()


def _warn(message: str) -> None:
    # Point the warning at the first frame outside this module (the user's call), whatever
    # path inside the registry raised it.
    frame = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
        level += 1
    warnings.warn(message, PluginWarning, stacklevel=level)


def _check_kind(kind: str) -> str:
    if kind not in PLUGIN_GROUPS:
        valid = ", ".join(repr(k) for k in PLUGIN_GROUPS)
        raise ValueError(f"Unknown plugin kind {kind!r}. Valid kinds: {valid}.")
    return kind


def _autoload_disabled() -> bool:
    return os.environ.get(_DISABLE_ENV, "").strip().lower() in _TRUTHY


def _format_exc(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _dist_label(dist: Any) -> str:
    """Best-effort name of a distribution whose metadata may be unreadable."""
    try:
        name = dist.metadata["Name"]
        if name:
            return str(name)
    except Exception:  # the metadata itself is what is broken
        pass
    path = getattr(dist, "_path", None)  # not public, but the only pointer left
    return str(path) if path is not None else repr(dist)


def _dist_name_version(ep: Any, dist: Any = None) -> tuple[str, str]:
    dist = dist if dist is not None else getattr(ep, "dist", None)
    if dist is None:
        return _UNKNOWN, _UNKNOWN
    name = version = None
    try:
        name = dist.metadata["Name"]
        version = dist.version
    except Exception as exc:
        _warn(
            f"Could not read the metadata of distribution {_dist_label(dist)!r}, which "
            f"registers plugin {ep.name!r} ({ep.value}): {_format_exc(exc)}"
        )
    return (str(name) if name else _UNKNOWN), (str(version) if version else _UNKNOWN)


def _iter_group_fast(group: str) -> list[tuple[Any, str, str]]:
    eps = _metadata.entry_points(group=group)
    return [(ep, *_dist_name_version(ep)) for ep in eps]


def _iter_group_per_dist(group: str) -> list[tuple[Any, str, str]]:
    """Scan distribution by distribution, so one corrupted distribution costs only itself.

    Mirrors :func:`importlib.metadata.entry_points`: the first distribution of a given
    (normalized) name on ``sys.path`` wins.
    """
    found: list[tuple[Any, str, str]] = []
    seen: set[str] = set()
    try:
        for dist in _metadata.distributions():
            try:
                name = dist.metadata["Name"]
                if name:
                    key = _normalize_dist(name)
                    if key in seen:
                        continue
                    seen.add(key)
                eps = [ep for ep in dist.entry_points if ep.group == group]
                if not eps:
                    continue
                name_, version = _dist_name_version(eps[0], dist)
                found.extend((ep, name_, version) for ep in eps)
            except Exception as exc:
                _warn(
                    f"Skipping the plugins of distribution {_dist_label(dist)!r}: its metadata "
                    f"could not be read ({_format_exc(exc)})."
                )
    except Exception as exc:  # the scan of sys.path itself failed; keep what was found
        _warn(f"Scanning installed distributions for {group!r} failed: {_format_exc(exc)}")
    return found


def _iter_group_builtin(group: str) -> list[tuple[Any, str, str]]:
    # Only sklxai's own metadata is read: a broken third-party distribution cannot interfere.
    try:
        dist = _metadata.distribution(_BUILTIN_DIST)
    except _metadata.PackageNotFoundError:
        return []
    try:
        eps = [ep for ep in dist.entry_points if ep.group == group]
        return [(ep, *_dist_name_version(ep, dist)) for ep in eps]
    except Exception as exc:
        _warn(f"Could not read sklxai's own entry points for {group!r}: {_format_exc(exc)}")
        return []


def _discover(kind: str) -> _Scan:
    group = PLUGIN_GROUPS[kind]
    autoload = not _autoload_disabled()
    if not autoload:
        raw = _iter_group_builtin(group)
    else:
        try:
            raw = _iter_group_fast(group)
        except Exception:
            # entry_points() stops at the first corrupted distribution; redo it one
            # distribution at a time so that only the corrupted one is skipped (and named).
            raw = _iter_group_per_dist(group)

    # Identical (name, value, distribution) triples are one registration: duplicated metadata
    # (e.g. an editable install seen twice) is not a clash.
    seen: set[tuple[str, str, str]] = set()
    entries: list[_Entry] = []
    for ep, dist_name, version in raw:
        triple = (ep.name, ep.value, _normalize_dist(dist_name))
        if triple in seen:
            continue
        seen.add(triple)
        info = PluginInfo(ep.name, kind, ep.value, dist_name, version)
        entries.append(_Entry(info, ep))

    by_name: dict[str, dict[str, _Entry]] = {}
    for entry in entries:
        per_dist = by_name.setdefault(entry.info.name, {})
        first = per_dist.get(entry.dist_key)
        if first is None:
            per_dist[entry.dist_key] = entry
        else:
            # One distribution, one name, two targets (stale metadata): keep the first found
            # on sys.path, as importlib.metadata would, but say so.
            _warn(
                f"Distribution {entry.info.distribution!r} registers {_KINDS[kind].noun} "
                f"{entry.info.name!r} more than once with different targets "
                f"({first.info.value}, {entry.info.value}); using {first.info.value}."
            )

    scan = _Scan(autoload)
    for name, per_dist in by_name.items():
        candidates = list(per_dist.values())
        for entry in candidates:
            scan.qualified[(entry.dist_key, name)] = entry
        if len(candidates) == 1:
            scan.entries[name] = candidates[0]
            continue
        builtin = [e for e in candidates if e.info.builtin]
        others = [e for e in candidates if not e.info.builtin]
        for entry in others:
            entry.key = entry.info.qualified_name
            scan.entries[entry.key] = entry
        described = ", ".join(
            f"{e.info.distribution} {e.info.version} ({e.info.value})" for e in others
        )
        if builtin:
            scan.entries[name] = builtin[0]
            alternatives = " or ".join(repr(e.key) for e in others)
            _warn(
                f"{_KINDS[kind].noun.capitalize()} {name!r} is registered by sklxai (built-in) "
                f"and by {described}; the built-in wins. Ask for {alternatives} to get the "
                f"third-party one."
            )
        else:
            scan.ambiguous[name] = others
            alternatives = " or ".join(repr(e.key) for e in others)
            _warn(
                f"{_KINDS[kind].noun.capitalize()} {name!r} is registered by more than one "
                f"distribution: {described}. The bare name is ambiguous; ask for "
                f"{alternatives}."
            )
    return scan


def _get_scan(kind: str, refresh: bool = False) -> _Scan:
    with _LOCK:
        scan = _CACHE.get(kind)
        if scan is None or refresh:
            if refresh:
                # A distribution installed after start-up is invisible to importlib's path
                # caches until they are invalidated.
                importlib.invalidate_caches()
            scan = _discover(kind)
            _CACHE[kind] = scan
        return scan


def _is_valid(kind: str, obj: Any) -> bool:
    base = _KINDS[kind].base
    if base is None:
        return callable(obj)
    # Imported only now: sklxai.base pulls in scikit-learn, torch.optim pulls in torch.
    module, _, name = base.partition(":")
    cls = getattr(importlib.import_module(module), name)
    return isinstance(obj, type) and issubclass(obj, cls)


def _describe(obj: Any) -> str:
    if isinstance(obj, type):
        return f"class {obj.__module__}.{obj.__qualname__}"
    try:
        text = repr(obj)
    except Exception:  # a half-built object's repr may fail; the message must not
        text = object.__repr__(obj)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(obj).__name__} {text}"


def _load(entry: _Entry) -> Any:
    """Import an entry point's object once, check its kind, remember the outcome."""
    if entry.loaded:
        return entry.obj
    info = entry.info
    where = (
        f"{_KINDS[info.kind].noun} plugin {info.name!r} ({info.value}) from distribution "
        f"{info.distribution!r} {info.version}"
    )
    if entry.error is None:
        try:
            obj = entry.ep.load()
        except Exception as exc:  # any failure in third-party import code, not just ImportError
            entry.error = _format_exc(exc)
            entry.exc = exc
        else:
            if _is_valid(info.kind, obj):
                entry.obj, entry.loaded = obj, True
                return obj
            entry.error = f"expected {_KINDS[info.kind].expected}, got {_describe(obj)}"
    if entry.exc is not None:
        message = f"Could not load {where}: {entry.error}"
    else:
        message = f"Invalid {where}: {entry.error}"
    _warn(message)
    raise PluginError(message, plugin=info.name, distribution=info.distribution) from entry.exc


def _resolve(kind: str, name: str, scan: _Scan) -> _Entry:
    entry = scan.entries.get(name)
    if entry is not None:
        return entry
    if name in scan.ambiguous:
        candidates = scan.ambiguous[name]
        dists = " and ".join(repr(e.info.distribution) for e in candidates)
        options = " or ".join(repr(e.key) for e in candidates)
        noun = _KINDS[kind].noun.capitalize()
        raise ValueError(
            f"{noun} {name!r} is ambiguous: it is registered by {dists}. "
            f"Ask for 'distribution:name', i.e. {options}."
        )
    dist, sep, bare = name.partition(":")
    if sep:
        entry = scan.qualified.get((_normalize_dist(dist.strip()), bare.strip()))
        if entry is not None:
            return entry
    available = sorted(scan.entries)
    listed = ", ".join(repr(n) for n in available) if available else "none"
    parts = [f"Unknown {_KINDS[kind].noun} {name!r}. Available: {listed}."]
    close = [n for n in available if n.lower() == name.lower()]
    close = close or difflib.get_close_matches(name, available, n=3)
    if close:
        hint = " or ".join(repr(n) for n in close)
        parts.append(f"Did you mean {hint}? (names are case-sensitive)")
    if not scan.autoload:
        parts.append(f"Third-party plugins are disabled by {_DISABLE_ENV}.")
    elif not available:
        parts.append(f"No entry points in group {PLUGIN_GROUPS[kind]!r}; is sklxai installed?")
    raise ValueError(" ".join(parts))


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def clear_cache() -> None:
    """Forget every discovered plugin and every loaded object.

    The next listing or lookup re-scans the installed distributions. Modules that were
    already imported stay in ``sys.modules``.
    """
    with _LOCK:
        _CACHE.clear()
    importlib.invalidate_caches()


def list_plugins(
    kind: str, *, validate: bool = False, refresh: bool = False
) -> dict[str, PluginInfo]:
    """List the registered plugins of one kind.

    Parameters
    ----------
    kind : {"explainers", "optimizers", "metrics", "models", "training"}
        The plugin kind; its entry-point group is ``"sklxai." + kind`` (:data:`PLUGIN_GROUPS`).
    validate : bool, default=False
        Import every plugin and check that it is of the right kind. Broken ones are reported
        with a :class:`PluginWarning` and listed with ``status="broken"``; the rest still work.
        When False, only metadata is read and nothing is imported.
    refresh : bool, default=False
        Re-scan the installed distributions instead of using the cached discovery (e.g. after
        installing a plugin in a running Python process).

    Returns
    -------
    dict of str to PluginInfo
        Sorted by key. The key is what :func:`get_plugin` accepts: the bare name, or
        ``"distribution:name"`` for a third-party plugin whose name is taken by a built-in or
        by another third party (the built-in keeps the bare name; clashing third parties have
        only qualified keys).

    Raises
    ------
    ValueError
        If ``kind`` is not a known plugin kind.

    Notes
    -----
    Names are exact (case-sensitive). With ``SKLXAI_DISABLE_PLUGIN_AUTOLOAD`` set to ``1``,
    ``true`` or ``yes``, only sklxai's own plugins are listed.
    """
    _check_kind(kind)
    scan = _get_scan(kind, refresh=refresh)
    if validate:
        for entry in scan.entries.values():
            try:
                _load(entry)
            except PluginError:
                pass  # already warned; the entry is now marked broken
    return {key: scan.entries[key].current_info() for key in sorted(scan.entries)}


def get_plugin(kind: str, name: Any) -> Any:
    """Return the object a plugin name points to, importing it on first use.

    Parameters
    ----------
    kind : {"explainers", "optimizers", "metrics", "models", "training"}
        The plugin kind.
    name : str or object
        A registered name, ``"distribution:name"`` for a specific distribution's plugin, or an
        already-loaded object of the right kind (returned unchanged). Surrounding whitespace is
        stripped; names are otherwise exact (case-sensitive).

    Returns
    -------
    object
        The plugin's object: a class for explainers, optimizers and models, a callable for
        metrics, a class or callable for training methods. Loaded objects are cached.

    Raises
    ------
    ValueError
        If ``kind`` is unknown, if ``name`` is not registered (the message lists the valid
        names), or if two third-party distributions claim ``name`` (ask for
        ``"distribution:name"``).
    PluginError
        If the plugin cannot be imported (the original error is chained) or is not of the
        expected kind. A :class:`PluginWarning` is emitted as well.
    TypeError
        If ``name`` is neither a string nor an object of the right kind.
    """
    _check_kind(kind)
    if not isinstance(name, str):
        if _is_valid(kind, name):
            return name
        raise TypeError(
            f"Expected the name of a registered {_KINDS[kind].noun} or {_KINDS[kind].expected}; "
            f"got {_describe(name)}."
        )
    scan = _get_scan(kind)
    return _load(_resolve(kind, name.strip(), scan))


def _public_functions(kind: str) -> tuple[Callable[..., dict[str, PluginInfo]],
                                           Callable[[Any], Any]]:
    """The ``list_<plural>`` and ``get_<noun>`` functions of one kind, with their docstrings."""
    spec = _KINDS[kind]
    plural, noun = spec.plural.replace(" ", "_"), spec.noun.replace(" ", "_")
    name_type = "str or type" if spec.base is not None else f"str or {spec.returns}"

    def lister(*, validate: bool = False, refresh: bool = False) -> dict[str, PluginInfo]:
        return list_plugins(kind, validate=validate, refresh=refresh)

    def getter(name: Any) -> Any:
        return get_plugin(kind, name)

    lister.__name__ = lister.__qualname__ = f"list_{plural}"
    lister.__doc__ = f"""List the registered {spec.plural}, e.g. ``"{spec.example}"``.

    Same as ``list_plugins("{kind}", validate=validate, refresh=refresh)``: the plugins of the
    entry-point group ``{spec.group}``.

    Parameters
    ----------
    validate : bool, default=False
        Import every {spec.noun} and check its kind; broken ones are reported with a
        :class:`PluginWarning` and listed with ``status="broken"``.
    refresh : bool, default=False
        Re-scan the installed distributions instead of using the cached discovery.

    Returns
    -------
    dict of str to PluginInfo
        {spec.noun.capitalize()} names -> where they come from (distribution, version) and
        their status; see :func:`list_plugins`.
    """
    accepted = textwrap.fill(
        f'A registered name (e.g. ``"{spec.example}"``), ``"distribution:name"``, or '
        f"{spec.expected}, which is returned unchanged.",
        width=92, initial_indent=" " * 8, subsequent_indent=" " * 8,
    )
    getter.__name__ = getter.__qualname__ = f"get_{noun}"
    getter.__doc__ = f"""Return the {spec.noun} registered as ``name``, importing it on first use.

    Same as ``get_plugin("{kind}", name)``.

    Parameters
    ----------
    name : {name_type}
{accepted}

    Returns
    -------
    {spec.returns}
        {spec.returns_text}

    Raises
    ------
    ValueError
        Unknown or ambiguous name; the message lists the valid names.
    PluginError
        The plugin failed to import or is not of the expected kind.
    TypeError
        ``name`` is neither a string nor of the expected kind.
    """
    return lister, getter


list_explainers, get_explainer = _public_functions("explainers")
list_optimizers, get_optimizer = _public_functions("optimizers")
list_metrics, get_metric = _public_functions("metrics")
list_models, get_model = _public_functions("models")
list_training_methods, get_training_method = _public_functions("training")
