// curve_energy: energies, lengths and the energy's derivative of many decoded polylines (refinement), numpy in and
// out, the GIL released.
#include <cstdint>
#include <vector>

#include "agm/curve_energy.hpp"
#include "bindings.hpp"
#include "numpy_checks.hpp"

namespace agm::bindings {

namespace {

// A 2-D C-contiguous aligned array of dtype T, its entries copied (the core checks them after the GIL is released).
template <class T>
std::vector<T> copy_matrix(const py::array& a, const std::string& name, const char* hint) {
    const T* data = checks::array_data<T>(a, name, 2, hint);
    return std::vector<T>(data, data + a.size());
}

py::tuple curve_energy_of(const py::array& x, const py::array& order, const py::array& weight) {
    const float* x_data = checks::array_data<float>(x, "x", 2, "(R, D)");  // values unchecked: see the docstring
    const auto order_copy = copy_matrix<std::int64_t>(order, "order", "(B, M)");
    const auto weight_copy = copy_matrix<double>(weight, "weight", "(B, M - 1)");
    const MatrixView<float> xv{x_data, static_cast<std::size_t>(x.shape(0)), static_cast<std::size_t>(x.shape(1))};
    const MatrixView<std::int64_t> ov{order_copy.data(), static_cast<std::size_t>(order.shape(0)),
                                      static_cast<std::size_t>(order.shape(1))};
    const MatrixView<double> wv{weight_copy.data(), static_cast<std::size_t>(weight.shape(0)),
                                static_cast<std::size_t>(weight.shape(1))};
    CurveEnergy out;
    {
        py::gil_scoped_release release;
        out = curve_energy(xv, ov, wv);
    }
    const auto b = static_cast<py::ssize_t>(out.energy.size());
    py::array_t<double> energy(b), length(b);
    std::copy(out.energy.begin(), out.energy.end(), energy.mutable_data());
    std::copy(out.length.begin(), out.length.end(), length.mutable_data());
    py::array_t<float> upstream({x.shape(0), x.shape(1)});
    std::copy(out.upstream.begin(), out.upstream.end(), upstream.mutable_data());
    return py::make_tuple(std::move(energy), std::move(length), std::move(upstream));
}

}  // namespace

void bind_curve_energy(py::module_& m) {
    m.def("curve_energy", &curve_energy_of, py::arg("x"), py::arg("order"), py::arg("weight"), R"pbdoc(
The discrete energy of many decoded polylines at once (refinement of geodesics): polyline b visits the rows
order[b, 0], ..., order[b, M - 1] of x; its edges are the float32 differences x[order[b, e + 1]] -
x[order[b, e]] (a held vertex, the same row twice, gives a zero edge).

Args:
    x: (R, D) float32 decoded rows.  order: (B, M) int64 rows in [0, R), M >= 1.  weight: (B, M - 1) float64
        finite energy weight of every edge.

Non-finite entries of x are not refused: they give non-finite energies (a refused line-search trial).

Returns:
    (energy, length, upstream): (B,) float64 sum_e weight[b, e] |edge|^2, (B,) float64 sum_e |edge| (summed in
    float64), and (R, D) float32 the energy's derivative by every row (accumulated in float64).

Raises:
    ValueError: shapes that do not fit, non-finite weights.  IndexError: a row outside [0, R).
    TypeError: an array of another dtype.
)pbdoc");
}

}  // namespace agm::bindings
