// EdgeCsr: the candidate edges of an AtlasGraph stored once, as a symmetric CSR adjacency, with the map between
// an edge's id (its row in the documented edge list) and its two CSR slots.
//
// Edge order (the ids): the intra-chart edges, then the cross-chart edges, each part sorted by (u, v) with u < v.
// The CSR is filled in that order, so every node's row holds its intra-chart neighbours in increasing order, then
// its cross-chart neighbours in increasing order. Hence the edge list need not be stored: edge e of the intra part
// is the (e - intra_before[u])-th neighbour v > u in the intra part of row u, where u is the last node with
// intra_before[u] <= e (likewise for the cross part), and its slot in row v is where u sits in v's sorted part.
// intra_before / cross_before (the edges whose smaller end is < u) are stored only at every block_nodes-th node;
// in between they are counted from the rows (a node's neighbours above it are a binary search in its sorted row).
// Memory: indptr (n + 1) int32, indices (2 m) int32, two (n / block_nodes + 1) int32 prefix counts; no per-edge
// array (with a prefix count per node, 16 B/node more: 1.2 of the 31.2 B/edge of a k = 20 graph). Every offset is
// 32-bit: a graph holds at most max_slots = 2^31 - 1 CSR slots (m <= 2^30 - 1 edges), checked before allocating.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace agm {

class EdgeCsr {
public:
    // The two CSR slots of one edge (u < v): slot_u in row u holds v, slot_v in row v holds u.
    struct Slots {
        std::int32_t u, v;
        std::int64_t slot_u, slot_v;
    };

    // The most CSR slots (2 n_edges) a graph may have: its row pointers and edge-id prefix counts are int32.
    static constexpr std::size_t max_slots = (std::size_t{1} << 31) - 1;

    EdgeCsr() = default;
    // edges: (m, 2) row-major, u < v, the first n_intra joining nodes of one chart, each part strictly increasing
    // in (u, v) (std::invalid_argument otherwise, and for 2 m > max_slots before anything is allocated);
    // chart_offsets: (n_charts + 1,), the node ranges of the charts.
    EdgeCsr(const std::vector<std::int32_t>& edges, std::size_t n_intra,
            const std::vector<std::int64_t>& chart_offsets);

    std::size_t n_nodes() const { return indptr_.empty() ? 0 : indptr_.size() - 1; }
    std::size_t n_edges() const { return indices_.size() / 2; }
    std::size_t n_intra() const { return n_intra_; }
    const std::vector<std::int32_t>& indptr() const { return indptr_; }
    const std::vector<std::int32_t>& indices() const { return indices_; }

    static constexpr std::size_t block_nodes = 16;  // nodes per stored prefix count

    // The slots of edge `edge` (< n_edges, unchecked): O(log n + block_nodes log degree).
    Slots slots_of(std::size_t edge) const;
    // Calls visit(e, slots) for every edge in edge order, e = 0 .. n_edges - 1: O(n + m), two (n,) scratch arrays.
    template <class Visit>
    void for_each_edge(Visit&& visit) const;
    // The (m, 2) row-major edge list in edge order, replayed from the CSR.
    std::vector<std::int32_t> edge_list() const;
    std::size_t bytes() const;

private:
    // The first slot of row u holding a cross-chart neighbour (the end of its intra-chart part).
    std::int64_t cross_begin(std::int32_t u) const;
    // Edges of the intra (part 0) or cross (part 1) part whose smaller end is u: the neighbours above u there.
    std::int64_t edges_above(std::int32_t u, int part) const;
    // The first slot in [begin, end) of a sorted row part whose neighbour is > u.
    std::int64_t first_above(std::int64_t begin, std::int64_t end, std::int32_t u) const {
        return std::upper_bound(indices_.begin() + begin, indices_.begin() + end, u) - indices_.begin();
    }
    // The slot in [begin, end) of a sorted row part that holds u (present by construction).
    std::int64_t find(std::int64_t begin, std::int64_t end, std::int32_t u) const {
        return std::lower_bound(indices_.begin() + begin, indices_.begin() + end, u) - indices_.begin();
    }

    std::vector<std::int32_t> indptr_;
    std::vector<std::int32_t> indices_;
    // (n / block_nodes + 1,): intra- / cross-chart edges whose smaller end is < b * block_nodes
    std::vector<std::int32_t> intra_before_;
    std::vector<std::int32_t> cross_before_;
    std::vector<std::int64_t> chart_offsets_;
    std::size_t n_intra_ = 0;
};

template <class Visit>
void EdgeCsr::for_each_edge(Visit&& visit) const {
    const std::size_t n = n_nodes();
    std::vector<std::int64_t> split(n), next_back(n);  // next_back[v]: v's next slot for a smaller neighbour
    for (std::size_t v = 0; v < n; ++v) split[v] = cross_begin(static_cast<std::int32_t>(v));
    std::size_t e = 0;
    for (int part = 0; part < 2; ++part) {
        for (std::size_t v = 0; v < n; ++v) next_back[v] = part == 0 ? std::int64_t{indptr_[v]} : split[v];
        for (std::size_t u = 0; u < n; ++u) {
            const auto uu = static_cast<std::int32_t>(u);
            const std::int64_t end = part == 0 ? split[u] : indptr_[u + 1];
            for (std::int64_t s = first_above(part == 0 ? indptr_[u] : split[u], end, uu); s < end; ++s) {
                const std::int32_t v = indices_[s];
                visit(e++, Slots{uu, v, s, next_back[v]++});
            }
        }
    }
}

}  // namespace agm
