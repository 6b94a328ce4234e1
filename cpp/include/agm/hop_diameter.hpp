// Exact hop diameter (the largest finite BFS distance, over all connected components) of an undirected graph
// given as plain CSR arrays.
#pragma once

#include <cstddef>
#include <cstdint>

namespace agm {

// A borrowed unweighted adjacency in CSR form: node v's neighbours are indices[indptr[v] .. indptr[v + 1]).
// The adjacency must be symmetric (undirected); check_csr_structure verifies that.
struct CsrStructure {
    const std::int32_t* indptr = nullptr;   // (n_nodes + 1,)
    const std::int32_t* indices = nullptr;  // (indptr[n_nodes],)
    std::size_t n_nodes = 0;
};

struct HopDiameter {
    std::int64_t diameter = 0;  // max over components of the largest hop distance; 0 for no edges. With a BFS
                                // budget that ran out: the largest eccentricity found, a lower bound
    std::int64_t upper = 0;     // an upper bound of the diameter; equal to `diameter` when exact
    std::int64_t n_bfs = 0;     // breadth-first searches run (each full traversal of one component counts once)
    bool exact() const { return diameter == upper; }
};

// No limit on the number of BFS (the exact diameter).
inline constexpr std::int64_t unlimited_bfs = 0;

// The default (AtlasGraph::diameter_hops): hop_diameter_bounds on a copy of the graph renumbered in BFS order, so
// that neighbours have nearby ids and each BFS reads its per-node arrays almost sequentially (measured 2.2x
// faster per BFS on a 64k-node k-NN graph of points in the plane whose ids were in random order).
// max_bfs > 0 stops the search before a round that would start BFS number max_bfs + 1 and returns bounds
// (diameter <= true diameter <= upper; equal when the bounds met in time).
HopDiameter hop_diameter(const CsrStructure& graph, std::size_t n_threads, std::int64_t max_bfs = unlimited_bfs);

// Bounding eccentricities (Takes & Kosters, "Determining the diameter of small world networks", 2011, first
// pruning rule): for every node w, lower[w] <= ecc(w) <= upper[w] from each BFS from v (ecc(v) - d(v,w) <=
// ecc(w) <= ecc(v) + d(v,w), ecc(w) >= d(v,w)); w is dropped once upper[w] <= the largest eccentricity found.
// Each round runs max(2, threads) BFS in parallel, alternating the open nodes with the smallest lower and the
// largest upper bound. Exact; 33 BFS on k-NN graphs of 64k and 256k points in the unit square, but hundreds
// where nearly every node's eccentricity is close to the diameter (cylinders, spheres).
// With max_bfs > 0 it stops once max_bfs BFS have run (see hop_diameter). `initial_upper`, when given, holds an
// upper bound of every node's eccentricity (e.g. its component's size - 1), used for nodes no BFS reached;
// otherwise n_nodes - 1.
HopDiameter hop_diameter_bounds(const CsrStructure& graph, std::size_t n_threads,
                                std::int64_t max_bfs = unlimited_bfs, const std::int32_t* initial_upper = nullptr);

// iFUB with a 4-sweep start (Crescenzi, Grossi, Habib, Lanzi, Marino, "On computing the diameter of real-world
// undirected graphs", TCS 2013), per component, largest first. Exact, but measured worse than the bounds on
// k-NN graphs: its central node's top BFS levels hold thousands of nodes there (1,814 BFS against 33 on 64k
// points in the unit square). Kept for the benchmark and as a second exact method in the tests.
HopDiameter hop_diameter_ifub(const CsrStructure& graph, std::size_t n_threads);

// std::invalid_argument naming the array and the offending value unless indptr starts at 0, never decreases
// and ends at n_indices, every index is in [0, n_nodes), and the adjacency is symmetric.
void check_csr_structure(const CsrStructure& graph, std::size_t n_indices);

}  // namespace agm
