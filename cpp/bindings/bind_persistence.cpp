// AtlasGraph persistence: save / load (one binary file with a checksum) and the stored metadata string.
#include <memory>
#include <string>

#include "bindings.hpp"

namespace agm::bindings {

void bind_persistence(py::module_& m) {
    GraphClass cls = graph_class(m);
    cls.def(
           "save",
           [](AtlasGraph& g, const std::string& path, const std::string& metadata) {
               py::gil_scoped_release release;
               g.save(path, metadata);
           },
           py::arg("path"), py::arg("metadata") = "",
           R"pbdoc(
Write every array, the build parameters and a UTF-8 metadata string (e.g. JSON) to one file.

Atomic: the bytes go to ``.{basename}.{pid}-{random}.part`` in the same folder (created if missing; mode
0666 minus the umask), which is fsynced and renamed over ``path``; a crash leaves the old file or the new
one, and part files of dead writers are removed by the next save. OSError (with errno and path) on
failure.
)pbdoc")
        .def_static(
            "load",
            [](const std::string& path) {
                std::unique_ptr<AtlasGraph> g;
                {
                    py::gil_scoped_release release;
                    g = AtlasGraph::load(path);
                }
                return std::shared_ptr<AtlasGraph>(std::move(g));
            },
            py::arg("path"),
            R"pbdoc(
Read a file written by ``save``; ValueError for a truncated, corrupted, crafted or foreign file (every
header field is checked against the file size before anything is allocated), FileNotFoundError for a
missing file, IsADirectoryError for a folder.
)pbdoc")
        .def_property_readonly(
            "metadata", [](const AtlasGraph& g) { return g.metadata(); },
            R"pbdoc(The metadata string stored with ``save`` (empty for a graph that was never saved/loaded).)pbdoc");
}

}  // namespace agm::bindings
