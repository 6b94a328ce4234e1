// ChartIndex<T>: a nanoflann k-d tree over a row-major copy of one chart's latent points (T = float or double).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "agm/array_view.hpp"

namespace agm {

// The largest coordinate magnitude a (rows, d) matrix of dtype T may hold: sqrt(max(T) / d) / 4, so that the
// k-d tree's squared distances, which nanoflann partly computes in T, stay finite (factor 4 of margin).
template <class T>
double coordinate_limit(std::size_t dim);

// std::invalid_argument naming `name`, the limit, the value and its [row, col] unless every |data[i]| is at most
// coordinate_limit<T>(cols) (NaN fails too).
template <class T>
void check_coordinates(const T* data, std::size_t rows, std::size_t cols, const std::string& name);

// The user-facing count rules, owned here and also called by the bindings (before they size output arrays):
// k for a query (1 <= k <= n_points, or < n_points when the point itself is excluded) and leaf_size >= 1.
// std::invalid_argument naming the value otherwise.
std::size_t check_k(std::int64_t k, std::size_t n_points, bool exclude_self);
std::size_t check_leaf_size(std::int64_t leaf_size);

// The order in which ChartIndex::query visits its queries (never the order of the results, which is the input's):
// `leaf` sorts them by the tree leaf they fall in, so consecutive queries touch the same leaves (cache locality);
// `input` visits them as given; `automatic` sorts batches of at least leaf_sort_min_queries rows.
enum class QueryOrder { automatic, leaf, input };
constexpr std::size_t leaf_sort_min_queries = 1024;

// Parses "auto" / "leaf" / "input"; std::invalid_argument naming the value otherwise.
QueryOrder parse_query_order(const std::string& order);

template <class T>
class ChartIndex {
public:
    using value_type = T;

    // Copies the (N, d) points and builds the tree. Throws std::invalid_argument for N == 0, d == 0,
    // leaf_size == 0, N >= 2^31 or a coordinate beyond coordinate_limit<T>(d).
    ChartIndex(MatrixView<T> points, std::size_t leaf_size);
    ~ChartIndex();
    ChartIndex(const ChartIndex&) = delete;
    ChartIndex& operator=(const ChartIndex&) = delete;

    std::size_t n_points() const { return n_points_; }
    std::size_t dim() const { return dim_; }
    std::size_t leaf_size() const { return leaf_size_; }

    // k nearest indexed points of each query row: ids (Q, k) and true Euclidean distances (Q, k), row-major,
    // sorted by (distance, id). Distances are recomputed in double for the selected ids. 1 <= k <= n_points.
    // The queries are copied before they are checked (check_coordinates), so a caller that mutates them during
    // the call cannot get past the check. `order` changes only the speed: every row's result is the same.
    void query(MatrixView<T> queries, std::size_t k, std::int64_t* ids, double* dists, std::size_t n_threads,
               QueryOrder order = QueryOrder::automatic) const;

    // k nearest neighbours of every indexed point, excluding the point itself (its own id is dropped even
    // when duplicates tie with it). 1 <= k < n_points. Rows are in point order.
    void query_self(std::size_t k, std::int64_t* ids, double* dists, std::size_t n_threads) const;

private:
    struct Tree;
    // Row indices of `queries` sorted by (leaf of the tree the row descends to, row index).
    std::vector<std::uint32_t> leaf_order(MatrixView<T> queries, std::size_t n_threads) const;
    // Maps found (squared distance, position) pairs to original ids, sorts by (distance, id), writes k of them.
    void finish_row(std::vector<std::pair<double, std::uint32_t>>& found, std::size_t k, std::int64_t* ids,
                    double* dists) const;
    std::vector<T> points_;                  // row-major, in the tree's leaf order
    std::vector<std::uint32_t> original_id_;  // original point id of each stored row
    std::size_t n_points_;
    std::size_t dim_;
    std::size_t leaf_size_;
    std::unique_ptr<Tree> tree_;
};

extern template class ChartIndex<float>;
extern template class ChartIndex<double>;

// A chart index of either dtype, shared between a graph and Python handles.
struct AnyChartIndex {
    std::variant<std::shared_ptr<const ChartIndex<float>>, std::shared_ptr<const ChartIndex<double>>> impl;

    bool is_double() const { return impl.index() == 1; }
    std::size_t n_points() const {
        return std::visit([](const auto& p) { return p->n_points(); }, impl);
    }
    std::size_t dim() const {
        return std::visit([](const auto& p) { return p->dim(); }, impl);
    }
};

}  // namespace agm
