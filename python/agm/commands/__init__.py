"""Subcommands of the ``agm`` console script, one module per subcommand.

Every public module in this package (name not starting with ``_``) is a subcommand module exposing::

    add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser   # adds "agm <name>"
    run(args: argparse.Namespace) -> int                                             # exit status

:func:`discover` finds them (sorted by module name), so adding a subcommand (``demo``, ``reproduce``, ...) means adding
one file here; :mod:`agm.cli` needs no change.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def discover() -> list[ModuleType]:
    """Import and return the subcommand modules of this package, sorted by name.

    Raises:
        TypeError: a public module lacks ``add_parser`` or ``run``.
    """
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if not (callable(getattr(mod, "add_parser", None)) and callable(getattr(mod, "run", None))):
            raise TypeError(f"subcommand module {mod.__name__} must define add_parser(subparsers) and run(args)")
        modules.append(mod)
    return modules
