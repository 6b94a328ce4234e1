// Searches as free functions over (structure, values snapshot): endpoint checks, reachability by component
// labels, the A* preconditions, the workspace pool and batches over threads (see graph_search.hpp).
#include "agm/graph_search.hpp"

#include <algorithm>
#include <limits>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "agm/endpoint_checks.hpp"
#include "agm/heuristic_check.hpp"
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

void check_searchable(const EdgeCsr& csr, SearchMethod method, const GraphValues& values) {
    if (!values.csr_weights) {
        throw std::invalid_argument("the graph has no weights yet: call set_weights before searching");
    }
    if (method == SearchMethod::astar) {
        if (!values.positions) {
            throw std::invalid_argument("method 'astar' needs decoded positions: call set_positions first (or use "
                                        "method='dijkstra')");
        }
        check_consistent_heuristic(csr, values);
    }
}

std::string unreachable_message(const GraphStructure& g, std::int64_t source, std::int64_t target) {
    const std::int32_t a = g.component[source];
    const std::int32_t b = g.component[target];
    return "source node " + std::to_string(source) + " (component " + std::to_string(a) + ", size " +
           std::to_string(g.component_sizes[a]) + ") and target node " + std::to_string(target) + " (component " +
           std::to_string(b) + ", size " + std::to_string(g.component_sizes[b]) +
           ") are in different connected components";
}

CsrView csr_view(const GraphStructure& g, const GraphValues& values) {
    return CsrView{g.csr.indptr().data(), g.csr.indices().data(), values.csr_weights->view(), g.n_nodes()};
}

template <class Query>
std::vector<PathResult> run_batch(WorkspacePool& pool, std::size_t n_queries, std::size_t n_threads, Query&& query) {
    std::vector<PathResult> results(n_queries);
    const std::size_t n_workers = parallel_workers(n_queries, n_threads, 1);
    std::vector<std::unique_ptr<SearchWorkspace>> workspaces;
    struct Returner {  // gives the workspaces back to the pool even when a query throws
        WorkspacePool& pool;
        std::vector<std::unique_ptr<SearchWorkspace>>& list;
        ~Returner() {
            for (auto& w : list) pool.release(std::move(w));
        }
    } returner{pool, workspaces};
    for (std::size_t w = 0; w < n_workers; ++w) workspaces.push_back(pool.acquire());
    parallel_for(n_queries, n_threads, 1, [&](std::size_t begin, std::size_t end, std::size_t worker) {
        for (std::size_t b = begin; b < end; ++b) results[b] = query(b, *workspaces[worker]);
    });
    return results;
}

}  // namespace

SearchMethod parse_search_method(const std::string& method) {
    if (method == "astar") return SearchMethod::astar;
    if (method == "dijkstra") return SearchMethod::dijkstra;
    throw std::invalid_argument("method must be 'astar' or 'dijkstra'; got '" + method + "'");
}

std::unique_ptr<SearchWorkspace> WorkspacePool::acquire() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!pool_.empty()) {
            auto workspace = std::move(pool_.back());
            pool_.pop_back();
            return workspace;
        }
    }
    return std::make_unique<SearchWorkspace>(n_nodes_);
}

void WorkspacePool::release(std::unique_ptr<SearchWorkspace> workspace) {
    std::lock_guard<std::mutex> lock(mutex_);
    // Keep at most one workspace per hardware thread: concurrent callers beyond that allocate and free their own.
    if (pool_.size() < hardware_threads()) pool_.push_back(std::move(workspace));
}

std::size_t WorkspacePool::bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return pool_.size() * SearchWorkspace::bytes_for(n_nodes_);
}

void check_node(const GraphStructure& g, std::int64_t node, const char* what, std::size_t index) {
    const std::size_t n = g.n_nodes();
    if (node < 0 || static_cast<std::size_t>(node) >= n) {
        if (index == not_an_entry) {
            throw std::out_of_range(std::string(what) + " must be a node id in [0, " + std::to_string(n) + "); got " +
                                    std::to_string(node));
        }
        throw std::out_of_range(std::string(what) + " must hold node ids in [0, " + std::to_string(n) + "); got " +
                                std::to_string(node) + " at index " + std::to_string(index));
    }
}


