// AtlasGraph statistics: exact hop diameter (bounding-eccentricities BFS), Table-1 stats, memory footprint.
//
// diameter_hops is exact but avoids a BFS from every node (O(N * E)): it keeps, for every node w, bounds
// lower[w] <= ecc(w) <= upper[w] derived from each BFS from v (ecc(v) - d(v,w) <= ecc(w) <= ecc(v) + d(v,w),
// and ecc(w) >= d(v,w)), and drops w once upper[w] <= the largest eccentricity found so far. When no node is
// left every eccentricity is bounded by that maximum, which is attained: it is the diameter (Takes & Kosters,
// "Determining the diameter of small world networks", 2011, without their second pruning rule). Each round
// runs a few BFS in parallel, alternating the candidates with the largest upper and smallest lower bound.
#include <algorithm>
#include <limits>
#include <numeric>

#include "agm/atlas_graph.hpp"
#include "agm/parallel.hpp"

namespace agm {

namespace {

struct BfsResult {
    std::int32_t source;
    std::int32_t eccentricity;
    std::vector<std::int32_t> order;  // visited nodes
};

// BFS over the CSR structure; `dist` must be all -1 on entry and holds the hop distances of `order` on exit.
void bfs(const std::vector<std::int64_t>& indptr, const std::vector<std::int32_t>& indices, std::int32_t source,
         std::vector<std::int32_t>& dist, BfsResult& out) {
    out.source = source;
    out.order.clear();
    out.order.push_back(source);
    dist[source] = 0;
    for (std::size_t head = 0; head < out.order.size(); ++head) {
        const std::int32_t v = out.order[head];
        for (std::int64_t e = indptr[v]; e < indptr[v + 1]; ++e) {
            const std::int32_t u = indices[e];
            if (dist[u] < 0) {
                dist[u] = dist[v] + 1;
                out.order.push_back(u);
            }
        }
    }
    out.eccentricity = dist[out.order.back()];
}

}  // namespace

std::int64_t AtlasGraph::diameter_hops(std::size_t n_threads) const {
    {
        std::lock_guard<std::mutex> lock(cache_mutex_);
        if (diameter_) return *diameter_;
    }
    const std::size_t n = n_nodes();
    constexpr std::int32_t unknown = std::numeric_limits<std::int32_t>::max();
    std::vector<std::int32_t> lower(n, 0), upper(n, unknown), alive(n);
    std::iota(alive.begin(), alive.end(), 0);
    // At most one BFS per thread (clamped to the cores) and never more than there are nodes.
    const std::size_t per_round = std::max<std::size_t>(1, std::min(std::max<std::size_t>(2, resolve_threads(n_threads)), n));
    std::vector<std::vector<std::int32_t>> dist(per_round, std::vector<std::int32_t>(n, -1));
    std::vector<BfsResult> runs(per_round);
    std::int32_t best = 0;
    auto degree = [&](std::int32_t v) { return csr_indptr()[v + 1] - csr_indptr()[v]; };
    while (!alive.empty()) {
        std::vector<std::int32_t> picked;
        for (std::size_t r = 0; r < per_round && picked.size() < alive.size(); ++r) {
            auto better = [&](std::int32_t a, std::int32_t b) {  // is a a better pick than b?
                if (std::find(picked.begin(), picked.end(), b) != picked.end()) return true;
                if (std::find(picked.begin(), picked.end(), a) != picked.end()) return false;
                if (r % 2 == 0 && lower[a] != lower[b]) return lower[a] < lower[b];
                if (r % 2 == 1 && upper[a] != upper[b]) return upper[a] > upper[b];
                return degree(a) > degree(b);
            };
            std::int32_t choice = alive[0];
            for (const std::int32_t v : alive) {
                if (better(v, choice)) choice = v;
            }
            picked.push_back(choice);
        }
        parallel_for(picked.size(), n_threads, 1, [&](std::size_t begin, std::size_t end, std::size_t) {
            for (std::size_t i = begin; i < end; ++i) bfs(csr_indptr(), csr_indices(), picked[i], dist[i], runs[i]);
        });
        for (std::size_t i = 0; i < picked.size(); ++i) {
            const std::int32_t ecc = runs[i].eccentricity;
            best = std::max(best, ecc);
            for (const std::int32_t w : runs[i].order) {
                const std::int32_t d = dist[i][w];
                lower[w] = std::max({lower[w], d, ecc - d});
                upper[w] = std::min(upper[w], ecc + d);
                dist[i][w] = -1;
            }
            lower[picked[i]] = upper[picked[i]] = ecc;
        }
        for (const std::int32_t w : alive) best = std::max(best, upper[w] == lower[w] ? lower[w] : 0);
        alive.erase(std::remove_if(alive.begin(), alive.end(), [&](std::int32_t w) { return upper[w] <= best; }),
                    alive.end());
    }
    std::lock_guard<std::mutex> lock(cache_mutex_);
    diameter_ = best;
    return best;
}

GraphStats AtlasGraph::stats(std::size_t n_threads) const {
    GraphStats s{};
    s.n_nodes = static_cast<std::int64_t>(n_nodes());
    s.n_edges = static_cast<std::int64_t>(n_edges());
    s.n_intra_edges = static_cast<std::int64_t>(n_intra_edges());
    s.n_cross_edges = s.n_edges - s.n_intra_edges;
    s.n_components = static_cast<std::int64_t>(component_sizes().size());
    s.largest_component = component_sizes().empty() ? 0 : *std::max_element(component_sizes().begin(), component_sizes().end());
    s.diameter_hops = diameter_hops(n_threads);
    return s;
}

std::size_t AtlasGraph::memory_bytes() const { return structure_.bytes() + values().bytes(); }

}  // namespace agm
