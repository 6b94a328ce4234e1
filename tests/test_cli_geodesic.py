"""``agm geodesic``: end to end on a tiny checkpoint (strips, lengths, chart sequences, distance matrix)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from agm._files import read_run
from agm.cli import main
from agm.commands.geodesic import estimate_decodes
from agm.models import build_model
from agm.training import TrainConfig, save_checkpoint

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = build_model("awae", 2, (2,), hidden=4)  # untrained: the command only needs the atlas interface
    config = TrainConfig(model="awae", n_charts=2, dataset="circle", preset="tiny", epochs=0, device="cpu")
    return save_checkpoint(tmp_path / "run" / "checkpoint.pt", model, config)


def test_geodesic_command_writes_strips_lengths_and_distances(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, out = _checkpoint(tmp_path), tmp_path / "geo"
    argv = [
        "geodesic",
        str(ckpt),
        "--n",
        "120",
        "--k",
        "5",
        "--n-steps",
        "3",
        "--out",
        str(out),
        "--quiet",
        "--strip",
        "3",
    ]
    assert main([*argv, "--from", "3", "--to", "40", "--refine", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "decodings" in printed and "3 -> 40: length" in printed
    assert (out / "strips.png").read_bytes()[:8] == PNG_MAGIC
    summary = json.loads((out / "geodesics.json").read_text())
    (pair,) = summary["pairs"]
    assert (pair["from"], pair["to"]) == (3, 40)
    assert pair["refined_length"] <= pair["length"] and len(pair["charts"]) >= 2
    matrix = np.load(out / "distances.npy")
    assert matrix.shape == (2, 2) and matrix[0, 0] == 0.0
    # the distance is the shortest route's length (float32 encodings in other batches); the route shown may be up to
    # the switch tolerance longer to save chart switches
    assert matrix[0, 1] == pytest.approx(pair["shortest_length"], rel=1e-5, abs=1e-7)
    assert pair["shortest_length"] <= pair["length"] <= pair["shortest_length"] * (1 + summary["switch_tolerance"])
    assert (summary["attach"], summary["switch_tolerance"]) == ("all", 2e-2)
    assert json.loads((out / "distances.json").read_text())["points"] == [3, 40]
    run = read_run(out, "geodesic")  # one run, committed whole (issue 20): every file checked against the manifest
    assert sorted(run) == ["distances.json", "distances.npy", "geodesics.json", "strips.png"]
    assert {p.name for p in out.iterdir()} == {*run, "geodesic-manifest.json"}  # no stage or temp file left


def test_geodesic_command_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = _checkpoint(tmp_path)
    base = ["geodesic", str(ckpt), "--n", "50", "--out", str(tmp_path / "g"), "--quiet", "--device", "cpu"]
    with pytest.raises(SystemExit) as exc:
        main([*base, "--from", "1"])
    assert exc.value.code == 2 and "--from and --to must be given together" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--from", "1", "--to", "99"])
    assert "--to must be below the number of points --n=50; got 99" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--switch-tolerance", "-1"])
    assert "--switch-tolerance must be finite and >= 0; got -1.0" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # generating 10^9 circle points (7.45 GiB) is refused up front
        main(["geodesic", str(ckpt), "--n", "1000000000", "--out", str(tmp_path / "g"), "--quiet", "--device", "cpu"])
    assert exc.value.code == 2 and "n: 1000000000 points of circle" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()


def test_decode_estimate_bounds_the_build() -> None:
    assert estimate_decodes(100, 2, 5, 3, 2, 0) == 200 + 200 * 5 * 2 + 2 * 2 * (1 + 5 * 2)


def test_refine_decode_bound_bounds_what_refine_paths_decodes() -> None:
    from agm import geodesic
    from agm.geodesic.paths.refine import refine_decode_bound
    from agm.models.analytic import SphereAtlas

    model = SphereAtlas()
    g = torch.Generator().manual_seed(3)
    data = model.points(torch.randn(400, 3, generator=g))
    graph = geodesic.build_graph(model, data, k=8, n_steps=4, progress=False)
    paths = [graph.shortest_path(data[i], data[i + 200]) for i in range(4)]
    decoded = [0]
    decode = model.decode

    def counted(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        decoded[0] += int(z.shape[0])
        return decode(z, y)

    model.decode = counted  # type: ignore[method-assign]
    geodesic.refine_paths(paths)
    bound = refine_decode_bound(len(paths), 4, model.latent_dim, model.n_charts)
    assert 0 < decoded[0] <= bound
    # a bound of the defaults: every descent's full evaluations at least, fewer than twice that
    one_descent = len(paths) * 100 * ((32 + 1) * (1 + 2) + 32 * 3)
    assert 4 * one_descent <= bound < 8 * one_descent
