// Exact hop diameter over plain CSR arrays: bounding eccentricities on a BFS-renumbered copy (default), the same
// on the ids as given, and iFUB with a 4-sweep start. The bounds method can stop after a budget of BFS and report
// the interval it has narrowed the diameter to.
//
// iFUB (per component): a 4-sweep picks a central node u (the midpoint of a long shortest path found by two
// double sweeps) and a lower bound lb (the largest eccentricity seen). The BFS from u sorts the nodes into levels
// F_i = {x : d(u, x) = i}. Any two nodes in levels <= i are at most 2i apart (through u), so after the
// eccentricities of every node above level i are known, diameter <= max(lb, 2i). Levels are processed from the
// top; each one's BFS run in parallel and raise lb; the loop stops once lb >= 2i. On k-NN graphs ecc(u) exceeds
// D / 2 by several hops and those top levels are large, which is why it is not the default.
#include "agm/hop_diameter.hpp"

#include <algorithm>
#include <atomic>
#include <limits>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "agm/parallel.hpp"

namespace agm {

namespace {

// BFS scratch over n nodes: dist is -1 everywhere except at the nodes the last run visited (order()).
class Bfs {
public:
    explicit Bfs(std::size_t n_nodes) : dist_(n_nodes, -1) {}

    // BFS from `source` (clears the previous run first); returns the eccentricity of source in its component.
    std::int32_t run(const CsrStructure& graph, std::int32_t source) {
        clear();
        order_.push_back(source);
        dist_[source] = 0;
        for (std::size_t head = 0; head < order_.size(); ++head) {
            const std::int32_t v = order_[head];
            const std::int32_t next = dist_[v] + 1;
            for (std::int64_t e = graph.indptr[v]; e < graph.indptr[v + 1]; ++e) {
                const std::int32_t u = graph.indices[e];
                if (dist_[u] < 0) {
                    dist_[u] = next;
                    order_.push_back(u);
                }
            }
        }
        return dist_[order_.back()];
    }

    void clear() {
        for (const std::int32_t v : order_) dist_[v] = -1;
        order_.clear();
    }

    const std::vector<std::int32_t>& order() const { return order_; }  // visited nodes in BFS (level) order
    std::int32_t farthest() const { return order_.back(); }            // a node at maximal distance
    std::int32_t dist(std::int32_t v) const { return dist_[v]; }

