"""The geodesic pipeline on CUDA (issue 12): the build, lazy and eager weights, queries, distances and the decode
policy run on the GPU and agree with the CPU to float32 tolerance. Skipped where CUDA is absent."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from agm import geodesic
from agm.geodesic.graph.policy import CUDA_BATCH, DecodePolicy, measure_policy
from agm.models import AWAEGAN
from agm.models.analytic import CylinderAtlas

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]

#: GPU and CPU float32 kernels round differently (and TF32 is switched off below): decodings agree to ~1e-6
#: relative, path lengths summed over ~100 segments to ~1e-5.
LENGTH_RTOL = 1e-5


@pytest.fixture(autouse=True)
def float32_matmuls() -> Iterator[None]:
    """TF32 off, so that float32 tolerances apply to CUDA matmuls and convolutions."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def cylinder_data(n: int, seed: int) -> tuple[CylinderAtlas, torch.Tensor]:
    model = CylinderAtlas()
    g = torch.Generator().manual_seed(seed)
    return model, model.points(torch.rand(n, generator=g) * 2 * math.pi - math.pi, torch.rand(n, generator=g) * 2)


@pytest.mark.parametrize("weights", ["lazy", "eager"])
def test_cuda_graph_and_paths_equal_the_cpu(weights: str) -> None:
    model, data = cylinder_data(400, 0)
    cpu = geodesic.build_graph(model, data, k=8, n_steps=4, weights=weights, progress=False, device="cpu")
    gpu_model = CylinderAtlas().cuda()
    gpu = geodesic.build_graph(gpu_model, data.cuda(), k=8, n_steps=4, weights=weights, progress=False)
    assert gpu.decode_policy == DecodePolicy(threads=None, batch_size=CUDA_BATCH)
    assert (gpu.n_nodes, gpu.n_edges) == (cpu.n_nodes, cpu.n_edges)
    x0, x1 = data[:12], data[12:24]
    on_cpu = geodesic.shortest_paths(model, x0, x1, cpu)
    on_gpu = geodesic.shortest_paths(gpu_model, x0.cuda(), x1.cuda(), gpu)
    lengths_cpu = np.array([p.length for p in on_cpu if p is not None])
    lengths_gpu = np.array([p.length for p in on_gpu if p is not None])
    np.testing.assert_allclose(lengths_gpu, lengths_cpu, rtol=LENGTH_RTOL)
    assert all(p.decode().device.type == "cuda" for p in on_gpu if p is not None)


def test_cuda_distances_equal_the_cpu() -> None:
    model, data = cylinder_data(300, 1)
    cpu = geodesic.build_graph(model, data, k=8, n_steps=3, progress=False, device="cpu")
    gpu_model = CylinderAtlas().cuda()
    gpu = geodesic.build_graph(gpu_model, data.cuda(), k=8, n_steps=3, progress=False)
    queries = data[:10]
    d_cpu = geodesic.distances(model, queries, graph=cpu)
    d_gpu = geodesic.distances(gpu_model, queries.cuda(), graph=gpu)
    np.testing.assert_allclose(d_gpu, d_cpu, rtol=LENGTH_RTOL, atol=1e-6)


def test_cuda_paper_decoder_lazy_equals_eager() -> None:
    """A learned conv decoder (AWAE-GAN, 4 charts, tiny width) on CUDA: lazy lengths equal eager ones."""
    torch.manual_seed(0)
    model = AWAEGAN(4, (1, 28, 28), hidden=4).cuda().eval()
    data = torch.rand(160, 1, 28, 28, device="cuda")
    eager = geodesic.build_graph(model, data, k=5, n_steps=3, eps=0.2, weights="eager", progress=False)
    lazy = geodesic.build_graph(model, data, k=5, n_steps=3, eps=0.2, weights="lazy", progress=False)
    x0, x1 = data[:6], data[6:12]
    a = [p.length for p in geodesic.shortest_paths(model, x0, x1, eager) if p is not None]
    b = [p.length for p in geodesic.shortest_paths(model, x0, x1, lazy) if p is not None]
    assert a and np.allclose(a, b, rtol=LENGTH_RTOL)


def test_cuda_policy_is_not_measured() -> None:
    calls: list[int] = []

    def decode(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(z.shape[0])
        return z

    policy = measure_policy(decode, torch.randn(8, 2), 0, torch.device("cuda"))
    assert policy == DecodePolicy(threads=None, batch_size=CUDA_BATCH) and not calls
