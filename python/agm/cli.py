"""The ``agm`` console script: wires the subcommand modules of :mod:`agm.commands` into one argparse parser."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agm import __version__
from agm.commands import discover


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per module of :mod:`agm.commands`."""
    parser = argparse.ArgumentParser(
        prog="agm",
        description="Atlas Generative Models: train, evaluate and interpolate across charts.",
    )
    parser.add_argument("--version", action="version", version=f"agm {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, help="what to do; `agm COMMAND --help` lists its options"
    )
    for mod in discover():
        p = mod.add_parser(sub)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``agm`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Errors that are the user's (bad values, missing files) are printed as ``agm: error: ...`` with status 2.
    """
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return int(args._run(args) or 0)
    except (ValueError, FileNotFoundError) as err:
        parser.exit(2, f"agm {args.command}: error: {err}\n")
    return 2  # unreachable: parser.exit raises SystemExit


if __name__ == "__main__":
    sys.exit(main())
