"""The hand-written stub python/agm/_core.pyi must match the compiled module.

Two checks: ``mypy.stubtest`` (pykdtree pattern; names, kinds, properties, static methods), and, because
pybind11 functions expose no ``inspect.signature`` that stubtest could compare, the parameter names and defaults
of every stub function against the signature line pybind11 writes at the top of each ``__doc__``.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agm import _core

REPO = Path(__file__).resolve().parents[1]
STUB = REPO / "python" / "agm" / "_core.pyi"
#: Entries stubtest cannot verify against a pybind11 binary; one per line, the reason in a comment above it.
ALLOWLIST = Path(__file__).with_name("stubtest_allowlist.txt")


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed (pip install mypy)")
def test_stubtest_core() -> None:
    cmd = [
        sys.executable,
        "-m",
        "mypy.stubtest",
        "agm._core",
        "--mypy-config-file",
        str(REPO / "pyproject.toml"),
        "--allowlist",
        str(ALLOWLIST),
    ]
    # The editable install is an import hook that mypy cannot follow: point it at the source tree's stub.
    env = {**os.environ, "MYPYPATH": str(REPO / "python")}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"stubtest failed:\n{proc.stdout}\n{proc.stderr}"


def _split_top_level(text: str) -> list[str]:
    """Split a parameter list at the commas that are not inside brackets or quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _runtime_params(obj: object, name: str) -> list[tuple[str, object]]:
    """(name, default or ...) of the parameters in pybind11's docstring signature line, ``self`` dropped."""
    first = (obj.__doc__ or "").splitlines()[0] if obj.__doc__ else ""
    assert first.startswith(f"{name}(") and ")" in first, f"{name}: no pybind11 signature line: {first!r}"
    inner = first[len(name) + 1 : first.rindex(") ->")]
    params = []
    for part in _split_top_level(inner):
        pname, _, rest = part.partition(":")
        default: object = ...
        if "=" in rest:
            default = ast.literal_eval(rest.rsplit("=", 1)[1].strip())
        if pname.strip() != "self":
            params.append((pname.strip(), default))
    return params


def _stub_params(fn: ast.FunctionDef) -> list[tuple[str, object]]:
    args = fn.args.args
    defaults = [...] * (len(args) - len(fn.args.defaults)) + [ast.literal_eval(d) for d in fn.args.defaults]
    return [(a.arg, d) for a, d in zip(args, defaults) if a.arg != "self"]


def _stub_functions() -> list[tuple[str, str, ast.FunctionDef]]:
    """(owner or "", name, node) of every function and method of the stub that is not a property."""
    out = []
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            out.append(("", node.name, node))
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                decorators = [ast.unparse(d) for d in getattr(item, "decorator_list", [])]
                if isinstance(item, ast.FunctionDef) and "property" not in decorators:
                    out.append((node.name, item.name, item))
    return out


@pytest.mark.parametrize(("owner", "name", "node"), _stub_functions(), ids=lambda x: x if isinstance(x, str) else "")
def test_parameter_names_and_defaults_match_stub(owner: str, name: str, node: ast.FunctionDef) -> None:
    obj = getattr(getattr(_core, owner), name) if owner else getattr(_core, name)
    assert _runtime_params(obj, name) == _stub_params(node)


def _runtime_doc(obj: object, name: str) -> str:
    """The docstring pybind11 holds for ``obj``, its generated signature line dropped, cleaned like ast's."""
    doc = obj.__doc__ or ""
    lines = doc.splitlines()
    if lines and lines[0].startswith(f"{name}("):
        doc = "\n".join(lines[1:])
    return inspect.cleandoc(doc).strip()


def _documented() -> list[tuple[str, object, str | None]]:
    """(qualified name, runtime object, stub docstring) of every class, function, method and property."""
    out: list[tuple[str, object, str | None]] = []
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, ast.ClassDef) and node.name in ("AtlasGraph", "ChartIndex"):
            cls = getattr(_core, node.name)
            out.append((node.name, cls, ast.get_docstring(node)))
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    member = inspect.getattr_static(cls, item.name)
                    if isinstance(member, staticmethod):
                        member = member.__func__
                    out.append((f"{node.name}.{item.name}", member, ast.get_docstring(item)))
        elif isinstance(node, ast.FunctionDef):
            out.append((node.name, getattr(_core, node.name), ast.get_docstring(node)))
    return out


@pytest.mark.parametrize(("name", "obj", "stub_doc"), [pytest.param(*item, id=item[0]) for item in _documented()])
def test_native_docstrings_equal_the_stub(name: str, obj: object, stub_doc: str | None) -> None:
    """One source for the native docs: the pybind11 docstring of every name is the stub's, word for word."""
    assert stub_doc, f"{name}: the stub has no docstring"
    assert _runtime_doc(obj, name.rsplit(".", 1)[-1]) == stub_doc
