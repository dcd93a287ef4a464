"""The zoo: every ModelSpec by name, from three sources.

- posepipe's own models (models/zoo/), checked when registered;
- plug-ins: installed packages that declare an entry point in the group
  ``posepipe.models`` whose object is a ModelSpec or a callable returning one.
  They join the zoo (``posepipe list``, every command's MODEL). A broken plug-in
  (it fails to import, gives no ModelSpec, or takes a name already in the zoo)
  is skipped with one warning line on stderr naming the entry point and its
  distribution: one bad package must not take every command down with it;
- spec files (``--spec FILE``): registered for the command that reads them
  (``add_spec_file``), not listed (they are no installed part of the zoo).
"""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from posepipe.models.errors import UnknownModelError
from posepipe.models.spec import ModelSpec
from posepipe.models.specfile.errors import Problem, SpecFileError

ENTRY_POINT_GROUP = "posepipe.models"
ZOO = "zoo"

_SPECS: dict[str, ModelSpec] = {}  # the zoo and the plug-ins: what ``names()`` lists
_SOURCES: dict[str, str] = {}  # name -> "zoo", "plug-in <distribution>" or "spec file <path>"
_FILES: dict[str, ModelSpec] = {}  # spec files this process was given
_PLUGINS_LOADED: list[bool] = [False]  # the entry points are read once, after the zoo


def register(spec: ModelSpec, source: str = ZOO) -> ModelSpec:
    if spec.name in _SPECS:
        raise ValueError(f"model {spec.name!r} registered twice")
    _SPECS[spec.name] = spec
    _SOURCES[spec.name] = source
    return spec


def get(name: str) -> ModelSpec:
    _load()
    found = _SPECS.get(name) or _FILES.get(name)
    if found is None:
        raise UnknownModelError(name, names())
    return found


def names() -> list[str]:
    """The zoo's and the plug-ins' models (spec files are not listed)."""
    _load()
    return sorted(_SPECS)


def source(name: str) -> str:
    """Where a model comes from: ``zoo``, ``plug-in <distribution>`` or ``spec file <path>``."""
    get(name)
    return _SOURCES[name]


def add_spec_file(path: Path, checkpoint: Path | None = None) -> ModelSpec:
    """Register the model ``path`` describes for this process (``--spec``) and return it.
    Its name must be new to the zoo; the same file given again replaces itself."""
    from posepipe.models.specfile.model_spec import SOURCE, load_spec_file

    spec = load_spec_file(path, checkpoint)
    _load()
    if spec.name in _SPECS:
        raise SpecFileError([Problem(str(path), "model.name", f"{spec.name!r} is already a model of the "
                                                              f"{_SOURCES[spec.name]}; choose another name")])
    _FILES[spec.name] = spec
    _SOURCES[spec.name] = f"{SOURCE} {path}"
    return spec


def reload_plugins() -> None:
    """Forget the plug-ins: the next look-up reads the entry points again (after
    installing one into a running process; tests)."""
    for name in [n for n, where in _SOURCES.items() if where.startswith("plug-in")]:
        _SPECS.pop(name, None)
        _SOURCES.pop(name, None)
    _PLUGINS_LOADED[0] = False


def _load() -> None:
    """Import the zoo's modules on first use (they import Keras, which is slow), then the plug-ins."""
    if not _SPECS:
        from posepipe.models.zoo import blazepose, cpm, hourglass, openpose, posenet, simplebaseline

        for module in (hourglass, cpm, simplebaseline, blazepose, posenet, openpose):
            register(module.SPEC)
    if not _PLUGINS_LOADED[0]:
        _PLUGINS_LOADED[0] = True
        _load_plugins()


def _load_plugins() -> None:
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        where = f"plug-in {_distribution(entry)}"
        try:
            spec = _plugin_spec(entry)
            if spec.name in _SPECS:
                raise ValueError(f"its model {spec.name!r} is already a model of the {_SOURCES[spec.name]}")
        except Exception as error:  # anything a third party's import or factory raises: skip it, say why
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            sys.stderr.write(f"posepipe: warning: {where}, entry point {entry.name!r} ({entry.value}): "
                             f"{reason}; skipped\n")
            continue
        register(spec, where)


def _plugin_spec(entry: EntryPoint) -> ModelSpec:
    """The entry point's ModelSpec: the object itself, or what calling it returns."""
    found = entry.load()
    if not isinstance(found, ModelSpec) and callable(found):
        found = found()
    if not isinstance(found, ModelSpec):
        raise TypeError(f"gives a {type(found).__name__}, not a posepipe ModelSpec (or a callable returning one)")
    return found


def _distribution(entry: EntryPoint) -> str:
    dist = entry.dist
    return f"{dist.name} {dist.version}" if dist is not None else "(unknown distribution)"
