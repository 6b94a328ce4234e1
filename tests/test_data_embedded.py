"""Generated manifolds (circle, sphere, flat torus, rotating glyph) and the registry, against closed-form geometry."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agm.data import (
    DATASETS,
    ManifoldSample,
    angular_distance,
    circle,
    glyph_loop,
    load_dataset,
    random_embedding,
    render_glyph,
    sphere,
    sphere_distance,
    torus,
    torus_distance,
)


def _emb(sample: ManifoldSample) -> torch.Tensor:
    """The sample's embedding E (k, D); the embedded manifolds always have one."""
    assert sample.embedding is not None
    return sample.embedding


angles = st.floats(min_value=-20.0, max_value=20.0, allow_nan=False)


# ---------------------------------------------------------------- embedding and point sets


@pytest.mark.parametrize(("k", "d"), [(2, 2), (3, 3), (4, 4), (2, 9), (4, 17)])
def test_random_embedding_has_orthonormal_rows(k: int, d: int) -> None:
    emb = random_embedding(k, d)
    assert emb.shape == (k, d) and emb.dtype == torch.float32
    torch.testing.assert_close(emb @ emb.T, torch.eye(k), atol=1e-6, rtol=0)
    assert torch.equal(emb, random_embedding(k, d))
    assert not torch.allclose(emb, random_embedding(k, d, embed_seed=1))


@pytest.mark.parametrize(("gen", "k"), [(circle, 2), (sphere, 3), (torus, 4)])
def test_ambient_dim_below_natural_dim_rejected(gen: Callable[..., ManifoldSample], k: int) -> None:
    with pytest.raises(ValueError, match=f"ambient_dim must be .*{k}; got {k - 1}"):
        gen(10, ambient_dim=k - 1)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_n_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="n must be a positive int"):
        circle(bad)  # type: ignore[arg-type]


def test_bad_noise_seed_radius_rejected() -> None:
    with pytest.raises(ValueError, match="noise"):
        sphere(5, noise=-0.1)
    with pytest.raises(ValueError, match="seed must .*-1"):
        torus(5, seed=-1)
    with pytest.raises(ValueError, match="radius"):
        circle(5, radius=0.0)
    with pytest.raises(ValueError, match="radii"):
        torus(5, radii=(1.0, math.inf))


@pytest.mark.parametrize("d", [2, 7])
def test_circle_points_lie_on_circle(d: int) -> None:
    s = circle(500, radius=2.5, ambient_dim=d, seed=3)
    assert s.x.shape == (500, d) and s.params.shape == (500, 1) and s.x.dtype == torch.float32
    natural = s.x @ _emb(s).T
    torch.testing.assert_close(natural.norm(dim=1), torch.full((500,), 2.5), atol=1e-5, rtol=0)
    torch.testing.assert_close(s.x.norm(dim=1), torch.full((500,), 2.5), atol=1e-5, rtol=0)
    a = s.params[:, 0]
    torch.testing.assert_close(natural, 2.5 * torch.stack([a.cos(), a.sin()], 1), atol=1e-5, rtol=0)
    assert a.min() >= 0 and a.max() < 2 * math.pi


def test_sphere_points_lie_on_sphere() -> None:
    s = sphere(800, radius=0.7, ambient_dim=6, seed=1)
    natural = (s.x @ _emb(s).T).double()
    torch.testing.assert_close(natural.norm(dim=1), torch.full((800,), 0.7, dtype=torch.float64), atol=1e-5, rtol=0)
    polar, azimuth = s.params[:, 0].double(), s.params[:, 1].double()
    torch.testing.assert_close(natural[:, 2], 0.7 * polar.cos(), atol=1e-5, rtol=0)
    measured_azimuth = torch.atan2(natural[:, 1], natural[:, 0])
    assert angular_distance(measured_azimuth, azimuth).max() < 1e-4