std::vector<PathResult> search_pairs(const GraphStructure& g, const GraphValues& values, WorkspacePool& pool,
                                     VectorView<std::int64_t> sources, VectorView<std::int64_t> targets,
                                     SearchMethod method, std::size_t n_threads, bool raise_unreachable) {
    check_searchable(g.csr, method, values);
    if (sources.size != targets.size) {
        throw std::invalid_argument("sources and targets must have the same length; got " +
                                    std::to_string(sources.size) + " and " + std::to_string(targets.size));
    }
    for (std::size_t b = 0; b < sources.size; ++b) {
        check_node(g, sources[b], "sources", b);
        check_node(g, targets[b], "targets", b);
    }
    if (raise_unreachable) {
        for (std::size_t b = 0; b < sources.size; ++b) {
            if (g.component[sources[b]] != g.component[targets[b]]) {
                throw UnreachableError(unreachable_message(g, sources[b], targets[b]));
            }
        }
    }
    const CsrView csr = csr_view(g, values);
    const double zero = 0.0;
    return run_batch(pool, sources.size, n_threads, [&](std::size_t b, SearchWorkspace& ws) -> PathResult {
        const std::int64_t s = sources[b];
        const std::int64_t t = targets[b];
        if (g.component[s] != g.component[t]) return PathResult{{}, inf};
        if (s == t) return PathResult{{s}, 0.0};
        const Endpoints endpoints{{&sources[b], 1}, {&zero, 1}, {&targets[b], 1}, {&zero, 1}};
        if (method == SearchMethod::dijkstra) return ws.run(csr, Heuristic<double>{}, endpoints);
        const FloatMatrix& positions = *values.positions;
        if (positions.is_double()) {
            const auto p = positions.view<double>();
            return ws.run(csr, make_heuristic(positions, MatrixView<double>{p.row(t), 1, p.cols}), endpoints);
        }
        const auto p = positions.view<float>();
        return ws.run(csr, make_heuristic(positions, MatrixView<float>{p.row(t), 1, p.cols}), endpoints);
    });
}

namespace {

// The virtual target's edge from target_nodes[j] must cover the heuristic there, target_costs[j] >=
// scale * min_g ||P[target_nodes[j]] - goals[g]|| (the goals of j's query), or A* is inconsistent at it.
template <class T>
void check_target_costs(const EndpointBatch<T>& batch, const FloatMatrix& positions) {
    const auto p = positions.view<T>();
    const std::size_t n_queries = batch.source_offsets.size - 1;
    for (std::size_t b = 0; b < n_queries; ++b) {
        const auto g0 = static_cast<std::size_t>(batch.goal_offsets[b]);
        const auto g1 = static_cast<std::size_t>(batch.goal_offsets[b + 1]);
        for (auto j = static_cast<std::size_t>(batch.target_offsets[b]);
             j < static_cast<std::size_t>(batch.target_offsets[b + 1]); ++j) {
            const T* pv = p.row(static_cast<std::size_t>(batch.target_nodes[j]));
            double d = inf;
            std::size_t nearest = g0;
            for (std::size_t g = g0; g < g1; ++g) {
                const double dg = distance_of(pv, batch.goals.row(g), p.cols);
                if (dg < d) {
                    d = dg;
                    nearest = g;
                }
            }
            const double magnitude = norm_of(pv, p.cols) + norm_of(batch.goals.row(nearest), p.cols);
            if (heuristic_excess<T>(batch.target_costs[j], d, magnitude) > 0.0) {
                throw std::invalid_argument(
                    "method 'astar' needs target_costs[j] >= ||P[target_nodes[j]] - goal|| (a consistent "
                    "heuristic); got target_costs[" + std::to_string(j) + "] = " + format_g(batch.target_costs[j]) +
                    " < " + format_g(d) + " (target node " + std::to_string(batch.target_nodes[j]) + ", query " +
                    std::to_string(b) + "): fix the costs or goals, or use method='dijkstra'");
            }
        }
    }
}

}  // namespace


