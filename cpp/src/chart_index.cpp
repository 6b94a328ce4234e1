// ChartIndex<T>: tree construction and batched, threaded k-NN queries over nanoflann.
#include "agm/chart_index.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include <nanoflann.hpp>

#include "agm/euclidean.hpp"
#include "agm/parallel.hpp"

namespace agm {

namespace {

// nanoflann dataset adaptor over the index's own row-major copy.
template <class T>
struct PointsAdaptor {
    const T* data;
    std::size_t n;
    std::size_t dim;

    std::size_t kdtree_get_point_count() const { return n; }
    T kdtree_get_pt(std::uint32_t idx, std::size_t d) const { return data[static_cast<std::size_t>(idx) * dim + d]; }
    template <class Bbox>
    bool kdtree_get_bbox(Bbox&) const { return false; }
};

// Queries are processed in chunks of this many points per task.
constexpr std::size_t query_grain = 256;

std::string format_g(double value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", value);
    return buf;
}

}  // namespace

template <class T>
double coordinate_limit(std::size_t dim) {
    return 0.25 * std::sqrt(static_cast<double>(std::numeric_limits<T>::max()) / static_cast<double>(dim));
}

template <class T>
void check_coordinates(const T* data, std::size_t rows, std::size_t cols, const std::string& name) {
    const double limit = coordinate_limit<T>(cols);
    for (std::size_t i = 0; i < rows * cols; ++i) {
        if (!(std::abs(static_cast<double>(data[i])) <= limit)) {
            throw std::invalid_argument(name + " must have coordinates of magnitude <= " + format_g(limit) +
                                        " (so that squared distances fit in " +
                                        (std::is_same_v<T, float> ? "float32" : "float64") + " for d = " +
                                        std::to_string(cols) + "); got " + format_g(static_cast<double>(data[i])) +
                                        " at [" + std::to_string(i / cols) + ", " + std::to_string(i % cols) + "]");
        }
    }
}

template double coordinate_limit<float>(std::size_t);
template double coordinate_limit<double>(std::size_t);
template void check_coordinates<float>(const float*, std::size_t, std::size_t, const std::string&);
template void check_coordinates<double>(const double*, std::size_t, std::size_t, const std::string&);

template <class T>
struct ChartIndex<T>::Tree {
    using Adaptor = PointsAdaptor<T>;
    // Distances are accumulated in double for both dtypes, so float32 near-ties are ranked like a float64 oracle.
    using Metric = nanoflann::L2_Simple_Adaptor<T, Adaptor, double, std::uint32_t>;
    using Index = nanoflann::KDTreeSingleIndexAdaptor<Metric, Adaptor, -1, std::uint32_t>;

    Adaptor adaptor;
    Index index;

    Tree(const T* data, std::size_t n, std::size_t dim, std::size_t leaf_size)
        : adaptor{data, n, dim},
          index(static_cast<int>(dim), adaptor, nanoflann::KDTreeSingleIndexAdaptorParams(leaf_size)) {}

    // Re-points the tree at `permuted` (the points stored in the tree's leaf order, row i = original point
    // vAcc[i]) and makes vAcc the identity: every leaf then scans a contiguous block of rows instead of
    // gathering rows through vAcc. Splits and bounds are unchanged because each position holds the same point.
    void use_leaf_order(const T* permuted) {
        adaptor.data = permuted;
        for (std::size_t i = 0; i < index.vAcc.size(); ++i) index.vAcc[i] = static_cast<std::uint32_t>(i);
    }

    // The first leaf-order position of the leaf that q descends to (the search's first branch at every split).
    std::uint32_t leaf_of(const T* q) const {
        const auto* node = index.root_node;
        while (node->child1 != nullptr || node->child2 != nullptr) {
            const double value = static_cast<double>(q[node->node_type.sub.divfeat]);
            const double diff1 = value - node->node_type.sub.divlow;
            const double diff2 = value - node->node_type.sub.divhigh;
            node = (diff1 + diff2) < 0 ? node->child1 : node->child2;
        }
        return static_cast<std::uint32_t>(node->node_type.lr.left);
    }

