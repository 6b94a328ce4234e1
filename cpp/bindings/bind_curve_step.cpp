// curve_step: the Gauss-Newton step of many curves (refinement), numpy in and out, the GIL released.
#include <cstdint>
#include <vector>

#include "agm/curve_step.hpp"
#include "bindings.hpp"
#include "numpy_checks.hpp"

namespace agm::bindings {

namespace {

// A float64 C-contiguous aligned array of the given shape (-1: any), read through its pointer: its values are not
// checked (non-finite ones stay in their curve, see curve_step.hpp), so the core may read the caller's buffer while
// the GIL is released.
const double* float64_data(const py::array& a, const std::string& name, py::ssize_t ndim,
                           const std::vector<py::ssize_t>& shape, const char* hint) {
    const double* data = checks::array_data<double>(a, name, ndim, hint);
    for (py::ssize_t i = 0; i < ndim; ++i) {
        if (shape[static_cast<std::size_t>(i)] >= 0 && a.shape(i) != shape[static_cast<std::size_t>(i)]) {
            throw py::value_error(name + " must have shape " + hint + "; got " + checks::shape_string(a));
        }
    }
    return data;
}

// A numpy array given as a Python object (TypeError for anything else: nothing is converted).
py::array as_array(const py::object& value, const std::string& name) {
    if (!py::isinstance<py::array>(value)) {
        throw py::type_error(name + " must be a numpy array or None; got " +
                             py::str(py::type::of(value).attr("__name__")).cast<std::string>());
    }
    return py::reinterpret_borrow<py::array>(value);
}

py::tuple curve_step_of(const py::array& jt, const py::array& gradient, const py::array& free,
                        const py::array& start, const py::array& diag_weight, const py::array& off_weight,
                        const py::object& moved, const py::object& change,
                        double damping) {
    checks::require_ndim(jt, 3, "jt", "(P, d, D)");
    const py::ssize_t p = jt.shape(0), d = jt.shape(1), ambient = jt.shape(2);
    const double* jt_data = float64_data(jt, "jt", 3, {p, d, ambient}, "(P, d, D)");
    const double* gradient_data = float64_data(gradient, "gradient", 2, {p, d}, "(P, d) of jt's P and d");
    const auto free_copy = checks::copy_vector<std::int64_t>(free, "free", "(F,)");
    const auto f = static_cast<py::ssize_t>(free_copy.size());
    const auto start_copy = checks::copy_vector<std::int64_t>(start, "start", "(C,)");
    const auto diag_copy = checks::copy_vector<double>(diag_weight, "diag_weight", "(F,)");
    const auto off_copy = checks::copy_vector<double>(off_weight, "off_weight", "(F - 1,)");
    const bool secant = !moved.is_none();
    if (secant == change.is_none()) throw py::value_error("moved and change must be given together (or both None)");
    py::array moved_array, change_array;  // kept alive for the call
    const double *moved_data = nullptr, *change_data = nullptr;
    if (secant) {
        moved_array = as_array(moved, "moved");
        change_array = as_array(change, "change");
        moved_data = float64_data(moved_array, "moved", 2, {f, d}, "(F, d)");
        change_data = float64_data(change_array, "change", 2, {f, d}, "(F, d)");
    }
    CurveStepInput in;
    in.jt = jt_data;
    in.n_points = static_cast<std::size_t>(p);
    in.dim = static_cast<std::size_t>(d);
    in.ambient = static_cast<std::size_t>(ambient);
    in.gradient = gradient_data;
    in.free = checks::view_of(free_copy);
    in.start = checks::view_of(start_copy);
    in.diag_weight = checks::view_of(diag_copy);
    in.off_weight = checks::view_of(off_copy);
    in.moved = moved_data;
    in.change = change_data;
    in.damping = damping;
    CurveStep out;
    {
        py::gil_scoped_release release;
        out = curve_step(in);
    }
    py::array_t<double> step({f, d});
    std::copy(out.step.begin(), out.step.end(), step.mutable_data());
    py::array_t<double> move(f);
    std::copy(out.move.begin(), out.move.end(), move.mutable_data());
    return py::make_tuple(std::move(step), std::move(move), out.positive_definite);
}

}  // namespace

void bind_curve_step(py::module_& m) {
    m.def("curve_step", &curve_step_of, py::arg("jt"), py::arg("gradient"), py::arg("free"), py::arg("start"),
          py::arg("diag_weight"), py::arg("off_weight"), py::arg("moved") = py::none(),
          py::arg("change") = py::none(), py::arg("damping") = 0.0, R"pbdoc(
The Gauss-Newton step -H^-1 g of many discrete curves at once (refinement of geodesics): one block Cholesky
per curve of its block-tridiagonal matrix, diagonal blocks diag_weight[f] J_f^T J_f + level I (level = damping
times the curve's mean diagonal), upper blocks off_weight[f] J_f^T J_(f+1) between consecutive free points of one
curve; with ``moved`` and ``change`` (s, y) updated by BFGS along s per curve (where s.y > 0).

Args:
    jt: (P, d, D) float64 J^T of every point.  gradient: (P, d) float64.  free: (F,) int64 rows of jt, curve
        after curve.  start: (C,) int64 each curve's first free point (0 first, strictly increasing, < F).
    diag_weight: (F,) float64.  off_weight: (F - 1,) float64.  moved, change: (F, d) float64 each, or None.
    damping: >= 0.

Non-finite entries of jt, gradient, moved or change give non-finite steps in their own curve only.

Returns:
    (step (F, d) float64, move (F,) float64 |J_f step_f|, positive_definite): False where some curve's matrix
    was not positive definite in floating point (then the step is incomplete: take another solver).

Raises:
    ValueError: shapes that do not fit, a bad ``start``, non-finite weights or damping.
    IndexError: a free point outside [0, P).  TypeError: an array of another dtype.
)pbdoc");
}

}  // namespace agm::bindings