    // The node `steps` hops from `from` towards the last source along a shortest path (first neighbour one hop
    // closer, in CSR order).
    std::int32_t walk_back(const CsrStructure& graph, std::int32_t from, std::int32_t steps) const {
        std::int32_t v = from;
        for (std::int32_t s = 0; s < steps && dist_[v] > 0; ++s) {
            for (std::int64_t e = graph.indptr[v]; e < graph.indptr[v + 1]; ++e) {
                const std::int32_t u = graph.indices[e];
                if (dist_[u] == dist_[v] - 1) {
                    v = u;
                    break;
                }
            }
        }
        return v;
    }

private:
    std::vector<std::int32_t> dist_;
    std::vector<std::int32_t> order_;
};

struct Component {
    std::size_t begin, size;       // members[begin, begin + size)
    std::int32_t seed, ecc_seed;   // the discovery BFS's source and its eccentricity
    std::int32_t farthest;         // a node farthest from seed
};

// Labels the components with one BFS each (the first sweep of each 4-sweep); members grouped by component.
std::vector<Component> find_components(const CsrStructure& graph, Bfs& bfs, std::vector<std::int32_t>& members) {
    std::vector<char> seen(graph.n_nodes, 0);
    std::vector<Component> components;
    members.clear();
    members.reserve(graph.n_nodes);
    for (std::size_t s = 0; s < graph.n_nodes; ++s) {
        if (seen[s]) continue;
        const std::int32_t ecc = bfs.run(graph, static_cast<std::int32_t>(s));
        const std::size_t begin = members.size();
        for (const std::int32_t v : bfs.order()) {
            seen[v] = 1;
            members.push_back(v);
        }
        components.push_back({begin, members.size() - begin, static_cast<std::int32_t>(s), ecc, bfs.farthest()});
    }
    bfs.clear();
    return components;
}

// Per-worker BFS scratch, allocated on a worker's first use (each worker index belongs to one thread at a time).
class BfsPool {
public:
    BfsPool(std::size_t n_nodes, std::size_t n_workers) : n_nodes_(n_nodes), pool_(n_workers) {}
    Bfs& operator[](std::size_t worker) {
        if (!pool_[worker]) pool_[worker] = std::make_unique<Bfs>(n_nodes_);
        return *pool_[worker];
    }

private:
    std::size_t n_nodes_;
    std::vector<std::unique_ptr<Bfs>> pool_;
};

// Largest eccentricity among `nodes` (BFS from each, in parallel), stopping early once one reaches `stop_at`.
// Adds the BFS run to n_bfs.
std::int32_t max_eccentricity(const CsrStructure& graph, const std::int32_t* nodes, std::size_t n, std::int32_t stop_at,
                              std::size_t n_threads, BfsPool& pool, std::int64_t& n_bfs) {
    std::atomic<std::int32_t> best{0};
    std::atomic<std::int64_t> runs{0};
    parallel_for(n, n_threads, 1, [&](std::size_t begin, std::size_t end, std::size_t worker) {
        Bfs& bfs = pool[worker];
        for (std::size_t i = begin; i < end && best.load(std::memory_order_relaxed) < stop_at; ++i) {
            const std::int32_t ecc = bfs.run(graph, nodes[i]);
            runs.fetch_add(1, std::memory_order_relaxed);
            std::int32_t seen = best.load(std::memory_order_relaxed);
            while (ecc > seen && !best.compare_exchange_weak(seen, ecc, std::memory_order_relaxed)) {
            }
        }
    });
    n_bfs += runs.load();
    return best.load();
}

// max(lower, diameter of the component) by iFUB from the component's discovery sweep.
std::int32_t component_diameter(const CsrStructure& graph, const Component& c, std::int32_t lower,
                                std::size_t n_threads, BfsPool& pool, std::int64_t& n_bfs) {
    Bfs& bfs = pool[0];
    std::int32_t lb = std::max(lower, c.ecc_seed);
    // 4-sweep: two double sweeps, the second from the midpoint of the first one's path.
    std::int32_t a = c.farthest;
    for (int sweep = 0; sweep < 2; ++sweep) {
        const std::int32_t ecc_a = bfs.run(graph, a);
        lb = std::max(lb, ecc_a);
        const std::int32_t middle = bfs.walk_back(graph, bfs.farthest(), ecc_a / 2);
        n_bfs += 1;
        if (sweep == 0) {
            lb = std::max(lb, bfs.run(graph, middle));
            a = bfs.farthest();
            n_bfs += 1;
        } else {
            a = middle;  // u, the central node
        }
    }
    const std::int32_t ecc_u = bfs.run(graph, a);
    n_bfs += 1;
    lb = std::max(lb, ecc_u);
    // Levels of the BFS from u: nodes in level order, level_start[i] = first node at distance i.
    const std::vector<std::int32_t> by_level = bfs.order();
    std::vector<std::size_t> level_start(static_cast<std::size_t>(ecc_u) + 2, by_level.size());
    for (std::size_t j = by_level.size(); j-- > 0;) level_start[static_cast<std::size_t>(bfs.dist(by_level[j]))] = j;
    for (std::int32_t i = ecc_u; i >= 1 && lb < 2 * i; --i) {
        const std::size_t begin = level_start[static_cast<std::size_t>(i)];
        const std::size_t end = level_start[static_cast<std::size_t>(i) + 1];
        // ecc(x) <= 2i for x in level i once the levels above are done; reaching 2i ends the search.
        lb = std::max(lb, max_eccentricity(graph, by_level.data() + begin, end - begin, 2 * i, n_threads, pool, n_bfs));
    }
    return lb;
}

// The graph renumbered in BFS order (each component from its smallest node, one after another): neighbours get
// nearby ids, so a BFS reads its per-node arrays almost sequentially.
struct Renumbered {
    std::vector<std::int32_t> indptr;
    std::vector<std::int32_t> indices;
    std::vector<std::int32_t> component_bound;  // per new id: its component's size - 1 (an eccentricity bound)
    CsrStructure view() const { return {indptr.data(), indices.data(), indptr.size() - 1}; }
};

Renumbered renumber_bfs(const CsrStructure& graph) {
    const std::size_t n = graph.n_nodes;
    std::vector<std::int32_t> order, new_id(n, -1);
    Renumbered out;
    out.component_bound.resize(n);
    order.reserve(n);
    for (std::size_t s = 0; s < n; ++s) {
        if (new_id[s] >= 0) continue;
        const std::size_t first = order.size();
        new_id[s] = static_cast<std::int32_t>(order.size());
        order.push_back(static_cast<std::int32_t>(s));
        for (std::size_t head = order.size() - 1; head < order.size(); ++head) {
            const std::int32_t v = order[head];
            for (std::int64_t e = graph.indptr[v]; e < graph.indptr[v + 1]; ++e) {
                const std::int32_t u = graph.indices[e];
                if (new_id[u] < 0) {
                    new_id[u] = static_cast<std::int32_t>(order.size());
                    order.push_back(u);
                }
            }
        }
        // The component is order[first, order.size()): new ids first.. in BFS order.
        std::fill(out.component_bound.begin() + static_cast<std::ptrdiff_t>(first), out.component_bound.begin() + static_cast<std::ptrdiff_t>(order.size()),
                  static_cast<std::int32_t>(order.size() - first - 1));
    }
    out.indptr.assign(n + 1, 0);
    out.indices.reserve(static_cast<std::size_t>(graph.indptr[n]));
    for (std::size_t i = 0; i < n; ++i) {
        const std::int32_t v = order[i];
        for (std::int64_t e = graph.indptr[v]; e < graph.indptr[v + 1]; ++e) out.indices.push_back(new_id[graph.indices[e]]);
        out.indptr[i + 1] = static_cast<std::int32_t>(out.indices.size());
    }
    return out;
}

}  // namespace

HopDiameter hop_diameter(const CsrStructure& graph, std::size_t n_threads, std::int64_t max_bfs) {
    if (graph.n_nodes == 0) return HopDiameter{};
    const Renumbered renumbered = renumber_bfs(graph);
    HopDiameter out = hop_diameter_bounds(renumbered.view(), n_threads, max_bfs, renumbered.component_bound.data());
    out.n_bfs += 1;  // the renumbering traversal
    return out;
}

HopDiameter hop_diameter_ifub(const CsrStructure& graph, std::size_t n_threads) {
    HopDiameter out;
    if (graph.n_nodes == 0) return out;
    BfsPool pool(graph.n_nodes, resolve_threads(n_threads));
    std::vector<std::int32_t> members;
    std::vector<Component> components = find_components(graph, pool[0], members);
    out.n_bfs = static_cast<std::int64_t>(components.size());
    std::stable_sort(components.begin(), components.end(),
                     [](const Component& a, const Component& b) { return a.size > b.size; });
    std::int32_t best = 0;
    for (const Component& c : components) {
        if (static_cast<std::int64_t>(c.size) - 1 <= best) break;  // a component of s nodes has diameter <= s - 1
        best = component_diameter(graph, c, best, n_threads, pool, out.n_bfs);
    }
    out.diameter = out.upper = best;
    return out;
}

HopDiameter hop_diameter_bounds(const CsrStructure& graph, std::size_t n_threads, std::int64_t max_bfs,
                                const std::int32_t* initial_upper) {
    // For every node w, lower[w] <= ecc(w) <= upper[w] from each BFS from v (ecc(v) - d(v,w) <= ecc(w) <=
    // ecc(v) + d(v,w), ecc(w) >= d(v,w)); w is dropped once upper[w] <= the largest eccentricity found so far.
    // Each round runs a few BFS in parallel, alternating the candidates with the smallest lower and the largest
    // upper bound.
    HopDiameter out;
    const std::size_t n = graph.n_nodes;
    constexpr std::int32_t unknown = std::numeric_limits<std::int32_t>::max();
    std::vector<std::int32_t> lower(n, 0), upper(n, unknown), alive(n);
    std::iota(alive.begin(), alive.end(), 0);
    const std::size_t per_round =
        std::max<std::size_t>(1, std::min(std::max<std::size_t>(2, resolve_threads(n_threads)), n));
    std::vector<Bfs> runs(per_round, Bfs(n));
    std::vector<std::int32_t> ecc(per_round);
    std::int32_t best = 0;
    auto degree = [&](std::int32_t v) { return graph.indptr[v + 1] - graph.indptr[v]; };
    while (!alive.empty() && (max_bfs <= 0 || out.n_bfs < max_bfs)) {
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
            for (std::size_t i = begin; i < end; ++i) ecc[i] = runs[i].run(graph, picked[i]);
        });
        out.n_bfs += static_cast<std::int64_t>(picked.size());
        for (std::size_t i = 0; i < picked.size(); ++i) {
            best = std::max(best, ecc[i]);
            for (const std::int32_t w : runs[i].order()) {
                const std::int32_t d = runs[i].dist(w);
                lower[w] = std::max({lower[w], d, ecc[i] - d});
                upper[w] = std::min(upper[w], ecc[i] + d);
            }
            lower[picked[i]] = upper[picked[i]] = ecc[i];
        }
        for (const std::int32_t w : alive) best = std::max(best, upper[w] == lower[w] ? lower[w] : 0);
        alive.erase(std::remove_if(alive.begin(), alive.end(), [&](std::int32_t w) { return upper[w] <= best; }),
                    alive.end());
    }
    // Budget spent with nodes still open: their bounds (or, where no BFS reached them, their component's size - 1)
    // cap the diameter.
    std::int32_t cap = best;
    for (const std::int32_t w : alive) {
        const std::int32_t fallback = initial_upper ? initial_upper[w] : static_cast<std::int32_t>(n - 1);
        cap = std::max(cap, upper[w] == unknown ? fallback : std::min(upper[w], fallback));
    }
    out.diameter = best;
    out.upper = cap;
    return out;
}

