// The ragged source/target attachment arrays of AtlasGraph.distances_many and .distance_routes, copied once and
// checked against the graph: both bindings release the GIL during the search, so they search private copies.
#pragma once

#include <cstdint>
#include <vector>

#include "agm/distances.hpp"
#include "bindings.hpp"
#include "numpy_checks.hpp"

namespace agm::bindings {

// Private copies of the six arrays; queries() views them (valid while this object lives).
struct DistanceQueryArgs {
    std::vector<std::int64_t> source_offsets, source_nodes;
    std::vector<double> source_costs;
    std::vector<std::int64_t> target_offsets, target_nodes;
    std::vector<double> target_costs;

    DistanceQueries queries() const {
        return DistanceQueries{checks::view_of(source_offsets), checks::view_of(source_nodes),
                               checks::view_of(source_costs),   checks::view_of(target_offsets),
                               checks::view_of(target_nodes),   checks::view_of(target_costs)};
    }
};

// Copies the arrays (dtype, ndim and layout checked, nothing converted) and checks their values against `g`
// (check_distance_queries) before anything is sized from them.
inline DistanceQueryArgs copy_distance_queries(const AtlasGraph& g, const py::array& source_offsets,
                                               const py::array& source_nodes, const py::array& source_costs,
                                               const py::array& target_offsets, const py::array& target_nodes,
                                               const py::array& target_costs) {
    DistanceQueryArgs args{checks::copy_vector<std::int64_t>(source_offsets, "source_offsets", "(B + 1,)"),
                           checks::copy_vector<std::int64_t>(source_nodes, "source_nodes"),
                           checks::copy_vector<double>(source_costs, "source_costs"),
                           checks::copy_vector<std::int64_t>(target_offsets, "target_offsets", "(T + 1,)"),
                           checks::copy_vector<std::int64_t>(target_nodes, "target_nodes"),
                           checks::copy_vector<double>(target_costs, "target_costs")};
    check_distance_queries(g, args.queries());
    return args;
}

}  // namespace agm::bindings
