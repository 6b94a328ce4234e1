// GraphStructure construction: node arrays, per-chart trees, de-duplicated k-NN edges, cross-chart edges, CSR and
// connected components (see graph_structure.hpp).
#include "agm/graph_structure.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

namespace agm {

namespace {

constexpr std::size_t max_nodes = (std::size_t{1} << 31) - 1;

std::int32_t find_root(std::vector<std::int32_t>& parent, std::int32_t v) {
    while (parent[v] != v) {
        parent[v] = parent[parent[v]];  // path halving
        v = parent[v];
    }
    return v;
}

template <class T>
void build_charts(GraphStructure& g) {
    const auto& all = std::get<std::vector<T>>(g.latents.data);  // the trees copy from here, never from the caller
    const std::size_t d = g.latents.cols;
    g.charts.clear();
    for (std::size_t c = 0; c + 1 < g.chart_offsets.size(); ++c) {
        const auto rows = static_cast<std::size_t>(g.chart_offsets[c + 1] - g.chart_offsets[c]);
        const MatrixView<T> chart{all.data() + g.chart_offsets[c] * d, rows, d};
        g.charts.push_back(AnyChartIndex{std::make_shared<const ChartIndex<T>>(chart, GraphStructure::tree_leaf_size)});
    }
}

// The de-duplicated k-NN edges inside each chart, (u, v) with u < v, chart by chart, sorted.
template <class T>
std::vector<std::int32_t> intra_edges(const GraphStructure& g, std::size_t n_threads) {
    std::vector<std::int32_t> edges;
    std::vector<std::uint64_t> keys;
    std::vector<std::int64_t> ids;
    std::vector<double> dists;
    const std::size_t k = g.k;
    for (std::size_t c = 0; c < g.charts.size(); ++c) {
        const auto& index = *std::get<std::shared_ptr<const ChartIndex<T>>>(g.charts[c].impl);
        const std::size_t n = index.n_points();
        ids.resize(n * k);
        dists.resize(n * k);
        index.query_self(k, ids.data(), dists.data(), n_threads);
        keys.resize(n * k);
        const auto offset = static_cast<std::uint64_t>(g.chart_offsets[c]);
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t j = 0; j < k; ++j) {
                const std::uint64_t a = offset + i;
                const std::uint64_t b = offset + static_cast<std::uint64_t>(ids[i * k + j]);
                keys[i * k + j] = a < b ? (a << 32 | b) : (b << 32 | a);
            }
        }
        std::sort(keys.begin(), keys.end());
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        for (const std::uint64_t key : keys) {
            edges.push_back(static_cast<std::int32_t>(key >> 32));
            edges.push_back(static_cast<std::int32_t>(key & 0xffffffffu));
        }
    }
    return edges;
}

// The cross-chart edges: every pair of nodes sharing a data point, (u, v) with u < v, sorted. Rejects a point id
// repeated within a chart, and (before allocating them) more than max_edges pairs: a file states its edge count,
// and crafted point ids shared by many nodes would otherwise imply a quadratic number of pairs.
std::vector<std::int32_t> cross_edges(const GraphStructure& g, std::size_t max_edges) {
    const std::size_t n = g.n_nodes();
    std::vector<std::pair<std::int64_t, std::int32_t>> by_point(n);
    for (std::size_t v = 0; v < n; ++v) by_point[v] = {g.node_point[v], static_cast<std::int32_t>(v)};
    std::sort(by_point.begin(), by_point.end());  // nodes sharing a point become adjacent, in increasing node order
    std::size_t n_pairs = 0;
    for (std::size_t begin = 0; begin < n;) {
        std::size_t end = begin + 1;
        while (end < n && by_point[end].first == by_point[begin].first) ++end;
        const std::size_t size = end - begin;  // < 2^31: n_nodes is checked below 2^31
        n_pairs += size * (size - 1) / 2;
        if (n_pairs > max_edges) {
            throw std::invalid_argument("the point ids imply more than " + std::to_string(max_edges) +
                                        " cross-chart edges (the number stated)");
        }
        begin = end;
    }
    std::vector<std::uint64_t> keys;
    keys.reserve(n_pairs);
    for (std::size_t begin = 0; begin < n;) {
        std::size_t end = begin + 1;
        while (end < n && by_point[end].first == by_point[begin].first) ++end;
        for (std::size_t a = begin; a < end; ++a) {
            for (std::size_t b = a + 1; b < end; ++b) {
                const std::int32_t u = by_point[a].second;
                const std::int32_t v = by_point[b].second;
                if (g.chart_of(static_cast<std::size_t>(u)) == g.chart_of(static_cast<std::size_t>(v))) {
                    throw std::invalid_argument(
                        "point_ids[" + std::to_string(g.chart_of(static_cast<std::size_t>(u))) +
                        "] must be unique within a chart; got " +
                        std::to_string(by_point[a].first) + " twice");
                }
                keys.push_back(static_cast<std::uint64_t>(u) << 32 | static_cast<std::uint64_t>(v));
            }
        }
        begin = end;
    }
    std::sort(keys.begin(), keys.end());
    std::vector<std::int32_t> edges;
    edges.reserve(2 * keys.size());
    for (const std::uint64_t key : keys) {
        edges.push_back(static_cast<std::int32_t>(key >> 32));
        edges.push_back(static_cast<std::int32_t>(key & 0xffffffffu));
    }
    return edges;
}

