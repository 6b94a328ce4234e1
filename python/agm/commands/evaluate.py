"""Reconstruction error and figures of a checkpoint.

Print the mean squared reconstruction error on the test split (each point through its most likely chart argmax_y
psi_y(x)) and write confidence_histogram.png (max_y psi_y(x), Fig. 2b), chart_samples.png (12 samples z ~ N(0, I) per
chart, Fig. 2a) and evaluation.json, committed as one run with evaluate-manifest.json (``agm._files.run_folder``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from agm._files import run_folder
from agm.commands._options import add_shared, int_at_least


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``agm evaluate``."""
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint.pt written by agm train")
    p.add_argument("--out", default=None, help="folder for the PNGs and evaluation.json (default: the checkpoint's)")
    p.add_argument("--n", type=int_at_least(1), default=None, help="test points (default: the whole test split)")
    p.add_argument("--samples", type=int_at_least(1), default=12, help="samples per chart in chart_samples.png")
    add_shared(
        p,
        data_dir="folder holding the data sets (default: the one recorded in the checkpoint's config)",
        device="device for the model: auto = CUDA when available, else CPU",
    )


def run(args: argparse.Namespace) -> int:
    """Evaluate the checkpoint; prints the reconstruction error (semi-AGMs without encoders: figures only)."""
    import torch

    from agm.data import load_dataset
    from agm.evaluation import plot_chart_samples, plot_confidence_histogram, reconstruction_errors
    from agm.models import AtlasModel, SemiAtlasModel
    from agm.models.protocol import model_device
    from agm.training import load_checkpoint, resolve_device

    path = Path(args.checkpoint)
    model, config, state = load_checkpoint(path, map_location=resolve_device(args.device))
    if not isinstance(model, SemiAtlasModel):
        raise ValueError(f"{path}: model {config.model!r} implements neither the atlas nor the semi-atlas interface")
    data_dir = args.data_dir if args.data_dir is not None else config.data_dir
    test = load_dataset(config.dataset, "test", data_dir=data_dir, n=args.n, seed=config.seed)
    summary: dict[str, object] = {
        "checkpoint": str(path),
        "model": config.model,
        "n_charts": model.n_charts,
        "dataset": config.dataset,
        "epoch": state["epoch"],
        "n_test": int(test.x.shape[0]),
    }
    if isinstance(model, AtlasModel):
        report = reconstruction_errors(model, test.x)
        confidence, charts = report.confidence, report.charts
        if not math.isfinite(report.mean_error):
            raise FloatingPointError(f"{path}: the reconstruction error is {report.mean_error} (the model diverged)")
        summary["reconstruction_error"] = report.mean_error
    else:  # semi-AGM (e.g. InfoGAN): no encoders, so no reconstruction; psi still gives the assignment
        with torch.no_grad():
            psi = torch.cat([model.partition(xb.to(model_device(model))).cpu() for xb in torch.split(test.x, 500)])
        confidence, charts = psi.max(1)
        summary["reconstruction_error"] = None
    out = Path(args.out) if args.out else path.parent
    usage = [int(c) for c in charts.bincount(minlength=model.n_charts)]
    summary.update(mean_confidence=float(confidence.mean()), chart_usage=usage)
    with run_folder(out, "evaluate") as stage:  # written aside, committed as one run (agm._files.run_folder)
        plot_confidence_histogram(confidence, model.n_charts, stage / "confidence_histogram.png")
        plot_chart_samples(model, stage / "chart_samples.png", n_samples=args.samples, seed=config.seed)
        (stage / "evaluation.json").write_text(json.dumps(summary, indent=2))
    hist, grid = out / "confidence_histogram.png", out / "chart_samples.png"
    if summary["reconstruction_error"] is None:
        print(f"{config.model} has no encoders: no reconstruction error")
    else:
        print(
            f"reconstruction error (mean over {summary['n_test']} {config.dataset} test points, squared error "
            f"summed over entries, most likely chart): {summary['reconstruction_error']:.4f}"
        )
    print(f"mean confidence max_y psi_y(x): {summary['mean_confidence']:.4f}; points per chart: {usage}")
    print(f"wrote {hist}, {grid}, {out / 'evaluation.json'}")
    return 0
