"""Subcommands of the ``agm`` console script, one module per subcommand.

Every public module in this package (name not starting with ``_``) is the subcommand of its name. Its docstring is
its help: the first line is the summary in ``agm --help``, the paragraphs after it the text of ``agm NAME --help``.
It defines::

    add_arguments(parser: argparse.ArgumentParser) -> None   # its options (shared ones from agm.commands._options)
    run(args: argparse.Namespace) -> int                     # exit status

:func:`discover` finds them (sorted by module name), so adding a subcommand means adding one file here; :mod:`agm.cli`
needs no change. Module level code must not import torch (import it in ``run``): ``agm --help`` stays fast.

Floor: the top; may import every package below (``tests/test_layout.py``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

_INTERFACE = ("add_arguments", "run")


def discover() -> list[ModuleType]:
    """Import and return the subcommand modules of this package, sorted by name.

    Raises:
        TypeError: a public module lacks part of the subcommand interface.
    """
    modules = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        missing = [name for name in _INTERFACE if not callable(getattr(mod, name, None))]
        if missing or not mod.__doc__:
            raise TypeError(f"subcommand module {mod.__name__} needs a docstring and {' and '.join(_INTERFACE)}")
        modules.append(mod)
    return modules


def help_texts(module: ModuleType) -> tuple[str, str]:
    """(summary, description) of a subcommand module: its docstring's first line (without the final period) and the
    paragraphs after it."""
    summary, _, description = inspect.cleandoc(module.__doc__ or "").partition("\n\n")
    return summary.removesuffix("."), " ".join(description.split())
