// Declarations of the per-concept binding functions called by module.cpp, and shared helpers.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "agm/atlas_graph.hpp"

namespace agm::bindings {

namespace py = pybind11;

using GraphClass = py::class_<AtlasGraph, std::shared_ptr<AtlasGraph>>;

void bind_chart_index(py::module_& m);
void bind_atlas_graph(py::module_& m);
void bind_search(py::module_& m);
void bind_persistence(py::module_& m);
void bind_hop_diameter(py::module_& m);
void bind_distances(py::module_& m);
void bind_distance_paths(py::module_& m);
void bind_ellipse(py::module_& m);
void bind_curve_step(py::module_& m);
void bind_curve_energy(py::module_& m);

// The AtlasGraph class object registered by bind_atlas_graph, to add more methods to it.
inline GraphClass graph_class(py::module_& m) { return py::reinterpret_borrow<GraphClass>(m.attr("AtlasGraph")); }

// A new int64 numpy array with the given shape, copied (and widened) from `values`.
template <class T>
py::array_t<std::int64_t> to_int64(const std::vector<T>& values, std::vector<py::ssize_t> shape) {
    py::array_t<std::int64_t> out(shape);
    std::int64_t* dst = out.mutable_data();
    for (std::size_t i = 0; i < values.size(); ++i) dst[i] = static_cast<std::int64_t>(values[i]);
    return out;
}

}  // namespace agm::bindings
