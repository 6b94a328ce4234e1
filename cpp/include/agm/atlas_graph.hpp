// AtlasGraph: the multi-chart graph of Algorithm 1 (nodes = chart points, k-NN edges inside charts, cross-chart
// edges between nodes that share a data point), its CSR adjacency, components and searches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agm/array_view.hpp"
#include "agm/chart_index.hpp"
#include "agm/file_error.hpp"
#include "agm/float_matrix.hpp"
#include "agm/search.hpp"

namespace agm {

enum class SearchMethod { astar, dijkstra };

// Parses "astar" / "dijkstra"; std::invalid_argument otherwise.
SearchMethod parse_search_method(const std::string& method);

struct GraphStats {
    std::int64_t n_nodes, n_edges, n_intra_edges, n_cross_edges, n_components, largest_component, diameter_hops;
};

// B virtual-endpoint queries in ragged CSR form (offsets have B + 1 entries); goals may be empty.
template <class T>
struct EndpointBatch {
    VectorView<std::int64_t> source_offsets, source_nodes;
    VectorView<double> source_costs;
    VectorView<std::int64_t> target_offsets, target_nodes;
    VectorView<double> target_costs;
    VectorView<std::int64_t> goal_offsets;
    MatrixView<T> goals;
};

// k >= 1 for a graph (std::invalid_argument naming the value otherwise); also called by the bindings.
std::size_t check_graph_k(std::int64_t k);

class AtlasGraph {
public:
    static constexpr std::size_t tree_leaf_size = 16;  // leaf size of the per-chart k-d trees

    // Builds the per-chart k-d trees, the candidate edges, the CSR structure and the components. Throws
    // std::invalid_argument for no charts, mismatched lengths, k < 1, a chart with <= k points, different d,
    // negative or duplicate point ids within a chart, or more than 2^31 - 1 nodes.
    template <class T>
    AtlasGraph(const std::vector<MatrixView<T>>& latents, const std::vector<VectorView<std::int64_t>>& point_ids,
               std::size_t k, std::size_t n_threads);
    ~AtlasGraph();
    AtlasGraph(const AtlasGraph&) = delete;
    AtlasGraph& operator=(const AtlasGraph&) = delete;

    // --- structure
    std::size_t n_charts() const { return charts_.size(); }
    std::size_t n_nodes() const { return node_point_.size(); }
    std::size_t k() const { return k_; }
    std::size_t latent_dim() const { return latents_.cols; }
    std::size_t n_edges() const { return edges_.size() / 2; }
    std::size_t n_intra_edges() const { return n_intra_; }
    const std::vector<std::int64_t>& chart_offsets() const { return chart_offsets_; }
    const std::vector<std::int32_t>& node_chart() const { return node_chart_; }
    const std::vector<std::int64_t>& node_point() const { return node_point_; }
    const FloatMatrix& latents() const { return latents_; }
    const std::vector<std::int32_t>& edges() const { return edges_; }  // (n_edges, 2) row-major, u < v
    const AnyChartIndex& chart_index(std::int64_t chart) const;      // std::out_of_range for a bad chart

    // --- weights and positions: immutable blocks swapped atomically. Every reader takes a snapshot (values())
    // and reads only it, so a concurrent set_weights / set_positions never frees or tears what a reader sees.
    struct Values {
        std::shared_ptr<const std::vector<double>> csr_weights;  // (2 n_edges,) in CSR slot order, or null
        std::shared_ptr<const FloatMatrix> positions;            // (n_nodes, D), or null
        std::uint64_t version = 0;                               // bumped by every set_weights / set_positions
    };
    Values values() const;
    void set_weights(VectorView<double> weights);  // (n_edges,), finite, >= 0; each entry is read once
    bool has_weights() const { return values().csr_weights != nullptr; }
    std::vector<double> weights() const;  // in edge order; std::invalid_argument before set_weights
    void set_positions(FloatMatrix positions);
    bool has_positions() const { return values().positions != nullptr; }
    std::shared_ptr<const FloatMatrix> positions() const;  // std::invalid_argument when none were set
    const std::vector<std::int64_t>& csr_indptr() const { return indptr_; }
    const std::vector<std::int32_t>& csr_indices() const { return indices_; }
    std::shared_ptr<const std::vector<double>> csr_data() const;  // std::invalid_argument before set_weights

