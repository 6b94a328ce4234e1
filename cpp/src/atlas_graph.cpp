// AtlasGraph construction: per-chart trees, de-duplicated k-NN edges, cross-chart edges, CSR structure and
// connected components; weights and positions.
#include "agm/atlas_graph.hpp"

#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

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

}  // namespace

std::size_t check_graph_k(std::int64_t k) {
    if (k < 1) throw std::invalid_argument("k must be >= 1; got " + std::to_string(k));
    return static_cast<std::size_t>(k);
}

SearchMethod parse_search_method(const std::string& method) {
    if (method == "astar") return SearchMethod::astar;
    if (method == "dijkstra") return SearchMethod::dijkstra;
    throw std::invalid_argument("method must be 'astar' or 'dijkstra'; got '" + method + "'");
}

template <class T>
AtlasGraph::AtlasGraph(const std::vector<MatrixView<T>>& latents,
                       const std::vector<VectorView<std::int64_t>>& point_ids, std::size_t k,
                       std::size_t n_threads)
    : k_(k) {
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
    chart_offsets_.assign(1, 0);
    node_chart_.reserve(total);
    node_point_.reserve(total);
    std::vector<T> all(total * d);
    for (std::size_t c = 0; c < latents.size(); ++c) {
        // Copy first, then check the copies: the caller's buffers are read once.
        const std::size_t begin = node_point_.size();
        node_point_.insert(node_point_.end(), point_ids[c].begin(), point_ids[c].end());
        for (std::size_t i = 0; i < point_ids[c].size; ++i) {
            if (node_point_[begin + i] < 0) {
                throw std::invalid_argument("point_ids[" + std::to_string(c) + "] must be >= 0; got " +
                                            std::to_string(node_point_[begin + i]) + " at index " + std::to_string(i));
            }
        }
        T* chart = all.data() + chart_offsets_.back() * d;
        std::copy(latents[c].data, latents[c].data + latents[c].size(), chart);
        check_coordinates(chart, latents[c].rows, d, "latents[" + std::to_string(c) + "]");
        node_chart_.insert(node_chart_.end(), latents[c].rows, static_cast<std::int32_t>(c));
        chart_offsets_.push_back(chart_offsets_.back() + static_cast<std::int64_t>(latents[c].rows));
    }
    latents_.data = std::move(all);
    latents_.rows = total;
    latents_.cols = d;
    const std::vector<std::int32_t> cross = build_cross_edges();  // first: it rejects duplicate point ids
    std::vector<MatrixView<T>> own;  // the trees copy from latents_, never again from the caller
    const auto& stored = std::get<std::vector<T>>(latents_.data);
    for (std::size_t c = 0; c < latents.size(); ++c) {
        own.push_back(MatrixView<T>{stored.data() + chart_offsets_[c] * d, latents[c].rows, d});
    }
    build_charts<T>(own, tree_leaf_size);
    std::vector<std::int32_t> edges = build_intra_edges<T>(n_threads);
    const std::size_t n_intra = edges.size() / 2;
    edges.insert(edges.end(), cross.begin(), cross.end());
    build_structure(edges, n_intra);  // the edge list is not kept: the CSR replays it
}

template AtlasGraph::AtlasGraph(const std::vector<MatrixView<float>>&, const std::vector<VectorView<std::int64_t>>&,
                                std::size_t, std::size_t);
template AtlasGraph::AtlasGraph(const std::vector<MatrixView<double>>&,
                                const std::vector<VectorView<std::int64_t>>&, std::size_t, std::size_t);

AtlasGraph::~AtlasGraph() = default;

template <class T>
void AtlasGraph::build_charts(const std::vector<MatrixView<T>>& latents, std::size_t leaf_size) {
    charts_.clear();
    for (const auto& chart : latents) {
        charts_.push_back(AnyChartIndex{std::make_shared<const ChartIndex<T>>(chart, leaf_size)});
    }
}

