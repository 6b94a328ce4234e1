// One-to-many geodesic distances on an AtlasGraph: for each of B virtual sources, the shortest route lengths to
// each of T virtual targets (one Dijkstra per source, stopped once every reachable target is settled).
#pragma once

#include <cstddef>
#include <cstdint>

#include "agm/array_view.hpp"
#include "agm/atlas_graph.hpp"

namespace agm {

// B virtual sources and T virtual targets in ragged CSR form: source b is joined to
// source_nodes[source_offsets[b] .. source_offsets[b + 1]) at the matching source_costs; target t is reached from
// target_nodes[target_offsets[t] .. target_offsets[t + 1]) at the matching target_costs. Sources have out-edges
// only and targets in-edges only, so no route passes through another query point.
struct DistanceQueries {
    VectorView<std::int64_t> source_offsets, source_nodes;  // (B + 1,), (S,)
    VectorView<double> source_costs;                        // (S,)
    VectorView<std::int64_t> target_offsets, target_nodes;  // (T + 1,), (R,)
    VectorView<double> target_costs;                        // (R,)
    std::size_t n_sources() const { return source_offsets.size == 0 ? 0 : source_offsets.size - 1; }
    std::size_t n_targets() const { return target_offsets.size == 0 ? 0 : target_offsets.size - 1; }
};

// Checks `queries` against `graph` with the messages of AtlasGraph::search_many: std::invalid_argument for
// malformed offsets (empty, not starting at 0, not ending at the node count, not strictly increasing: every query
// needs an attachment), costs of another length or negative / non-finite costs, a graph without weights;
// std::out_of_range for a node id outside [0, n_nodes).
void check_distance_queries(const AtlasGraph& graph, const DistanceQueries& queries);

// Writes the (B, T) row-major route lengths (float64; +inf where target t is unreachable from source b) to `out`
// after check_distance_queries. Rows run in parallel over n_threads (0 = all hardware threads); the graph's
// weights are read from one snapshot, so a concurrent set_weights cannot tear them.
void distances_many(const AtlasGraph& graph, const DistanceQueries& queries, std::size_t n_threads, double* out);

}  // namespace agm