// The CSR from the edge list (which is then dropped: the CSR replays it) and the components.
void build_adjacency(GraphStructure& g, const std::vector<std::int32_t>& edges, std::size_t n_intra) {
    const std::size_t n = g.n_nodes();
    g.csr = EdgeCsr(edges, n_intra, g.chart_offsets);
    std::vector<std::int32_t> root(n);
    std::iota(root.begin(), root.end(), 0);
    for (std::size_t e = 0; e < edges.size() / 2; ++e) {
        const std::int32_t ru = find_root(root, edges[2 * e]);
        const std::int32_t rv = find_root(root, edges[2 * e + 1]);
        if (ru != rv) root[std::max(ru, rv)] = std::min(ru, rv);
    }
    // Labels 0.. in order of each component's first node.
    g.component.assign(n, -1);
    g.component_sizes.clear();
    std::vector<std::int32_t> label_of_root(n, -1);
    for (std::size_t v = 0; v < n; ++v) {
        const std::int32_t r = find_root(root, static_cast<std::int32_t>(v));
        if (label_of_root[r] < 0) {
            label_of_root[r] = static_cast<std::int32_t>(g.component_sizes.size());
            g.component_sizes.push_back(0);
        }
        g.component[v] = label_of_root[r];
        ++g.component_sizes[label_of_root[r]];
    }
}

}  // namespace

std::size_t check_graph_k(std::int64_t k) {
    if (k < 1) throw std::invalid_argument("k must be >= 1; got " + std::to_string(k));
    return static_cast<std::size_t>(k);
}

std::vector<std::int32_t> GraphStructure::node_chart() const {
    std::vector<std::int32_t> charts;
    charts.reserve(n_nodes());
    for (std::size_t c = 0; c + 1 < chart_offsets.size(); ++c) {
        charts.insert(charts.end(), static_cast<std::size_t>(chart_offsets[c + 1] - chart_offsets[c]), static_cast<std::int32_t>(c));
    }
    return charts;
}

std::size_t GraphStructure::bytes() const {
    auto bytes = [](const auto& v) { return v.size() * sizeof(v[0]); };
    return latents.bytes() + bytes(chart_offsets) + bytes(node_point) + csr.bytes() +
           bytes(component) + bytes(component_sizes);
}

