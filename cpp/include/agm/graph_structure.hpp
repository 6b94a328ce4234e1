// GraphStructure: everything of an AtlasGraph that does not depend on the weights - the nodes, the per-chart k-d
// trees, the candidate edges (as a CSR adjacency, see edge_csr.hpp) and the connected components. Built once by
// one of the two functions below and never changed afterwards (AtlasGraph holds it const).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "agm/array_view.hpp"
#include "agm/chart_index.hpp"
#include "agm/edge_csr.hpp"
#include "agm/float_matrix.hpp"

namespace agm {

struct GraphStructure {
    static constexpr std::size_t tree_leaf_size = 16;  // leaf size of the per-chart k-d trees

    std::vector<AnyChartIndex> charts;          // one k-d tree per chart, over that chart's latents
    std::vector<std::int64_t> chart_offsets;    // (n_charts + 1,): the nodes of chart c are [offsets[c], offsets[c+1])
    std::vector<std::int32_t> node_point;       // (n_nodes,) data-point id of each node, in [0, 2^31)
    FloatMatrix latents;                        // (n_nodes, d), float32 or float64
    std::size_t k = 0;                          // neighbours per node inside its chart
    EdgeCsr csr;                                // the candidate edges, each stored once per direction
    std::vector<std::int32_t> component;        // (n_nodes,) labels 0.. in order of each component's first node
    std::vector<std::int64_t> component_sizes;  // (n_components,)

    std::size_t n_charts() const { return charts.size(); }
    std::size_t n_nodes() const { return node_point.size(); }
    std::size_t n_edges() const { return csr.n_edges(); }
    std::size_t n_intra_edges() const { return csr.n_intra(); }
    // The chart of a node (< n_nodes, unchecked), from chart_offsets: O(log n_charts) (no per-node array).
    std::int32_t chart_of(std::size_t node) const {
        const auto above = std::upper_bound(chart_offsets.begin(), chart_offsets.end(), static_cast<std::int64_t>(node));
        return static_cast<std::int32_t>(above - chart_offsets.begin() - 1);
    }
    std::vector<std::int32_t> node_chart() const;  // (n_nodes,): chart_of every node
    std::size_t bytes() const;  // the arrays above, the k-d trees excluded
};

// Builds the structure from one (N_c, d) latent matrix and one (N_c,) point-id vector per chart. Throws
// std::invalid_argument for no charts, mismatched lengths, k < 1, a chart with <= k points, different d,
// non-finite or too large coordinates, negative, duplicate (within a chart) or >= 2^31 point ids, more than
// 2^31 - 1 nodes, or (before the k-NN search) n_nodes * k > EdgeCsr::max_slots: a graph whose CSR offsets would not
// fit in 32 bits. The caller's buffers are read once.
template <class T>
GraphStructure build_structure(const std::vector<MatrixView<T>>& latents,
                               const std::vector<VectorView<std::int64_t>>& point_ids, std::size_t k,
                               std::size_t n_threads);

// Rebuilds the structure from stored arrays (a graph file): the trees, the CSR and the components.
// The intra-chart edges are taken as stored (in edge order); the cross-chart ones must equal those the point ids
// imply. std::invalid_argument when they do not, or when an edge breaks the edge order.
GraphStructure structure_from_arrays(std::vector<std::int64_t> chart_offsets, std::vector<std::int32_t> node_point,
                                     FloatMatrix latents, std::size_t k, const std::vector<std::int32_t>& edges,
                                     std::size_t n_intra);

// k >= 1 for a graph (std::invalid_argument naming the value otherwise); also called by the bindings.
std::size_t check_graph_k(std::int64_t k);

extern template GraphStructure build_structure(const std::vector<MatrixView<float>>&,
                                               const std::vector<VectorView<std::int64_t>>&, std::size_t,
                                               std::size_t);
extern template GraphStructure build_structure(const std::vector<MatrixView<double>>&,
                                               const std::vector<VectorView<std::int64_t>>&, std::size_t,
                                               std::size_t);

}  // namespace agm
