// The A* precondition on a graph's values: a consistent heuristic, w(u, v) >= ||P[u] - P[v]|| on every edge up to
// the rounding of the positions' dtype; checked once per values block, and incrementally by update_weights.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <string>

#include "agm/edge_csr.hpp"
#include "agm/euclidean.hpp"
#include "agm/graph_values.hpp"
#include "agm/search.hpp"

namespace agm {

// How far a cost falls below the scaled heuristic drop it must cover, beyond what rounding of T coordinates of
// these magnitudes explains (> 0: the A* heuristic is inconsistent there).
template <class T>
double heuristic_excess(double cost, double distance, double magnitude) {
    const double rounding = 8.0 * static_cast<double>(std::numeric_limits<T>::epsilon()) * magnitude;
    return heuristic_scale<T>() * distance - cost - rounding;
}

// A value in error messages: printf's %.9g.
std::string format_g(double value);

// std::invalid_argument naming the worst edge when the block's heuristic is inconsistent. The block must have
// weights and positions; the verdict is computed on the first call (O(n_edges * D)) and cached in the block.
void check_consistent_heuristic(const EdgeCsr& csr, const GraphValues& values);

// The block's verdict computed now if it was not (rows over n_threads, 0 = all), so that no later A* search pays
// for it; the number of violating edges (0 without weights or positions).
std::size_t heuristic_violations(const EdgeCsr& csr, const GraphValues& values, std::size_t n_threads);

// The verdict of `next` (the new weights, the previous block's positions and verdict) after `update`: the previous
// verdict re-checked at the updated edges when it was computed (O(n * D + violations)), else a new uncomputed one.
std::shared_ptr<HeuristicVerdict> updated_verdict(const GraphValues& next, const WeightUpdate& update);

}  // namespace agm