void check_csr_structure(const CsrStructure& graph, std::size_t n_indices) {
    const std::size_t n = graph.n_nodes;
    if (n >= (std::size_t{1} << 31)) {
        throw std::invalid_argument("indptr must describe fewer than 2^31 nodes; got " + std::to_string(n));
    }
    if (graph.indptr[0] != 0) throw std::invalid_argument("indptr must start at 0; got " + std::to_string(graph.indptr[0]));
    for (std::size_t v = 0; v < n; ++v) {
        if (graph.indptr[v + 1] < graph.indptr[v]) {
            throw std::invalid_argument("indptr must be non-decreasing; got " + std::to_string(graph.indptr[v]) +
                                        " then " + std::to_string(graph.indptr[v + 1]) + " at index " +
                                        std::to_string(v + 1));
        }
    }
    if (graph.indptr[n] != static_cast<std::int64_t>(n_indices)) {
        throw std::invalid_argument("indptr must end at len(indices) = " + std::to_string(n_indices) + "; got " +
                                    std::to_string(graph.indptr[n]));
    }
    for (std::size_t e = 0; e < n_indices; ++e) {
        if (graph.indices[e] < 0 || static_cast<std::size_t>(graph.indices[e]) >= n) {
            throw std::invalid_argument("indices must hold node ids in [0, " + std::to_string(n) + "); got " +
                                        std::to_string(graph.indices[e]) + " at index " + std::to_string(e));
        }
    }
    // Symmetry: the sorted row of v equals the sorted list of nodes whose rows hold v (the transpose's row).
    std::vector<std::int64_t> t_ptr(n + 1, 0);
    for (std::size_t e = 0; e < n_indices; ++e) ++t_ptr[static_cast<std::size_t>(graph.indices[e]) + 1];
    std::partial_sum(t_ptr.begin(), t_ptr.end(), t_ptr.begin());
    std::vector<std::int32_t> t_idx(n_indices);
    std::vector<std::int64_t> cursor(t_ptr.begin(), t_ptr.end() - 1);
    for (std::size_t v = 0; v < n; ++v) {
        for (std::int64_t e = graph.indptr[v]; e < graph.indptr[v + 1]; ++e) {
            t_idx[static_cast<std::size_t>(cursor[static_cast<std::size_t>(graph.indices[e])]++)] =
                static_cast<std::int32_t>(v);
        }
    }
    std::vector<std::int32_t> row;
    for (std::size_t v = 0; v < n; ++v) {
        row.assign(graph.indices + graph.indptr[v], graph.indices + graph.indptr[v + 1]);
        std::sort(row.begin(), row.end());  // the transpose's row is sorted by construction
        const std::int32_t* col = t_idx.data() + t_ptr[v];
        const std::size_t n_col = static_cast<std::size_t>(t_ptr[v + 1] - t_ptr[v]);
        const auto diff = std::mismatch(row.begin(), row.end(), col, col + n_col);
        if (diff.first == row.end() && diff.second == col + n_col) continue;
        const bool forward = diff.second == col + n_col || (diff.first != row.end() && *diff.first < *diff.second);
        const std::int32_t a = forward ? static_cast<std::int32_t>(v) : *diff.second;
        const std::int32_t b = forward ? *diff.first : static_cast<std::int32_t>(v);
        throw std::invalid_argument("the adjacency must be symmetric (undirected): edge (" + std::to_string(a) + ", " +
                                    std::to_string(b) + ") has no reverse (" + std::to_string(b) + ", " +
                                    std::to_string(a) + ") as often");
    }
}

}  // namespace agm
