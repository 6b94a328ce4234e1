// GraphValues: edge-order <-> CSR-slot weights, and checked weight updates (see graph_values.hpp).
#include "agm/graph_values.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

namespace agm {

namespace {

bool valid_weight(double w) { return w >= 0.0 && w != std::numeric_limits<double>::infinity(); }  // NaN: false

[[noreturn]] void bad_weight(double w, std::size_t index) {
    throw std::invalid_argument("weights must be finite and >= 0; got " + std::to_string(w) + " at index " +
                                std::to_string(index));
}

}  // namespace

std::size_t GraphValues::bytes() const {
    return (csr_weights ? csr_weights->bytes() : 0) + (positions ? positions->bytes() : 0);  // pages + page table
}

std::shared_ptr<const PagedWeights> csr_weights_of(const EdgeCsr& csr, VectorView<double> weights) {
    const std::size_t m = csr.n_edges();
    if (weights.size != m) {
        throw std::invalid_argument("weights must have shape (n_edges,) = (" + std::to_string(m) + ",); got (" +
                                    std::to_string(weights.size) + ",)");
    }
    auto data = std::make_shared<PagedWeights>(2 * m);
    csr.for_each_edge([&](std::size_t e, const EdgeCsr::Slots& s) {
        const double w = weights[e];  // read once: checked and stored as the same value
        if (!valid_weight(w)) bad_weight(w, e);
        data->set(static_cast<std::size_t>(s.slot_u), w);
        data->set(static_cast<std::size_t>(s.slot_v), w);
    });
    return data;
}

std::vector<double> edge_weights_of(const EdgeCsr& csr, const PagedWeights& csr_weights) {
    std::vector<double> weights(csr.n_edges());
    csr.for_each_edge([&](std::size_t e, const EdgeCsr::Slots& s) {
        weights[e] = csr_weights[static_cast<std::size_t>(s.slot_u)];
    });
    return weights;
}

WeightUpdate checked_update(const EdgeCsr& csr, VectorView<std::int64_t> edge_ids, VectorView<double> weights) {
    if (edge_ids.size != weights.size) {
        throw std::invalid_argument("edge_ids and weights must have the same length; got " +
                                    std::to_string(edge_ids.size) + " and " + std::to_string(weights.size));
    }
    WeightUpdate update{{edge_ids.begin(), edge_ids.end()}, {weights.begin(), weights.end()}, {}};  // read once
    const auto m = static_cast<std::int64_t>(csr.n_edges());
    for (std::size_t i = 0; i < update.ids.size(); ++i) {
        if (update.ids[i] < 0 || update.ids[i] >= m) {
            throw std::out_of_range("edge_ids must hold edge ids in [0, " + std::to_string(m) + "); got " +
                                    std::to_string(update.ids[i]) + " at index " + std::to_string(i));
        }
        if (!valid_weight(update.weights[i])) bad_weight(update.weights[i], i);
    }
    std::vector<std::int64_t> sorted = update.ids;
    std::sort(sorted.begin(), sorted.end());
    const auto twice = std::adjacent_find(sorted.begin(), sorted.end());
    if (twice != sorted.end()) {
        throw std::invalid_argument("edge_ids must be unique; got " + std::to_string(*twice) + " more than once");
    }
    update.slots.reserve(update.ids.size());
    for (const std::int64_t e : update.ids) update.slots.push_back(csr.slots_of(static_cast<std::size_t>(e)));
    return update;
}

std::shared_ptr<const PagedWeights> apply_update(const PagedWeights& csr_weights, const WeightUpdate& update) {
    std::vector<PagedWeights::Change> changes;
    changes.reserve(2 * update.ids.size());
    for (std::size_t i = 0; i < update.ids.size(); ++i) {
        changes.push_back({static_cast<std::size_t>(update.slots[i].slot_u), update.weights[i]});
        changes.push_back({static_cast<std::size_t>(update.slots[i].slot_v), update.weights[i]});
    }
    return csr_weights.with(std::move(changes));
}

}  // namespace agm
