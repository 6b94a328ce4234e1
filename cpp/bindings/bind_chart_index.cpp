// Python class ChartIndex: a float32 or float64 nanoflann k-d tree (agm::AnyChartIndex).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "agm/chart_index.hpp"
#include "bindings.hpp"
#include "numpy_checks.hpp"

namespace agm::bindings {

namespace {

std::shared_ptr<AnyChartIndex> make_index(const py::array& points, std::int64_t leaf_size) {
    const std::size_t leaf = check_leaf_size(leaf_size);  // the core's rule
    auto build = [&](auto tag) -> std::shared_ptr<AnyChartIndex> {
        using T = decltype(tag);
        const auto view = checks::float_matrix<T>(points, "points");  // the core checks N >= 1, d >= 1
        std::shared_ptr<const ChartIndex<T>> index;
        {
            py::gil_scoped_release release;
            index = std::make_shared<const ChartIndex<T>>(view, leaf);
        }
        return std::make_shared<AnyChartIndex>(AnyChartIndex{std::move(index)});
    };
    return checks::is_float64(points, "points") ? build(double{}) : build(float{});
}

py::tuple query(const AnyChartIndex& self, const py::array& queries, std::int64_t k, std::int64_t n_threads,
                const std::string& order) {
    const std::size_t threads = checks::threads(n_threads);
    const QueryOrder visit = parse_query_order(order);
    const std::size_t kk = check_k(k, self.n_points(), false);  // the core's rule, before sizing the outputs
    return std::visit(
        [&](const auto& index) -> py::tuple {
            using T = typename std::decay_t<decltype(*index)>::value_type;
            if (!checks::has_dtype<T>(queries)) {
                throw py::type_error("queries must have the index's dtype " +
                                     py::str(py::dtype::of<T>()).cast<std::string>() + "; got " +
                                     checks::dtype_name(queries));
            }
            const auto view = checks::float_matrix<T>(queries, "queries", "(Q, d)");
            if (view.cols != index->dim()) {
                throw py::value_error("queries must have d = " + std::to_string(index->dim()) +
                                      " columns; got shape " + checks::shape_string(queries));
            }
            const auto q = static_cast<py::ssize_t>(view.rows);
            py::array_t<std::int64_t> ids({q, static_cast<py::ssize_t>(kk)});
            py::array_t<double> dists({q, static_cast<py::ssize_t>(kk)});
            std::int64_t* ids_out = ids.mutable_data();
            double* dists_out = dists.mutable_data();
            {
                py::gil_scoped_release release;
                index->query(view, kk, ids_out, dists_out, threads, visit);
            }
            return py::make_tuple(std::move(ids), std::move(dists));
        },
        self.impl);
}

py::tuple query_self(const AnyChartIndex& self, std::int64_t k, std::int64_t n_threads) {
    const std::size_t threads = checks::threads(n_threads);
    const std::size_t kk = check_k(k, self.n_points(), true);
    const auto n = static_cast<py::ssize_t>(self.n_points());
    py::array_t<std::int64_t> ids({n, static_cast<py::ssize_t>(kk)});
    py::array_t<double> dists({n, static_cast<py::ssize_t>(kk)});
    std::int64_t* ids_out = ids.mutable_data();
    double* dists_out = dists.mutable_data();
    {
        py::gil_scoped_release release;
        std::visit([&](const auto& index) { index->query_self(kk, ids_out, dists_out, threads); }, self.impl);
    }
    return py::make_tuple(std::move(ids), std::move(dists));
}

}  // namespace

void bind_chart_index(py::module_& m) {
    py::class_<AnyChartIndex, std::shared_ptr<AnyChartIndex>>(m, "ChartIndex", R"pbdoc(
A nanoflann k-d tree over the latent points of one chart.

The points are copied into the index (row-major), so the caller's array may be freed or mutated afterwards.
)pbdoc")
        .def(py::init(&make_index), py::arg("points"), py::arg("leaf_size") = 16, R"pbdoc(
Build the tree.

Args:
    points: (N, d) float32 or float64, C-contiguous, finite, N >= 1, d >= 1, with coordinates of
        magnitude <= sqrt(max / d) / 4, max the dtype's largest value (FLT_MAX or DBL_MAX; ValueError
        otherwise: squared distances would overflow the dtype).
    leaf_size: maximum points per leaf, >= 1.
)pbdoc")
        .def_property_readonly("n_points", &AnyChartIndex::n_points, R"pbdoc(Number of indexed points N.)pbdoc")
        .def_property_readonly("dim", &AnyChartIndex::dim, R"pbdoc(Dimension d of the points.)pbdoc")
        .def_property_readonly(
            "dtype",
            [](const AnyChartIndex& self) { return self.is_double() ? py::dtype::of<double>() : py::dtype::of<float>(); },
            R"pbdoc(The points' dtype (float32 or float64).)pbdoc")
        .def("query", &query, py::arg("queries"), py::arg("k"), py::arg("n_threads") = 0, py::arg("order") = "auto",
             R"pbdoc(
k nearest indexed points of each query.

Args:
    queries: (Q, d), the index's dtype (TypeError otherwise), C-contiguous, finite, within the points'
        magnitude limit.
    k: 1 <= k <= n_points.
    n_threads: worker threads; 0 means all hardware threads. The GIL is released.
    order: the order in which the queries are visited; it never changes the results, which are always in
        input order. "leaf": sorted by the tree leaf each query falls in, so consecutive queries touch the
        same leaves (cheaper when the cache is contended); "input": as given (already sorted queries);
        "auto": "leaf" for batches of at least 1024 queries. ValueError for another value.

Returns:
    ids (Q, k) int64 and distances (Q, k) float64, sorted by increasing distance, ties by id. Distances are
    true Euclidean distances, re-measured in float64 for the selected ids.
)pbdoc")
        .def("query_self", &query_self, py::arg("k"), py::arg("n_threads") = 0, R"pbdoc(
k nearest neighbours of every indexed point, the point itself excluded.

Args:
    k: 1 <= k < n_points.

Returns:
    ids (N, k) int64 and distances (N, k) float64 (true Euclidean), row i for point i.
)pbdoc");
}

}  // namespace agm::bindings
