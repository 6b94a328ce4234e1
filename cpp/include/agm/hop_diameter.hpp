// Exact hop diameter (the largest finite BFS distance, over all connected components) of an undirected graph
// given as plain CSR arrays.
#pragma once

#include <cstddef>
#include <cstdint>

namespace agm {

// A borrowed unweighted adjacency in CSR form: node v's neighbours are indices[indptr[v] .. indptr[v + 1]).
// The adjacency must be symmetric (undirected); check_csr_structure verifies that.
struct CsrStructure {
    const std::int64_t* indptr = nullptr;   // (n_nodes + 1,)
    const std::int32_t* indices = nullptr;  // (indptr[n_nodes],)
    std::size_t n_nodes = 0;
};

struct HopDiameter {
    std::int64_t diameter = 0;  // max over components of the largest hop distance; 0 for no edges
    std::int64_t n_bfs = 0;     // breadth-first searches run (each full traversal of one component counts once)
};

// The default (AtlasGraph::diameter_hops): hop_diameter_bounds on a copy of the graph renumbered in BFS order, so
// that neighbours have nearby ids and each BFS reads its per-node arrays almost sequentially (measured 2.2x
// faster per BFS on a 64k-node k-NN graph of points in the plane whose ids were in random order).
HopDiameter hop_diameter(const CsrStructure& graph, std::size_t n_threads);

// Bounding eccentricities (Takes & Kosters, "Determining the diameter of small world networks", 2011, first
// pruning rule): for every node w, lower[w] <= ecc(w) <= upper[w] from each BFS from v (ecc(v) - d(v,w) <=
// ecc(w) <= ecc(v) + d(v,w), ecc(w) >= d(v,w)); w is dropped once upper[w] <= the largest eccentricity found.
// Each round runs max(2, threads) BFS in parallel, alternating the open nodes with the smallest lower and the
// largest upper bound. Exact; 33 BFS on k-NN graphs of 64k and 256k points in the unit square, but hundreds
// where nearly every node's eccentricity is close to the diameter (cylinders, spheres).
HopDiameter hop_diameter_bounds(const CsrStructure& graph, std::size_t n_threads);

// iFUB with a 4-sweep start (Crescenzi, Grossi, Habib, Lanzi, Marino, "On computing the diameter of real-world
// undirected graphs", TCS 2013), per component, largest first. Exact, but measured worse than the bounds on
// k-NN graphs: its central node's top BFS levels hold thousands of nodes there (1,814 BFS against 33 on 64k
// points in the unit square). Kept for the benchmark and as a second exact method in the tests.
HopDiameter hop_diameter_ifub(const CsrStructure& graph, std::size_t n_threads);

// std::invalid_argument naming the array and the offending value unless indptr starts at 0, never decreases
// and ends at n_indices, every index is in [0, n_nodes), and the adjacency is symmetric.
void check_csr_structure(const CsrStructure& graph, std::size_t n_indices);

}  // namespace agm
