// GraphValues: the values of an AtlasGraph - edge weights and decoded positions - as one immutable block that
// AtlasGraph swaps whole (set_weights / update_weights / set_positions are the only mutations), and the functions
// that make a new block's weights from the structure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "agm/array_view.hpp"
#include "agm/edge_csr.hpp"
#include "agm/float_matrix.hpp"
#include "agm/paged_weights.hpp"

namespace agm {

// The A* consistency verdict of one values block: the edges with w(u, v) < ||P[u] - P[v]|| beyond rounding,
// found by one O(n_edges * D) pass on the block's first A* search, or carried over by update_weights (which
// re-checks only the edges it changes). A cache: computed at most once, under its own mutex.
struct HeuristicVerdict {
    struct Violation {
        std::int64_t edge;
        std::int32_t u, v;
        double excess, distance, weight;
    };
    std::mutex mutex;
    bool computed = false;              // guarded by mutex
    std::vector<Violation> violations;  // sorted by edge id; guarded by mutex
};

struct GraphValues {
    std::shared_ptr<const PagedWeights> csr_weights;  // (2 n_edges,) in CSR slot order, or null
    std::shared_ptr<const FloatMatrix> positions;            // (n_nodes, D), or null
    std::uint64_t version = 0;  // bumped by every set_weights / update_weights / set_positions
    std::shared_ptr<HeuristicVerdict> heuristic;  // a cache with its own mutex; null before any setter
    std::size_t bytes() const;
};

// The CSR-slot weights of edge-order weights (n_edges,), finite and >= 0 (std::invalid_argument naming the index
// otherwise); each entry is read once.
std::shared_ptr<const PagedWeights> csr_weights_of(const EdgeCsr& csr, VectorView<double> weights);
// The edge-order weights (n_edges,) of CSR-slot weights.
std::vector<double> edge_weights_of(const EdgeCsr& csr, const PagedWeights& csr_weights);

// A checked weight change: edge ids unique and in [0, n_edges) (std::out_of_range / std::invalid_argument naming
// the value), weights finite and >= 0, with the CSR slots of every edge. Copies what it is given.
struct WeightUpdate {
    std::vector<std::int64_t> ids;
    std::vector<double> weights;
    std::vector<EdgeCsr::Slots> slots;
};
WeightUpdate checked_update(const EdgeCsr& csr, VectorView<std::int64_t> edge_ids, VectorView<double> weights);
// The weights of `csr_weights` with `update` applied: a new block sharing the pages the update does not touch
// (O(n_pages + changed pages), see paged_weights.hpp).
std::shared_ptr<const PagedWeights> apply_update(const PagedWeights& csr_weights, const WeightUpdate& update);

}  // namespace agm
