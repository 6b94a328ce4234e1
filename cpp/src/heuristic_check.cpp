// The A* consistency verdict of a values block: one full pass over the edges, or the previous verdict updated at
// the changed edges (see heuristic_check.hpp).
#include "agm/heuristic_check.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>

#include "agm/parallel.hpp"

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

// Whether any edge violates the heuristic: rows in parallel chunks, each edge read once from its smaller end (no
// edge ids needed: they are found by the sequential pass only when something is wrong, the error path).
template <class T>
bool any_violation(const EdgeCsr& csr, const PagedWeights& data, const std::vector<T>& p, std::size_t dim,
                   std::size_t n_threads) {
    const std::size_t n = csr.n_nodes();
    const std::int32_t* indptr = csr.indptr().data();
    const std::int32_t* indices = csr.indices().data();
    std::atomic<bool> found{false};
    parallel_for(n, n_threads, 4096, [&](std::size_t begin, std::size_t end, std::size_t) {
        for (std::size_t u = begin; u < end && !found.load(std::memory_order_relaxed); ++u) {
            const T* pu = p.data() + u * dim;
            const double nu = norm_of(pu, dim);
            for (std::int64_t e = indptr[u]; e < indptr[u + 1]; ++e) {
                const auto v = static_cast<std::size_t>(indices[e]);
                if (v <= u) continue;
                const T* pv = p.data() + v * dim;
                const double excess =
                    heuristic_excess<T>(data[static_cast<std::size_t>(e)], distance_of(pu, pv, dim), nu + norm_of(pv, dim));
                if (excess > 0.0) {
                    found.store(true, std::memory_order_relaxed);
                    return;
                }
            }
        }
    });
    return found.load();
}

// The verdict of a block, computed once under its mutex: a parallel pass over the rows, then, only where it found
// a violation, the sequential pass that names every violating edge by its id.
void compute_verdict(const EdgeCsr& csr, const GraphValues& values, std::size_t n_threads) {
    HeuristicVerdict& verdict = *values.heuristic;
    if (verdict.computed) return;
    const PagedWeights& data = *values.csr_weights;
    const std::size_t dim = values.positions->cols;
    std::visit(
        [&](const auto& p) {
            if (!any_violation(csr, data, p, dim, n_threads)) return;
            csr.for_each_edge([&](std::size_t e, const EdgeCsr::Slots& s) {
                if (auto bad = violation_at(p, dim, e, s, data[static_cast<std::size_t>(s.slot_u)])) verdict.violations.push_back(*bad);
            });
        },
        values.positions->data);
    verdict.computed = true;
}

}  // namespace

// A* returns optimal paths only when h is consistent: w(u, v) >= h(u) - h(v) for every edge, which for
// h = scale * ||P - goal|| holds when w(u, v) >= scale * ||P[u] - P[v]||.
void check_consistent_heuristic(const EdgeCsr& csr, const GraphValues& values) {
    HeuristicVerdict& verdict = *values.heuristic;
    std::lock_guard<std::mutex> lock(verdict.mutex);
    compute_verdict(csr, values, 0);
    if (!verdict.violations.empty()) {
        throw std::invalid_argument(heuristic_message(verdict.violations, csr.n_edges()));
    }
}

std::size_t heuristic_violations(const EdgeCsr& csr, const GraphValues& values, std::size_t n_threads) {
    if (!values.csr_weights || !values.positions || !values.heuristic) return 0;
    HeuristicVerdict& verdict = *values.heuristic;
    std::lock_guard<std::mutex> lock(verdict.mutex);
    compute_verdict(csr, values, n_threads);
    return verdict.violations.size();
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
