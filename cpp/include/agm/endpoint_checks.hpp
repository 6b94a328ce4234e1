// Checks of ragged endpoint lists (CSR-style offsets, node ids, attachment costs) shared by every search entry point
// (search_many, distances_many), so their rules and messages have one owner. Each throws std::invalid_argument or
// std::out_of_range naming the argument, the value and its index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "agm/array_view.hpp"

namespace agm {

// offsets (Q + 1,) of a ragged list of n_items items: starts at 0, ends at n_items, strictly increasing (every query
// has at least one item). The caller checks offsets.size >= 1 (its expected Q differs by entry point).
inline void check_ragged_offsets(VectorView<std::int64_t> offsets, std::size_t n_items, const char* name) {
    const std::size_t n_queries = offsets.size - 1;
    if (offsets[0] != 0 || offsets[n_queries] != static_cast<std::int64_t>(n_items)) {
        throw std::invalid_argument(std::string(name) + " must start at 0 and end at " + std::to_string(n_items) +
                                    "; got " + std::to_string(offsets[0]) + " ... " +
                                    std::to_string(offsets[n_queries]));
    }
    for (std::size_t b = 0; b < n_queries; ++b) {
        if (offsets[b + 1] <= offsets[b]) {
            throw std::invalid_argument(std::string(name) + " must be strictly increasing (every query needs at "
                                        "least one entry); got " + std::to_string(offsets[b]) + " then " +
                                        std::to_string(offsets[b + 1]) + " at query " + std::to_string(b));
        }
    }
}

// node ids in [0, n_nodes).
inline void check_endpoint_nodes(VectorView<std::int64_t> nodes, std::size_t n_nodes, const char* name) {
    for (std::size_t i = 0; i < nodes.size; ++i) {
        if (nodes[i] < 0 || static_cast<std::size_t>(nodes[i]) >= n_nodes) {
            throw std::out_of_range(std::string(name) + " must hold node ids in [0, " + std::to_string(n_nodes) +
                                    "); got " + std::to_string(nodes[i]) + " at index " + std::to_string(i));
        }
    }
}

// attachment costs: finite and >= 0.
inline void check_endpoint_costs(VectorView<double> costs, const char* name) {
    for (std::size_t i = 0; i < costs.size; ++i) {
        if (!(costs[i] >= 0.0) || costs[i] == std::numeric_limits<double>::infinity()) {
            throw std::invalid_argument(std::string(name) + " must be finite and >= 0; got " +
                                        std::to_string(costs[i]) + " at index " + std::to_string(i));
        }
    }
}

}  // namespace agm
