// AtlasGraph.distances_many: one-to-many route lengths between virtual endpoints (agm::distances_many).
#include <cstdint>
#include <vector>

#include "agm/distances.hpp"
#include "bindings.hpp"
#include "distance_query_args.hpp"
#include "numpy_checks.hpp"

namespace agm::bindings {

namespace {

py::array_t<double> distances_many_of(const AtlasGraph& g, const py::array& source_offsets,
                                      const py::array& source_nodes, const py::array& source_costs,
                                      const py::array& target_offsets, const py::array& target_nodes,
                                      const py::array& target_costs, std::int64_t n_threads) {
    const std::size_t threads = checks::threads(n_threads);
    const DistanceQueryArgs args = copy_distance_queries(g, source_offsets, source_nodes, source_costs, target_offsets,
                                                         target_nodes, target_costs);  // before sizing the output
    const DistanceQueries queries = args.queries();
    py::array_t<double> out({static_cast<py::ssize_t>(queries.n_sources()), static_cast<py::ssize_t>(queries.n_targets())});
    double* data = out.mutable_data();
    {
        py::gil_scoped_release release;
        distances_many(g, queries, threads, data);
    }
    return out;
}

}  // namespace

void bind_distances(py::module_& m) {
    GraphClass cls = graph_class(m);
    cls.def("distances_many", &distances_many_of, py::arg("source_offsets"), py::arg("source_nodes"),
            py::arg("source_costs"), py::arg("target_offsets"), py::arg("target_nodes"), py::arg("target_costs"),
            py::arg("n_threads") = 0, R"pbdoc(
Route lengths from B virtual sources to T virtual targets: one Dijkstra per source row, stopped once every
reachable target is settled, rows spread over threads with the GIL released.

Source b is a virtual node with an edge of cost ``source_costs[i]`` to ``source_nodes[i]`` for i in
``source_offsets[b]:source_offsets[b+1]``; target t a virtual node reached from ``target_nodes[j]`` at cost
``target_costs[j]`` for j in ``target_offsets[t]:target_offsets[t+1]`` (ragged arrays as in ``search_many``,
but the T targets are shared by every row). Sources have out-edges only and targets in-edges only, so no
route passes through another query point. Repeated nodes are allowed (the cheapest attachment counts).

Args:
    source_offsets: (B + 1,) int64; source_nodes (S,) int64; source_costs (S,) float64, finite, >= 0.
    target_offsets: (T + 1,) int64; target_nodes (R,) int64; target_costs (R,) float64, finite, >= 0.
    n_threads: worker threads, 0 = all hardware threads.

Returns:
    (B, T) float64 route lengths, including both attachment costs; inf where target t lies in no connected
    component of source b's attachments.

Raises:
    ValueError: malformed offsets (every query needs at least one attachment), costs of another length,
        negative or non-finite costs, a graph without weights, n_threads < 0 (the messages of ``search_many``).
    IndexError: a node id outside [0, n_nodes).
    TypeError: an array of another dtype.
)pbdoc");
}

}  // namespace agm::bindings
