// Python class AtlasGraph: construction, structure, weights/positions, CSR, components and statistics.
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "numpy_checks.hpp"

namespace agm::bindings {

namespace {

std::shared_ptr<AtlasGraph> make_graph(const std::vector<py::array>& latents, const std::vector<py::array>& point_ids,
                                       std::int64_t k, std::int64_t n_threads) {
    // dtype and layout here; counts, lengths and values are the core's invariants (std::invalid_argument).
    const std::size_t threads = checks::threads(n_threads);
    const std::size_t kk = check_graph_k(k);  // the core's rule, before the unsigned cast
    std::vector<VectorView<std::int64_t>> ids;
    for (std::size_t c = 0; c < point_ids.size(); ++c) {
        ids.push_back(checks::vector<std::int64_t>(point_ids[c], "point_ids[" + std::to_string(c) + "]", "(N_c,)"));
    }
    auto build = [&](auto tag) {
        using T = decltype(tag);
        std::vector<MatrixView<T>> views;
        for (std::size_t c = 0; c < latents.size(); ++c) {
            const std::string name = "latents[" + std::to_string(c) + "]";
            if (!checks::has_dtype<T>(latents[c])) {
                throw py::type_error(name + " must have the dtype of latents[0] (" + checks::dtype_name(latents[0]) +
                                     "); got " + checks::dtype_name(latents[c]));
            }
            views.push_back(checks::float_matrix<T>(latents[c], name, "(N_c, d)"));
        }
        py::gil_scoped_release release;
        return std::make_shared<AtlasGraph>(views, ids, kk, threads);
    };
    return latents.empty() || checks::is_float64(latents[0], "latents[0]") ? build(double{}) : build(float{});
}

py::array float_matrix_copy(const FloatMatrix& m) {
    return std::visit(
        [&](const auto& v) -> py::array {
            using T = typename std::decay_t<decltype(v)>::value_type;
            py::array_t<T> out({static_cast<py::ssize_t>(m.rows), static_cast<py::ssize_t>(m.cols)});
            std::copy(v.begin(), v.end(), out.mutable_data());
            return std::move(out);
        },
        m.data);
}

void set_positions(AtlasGraph& self, const py::array& positions) {
    const std::string name = "positions";  // dtype and layout here; the core checks the shape
    const bool f64 = checks::is_float64(positions, name);
    FloatMatrix copy = f64 ? FloatMatrix(checks::float_matrix<double>(positions, name, "(n_nodes, D)"))
                           : FloatMatrix(checks::float_matrix<float>(positions, name, "(n_nodes, D)"));
    py::gil_scoped_release release;
    self.set_positions(std::move(copy));
}

void set_weights(AtlasGraph& self, const py::array& weights) {
    const auto view = checks::vector<double>(weights, "weights", "(n_edges,)");
    py::gil_scoped_release release;
    self.set_weights(view);  // checks the length and values, reading every entry once
}

void update_weights(AtlasGraph& self, const py::array& edge_ids, const py::array& weights) {
    const auto ids = checks::copy_vector<std::int64_t>(edge_ids, "edge_ids", "(n,)");  // the core checks the copies
    const auto w = checks::copy_vector<double>(weights, "weights", "(n,)");
    py::gil_scoped_release release;
    self.update_weights(checks::view_of(ids), checks::view_of(w));
}

py::tuple csr(const AtlasGraph& self) {
    const auto data = self.csr_data();  // a snapshot: set_weights in another thread cannot free or tear it
    py::array_t<double> values(static_cast<py::ssize_t>(data->size()));
    data->copy_to(values.mutable_data());
    return py::make_tuple(to_int64(self.csr_indptr(), {static_cast<py::ssize_t>(self.csr_indptr().size())}),
                          to_int64(self.csr_indices(), {static_cast<py::ssize_t>(self.csr_indices().size())}),
                          std::move(values));
}

py::dict stats(const AtlasGraph& self, std::int64_t n_threads, const std::string& diameter) {
    if (diameter != "auto" && diameter != "exact") {
        throw py::value_error("diameter must be 'auto' or 'exact'; got '" + diameter + "'");
    }
    const std::size_t threads = checks::threads(n_threads);
    GraphStats s;
    {
        py::gil_scoped_release release;
        s = self.stats(threads, diameter == "exact" ? unlimited_bfs : self.default_diameter_budget());
    }
    py::dict out;
    out["n_nodes"] = s.n_nodes;
    out["n_edges"] = s.n_edges;
    out["n_intra_edges"] = s.n_intra_edges;
    out["n_cross_edges"] = s.n_cross_edges;
    out["n_components"] = s.n_components;
    out["largest_component"] = s.largest_component;
    if (s.diameter_exact()) out["diameter_hops"] = s.diameter_lower;
    out["diameter_lower"] = s.diameter_lower;
    out["diameter_upper"] = s.diameter_upper;
    return out;
}

template <class V>
py::array_t<std::int64_t> vector_copy(const V& values) {
    return to_int64(values, {static_cast<py::ssize_t>(values.size())});
}

}  // namespace

void bind_atlas_graph(py::module_& m) {
    GraphClass cls(m, "AtlasGraph", R"pbdoc(
The multi-chart graph of Algorithm 1.

Nodes are numbered globally, chart after chart: the nodes of chart c are
``chart_offsets[c] .. chart_offsets[c+1]-1`` in the order of that chart's points. Each node knows its chart,
the index of its source data point and its latent coordinates.

Candidate edges (undirected, each listed once with u < v): first, chart after chart, the de-duplicated k-NN
edges inside each chart; then the cross-chart edges joining every pair of nodes that share a data point.

Structure and values: the construction builds everything that does not depend on the weights, once and
immutable (the k-d trees, the edges, the CSR adjacency, the connected components). The values are one
immutable block of float64 edge weights and decoded positions (the A* heuristic), replaced whole by the only
three mutations: ``set_weights`` (every edge), ``update_weights`` (some edges: lazy evaluation) and
``set_positions``. A reader (search, ``weights``, ``csr``, ``save``) takes the current block once and reads
only it. Searching before ``set_weights`` raises ValueError.
)pbdoc");
    cls.def(py::init(&make_graph), py::arg("latents"), py::arg("point_ids"), py::arg("k"), py::arg("n_threads") = 0,
            R"pbdoc(
Build the per-chart k-d trees and the candidate edges.

Args:
    latents: one (N_c, d) array per chart; same d and dtype for all charts; N_c > k (ValueError if a chart
        is empty or has k or fewer points).
    point_ids: one (N_c,) int64 array per chart: the data-point index of every node, >= 0, unique within a
        chart.
    k: neighbours per node inside its chart, k >= 1.
    n_threads: 0 means all hardware threads.
)pbdoc")
        .def_property_readonly("n_charts", &AtlasGraph::n_charts, R"pbdoc(Number of charts.)pbdoc")
        .def_property_readonly("n_nodes", &AtlasGraph::n_nodes, R"pbdoc(Number of nodes.)pbdoc")
        .def_property_readonly("k", &AtlasGraph::k, R"pbdoc(Neighbours per node inside its chart.)pbdoc")
        .def_property_readonly("latent_dim", &AtlasGraph::latent_dim, R"pbdoc(Latent dimension d.)pbdoc")
        .def_property_readonly(
            "chart_offsets", [](const AtlasGraph& g) { return vector_copy(g.chart_offsets()); },
            R"pbdoc((n_charts + 1,) int64: the first global node id of each chart, then n_nodes.)pbdoc")
        .def_property_readonly(
            "node_chart", [](const AtlasGraph& g) { return vector_copy(g.node_chart()); },
            R"pbdoc((n_nodes,) int64: the chart of each node.)pbdoc")
        .def_property_readonly(
            "node_point", [](const AtlasGraph& g) { return vector_copy(g.node_point()); },
            R"pbdoc((n_nodes,) int64: the data-point index of each node.)pbdoc")
        .def_property_readonly(
            "latents", [](const AtlasGraph& g) { return float_matrix_copy(g.latents()); },
            R"pbdoc((n_nodes, d): the latent coordinates of each node in its chart (the dtype given at construction).)pbdoc")
        .def_property_readonly(
            "edges",
            [](const AtlasGraph& g) { return to_int64(g.edges(), {static_cast<py::ssize_t>(g.n_edges()), 2}); },
            R"pbdoc((n_edges, 2) int64: the candidate edges, u < v, intra-chart edges first (chart by chart), each part
sorted by (u, v); replayed from the CSR (the graph does not store the list).)pbdoc")
        .def_property_readonly("n_edges", &AtlasGraph::n_edges, R"pbdoc(Number of candidate edges.)pbdoc")
        .def_property_readonly("n_intra_edges", &AtlasGraph::n_intra_edges,
                               R"pbdoc(The first n_intra_edges rows of ``edges`` join nodes of one chart; the rest are cross-chart edges.)pbdoc")
        .def(
            "chart_index",
            [](const AtlasGraph& g, std::int64_t chart) {
                return std::make_shared<AnyChartIndex>(g.chart_index(chart));  // IndexError from the core
            },
            py::arg("chart"),
            R"pbdoc(The k-d tree of one chart (a shared reference, not a copy); IndexError for a bad chart.)pbdoc")
        .def("set_weights", &set_weights, py::arg("weights"), R"pbdoc(
Set the weight of every candidate edge (a new values block; the positions are kept).

Args:
    weights: (n_edges,) float64, finite, >= 0, in the order of ``edges``.
)pbdoc")
        .def("update_weights", &update_weights, py::arg("edge_ids"), py::arg("weights"), R"pbdoc(
Change the weights of some candidate edges (lazy evaluation): edge ``edge_ids[i]`` gets ``weights[i]``.

Like ``set_weights`` it swaps in a new immutable block (concurrent readers keep the one they hold), but
it touches only these edges, and the A* consistency verdict of the previous block, once computed, is
re-checked at these edges only (O(n * D), not O(n_edges * D)).

Args:
    edge_ids: (n,) int64, unique, in [0, n_edges) (IndexError naming the value otherwise); intra- and
        cross-chart edges alike.
    weights: (n,) float64, finite, >= 0.

Raises:
    ValueError: repeated edge ids, a bad weight, different lengths, or no ``set_weights`` before.
)pbdoc")
        .def_property_readonly("has_weights", &AtlasGraph::has_weights, R"pbdoc(Whether set_weights was called.)pbdoc")
        .def_property_readonly(
            "weights",
            [](const AtlasGraph& g) {
                const auto w = g.weights();
                return py::array_t<double>(static_cast<py::ssize_t>(w.size()), w.data());
            },
            R"pbdoc((n_edges,) float64, in the order of ``edges`` (ValueError before ``set_weights``).)pbdoc")
        .def("set_positions", &set_positions, py::arg("positions"),
             R"pbdoc(Decoded positions P (n_nodes, D), float32 or float64, finite: the A* heuristic is ||P[v] - goal||.)pbdoc")
        .def_property_readonly("has_positions", &AtlasGraph::has_positions, R"pbdoc(Whether positions are set.)pbdoc")
        .def_property_readonly(
            "positions", [](const AtlasGraph& g) { return float_matrix_copy(*g.positions()); },
            R"pbdoc((n_nodes, D) decoded positions (ValueError when none were set).)pbdoc")
        .def("csr", &csr, R"pbdoc(
The symmetric adjacency as (indptr (n_nodes+1,), indices (2 n_edges,), data (2 n_edges,)) copies,
directly usable as ``scipy.sparse.csr_array((data, indices, indptr))``.
)pbdoc")
        .def_property_readonly(
            "component", [](const AtlasGraph& g) { return vector_copy(g.component()); },
            R"pbdoc((n_nodes,) int64: connected-component label of each node, labels 0..n_components-1 by first node.)pbdoc")
        .def_property_readonly(
            "component_sizes", [](const AtlasGraph& g) { return vector_copy(g.component_sizes()); },
            R"pbdoc((n_components,) int64.)pbdoc")
        .def(
            "diameter_hops",
            [](const AtlasGraph& g, std::int64_t n_threads) {
                const std::size_t threads = checks::threads(n_threads);
                py::gil_scoped_release release;
                return g.diameter_hops(threads);
            },
            py::arg("n_threads") = 0,
            R"pbdoc(
Exact diameter in hops: the largest BFS eccentricity over all nodes (within their component).

Computed with eccentricity bounds (Takes & Kosters 2011), which needs far fewer BFS than one per node;
cached after the first call.
)pbdoc")
        .def(
            "diameter_bounds",
            [](const AtlasGraph& g, std::int64_t max_bfs, std::int64_t n_threads) {
                if (max_bfs < 0) {
                    throw py::value_error("max_bfs must be >= 0 (0: no limit); got " + std::to_string(max_bfs));
                }
                const std::size_t threads = checks::threads(n_threads);
                HopDiameter d;
                {
                    py::gil_scoped_release release;
                    d = g.diameter_bounds(threads, max_bfs);
                }
                return py::make_tuple(d.diameter, d.upper, d.n_bfs);
            },
            py::arg("max_bfs"), py::arg("n_threads") = 0, R"pbdoc(
Bounds of the hop diameter from at most ``max_bfs`` BFS (0: no limit, the exact diameter).

Returns (lower, upper, n_bfs) with lower <= diameter <= upper, equal when exact. An exact result is cached
(as by ``diameter_hops``); once cached every call returns it with n_bfs = 0.
)pbdoc")
        .def_property_readonly("default_diameter_budget", &AtlasGraph::default_diameter_budget, R"pbdoc(
The BFS budget of ``stats(diameter="auto")``: max(8, 3e7 / CSR entries), about 3e7 edge visits.
)pbdoc")
        .def("stats", &stats, py::arg("n_threads") = 0, py::arg("diameter") = "auto", R"pbdoc(
Table-1 statistics: n_nodes, n_edges, n_intra_edges, n_cross_edges, n_components, largest_component,
diameter_lower and diameter_upper, and diameter_hops (the exact hop diameter) when the two bounds are equal.

diameter: "auto" bounds the diameter with ``default_diameter_budget`` BFS, which is exact for graphs of the
paper's size and for most k-NN graphs, and returns bounds only for large graphs where nearly every node's
eccentricity is close to the diameter (there the exact value would cost more than building the graph);
"exact" computes it whatever it costs. An exact diameter is cached.
)pbdoc")
        .def("workspace_bytes", &AtlasGraph::workspace_bytes, R"pbdoc(
Bytes held by the pooled per-thread search workspaces (kept for reuse; at most ``hardware_threads()``
of them, each about 40 bytes per node).
)pbdoc")
        .def("memory_bytes", &AtlasGraph::memory_bytes, R"pbdoc(
Bytes held by the graph's arrays (latents, node arrays, CSR with its edge-id map, weights, components,
positions; the k-d trees excluded). The edge list is not stored: 29-30 bytes per edge with k = 20, d = 7 and
float64 weights, positions excluded.
)pbdoc")
        .def(
            "check_heuristic",
            [](const AtlasGraph& g, std::int64_t n_threads) {
                const std::size_t threads = checks::threads(n_threads);
                py::gil_scoped_release release;
                return g.check_heuristic(threads);
            },
            py::arg("n_threads") = 0, R"pbdoc(
Compute the A* consistency verdict of the current weights and positions now (rows over ``n_threads``, 0 =
all hardware threads), unless it was computed, so that the first A* search does not pay for it
(O(n_edges * D) once per weights block; ``update_weights`` re-checks only its edges). Returns the number of
edges whose weight is below its endpoints' distance (an A* search then raises ValueError naming the worst);
0 without weights or positions.
)pbdoc")
        .def_property_readonly("heuristic_checked", &AtlasGraph::heuristic_checked, R"pbdoc(
Whether the A* consistency verdict of the current weights and positions is computed (by ``check_heuristic``,
an A* search, or carried over by ``update_weights``), so that no A* search will pay for it; False without
weights or positions.
)pbdoc");
}

}  // namespace agm::bindings
