// The discrete energy of many decoded polylines at once (refinement, agm.geodesic.refinement.evaluation): from
// the decoded rows x (R, D) float32 and each polyline's rows order (B, M), the energy sum_e w_e |x_(e+1) - x_e|^2,
// the length sum_e |x_(e+1) - x_e| (the edges are float32 differences, as a path's length is measured) and the
// energy's derivative by the rows (float32, accumulated in float64).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "agm/array_view.hpp"

namespace agm {

struct CurveEnergy {
    std::vector<double> energy;  // (B,)
    std::vector<double> length;  // (B,)
    std::vector<float> upstream;  // (R, D): dE/dx of every row
};

// Checks the sizes and indices (std::invalid_argument / std::out_of_range naming the argument), then sums.
CurveEnergy curve_energy(MatrixView<float> x, MatrixView<std::int64_t> order, MatrixView<double> weight);

}  // namespace agm
