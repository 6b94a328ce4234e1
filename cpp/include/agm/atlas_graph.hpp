// AtlasGraph: the multi-chart graph of Algorithm 1 (nodes = chart points, k-NN edges inside charts, cross-chart
// edges between nodes that share a data point) as two parts:
//  * the structure (graph_structure.hpp): nodes, k-d trees, candidate edges as a CSR, components - built once by
//    the constructor (or load) and immutable;
//  * the values (graph_values.hpp): edge weights and decoded positions, one immutable block.
// The only mutations are set_weights, update_weights and set_positions: each builds a new values block from the
// current one and swaps it in (one writer at a time). Every reader (searches, weights(), csr_data(), save) takes a
// snapshot with values() and reads only it, so a concurrent writer never frees or tears what a reader sees.
// Searches are free functions over (structure, snapshot) in graph_search.hpp; the methods below call them.
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
#include "agm/graph_search.hpp"
#include "agm/graph_structure.hpp"
#include "agm/graph_values.hpp"
#include "agm/hop_diameter.hpp"
#include "agm/search.hpp"

namespace agm {

struct GraphStats {
    std::int64_t n_nodes, n_edges, n_intra_edges, n_cross_edges, n_components, largest_component;
    std::int64_t diameter_lower, diameter_upper;  // hop diameter bounds; equal when exact
    bool diameter_exact() const { return diameter_lower == diameter_upper; }
};

class AtlasGraph {
public:
    static constexpr std::size_t tree_leaf_size = GraphStructure::tree_leaf_size;
    using Values = GraphValues;

    // Builds the structure (see build_structure for the std::invalid_argument cases); no values yet.
    template <class T>
    AtlasGraph(const std::vector<MatrixView<T>>& latents, const std::vector<VectorView<std::int64_t>>& point_ids,
               std::size_t k, std::size_t n_threads);
    explicit AtlasGraph(GraphStructure structure);
    ~AtlasGraph();
    AtlasGraph(const AtlasGraph&) = delete;
    AtlasGraph& operator=(const AtlasGraph&) = delete;

    // --- structure (immutable)
    const GraphStructure& structure() const { return structure_; }
    std::size_t n_charts() const { return structure_.n_charts(); }
    std::size_t n_nodes() const { return structure_.n_nodes(); }
    std::size_t k() const { return structure_.k; }
    std::size_t latent_dim() const { return structure_.latents.cols; }
    std::size_t n_edges() const { return structure_.n_edges(); }
    std::size_t n_intra_edges() const { return structure_.n_intra_edges(); }
    const std::vector<std::int64_t>& chart_offsets() const { return structure_.chart_offsets; }
    std::vector<std::int32_t> node_chart() const { return structure_.node_chart(); }  // (n_nodes,), computed
    const std::vector<std::int32_t>& node_point() const { return structure_.node_point; }
    const FloatMatrix& latents() const { return structure_.latents; }
    std::vector<std::int32_t> edges() const { return structure_.csr.edge_list(); }  // (n_edges, 2), u < v: replayed
    const EdgeCsr& edge_csr() const { return structure_.csr; }                        // edge id <-> CSR slots
    const AnyChartIndex& chart_index(std::int64_t chart) const;  // std::out_of_range for a bad chart
    const std::vector<std::int32_t>& csr_indptr() const { return structure_.csr.indptr(); }
    const std::vector<std::int32_t>& csr_indices() const { return structure_.csr.indices(); }
    const std::vector<std::int32_t>& component() const { return structure_.component; }
    const std::vector<std::int64_t>& component_sizes() const { return structure_.component_sizes; }

