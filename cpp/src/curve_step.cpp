// Block-tridiagonal Gauss-Newton steps of many curves (see curve_step.hpp). Curve c owns the free points
// [start[c], start[c + 1]); its matrix has diagonal blocks w_f J_f^T J_f + level I and upper blocks
// v_f J_f^T J_(f+1); H = L L^T with L block lower bidiagonal (L_k, C_k): C_k = U_(k-1)^T L_(k-1)^-T,
// L_k L_k^T = D_k - C_k C_k^T.
#include "agm/curve_step.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace agm {

namespace {

// out (d x d) = w * a b^T of two (d x D) row-major blocks.
void outer_rows(const double* a, const double* b, std::size_t d, std::size_t ambient, double w, double* out) {
    for (std::size_t r = 0; r < d; ++r) {
        for (std::size_t c = 0; c < d; ++c) {
            const double* x = a + r * ambient;
            const double* y = b + c * ambient;
            double sum = 0.0;
            for (std::size_t k = 0; k < ambient; ++k) sum += x[k] * y[k];
            out[r * d + c] = w * sum;
        }
    }
}

// In place: the lower Cholesky factor of a symmetric (d x d) matrix (its lower triangle read); false where a pivot
// is <= 0 (LAPACK's test: a NaN pivot passes and propagates).
bool cholesky(double* a, std::size_t d) {
    for (std::size_t j = 0; j < d; ++j) {
        double pivot = a[j * d + j];
        for (std::size_t k = 0; k < j; ++k) pivot -= a[j * d + k] * a[j * d + k];
        if (pivot <= 0.0) return false;
        const double root = std::sqrt(pivot);
        a[j * d + j] = root;
        for (std::size_t i = j + 1; i < d; ++i) {
            double v = a[i * d + j];
            for (std::size_t k = 0; k < j; ++k) v -= a[i * d + k] * a[j * d + k];
            a[i * d + j] = v / root;
        }
        for (std::size_t c = j + 1; c < d; ++c) a[j * d + c] = 0.0;
    }
    return true;
}

// x <- L^-1 x (forward substitution, L lower (d x d)).
void lower_solve(const double* l, double* x, std::size_t d) {
    for (std::size_t i = 0; i < d; ++i) {
        double v = x[i];
        for (std::size_t k = 0; k < i; ++k) v -= l[i * d + k] * x[k];
        x[i] = v / l[i * d + i];
    }
}

// x <- L^-T x (back substitution).
void upper_solve(const double* l, double* x, std::size_t d) {
    for (std::size_t i = d; i-- > 0;) {
        double v = x[i];
        for (std::size_t k = i + 1; k < d; ++k) v -= l[k * d + i] * x[k];
        x[i] = v / l[i * d + i];
    }
}

// y += sign * M x, or M^T x with `transpose` (M d x d).
void multiply_add(const double* m, const double* x, double* y, std::size_t d, bool transpose, double sign = 1.0) {
    for (std::size_t r = 0; r < d; ++r) {
        double sum = 0.0;
        for (std::size_t c = 0; c < d; ++c) sum += (transpose ? m[c * d + r] : m[r * d + c]) * x[c];
        y[r] += sign * sum;
    }
}

double dot(const double* a, const double* b, std::size_t n) {
    double sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) sum += a[i] * b[i];
    return sum;
}

