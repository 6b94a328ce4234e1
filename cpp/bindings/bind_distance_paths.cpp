// AtlasGraph.distance_routes: one-to-many route lengths and the routes themselves (agm::distance_paths_many).
#include <cstdint>
#include <string>
#include <vector>

#include "agm/distance_paths.hpp"
#include "bindings.hpp"
#include "distance_query_args.hpp"
#include "numpy_checks.hpp"

namespace agm::bindings {

namespace {

py::tuple distance_routes_of(const AtlasGraph& g, const py::array& source_offsets, const py::array& source_nodes,
                             const py::array& source_costs, const py::array& target_offsets,
                             const py::array& target_nodes, const py::array& target_costs, const py::array& want,
                             std::int64_t n_threads) {
    const std::size_t threads = checks::threads(n_threads);
    const DistanceQueryArgs args = copy_distance_queries(g, source_offsets, source_nodes, source_costs, target_offsets,
                                                         target_nodes, target_costs);  // before sizing the output
    const DistanceQueries queries = args.queries();
    const std::size_t n_sources = queries.n_sources(), n_targets = queries.n_targets();
    checks::require_dtype<bool>(want, "want");
    checks::require_ndim(want, 2, "want", "(B, T)");
    checks::require_c_contiguous(want, "want");
    if (static_cast<std::size_t>(want.shape(0)) != n_sources || static_cast<std::size_t>(want.shape(1)) != n_targets) {
        throw py::value_error("want must have shape (" + std::to_string(n_sources) + ", " + std::to_string(n_targets) +
                              ") (B sources, T targets); got " + checks::shape_string(want));
    }
    const auto* data = static_cast<const std::uint8_t*>(want.data());
    const std::vector<std::uint8_t> wanted(data, data + n_sources * n_targets);  // a private copy, as above
    py::array_t<double> out({static_cast<py::ssize_t>(n_sources), static_cast<py::ssize_t>(n_targets)});
    double* lengths = out.mutable_data();
    RouteTable routes;
    {
        py::gil_scoped_release release;
        routes = distance_paths_many(g, queries, wanted.data(), threads, lengths);
    }
    return py::make_tuple(out, to_int64(routes.offsets, {static_cast<py::ssize_t>(routes.offsets.size())}),
                          to_int64(routes.nodes, {static_cast<py::ssize_t>(routes.nodes.size())}));
}

}  // namespace

void bind_distance_paths(py::module_& m) {
    GraphClass cls = graph_class(m);
    cls.def("distance_routes", &distance_routes_of, py::arg("source_offsets"), py::arg("source_nodes"),
            py::arg("source_costs"), py::arg("target_offsets"), py::arg("target_nodes"), py::arg("target_costs"),
            py::arg("want"), py::arg("n_threads") = 0, R"pbdoc(
``distances_many`` that also returns the routes to the wanted targets (one-to-many LazySP reads them).

Each row's Dijkstra (virtual source, T virtual sinks, the arguments of ``distances_many``) stops once every
reachable target t with ``want[b, t]`` is settled; the rows run over threads with the GIL released, on one
snapshot of the weights.

Args:
    source_offsets, source_nodes, source_costs, target_offsets, target_nodes, target_costs: as in
        ``distances_many``.
    want: (B, T) bool, C-contiguous: the pairs whose routes are read back.
    n_threads: worker threads, 0 = all hardware threads.

Returns:
    (lengths, route_offsets, route_nodes): (B, T) float64 route lengths (both attachment costs included;
    inf where unreachable; an unwanted entry is inf unless its target was settled before the row stopped);
    (B T + 1,) int64 offsets: pair p = b T + t visits the graph nodes
    ``route_nodes[route_offsets[p]:route_offsets[p + 1]]`` (int64), from the node the source attaches at to
    the node the target is reached from; empty where not wanted or unreachable.

Raises:
    ValueError: as ``distances_many``; ``want`` of another shape or not C-contiguous.
    IndexError: a node id outside [0, n_nodes).
    TypeError: an array of another dtype (``want`` must be bool).
)pbdoc");
}

}  // namespace agm::bindings
