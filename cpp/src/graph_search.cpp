// AtlasGraph searches: endpoint checks, reachability by component labels, per-thread workspace pool, batches.
#include <algorithm>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>

#include "agm/atlas_graph.hpp"
#include "agm/parallel.hpp"

namespace agm {

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// The distinct component labels of a node set, with sizes: "{0 (size 12), 3 (size 2)}".
std::string describe_components(const std::set<std::int32_t>& labels, const std::vector<std::int64_t>& sizes) {
    std::string out = "{";
    for (const std::int32_t c : labels) {
        if (out.size() > 1) out += ", ";
        out += std::to_string(c) + " (size " + std::to_string(sizes[c]) + ")";
    }
    return out + "}";
}

template <class T>
Heuristic<T> make_heuristic(const FloatMatrix& positions, MatrixView<T> goals) {
    return Heuristic<T>{positions.view<T>(), goals, heuristic_scale<T>()};
}

}  // namespace

void AtlasGraph::check_searchable(SearchMethod method) const {
    if (!has_weights_) throw std::invalid_argument("the graph has no weights yet: call set_weights before searching");
    if (method == SearchMethod::astar && positions_.empty()) {
        throw std::invalid_argument("method 'astar' needs decoded positions: call set_positions first (or use "
                                    "method='dijkstra')");
    }
}

void AtlasGraph::check_node(std::int64_t node, const char* what) const {
    if (node < 0 || static_cast<std::size_t>(node) >= n_nodes()) {
        throw std::out_of_range(std::string(what) + " must be a node id in [0, " + std::to_string(n_nodes()) +
                                "); got " + std::to_string(node));
    }
}

std::string AtlasGraph::unreachable_message(std::int64_t source, std::int64_t target) const {
    const std::int32_t a = component_[source];
    const std::int32_t b = component_[target];
    return "source node " + std::to_string(source) + " (component " + std::to_string(a) + ", size " +
           std::to_string(component_sizes_[a]) + ") and target node " + std::to_string(target) + " (component " +
           std::to_string(b) + ", size " + std::to_string(component_sizes_[b]) +
           ") are in different connected components";
}

CsrView AtlasGraph::csr_view() const { return CsrView{indptr_.data(), indices_.data(), data_.data(), n_nodes()}; }

std::unique_ptr<SearchWorkspace> AtlasGraph::acquire_workspace() const {
    {
        std::lock_guard<std::mutex> lock(pool_mutex_);
        if (!workspace_pool_.empty()) {
            auto workspace = std::move(workspace_pool_.back());
            workspace_pool_.pop_back();
            return workspace;
        }
    }
    return std::make_unique<SearchWorkspace>(n_nodes());
}

void AtlasGraph::release_workspace(std::unique_ptr<SearchWorkspace> workspace) const {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    workspace_pool_.push_back(std::move(workspace));
}

template <class Query>
std::vector<PathResult> AtlasGraph::run_batch(std::size_t n_queries, std::size_t n_threads, Query&& query) const {
    std::vector<PathResult> results(n_queries);
    const std::size_t n_workers = parallel_workers(n_queries, n_threads, 1);
    std::vector<std::unique_ptr<SearchWorkspace>> workspaces;
    struct Returner {  // gives the workspaces back to the pool even when a query throws
        const AtlasGraph& graph;
        std::vector<std::unique_ptr<SearchWorkspace>>& list;
        ~Returner() {
            for (auto& w : list) graph.release_workspace(std::move(w));
        }
    } returner{*this, workspaces};
    for (std::size_t w = 0; w < n_workers; ++w) workspaces.push_back(acquire_workspace());
    parallel_for(n_queries, n_threads, 1, [&](std::size_t begin, std::size_t end, std::size_t worker) {
        for (std::size_t b = begin; b < end; ++b) results[b] = query(b, *workspaces[worker]);
    });
    return results;
}

std::vector<PathResult> AtlasGraph::shortest_paths(VectorView<std::int64_t> sources, VectorView<std::int64_t> targets,
                                                   SearchMethod method, std::size_t n_threads,
                                                   bool raise_unreachable) const {
    std::shared_lock<std::shared_mutex> lock(state_mutex_);
    check_searchable(method);
    if (sources.size != targets.size) {
        throw std::invalid_argument("sources and targets must have the same length; got " +
                                    std::to_string(sources.size) + " and " + std::to_string(targets.size));
    }
    for (std::size_t b = 0; b < sources.size; ++b) {
        check_node(sources[b], "sources");
        check_node(targets[b], "targets");
    }
    if (raise_unreachable) {
        for (std::size_t b = 0; b < sources.size; ++b) {
            if (component_[sources[b]] != component_[targets[b]]) {
                throw UnreachableError(unreachable_message(sources[b], targets[b]));
            }
        }
    }
    const CsrView csr = csr_view();
    const double zero = 0.0;
    return run_batch(sources.size, n_threads, [&](std::size_t b, SearchWorkspace& ws) -> PathResult {
        const std::int64_t s = sources[b];
        const std::int64_t t = targets[b];
        if (component_[s] != component_[t]) return PathResult{{}, inf};
        if (s == t) return PathResult{{s}, 0.0};
        const Endpoints endpoints{{&sources[b], 1}, {&zero, 1}, {&targets[b], 1}, {&zero, 1}};
        if (method == SearchMethod::dijkstra) return ws.run(csr, Heuristic<double>{}, endpoints);
        if (positions_.is_double()) {
            const auto p = positions_.view<double>();
            return ws.run(csr, make_heuristic(positions_, MatrixView<double>{p.row(t), 1, p.cols}), endpoints);
        }
        const auto p = positions_.view<float>();
        return ws.run(csr, make_heuristic(positions_, MatrixView<float>{p.row(t), 1, p.cols}), endpoints);
    });
}

