"""The ``agm`` console script: wires the subcommand modules of :mod:`agm.commands` into one argparse parser.

Building the parser imports no torch (the subcommands import what they need when they run), so ``agm --help`` is
quick. Every error that is the user's is one line on stderr, ``agm COMMAND: error: ...``, with exit status 2; Ctrl-C
exits with 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from agm import __version__
from agm.commands import discover, help_texts
from agm.commands._options import add_subcommand

#: Exceptions that report the user's mistake (bad values, missing or damaged files, a diverging run), not a bug.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, FloatingPointError)


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (exit status 2) instead of usage + message."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def one_line(err: BaseException) -> str:
    """The exception's message on one line (multi-line messages joined with "; ")."""
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per module of :mod:`agm.commands`."""
    parser = OneLineErrorParser(
        prog="agm",
        description="Atlas Generative Models: train, evaluate and interpolate across charts.",
    )
    parser.add_argument("--version", action="version", version=f"agm {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, help="what to do; `agm COMMAND --help` lists its options"
    )
    for mod in discover():
        summary, description = help_texts(mod)
        p = add_subcommand(sub, mod.__name__.rsplit(".", 1)[1], summary=summary, description=description)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _use_file_backend() -> None:
    """Figures are written to files: matplotlib's Agg backend, chosen here (the library never chooses one)."""
    import matplotlib

    matplotlib.use("Agg")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``agm`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Errors that are the user's (bad values, missing or damaged files, a diverging run) are printed as one line
    ``agm COMMAND: error: ...`` with status 2; Ctrl-C outside ``agm train`` (which says how to resume) prints
    ``agm COMMAND: interrupted`` with status 130.
    """
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    _use_file_backend()
    try:
        return int(args._run(args) or 0)
    except USER_ERRORS as err:
        parser.exit(2, f"agm {args.command}: error: {one_line(err)}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"agm {args.command}: interrupted\n")


if __name__ == "__main__":
    sys.exit(main())