template <class T>
std::vector<PathResult> search_endpoints(const GraphStructure& g, const GraphValues& values, WorkspacePool& pool,
                                         const EndpointBatch<T>& batch, SearchMethod method, std::size_t n_threads,
                                         bool raise_unreachable) {
    check_searchable(g.csr, method, values);
    const bool astar = method == SearchMethod::astar;
    if (astar && values.positions->is_double() != std::is_same_v<T, double>) {
        // The bindings check the goals' dtype; this guards set_positions changing the dtype during the call.
        throw std::invalid_argument(std::string("the positions are now ") +
                                    (values.positions->is_double() ? "float64" : "float32") +
                                    ": set_positions changed their dtype during the search; pass goals of that dtype");
    }
    const std::size_t n_queries = batch.source_offsets.size == 0 ? 0 : batch.source_offsets.size - 1;
    auto check_offsets = [&](VectorView<std::int64_t> offsets, std::size_t n_items, const char* name) {
        if (offsets.size != n_queries + 1) {
            throw std::invalid_argument(std::string(name) + " must have B + 1 = " + std::to_string(n_queries + 1) +
                                        " entries like source_offsets; got " + std::to_string(offsets.size));
        }
        check_ragged_offsets(offsets, n_items, name);
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
        if (batch.goals.cols != values.positions->cols) {
            throw std::invalid_argument("goals must have D = " + std::to_string(values.positions->cols) +
                                        " columns like the positions; got " + std::to_string(batch.goals.cols));
        }
    }
    check_endpoint_nodes(batch.source_nodes, g.n_nodes(), "source_nodes");
    check_endpoint_nodes(batch.target_nodes, g.n_nodes(), "target_nodes");
    check_endpoint_costs(batch.source_costs, "source_costs");
    check_endpoint_costs(batch.target_costs, "target_costs");
    auto slice = [](const auto& view, const VectorView<std::int64_t>& offsets, std::size_t b) {
        using V = std::decay_t<decltype(view)>;
        return V{view.data + offsets[b], static_cast<std::size_t>(offsets[b + 1] - offsets[b])};
    };
    std::vector<char> reachable(n_queries);
    for (std::size_t b = 0; b < n_queries; ++b) {
        std::set<std::int32_t> from, to;
        for (const std::int64_t v : slice(batch.source_nodes, batch.source_offsets, b)) from.insert(g.component[v]);
        for (const std::int64_t v : slice(batch.target_nodes, batch.target_offsets, b)) to.insert(g.component[v]);
        reachable[b] = std::any_of(from.begin(), from.end(), [&](std::int32_t c) { return to.count(c) > 0; });
        if (!reachable[b] && raise_unreachable) {
            throw UnreachableError("source nodes (components " + describe_components(from, g.component_sizes) +
                                   ") and target nodes (components " + describe_components(to, g.component_sizes) +
                                   ") are in different connected components");
        }
    }
    if (astar) check_target_costs(batch, *values.positions);
    const CsrView csr = csr_view(g, values);
    return run_batch(pool, n_queries, n_threads, [&](std::size_t b, SearchWorkspace& ws) -> PathResult {
        if (!reachable[b]) return PathResult{{}, inf};
        const Endpoints endpoints{slice(batch.source_nodes, batch.source_offsets, b),
                                  slice(batch.source_costs, batch.source_offsets, b),
                                  slice(batch.target_nodes, batch.target_offsets, b),
                                  slice(batch.target_costs, batch.target_offsets, b)};
        if (!astar) return ws.run(csr, Heuristic<double>{}, endpoints);
        const auto rows = static_cast<std::size_t>(batch.goal_offsets[b + 1] - batch.goal_offsets[b]);
        const MatrixView<T> goals{batch.goals.row(static_cast<std::size_t>(batch.goal_offsets[b])), rows,
                                  batch.goals.cols};
        return ws.run(csr, make_heuristic(*values.positions, goals), endpoints);
    });
}

template std::vector<PathResult> search_endpoints<float>(const GraphStructure&, const GraphValues&, WorkspacePool&,
                                                         const EndpointBatch<float>&, SearchMethod, std::size_t,
                                                         bool);
template std::vector<PathResult> search_endpoints<double>(const GraphStructure&, const GraphValues&, WorkspacePool&,
                                                          const EndpointBatch<double>&, SearchMethod, std::size_t,
                                                          bool);



void search_single_source(const GraphStructure& g, const GraphValues& values, std::int64_t source, double* dist,
                          std::int64_t* pred) {
    check_searchable(g.csr, SearchMethod::dijkstra, values);
    check_node(g, source, "source", not_an_entry);
    single_source_dijkstra(csr_view(g, values), static_cast<std::size_t>(source), dist, pred);
}

}  // namespace agm