template <class T>
std::vector<std::int32_t> AtlasGraph::build_intra_edges(std::size_t n_threads) const {
    std::vector<std::int32_t> edges;
    std::vector<std::uint64_t> keys;
    std::vector<std::int64_t> ids;
    std::vector<double> dists;
    for (std::size_t c = 0; c < charts_.size(); ++c) {
        const auto& index = *std::get<std::shared_ptr<const ChartIndex<T>>>(charts_[c].impl);
        const std::size_t n = index.n_points();
        ids.resize(n * k_);
        dists.resize(n * k_);
        index.query_self(k_, ids.data(), dists.data(), n_threads);
        keys.resize(n * k_);
        const auto offset = static_cast<std::uint64_t>(chart_offsets_[c]);
        for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t j = 0; j < k_; ++j) {
                const std::uint64_t a = offset + i;
                const std::uint64_t b = offset + static_cast<std::uint64_t>(ids[i * k_ + j]);
                keys[i * k_ + j] = a < b ? (a << 32 | b) : (b << 32 | a);
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

std::vector<std::int32_t> AtlasGraph::build_cross_edges() const {
    // Sort (point, node): nodes sharing a data point become adjacent, each group in increasing node order.
    const std::size_t n = n_nodes();
    std::vector<std::pair<std::int64_t, std::int32_t>> by_point(n);
    for (std::size_t v = 0; v < n; ++v) by_point[v] = {node_point_[v], static_cast<std::int32_t>(v)};
    std::sort(by_point.begin(), by_point.end());
    std::vector<std::uint64_t> keys;
    for (std::size_t begin = 0; begin < n;) {
        std::size_t end = begin + 1;
        while (end < n && by_point[end].first == by_point[begin].first) ++end;
        for (std::size_t a = begin; a < end; ++a) {
            for (std::size_t b = a + 1; b < end; ++b) {
                const std::int32_t u = by_point[a].second;
                const std::int32_t v = by_point[b].second;
                if (node_chart_[u] == node_chart_[v]) {
                    throw std::invalid_argument(
                        "point_ids[" + std::to_string(node_chart_[u]) + "] must be unique within a chart; got " +
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

void AtlasGraph::build_structure(const std::vector<std::int32_t>& edges, std::size_t n_intra) {
    const std::size_t n = n_nodes();
    csr_ = EdgeCsr(edges, n_intra, chart_offsets_);
    std::vector<std::int32_t> root(n);
    std::iota(root.begin(), root.end(), 0);
    for (std::size_t e = 0; e < edges.size() / 2; ++e) {
        const std::int32_t ru = find_root(root, edges[2 * e]);
        const std::int32_t rv = find_root(root, edges[2 * e + 1]);
        if (ru != rv) root[std::max(ru, rv)] = std::min(ru, rv);
    }
    // Labels 0.. in order of each component's first node.
    component_.assign(n, -1);
    component_sizes_.clear();
    std::vector<std::int32_t> label_of_root(n, -1);
    for (std::size_t v = 0; v < n; ++v) {
        const std::int32_t r = find_root(root, static_cast<std::int32_t>(v));
        if (label_of_root[r] < 0) {
            label_of_root[r] = static_cast<std::int32_t>(component_sizes_.size());
            component_sizes_.push_back(0);
        }
        component_[v] = label_of_root[r];
        ++component_sizes_[label_of_root[r]];
    }
}

const AnyChartIndex& AtlasGraph::chart_index(std::int64_t chart) const {
    if (chart < 0 || static_cast<std::size_t>(chart) >= charts_.size()) {
        throw std::out_of_range("chart must be in [0, " + std::to_string(charts_.size()) + "); got " +
                                std::to_string(chart));
    }
    return charts_[static_cast<std::size_t>(chart)];
}

AtlasGraph::Values AtlasGraph::values() const {
    std::lock_guard<std::mutex> lock(values_mutex_);
    return values_;
}

void AtlasGraph::swap_in(Values next) {
    next.heuristic = next.heuristic ? next.heuristic : std::make_shared<HeuristicVerdict>();
    std::lock_guard<std::mutex> lock(values_mutex_);
    next.version = values_.version + 1;
    std::swap(values_, next);
    // `next` (the previous block) is released after the lock; readers holding a snapshot keep it alive.
}

void AtlasGraph::set_weights(VectorView<double> weights) {
    const std::size_t m = n_edges();
    if (weights.size != m) {
        throw std::invalid_argument("weights must have shape (n_edges,) = (" + std::to_string(m) + ",); got (" +
                                    std::to_string(weights.size) + ",)");
    }
    auto data = std::make_shared<std::vector<double>>(2 * m);
    csr_.for_each_edge([&](std::size_t e, const EdgeCsr::Slots& s) {
        const double w = weights[e];  // read once: checked and stored as the same value
        if (!(w >= 0.0) || w == std::numeric_limits<double>::infinity()) {
            throw std::invalid_argument("weights must be finite and >= 0; got " + std::to_string(w) + " at index " +
                                        std::to_string(e));
        }
        (*data)[s.slot_u] = (*data)[s.slot_v] = w;
    });
    std::lock_guard<std::mutex> writer(writer_mutex_);
    Values next = values();
    next.csr_weights = std::move(data);
    next.heuristic = nullptr;  // a new verdict, computed by the first A* search
    swap_in(std::move(next));
}

void AtlasGraph::update_weights(VectorView<std::int64_t> edge_ids, VectorView<double> weights) {
    if (edge_ids.size != weights.size) {
        throw std::invalid_argument("edge_ids and weights must have the same length; got " +
                                    std::to_string(edge_ids.size) + " and " + std::to_string(weights.size));
    }
    const auto m = static_cast<std::int64_t>(n_edges());
    std::vector<std::int64_t> ids(edge_ids.begin(), edge_ids.end());  // read once
    std::vector<double> w(weights.begin(), weights.end());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (ids[i] < 0 || ids[i] >= m) {
            throw std::out_of_range("edge_ids must hold edge ids in [0, " + std::to_string(m) + "); got " +
                                    std::to_string(ids[i]) + " at index " + std::to_string(i));
        }
        if (!(w[i] >= 0.0) || w[i] == std::numeric_limits<double>::infinity()) {
            throw std::invalid_argument("weights must be finite and >= 0; got " + std::to_string(w[i]) +
                                        " at index " + std::to_string(i));
        }
    }
    std::vector<std::int64_t> sorted = ids;
    std::sort(sorted.begin(), sorted.end());
    const auto twice = std::adjacent_find(sorted.begin(), sorted.end());
    if (twice != sorted.end()) {
        throw std::invalid_argument("edge_ids must be unique; got " + std::to_string(*twice) + " more than once");
    }
    std::vector<EdgeCsr::Slots> slots(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) slots[i] = csr_.slots_of(static_cast<std::size_t>(ids[i]));
    std::lock_guard<std::mutex> writer(writer_mutex_);
    Values next = values();
    if (!next.csr_weights) throw std::invalid_argument("the graph has no weights yet: call set_weights first");
    auto data = std::make_shared<std::vector<double>>(*next.csr_weights);
    for (std::size_t i = 0; i < ids.size(); ++i) (*data)[slots[i].slot_u] = (*data)[slots[i].slot_v] = w[i];
    next.csr_weights = std::move(data);
    next.heuristic = updated_verdict(next, ids, slots);
    swap_in(std::move(next));
}

std::vector<double> AtlasGraph::weights() const {
    const auto data = csr_data();
    std::vector<double> weights(n_edges());
    csr_.for_each_edge([&](std::size_t e, const EdgeCsr::Slots& s) { weights[e] = (*data)[s.slot_u]; });
    return weights;
}

std::shared_ptr<const std::vector<double>> AtlasGraph::csr_data() const {
    auto data = values().csr_weights;
    if (!data) throw std::invalid_argument("the graph has no weights yet: call set_weights first");
    return data;
}

void AtlasGraph::set_positions(FloatMatrix positions) {
    if (positions.rows != n_nodes() || positions.cols == 0) {
        throw std::invalid_argument("positions must have shape (n_nodes, D) = (" + std::to_string(n_nodes()) +
                                    ", D >= 1); got (" + std::to_string(positions.rows) + ", " +
                                    std::to_string(positions.cols) + ")");
    }
    std::shared_ptr<const FloatMatrix> frozen = std::make_shared<const FloatMatrix>(std::move(positions));
    std::lock_guard<std::mutex> writer(writer_mutex_);
    Values next = values();
    next.positions = std::move(frozen);
    next.heuristic = nullptr;
    swap_in(std::move(next));
}

std::shared_ptr<const FloatMatrix> AtlasGraph::positions() const {
    auto positions = values().positions;
    if (!positions) throw std::invalid_argument("the graph has no positions: call set_positions first");
    return positions;
}

std::string AtlasGraph::metadata() const {
    std::lock_guard<std::mutex> lock(values_mutex_);
    return metadata_;
}

}  // namespace agm

namespace agm {
template void AtlasGraph::build_charts<float>(const std::vector<MatrixView<float>>&, std::size_t);
template void AtlasGraph::build_charts<double>(const std::vector<MatrixView<double>>&, std::size_t);
}  // namespace agm