    // --- values: the snapshot, and the only three mutations
    Values values() const;
    void set_weights(VectorView<double> weights);  // (n_edges,), finite, >= 0; each entry is read once
    // Edge edge_ids[i] gets weights[i] (see checked_update for the errors; std::invalid_argument before
    // set_weights). The previous block's A* verdict, when computed, is re-checked at these edges only.
    void update_weights(VectorView<std::int64_t> edge_ids, VectorView<double> weights);
    void set_positions(FloatMatrix positions);  // (n_nodes, D >= 1)
    // The current block's A* verdict computed now (rows over n_threads) unless it was; the violating edges.
    std::size_t check_heuristic(std::size_t n_threads) const;
    bool heuristic_checked() const;  // whether that verdict is computed (false without weights or positions)
    bool has_weights() const { return values().csr_weights != nullptr; }
    std::vector<double> weights() const;  // in edge order; std::invalid_argument before set_weights
    bool has_positions() const { return values().positions != nullptr; }
    std::shared_ptr<const FloatMatrix> positions() const;         // std::invalid_argument when none were set
    std::shared_ptr<const PagedWeights> csr_data() const;  // std::invalid_argument before set_weights

    // --- statistics
    std::int64_t diameter_hops(std::size_t n_threads) const;  // exact, cached after the first call
    // Hop diameter bounds from at most max_bfs BFS (unlimited_bfs: exact); an exact result is cached, and once
    // cached it is returned (with n_bfs = 0) whatever the budget.
    HopDiameter diameter_bounds(std::size_t n_threads, std::int64_t max_bfs) const;
    // BFS budget of stats() by default: max(8, 3e7 / CSR entries), about 3e7 edge visits and at least 8 BFS,
    // a fraction of the build's cost (0.29-0.38x a 256k-point k = 10 build, 2 threads, benchmarks/bench_stats.py).
    // Graphs of the paper's size (a few thousand nodes: hundreds of BFS allowed, tens needed) get their exact
    // diameter, and so do k-NN graphs of points in the plane up to about 100k nodes (19 BFS needed at 64k, 41
    // allowed); larger ones, and large graphs where nearly every node's eccentricity is close to the diameter
    // (cubes, cylinders), get bounds (256k points in the square: [420, 423], exact 420).
    std::int64_t default_diameter_budget() const;
    GraphStats stats(std::size_t n_threads, std::int64_t max_bfs) const;
    std::size_t memory_bytes() const;
    std::size_t workspace_bytes() const { return pool_.bytes(); }  // the pooled search workspaces

    // --- search (graph_search.hpp, on one values snapshot per call)
    PathResult shortest_path(std::int64_t source, std::int64_t target, SearchMethod method) const;
    std::vector<PathResult> shortest_paths(VectorView<std::int64_t> sources, VectorView<std::int64_t> targets,
                                           SearchMethod method, std::size_t n_threads,
                                           bool raise_unreachable) const;
    template <class T>
    std::vector<PathResult> search_many(const EndpointBatch<T>& batch, SearchMethod method, std::size_t n_threads,
                                        bool raise_unreachable) const {
        return search_endpoints(structure_, values(), pool_, batch, method, n_threads, raise_unreachable);
    }
    void single_source(std::int64_t source, double* dist, std::int64_t* pred) const;

    // --- persistence (serialize.cpp)
    // save writes a temporary file beside `path`, fsyncs it and renames it over `path` (see serialize.cpp);
    // FileError for an operating-system failure. load: FileError for a missing file or a folder,
    // std::invalid_argument for anything that is not a well-formed graph file.
    void save(const std::string& path, const std::string& metadata);  // also sets metadata()
    static std::unique_ptr<AtlasGraph> load(const std::string& path);
    std::string metadata() const;

private:
    void swap_in(Values next);  // under writer_mutex_: a new verdict when next has none, the version bumped

    const GraphStructure structure_;
    std::mutex writer_mutex_;          // serializes set_weights / update_weights / set_positions
    mutable std::mutex values_mutex_;  // guards values_ and metadata_ (the pointers, not the blocks)
    Values values_;
    std::string metadata_;
    mutable WorkspacePool pool_;
    mutable std::mutex cache_mutex_;  // guards diameter_
    mutable std::optional<std::int64_t> diameter_;
};

extern template AtlasGraph::AtlasGraph(const std::vector<MatrixView<float>>&,
                                       const std::vector<VectorView<std::int64_t>>&, std::size_t, std::size_t);
extern template AtlasGraph::AtlasGraph(const std::vector<MatrixView<double>>&,
                                       const std::vector<VectorView<std::int64_t>>&, std::size_t, std::size_t);

}  // namespace agm
