// The Gauss-Newton step of many discrete curves at once (refinement, agm.geodesic.refinement.banded_step): per
// curve, the block-tridiagonal matrix of its chord energy with the metric J^T J frozen at its free points, factored
// by a block Cholesky; optionally updated by BFGS along the curve's last move (Sherman-Morrison-Woodbury).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "agm/array_view.hpp"

namespace agm {

// What one call reads (all views of caller memory, row-major).
struct CurveStepInput {
    const double* jt = nullptr;        // (P, d, D): J^T of every point (rows of the energy layout)
    std::size_t n_points = 0;          // P
    std::size_t dim = 0;               // d, the latent size
    std::size_t ambient = 0;           // D, the decoded size
    const double* gradient = nullptr;  // (P, d): the energy's gradient at every point
    VectorView<std::int64_t> free;     // (F,) the free points (rows of jt), curve after curve, in order
    VectorView<std::int64_t> start;    // (C,) where each curve starts among the F (0 first, increasing)
    VectorView<double> diag_weight;    // (F,) weight of J_f^T J_f in the diagonal block
    VectorView<double> off_weight;     // (F - 1,) weight of J_f^T J_(f+1) (ignored between curves)
    const double* moved = nullptr;     // (F, d) the last move s, or null (no secant)
    const double* change = nullptr;    // (F, d) the gradient's change y over it, or null
    double damping = 0.0;              // Levenberg level relative to a curve's mean diagonal
};

// What one call gives: step -H^-1 g (F, d), each free point's decoded displacement |J_f step_f| (F,), and whether
// every curve's matrix was positive definite in floating point (false: the caller takes another solver; a NaN in
// a curve's input is not a failure, it gives NaN in that curve's step only, as LAPACK's banded Cholesky would).
struct CurveStep {
    std::vector<double> step;
    std::vector<double> move;
    bool positive_definite = true;
};

// Checks the sizes and indices (std::invalid_argument / std::out_of_range naming the argument), then solves.
CurveStep curve_step(const CurveStepInput& in);

}  // namespace agm
