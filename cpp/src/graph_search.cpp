// AtlasGraph searches: endpoint checks, reachability by component labels, per-thread workspace pool, batches.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>

#include "agm/atlas_graph.hpp"
#include "agm/parallel.hpp"

namespace agm {

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr std::size_t scalar = std::numeric_limits<std::size_t>::max();  // check_node: not an array entry

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

void AtlasGraph::check_searchable(SearchMethod method, const Values& values) const {
    if (!values.csr_weights) {
        throw std::invalid_argument("the graph has no weights yet: call set_weights before searching");
    }
    if (method == SearchMethod::astar) {
        if (!values.positions) {
            throw std::invalid_argument("method 'astar' needs decoded positions: call set_positions first (or use "
                                        "method='dijkstra')");
        }
        check_consistent_heuristic(values);
    }
}

namespace {

template <class T>
double norm_of(const T* a, std::size_t dim) {
    double s = 0.0;
    for (std::size_t j = 0; j < dim; ++j) s += static_cast<double>(a[j]) * static_cast<double>(a[j]);
    return std::sqrt(s);
}

template <class T>
double distance_of(const T* a, const T* b, std::size_t dim) {
    double s = 0.0;
    for (std::size_t j = 0; j < dim; ++j) {
        const double diff = static_cast<double>(a[j]) - static_cast<double>(b[j]);
        s += diff * diff;
    }
    return std::sqrt(s);
}

// How far a cost falls below the scaled heuristic drop it must cover, beyond what rounding of T coordinates of
// these magnitudes explains (> 0: the A* heuristic is inconsistent there).
template <class T>
double heuristic_excess(double cost, double distance, double magnitude) {
    const double rounding = 8.0 * static_cast<double>(std::numeric_limits<T>::epsilon()) * magnitude;
    return heuristic_scale<T>() * distance - cost - rounding;
}

std::string format_g(double value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", value);
    return buf;
}

}  // namespace

namespace {

using Violation = AtlasGraph::HeuristicVerdict::Violation;

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
// h = scale * ||P - goal|| holds when w(u, v) >= scale * ||P[u] - P[v]||. Checked once per values block,
// O(n_edges * D), on its first A* search; update_weights carries the verdict over, re-checking only its edges.
void AtlasGraph::check_consistent_heuristic(const Values& values) const {
    HeuristicVerdict& verdict = *values.heuristic;
    std::lock_guard<std::mutex> lock(verdict.mutex);
    if (!verdict.computed) {
        const std::vector<double>& data = *values.csr_weights;
        const std::size_t dim = values.positions->cols;
        std::visit(
            [&](const auto& p) {
                csr_.for_each_edge([&](std::size_t e, const EdgeCsr::Slots& s) {
                    if (auto bad = violation_at(p, dim, e, s, data[s.slot_u])) verdict.violations.push_back(*bad);
                });
            },
            values.positions->data);
        verdict.computed = true;
    }
    if (!verdict.violations.empty()) throw std::invalid_argument(heuristic_message(verdict.violations, n_edges()));
}

std::shared_ptr<AtlasGraph::HeuristicVerdict> AtlasGraph::updated_verdict(
    const Values& next, const std::vector<std::int64_t>& ids, const std::vector<EdgeCsr::Slots>& slots) const {
    auto fresh = std::make_shared<HeuristicVerdict>();
    if (!next.heuristic || !next.positions) return fresh;
    std::lock_guard<std::mutex> lock(next.heuristic->mutex);
    if (!next.heuristic->computed) return fresh;
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
                changed[i] = ids[j];
                const auto e = static_cast<std::size_t>(ids[j]);
                if (auto bad = violation_at(p, dim, e, slots[j], (*next.csr_weights)[slots[j].slot_u])) {
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

void AtlasGraph::check_node(std::int64_t node, const char* what, std::size_t index) const {
    if (node < 0 || static_cast<std::size_t>(node) >= n_nodes()) {
        if (index == scalar) {
            throw std::out_of_range(std::string(what) + " must be a node id in [0, " + std::to_string(n_nodes()) +
                                    "); got " + std::to_string(node));
        }
        throw std::out_of_range(std::string(what) + " must hold node ids in [0, " + std::to_string(n_nodes()) +
                                "); got " + std::to_string(node) + " at index " + std::to_string(index));
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

CsrView AtlasGraph::csr_view(const Values& values) const {
    return CsrView{csr_.indptr().data(), csr_.indices().data(), values.csr_weights->data(), n_nodes()};
}

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
    // Keep at most one workspace per hardware thread: concurrent callers beyond that allocate and free their own.
    if (workspace_pool_.size() < hardware_threads()) workspace_pool_.push_back(std::move(workspace));
}

std::size_t AtlasGraph::workspace_bytes() const {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    return workspace_pool_.size() * SearchWorkspace::bytes_for(n_nodes());
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
    const Values values = this->values();  // one snapshot for the whole call
    check_searchable(method, values);
    if (sources.size != targets.size) {
        throw std::invalid_argument("sources and targets must have the same length; got " +
                                    std::to_string(sources.size) + " and " + std::to_string(targets.size));
    }
    for (std::size_t b = 0; b < sources.size; ++b) {
        check_node(sources[b], "sources", b);
        check_node(targets[b], "targets", b);
    }
    if (raise_unreachable) {
        for (std::size_t b = 0; b < sources.size; ++b) {
            if (component_[sources[b]] != component_[targets[b]]) {
                throw UnreachableError(unreachable_message(sources[b], targets[b]));
            }
        }
    }
    const CsrView csr = csr_view(values);
    const double zero = 0.0;
    return run_batch(sources.size, n_threads, [&](std::size_t b, SearchWorkspace& ws) -> PathResult {
        const std::int64_t s = sources[b];
        const std::int64_t t = targets[b];
        if (component_[s] != component_[t]) return PathResult{{}, inf};
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

PathResult AtlasGraph::shortest_path(std::int64_t source, std::int64_t target, SearchMethod method) const {
    check_node(source, "source", scalar);
    check_node(target, "target", scalar);
    auto results = shortest_paths({&source, 1}, {&target, 1}, method, 1, true);
    return std::move(results[0]);
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
std::vector<PathResult> AtlasGraph::search_many(const EndpointBatch<T>& batch, SearchMethod method,
                                                std::size_t n_threads, bool raise_unreachable) const {
    const Values values = this->values();  // one snapshot for the whole call
    check_searchable(method, values);
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
        if (batch.goals.cols != values.positions->cols) {
            throw std::invalid_argument("goals must have D = " + std::to_string(values.positions->cols) +
                                        " columns like the positions; got " + std::to_string(batch.goals.cols));
        }
    }
    for (std::size_t i = 0; i < batch.source_nodes.size; ++i) check_node(batch.source_nodes[i], "source_nodes", i);
    for (std::size_t i = 0; i < batch.target_nodes.size; ++i) check_node(batch.target_nodes[i], "target_nodes", i);
    auto check_costs = [](VectorView<double> costs, const char* name) {
        for (std::size_t i = 0; i < costs.size; ++i) {
            if (!(costs[i] >= 0.0) || costs[i] == inf) {
                throw std::invalid_argument(std::string(name) + " must be finite and >= 0; got " +
                                            std::to_string(costs[i]) + " at index " + std::to_string(i));
            }
        }
    };
    check_costs(batch.source_costs, "source_costs");
    check_costs(batch.target_costs, "target_costs");
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
    if (astar) check_target_costs(batch, *values.positions);
    const CsrView csr = csr_view(values);
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
        return ws.run(csr, make_heuristic(*values.positions, goals), endpoints);
    });
}

template std::vector<PathResult> AtlasGraph::search_many<float>(const EndpointBatch<float>&, SearchMethod,
                                                                std::size_t, bool) const;
template std::vector<PathResult> AtlasGraph::search_many<double>(const EndpointBatch<double>&, SearchMethod,
                                                                 std::size_t, bool) const;

void AtlasGraph::single_source(std::int64_t source, double* dist, std::int64_t* pred) const {
    const Values values = this->values();
    check_searchable(SearchMethod::dijkstra, values);
    check_node(source, "source", scalar);
    single_source_dijkstra(csr_view(values), static_cast<std::size_t>(source), dist, pred);
}

}  // namespace agm
