// AtlasGraph search methods: shortest_path(s), search, search_many (virtual endpoints), single_source.
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "numpy_checks.hpp"

namespace agm::bindings {

namespace {

py::array_t<std::int64_t> path_array(const PathResult& r) {
    return py::array_t<std::int64_t>(static_cast<py::ssize_t>(r.path.size()), r.path.data());
}

py::tuple paths_and_costs(const std::vector<PathResult>& results) {
    py::list paths;
    py::array_t<double> costs(static_cast<py::ssize_t>(results.size()));
    double* c = costs.mutable_data();
    for (std::size_t b = 0; b < results.size(); ++b) {
        paths.append(path_array(results[b]));
        c[b] = results[b].cost;
    }
    return py::make_tuple(std::move(paths), std::move(costs));
}

py::tuple shortest_path(const AtlasGraph& g, std::int64_t source, std::int64_t target, const std::string& method) {
    const SearchMethod m = parse_search_method(method);
    PathResult r;
    {
        py::gil_scoped_release release;
        r = g.shortest_path(source, target, m);
    }
    return py::make_tuple(path_array(r), r.cost);
}

py::tuple shortest_paths(const AtlasGraph& g, const py::array& sources, const py::array& targets,
                         const std::string& method, std::int64_t n_threads, bool raise_unreachable) {
    const SearchMethod m = parse_search_method(method);
    const std::size_t threads = checks::threads(n_threads);
    const auto s = checks::copy_vector<std::int64_t>(sources, "sources", "(B,)");  // the core checks the copies
    const auto t = checks::copy_vector<std::int64_t>(targets, "targets", "(B,)");
    std::vector<PathResult> results;
    {
        py::gil_scoped_release release;
        results = g.shortest_paths(checks::view_of(s), checks::view_of(t), m, threads, raise_unreachable);
    }
    return paths_and_costs(results);
}

// Checks the goals of an A* query against the positions and runs `body(EndpointBatch<T>&)` with T the goals'
// dtype (double when there are no goals: Dijkstra ignores them).
template <class Body>
auto with_goals(const AtlasGraph& g, SearchMethod m, const std::optional<py::array>& goals,
                std::vector<std::int64_t>& default_offsets, Body&& body) {
    const bool astar = m == SearchMethod::astar;
    const auto positions = g.values().positions;  // the core re-checks against its own snapshot
    if (astar && !positions) {  // the core raises its "needs decoded positions" error
        EndpointBatch<double> batch{};
        return body(batch);
    }
    if (!goals.has_value()) {
        if (astar) throw py::value_error("goals is required for method 'astar' (the decoded target attachments)");
        EndpointBatch<double> batch{};
        return body(batch);
    }
    const bool f64 = checks::is_float64(*goals, "goals");
    if (astar && f64 != positions->is_double()) {
        throw py::type_error(std::string("goals must have the positions' dtype ") +
                             (positions->is_double() ? "float64" : "float32") + "; got " +
                             checks::dtype_name(*goals));
    }
    auto run = [&](auto tag) {
        using T = decltype(tag);
        EndpointBatch<T> batch{};
        const MatrixView<T> view = checks::float_matrix<T>(*goals, "goals", "(G, D)");
        const std::vector<T> copy(view.data, view.data + view.size());  // read once, after the finiteness check
        batch.goals = MatrixView<T>{copy.data(), view.rows, view.cols};
        if (default_offsets.size() == 2 && batch.goals.rows == 0) {
            throw py::value_error("goals must have at least one row; got shape " + checks::shape_string(*goals));
        }
        if (default_offsets.size() == 2) default_offsets[1] = static_cast<std::int64_t>(batch.goals.rows);
        batch.goal_offsets = {default_offsets.data(), default_offsets.size()};
        return body(batch);
    };
    return f64 ? run(double{}) : run(float{});
}

py::tuple search(const AtlasGraph& g, const py::array& source_nodes, const py::array& source_costs,
                 const py::array& target_nodes, const py::array& target_costs, const std::optional<py::array>& goals,
                 const std::string& method) {
    const SearchMethod m = parse_search_method(method);
    // Private copies (the GIL is released during the search); the core checks their values.
    const auto sn = checks::copy_vector<std::int64_t>(source_nodes, "source_nodes");
    const auto sc = checks::copy_vector<double>(source_costs, "source_costs");
    const auto tn = checks::copy_vector<std::int64_t>(target_nodes, "target_nodes");
    const auto tc = checks::copy_vector<double>(target_costs, "target_costs");
    if (sn.empty() || tn.empty()) throw py::value_error("source_nodes and target_nodes must not be empty");
    if (sc.size() != sn.size() || tc.size() != tn.size()) {
        throw py::value_error("source_costs / target_costs must have the length of source_nodes / target_nodes; got " +
                              std::to_string(sc.size()) + " vs " + std::to_string(sn.size()) + " and " +
                              std::to_string(tc.size()) + " vs " + std::to_string(tn.size()));
    }
    const std::int64_t s_off[2] = {0, static_cast<std::int64_t>(sn.size())};
    const std::int64_t t_off[2] = {0, static_cast<std::int64_t>(tn.size())};
    std::vector<std::int64_t> goal_off = {0, 0};
    std::vector<PathResult> results = with_goals(g, m, goals, goal_off, [&](auto& batch) {
        batch.source_offsets = {s_off, 2};
        batch.source_nodes = checks::view_of(sn);
        batch.source_costs = checks::view_of(sc);
        batch.target_offsets = {t_off, 2};
        batch.target_nodes = checks::view_of(tn);
        batch.target_costs = checks::view_of(tc);
        py::gil_scoped_release release;
        return g.search_many(batch, m, 1, true);
    });
    return py::make_tuple(path_array(results[0]), results[0].cost);
}

py::tuple search_many(const AtlasGraph& g, const py::array& source_offsets, const py::array& source_nodes,
                      const py::array& source_costs, const py::array& target_offsets, const py::array& target_nodes,
                      const py::array& target_costs, const std::optional<py::array>& goal_offsets,
                      const std::optional<py::array>& goals, const std::string& method, std::int64_t n_threads,
                      bool raise_unreachable) {
    const SearchMethod m = parse_search_method(method);
    const std::size_t threads = checks::threads(n_threads);
    if (goal_offsets.has_value() != goals.has_value()) {
        throw py::value_error("goal_offsets and goals must be given together (or both None)");
    }
    // Private copies (the GIL is released during the search); the core checks their values.
    const auto so = checks::copy_vector<std::int64_t>(source_offsets, "source_offsets", "(B + 1,)");
    const auto to = checks::copy_vector<std::int64_t>(target_offsets, "target_offsets", "(B + 1,)");
    const auto sn = checks::copy_vector<std::int64_t>(source_nodes, "source_nodes");
    const auto sc = checks::copy_vector<double>(source_costs, "source_costs");
    const auto tn = checks::copy_vector<std::int64_t>(target_nodes, "target_nodes");
    const auto tc = checks::copy_vector<double>(target_costs, "target_costs");
    std::vector<std::int64_t> go;
    if (goal_offsets.has_value()) go = checks::copy_vector<std::int64_t>(*goal_offsets, "goal_offsets", "(B + 1,)");
    std::vector<std::int64_t> unused;
    std::vector<PathResult> results = with_goals(g, m, goals, unused, [&](auto& batch) {
        batch.source_offsets = checks::view_of(so);
        batch.source_nodes = checks::view_of(sn);
        batch.source_costs = checks::view_of(sc);
        batch.target_offsets = checks::view_of(to);
        batch.target_nodes = checks::view_of(tn);
        batch.target_costs = checks::view_of(tc);
        if (goals.has_value()) batch.goal_offsets = checks::view_of(go);
        py::gil_scoped_release release;
        return g.search_many(batch, m, threads, raise_unreachable);
    });
    return paths_and_costs(results);
}

py::tuple single_source(const AtlasGraph& g, std::int64_t source) {
    const auto n = static_cast<py::ssize_t>(g.n_nodes());
    py::array_t<double> dist(n);
    py::array_t<std::int64_t> pred(n);
    double* d = dist.mutable_data();
    std::int64_t* p = pred.mutable_data();
    {
        py::gil_scoped_release release;
        g.single_source(source, d, p);
    }
    return py::make_tuple(std::move(dist), std::move(pred));
}

}  // namespace

void bind_search(py::module_& m) {
    GraphClass cls = graph_class(m);
    cls.def("shortest_path", &shortest_path, py::arg("source"), py::arg("target"), py::arg("method") = "astar",
            R"pbdoc(
Point-to-point search between two graph nodes, with early exit.

"astar" uses h(v) = ||P[v] - P[target]|| and needs ``set_positions``; "dijkstra" uses h = 0. Internally h
is scaled by 1 - 2^-16 (float32 positions) or 1 - 2^-40 (float64) and closed nodes are reopened, so rounding
in float32 positions or weights cannot make the result differ from Dijkstra's.

Precondition of "astar" (checked on the first A* search after set_weights/set_positions,
O(n_edges * D); update_weights re-checks only the edges it changes): the heuristic is
consistent, every edge weight w(u, v) >= ||P[u] - P[v]|| up to that scale and the rounding of the
positions' dtype. Otherwise ValueError names the worst edge (use method="dijkstra").

Returns:
    path (L,) int64 from source to target inclusive, and its cost (float). source == target gives
    ([source], 0.0).

Raises:
    IndexError: source or target out of range.
    UnreachableError: different components; the message names both components and their sizes.
)pbdoc")
        .def("shortest_paths", &shortest_paths, py::arg("sources"), py::arg("targets"), py::arg("method") = "astar",
             py::arg("n_threads") = 0, py::arg("raise_unreachable") = true, R"pbdoc(
Many (source, target) node pairs in one call, spread over threads with the GIL released.

Args:
    sources, targets: (B,) int64.
    raise_unreachable: if False an unreachable pair gets cost inf and an empty path.

Returns:
    B paths and costs (B,) float64, equal to B calls of ``shortest_path``.
)pbdoc")
        .def("search", &search, py::arg("source_nodes"), py::arg("source_costs"), py::arg("target_nodes"),
             py::arg("target_costs"), py::arg("goals") = py::none(), py::arg("method") = "astar", R"pbdoc(
Search between two query points that are not graph nodes, without mutating the graph.

The source is a virtual node with an edge of cost ``source_costs[i]`` to ``source_nodes[i]``; the target
a virtual node reached from ``target_nodes[j]`` at cost ``target_costs[j]``. Repeated nodes are allowed
(the cheapest attachment counts). With "astar" the heuristic is h(v) = min_g ||P[v] - goals[g]||: pass
the decoded positions of the target's attachments (goals (G, D), the positions' dtype). Precondition of
"astar", checked: the edges are consistent (see ``shortest_path``) and
``target_costs[j] >= min_g ||P[target_nodes[j]] - goals[g]||`` (ValueError naming target_costs and j).

Returns:
    path (L,) int64 of graph nodes from the first node entered to the last node left, and the total
    cost including both attachment costs.
)pbdoc")
        .def("search_many", &search_many, py::arg("source_offsets"), py::arg("source_nodes"), py::arg("source_costs"),
             py::arg("target_offsets"), py::arg("target_nodes"), py::arg("target_costs"),
             py::arg("goal_offsets") = py::none(), py::arg("goals") = py::none(), py::arg("method") = "astar",
             py::arg("n_threads") = 0, py::arg("raise_unreachable") = true, R"pbdoc(
B virtual-endpoint searches in one call (ragged CSR-style arrays; query b uses
``source_nodes[source_offsets[b]:source_offsets[b+1]]`` and likewise for targets and goals), threads,
GIL released. Equal to B calls of ``search``.
)pbdoc")
        .def("single_source", &single_source, py::arg("source"), R"pbdoc(
One-to-many Dijkstra from one node: distances (n_nodes,) float64 (inf where unreachable) and
predecessors (n_nodes,) int64 (-1 for the source and unreachable nodes).
)pbdoc");
}

}  // namespace agm::bindings
