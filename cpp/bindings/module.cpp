// PYBIND11_MODULE(_core): version, thread count, exception registration, then one binding call per concept.
#include <pybind11/pybind11.h>

#include "agm/file_error.hpp"
#include "agm/parallel.hpp"
#include "agm/search.hpp"
#include "bindings.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
    m.doc() = R"pbdoc(Native core of agm (C++17, pybind11, nanoflann): k-d trees, the atlas graph, A* search.)pbdoc";
    m.attr("__version__") = AGM_VERSION;
    m.def(
        "hardware_threads", [] { return agm::hardware_threads(); },
        R"pbdoc(Number of hardware threads the core uses when ``n_threads=0``.)pbdoc");
    py::register_exception<agm::UnreachableError>(m, "UnreachableError", PyExc_ValueError);
    // FileError -> OSError(errno, message, path): Python picks the subclass (FileNotFoundError, IsADirectoryError,
    // PermissionError, ...) from errno.
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const agm::FileError& e) {
            py::object error = py::module_::import("builtins").attr("OSError")(e.error(), e.what(), e.path());
            PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
        }
    });
    m.attr("UnreachableError").attr("__doc__") =
        "The target cannot be reached from the source: they lie in different connected components.";
    agm::bindings::bind_chart_index(m);
    agm::bindings::bind_atlas_graph(m);
    agm::bindings::bind_search(m);
    agm::bindings::bind_persistence(m);
    agm::bindings::bind_hop_diameter(m);
    agm::bindings::bind_distances(m);
    agm::bindings::bind_distance_paths(m);
    agm::bindings::bind_ellipse(m);
    agm::bindings::bind_curve_step(m);
    agm::bindings::bind_curve_energy(m);
}
