// Two bounded Dijkstras over hash maps: from the source's attachments within the limit (a ball), then from the
// target's only through nodes of that ball with ds + dt <= limit (the ellipse). O(visited log visited), never
// O(n_nodes): a query on a million-node graph pays for its own neighbourhood only.
#include "agm/ellipse.hpp"

#include "agm/euclidean.hpp"
#include "agm/heuristic_check.hpp"
#include "agm/search.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <limits>
#include <type_traits>
#include <variant>

namespace agm {

namespace {

using Dist = std::unordered_map<std::int32_t, double>;

void check_ends(const AtlasGraph& graph, VectorView<std::int64_t> nodes, VectorView<double> costs, const char* side) {
    if (nodes.size != costs.size) {
        throw std::invalid_argument(std::string(side) + "_costs must have the length of " + side + "_nodes");
    }
    for (std::size_t i = 0; i < nodes.size; ++i) {
        if (nodes[i] < 0 || static_cast<std::size_t>(nodes[i]) >= graph.n_nodes()) {
            throw std::out_of_range(std::string(side) + "_nodes[" + std::to_string(i) + "] = " +
                                    std::to_string(nodes[i]) + " is outside [0, " + std::to_string(graph.n_nodes()) +
                                    ")");
        }
        if (!(costs[i] >= 0.0) || !std::isfinite(costs[i])) {
            throw std::invalid_argument(std::string(side) + "_costs must be finite and >= 0");
        }
    }
}

// Distances <= limit from a virtual node joined to `nodes` at `costs`; only nodes v with d(v) + rest(v) <= limit
// are reached, rest(v) a lower bound of the distance from v to the other end (the rest cannot be on a route
// within the limit).
template <class Rest>
Dist bounded(const AtlasGraph& graph, WeightsView w, VectorView<std::int64_t> nodes, VectorView<double> costs,
             double limit, Rest&& rest) {
    const std::int32_t* indptr = graph.csr_indptr().data();
    const std::int32_t* indices = graph.csr_indices().data();
    Dist dist;
    using Item = std::pair<double, std::int32_t>;
    std::priority_queue<Item, std::vector<Item>, std::greater<>> heap;
    auto relax = [&](std::int32_t v, double d) {
        if (d > limit || d + rest(v) > limit) return;
        auto [it, fresh] = dist.try_emplace(v, d);
        if (!fresh) {
            if (!(d < it->second)) return;
            it->second = d;
        }
        heap.emplace(d, v);
    };
    for (std::size_t i = 0; i < nodes.size; ++i) relax(static_cast<std::int32_t>(nodes[i]), costs[i]);
    while (!heap.empty()) {
        const auto [d, u] = heap.top();
        heap.pop();
        if (d > dist.at(u)) continue;  // stale
        for (std::int64_t e = indptr[u]; e < indptr[u + 1]; ++e) relax(indices[e], d + w[static_cast<std::size_t>(e)]);
    }
    return dist;
}

// The A* heuristic toward `goal` as a lower bound of the distance to the target, where A*'s preconditions hold on
// this snapshot (positions, a verdict without violations, target costs >= the heuristic at their nodes); else
// nothing (0 everywhere).
template <class T>
std::vector<T> usable_goal(const AtlasGraph& graph, const GraphValues& values, VectorView<std::int64_t> target_nodes,
                           VectorView<double> target_costs, VectorView<double> goal) {
    const FloatMatrix& p = *values.positions;
    if (goal.size != p.cols || heuristic_violations(graph.edge_csr(), values, 0) != 0) return {};
    std::vector<T> g(goal.begin(), goal.end());
    const MatrixView<T> pos = p.view<T>();
    for (std::size_t j = 0; j < target_nodes.size; ++j) {
        const T* pt = pos.row(static_cast<std::size_t>(target_nodes[j]));
        const double magnitude = norm_of(pt, p.cols) + norm_of(g.data(), p.cols);
        if (heuristic_excess<T>(target_costs[j], distance_of(pt, g.data(), p.cols), magnitude) > 0.0) return {};
    }
    return g;
}

}  // namespace

Ellipse ellipse(const AtlasGraph& graph, VectorView<std::int64_t> source_nodes, VectorView<double> source_costs,
                VectorView<std::int64_t> target_nodes, VectorView<double> target_costs, double limit,
                VectorView<double> goal) {
    check_ends(graph, source_nodes, source_costs, "source");
    check_ends(graph, target_nodes, target_costs, "target");
    if (!(limit >= 0.0) || !std::isfinite(limit)) throw std::invalid_argument("limit must be finite and >= 0");
    const auto values = graph.values();  // one snapshot for both searches
    if (!values.csr_weights) throw std::invalid_argument("the graph has no weights yet: call set_weights before searching");
    const WeightsView w = values.csr_weights->view();
    Dist ds;  // from the source; pruned by the A* heuristic toward the target where it is a valid bound
    if (values.positions) {
        std::visit(
            [&](const auto& data) {
                using T = typename std::decay_t<decltype(data)>::value_type;
                const std::vector<T> g = usable_goal<T>(graph, values, target_nodes, target_costs, goal);
                const MatrixView<T> pos = values.positions->view<T>();
                const std::size_t dim = values.positions->cols;
                if (g.empty()) {
                    ds = bounded(graph, w, source_nodes, source_costs, limit, [](std::int32_t) { return 0.0; });
                } else {
                    ds = bounded(graph, w, source_nodes, source_costs, limit, [&](std::int32_t v) {
                        return heuristic_scale<T>() * distance_of(pos.row(static_cast<std::size_t>(v)), g.data(), dim);
                    });
                }
            },
            values.positions->data);
    } else {
        ds = bounded(graph, w, source_nodes, source_costs, limit, [](std::int32_t) { return 0.0; });
    }
    const Dist dt = bounded(graph, w, target_nodes, target_costs, limit, [&](std::int32_t v) {  // inside the ellipse
        const auto it = ds.find(v);
        return it == ds.end() ? std::numeric_limits<double>::infinity() : it->second;
    });
    Ellipse out;
    for (const auto& [v, d] : dt) out.nodes.push_back(v);  // every node dt reached has ds + dt <= limit
    std::sort(out.nodes.begin(), out.nodes.end());
    std::unordered_map<std::int32_t, std::int64_t> local;
    local.reserve(out.nodes.size());
    for (std::size_t i = 0; i < out.nodes.size(); ++i) local.emplace(static_cast<std::int32_t>(out.nodes[i]), i);
    const std::int32_t* indptr = graph.csr_indptr().data();
    const std::int32_t* indices = graph.csr_indices().data();
    for (std::size_t i = 0; i < out.nodes.size(); ++i) {
        const auto u = static_cast<std::size_t>(out.nodes[i]);
        for (std::int64_t e = indptr[u]; e < indptr[u + 1]; ++e) {
            const auto it = local.find(indices[e]);
            if (it == local.end()) continue;
            out.tails.push_back(static_cast<std::int64_t>(i));
            out.heads.push_back(it->second);
            out.weights.push_back(w[static_cast<std::size_t>(e)]);
        }
    }
    return out;
}

}  // namespace agm
