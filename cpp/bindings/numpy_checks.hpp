// The one place where numpy arguments are checked before they reach the core: exact dtype and alignment
// (TypeError), ndim and shape (ValueError), C-contiguity (ValueError), finiteness of float matrices (ValueError).
// Nothing is converted: a passing array is read through a view, or copied as it is (copy_vector) where the core
// must not read the caller's buffer again after its checks (the GIL is released during the call, so another
// thread could change the buffer). Value invariants (node ids in range, costs >= 0, ...) belong to the core.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "agm/array_view.hpp"

namespace agm::checks {

namespace py = pybind11;

inline std::string dtype_name(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

inline std::string shape_string(const py::array& a) {
    std::string out = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) out += (i ? ", " : "") + std::to_string(a.shape(i));
    return out + (a.ndim() == 1 ? ",)" : ")");
}

inline std::string strides_string(const py::array& a) {
    std::string out = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) out += (i ? ", " : "") + std::to_string(a.strides(i));
    return out + (a.ndim() == 1 ? ",)" : ")");
}

template <class T>
bool has_dtype(const py::array& a) {
    return a.dtype().equal(py::dtype::of<T>());
}

template <class T>
void require_dtype(const py::array& a, const std::string& name) {
    if (!has_dtype<T>(a)) {
        throw py::type_error(name + " must have dtype " + py::str(py::dtype::of<T>()).cast<std::string>() + "; got " +
                             dtype_name(a));
    }
}

// True for float64, false for float32; TypeError otherwise.
inline bool is_float64(const py::array& a, const std::string& name) {
    if (has_dtype<double>(a)) return true;
    if (has_dtype<float>(a)) return false;
    throw py::type_error(name + " must have dtype float32 or float64; got " + dtype_name(a));
}

// numpy allows views at any byte offset (np.frombuffer(buf, offset=1)); the core reads T through aligned pointers.
template <class T>
void require_aligned(const py::array& a, const std::string& name) {
    const auto address = reinterpret_cast<std::uintptr_t>(a.data());
    if (address % alignof(T) != 0) {
        throw py::type_error(name + " must be aligned to " + std::to_string(alignof(T)) + " bytes (its dtype's "
                             "alignment); got an array at address " + std::to_string(address) + " (offset " +
                             std::to_string(address % alignof(T)) + "): pass a copy, e.g. np.array(" + name + ")");
    }
}

inline void require_ndim(const py::array& a, py::ssize_t ndim, const std::string& name, const char* shape_hint) {
    if (a.ndim() != ndim) {
        throw py::value_error(name + " must be " + std::to_string(ndim) + "-D " + shape_hint + "; got shape " +
                              shape_string(a));
    }
}

inline void require_c_contiguous(const py::array& a, const std::string& name) {
    if (!(a.flags() & py::array::c_style)) {
        throw py::value_error(name + " must be C-contiguous; got strides " + strides_string(a) + " for shape " +
                              shape_string(a));
    }
}

template <class T>
void require_finite(const T* data, std::size_t n, const std::string& name) {
    for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(data[i])) {
            throw py::value_error(name + " must be finite; got " + std::to_string(data[i]) + " at flat index " +
                                  std::to_string(i));
        }
    }
}

// The data of an ndim-D array of dtype T, aligned and C-contiguous (its values are not checked: the caller decides
// whether they may be non-finite, and copies them where the core checks them after the GIL is released).
template <class T>
const T* array_data(const py::array& a, const std::string& name, py::ssize_t ndim, const char* shape_hint) {
    require_dtype<T>(a, name);
    require_aligned<T>(a, name);
    require_ndim(a, ndim, name, shape_hint);
    require_c_contiguous(a, name);
    return static_cast<const T*>(a.data());
}

// A (rows, cols) matrix of dtype T (checked by the caller or here), C-contiguous and finite.
template <class T>
MatrixView<T> float_matrix(const py::array& a, const std::string& name, const char* shape_hint = "(N, d)") {
    require_dtype<T>(a, name);
    require_aligned<T>(a, name);
    require_ndim(a, 2, name, shape_hint);
    require_c_contiguous(a, name);
    MatrixView<T> view{static_cast<const T*>(a.data()), static_cast<std::size_t>(a.shape(0)),
                       static_cast<std::size_t>(a.shape(1))};
    require_finite(view.data, view.size(), name);
    return view;
}

// A 1-D C-contiguous aligned vector of dtype T (no value checks).
template <class T>
VectorView<T> vector(const py::array& a, const std::string& name, const char* shape_hint = "(n,)") {
    require_dtype<T>(a, name);
    require_aligned<T>(a, name);
    require_ndim(a, 1, name, shape_hint);
    require_c_contiguous(a, name);
    return VectorView<T>{static_cast<const T*>(a.data()), static_cast<std::size_t>(a.shape(0))};
}

// A private copy of a 1-D vector (index, offset and cost arrays: small), taken with the GIL held, so that the
// core checks and reads the same values.
template <class T>
std::vector<T> copy_vector(const py::array& a, const std::string& name, const char* shape_hint = "(n,)") {
    const VectorView<T> view = vector<T>(a, name, shape_hint);
    return std::vector<T>(view.begin(), view.end());
}

template <class T>
VectorView<T> view_of(const std::vector<T>& v) {
    return VectorView<T>{v.data(), v.size()};
}

// n_threads >= 0 (0 = all hardware threads); the core clamps it to the cores and to the work.
inline std::size_t threads(std::int64_t n_threads) {
    if (n_threads < 0) {
        throw py::value_error("n_threads must be >= 0 (0 = all hardware threads); got " + std::to_string(n_threads));
    }
    return static_cast<std::size_t>(n_threads);
}

}  // namespace agm::checks