PathResult AtlasGraph::shortest_path(std::int64_t source, std::int64_t target, SearchMethod method) const {
    check_node(source, "source");
    check_node(target, "target");
    auto results = shortest_paths({&source, 1}, {&target, 1}, method, 1, true);
    return std::move(results[0]);
}

template <class T>
std::vector<PathResult> AtlasGraph::search_many(const EndpointBatch<T>& batch, SearchMethod method,
                                                std::size_t n_threads, bool raise_unreachable) const {
    std::shared_lock<std::shared_mutex> lock(state_mutex_);
    check_searchable(method);
    const bool astar = method == SearchMethod::astar;
    if (astar && positions_.is_double() != std::is_same_v<T, double>) {
        throw std::invalid_argument("goals must have the positions' dtype");
    }
    const std::size_t n_queries = batch.source_offsets.size == 0 ? 0 : batch.source_offsets.size - 1;
    auto check_offsets = [&](VectorView<std::int64_t> offsets, std::size_t n_items, const char* name) {
        if (offsets.size != n_queries + 1) {
            throw std::invalid_argument(std::string(name) + " must have B + 1 = " + std::to_string(n_queries + 1) +
                                        " entries like source_offsets; got " + std::to_string(offsets.size));
        }
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
    };
    if (batch.source_offsets.size == 0) throw std::invalid_argument("source_offsets must have B + 1 >= 1 entries; got 0");
    check_offsets(batch.source_offsets, batch.source_nodes.size, "source_offsets");
    check_offsets(batch.target_offsets, batch.target_nodes.size, "target_offsets");
    if (batch.source_costs.size != batch.source_nodes.size || batch.target_costs.size != batch.target_nodes.size) {
        throw std::invalid_argument("source_costs / target_costs must match source_nodes / target_nodes in length");
    }
    if (astar) {
        if (batch.goal_offsets.data == nullptr) throw std::invalid_argument("method 'astar' needs goals");
        check_offsets(batch.goal_offsets, batch.goals.rows, "goal_offsets");
        if (batch.goals.cols != positions_.cols) {
            throw std::invalid_argument("goals must have D = " + std::to_string(positions_.cols) +
                                        " columns like the positions; got " + std::to_string(batch.goals.cols));
        }
    }
    for (const std::int64_t v : batch.source_nodes) check_node(v, "source_nodes");
    for (const std::int64_t v : batch.target_nodes) check_node(v, "target_nodes");
    for (const double c : batch.source_costs) {
        if (!(c >= 0.0) || c == inf) throw std::invalid_argument("source_costs must be finite and >= 0; got " + std::to_string(c));
    }
    for (const double c : batch.target_costs) {
        if (!(c >= 0.0) || c == inf) throw std::invalid_argument("target_costs must be finite and >= 0; got " + std::to_string(c));
    }
    auto slice = [](const auto& view, const VectorView<std::int64_t>& offsets, std::size_t b) {
        using V = std::decay_t<decltype(view)>;
        return V{view.data + offsets[b], static_cast<std::size_t>(offsets[b + 1] - offsets[b])};
    };
    std::vector<char> reachable(n_queries);
    for (std::size_t b = 0; b < n_queries; ++b) {
        std::set<std::int32_t> from, to;
        for (const std::int64_t v : slice(batch.source_nodes, batch.source_offsets, b)) from.insert(component_[v]);
        for (const std::int64_t v : slice(batch.target_nodes, batch.target_offsets, b)) to.insert(component_[v]);
        reachable[b] = std::any_of(from.begin(), from.end(), [&](std::int32_t c) { return to.count(c) > 0; });
        if (!reachable[b] && raise_unreachable) {
            throw UnreachableError("source nodes (components " + describe_components(from, component_sizes_) +
                                   ") and target nodes (components " + describe_components(to, component_sizes_) +
                                   ") are in different connected components");
        }
    }
    const CsrView csr = csr_view();
    return run_batch(n_queries, n_threads, [&](std::size_t b, SearchWorkspace& ws) -> PathResult {
        if (!reachable[b]) return PathResult{{}, inf};
        const Endpoints endpoints{slice(batch.source_nodes, batch.source_offsets, b),
                                  slice(batch.source_costs, batch.source_offsets, b),
                                  slice(batch.target_nodes, batch.target_offsets, b),
                                  slice(batch.target_costs, batch.target_offsets, b)};
        if (!astar) return ws.run(csr, Heuristic<double>{}, endpoints);
        const auto rows = static_cast<std::size_t>(batch.goal_offsets[b + 1] - batch.goal_offsets[b]);
        const MatrixView<T> goals{batch.goals.row(static_cast<std::size_t>(batch.goal_offsets[b])), rows,
                                  batch.goals.cols};
        return ws.run(csr, make_heuristic(positions_, goals), endpoints);
    });
}

template std::vector<PathResult> AtlasGraph::search_many<float>(const EndpointBatch<float>&, SearchMethod,
                                                                std::size_t, bool) const;
template std::vector<PathResult> AtlasGraph::search_many<double>(const EndpointBatch<double>&, SearchMethod,
                                                                 std::size_t, bool) const;

void AtlasGraph::single_source(std::int64_t source, double* dist, std::int64_t* pred) const {
    std::shared_lock<std::shared_mutex> lock(state_mutex_);
    check_searchable(SearchMethod::dijkstra);
    check_node(source, "source");
    single_source_dijkstra(csr_view(), static_cast<std::size_t>(source), dist, pred);
}

}  // namespace agm
