// One-to-many routes on an AtlasGraph: distances_many that also reads back the route (graph nodes) to each wanted
// target, for one-to-many LazySP (the Python side decides which edges of the routes still hold lower bounds).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "agm/array_view.hpp"
#include "agm/atlas_graph.hpp"
#include "agm/distances.hpp"

namespace agm {

// The routes of a (B, T) call: route p = b * T + t visits nodes[offsets[p] .. offsets[p + 1]) (from the node the
// source attaches at to the node the target is reached from); empty where not wanted or unreachable.
struct RouteTable {
    std::vector<std::int64_t> offsets;  // (B T + 1,)
    std::vector<std::int64_t> nodes;
};

// After check_distance_queries: (B, T) row-major lengths to `out` as distances_many does, but each row stops once
// every reachable target with want[b * T + t] != 0 is settled (other entries are their length if settled by
// then, else +inf), and the routes to those targets. `want` is (B, T) row-major. Rows run in parallel over
// n_threads (0 = all hardware threads) on one snapshot of the weights.
RouteTable distance_paths_many(const AtlasGraph& graph, const DistanceQueries& queries, const std::uint8_t* want,
                               std::size_t n_threads, double* out);

}  // namespace agm
