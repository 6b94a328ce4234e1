// AtlasGraph: the structure built once, the values block and its three mutations, and the calls of the searches
// on one values snapshot (see atlas_graph.hpp).
#include "agm/atlas_graph.hpp"

#include <stdexcept>
#include <string>
#include <utility>

#include "agm/heuristic_check.hpp"

namespace agm {

template <class T>
AtlasGraph::AtlasGraph(const std::vector<MatrixView<T>>& latents,
                       const std::vector<VectorView<std::int64_t>>& point_ids, std::size_t k,
                       std::size_t n_threads)
    : AtlasGraph(build_structure(latents, point_ids, k, n_threads)) {}

template AtlasGraph::AtlasGraph(const std::vector<MatrixView<float>>&, const std::vector<VectorView<std::int64_t>>&,
                                std::size_t, std::size_t);
template AtlasGraph::AtlasGraph(const std::vector<MatrixView<double>>&,
                                const std::vector<VectorView<std::int64_t>>&, std::size_t, std::size_t);

AtlasGraph::AtlasGraph(GraphStructure structure) : structure_(std::move(structure)), pool_(structure_.n_nodes()) {}

AtlasGraph::~AtlasGraph() = default;

const AnyChartIndex& AtlasGraph::chart_index(std::int64_t chart) const {
    if (chart < 0 || static_cast<std::size_t>(chart) >= n_charts()) {
        throw std::out_of_range("chart must be in [0, " + std::to_string(n_charts()) + "); got " +
                                std::to_string(chart));
    }
    return structure_.charts[static_cast<std::size_t>(chart)];
}

AtlasGraph::Values AtlasGraph::values() const {
    std::lock_guard<std::mutex> lock(values_mutex_);
    return values_;
}

void AtlasGraph::swap_in(Values next) {
    if (!next.heuristic) next.heuristic = std::make_shared<HeuristicVerdict>();
    std::lock_guard<std::mutex> lock(values_mutex_);
    next.version = values_.version + 1;
    std::swap(values_, next);
    // `next` (the previous block) is released after the lock; readers holding a snapshot keep it alive.
}

void AtlasGraph::set_weights(VectorView<double> weights) {
    auto data = csr_weights_of(structure_.csr, weights);  // checks every entry
    std::lock_guard<std::mutex> writer(writer_mutex_);
    Values next = values();
    next.csr_weights = std::move(data);
    next.heuristic = nullptr;  // a new verdict, computed by the first A* search
    swap_in(std::move(next));
}

void AtlasGraph::update_weights(VectorView<std::int64_t> edge_ids, VectorView<double> weights) {
    const WeightUpdate update = checked_update(structure_.csr, edge_ids, weights);
    std::lock_guard<std::mutex> writer(writer_mutex_);
    Values next = values();
    if (!next.csr_weights) throw std::invalid_argument("the graph has no weights yet: call set_weights first");
    next.csr_weights = apply_update(*next.csr_weights, update);
    next.heuristic = updated_verdict(next, update);
    swap_in(std::move(next));
}

void AtlasGraph::set_positions(FloatMatrix positions) {
    if (positions.rows != n_nodes() || positions.cols == 0) {
        throw std::invalid_argument("positions must have shape (n_nodes, D) = (" + std::to_string(n_nodes()) +
                                    ", D >= 1); got (" + std::to_string(positions.rows) + ", " +
                                    std::to_string(positions.cols) + ")");
    }
    auto frozen = std::make_shared<const FloatMatrix>(std::move(positions));
    std::lock_guard<std::mutex> writer(writer_mutex_);
    Values next = values();
    next.positions = std::move(frozen);
    next.heuristic = nullptr;
    swap_in(std::move(next));
}

std::size_t AtlasGraph::check_heuristic(std::size_t n_threads) const {
    return heuristic_violations(structure_.csr, values(), n_threads);
}

bool AtlasGraph::heuristic_checked() const {
    const Values v = values();
    if (!v.csr_weights || !v.positions || !v.heuristic) return false;
    std::lock_guard<std::mutex> lock(v.heuristic->mutex);
    return v.heuristic->computed;
}

std::vector<double> AtlasGraph::weights() const { return edge_weights_of(structure_.csr, *csr_data()); }

std::shared_ptr<const PagedWeights> AtlasGraph::csr_data() const {
    auto data = values().csr_weights;
    if (!data) throw std::invalid_argument("the graph has no weights yet: call set_weights first");
    return data;
}

std::shared_ptr<const FloatMatrix> AtlasGraph::positions() const {
    auto positions = values().positions;
    if (!positions) throw std::invalid_argument("the graph has no positions: call set_positions first");
    return positions;
}

std::string AtlasGraph::metadata() const {
    std::lock_guard<std::mutex> lock(values_mutex_);
    return metadata_;
}

std::vector<PathResult> AtlasGraph::shortest_paths(VectorView<std::int64_t> sources, VectorView<std::int64_t> targets,
                                                   SearchMethod method, std::size_t n_threads,
                                                   bool raise_unreachable) const {
    return search_pairs(structure_, values(), pool_, sources, targets, method, n_threads, raise_unreachable);
}

PathResult AtlasGraph::shortest_path(std::int64_t source, std::int64_t target, SearchMethod method) const {
    check_node(structure_, source, "source", not_an_entry);
    check_node(structure_, target, "target", not_an_entry);
    auto results = shortest_paths({&source, 1}, {&target, 1}, method, 1, true);
    return std::move(results[0]);
}

void AtlasGraph::single_source(std::int64_t source, double* dist, std::int64_t* pred) const {
    search_single_source(structure_, values(), source, dist, pred);
}

}  // namespace agm
