"""The options several ``agm`` subcommands share, each defined once here (flag, type and range, default, help), and
the pieces every subcommand parser uses: :func:`add_subcommand`, range-checked argparse types, :func:`apply_threads`.

Nothing here imports torch: ``agm --help`` and ``agm COMMAND --help`` stay fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agm._threads import clamp_threads
from agm.training.presets import PRESETS

DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: an int >= ``minimum``; argparse names the flag in the error (``--charts: ...``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an int >= {minimum}; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an int >= {minimum}; got {value}")
        return value

    parse.__name__ = f"int >= {minimum}"
    return parse


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help when it has a real default (not None/False) not already said."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        unsaid = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if "default" in text or unsaid or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


@dataclass(frozen=True)
class _Option:
    """One shared option: its flag, argparse keyword arguments and default help text."""

    flag: str
    help: str
    kwargs: dict[str, Any] = field(default_factory=dict)


_SHARED: dict[str, _Option] = {
    "device": _Option("--device", "auto = CUDA when available, else CPU", {"default": "auto", "choices": DEVICES}),
    "threads": _Option(
        "--threads",
        "CPU threads for torch (torch.set_num_threads; default: torch's choice); on a shared or small machine 1 is "
        "often fastest",
        {"type": int_at_least(1), "metavar": "N"},
    ),
    "quiet": _Option("--quiet", "no progress bars", {"action": "store_true"}),
    "seed": _Option("--seed", "random seed", {"type": int_at_least(0), "default": 0}),
    "data_dir": _Option(
        "--data-dir",
        "folder holding the MNIST / Fashion-MNIST IDX files, e.g. data/ (default: agm.data's search path); "
        "stored resolved, so a relative path works from any folder later",
        {"metavar": "DIR"},
    ),
    "preset": _Option(
        "--preset",
        "hyper-parameters: paper = the paper's (80 epochs, full size), cpu = small models for a laptop (minutes), "
        "tiny = seconds (tests)",
        {"default": "cpu", "choices": PRESETS},
    ),
    "epochs": _Option("--epochs", "total training epochs (default: the preset's)", {"type": int_at_least(0)}),
    "n_train": _Option("--n-train", "training points (default: the preset's)", {"type": int_at_least(2)}),
}


def add_shared(parser: argparse.ArgumentParser, *names: str, **helps: str) -> None:
    """Add shared options by name (``device``, ``threads``, ``quiet``, ``seed``, ``data_dir``, ``preset``,
    ``epochs``, ``n_train``), in order: first the positional names with their standard help, then the keyword ones,
    ``name="help text"``, with the help a subcommand gives them (the flag, type, range and default stay shared).

    Raises:
        KeyError: an unknown name.
    """
    for name, text in [(n, _SHARED[n].help) for n in names] + list(helps.items()):
        option = _SHARED[name]
        parser.add_argument(option.flag, help=text, **option.kwargs)


def add_subcommand(
    subparsers: argparse._SubParsersAction[Any], name: str, *, summary: str, description: str
) -> argparse.ArgumentParser:
    """The parser of ``agm NAME`` (``summary`` in ``agm --help``, ``description`` in ``agm NAME --help``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=summary, description=description, formatter_class=HelpFormatter
    )
    return parser


def apply_threads(args: argparse.Namespace) -> None:
    """``torch.set_num_threads(args.threads)`` when ``--threads`` was given (checked >= 1 when parsed); a count above
    the cores this process may use (``len(os.sched_getaffinity(0))``) is clamped to them, with a note on stderr,
    and ``args.threads`` set to the count used."""
    if args.threads is not None:
        import torch

        used = clamp_threads("--threads", args.threads)
        if used != args.threads:
            print(
                f"agm: --threads {args.threads} is more than the {used} cores this process may use "
                f"(os.sched_getaffinity); using {used}",
                file=sys.stderr,
            )
            args.threads = used
        torch.set_num_threads(used)
