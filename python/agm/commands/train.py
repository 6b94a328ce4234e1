"""Train an atlas model (AWAE-GAN, WAE-GAN, ...).

Train a model with a preset; writes OUT/checkpoint.pt after every epoch (weights, optimizer states, epoch, config). An
existing run in OUT is continued with --resume or replaced with --overwrite, never silently. Launched by torchrun
(`torchrun --nproc_per_node N $(which agm) train ...`) it trains data-parallel on the N processes: --batch-size is
the global batch (each process takes batch/N rows a step) and only rank 0 prints and writes the checkpoint.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from agm.commands._options import add_shared, apply_threads, int_at_least


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``agm train``."""
    p.add_argument(
        "--model",
        default="awae",
        help="model family registered in agm.models.MODELS: awae = atlas WAE-GAN (the paper's AGM), "
        "wae = WAE-GAN baseline (1 chart); the other families are documented in their modules",
    )
    p.add_argument("--charts", type=int_at_least(1), default=None, help="number of charts m (default: 8, 1 for wae)")
    p.add_argument(
        "--dataset",
        default="mnist",
        help="data set name of agm.data.load_dataset: mnist, fashion-mnist, circle, sphere, torus, glyph-loop",
    )
    add_shared(p, "preset", "data_dir")
    p.add_argument("--out", default=None, help="output folder for checkpoint.pt (default: runs/MODEL-DATASET-mCHARTS)")
    add_shared(p, "epochs", seed="random seed (weights, shuffling, latent samples)")
    p.add_argument("--hidden", type=int_at_least(1), default=None, help="network width h (default: the preset's)")
    add_shared(p, "n_train")
    p.add_argument(
        "--batch-size",
        type=int_at_least(2),
        default=None,
        help="global batch size (default: the preset's); under torchrun each of N processes takes batch/N rows a step",
    )
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint.pt up to --epochs total epochs (default: the saved run's total); model, "
        "data and optimiser settings come from the checkpoint, --device/--data-dir may change",
    )
    again.add_argument("--overwrite", action="store_true", help="start afresh even if OUT already holds a run")
    add_shared(p, "device", "threads", "quiet")


def _existing_run(checkpoint: Path) -> str:
    """A short description of the run saved in ``checkpoint`` (for the refusal to overwrite it)."""
    from agm.training import TrainConfig, read_checkpoint

    try:
        saved = read_checkpoint(checkpoint)
    except ValueError as err:
        return f"an unreadable checkpoint ({err})"
    config = TrainConfig.from_json(saved["config"])
    return f"a {config.model} run on {config.dataset}, epoch {saved['epoch']} of {config.epochs}"


def resume_command(args: argparse.Namespace, out: Path) -> str:
    """The ``agm train --resume`` command line that continues this run (settings not in the checkpoint kept)."""
    words = ["agm", "train", "--resume", "--out", str(out)]
    for flag, value in (("--epochs", args.epochs), ("--threads", args.threads)):
        if value is not None:
            words += [flag, str(value)]
    if args.device != "auto":
        words += ["--device", args.device]
    if args.quiet:
        words.append("--quiet")
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    """Train, print the per-epoch losses and the checkpoint path; Ctrl-C prints how to resume (exit status 130).

    Under torchrun every process joins the process group of its environment first (gloo on the CPU, NCCL on CUDA)
    and leaves it at the end; only rank 0 prints.
    """
    from agm import distributed
    from agm.models import MODELS
    from agm.training import resolve_device

    if args.model not in MODELS:
        raise ValueError(f"--model: unknown model {args.model!r}; registered: {', '.join(sorted(MODELS))}")
    apply_threads(args)
    distributed.init_from_env(resolve_device(args.device))
    try:
        return _train(args, main=distributed.is_main_process())
    finally:
        distributed.cleanup()


def _train(args: argparse.Namespace, *, main: bool) -> int:
    """The body of :func:`run` on one process; ``main``: this process prints (rank 0)."""
    from agm.training import CHECKPOINT_NAME, TrainConfig, TrainingInterrupted, make_config, read_checkpoint, train

    charts = args.charts if args.charts is not None else (1 if args.model == "wae" else 8)
    out = Path(args.out) if args.out else Path("runs") / f"{args.model}-{args.dataset}-m{charts}"
    checkpoint = out / CHECKPOINT_NAME
    if checkpoint.exists() and not (args.resume or args.overwrite):
        raise ValueError(
            f"--out {out} already holds {_existing_run(checkpoint)}: pass --resume to continue it or --overwrite "
            "to start afresh"
        )
    epochs = args.epochs
    if args.resume and epochs is None:  # keep the saved run's total
        epochs = TrainConfig.from_json(read_checkpoint(checkpoint)["config"]).epochs
    overrides = {
        name: getattr(args, name) for name in ("seed", "device", "data_dir", "hidden", "n_train", "batch_size")
    }
    config = make_config(args.preset, args.model, charts, args.dataset, epochs=epochs, **overrides)
    try:
        result = train(config, out, resume=args.resume, progress=not args.quiet)
    except TrainingInterrupted as stop:
        if stop.checkpoint is None:
            where = "no checkpoint written yet: rerun the command to start again"
        else:
            where = f"last checkpoint {stop.checkpoint} (epoch {stop.checkpoint_epoch}); resume with: "
            where += resume_command(args, out)
        if main:
            print(f"agm train: interrupted in epoch {stop.epoch}/{stop.epochs}; {where}", file=sys.stderr)
        return 130
    if main and result.history:
        last = result.history[-1]
        print("final epoch: " + ", ".join(f"{k}={v:.4g}" for k, v in last.items()))
    if main:
        print(f"checkpoint: {result.checkpoint}")
    return 0