void check_input(const CurveStepInput& in) {
    const std::size_t n_free = in.free.size;
    if (in.dim == 0) throw std::invalid_argument("jt must have d >= 1 latent directions; got 0");
    if (in.diag_weight.size != n_free) {
        throw std::invalid_argument("diag_weight must have one entry per free point (" + std::to_string(n_free) +
                                    "); got " + std::to_string(in.diag_weight.size));
    }
    const std::size_t n_off = n_free > 0 ? n_free - 1 : 0;
    if (in.off_weight.size != n_off) {
        throw std::invalid_argument("off_weight must have F - 1 = " + std::to_string(n_off) + " entries; got " +
                                    std::to_string(in.off_weight.size));
    }
    for (std::size_t f = 0; f < n_free; ++f) {
        if (in.free[f] < 0 || static_cast<std::size_t>(in.free[f]) >= in.n_points) {
            throw std::out_of_range("free[" + std::to_string(f) + "] = " + std::to_string(in.free[f]) +
                                    " is outside [0, " + std::to_string(in.n_points) + ")");
        }
    }
    if (n_free > 0 && (in.start.size == 0 || in.start[0] != 0)) {
        throw std::invalid_argument("start must begin with 0 (the first curve's first free point)");
    }
    for (std::size_t c = 0; c < in.start.size; ++c) {
        const std::int64_t next = c + 1 < in.start.size ? in.start[c + 1] : static_cast<std::int64_t>(n_free);
        if (in.start[c] < 0 || in.start[c] >= next) {
            throw std::invalid_argument("start must increase strictly within [0, F = " + std::to_string(n_free) +
                                        "); got start[" + std::to_string(c) + "] = " + std::to_string(in.start[c]));
        }
    }
    for (std::size_t f = 0; f < n_free; ++f) {
        if (!std::isfinite(in.diag_weight[f])) throw std::invalid_argument("diag_weight must be finite");
        if (f < n_off && !std::isfinite(in.off_weight[f])) throw std::invalid_argument("off_weight must be finite");
    }
    if (!(std::isfinite(in.damping) && in.damping >= 0.0)) {
        throw std::invalid_argument("damping must be finite and >= 0; got " + std::to_string(in.damping));
    }
    if ((in.moved == nullptr) != (in.change == nullptr)) {
        throw std::invalid_argument("moved and change must be given together");
    }
}

