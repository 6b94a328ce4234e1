// Two bounded Dijkstras over hash maps: from the source's attachments within the limit (a ball), then from the
// target's only through nodes of that ball with ds + dt <= limit (the ellipse). O(visited log visited), never
// O(n_nodes): a query on a million-node graph pays for its own neighbourhood only.
#include "agm/ellipse.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

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

// Distances <= limit from a virtual node joined to `nodes` at `costs`; with `other` (the distances from the other
// end), only nodes v with d(v) + other(v) <= limit are reached (the rest cannot be on a route within the limit).
Dist bounded(const AtlasGraph& graph, WeightsView w, VectorView<std::int64_t> nodes, VectorView<double> costs,
             double limit, const Dist* other) {
    const std::int64_t* indptr = graph.csr_indptr().data();
    const std::int32_t* indices = graph.csr_indices().data();
    Dist dist;
    using Item = std::pair<double, std::int32_t>;
    std::priority_queue<Item, std::vector<Item>, std::greater<>> heap;
    auto relax = [&](std::int32_t v, double d) {
        if (d > limit) return;
        if (other != nullptr) {
            const auto it = other->find(v);
            if (it == other->end() || d + it->second > limit) return;
        }
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

}  // namespace

Ellipse ellipse(const AtlasGraph& graph, VectorView<std::int64_t> source_nodes, VectorView<double> source_costs,
                VectorView<std::int64_t> target_nodes, VectorView<double> target_costs, double limit) {
    check_ends(graph, source_nodes, source_costs, "source");
    check_ends(graph, target_nodes, target_costs, "target");
    if (!(limit >= 0.0) || !std::isfinite(limit)) throw std::invalid_argument("limit must be finite and >= 0");
    const auto weights = graph.values().csr_weights;  // one snapshot for both searches
    if (!weights) throw std::invalid_argument("the graph has no weights yet: call set_weights before searching");
    const WeightsView w = weights->view();
    const Dist ds = bounded(graph, w, source_nodes, source_costs, limit, nullptr);  // the ball around the source
    const Dist dt = bounded(graph, w, target_nodes, target_costs, limit, &ds);      // only inside the ellipse
    Ellipse out;
    for (const auto& [v, d] : dt) out.nodes.push_back(v);  // every node dt reached has ds + dt <= limit
    std::sort(out.nodes.begin(), out.nodes.end());
    std::unordered_map<std::int32_t, std::int64_t> local;
    local.reserve(out.nodes.size());
    for (std::size_t i = 0; i < out.nodes.size(); ++i) local.emplace(static_cast<std::int32_t>(out.nodes[i]), i);
    const std::int64_t* indptr = graph.csr_indptr().data();
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
