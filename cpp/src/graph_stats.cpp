// AtlasGraph statistics: exact hop diameter (eccentricity bounds over the CSR arrays, hop_diameter.hpp), Table-1
// stats, memory footprint.
#include <algorithm>
#include <limits>
#include <numeric>

#include "agm/atlas_graph.hpp"
#include "agm/hop_diameter.hpp"

namespace agm {

std::int64_t AtlasGraph::diameter_hops(std::size_t n_threads) const {
    {
        std::lock_guard<std::mutex> lock(cache_mutex_);
        if (diameter_) return *diameter_;
    }
    const CsrStructure csr{csr_indptr().data(), csr_indices().data(), n_nodes()};
    const std::int64_t diameter = hop_diameter(csr, n_threads).diameter;
    std::lock_guard<std::mutex> lock(cache_mutex_);
    diameter_ = diameter;
    return diameter;
}

GraphStats AtlasGraph::stats(std::size_t n_threads) const {
    GraphStats s{};
    s.n_nodes = static_cast<std::int64_t>(n_nodes());
    s.n_edges = static_cast<std::int64_t>(n_edges());
    s.n_intra_edges = static_cast<std::int64_t>(n_intra_edges());
    s.n_cross_edges = s.n_edges - s.n_intra_edges;
    s.n_components = static_cast<std::int64_t>(component_sizes().size());
    s.largest_component = component_sizes().empty() ? 0 : *std::max_element(component_sizes().begin(), component_sizes().end());
    s.diameter_hops = diameter_hops(n_threads);
    return s;
}

std::size_t AtlasGraph::memory_bytes() const { return structure_.bytes() + values().bytes(); }

}  // namespace agm
