"""The API reference, generated from the package itself, and the check that every public name has a page.

Public means: listed in the ``__all__`` of a module of ``agm`` whose dotted path has no part starting with ``_``
(``agm`` itself included).  So a name added to an ``__all__`` gets a page at the next build, and a module that gains
an ``__all__`` gets its own page.  Each object is documented once, on the page of the shortest module path that
exports it (``agm.build_graph`` rather than ``agm.geodesic.build_graph``); the other modules that export it link
there.  After the build, :func:`check_public_names` fails it when a public name has no entry in the Python domain
(an import that autodoc could not do, an object it skipped) or a public class or function has no docstring.

The pages are written to ``docs/api/`` (ignored by git) when the builder starts.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.pycode import ModuleAnalyzer

PACKAGE = "agm"
API_DIR = "api"


@dataclass(frozen=True)
class PublicName:
    """One entry of one module's ``__all__`` and where its documentation lives."""

    module: str  # the module whose __all__ lists it
    name: str
    home: str  # the module whose page documents it

    @property
    def target(self) -> str:
        return f"{self.home}.{self.name}"


def public_modules() -> list[ModuleType]:
    """Every module of the package that defines ``__all__`` and has no private part in its path, sorted."""
    modules = []
    for name in _all_modules():
        if any(part.startswith("_") for part in name.split(".")):
            continue
        module = importlib.import_module(name)
        if hasattr(module, "__all__"):
            modules.append(module)
    return modules


def _has_doc_comment(module: ModuleType, name: str) -> bool:
    try:
        return ("", name) in ModuleAnalyzer.for_module(module.__name__).find_attr_docs()
    except Exception:  # a module without source (a compiled one)
        return False


def _kind(value: Any) -> str:
    if inspect.isclass(value):
        return "exception" if issubclass(value, BaseException) else "class"
    if inspect.isroutine(value):
        return "function"
    return "data"  # constants, instances, type aliases


def _all_modules() -> list[str]:
    root = importlib.import_module(PACKAGE)
    found = pkgutil.walk_packages(root.__path__, prefix=f"{PACKAGE}.")
    return [PACKAGE] + sorted(info.name for info in found if not info.name.endswith(".__main__"))  # __main__ runs


def _data_comment(name: str, value: Any) -> list[str]:
    """The ``#:`` doc comment of a constant, from whichever module of the package assigns it (private ones too)."""
    for module_name in _all_modules():
        module = importlib.import_module(module_name)
        if getattr(module, name, _MISSING) is not value:
            continue
        try:
            docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        except Exception:  # no source (the compiled core)
            continue
        if ("", name) in docs:
            return [line for line in docs[("", name)] if line is not None]
    return []


_MISSING = object()


def public_names(modules: list[ModuleType]) -> list[PublicName]:
    """Every (module, name) of the modules' ``__all__``, each with the module that documents its object."""
    exporters: dict[tuple[str, int], list[ModuleType]] = {}
    entries: list[tuple[ModuleType, str, tuple[str, int]]] = []
    for module in modules:
        for name in module.__all__:
            value = getattr(module, name)
            key = (name, id(value))
            exporters.setdefault(key, []).append(module)
            entries.append((module, name, key))
    homes: dict[tuple[str, int], str] = {}
    for (name, ident), mods in exporters.items():
        value = getattr(mods[0], name)
        candidates = mods
        if _kind(value) == "data":  # a constant's doc comment is in the module that assigns it: prefer that one
            commented = [m for m in mods if _has_doc_comment(m, name)]
            candidates = commented or mods
        homes[(name, ident)] = min(candidates, key=lambda m: (m.__name__.count("."), m.__name__)).__name__
    return [PublicName(module.__name__, name, homes[key]) for module, name, key in entries]


def _summary(value: Any) -> str:
    doc = inspect.getdoc(value) if _kind(value) != "data" else None
    return doc.split("\n\n")[0].replace("\n", " ").strip() if doc else ""


def _module_page(module: ModuleType, names: list[PublicName]) -> str:
    title = module.__name__
    lines = [f".. _api-{title}:", "", title, "=" * len(title), "", f".. automodule:: {title}", "   :no-members:", ""]
    own = [n for n in names if n.home == title]
    elsewhere = [n for n in names if n.home != title]
    if own:
        lines += [".. list-table::", "   :widths: 30 70", ""]
        for entry in own:
            summary = _summary(getattr(module, entry.name)) or " "
            lines += [f"   * - :py:obj:`~{entry.target}`", f"     - {summary}"]
        lines.append("")
    if elsewhere:
        refs = ", ".join(f":py:obj:`{n.name} <{n.target}>`" for n in elsewhere)
        lines += [f"Also exported here (documented where shown): {refs}.", ""]
    for entry in own:
        value = getattr(module, entry.name)
        kind = _kind(value)
        if kind == "class":
            lines += [f".. autoclass:: {entry.target}", "   :members:", "   :show-inheritance:", ""]
        elif kind == "exception":
            lines += [f".. autoexception:: {entry.target}", "   :members:", "   :show-inheritance:", ""]
        elif kind == "function":
            lines += [f".. autofunction:: {entry.target}", ""]
        else:
            lines += [f".. py:data:: {entry.name}", f"   :module: {entry.home}"]
            text = repr(value)
            if len(text) <= 100 and "\n" not in text:
                lines.append(f"   :value: {text}")
            lines.append("")
            lines += [f"   {line}" if line.strip() else "" for line in _data_comment(entry.name, value)]
            lines.append("")
    return "\n".join(lines)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def write_pages(app: Sphinx) -> None:
    """Write one page per public module and the index of them into ``docs/api/``."""
    modules = public_modules()
    names = public_names(modules)
    out = Path(app.srcdir) / API_DIR
    out.mkdir(exist_ok=True)
    for stale in out.glob("*.rst"):
        if stale.stem not in {m.__name__ for m in modules} | {"index"}:
            stale.unlink()
    for module in modules:
        _write_if_changed(
            out / f"{module.__name__}.rst", _module_page(module, [n for n in names if n.module == module.__name__])
        )
    toc = "\n".join(f"   {m.__name__}" for m in modules)
    index = (
        "API reference\n=============\n\n"
        "Generated from the docstrings: one page per public module (a module of ``agm`` with an ``__all__``), each\n"
        "object documented once, on the page of the shortest module path that exports it.\n\n"
        f".. toctree::\n   :maxdepth: 1\n\n{toc}\n"
    )
    _write_if_changed(out / "index.rst", index)
    app.env.agm_public_names = names  # type: ignore[attr-defined]


def check_public_names(app: Sphinx, exception: Exception | None) -> None:
    """Fail the build when a public name has no documented entry, or a public class or function no docstring."""
    if exception is not None or app.builder.name not in {"html", "dirhtml"}:
        return
    names: list[PublicName] = getattr(app.env, "agm_public_names", None) or public_names(public_modules())
    objects = app.env.get_domain("py").objects
    missing = sorted({f"{n.module}.{n.name} (expected at {n.target})" for n in names if n.target not in objects})
    undocumented = set()
    for n in names:
        value = getattr(importlib.import_module(n.module), n.name)
        if n.name == "__version__":
            continue
        if not (_data_comment(n.name, value) if _kind(value) == "data" else inspect.getdoc(value)):
            undocumented.add(n.target)
    problems = [f"public name without an API page: {m}" for m in missing]
    problems += [f"public name without a docstring (or #: comment): {u}" for u in sorted(undocumented)]
    if problems:
        raise ExtensionError("API reference incomplete:\n  " + "\n  ".join(problems))


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", write_pages)
    app.connect("build-finished", check_public_names)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
