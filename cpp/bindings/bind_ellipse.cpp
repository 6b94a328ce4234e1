// AtlasGraph.ellipse: the nodes and arcs that routes of bounded cost between two virtual ends can use.
#include <cstdint>
#include <vector>

#include "agm/ellipse.hpp"
#include "bindings.hpp"
#include "numpy_checks.hpp"

namespace agm::bindings {

namespace {

py::tuple ellipse_of(const AtlasGraph& g, const py::array& source_nodes, const py::array& source_costs,
                     const py::array& target_nodes, const py::array& target_costs, double limit,
                     const py::array& goal) {
    const auto sn = checks::copy_vector<std::int64_t>(source_nodes, "source_nodes");
    const auto sc = checks::copy_vector<double>(source_costs, "source_costs");
    const auto tn = checks::copy_vector<std::int64_t>(target_nodes, "target_nodes");
    const auto tc = checks::copy_vector<double>(target_costs, "target_costs");
    const auto gl = checks::copy_vector<double>(goal, "goal");
    Ellipse e;
    {
        py::gil_scoped_release release;
        e = ellipse(g, checks::view_of(sn), checks::view_of(sc), checks::view_of(tn), checks::view_of(tc), limit,
                    checks::view_of(gl));
    }
    py::array_t<double> w(static_cast<py::ssize_t>(e.weights.size()));
    std::copy(e.weights.begin(), e.weights.end(), w.mutable_data());
    return py::make_tuple(to_int64(e.nodes, {static_cast<py::ssize_t>(e.nodes.size())}),
                          to_int64(e.tails, {static_cast<py::ssize_t>(e.tails.size())}),
                          to_int64(e.heads, {static_cast<py::ssize_t>(e.heads.size())}), std::move(w));
}

}  // namespace

void bind_ellipse(py::module_& m) {
    GraphClass cls = graph_class(m);
    cls.def("ellipse", &ellipse_of, py::arg("source_nodes"), py::arg("source_costs"), py::arg("target_nodes"),
            py::arg("target_costs"), py::arg("limit"), py::arg_v("goal", py::array_t<double>(0), "..."), R"pbdoc(
The nodes and arcs that routes of cost <= ``limit`` between two virtual ends can use, in O(what it visits).

A virtual source is joined to ``source_nodes`` at ``source_costs``, a virtual target reached from
``target_nodes`` at ``target_costs``. Two bounded Dijkstras on one snapshot of the weights give ds and dt; the
nodes kept are those with ds(v) + dt(v) <= limit, so every route of cost <= limit visits only them. ``goal``
(D,) float64, the target's A* goal (empty: none): where A*'s preconditions hold on the snapshot (the consistency
verdict has no violation, every target cost >= its node's distance to the goal), the source's search skips nodes
with ds(v) + ||P[v] - goal|| > limit, visiting about the ellipse instead of the ball of radius ``limit``.

Returns:
    (nodes, tails, heads, weights): (M,) int64 sorted node ids; (A,) int64 arcs among them (both directions of
    each edge, ``tails``/``heads`` index ``nodes``) and (A,) float64 their weights.

Raises:
    ValueError: costs of another length, negative or non-finite costs or limit, a graph without weights.
    IndexError: a node id outside [0, n_nodes).
    TypeError: an array of another dtype.
)pbdoc");
}

}  // namespace agm::bindings