template <class T>
GraphStructure build_structure(const std::vector<MatrixView<T>>& latents,
                               const std::vector<VectorView<std::int64_t>>& point_ids, std::size_t k,
                               std::size_t n_threads) {
    if (latents.empty()) throw std::invalid_argument("latents must hold at least one chart; got an empty list");
    if (latents.size() != point_ids.size()) {
        throw std::invalid_argument("latents and point_ids must have the same length; got " +
                                    std::to_string(latents.size()) + " and " + std::to_string(point_ids.size()));
    }
    check_graph_k(static_cast<std::int64_t>(k));
    const std::size_t d = latents[0].cols;
    std::size_t total = 0;
    for (std::size_t c = 0; c < latents.size(); ++c) {
        const std::string name = "latents[" + std::to_string(c) + "]";
        if (latents[c].cols != d || d == 0) {
            throw std::invalid_argument(name + " must have d = " + std::to_string(d) + " >= 1 columns like latents[0]; got " +
                                        std::to_string(latents[c].cols));
        }
        if (latents[c].rows <= k) {
            throw std::invalid_argument(name + " must have more than k = " + std::to_string(k) + " points; got " +
                                        std::to_string(latents[c].rows));
        }
        if (point_ids[c].size != latents[c].rows) {
            throw std::invalid_argument("point_ids[" + std::to_string(c) + "] must have " +
                                        std::to_string(latents[c].rows) + " entries like " + name + "; got " +
                                        std::to_string(point_ids[c].size));
        }
        total += latents[c].rows;
    }
    if (total > max_nodes) {
        throw std::invalid_argument("the graph must have at most 2^31 - 1 nodes; got " + std::to_string(total));
    }
    // Each node has k distinct neighbours, so the k-NN edges fill at least n_nodes * k CSR slots (one per direction).
    if (total * k > EdgeCsr::max_slots) {
        throw std::invalid_argument("k must be <= " + std::to_string(EdgeCsr::max_slots / total) + " for " +
                                    std::to_string(total) + " nodes (the graph's 2 n_edges >= n_nodes * k CSR slots "
                                    "must fit 32-bit offsets, at most 2^31 - 1); got k = " + std::to_string(k));
    }
    GraphStructure g;
    g.k = k;
    g.chart_offsets.assign(1, 0);
    g.node_point.reserve(total);
    std::vector<T> all(total * d);
    for (std::size_t c = 0; c < latents.size(); ++c) {
        // Copy first, then check the copies: the caller's buffers are read once.
        for (std::size_t i = 0; i < point_ids[c].size; ++i) {
            const std::int64_t id = point_ids[c][i];  // read once: checked and stored as the same value
            if (id < 0 || id > static_cast<std::int64_t>(max_nodes)) {
                throw std::invalid_argument("point_ids[" + std::to_string(c) + "] must be in [0, 2^31); got " +
                                            std::to_string(id) + " at index " + std::to_string(i));
            }
            g.node_point.push_back(static_cast<std::int32_t>(id));
        }
        T* chart = all.data() + g.chart_offsets.back() * d;
        std::copy(latents[c].data, latents[c].data + latents[c].size(), chart);
        check_coordinates(chart, latents[c].rows, d, "latents[" + std::to_string(c) + "]");
        g.chart_offsets.push_back(g.chart_offsets.back() + static_cast<std::int64_t>(latents[c].rows));
    }
    g.latents.data = std::move(all);
    g.latents.rows = total;
    g.latents.cols = d;
    // first: it rejects duplicate point ids
    const std::vector<std::int32_t> cross = cross_edges(g, std::numeric_limits<std::size_t>::max());
    build_charts<T>(g);
    std::vector<std::int32_t> edges = intra_edges<T>(g, n_threads);
    const std::size_t n_intra = edges.size() / 2;
    edges.insert(edges.end(), cross.begin(), cross.end());
    build_adjacency(g, edges, n_intra);
    return g;
}

template GraphStructure build_structure(const std::vector<MatrixView<float>>&,
                                        const std::vector<VectorView<std::int64_t>>&, std::size_t, std::size_t);
template GraphStructure build_structure(const std::vector<MatrixView<double>>&,
                                        const std::vector<VectorView<std::int64_t>>&, std::size_t, std::size_t);

GraphStructure structure_from_arrays(std::vector<std::int64_t> chart_offsets, std::vector<std::int32_t> node_point,
                                     FloatMatrix latents, std::size_t k, const std::vector<std::int32_t>& edges,
                                     std::size_t n_intra) {
    GraphStructure g;
    g.k = k;
    g.chart_offsets = std::move(chart_offsets);
    g.node_point = std::move(node_point);
    g.latents = std::move(latents);
    const std::vector<std::int32_t> cross = cross_edges(g, edges.size() / 2 - n_intra);
    if (cross.size() != edges.size() - 2 * n_intra ||
        !std::equal(cross.begin(), cross.end(), edges.begin() + 2 * n_intra, edges.end())) {
        throw std::invalid_argument("cross-chart edges do not match the point ids");
    }
    try {
        g.latents.is_double() ? build_charts<double>(g) : build_charts<float>(g);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string("latents: ") + e.what());
    }
    build_adjacency(g, edges, n_intra);  // rejects intra-chart edges out of order or repeated
    return g;
}

}  // namespace agm