    // --- components and statistics
    const std::vector<std::int32_t>& component() const { return component_; }
    const std::vector<std::int64_t>& component_sizes() const { return component_sizes_; }
    std::int64_t diameter_hops(std::size_t n_threads) const;  // exact, cached after the first call
    GraphStats stats(std::size_t n_threads) const;
    std::size_t memory_bytes() const;
    std::size_t workspace_bytes() const;  // held by the pooled search workspaces (at most hardware_threads())

    // --- search (see search.hpp); UnreachableError when the endpoints lie in different components
    PathResult shortest_path(std::int64_t source, std::int64_t target, SearchMethod method) const;
    std::vector<PathResult> shortest_paths(VectorView<std::int64_t> sources, VectorView<std::int64_t> targets,
                                           SearchMethod method, std::size_t n_threads,
                                           bool raise_unreachable) const;
    template <class T>
    std::vector<PathResult> search_many(const EndpointBatch<T>& batch, SearchMethod method, std::size_t n_threads,
                                        bool raise_unreachable) const;
    void single_source(std::int64_t source, double* dist, std::int64_t* pred) const;

    // --- persistence (serialize.cpp)
    // save writes a temporary file beside `path`, fsyncs it and renames it over `path` (see serialize.cpp);
    // FileError for an operating-system failure. load: FileError for a missing file or a folder,
    // std::invalid_argument for anything that is not a well-formed graph file.
    void save(const std::string& path, const std::string& metadata);  // also sets metadata()
    static std::unique_ptr<AtlasGraph> load(const std::string& path);
    std::string metadata() const;

private:
    AtlasGraph() = default;
    template <class T>
    void build_charts(const std::vector<MatrixView<T>>& latents, std::size_t leaf_size);
    template <class T>
    void build_intra_edges(std::size_t n_threads);
    void build_cross_edges();
    void build_structure();  // CSR indptr/indices and components from edges_
    void check_searchable(SearchMethod method, const Values& values) const;
    void check_consistent_heuristic(const Values& values) const;  // A* precondition, cached per version
    void check_node(std::int64_t node, const char* what, std::size_t index) const;
    std::string unreachable_message(std::int64_t source, std::int64_t target) const;
    CsrView csr_view(const Values& values) const;
    std::unique_ptr<SearchWorkspace> acquire_workspace() const;
    void release_workspace(std::unique_ptr<SearchWorkspace> workspace) const;
    template <class Query>
    std::vector<PathResult> run_batch(std::size_t n_queries, std::size_t n_threads, Query&& query) const;

    std::vector<AnyChartIndex> charts_;
    std::vector<std::int64_t> chart_offsets_;
    std::vector<std::int32_t> node_chart_;
    std::vector<std::int64_t> node_point_;
    FloatMatrix latents_;
    std::size_t k_ = 0;
    std::vector<std::int32_t> edges_;
    std::size_t n_intra_ = 0;
    std::vector<std::int64_t> indptr_;
    std::vector<std::int32_t> indices_;
    std::vector<std::int32_t> component_;
    std::vector<std::int64_t> component_sizes_;

    mutable std::mutex values_mutex_;  // guards values_ and metadata_ (the pointers, not the blocks)
    Values values_;
    std::string metadata_;
    mutable std::mutex heuristic_mutex_;  // guards the cached A* consistency verdict
    mutable std::uint64_t heuristic_version_ = 0;
    mutable std::string heuristic_problem_;  // empty: consistent
    mutable std::mutex pool_mutex_;
    mutable std::vector<std::unique_ptr<SearchWorkspace>> workspace_pool_;
    mutable std::optional<std::int64_t> diameter_;
};

extern template AtlasGraph::AtlasGraph(const std::vector<MatrixView<float>>&,
                                       const std::vector<VectorView<std::int64_t>>&, std::size_t, std::size_t);
extern template AtlasGraph::AtlasGraph(const std::vector<MatrixView<double>>&,
                                       const std::vector<VectorView<std::int64_t>>&, std::size_t, std::size_t);

}  // namespace agm
