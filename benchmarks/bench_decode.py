"""Decoder throughput without gradients: the model's own networks against the folded inference copy.

Variants (all under ``torch.no_grad``, timed round-robin within each case, median of the repeats kept):

* ``unfolded``: ``model.decode`` running its own networks in eval mode (``model.fast_decode = False``), the path
  every decode took before agm.models.inference;
* ``folded``: batch norm folded into the layer before it, no autograd (``fold_decoder(..., channels_last=False)``);
* ``folded_cl``: the same with channels-last 4-d weights (what ``model.decode`` uses without gradients);
* ``compiled`` (``--compile``): ``torch.compile`` (inductor, frozen weights) of the folded channels-last decoder
  of chart 0 (single-chart batches only; mixed batches run ``folded_cl``).

Models: the paper decoder (AWAE-GAN, 8 charts, h = 48, d = 7, (1, 28, 28)) and a small one (8 charts, MLP, h = 32,
D = 16); batch sizes 1, 16, 64, 256; torch threads 1 and 2; single-chart batches (every point in chart 0, as the
graph build decodes its edges) and mixed-chart batches (charts 0..7 in turn).  The batch norms get random running
statistics and affine parameters (as a trained model has), so folding is not the identity.

Correctness is checked on what is timed: each variant's output must equal the unfolded one within
|a - b| <= ATOL + RTOL |b| (float32 rounding in another summation order); the script exits 1 otherwise.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timing, environment, load_average, parser, write_json  # noqa: E402
from agm.models import build_model  # noqa: E402
from agm.models.chart_layers import ChartBatchNorm  # noqa: E402
from agm.models.inference import decode_folded, fold_decoder  # noqa: E402

#: float32 rounding through ~5 layers of sums of up to 1,536 products: observed <= 3e-7; these leave 30x.
ATOL, RTOL = 1e-5, 1e-5
BATCHES = (1, 16, 64, 256)
THREADS = (1, 2)
Decode = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def trained_like(name: str, shape: tuple[int, ...], hidden: int, seed: int) -> Any:
    """An 8-chart model with random batch-norm statistics and affine parameters (folding is then not trivial)."""
    torch.manual_seed(seed)
    model = build_model(name, 8, shape, hidden=hidden)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d, ChartBatchNorm)):
                mean, var = mod.running_mean, mod.running_var
                assert mean is not None and var is not None
                mean.uniform_(-0.5, 0.5)
                var.uniform_(0.25, 4.0)
                nn.init.uniform_(mod.weight, 0.5, 1.5)
                nn.init.uniform_(mod.bias, -0.5, 0.5)
    return model.eval()


def variants(model: Any, compile_too: bool) -> dict[str, Decode]:
    """The decoders timed against each other (see the module docstring)."""
    plain, cl = fold_decoder(model.chart_decoder, False), fold_decoder(model.chart_decoder, True)

    def unfolded(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        model.fast_decode = False
        try:
            out: torch.Tensor = model.decode(z, y)
        finally:
            model.fast_decode = True
        return out

    out: dict[str, Decode] = {
        "unfolded": unfolded,
        "folded": lambda z, y: decode_folded(model, plain, z, y),
        "folded_cl": lambda z, y: decode_folded(model, cl, z, y),
    }
    if compile_too:  # inductor with frozen weights (constants: folded and prepacked at compile time)
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        compiled = torch.compile(lambda z: model.decoded_mean(cl.tail(cl.chart_head.forward_chart(z, 0))))
        out["compiled"] = lambda z, y: compiled(z) if bool((y == 0).all()) else decode_folded(model, cl, z, y)
    return out


def max_errors(out: torch.Tensor, ref: torch.Tensor) -> tuple[float, float, bool]:
    """(max |a - b|, max |a - b| / |b| over |b| > 1e-3, within ATOL + RTOL |b| everywhere)."""
    diff = (out - ref).abs()
    big = ref.abs() > 1e-3
    rel = float((diff[big] / ref.abs()[big]).max()) if bool(big.any()) else 0.0
    return float(diff.max()), rel, bool((diff <= ATOL + RTOL * ref.abs()).all())


def run_case(decoders: dict[str, Decode], z: torch.Tensor, y: torch.Tensor, repeats: int) -> dict[str, Any]:
    """Round-robin timing of every decoder on (z, y), median kept; errors against ``unfolded``."""
    with torch.no_grad():
        for fn in decoders.values():  # warm-up (and the compile) untimed
            fn(z, y)
        timings = {name: Timing() for name in decoders}
        outs: dict[str, torch.Tensor] = {}
        for _ in range(repeats):
            for name, fn in decoders.items():
                outs[name] = timings[name].record(lambda fn=fn: fn(z, y))  # type: ignore[misc]
    b = z.shape[0]
    case: dict[str, Any] = {"timings": {}, "points_per_s": {}, "cpu_s_per_point": {}, "errors": {}, "correct": {}}
    for name, timing in timings.items():
        case["timings"][name] = timing.as_dict()
        case["points_per_s"][name] = b / float(np.median(timing.times))
        case["cpu_s_per_point"][name] = float(np.median(timing.cpu_times)) / b
        abs_err, rel_err, ok = max_errors(outs[name], outs["unfolded"])
        case["errors"][name] = {"max_abs": abs_err, "max_rel": rel_err}
        case["correct"][name] = ok
    base = case["points_per_s"]["unfolded"]
    case["speedup_vs_unfolded"] = {name: rate / base for name, rate in case["points_per_s"].items()}
    return case


def main() -> None:
    p = parser("bench_decode", __doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--compile", action="store_true", help="also time torch.compile of the folded decoder")
    p.add_argument("--threads", type=int, nargs="+", default=list(THREADS), help="torch threads to time")
    p.add_argument("--batches", type=int, nargs="+", default=None, help=f"batch sizes (default {BATCHES})")
    p.add_argument("--models", nargs="+", choices=("small", "paper"), default=("small", "paper"))
    args = p.parse_args()
    repeats = args.repeats or (1 if args.quick else 5)
    models: dict[str, tuple[str, tuple[int, ...], int]] = {}
    if "small" in args.models:
        models["small_mlp_h32_D16"] = ("awae", (16,), 32)
    if args.quick:
        models["conv_h8"] = ("awae", (1, 28, 28), 8)
    elif "paper" in args.models:
        models["paper_conv_h48"] = ("awae", (1, 28, 28), 48)
    batches = args.batches or ((1, 16) if args.quick else BATCHES)
    env, threads0 = environment(), torch.get_num_threads()
    cases: list[dict[str, Any]] = []
    for label, (name, shape, hidden) in models.items():
        model = trained_like(name, shape, hidden, args.seed)
        decoders = variants(model, args.compile)
        for threads in args.threads:
            torch.set_num_threads(threads)
            for b in batches:
                gen = torch.Generator().manual_seed(args.seed * 1000 + b)
                z = torch.randn(b, model.latent_dim, generator=gen)
                for charts, y in (("single", torch.zeros(b, dtype=torch.long)), ("mixed", torch.arange(b) % 8)):
                    t0 = time.perf_counter()
                    case = run_case(decoders, z, y, repeats)
                    case.update(model=label, threads=threads, batch=b, charts=charts, load=load_average())
                    cases.append(case)
                    rates = " ".join(f"{k} {v:8.1f}" for k, v in case["points_per_s"].items())
                    took = time.perf_counter() - t0
                    print(f"{label:18s} t={threads} B={b:4d} {charts:6s} pts/s: {rates}  ({took:.1f} s)", flush=True)
    torch.set_num_threads(threads0)
    passed = all(all(c["correct"].values()) for c in cases)
    write_json(
        args.out,
        {
            "benchmark": "bench_decode",
            "mode": "quick" if args.quick else "full",
            "seed": args.seed,
            "environment": env,
            "notes": f"median of {repeats} round-robin repeats; tolerance |a-b| <= {ATOL} + {RTOL}|b|",
            "cases": cases,
            "correctness_passed": passed,
        },
    )
    if not passed:
        bad = [(c["model"], c["threads"], c["batch"], c["charts"]) for c in cases if not all(c["correct"].values())]
        print(f"folded output disagrees beyond tolerance in {bad}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