def test_sphere_is_uniform() -> None:
    """Archimedes: for uniform points on S^2 the z-coordinate is uniform on [-1, 1], the azimuth on [0, 2 pi)."""
    stats = pytest.importorskip("scipy.stats")
    s = sphere(20000, seed=0)
    natural = (s.x @ _emb(s).T).double().numpy()
    assert stats.kstest(natural[:, 2], "uniform", args=(-1, 2)).pvalue > 1e-3
    assert stats.kstest(s.params[:, 1].double().numpy(), "uniform", args=(0, 2 * math.pi)).pvalue > 1e-3


@pytest.mark.parametrize("d", [4, 10])
def test_torus_radii_after_projecting_back(d: int) -> None:
    s = torus(600, radii=(2.0, 0.5), ambient_dim=d, seed=2)
    natural = s.x @ _emb(s).T
    torch.testing.assert_close(natural[:, :2].norm(dim=1), torch.full((600,), 2.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(natural[:, 2:].norm(dim=1), torch.full((600,), 0.5), atol=1e-5, rtol=0)
    torch.testing.assert_close(natural @ _emb(s), s.x, atol=1e-5, rtol=0)  # x lies in the 4-D image of E
    b = torch.atan2(natural[:, 3], natural[:, 2]).remainder(2 * math.pi)
    torch.testing.assert_close(angular_distance(b, s.params[:, 1]), torch.zeros(600), atol=1e-4, rtol=0)


@pytest.mark.parametrize("gen", [circle, sphere, torus])
def test_determinism_by_seed_and_stream(gen: Callable[..., ManifoldSample]) -> None:
    a, b = gen(50, seed=4), gen(50, seed=4)
    assert torch.equal(a.x, b.x) and torch.equal(a.params, b.params)
    assert not torch.allclose(a.x, gen(50, seed=5).x)
    other = gen(50, seed=4, stream=1)
    assert not torch.allclose(a.x, other.x) and torch.equal(_emb(a), _emb(other))


def test_noise_is_isotropic_with_requested_std() -> None:
    clean, noisy = circle(4000, ambient_dim=6, seed=0), circle(4000, ambient_dim=6, seed=0, noise=0.05)
    torch.testing.assert_close(clean.params, noisy.params)
    residual = (noisy.x - clean.x).double()
    assert abs(residual.std().item() - 0.05) < 0.003
    assert abs(residual.mean().item()) < 0.003


# ---------------------------------------------------------------- geodesic distances


@settings(max_examples=60, deadline=None)
@given(a=angles, b=angles)
def test_angular_distance_matches_brute_force_over_wraps(a: float, b: float) -> None:
    brute = min(abs(a - b + 2 * math.pi * k) for k in range(-10, 11))
    got = angular_distance(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)).item()
    assert got == pytest.approx(brute, abs=1e-9)
    assert 0.0 <= got <= math.pi + 1e-12


def _polyline_length(points: torch.Tensor) -> float:
    return float((points[1:] - points[:-1]).double().norm(dim=1).sum())


def test_circle_and_torus_distances_equal_embedded_arc_length() -> None:
    """Oracle: length of the densely sampled shortest curve, measured in R^D through the embedding."""
    emb2, emb4 = random_embedding(2, 5), random_embedding(4, 6)
    t = torch.linspace(0, 1, 4001, dtype=torch.float64)
    for a0, a1 in [(0.3, 2.9), (6.0, 0.5), (1.0, 4.5)]:
        gap = (a1 - a0 + math.pi) % (2 * math.pi) - math.pi  # signed shortest gap
        path = a0 + gap * t
        curve = 1.7 * torch.stack([path.cos(), path.sin()], 1) @ emb2.double()
        expected = 1.7 * angular_distance(torch.tensor(a0), torch.tensor(a1)).item()
        assert _polyline_length(curve) == pytest.approx(expected, rel=1e-5)
    p, q = torch.tensor([0.2, 6.1], dtype=torch.float64), torch.tensor([5.9, 2.0], dtype=torch.float64)
    gaps = [((q[i] - p[i] + math.pi) % (2 * math.pi) - math.pi).item() for i in range(2)]
    a, b = p[0] + gaps[0] * t, p[1] + gaps[1] * t
    curve = torch.stack([2 * a.cos(), 2 * a.sin(), 0.5 * b.cos(), 0.5 * b.sin()], 1) @ emb4.double()
    assert _polyline_length(curve) == pytest.approx(torus_distance(p, q, radii=(2.0, 0.5)).item(), rel=1e-5)


@settings(max_examples=40, deadline=None)
@given(t0=st.floats(0, math.pi), p0=st.floats(0, 2 * math.pi), t1=st.floats(0, math.pi), p1=st.floats(0, 2 * math.pi))
def test_sphere_distance_matches_arccos_and_exceeds_chord(t0: float, p0: float, t1: float, p1: float) -> None:
    p = torch.tensor([t0, p0], dtype=torch.float64)
    q = torch.tensor([t1, p1], dtype=torch.float64)
    u = torch.tensor([math.sin(t0) * math.cos(p0), math.sin(t0) * math.sin(p0), math.cos(t0)], dtype=torch.float64)
    v = torch.tensor([math.sin(t1) * math.cos(p1), math.sin(t1) * math.sin(p1), math.cos(t1)], dtype=torch.float64)
    got = sphere_distance(p, q, radius=2.0).item()
    assert got == pytest.approx(2.0 * math.acos(max(-1.0, min(1.0, float(u @ v)))), abs=1e-6)
    assert got >= 2.0 * (u - v).norm().item() - 1e-12


def test_distances_broadcast() -> None:
    p = torus(5, seed=0).params
    assert torus_distance(p[:, None], p[None]).shape == (5, 5)
    assert torch.allclose(torus_distance(p[:, None], p[None]).diagonal(), torch.zeros(5))
    s = sphere(4, seed=0).params
    d = sphere_distance(s[:, None], s[None])
    assert d.shape == (4, 4) and torch.allclose(d, d.T, atol=1e-6)


# ---------------------------------------------------------------- glyph loop


def test_glyph_loop_shapes_and_range() -> None:
    s = glyph_loop(12, size=20)
    assert s.x.shape == (12, 1, 20, 20) and s.x.dtype == torch.float32 and s.params.shape == (12, 1)
    assert s.embedding is None
    assert s.x.min() >= 0 and s.x.max() <= 1 and s.x.max() > 0.99
    torch.testing.assert_close(s.params[:, 0], torch.arange(12) * (2 * math.pi / 12))


def test_glyph_closes_the_loop_at_360_degrees() -> None:
    img = render_glyph(torch.tensor([0.0, 2 * math.pi, -2 * math.pi], dtype=torch.float64))
    torch.testing.assert_close(img[1], img[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(img[2], img[0], atol=1e-5, rtol=0)


def test_quarter_turns_are_exact_pixel_rotations() -> None:
    """Oracle: a 90-degree rotation maps pixel centres onto pixel centres, so it must equal np.rot90."""
    for size in (28, 15):
        img = render_glyph(torch.tensor([0.0, math.pi / 2, math.pi, 3 * math.pi / 2]), size=size)[:, 0].numpy()
        for k in (1, 2, 3):
            np.testing.assert_allclose(img[k], np.rot90(img[0], k), atol=1e-5)


def test_glyph_mass_is_preserved_under_rotation() -> None:
    mass = render_glyph(torch.linspace(0, 2 * math.pi, 37)).sum(dim=(1, 2, 3))
    assert ((mass - mass[0]).abs() / mass[0]).max() < 0.03  # bilinear resampling, glyph stays in the frame


def test_pixel_distance_grows_with_angular_distance() -> None:
    degrees = torch.tensor([0.0, 5.0, 15.0, 45.0, 180.0, 355.0])
    img = render_glyph(torch.deg2rad(degrees)).flatten(1)
    dist = (img - img[0]).norm(dim=1)
    assert dist[1] < dist[2] < dist[3]  # 5 < 15 < 45 degrees
    assert dist[5] < dist[3]  # 355 degrees is a near neighbour of 0 (the loop closes)
    assert dist[1] > 0


def test_glyph_is_not_rotation_symmetric() -> None:
    img = render_glyph(torch.deg2rad(torch.arange(0.0, 360.0, 10.0))).flatten(1)
    dist = (img[1:] - img[0]).norm(dim=1)
    assert dist.min() > 0.05 * img[0].norm()
    assert dist[17] > 0.5 * img[0].norm()  # 180 degrees differs clearly


def test_glyph_loop_random_angles_by_seed() -> None:
    a, b = glyph_loop(6, seed=1), glyph_loop(6, seed=1)
    assert torch.equal(a.x, b.x)
    assert not torch.equal(a.params, glyph_loop(6, seed=1, stream=1).params)
    torch.testing.assert_close(a.x, render_glyph(a.params[:, 0].double()), atol=1e-5, rtol=0)


def test_render_glyph_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="size must .*4"):
        render_glyph(torch.zeros(2), size=4)
    with pytest.raises(ValueError, match="angles must be a 1-D tensor"):
        render_glyph(torch.zeros(2, 2))


# ---------------------------------------------------------------- registry (embedded side)


@pytest.mark.parametrize(
    ("name", "shape", "k"),
    [("circle", (2,), 1), ("sphere", (3,), 2), ("torus", (4,), 2), ("glyph-loop", (1, 28, 28), 1)],
)
def test_load_dataset_embedded(name: str, shape: tuple[int, ...], k: int) -> None:
    train = load_dataset(name, n=64, seed=2)
    assert train.name == name and train.shape == shape and train.x.shape == (64, *shape)
    assert train.params is not None and train.params.shape == (64, k)
    assert train.labels.dtype == torch.int64 and train.labels.shape == (64,)
    assert train.labels.min() >= 0 and train.labels.max() < 8 and int((train.labels.bincount() > 0).sum()) > 1
    periodic = train.params[:, 1 if name == "sphere" else 0]
    torch.testing.assert_close(train.labels, (periodic / (2 * math.pi) * 8).floor().long())
    again, test = load_dataset(name, n=64, seed=2), load_dataset(name, "test", n=64, seed=2)
    assert torch.equal(train.x, again.x) and not torch.equal(train.x, test.x)


def test_load_dataset_default_sizes_and_errors() -> None:
    assert len(load_dataset("circle")) == 4096 and len(load_dataset("circle", "test")) == 1024
    with pytest.raises(ValueError, match="valid names: mnist, fashion-mnist, circle, sphere, torus, glyph-loop"):
        load_dataset("swiss-roll")
    with pytest.raises(ValueError, match="split must .*'validation'"):
        load_dataset("circle", "validation")
    with pytest.raises(ValueError, match="n must .*0"):
        load_dataset("torus", n=0)
    assert DATASETS == ("mnist", "fashion-mnist", "circle", "sphere", "torus", "glyph-loop")


def test_load_dataset_accepts_numpy_integers_and_refuses_bools() -> None:
    ds = load_dataset("circle", n=np.int64(10), seed=np.uint8(3))
    assert len(ds) == 10 and torch.equal(ds.x, load_dataset("circle", n=10, seed=3).x)
    with pytest.raises(ValueError, match=r"n must be an int >= 1; got True"):
        load_dataset("circle", n=True)
    with pytest.raises(ValueError, match=r"seed must be an int >= 0; got np.int32\(-1\)"):
        load_dataset("circle", seed=np.int32(-1))
    with pytest.raises(ValueError, match=r"n must be an int >= 1; got 2.0"):
        load_dataset("circle", n=2.0)  # type: ignore[arg-type]
