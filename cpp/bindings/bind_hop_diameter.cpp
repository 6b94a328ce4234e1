// Module functions hop_diameter (the exact hop diameter of plain CSR arrays, agm::hop_diameter) and
// hop_diameter_bounds (the same method stopped after a BFS budget), for tests and benchmarks; AtlasGraph.diameter_hops calls the same core function on the graph's own CSR.
#include <cstdint>
#include <string>
#include <vector>

#include "agm/edge_csr.hpp"
#include "agm/hop_diameter.hpp"
#include "bindings.hpp"
#include "numpy_checks.hpp"

namespace agm::bindings {

namespace {

// The CSR arrays narrowed to int32 (the core's offsets and node ids), checked (ValueError naming the array and
// the value) where a value would not survive the narrowing; check_csr_structure checks the rest.
struct CheckedCsr {
    std::vector<std::int32_t> indptr;
    std::vector<std::int32_t> indices;
    CsrStructure view() const { return {indptr.data(), indices.data(), indptr.size() - 1}; }
};

CheckedCsr checked_csr(const py::array& indptr, const py::array& indices) {
    CheckedCsr out;
    const auto wide_ptr = checks::copy_vector<std::int64_t>(indptr, "indptr", "(N + 1,)");
    const auto wide = checks::copy_vector<std::int64_t>(indices, "indices", "(E,)");
    if (wide_ptr.empty()) throw py::value_error("indptr must have N + 1 >= 1 entries; got 0");
    const std::size_t n = wide_ptr.size() - 1;
    constexpr auto max_offset = static_cast<std::int64_t>(EdgeCsr::max_slots);
    if (wide.size() > EdgeCsr::max_slots) {
        throw py::value_error("indices must have at most 2^31 - 1 entries; got " + std::to_string(wide.size()));
    }
    out.indptr.resize(wide_ptr.size());
    for (std::size_t v = 0; v < wide_ptr.size(); ++v) {
        if (wide_ptr[v] < -max_offset || wide_ptr[v] > max_offset) {  // before narrowing to int32
            throw py::value_error("indptr must hold offsets in [0, len(indices) = " + std::to_string(wide.size()) +
                                  "]; got " + std::to_string(wide_ptr[v]) + " at index " + std::to_string(v));
        }
        out.indptr[v] = static_cast<std::int32_t>(wide_ptr[v]);
    }
    out.indices.resize(wide.size());
    for (std::size_t e = 0; e < wide.size(); ++e) {
        if (wide[e] < 0 || static_cast<std::size_t>(wide[e]) >= n) {  // before narrowing to int32
            throw py::value_error("indices must hold node ids in [0, " + std::to_string(n) + "); got " +
                                  std::to_string(wide[e]) + " at index " + std::to_string(e));
        }
        out.indices[e] = static_cast<std::int32_t>(wide[e]);
    }
    return out;
}

py::tuple hop_diameter_of(const py::array& indptr, const py::array& indices, const std::string& method,
                          std::int64_t n_threads) {
    if (method != "auto" && method != "ifub" && method != "bounds") {
        throw py::value_error("method must be 'auto', 'ifub' or 'bounds'; got '" + method + "'");
    }
    const std::size_t threads = checks::threads(n_threads);
    const CheckedCsr csr = checked_csr(indptr, indices);
    HopDiameter result;
    {
        py::gil_scoped_release release;
        check_csr_structure(csr.view(), csr.indices.size());
        result = method == "auto"   ? hop_diameter(csr.view(), threads)
                 : method == "ifub" ? hop_diameter_ifub(csr.view(), threads)
                                    : hop_diameter_bounds(csr.view(), threads);
    }
    return py::make_tuple(result.diameter, result.n_bfs);
}

py::tuple hop_diameter_bounds_of(const py::array& indptr, const py::array& indices, std::int64_t max_bfs,
                                 std::int64_t n_threads) {
    if (max_bfs < 0) throw py::value_error("max_bfs must be >= 0 (0: no limit); got " + std::to_string(max_bfs));
    const std::size_t threads = checks::threads(n_threads);
    const CheckedCsr csr = checked_csr(indptr, indices);
    HopDiameter result;
    {
        py::gil_scoped_release release;
        check_csr_structure(csr.view(), csr.indices.size());
        result = hop_diameter(csr.view(), threads, max_bfs);
    }
    return py::make_tuple(result.diameter, result.upper, result.n_bfs);
}

}  // namespace

void bind_hop_diameter(py::module_& m) {
    m.def("hop_diameter", &hop_diameter_of, py::arg("indptr"), py::arg("indices"), py::arg("method") = "auto",
          py::arg("n_threads") = 0, R"pbdoc(
Exact hop diameter of an undirected graph given as CSR arrays: the largest finite BFS distance over all
connected components (0 without edges).

Args:
    indptr: (N + 1,) int64, starts at 0, non-decreasing, ends at len(indices).
    indices: (E,) int64 neighbour ids in [0, N); the adjacency must be symmetric.
    method: "auto" (what AtlasGraph.diameter_hops uses: "bounds" on the graph renumbered in BFS order),
        "bounds" (eccentricity bounds, Takes & Kosters 2011, on the ids as given) or "ifub" (iFUB with a
        4-sweep start). All three are exact.
    n_threads: threads for the parallel BFS, 0 = all hardware threads.

Returns:
    (diameter, n_bfs): the diameter and the number of breadth-first searches run ("auto" counts its
    renumbering traversal as one).

Raises:
    ValueError: a malformed or asymmetric CSR (naming the array and value), a bad method or n_threads < 0.
    TypeError: indptr or indices not int64.
)pbdoc");
    m.def("hop_diameter_bounds", &hop_diameter_bounds_of, py::arg("indptr"), py::arg("indices"), py::arg("max_bfs"),
          py::arg("n_threads") = 0, R"pbdoc(
Bounds of the hop diameter from at most ``max_bfs`` breadth-first searches: the "auto" method of
``hop_diameter`` (eccentricity bounds on the graph renumbered in BFS order), stopped when its budget is spent.

Args:
    indptr, indices: as for ``hop_diameter``.
    max_bfs: the budget (the renumbering traversal not counted); 0 = no limit (the exact diameter).
    n_threads: threads for the parallel BFS, 0 = all hardware threads.

Returns:
    (lower, upper, n_bfs): lower <= diameter <= upper, equal when the bounds met within the budget; n_bfs
    counts the renumbering traversal as one, as ``hop_diameter`` does.

Raises:
    ValueError: a malformed or asymmetric CSR, max_bfs < 0 or n_threads < 0.  TypeError: not int64.
)pbdoc");
}

}  // namespace agm::bindings
