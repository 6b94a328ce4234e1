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
#include "agm/edge_csr.hpp"
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
    std::size_t n_edges() const { return csr_.n_edges(); }
    std::size_t n_intra_edges() const { return csr_.n_intra(); }
    const std::vector<std::int64_t>& chart_offsets() const { return chart_offsets_; }
    const std::vector<std::int32_t>& node_chart() const { return node_chart_; }
    const std::vector<std::int64_t>& node_point() const { return node_point_; }
    const FloatMatrix& latents() const { return latents_; }
    std::vector<std::int32_t> edges() const { return csr_.edge_list(); }  // (n_edges, 2) row-major, u < v: replayed
    const EdgeCsr& edge_csr() const { return csr_; }                        // edge id <-> CSR slots
    const AnyChartIndex& chart_index(std::int64_t chart) const;      // std::out_of_range for a bad chart

    // --- weights and positions: immutable blocks swapped atomically. Every reader takes a snapshot (values())
    // and reads only it, so a concurrent set_weights / set_positions never frees or tears what a reader sees.
    struct HeuristicVerdict;  // the A* consistency check of one block, computed at most once (graph_search.cpp)
    struct Values {
        std::shared_ptr<const std::vector<double>> csr_weights;  // (2 n_edges,) in CSR slot order, or null
        std::shared_ptr<const FloatMatrix> positions;            // (n_nodes, D), or null
        std::uint64_t version = 0;  // bumped by every set_weights / update_weights / set_positions
        std::shared_ptr<HeuristicVerdict> heuristic;  // a cache with its own mutex; null before any setter
    };
    Values values() const;
    // The only mutations: each builds a new block from the current one and swaps it in (serialized writers).
    void set_weights(VectorView<double> weights);  // (n_edges,), finite, >= 0; each entry is read once
    // Changes the weights of edges edge_ids[i] to weights[i] (ids in range: std::out_of_range; unique, weights
    // finite >= 0: std::invalid_argument; before set_weights: std::invalid_argument). The A* consistency verdict
    // of the previous block, when it was computed, is updated for the changed edges only.
    void update_weights(VectorView<std::int64_t> edge_ids, VectorView<double> weights);
    bool has_weights() const { return values().csr_weights != nullptr; }
    std::vector<double> weights() const;  // in edge order; std::invalid_argument before set_weights
    void set_positions(FloatMatrix positions);
    bool has_positions() const { return values().positions != nullptr; }
    std::shared_ptr<const FloatMatrix> positions() const;  // std::invalid_argument when none were set
    const std::vector<std::int64_t>& csr_indptr() const { return csr_.indptr(); }
    const std::vector<std::int32_t>& csr_indices() const { return csr_.indices(); }
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
    std::vector<std::int32_t> build_intra_edges(std::size_t n_threads) const;
    std::vector<std::int32_t> build_cross_edges() const;  // also rejects duplicate point ids within a chart
    void build_structure(const std::vector<std::int32_t>& edges, std::size_t n_intra);  // CSR and components
    void swap_in(Values next);  // under writer_mutex_
    // The verdict of a block made from `next` by changing edges `ids` (slots `slots`): the previous verdict
    // (next.heuristic) re-checked at those edges when it was computed, else a new uncomputed one.
    std::shared_ptr<HeuristicVerdict> updated_verdict(const Values& next, const std::vector<std::int64_t>& ids,
                                                      const std::vector<EdgeCsr::Slots>& slots) const;
    void check_searchable(SearchMethod method, const Values& values) const;
    void check_consistent_heuristic(const Values& values) const;  // A* precondition, cached per block
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
    EdgeCsr csr_;
    std::vector<std::int32_t> component_;
    std::vector<std::int64_t> component_sizes_;

    std::mutex writer_mutex_;          // serializes set_weights / update_weights / set_positions
    mutable std::mutex values_mutex_;  // guards values_ and metadata_ (the pointers, not the blocks)
    Values values_;
    std::string metadata_;
    mutable std::mutex pool_mutex_;
    mutable std::vector<std::unique_ptr<SearchWorkspace>> workspace_pool_;
    mutable std::optional<std::int64_t> diameter_;
};

// The A* consistency verdict of one values block: the edges with w(u, v) < ||P[u] - P[v]|| beyond rounding,
// found by one O(n_edges * D) pass on the first A* search, or carried over by update_weights (which re-checks
// only the edges it changes).
struct AtlasGraph::HeuristicVerdict {
    struct Violation {
        std::int64_t edge;
        std::int32_t u, v;
        double excess, distance, weight;
    };
    std::mutex mutex;
    bool computed = false;                // guarded by mutex
    std::vector<Violation> violations;  // sorted by edge id; guarded by mutex
};

extern template AtlasGraph::AtlasGraph(const std::vector<MatrixView<float>>&,
                                       const std::vector<VectorView<std::int64_t>>&, std::size_t, std::size_t);
extern template AtlasGraph::AtlasGraph(const std::vector<MatrixView<double>>&,
                                       const std::vector<VectorView<std::int64_t>>&, std::size_t, std::size_t);

}  // namespace agm
