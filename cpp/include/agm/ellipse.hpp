// The nodes that can lie on a route of cost <= limit between two virtual ends, and the arcs among them: what a
// search restricted to such routes (the layered fewest-switch search) needs, found in O(what it visits).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "agm/array_view.hpp"
#include "agm/atlas_graph.hpp"

namespace agm {

// Nodes v with ds(v) + dt(v) <= limit, where ds is the distance from a virtual source joined to source_nodes at
// source_costs and dt the distance to a virtual target reached from target_nodes at target_costs (one weights
// snapshot for both bounded Dijkstras), sorted; and every CSR arc (both directions of an edge) whose two ends are
// such nodes, as indices into `nodes` with its weight. Every route of cost <= limit visits only these nodes.
struct Ellipse {
    std::vector<std::int64_t> nodes;
    std::vector<std::int64_t> tails, heads;  // indices into nodes
    std::vector<double> weights;
};

// std::invalid_argument for costs of another length, negative or non-finite costs or limit, a graph without
// weights; std::out_of_range for a node id outside [0, n_nodes).
// `goal` (D,) (or empty): the target's A* goal; where A*'s preconditions hold (a verdict without violations,
// target costs >= the heuristic), the source's search is pruned by it (h(v) = scale ||P[v] - goal|| <= dt(v)), so
// that it visits about the ellipse instead of the whole ball of radius `limit`.
Ellipse ellipse(const AtlasGraph& graph, VectorView<std::int64_t> source_nodes, VectorView<double> source_costs,
                VectorView<std::int64_t> target_nodes, VectorView<double> target_costs, double limit,
                VectorView<double> goal);

}  // namespace agm
