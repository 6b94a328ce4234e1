// A* with lazy deletion and reopening (Dijkstra when the heuristic is 0), and one-to-all Dijkstra.
//
// Correctness with a slightly inconsistent heuristic: positions may be float32 and weights come from float32
// computations, so ||P[u] - P[v]|| can exceed w(u, v) by rounding. Two guards keep the result exact:
//  * a node whose g improves is pushed again even if it was already expanded (reopening), so an admissible but
//    inconsistent h still yields an optimal path when the target is popped;
//  * h is scaled by heuristic_scale<T>() < 1, so rounding up to that relative size cannot make h inadmissible.
#include "agm/search.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "agm/euclidean.hpp"

namespace agm {

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

}  // namespace

SearchWorkspace::SearchWorkspace(std::size_t n_nodes)
    : n_nodes_(n_nodes), state_(n_nodes + 1, NodeState{0.0, 0.0, -1, 0, 0, 0}), target_cost_(n_nodes + 1) {}

void SearchWorkspace::new_epoch() {
    ++epoch_;
    if (epoch_ == 0) {  // wrapped around: clear stale stamps once every 2^32 queries
        for (auto& s : state_) s.stamp = s.target_stamp = 0;
        epoch_ = 1;
    }
    heap_.clear();
}

template <class T>
double SearchWorkspace::h_of(const Heuristic<T>& heuristic, std::size_t v) const {
    if (heuristic.positions.data == nullptr || v == n_nodes_) return 0.0;
    const T* p = heuristic.positions.row(v);
    double best = inf;
    for (std::size_t g = 0; g < heuristic.goals.rows; ++g) {
        best = std::min(best, distance_of(p, heuristic.goals.row(g), heuristic.positions.cols));
    }
    return heuristic.scale * best;
}

// Min-heap on f; among equal f the larger g (deeper node) first, which helps tight heuristics.
void SearchWorkspace::push(std::int32_t node, double g, double f) {
    heap_.push_back(HeapEntry{f, g, node});
    std::push_heap(heap_.begin(), heap_.end(), [](const HeapEntry& a, const HeapEntry& b) {
        return a.f > b.f || (a.f == b.f && a.g < b.g);
    });
}

SearchWorkspace::HeapEntry SearchWorkspace::pop() {
    std::pop_heap(heap_.begin(), heap_.end(), [](const HeapEntry& a, const HeapEntry& b) {
        return a.f > b.f || (a.f == b.f && a.g < b.g);
    });
    const HeapEntry top = heap_.back();
    heap_.pop_back();
    return top;
}

template <class T>
PathResult SearchWorkspace::run(const CsrView& graph, const Heuristic<T>& heuristic, const Endpoints& endpoints) {
    new_epoch();
    const std::uint32_t epoch = epoch_;
    const auto target = static_cast<std::int32_t>(n_nodes_);

    auto relax = [&](std::int32_t v, double g, std::int32_t parent) {
        NodeState& st = state_[v];
        if (st.stamp != epoch) {
            st.stamp = epoch;
            st.h = h_of(heuristic, static_cast<std::size_t>(v));
        } else if (!(g < st.g)) {
            return;
        }
        st.g = g;
        st.parent = parent;
        push(v, g, g + st.h);
    };

    for (std::size_t j = 0; j < endpoints.target_nodes.size; ++j) {
        const auto v = static_cast<std::size_t>(endpoints.target_nodes[j]);
        const double c = endpoints.target_costs[j];
        if (state_[v].target_stamp != epoch) {
            state_[v].target_stamp = epoch;
            target_cost_[v] = c;
        } else {
            target_cost_[v] = std::min(target_cost_[v], c);
        }
    }
    for (std::size_t i = 0; i < endpoints.source_nodes.size; ++i) {
        relax(static_cast<std::int32_t>(endpoints.source_nodes[i]), endpoints.source_costs[i], -1);
    }

    while (!heap_.empty()) {
        const HeapEntry top = pop();
        const std::int32_t v = top.node;
        const NodeState& st = state_[v];
        if (top.g > st.g) continue;  // stale entry (lazy deletion)
        if (v == target) {
            PathResult result;
            result.cost = st.g;
            for (std::int32_t u = st.parent; u != -1; u = state_[u].parent) {
                result.path.push_back(u);
                if (result.path.size() > n_nodes_) throw std::logic_error("A*: parent pointers form a cycle");
            }
            std::reverse(result.path.begin(), result.path.end());
            return result;
        }
        const double gv = st.g;
        if (st.target_stamp == epoch) relax(target, gv + target_cost_[v], v);
        const std::int64_t end = graph.indptr[v + 1];
        for (std::int64_t e = graph.indptr[v]; e < end; ++e) {
            relax(graph.indices[e], gv + graph.weights[e], v);
        }
    }
    return PathResult{{}, inf};
}

template PathResult SearchWorkspace::run<float>(const CsrView&, const Heuristic<float>&, const Endpoints&);
template PathResult SearchWorkspace::run<double>(const CsrView&, const Heuristic<double>&, const Endpoints&);

void single_source_dijkstra(const CsrView& graph, std::size_t source, double* dist, std::int64_t* pred) {
    std::fill(dist, dist + graph.n_nodes, inf);
    std::fill(pred, pred + graph.n_nodes, std::int64_t{-1});
    using Entry = std::pair<double, std::int32_t>;
    std::vector<Entry> heap;
    auto later = [](const Entry& a, const Entry& b) { return a.first > b.first; };
    dist[source] = 0.0;
    heap.emplace_back(0.0, static_cast<std::int32_t>(source));
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), later);
        const auto [d, v] = heap.back();
        heap.pop_back();
        if (d > dist[v]) continue;
        for (std::int64_t e = graph.indptr[v]; e < graph.indptr[v + 1]; ++e) {
            const std::int32_t u = graph.indices[e];
            const double du = d + graph.weights[e];
            if (du < dist[u]) {
                dist[u] = du;
                pred[u] = v;
                heap.emplace_back(du, u);
                std::push_heap(heap.begin(), heap.end(), later);
            }
        }
    }
}

}  // namespace agm
