// AtlasGraph statistics: the hop diameter (eccentricity bounds over the CSR arrays, hop_diameter.hpp; exact, or
// bounds from a BFS budget), Table-1 stats, memory footprint.
#include <algorithm>
#include <limits>
#include <numeric>

#include "agm/atlas_graph.hpp"
#include "agm/hop_diameter.hpp"

namespace agm {

std::int64_t AtlasGraph::diameter_hops(std::size_t n_threads) const {
    return diameter_bounds(n_threads, unlimited_bfs).diameter;
}

HopDiameter AtlasGraph::diameter_bounds(std::size_t n_threads, std::int64_t max_bfs) const {
    {
        std::lock_guard<std::mutex> lock(cache_mutex_);
        if (diameter_) return HopDiameter{*diameter_, *diameter_, 0};
    }
    const CsrStructure csr{csr_indptr().data(), csr_indices().data(), n_nodes()};
    const HopDiameter found = hop_diameter(csr, n_threads, max_bfs);
    if (found.exact()) {
        std::lock_guard<std::mutex> lock(cache_mutex_);
        diameter_ = found.diameter;
    }
    return found;
}

std::int64_t AtlasGraph::default_diameter_budget() const {
    constexpr double edge_visits = 3e7;
    const double entries = std::max<double>(1.0, static_cast<double>(csr_indices().size()));
    return std::max<std::int64_t>(8, static_cast<std::int64_t>(edge_visits / entries));
}

GraphStats AtlasGraph::stats(std::size_t n_threads, std::int64_t max_bfs) const {
    GraphStats s{};
    s.n_nodes = static_cast<std::int64_t>(n_nodes());
    s.n_edges = static_cast<std::int64_t>(n_edges());
    s.n_intra_edges = static_cast<std::int64_t>(n_intra_edges());
    s.n_cross_edges = s.n_edges - s.n_intra_edges;
    s.n_components = static_cast<std::int64_t>(component_sizes().size());
    s.largest_component = component_sizes().empty() ? 0 : *std::max_element(component_sizes().begin(), component_sizes().end());
    const HopDiameter diameter = diameter_bounds(n_threads, max_bfs);
    s.diameter_lower = diameter.diameter;
    s.diameter_upper = diameter.upper;
    return s;
}

std::size_t AtlasGraph::memory_bytes() const { return structure_.bytes() + values().bytes(); }

}  // namespace agm
