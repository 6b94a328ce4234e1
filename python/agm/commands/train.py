"""``agm train``: train a registered model with a preset (checkpoint after every epoch, resumable)."""

from __future__ import annotations

import argparse
from pathlib import Path

from agm.models import MODELS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``train`` subcommand."""
    p = subparsers.add_parser(
        "train",
        help="train an atlas model (AWAE-GAN, WAE-GAN, ...)",
        description="Train a model with a preset; writes OUT/checkpoint.pt after every epoch "
        "(weights, optimizer states, epoch, config).",
    )
    p.add_argument(
        "--model",
        default="awae",
        choices=sorted(MODELS),
        help="model family from the registry agm.models.MODELS: awae = atlas WAE-GAN (the paper's AGM), "
        "wae = WAE-GAN baseline (1 chart); the other families are documented in their modules (default: awae)",
    )
    p.add_argument("--charts", type=int, default=None, help="number of charts m (default: 8 for awae, 1 for wae)")
    p.add_argument(
        "--dataset",
        default="mnist",
        help="data set name of agm.data.load_dataset: mnist, fashion-mnist, circle, sphere, torus, glyph-loop "
        "(default: mnist)",
    )
    p.add_argument(
        "--preset",
        default="cpu",
        choices=["paper", "cpu", "tiny"],
        help="hyper-parameters: paper = the paper's (80 epochs, full size), cpu = small model for a "
        "laptop (minutes), tiny = seconds (tests) (default: cpu)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding the data sets (e.g. /work/shared/data; default: agm.data's search path)",
    )
    p.add_argument("--out", default=None, help="output folder for checkpoint.pt (default: runs/MODEL-DATASET-mCHARTS)")
    p.add_argument("--epochs", type=int, default=None, help="total number of epochs (default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="random seed (weights, shuffling, latent samples) (default: 0)")
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="auto = CUDA when available, else CPU (default: auto)",
    )
    p.add_argument("--hidden", type=int, default=None, help="network width h (default: the preset's)")
    p.add_argument("--n-train", type=int, default=None, help="number of training points (default: the preset's)")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (default: the preset's)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint.pt up to --epochs total epochs (default: the saved run's total); model, "
        "data and optimiser settings come from the checkpoint, --device/--data-dir may change",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for torch (torch.set_num_threads; default: torch's choice). On a shared or "
        "small machine 1 is often fastest",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    """Train, print the per-epoch losses and the checkpoint path."""
    import torch

    from agm.training import CHECKPOINT_NAME, TrainConfig, make_config, read_checkpoint, train

    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1; got {args.threads}")
        torch.set_num_threads(args.threads)

    charts = args.charts if args.charts is not None else (1 if args.model == "wae" else 8)
    out = Path(args.out) if args.out else Path("runs") / f"{args.model}-{args.dataset}-m{charts}"
    epochs = args.epochs
    if args.resume and epochs is None:  # keep the saved run's total
        epochs = TrainConfig.from_json(read_checkpoint(out / CHECKPOINT_NAME)["config"]).epochs
    config = make_config(
        args.preset,
        args.model,
        charts,
        args.dataset,
        epochs=epochs,
        seed=args.seed,
        device=args.device,
        data_dir=args.data_dir,
        hidden=args.hidden,
        n_train=args.n_train,
        batch_size=args.batch_size,
    )
    result = train(config, out, resume=args.resume, progress=not args.quiet)
    if result.history:
        last = result.history[-1]
        print("final epoch: " + ", ".join(f"{k}={v:.4g}" for k, v in last.items()))
    print(f"checkpoint: {result.checkpoint}")
    return 0
