// A* / Dijkstra on a CSR graph: binary heap with lazy deletion, early exit, reopening, virtual endpoints.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "agm/array_view.hpp"
#include "agm/paged_weights.hpp"

namespace agm {

// Thrown when the target cannot be reached from the source (different connected components).
class UnreachableError : public std::invalid_argument {
public:
    explicit UnreachableError(const std::string& what) : std::invalid_argument(what) {}
};

// A symmetric weighted adjacency in CSR form (borrowed).
struct CsrView {
    const std::int32_t* indptr = nullptr;   // (n_nodes + 1,)
    const std::int32_t* indices = nullptr;  // (indptr[n_nodes],)
    WeightsView weights;                    // (indptr[n_nodes],), >= 0
    std::size_t n_nodes = 0;
};

// The A* heuristic h(v) = scale * min_g ||positions[v] - goals[g]|| (T = float or double). With positions ==
// nullptr the heuristic is 0 (Dijkstra). `scale` is slightly below 1 so that rounding in float32 positions or
// weights cannot make h overestimate (see search.cpp).
template <class T>
struct Heuristic {
    MatrixView<T> positions;  // (n_nodes, D) or empty
    MatrixView<T> goals;      // (G, D)
    double scale = 1.0;
};

// One query's endpoints: a virtual source joined to source_nodes[i] at source_costs[i], and a virtual target
// reached from target_nodes[j] at target_costs[j] (costs >= 0, nodes in range, both non-empty).
struct Endpoints {
    VectorView<std::int64_t> source_nodes;
    VectorView<double> source_costs;
    VectorView<std::int64_t> target_nodes;
    VectorView<double> target_costs;
};

struct PathResult {
    std::vector<std::int64_t> path;  // graph nodes, first entered to last left; empty when unreachable
    double cost = 0.0;               // total cost including both attachment costs; +inf when unreachable
};

// Per-thread scratch reused across queries: every array has n_nodes + 1 slots (the last is the virtual target)
// and is only valid where stamp == epoch, so starting a query is O(1) and a query costs O(visited).
class SearchWorkspace {
public:
    explicit SearchWorkspace(std::size_t n_nodes);
    std::size_t n_nodes() const { return n_nodes_; }
    // Bytes of the per-node arrays of a workspace for n_nodes nodes (the heap, O(visited), excluded).
    static std::size_t bytes_for(std::size_t n_nodes) { return (n_nodes + 1) * (sizeof(NodeState) + sizeof(double)); }

    template <class T>
    PathResult run(const CsrView& graph, const Heuristic<T>& heuristic, const Endpoints& endpoints);

private:
    struct HeapEntry {
        double f;
        double g;
        std::int32_t node;
    };
    void new_epoch();
    template <class T>
    double h_of(const Heuristic<T>& heuristic, std::size_t v) const;
    void push(std::int32_t node, double g, double f);
    HeapEntry pop();

    // Everything a relaxation touches sits in one 32-byte record (one cache miss per discovered node).
    struct NodeState {
        double g;
        double h;
        std::int32_t parent;         // -1: entered from the virtual source
        std::uint32_t stamp;         // g/h/parent are valid for this query when stamp == epoch
        std::uint32_t target_stamp;  // the node is a target attachment of this query
        std::uint32_t unused;
    };
    std::size_t n_nodes_;
    std::uint32_t epoch_ = 0;
    std::vector<NodeState> state_;
    std::vector<double> target_cost_;
    std::vector<HeapEntry> heap_;
};

// Full Dijkstra from one node: dist (n_nodes,) with +inf where unreachable, pred (n_nodes,) with -1 for the
// source and unreachable nodes.
void single_source_dijkstra(const CsrView& graph, std::size_t source, double* dist, std::int64_t* pred);

// h scale for positions of dtype T: 1 - 2^-16 for float32, 1 - 2^-40 for float64.
template <class T>
constexpr double heuristic_scale();
template <>
constexpr double heuristic_scale<float>() { return 1.0 - 1.0 / 65536.0; }
template <>
constexpr double heuristic_scale<double>() { return 1.0 - 1.0 / 1099511627776.0; }

}  // namespace agm