// One curve's step (free points [lo, hi)) into out.step / out.move; false where its matrix is not positive definite.
bool solve_curve(const CurveStepInput& in, std::size_t lo, std::size_t hi, CurveStep& out) {
    const std::size_t d = in.dim, dd = d * d, n = hi - lo;
    const bool secant = in.moved != nullptr;
    const auto jt_of = [&](std::size_t f) { return in.jt + static_cast<std::size_t>(in.free[f]) * d * in.ambient; };
    std::vector<double> metric(n * dd), diag(n * dd), upper(n > 1 ? (n - 1) * dd : 0), cross(n > 1 ? (n - 1) * dd : 0);
    double trace = 0.0;
    for (std::size_t k = 0; k < n; ++k) {
        outer_rows(jt_of(lo + k), jt_of(lo + k), d, in.ambient, 1.0, &metric[k * dd]);
        for (std::size_t i = 0; i < dd; ++i) diag[k * dd + i] = in.diag_weight[lo + k] * metric[k * dd + i];
        for (std::size_t i = 0; i < d; ++i) trace += diag[k * dd + i * d + i];
        if (k + 1 < n) {
            outer_rows(jt_of(lo + k), jt_of(lo + k + 1), d, in.ambient, in.off_weight[lo + k], &upper[k * dd]);
        }
    }
    const double level = in.damping * trace / static_cast<double>(d) / static_cast<double>(n);
    for (std::size_t k = 0; k < n; ++k) {
        for (std::size_t i = 0; i < d; ++i) diag[k * dd + i * d + i] += level;
    }
    // the factor: L_k in `factor`, C_k in `cross` (C_k for k >= 1 stored at k - 1)
    std::vector<double> factor(diag);
    for (std::size_t k = 0; k < n; ++k) {
        double* lk = &factor[k * dd];
        if (k > 0) {
            double* ck = &cross[(k - 1) * dd];
            const double* u = &upper[(k - 1) * dd];
            const double* lp = &factor[(k - 1) * dd];
            for (std::size_t r = 0; r < d; ++r) {  // row r of C_k: L_(k-1)^-1 applied to column r of U_(k-1)
                for (std::size_t c = 0; c < d; ++c) ck[r * d + c] = u[c * d + r];
                lower_solve(lp, ck + r * d, d);
            }
            for (std::size_t r = 0; r < d; ++r) {
                for (std::size_t c = 0; c <= r; ++c) lk[r * d + c] -= dot(ck + r * d, ck + c * d, d);
            }
        }
        if (!cholesky(lk, d)) return false;
    }
    // solve H x = b for b = -g (and y): forward then back substitution
    const std::size_t columns = secant ? 2 : 1;
    std::vector<double> x(columns * n * d);
    for (std::size_t k = 0; k < n; ++k) {
        const double* g = in.gradient + static_cast<std::size_t>(in.free[lo + k]) * d;
        for (std::size_t i = 0; i < d; ++i) {
            x[k * d + i] = -g[i];
            if (secant) x[(n + k) * d + i] = in.change[(lo + k) * d + i];
        }
    }
    for (std::size_t col = 0; col < columns; ++col) {
        double* v = &x[col * n * d];
        for (std::size_t k = 0; k < n; ++k) {
            if (k > 0) multiply_add(&cross[(k - 1) * dd], v + (k - 1) * d, v + k * d, d, false, -1.0);
            lower_solve(&factor[k * dd], v + k * d, d);
        }
        for (std::size_t k = n; k-- > 0;) {
            if (k + 1 < n) multiply_add(&cross[k * dd], v + (k + 1) * d, v + k * d, d, true, -1.0);
            upper_solve(&factor[k * dd], v + k * d, d);
        }
    }
    double* step = &out.step[lo * d];
    std::copy(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(n * d), step);
    if (secant) {  // BFGS along s: p = p0 - (H^-1 y) k0 - s k1 (see banded_step.secant_corrected)
        const double* s = in.moved + lo * d;
        const double* y = in.change + lo * d;
        const double* solved = &x[n * d];
        std::vector<double> hs(n * d, 0.0);
        for (std::size_t k = 0; k < n; ++k) {
            multiply_add(&diag[k * dd], s + k * d, &hs[k * d], d, false);
            if (k + 1 < n) multiply_add(&upper[k * dd], s + (k + 1) * d, &hs[k * d], d, false);
            if (k > 0) multiply_add(&upper[(k - 1) * dd], s + (k - 1) * d, &hs[k * d], d, true);
        }
        double a = 0.0, c = 0.0, sg = 0.0, yp = 0.0, yy = 0.0;
        for (std::size_t k = 0; k < n; ++k) {
            const double* g = in.gradient + static_cast<std::size_t>(in.free[lo + k]) * d;
            a += dot(s + k * d, y + k * d, d);
            c += dot(s + k * d, &hs[k * d], d);
            sg += dot(s + k * d, g, d);
            yp += dot(y + k * d, step + k * d, d);
            yy += dot(y + k * d, solved + k * d, d);
        }
        if (a > 1e-12 * std::max(c, 1e-300) && c > 0.0) {
            const double k0 = -sg / a;
            const double k1 = (yp - (a + yy) * k0) / a;
            for (std::size_t i = 0; i < n * d; ++i) step[i] -= solved[i] * k0 + s[i] * k1;
        }
    }
    for (std::size_t k = 0; k < n; ++k) {
        std::vector<double> ms(d, 0.0);
        multiply_add(&metric[k * dd], step + k * d, ms.data(), d, false);
        out.move[lo + k] = std::sqrt(std::max(dot(step + k * d, ms.data(), d), 0.0));
    }
    return true;
}

}  // namespace

CurveStep curve_step(const CurveStepInput& in) {
    check_input(in);
    const std::size_t n_free = in.free.size;
    CurveStep out;
    out.step.assign(n_free * in.dim, 0.0);
    out.move.assign(n_free, 0.0);
    for (std::size_t c = 0; c < in.start.size; ++c) {
        const std::size_t lo = static_cast<std::size_t>(in.start[c]);
        const std::size_t hi = c + 1 < in.start.size ? static_cast<std::size_t>(in.start[c + 1]) : n_free;
        if (!solve_curve(in, lo, hi, out)) {
            out.positive_definite = false;
            return out;
        }
    }
    return out;
}

}  // namespace agm
