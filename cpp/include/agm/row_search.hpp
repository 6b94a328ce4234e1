// The one-to-many Dijkstra shared by distances_many and distance_paths_many: the graph augmented with T virtual
// sinks (the targets), per-thread row scratch whose arrays are valid where stamp == epoch (a row costs O(visited)),
// and the predecessor of every settled node, so that a row's routes can be read back.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

#include "agm/atlas_graph.hpp"
#include "agm/distances.hpp"
#include "agm/paged_weights.hpp"

namespace agm::row_search {

// The graph augmented with T sinks (node ids n_nodes .. n_nodes + T - 1), borrowed.
struct AugmentedGraph {
    const std::int32_t* indptr;
    const std::int32_t* indices;
    WeightsView weights;
    std::size_t n_nodes, n_targets;
    // Target attachments grouped by graph node: node v reaches sink n_nodes + sink[h] at cost sink_cost[h] for
    // h in [sink_ptr[v], sink_ptr[v + 1]).
    std::vector<std::int64_t> sink_ptr;
    std::vector<std::int32_t> sink;
    std::vector<double> sink_cost;
};

inline AugmentedGraph augment(const AtlasGraph& graph, WeightsView weights, const DistanceQueries& q) {
    AugmentedGraph g{graph.csr_indptr().data(), graph.csr_indices().data(), weights, graph.n_nodes(),
                     q.n_targets(), std::vector<std::int64_t>(graph.n_nodes() + 1, 0), {}, {}};
    for (std::size_t j = 0; j < q.target_nodes.size; ++j) ++g.sink_ptr[static_cast<std::size_t>(q.target_nodes[j]) + 1];
    for (std::size_t v = 0; v < g.n_nodes; ++v) g.sink_ptr[v + 1] += g.sink_ptr[v];
    g.sink.resize(q.target_nodes.size);
    g.sink_cost.resize(q.target_nodes.size);
    std::vector<std::int64_t> cursor(g.sink_ptr.begin(), g.sink_ptr.end() - 1);
    for (std::size_t t = 0; t < g.n_targets; ++t) {
        for (auto j = static_cast<std::size_t>(q.target_offsets[t]); j < static_cast<std::size_t>(q.target_offsets[t + 1]);
             ++j) {
            const auto slot = static_cast<std::size_t>(cursor[static_cast<std::size_t>(q.target_nodes[j])]++);
            g.sink[slot] = static_cast<std::int32_t>(t);
            g.sink_cost[slot] = q.target_costs[j];
        }
    }
    return g;
}

// Sorted distinct component labels of nodes[offsets[b] .. offsets[b + 1]).
inline std::vector<std::int32_t> components_of(const std::vector<std::int32_t>& component, VectorView<std::int64_t> offsets,
                                        VectorView<std::int64_t> nodes, std::size_t b) {
    std::vector<std::int32_t> out;
    for (auto j = static_cast<std::size_t>(offsets[b]); j < static_cast<std::size_t>(offsets[b + 1]); ++j) {
        out.push_back(component[static_cast<std::size_t>(nodes[j])]);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

inline bool intersect(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b) {
    for (std::size_t i = 0, j = 0; i < a.size() && j < b.size();) {
        if (a[i] == b[j]) return true;
        if (a[i] < b[j]) ++i; else ++j;
    }
    return false;
}

// Whether target t is reachable from source row b: they share a connected component.
class Reachability {
public:
    Reachability(const AtlasGraph& graph, const DistanceQueries& q) : component_(graph.component()), q_(q) {
        targets_.resize(q.n_targets());
        for (std::size_t t = 0; t < targets_.size(); ++t) {
            targets_[t] = components_of(component_, q.target_offsets, q.target_nodes, t);
        }
    }
    // reachable[t] for every target of row b (resized to T).
    void of_row(std::size_t b, std::vector<char>& reachable) const {
        const auto from = components_of(component_, q_.source_offsets, q_.source_nodes, b);
        reachable.resize(targets_.size());
        for (std::size_t t = 0; t < targets_.size(); ++t) reachable[t] = intersect(from, targets_[t]) ? 1 : 0;
    }

private:
    const std::vector<std::int32_t>& component_;
    const DistanceQueries& q_;
    std::vector<std::vector<std::int32_t>> targets_;
};

// Per-thread Dijkstra scratch over the augmented graph; arrays are valid where stamp == epoch, so a row costs
// O(visited). The predecessor of every reached node is kept (-1: the virtual source), for route().
class RowSearch {
public:
    explicit RowSearch(std::size_t n_total) : dist_(n_total), pred_(n_total), stamp_(n_total, 0), closed_(n_total, 0) {}

    // Distances from source row b to every target, written to out[0 .. T) (inf where unreachable); stops once
    // `wanted` targets are settled (the caller counts only targets it wants that are reachable).
    void run(const AugmentedGraph& g, const DistanceQueries& q, std::size_t b, std::size_t wanted, double* out) {
        std::fill(out, out + g.n_targets, inf());
        new_epoch();  // also when nothing is wanted: route() must not read the previous row's tree
        if (wanted == 0) return;
        for (auto j = static_cast<std::size_t>(q.source_offsets[b]); j < static_cast<std::size_t>(q.source_offsets[b + 1]);
             ++j) {
            relax(static_cast<std::int32_t>(q.source_nodes[j]), q.source_costs[j], -1);
        }
        std::size_t settled = 0;
        while (!heap_.empty() && settled < wanted) {
            std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
            const auto [d, x] = heap_.back();
            heap_.pop_back();
            if (closed_[x] == epoch_) continue;  // a stale entry: x was settled at a smaller distance
            closed_[x] = epoch_;
            const auto v = static_cast<std::size_t>(x);
            if (v >= g.n_nodes) {  // a sink: its distance is final
                out[v - g.n_nodes] = d;
                if (want_ == nullptr || want_[v - g.n_nodes]) ++settled;
                continue;
            }
            for (std::int64_t e = g.indptr[v]; e < g.indptr[v + 1]; ++e) relax(g.indices[e], d + g.weights[e], x);
            for (std::int64_t h = g.sink_ptr[v]; h < g.sink_ptr[v + 1]; ++h) {
                relax(static_cast<std::int32_t>(g.n_nodes) + g.sink[h], d + g.sink_cost[h], x);
            }
        }
    }

    // Only targets with want[t] != 0 count towards run()'s `wanted` (null: every target counts).
    void count_only(const char* want) { want_ = want; }

    // The graph nodes of the route to target t settled by the last run(), from the source's attachment to the
    // target's, appended to `nodes` (nothing when t was not settled).
    void route(const AugmentedGraph& g, std::size_t t, std::vector<std::int64_t>& nodes) const {
        const auto sink = static_cast<std::int32_t>(g.n_nodes + t);
        if (closed_[sink] != epoch_) return;
        const std::size_t first = nodes.size();
        for (std::int32_t x = pred_[sink]; x >= 0; x = pred_[x]) nodes.push_back(x);
        std::reverse(nodes.begin() + static_cast<std::ptrdiff_t>(first), nodes.end());
    }

private:
    static constexpr double inf() { return std::numeric_limits<double>::infinity(); }
    void new_epoch() {
        heap_.clear();
        if (++epoch_ == 0) {  // wrapped: clear the stamps once every 2^32 rows
            std::fill(stamp_.begin(), stamp_.end(), 0);
            std::fill(closed_.begin(), closed_.end(), 0);
            epoch_ = 1;
        }
    }
    void relax(std::int32_t x, double d, std::int32_t from) {
        if (stamp_[x] != epoch_ || d < dist_[x]) {
            stamp_[x] = epoch_;
            dist_[x] = d;
            pred_[x] = from;
            heap_.emplace_back(d, x);
            std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
        }
    }

    std::vector<double> dist_;
    std::vector<std::int32_t> pred_;
    std::vector<std::uint32_t> stamp_, closed_;
    std::uint32_t epoch_ = 0;
    std::vector<std::pair<double, std::int32_t>> heap_;
    const char* want_ = nullptr;
};

}  // namespace agm::row_search
