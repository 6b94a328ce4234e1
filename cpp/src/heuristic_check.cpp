// The A* consistency verdict of a values block: one full pass over the edges, or the previous verdict updated at
// the changed edges (see heuristic_check.hpp).
#include "agm/heuristic_check.hpp"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>

namespace agm {

std::string format_g(double value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", value);
    return buf;
}

namespace {

using Violation = HeuristicVerdict::Violation;

// The violation at edge e (slots s, weight w) of positions p (rows of `dim` T values), if any.
template <class T>
std::optional<Violation> violation_at(const std::vector<T>& p, std::size_t dim, std::size_t e,
                                      const EdgeCsr::Slots& s, double w) {
    const T* pu = p.data() + static_cast<std::size_t>(s.u) * dim;
    const T* pv = p.data() + static_cast<std::size_t>(s.v) * dim;
    const double d = distance_of(pu, pv, dim);
    const double excess = heuristic_excess<T>(w, d, norm_of(pu, dim) + norm_of(pv, dim));
    if (!(excess > 0.0)) return std::nullopt;
    return Violation{static_cast<std::int64_t>(e), s.u, s.v, excess, d, w};
}

std::string heuristic_message(const std::vector<Violation>& bad, std::size_t n_edges) {
    const Violation* worst = &bad.front();  // the first edge with the largest excess
    for (const Violation& v : bad) {
        if (v.excess > worst->excess) worst = &v;
    }
    return "method 'astar' needs a consistent heuristic: every edge weight must be >= the distance of its "
           "endpoints' positions, ||P[u] - P[v]||; edge " + std::to_string(worst->edge) + " (" +
           std::to_string(worst->u) + ", " + std::to_string(worst->v) + ") has weight " + format_g(worst->weight) +
           " < distance " + format_g(worst->distance) + " (" + std::to_string(bad.size()) + " of " +
           std::to_string(n_edges) + " edges violate it): fix the weights or positions, or use method='dijkstra'";
}

}  // namespace

// A* returns optimal paths only when h is consistent: w(u, v) >= h(u) - h(v) for every edge, which for
// h = scale * ||P - goal|| holds when w(u, v) >= scale * ||P[u] - P[v]||.
void check_consistent_heuristic(const EdgeCsr& csr, const GraphValues& values) {
    HeuristicVerdict& verdict = *values.heuristic;
    std::lock_guard<std::mutex> lock(verdict.mutex);
    if (!verdict.computed) {
        const PagedWeights& data = *values.csr_weights;
        const std::size_t dim = values.positions->cols;
        std::visit(
            [&](const auto& p) {
                csr.for_each_edge([&](std::size_t e, const EdgeCsr::Slots& s) {
                    if (auto bad = violation_at(p, dim, e, s, data[static_cast<std::size_t>(s.slot_u)])) verdict.violations.push_back(*bad);
                });
            },
            values.positions->data);
        verdict.computed = true;
    }
    if (!verdict.violations.empty()) {
        throw std::invalid_argument(heuristic_message(verdict.violations, csr.n_edges()));
    }
}

std::shared_ptr<HeuristicVerdict> updated_verdict(const GraphValues& next, const WeightUpdate& update) {
    auto fresh = std::make_shared<HeuristicVerdict>();
    if (!next.heuristic || !next.positions) return fresh;
    std::lock_guard<std::mutex> lock(next.heuristic->mutex);
    if (!next.heuristic->computed) return fresh;
    const std::vector<std::int64_t>& ids = update.ids;
    std::vector<std::size_t> order(ids.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return ids[a] < ids[b]; });
    std::vector<std::int64_t> changed(ids.size());
    std::vector<Violation> rechecked;
    const std::size_t dim = next.positions->cols;
    std::visit(
        [&](const auto& p) {
            for (std::size_t i = 0; i < order.size(); ++i) {
                const std::size_t j = order[i];
                const EdgeCsr::Slots& s = update.slots[j];
                changed[i] = ids[j];
                if (auto bad = violation_at(p, dim, static_cast<std::size_t>(ids[j]), s, (*next.csr_weights)[static_cast<std::size_t>(s.slot_u)])) {
                    rechecked.push_back(*bad);
                }
            }
        },
        next.positions->data);
    std::vector<Violation> kept;  // the previous violations at edges that did not change
    for (const Violation& v : next.heuristic->violations) {
        if (!std::binary_search(changed.begin(), changed.end(), v.edge)) kept.push_back(v);
    }
    fresh->violations.resize(kept.size() + rechecked.size());
    std::merge(kept.begin(), kept.end(), rechecked.begin(), rechecked.end(), fresh->violations.begin(),
               [](const Violation& a, const Violation& b) { return a.edge < b.edge; });
    fresh->computed = true;
    return fresh;
}

}  // namespace agm
