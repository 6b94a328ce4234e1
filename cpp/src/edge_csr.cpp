// EdgeCsr: CSR fill in edge order, the prefix counts of the edge ids, and the id <-> slot map (see edge_csr.hpp).
#include "agm/edge_csr.hpp"

#include <numeric>
#include <stdexcept>
#include <string>

namespace agm {

EdgeCsr::EdgeCsr(const std::vector<std::int32_t>& edges, std::size_t n_intra,
                 const std::vector<std::int64_t>& chart_offsets)
    : chart_offsets_(chart_offsets), n_intra_(n_intra) {
    const std::size_t n = static_cast<std::size_t>(chart_offsets.back());
    const std::size_t m = edges.size() / 2;
    if (m > max_slots / 2) {
        throw std::invalid_argument("the graph must have at most 2^30 - 1 edges (2 n_edges CSR slots with 32-bit "
                                    "offsets); got " + std::to_string(m) + " edges: use a smaller k or fewer points");
    }
    auto chart_of = [&](std::int32_t v) { return std::upper_bound(chart_offsets.begin(), chart_offsets.end(), v) - chart_offsets.begin(); };
    indptr_.assign(n + 1, 0);
    const std::size_t n_blocks = n / block_nodes + 1;  // block b starts at node b * block_nodes (the last may be empty)
    intra_before_.assign(n_blocks + 1, 0);
    cross_before_.assign(n_blocks + 1, 0);
    for (std::size_t e = 0; e < m; ++e) {
        const std::int32_t u = edges[2 * e], v = edges[2 * e + 1];
        const bool ordered = e == n_intra || e == 0 || edges[2 * e - 2] < u || (edges[2 * e - 2] == u && edges[2 * e - 1] < v);
        if (u < 0 || u >= v || static_cast<std::size_t>(v) >= n || !ordered || (chart_of(u) == chart_of(v)) != (e < n_intra)) {
            throw std::invalid_argument("edge " + std::to_string(e) + " (" + std::to_string(u) + ", " +
                                        std::to_string(v) + ") breaks the edge order (u < v < n_nodes, intra-chart "
                                        "edges first, each part strictly increasing)");
        }
        ++indptr_[u + 1];
        ++indptr_[v + 1];
        ++(e < n_intra ? intra_before_ : cross_before_)[static_cast<std::size_t>(u) / block_nodes + 1];
    }
    std::partial_sum(indptr_.begin(), indptr_.end(), indptr_.begin());
    std::partial_sum(intra_before_.begin(), intra_before_.end(), intra_before_.begin());
    std::partial_sum(cross_before_.begin(), cross_before_.end(), cross_before_.begin());
    std::vector<std::int32_t> cursor(indptr_.begin(), indptr_.end() - 1);
    indices_.assign(2 * m, 0);
    for (std::size_t e = 0; e < m; ++e) {
        indices_[cursor[edges[2 * e]]++] = edges[2 * e + 1];
        indices_[cursor[edges[2 * e + 1]]++] = edges[2 * e];
    }
}

std::int64_t EdgeCsr::cross_begin(std::int32_t u) const {
    const auto chart = std::upper_bound(chart_offsets_.begin(), chart_offsets_.end(), u) - chart_offsets_.begin() - 1;
    const std::int64_t chart_end = chart_offsets_[chart + 1], chart_begin = chart_offsets_[chart];
    // The row is [intra-chart neighbours (inside [chart_begin, chart_end))][cross-chart neighbours].
    return std::partition_point(indices_.begin() + indptr_[u], indices_.begin() + indptr_[u + 1],
                                [&](std::int32_t w) { return w >= chart_begin && w < chart_end; }) -
           indices_.begin();
}

std::int64_t EdgeCsr::edges_above(std::int32_t u, int part) const {
    const std::int64_t split = cross_begin(u);
    return part == 0 ? split - first_above(indptr_[u], split, u) : indptr_[u + 1] - first_above(split, indptr_[u + 1], u);
}

EdgeCsr::Slots EdgeCsr::slots_of(std::size_t edge) const {
    const bool intra = edge < n_intra_;
    const std::vector<std::int32_t>& before = intra ? intra_before_ : cross_before_;
    const auto id = static_cast<std::int64_t>(intra ? edge : edge - n_intra_);
    const auto block = static_cast<std::size_t>(std::upper_bound(before.begin(), before.end(), id) - before.begin() - 1);
    auto u = static_cast<std::int32_t>(block * block_nodes);
    std::int64_t below = before[block];  // edges of the part whose smaller end is < u
    for (std::int64_t above = edges_above(u, intra ? 0 : 1); below + above <= id; above = edges_above(u, intra ? 0 : 1)) {
        below += above;
        ++u;
    }
    const std::int64_t split_u = cross_begin(u);
    const std::int64_t slot_u =
        intra ? first_above(indptr_[u], split_u, u) + (id - below) : first_above(split_u, indptr_[u + 1], u) + (id - below);
    const std::int32_t v = indices_[slot_u];
    const std::int64_t split_v = cross_begin(v);
    const std::int64_t slot_v = intra ? find(indptr_[v], split_v, u) : find(split_v, indptr_[v + 1], u);
    return Slots{u, v, slot_u, slot_v};
}

std::vector<std::int32_t> EdgeCsr::edge_list() const {
    std::vector<std::int32_t> edges(2 * n_edges());
    for_each_edge([&](std::size_t e, const Slots& s) {
        edges[2 * e] = s.u;
        edges[2 * e + 1] = s.v;
    });
    return edges;
}

std::size_t EdgeCsr::bytes() const {
    auto bytes = [](const auto& v) { return v.size() * sizeof(v[0]); };
    return bytes(indptr_) + bytes(indices_) + bytes(intra_before_) + bytes(cross_before_) + bytes(chart_offsets_);
}

}  // namespace agm
