"""``agm --help`` imports no torch (it took 8-12 s when every subcommand imported it); the CLI chooses matplotlib's
file backend, the library never does (notebooks keep their inline plots)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agm.cli import main

# The parser is built with the ``agm`` package's own __init__ replaced by an empty package: this checks the CLI's
# modules (agm.cli, agm.commands.*, agm.training.presets), whatever the top-level package imports.
_PARSE_HELP = r"""
import importlib.util, json, sys, types
spec = importlib.util.find_spec("agm")
pkg = types.ModuleType("agm")
pkg.__path__ = list(spec.submodule_search_locations)
pkg.__version__ = "test"
sys.modules["agm"] = pkg
from agm.cli import build_parser
seen = {}
for argv in (["--help"], ["train", "--help"], ["evaluate", "--help"], ["demo", "--help"], ["reproduce", "--help"]):
    try:
        build_parser().parse_args(argv)
    except SystemExit:
        pass
    seen[" ".join(argv)] = sorted(m for m in ("torch", "numpy", "matplotlib") if m in sys.modules)
print(json.dumps(seen))
"""


def test_help_imports_no_torch() -> None:
    done = subprocess.run([sys.executable, "-c", _PARSE_HELP], capture_output=True, text=True, timeout=120, check=True)
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen == {k: [] for k in seen} and len(seen) == 5, seen


def test_library_figures_choose_no_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import matplotlib
    import torch

    import agm.evaluation.figures as figures

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the library chose a matplotlib backend")

    monkeypatch.setattr(matplotlib, "use", refuse)
    importlib.reload(figures)  # importing the module must not call matplotlib.use
    path = figures.plot_confidence_histogram(torch.rand(20) * 0.5 + 0.5, 2, tmp_path / "h.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "import matplotlib.pyplot" not in Path(figures.__file__).read_text()  # Figures only: no pyplot state


def test_the_cli_chooses_the_agg_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import matplotlib

    with pytest.raises(SystemExit):
        main(["evaluate", str(tmp_path / "none.pt")])
    capsys.readouterr()
    assert matplotlib.get_backend().lower() == "agg"


_REAL_HELP = r"""
import sys
import agm
from agm.cli import build_parser
try:
    build_parser().parse_args(["--help"])
except SystemExit:
    pass
print("torch" in sys.modules)
"""


def test_the_real_package_and_help_import_no_torch() -> None:
    done = subprocess.run([sys.executable, "-c", _REAL_HELP], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.splitlines()[-1] == "False"


def test_every_public_name_of_agm_resolves() -> None:
    import agm

    for name in agm.__all__:
        assert getattr(agm, name) is not None, name
    assert agm.shortest_path is __import__("agm.geodesic", fromlist=["shortest_path"]).shortest_path
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = agm.nope


@pytest.mark.parametrize("module", ["agm.evaluation.figures", "agm.experiments.figures", "agm.geodesic.paths.strips"])
def test_no_library_module_chooses_a_backend_or_uses_pyplot(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import matplotlib

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{module} chose a matplotlib backend")

    monkeypatch.setattr(matplotlib, "use", refuse)
    mod = importlib.reload(importlib.import_module(module))
    assert "matplotlib.pyplot" not in Path(str(mod.__file__)).read_text()
