// Searches on an atlas graph as free functions over (structure, values snapshot): endpoint checks, reachability
// by component labels, the A* preconditions, per-thread workspaces from a pool, batches over threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agm/array_view.hpp"
#include "agm/graph_structure.hpp"
#include "agm/graph_values.hpp"
#include "agm/search.hpp"

namespace agm {

enum class SearchMethod { astar, dijkstra };

// Parses "astar" / "dijkstra"; std::invalid_argument otherwise.
SearchMethod parse_search_method(const std::string& method);

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

// Search workspaces kept for reuse between calls (at most hardware_threads() of them). Thread-safe.
class WorkspacePool {
public:
    explicit WorkspacePool(std::size_t n_nodes) : n_nodes_(n_nodes) {}
    std::unique_ptr<SearchWorkspace> acquire();
    void release(std::unique_ptr<SearchWorkspace> workspace);
    std::size_t bytes() const;  // held by the pooled workspaces

private:
    std::size_t n_nodes_;
    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<SearchWorkspace>> pool_;
};

// Every search throws std::invalid_argument when the values lack what the method needs (weights; positions and a
// consistent heuristic for A*), std::out_of_range for a node id out of range, and UnreachableError for endpoints in
// different components when raise_unreachable (otherwise such a query gets cost +inf and an empty path).

// B (source, target) node pairs.
std::vector<PathResult> search_pairs(const GraphStructure& structure, const GraphValues& values, WorkspacePool& pool,
                                     VectorView<std::int64_t> sources, VectorView<std::int64_t> targets,
                                     SearchMethod method, std::size_t n_threads, bool raise_unreachable);
// B virtual-endpoint queries (see EndpointBatch and the bindings' docs).
template <class T>
std::vector<PathResult> search_endpoints(const GraphStructure& structure, const GraphValues& values,
                                         WorkspacePool& pool, const EndpointBatch<T>& batch, SearchMethod method,
                                         std::size_t n_threads, bool raise_unreachable);
// Full Dijkstra from one node into dist (n_nodes,) and pred (n_nodes,).
void search_single_source(const GraphStructure& structure, const GraphValues& values, std::int64_t source,
                          double* dist, std::int64_t* pred);

// std::out_of_range unless 0 <= node < n_nodes, naming `what` (and `index` unless it is not_an_entry).
constexpr std::size_t not_an_entry = static_cast<std::size_t>(-1);
void check_node(const GraphStructure& structure, std::int64_t node, const char* what, std::size_t index);

}  // namespace agm
