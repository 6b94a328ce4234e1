// One-to-many routes: the rows of distances_many with the routes to the wanted targets read back.
#include "agm/distance_paths.hpp"

#include <memory>
#include <stdexcept>
#include <vector>

#include "agm/parallel.hpp"
#include "agm/row_search.hpp"

namespace agm {

RouteTable distance_paths_many(const AtlasGraph& graph, const DistanceQueries& q, const std::uint8_t* want,
                               std::size_t n_threads, double* out) {
    check_distance_queries(graph, q);
    const auto weights = graph.values().csr_weights;  // one snapshot for the whole call
    if (!weights) throw std::invalid_argument("the graph has no weights yet: call set_weights before searching");
    const std::size_t n_sources = q.n_sources(), n_targets = q.n_targets();
    RouteTable table{std::vector<std::int64_t>(n_sources * n_targets + 1, 0), {}};
    if (n_sources == 0 || n_targets == 0) return table;
    const row_search::AugmentedGraph g = row_search::augment(graph, weights->view(), q);
    const row_search::Reachability reach(graph, q);
    std::vector<std::vector<std::int64_t>> row_nodes(n_sources);  // routes of row b, target after target
    const std::size_t n_workers = parallel_workers(n_sources, n_threads, 1);
    std::vector<std::unique_ptr<row_search::RowSearch>> searches(n_workers);
    parallel_for(n_sources, n_threads, 1, [&](std::size_t begin, std::size_t end, std::size_t worker) {
        if (!searches[worker]) searches[worker] = std::make_unique<row_search::RowSearch>(g.n_nodes + n_targets);
        row_search::RowSearch& search = *searches[worker];
        std::vector<char> reachable;
        for (std::size_t b = begin; b < end; ++b) {
            const auto* row_want = reinterpret_cast<const char*>(want + b * n_targets);
            reach.of_row(b, reachable);
            std::size_t wanted = 0;
            for (std::size_t t = 0; t < n_targets; ++t) wanted += (reachable[t] && row_want[t]) ? 1 : 0;
            search.count_only(row_want);
            search.run(g, q, b, wanted, out + b * n_targets);
            for (std::size_t t = 0; t < n_targets; ++t) {
                const std::size_t before = row_nodes[b].size();
                if (row_want[t]) search.route(g, t, row_nodes[b]);
                table.offsets[b * n_targets + t + 1] = static_cast<std::int64_t>(row_nodes[b].size() - before);
            }
        }
    });
    for (std::size_t p = 0; p < n_sources * n_targets; ++p) table.offsets[p + 1] += table.offsets[p];
    table.nodes.reserve(static_cast<std::size_t>(table.offsets.back()));
    for (auto& nodes : row_nodes) {
        table.nodes.insert(table.nodes.end(), nodes.begin(), nodes.end());
        std::vector<std::int64_t>().swap(nodes);
    }
    return table;
}

}  // namespace agm
