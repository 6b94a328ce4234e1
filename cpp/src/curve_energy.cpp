// Energies, lengths and the energy's derivative of many decoded polylines (see curve_energy.hpp).
#include "agm/curve_energy.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace agm {

namespace {

void check_input(MatrixView<float> x, MatrixView<std::int64_t> order, MatrixView<double> weight) {
    if (order.cols == 0) throw std::invalid_argument("order must have M >= 1 vertices a polyline; got 0");
    if (weight.rows != order.rows || weight.cols + 1 != order.cols) {
        throw std::invalid_argument("weight must have shape (B, M - 1) = (" + std::to_string(order.rows) + ", " +
                                    std::to_string(order.cols - 1) + "); got (" + std::to_string(weight.rows) + ", " +
                                    std::to_string(weight.cols) + ")");
    }
    for (std::size_t i = 0; i < order.size(); ++i) {
        if (order.data[i] < 0 || static_cast<std::size_t>(order.data[i]) >= x.rows) {
            throw std::out_of_range("order has row " + std::to_string(order.data[i]) + " at flat index " +
                                    std::to_string(i) + ", outside [0, " + std::to_string(x.rows) + ")");
        }
    }
    for (std::size_t i = 0; i < weight.size(); ++i) {
        if (!std::isfinite(weight.data[i])) throw std::invalid_argument("weight must be finite");
    }
}

}  // namespace

CurveEnergy curve_energy(MatrixView<float> x, MatrixView<std::int64_t> order, MatrixView<double> weight) {
    check_input(x, order, weight);
    const std::size_t b = order.rows, m = order.cols, dim = x.cols;
    CurveEnergy out;
    out.energy.assign(b, 0.0);
    out.length.assign(b, 0.0);
    std::vector<double> slope(x.rows * dim, 0.0);
    std::vector<double> edge(dim);
    for (std::size_t c = 0; c < b; ++c) {
        const std::int64_t* rows = order.row(c);
        for (std::size_t e = 0; e + 1 < m; ++e) {
            const std::size_t tail = static_cast<std::size_t>(rows[e]), head = static_cast<std::size_t>(rows[e + 1]);
            const float* xt = x.row(tail);
            const float* xh = x.row(head);
            double square = 0.0;
            for (std::size_t k = 0; k < dim; ++k) {
                edge[k] = static_cast<double>(xh[k] - xt[k]);  // the float32 difference
                square += edge[k] * edge[k];
            }
            const double w = weight.row(c)[e];
            out.energy[c] += w * square;
            out.length[c] += std::sqrt(square);
            if (head == tail || w == 0.0) continue;
            double* st = &slope[tail * dim];
            double* sh = &slope[head * dim];
            for (std::size_t k = 0; k < dim; ++k) {
                const double g = 2.0 * w * edge[k];
                sh[k] += g;
                st[k] -= g;
            }
        }
    }
    out.upstream.resize(slope.size());
    for (std::size_t i = 0; i < slope.size(); ++i) out.upstream[i] = static_cast<float>(slope[i]);
    return out;
}

}  // namespace agm
