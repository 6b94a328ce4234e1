"""agm._core.ChartIndex against a numpy brute-force oracle, plus its error paths (contract: python/agm/_core.pyi)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray

import agm
from _core_oracles import assert_knn_matches_brute_force
from agm import _core as core

DTYPES = [np.float32, np.float64]


@st.composite
def point_sets(draw: st.DrawFn, min_points: int = 1) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """(points (N, d), queries (Q, d)) of one dtype, d in 1..16: either on a coarse grid (many ties and duplicate
    points) or Gaussian with a random scale."""
    dtype = draw(st.sampled_from(DTYPES))
    d = draw(st.integers(1, 16))
    n = draw(st.integers(min_points, 60))
    q = draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        levels = draw(st.integers(1, 6))  # few levels per coordinate: heavy ties and duplicates
        pts = rng.integers(-levels, levels + 1, size=(n + q, d)) / 4.0
    else:
        pts = rng.normal(scale=10.0 ** draw(st.integers(-3, 3)), size=(n + q, d))
    pts = pts.astype(dtype)
    return np.ascontiguousarray(pts[:n]), np.ascontiguousarray(pts[n:])


# --- correctness -------------------------------------------------------------------------------------------


@given(data=point_sets(), k_frac=st.floats(0.0, 1.0), leaf_size=st.integers(1, 20))
def test_query_equals_brute_force(
    data: tuple[NDArray[np.floating], NDArray[np.floating]], k_frac: float, leaf_size: int
) -> None:
    points, queries = data
    k = 1 + int(k_frac * (points.shape[0] - 1))
    index = core.ChartIndex(points, leaf_size=leaf_size)
    ids, dists = index.query(queries, k)
    assert_knn_matches_brute_force(ids, dists, queries, points, k)
    # The indexed points themselves as queries: the nearest neighbour is at distance 0.
    ids_p, dists_p = index.query(points, k)
    assert_knn_matches_brute_force(ids_p, dists_p, points, points, k)
    assert np.all(dists_p[:, 0] == 0.0)


@given(data=point_sets(min_points=2), k_frac=st.floats(0.0, 1.0), leaf_size=st.integers(1, 20))
def test_query_self_equals_brute_force(
    data: tuple[NDArray[np.floating], NDArray[np.floating]], k_frac: float, leaf_size: int
) -> None:
    points, _ = data
    k = 1 + int(k_frac * (points.shape[0] - 2))
    index = core.ChartIndex(points, leaf_size=leaf_size)
    ids, dists = index.query_self(k)
    assert_knn_matches_brute_force(ids, dists, points, points, k, exclude_self=True)


@given(
    data=point_sets(),
    k_frac=st.floats(0.0, 1.0),
    leaf_size=st.integers(1, 20),
    n_threads=st.sampled_from([1, 2]),
)
def test_query_orders_give_identical_results(
    data: tuple[NDArray[np.floating], NDArray[np.floating]], k_frac: float, leaf_size: int, n_threads: int
) -> None:
    """Sorting the queries by leaf changes only the visiting order: the same ids, distances and tie order (bit
    for bit) as visiting them in input order, and equal to brute force."""
    points, queries = data
    k = 1 + int(k_frac * (points.shape[0] - 1))
    index = core.ChartIndex(points, leaf_size=leaf_size)
    both = np.ascontiguousarray(np.concatenate([queries, points[::-1]]))  # also queries on the points (ties)
    ids_in, dists_in = index.query(both, k, n_threads=n_threads, order="input")
    for order in ("leaf", "auto"):
        ids, dists = index.query(both, k, n_threads=n_threads, order=order)
        np.testing.assert_array_equal(ids, ids_in)
        np.testing.assert_array_equal(dists, dists_in)
    assert_knn_matches_brute_force(ids_in, dists_in, both, points, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_batches_are_sorted_and_returned_in_input_order(dtype: type, rng: np.random.Generator) -> None:
    """A batch above the auto-sort size (1024 queries), shuffled, on a grid with many exact ties: "auto" (sorted
    by leaf) equals "input" bit for bit, row i answers query i, and the rows equal brute force."""
    points = (rng.integers(-4, 5, size=(700, 3)) / 2.0).astype(dtype)
    queries = np.ascontiguousarray(np.concatenate([points, rng.normal(size=(1300, 3)).astype(dtype)]))
    queries = np.ascontiguousarray(queries[rng.permutation(queries.shape[0])])
    index = core.ChartIndex(points, leaf_size=8)
    ids_in, dists_in = index.query(queries, 7, n_threads=2, order="input")
    ids, dists = index.query(queries, 7, n_threads=2)
    np.testing.assert_array_equal(ids, ids_in)
    np.testing.assert_array_equal(dists, dists_in)
    rows = rng.choice(queries.shape[0], 60, replace=False)
    assert_knn_matches_brute_force(ids[rows], dists[rows], queries[rows], points, 7)


def test_bad_query_order() -> None:
    index = core.ChartIndex(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="order must be 'auto', 'leaf' or 'input'; got 'sorted'"):
        index.query(np.zeros((1, 2)), 1, order="sorted")  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 3, 9])
def test_query_self_excludes_itself_among_duplicates(dtype: type, k: int, rng: np.random.Generator) -> None:
    # 10 copies of each of 4 points: up to 9 neighbours at distance 0, none of them the point itself.
    base = rng.normal(size=(4, 3))
    points = np.ascontiguousarray(np.repeat(base, 10, axis=0).astype(dtype))
    ids, dists = core.ChartIndex(points, leaf_size=2).query_self(k)
    assert_knn_matches_brute_force(ids, dists, points, points, k, exclude_self=True)
    assert np.all(dists == 0.0)
    assert np.all(ids // 10 == np.arange(40)[:, None] // 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_all_points_identical(dtype: type) -> None:
    points = np.ones((7, 2), dtype=dtype)
    ids, dists = core.ChartIndex(points).query_self(6)
    assert_knn_matches_brute_force(ids, dists, points, points, 6, exclude_self=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_give_equal_results(dtype: type, rng: np.random.Generator) -> None:
    points = rng.normal(size=(3000, 5)).astype(dtype)
    queries = rng.normal(size=(1000, 5)).astype(dtype)
    index = core.ChartIndex(points)
    ref_q = index.query(queries, 7, n_threads=1)
    ref_s = index.query_self(7, n_threads=1)
    for n_threads in (2, 3, 0):
        got_q, got_s = index.query(queries, 7, n_threads=n_threads), index.query_self(7, n_threads=n_threads)
        for got, ref in ((got_q, ref_q), (got_s, ref_s)):
            np.testing.assert_array_equal(got[0], ref[0])
            np.testing.assert_array_equal(got[1], ref[1])
    assert_knn_matches_brute_force(*ref_s, points, points, 7, exclude_self=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_properties_and_points_are_copied(dtype: type, rng: np.random.Generator) -> None:
    points = rng.normal(size=(50, 4)).astype(dtype)
    queries = rng.normal(size=(5, 4)).astype(dtype)
    index = core.ChartIndex(points, leaf_size=3)
    assert (index.n_points, index.dim) == (50, 4)
    assert index.dtype == np.dtype(dtype)
    before = index.query(queries, 5)
    original = points.copy()
    points[:] = 1e6  # the index holds its own copy
    after = index.query(queries, 5)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert_knn_matches_brute_force(*after, queries, original, 5)


def test_query_with_zero_queries_and_module_constants() -> None:
    index = core.ChartIndex(np.zeros((3, 2)))
    ids, dists = index.query(np.zeros((0, 2)), 2)
    assert ids.shape == (0, 2) and dists.shape == (0, 2)
    assert isinstance(core.hardware_threads(), int) and core.hardware_threads() >= 1
    assert core.__version__ == agm.__version__


@pytest.mark.parametrize("scale", [1e150, 1e200, 1e300])
def test_huge_finite_coordinates_are_refused_or_exact(scale: float) -> None:
    # Squared differences overflow float64 above ~1.3e154: the index must either refuse such points (ValueError
    # naming them) or still return valid neighbours, never uninitialised ids or the point itself.
    points = np.array([[0.0], [1.0], [3.0]]) * scale
    try:
        index = core.ChartIndex(points)
    except ValueError as err:
        assert "points" in str(err)
        return
    ids, dists = index.query_self(1)
    assert ids[:, 0].tolist() == [1, 0, 1]
    np.testing.assert_allclose(dists[:, 0], [scale, scale, 2 * scale], rtol=1e-12)
    ids, dists = index.query(np.array([[-scale]]), 1)
    assert ids.tolist() == [[0]]
    np.testing.assert_allclose(dists, [[scale]], rtol=1e-12)


# --- errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_points_and_queries(dtype: type, bad: float) -> None:
    points = np.zeros((5, 2), dtype=dtype)
    points[3, 1] = bad
    with pytest.raises(ValueError, match="points"):
        core.ChartIndex(points)
    queries = np.zeros((2, 2), dtype=dtype)
    queries[1, 0] = bad
    with pytest.raises(ValueError, match="queries"):
        core.ChartIndex(np.zeros((5, 2), dtype=dtype)).query(queries, 1)


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), ()])
def test_points_wrong_ndim(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="points"):
        core.ChartIndex(np.zeros(shape))


@pytest.mark.parametrize("shape", [(3,), (1, 2, 3), (3, 3)])
def test_queries_wrong_shape(shape: tuple[int, ...]) -> None:
    index = core.ChartIndex(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="queries"):
        index.query(np.zeros(shape), 1)


@pytest.mark.parametrize("dtype", [np.float16, np.int64, np.int32, np.complex128, np.longdouble])
def test_points_wrong_dtype(dtype: type) -> None:
    with pytest.raises(TypeError, match="points"):
        core.ChartIndex(np.zeros((5, 2), dtype=dtype))


@pytest.mark.parametrize(
    ("index_dtype", "query_dtype"),
    [(np.float32, np.float64), (np.float64, np.float32), (np.float32, np.float16), (np.float64, np.int64)],
)
def test_queries_dtype_must_match_index(index_dtype: type, query_dtype: type) -> None:
    index = core.ChartIndex(np.zeros((5, 2), dtype=index_dtype))
    with pytest.raises(TypeError, match="queries"):
        index.query(np.zeros((2, 2), dtype=query_dtype), 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("view", ["transposed", "strided_rows", "strided_cols", "fortran"])
def test_non_contiguous_is_rejected_not_copied(dtype: type, view: str) -> None:
    base = np.arange(80, dtype=dtype).reshape(8, 10)
    arr = {
        "transposed": base.T[:, :2],  # (10, 2) view with non-unit strides
        "strided_rows": base[::2, :2],
        "strided_cols": base[:, ::5],
        "fortran": np.asfortranarray(base[:, :2]),
    }[view]
    assert not arr.flags.c_contiguous
    with pytest.raises(ValueError, match="points"):
        core.ChartIndex(arr)
    index = core.ChartIndex(np.ascontiguousarray(arr))
    with pytest.raises(ValueError, match="queries"):
        index.query(arr, 1)


# A negative int may be refused by pybind11's overload resolution (TypeError, signature in the message) when the
# binding declares an unsigned parameter; 0 must reach the validation and raise ValueError.
@pytest.mark.parametrize(("k", "exc"), [(0, ValueError), (-1, (ValueError, TypeError))])
def test_k_below_one(k: int, exc: type[Exception] | tuple[type[Exception], ...]) -> None:
    index = core.ChartIndex(np.zeros((5, 2)))
    with pytest.raises(exc, match="k"):
        index.query(np.zeros((1, 2)), k)
    with pytest.raises(exc, match="k"):
        index.query_self(k)


def test_k_too_large() -> None:
    index = core.ChartIndex(np.zeros((5, 2)))
    index.query(np.zeros((1, 2)), 5)  # k == n_points is fine for query
    with pytest.raises(ValueError, match="k"):
        index.query(np.zeros((1, 2)), 6)
    index.query_self(4)  # k == n_points - 1 is fine for query_self
    with pytest.raises(ValueError, match="k"):
        index.query_self(5)
    with pytest.raises(ValueError, match="k"):
        core.ChartIndex(np.zeros((1, 2))).query_self(1)


@pytest.mark.parametrize("shape", [(0, 3), (4, 0), (0, 0)])
def test_empty_points(shape: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="points"):
        core.ChartIndex(np.zeros(shape))


@pytest.mark.parametrize(("leaf_size", "exc"), [(0, ValueError), (-3, (ValueError, TypeError))])
def test_leaf_size_below_one(leaf_size: int, exc: type[Exception] | tuple[type[Exception], ...]) -> None:
    with pytest.raises(exc, match="leaf_size"):
        core.ChartIndex(np.zeros((5, 2)), leaf_size=leaf_size)


def test_negative_n_threads() -> None:
    index = core.ChartIndex(np.zeros((5, 2)))
    with pytest.raises((ValueError, TypeError), match="n_threads"):
        index.query_self(1, n_threads=-1)
    with pytest.raises((ValueError, TypeError), match="n_threads"):
        index.query(np.zeros((1, 2)), 1, n_threads=-1)


def test_non_array_inputs_raise_type_error() -> None:
    with pytest.raises(TypeError, match="points"):
        core.ChartIndex([[0.0, 1.0], [1.0, 0.0]])  # type: ignore[arg-type]
