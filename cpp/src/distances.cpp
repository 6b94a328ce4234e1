// One-to-many distances: per source row, a Dijkstra from a virtual source over the graph plus T virtual sink
// nodes (the targets), stopped once every target reachable from the row is settled.
#include "agm/distances.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "agm/endpoint_checks.hpp"
#include "agm/parallel.hpp"

namespace agm {

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

void check_offsets(VectorView<std::int64_t> offsets, std::size_t n_items, const char* name, const char* count) {
    if (offsets.size == 0) {
        throw std::invalid_argument(std::string(name) + " must have " + count + " + 1 >= 1 entries; got 0");
    }
    check_ragged_offsets(offsets, n_items, name);
}

// The graph augmented with T sinks (node ids n_nodes .. n_nodes + T - 1), borrowed.
struct AugmentedGraph {
    const std::int64_t* indptr;
    const std::int32_t* indices;
    WeightsView weights;
    std::size_t n_nodes, n_targets;
    // Target attachments grouped by graph node: node v reaches sink n_nodes + sink[h] at cost sink_cost[h] for
    // h in [sink_ptr[v], sink_ptr[v + 1]).
    std::vector<std::int64_t> sink_ptr;
    std::vector<std::int32_t> sink;
    std::vector<double> sink_cost;
};

AugmentedGraph augment(const AtlasGraph& graph, WeightsView weights, const DistanceQueries& q) {
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
std::vector<std::int32_t> components_of(const std::vector<std::int32_t>& component, VectorView<std::int64_t> offsets,
                                        VectorView<std::int64_t> nodes, std::size_t b) {
    std::vector<std::int32_t> out;
    for (auto j = static_cast<std::size_t>(offsets[b]); j < static_cast<std::size_t>(offsets[b + 1]); ++j) {
        out.push_back(component[static_cast<std::size_t>(nodes[j])]);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

bool intersect(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b) {
    for (std::size_t i = 0, j = 0; i < a.size() && j < b.size();) {
        if (a[i] == b[j]) return true;
        if (a[i] < b[j]) ++i; else ++j;
    }
    return false;
}

// Per-thread Dijkstra scratch over the augmented graph; arrays are valid where stamp == epoch, so a row costs
// O(visited).
class RowSearch {
public:
    explicit RowSearch(std::size_t n_total) : dist_(n_total), stamp_(n_total, 0), closed_(n_total, 0) {}

    // Distances from source row b to every target, written to out[0 .. T) (inf where unreachable); stops once
    // `reachable` targets are settled.
    void run(const AugmentedGraph& g, const DistanceQueries& q, std::size_t b, std::size_t reachable, double* out) {
        std::fill(out, out + g.n_targets, inf);
        if (reachable == 0) return;
        new_epoch();
        for (auto j = static_cast<std::size_t>(q.source_offsets[b]); j < static_cast<std::size_t>(q.source_offsets[b + 1]);
             ++j) {
            relax(static_cast<std::int32_t>(q.source_nodes[j]), q.source_costs[j]);
        }
        std::size_t settled = 0;
        while (!heap_.empty() && settled < reachable) {
            std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
            const auto [d, x] = heap_.back();
            heap_.pop_back();
            if (closed_[x] == epoch_) continue;  // a stale entry: x was settled at a smaller distance
            closed_[x] = epoch_;
            const auto v = static_cast<std::size_t>(x);
            if (v >= g.n_nodes) {  // a sink: its distance is final
                out[v - g.n_nodes] = d;
                ++settled;
                continue;
            }
            for (std::int64_t e = g.indptr[v]; e < g.indptr[v + 1]; ++e) relax(g.indices[e], d + g.weights[e]);
            for (std::int64_t h = g.sink_ptr[v]; h < g.sink_ptr[v + 1]; ++h) {
                relax(static_cast<std::int32_t>(g.n_nodes) + g.sink[h], d + g.sink_cost[h]);
            }
        }
    }

private:
    void new_epoch() {
        heap_.clear();
        if (++epoch_ == 0) {  // wrapped: clear the stamps once every 2^32 rows
            std::fill(stamp_.begin(), stamp_.end(), 0);
            std::fill(closed_.begin(), closed_.end(), 0);
            epoch_ = 1;
        }
    }
    void relax(std::int32_t x, double d) {
        if (stamp_[x] != epoch_ || d < dist_[x]) {
            stamp_[x] = epoch_;
            dist_[x] = d;
            heap_.emplace_back(d, x);
            std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
        }
    }

    std::vector<double> dist_;
    std::vector<std::uint32_t> stamp_, closed_;
    std::uint32_t epoch_ = 0;
    std::vector<std::pair<double, std::int32_t>> heap_;
};

}  // namespace

void check_distance_queries(const AtlasGraph& graph, const DistanceQueries& q) {
    if (!graph.has_weights()) {
        throw std::invalid_argument("the graph has no weights yet: call set_weights before searching");
    }
    check_offsets(q.source_offsets, q.source_nodes.size, "source_offsets", "B");
    check_offsets(q.target_offsets, q.target_nodes.size, "target_offsets", "T");
    if (q.source_costs.size != q.source_nodes.size || q.target_costs.size != q.target_nodes.size) {
        throw std::invalid_argument("source_costs / target_costs must match source_nodes / target_nodes in length");
    }
    check_endpoint_nodes(q.source_nodes, graph.n_nodes(), "source_nodes");
    check_endpoint_nodes(q.target_nodes, graph.n_nodes(), "target_nodes");
    check_endpoint_costs(q.source_costs, "source_costs");
    check_endpoint_costs(q.target_costs, "target_costs");
    if (graph.n_nodes() + q.n_targets() >= (std::size_t{1} << 31)) {
        throw std::invalid_argument("n_nodes + T must be below 2^31; got " +
                                    std::to_string(graph.n_nodes() + q.n_targets()));
    }
}

void distances_many(const AtlasGraph& graph, const DistanceQueries& q, std::size_t n_threads, double* out) {
    check_distance_queries(graph, q);
    const auto weights = graph.values().csr_weights;  // one snapshot for the whole call
    if (!weights) throw std::invalid_argument("the graph has no weights yet: call set_weights before searching");
    const std::size_t n_sources = q.n_sources(), n_targets = q.n_targets();
    if (n_sources == 0 || n_targets == 0) return;
    const AugmentedGraph g = augment(graph, weights->view(), q);
    // Targets reachable from each row: they share a connected component with one of the row's attachments.
    std::vector<std::vector<std::int32_t>> target_components(n_targets);
    for (std::size_t t = 0; t < n_targets; ++t) {
        target_components[t] = components_of(graph.component(), q.target_offsets, q.target_nodes, t);
    }
    const std::size_t n_workers = parallel_workers(n_sources, n_threads, 1);
    std::vector<std::unique_ptr<RowSearch>> searches(n_workers);
    parallel_for(n_sources, n_threads, 1, [&](std::size_t begin, std::size_t end, std::size_t worker) {
        if (!searches[worker]) searches[worker] = std::make_unique<RowSearch>(g.n_nodes + n_targets);
        for (std::size_t b = begin; b < end; ++b) {
            const auto from = components_of(graph.component(), q.source_offsets, q.source_nodes, b);
            std::size_t reachable = 0;
            for (const auto& to : target_components) reachable += intersect(from, to) ? 1 : 0;
            searches[worker]->run(g, q, b, reachable, out + b * n_targets);
        }
    });
}

}  // namespace agm
