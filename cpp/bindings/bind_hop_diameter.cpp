// Module function hop_diameter: the exact hop diameter of plain CSR arrays (agm::hop_diameter), for tests and
// benchmarks; AtlasGraph.diameter_hops calls the same core function on the graph's own CSR.
#include <cstdint>
#include <string>
#include <vector>

#include "agm/hop_diameter.hpp"
#include "bindings.hpp"
#include "numpy_checks.hpp"

namespace agm::bindings {

namespace {

py::tuple hop_diameter_of(const py::array& indptr, const py::array& indices, const std::string& method,
                          std::int64_t n_threads) {
    if (method != "auto" && method != "ifub" && method != "bounds") {
        throw py::value_error("method must be 'auto', 'ifub' or 'bounds'; got '" + method + "'");
    }
    const std::size_t threads = checks::threads(n_threads);
    const auto ptr = checks::copy_vector<std::int64_t>(indptr, "indptr", "(N + 1,)");
    const auto wide = checks::copy_vector<std::int64_t>(indices, "indices", "(E,)");
    if (ptr.empty()) throw py::value_error("indptr must have N + 1 >= 1 entries; got 0");
    const std::size_t n = ptr.size() - 1;
    std::vector<std::int32_t> narrow(wide.size());
    for (std::size_t e = 0; e < wide.size(); ++e) {
        if (wide[e] < 0 || static_cast<std::size_t>(wide[e]) >= n) {  // before narrowing to int32
            throw py::value_error("indices must hold node ids in [0, " + std::to_string(n) + "); got " +
                                  std::to_string(wide[e]) + " at index " + std::to_string(e));
        }
        narrow[e] = static_cast<std::int32_t>(wide[e]);
    }
    const CsrStructure graph{ptr.data(), narrow.data(), n};
    HopDiameter result;
    {
        py::gil_scoped_release release;
        check_csr_structure(graph, narrow.size());
        result = method == "auto"   ? hop_diameter(graph, threads)
                 : method == "ifub" ? hop_diameter_ifub(graph, threads)
                                    : hop_diameter_bounds(graph, threads);
    }
    return py::make_tuple(result.diameter, result.n_bfs);
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
}

}  // namespace agm::bindings