    // The k nearest points of q as (squared distance, leaf-order position), distances exactly re-measured in
    // double. Scratch buffers are sized k by the caller.
    std::size_t search(const T* q, std::size_t k, std::uint32_t* idx_buf, double* d2_buf,
                       std::vector<std::pair<double, std::uint32_t>>& out) const {
        nanoflann::KNNResultSet<double, std::uint32_t, std::size_t> result(k);
        result.init(idx_buf, d2_buf);
        index.findNeighbors(result, q, nanoflann::SearchParams());
        const std::size_t found = result.size();
        if (found < k) throw std::logic_error("ChartIndex: the k-d tree returned fewer than k neighbours");
        out.clear();
        for (std::size_t i = 0; i < found; ++i) {
            const std::uint32_t id = idx_buf[i];
            out.emplace_back(
                squared_distance_of(q, adaptor.data + static_cast<std::size_t>(id) * adaptor.dim, adaptor.dim), id);
        }
        return found;
    }
};

template <class T>
ChartIndex<T>::ChartIndex(MatrixView<T> points, std::size_t leaf_size)
    : points_(points.data, points.data + points.size()),
      n_points_(points.rows),
      dim_(points.cols),
      leaf_size_(leaf_size) {
    if (n_points_ == 0) throw std::invalid_argument("points must have at least one row; got 0 rows");
    if (dim_ == 0) throw std::invalid_argument("points must have at least one column; got 0 columns");
    check_leaf_size(static_cast<std::int64_t>(leaf_size_));
    if (n_points_ >= (std::size_t{1} << 31)) {
        throw std::invalid_argument("points must have fewer than 2^31 rows; got " + std::to_string(n_points_));
    }
    check_coordinates(points_.data(), n_points_, dim_, "points");
    tree_ = std::make_unique<Tree>(points_.data(), n_points_, dim_, leaf_size_);
    // Store the points in leaf order (see Tree::use_leaf_order); original_id_ maps a position back.
    original_id_.assign(tree_->index.vAcc.begin(), tree_->index.vAcc.end());
    std::vector<T> permuted(points_.size());
    for (std::size_t i = 0; i < n_points_; ++i) {
        std::copy_n(points_.data() + static_cast<std::size_t>(original_id_[i]) * dim_, dim_, permuted.data() + i * dim_);
    }
    points_.swap(permuted);
    tree_->use_leaf_order(points_.data());
}

template <class T>
void ChartIndex<T>::finish_row(std::vector<std::pair<double, std::uint32_t>>& found, std::size_t k,
                               std::int64_t* ids, double* dists) const {
    for (auto& entry : found) entry.second = original_id_[entry.second];
    std::sort(found.begin(), found.end());
    for (std::size_t j = 0; j < k; ++j) {
        ids[j] = static_cast<std::int64_t>(found[j].second);
        dists[j] = std::sqrt(found[j].first);
    }
}

template <class T>
ChartIndex<T>::~ChartIndex() = default;

std::size_t check_k(std::int64_t k, std::size_t n_points, bool exclude_self) {
    const auto upper = static_cast<std::int64_t>(exclude_self ? n_points - 1 : n_points);
    if (k < 1 || k > upper) {
        throw std::invalid_argument(std::string("k must satisfy 1 <= k ") + (exclude_self ? "<" : "<=") +
                                    " n_points = " + std::to_string(n_points) + "; got " + std::to_string(k));
    }
    return static_cast<std::size_t>(k);
}

std::size_t check_leaf_size(std::int64_t leaf_size) {
    if (leaf_size < 1) throw std::invalid_argument("leaf_size must be >= 1; got " + std::to_string(leaf_size));
    return static_cast<std::size_t>(leaf_size);
}

QueryOrder parse_query_order(const std::string& order) {
    if (order == "auto") return QueryOrder::automatic;
    if (order == "leaf") return QueryOrder::leaf;
    if (order == "input") return QueryOrder::input;
    throw std::invalid_argument("order must be 'auto', 'leaf' or 'input'; got '" + order + "'");
}

template <class T>
std::vector<std::uint32_t> ChartIndex<T>::leaf_order(MatrixView<T> queries, std::size_t n_threads) const {
    std::vector<std::uint64_t> keyed(queries.rows);  // (leaf << 32) | row: sorting it sorts by (leaf, row)
    parallel_for(queries.rows, n_threads, query_grain * 16, [&](std::size_t begin, std::size_t end, std::size_t) {
        for (std::size_t i = begin; i < end; ++i) {
            keyed[i] = (static_cast<std::uint64_t>(tree_->leaf_of(queries.row(i))) << 32) | i;
        }
    });
    std::sort(keyed.begin(), keyed.end());
    std::vector<std::uint32_t> rows(queries.rows);
    for (std::size_t p = 0; p < rows.size(); ++p) rows[p] = static_cast<std::uint32_t>(keyed[p] & 0xffffffffu);
    return rows;
}

template <class T>
void ChartIndex<T>::query(MatrixView<T> queries, std::size_t k, std::int64_t* ids, double* dists,
                          std::size_t n_threads, QueryOrder order) const {
    check_k(static_cast<std::int64_t>(k), n_points_, false);
    if (queries.cols != dim_) {
        throw std::invalid_argument("queries must have " + std::to_string(dim_) + " columns; got " +
                                    std::to_string(queries.cols));
    }
    const std::vector<T> copy(queries.data, queries.data + queries.size());  // checked and read once
    check_coordinates(copy.data(), queries.rows, dim_, "queries");
    const MatrixView<T> rows{copy.data(), queries.rows, queries.cols};
    const bool sorted = (order == QueryOrder::leaf ||
                         (order == QueryOrder::automatic && queries.rows >= leaf_sort_min_queries)) &&
                        queries.rows < (std::size_t{1} << 32);  // leaf_order packs row indices in 32 bits
    const std::vector<std::uint32_t> visit = sorted ? leaf_order(rows, n_threads) : std::vector<std::uint32_t>{};
    // Each row's search is independent of the others, so the visiting order changes no result.
    parallel_for(queries.rows, n_threads, query_grain, [&](std::size_t begin, std::size_t end, std::size_t) {
        std::vector<std::uint32_t> idx_buf(k);
        std::vector<double> d2_buf(k);
        std::vector<std::pair<double, std::uint32_t>> found;
        found.reserve(k);
        for (std::size_t p = begin; p < end; ++p) {
            const std::size_t i = sorted ? visit[p] : p;
            tree_->search(rows.row(i), k, idx_buf.data(), d2_buf.data(), found);
            finish_row(found, k, ids + i * k, dists + i * k);
        }
    });
}

template <class T>
void ChartIndex<T>::query_self(std::size_t k, std::int64_t* ids, double* dists, std::size_t n_threads) const {
    check_k(static_cast<std::int64_t>(k), n_points_, true);
    // Points are visited in the tree's leaf order, so consecutive queries touch the same leaves (cache locality).
    const std::size_t kk = k + 1;
    parallel_for(n_points_, n_threads, query_grain, [&](std::size_t begin, std::size_t end, std::size_t) {
        std::vector<std::uint32_t> idx_buf(kk);
        std::vector<double> d2_buf(kk);
        std::vector<std::pair<double, std::uint32_t>> found;
        found.reserve(kk);
        for (std::size_t pos = begin; pos < end; ++pos) {
            const auto self = static_cast<std::uint32_t>(pos);
            tree_->search(points_.data() + pos * dim_, kk, idx_buf.data(), d2_buf.data(), found);
            // Drop the point's own entry; when duplicates pushed it out of the k+1 results, drop the farthest.
            auto own = std::find_if(found.begin(), found.end(), [self](const auto& p) { return p.second == self; });
            if (own != found.end()) {
                found.erase(own);
            } else {
                found.erase(std::max_element(found.begin(), found.end()));
            }
            const std::size_t i = original_id_[pos];
            finish_row(found, k, ids + i * k, dists + i * k);
        }
    });
}

template class ChartIndex<float>;
template class ChartIndex<double>;

}  // namespace agm
