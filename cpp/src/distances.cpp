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
#include "agm/row_search.hpp"

namespace agm {

namespace {

void check_offsets(VectorView<std::int64_t> offsets, std::size_t n_items, const char* name, const char* count) {
    if (offsets.size == 0) {
        throw std::invalid_argument(std::string(name) + " must have " + count + " + 1 >= 1 entries; got 0");
    }
    check_ragged_offsets(offsets, n_items, name);
}

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
    const row_search::AugmentedGraph g = row_search::augment(graph, weights->view(), q);
    const row_search::Reachability reach(graph, q);
    const std::size_t n_workers = parallel_workers(n_sources, n_threads, 1);
    std::vector<std::unique_ptr<row_search::RowSearch>> searches(n_workers);
    parallel_for(n_sources, n_threads, 1, [&](std::size_t begin, std::size_t end, std::size_t worker) {
        if (!searches[worker]) searches[worker] = std::make_unique<row_search::RowSearch>(g.n_nodes + n_targets);
        std::vector<char> reachable;
        for (std::size_t b = begin; b < end; ++b) {
            reach.of_row(b, reachable);
            const auto wanted = static_cast<std::size_t>(std::count(reachable.begin(), reachable.end(), 1));
            searches[worker]->run(g, q, b, wanted, out + b * n_targets);
        }
    });
}

}  // namespace agm
