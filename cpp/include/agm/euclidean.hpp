// Euclidean norms and distances of float32/float64 rows, accumulated in double: the one formula the A* heuristic
// (search.cpp) and its consistency check (heuristic_check) share, so both measure ||P[u] - P[v]|| alike, and the
// k-d tree's exact re-measured neighbour distances (chart_index.cpp).
#pragma once

#include <cmath>
#include <cstddef>

namespace agm {

template <class T>
double norm_of(const T* a, std::size_t dim) {
    double s = 0.0;
    for (std::size_t j = 0; j < dim; ++j) s += static_cast<double>(a[j]) * static_cast<double>(a[j]);
    return std::sqrt(s);
}

template <class T>
double squared_distance_of(const T* a, const T* b, std::size_t dim) {
    double s = 0.0;
    for (std::size_t j = 0; j < dim; ++j) {
        const double diff = static_cast<double>(a[j]) - static_cast<double>(b[j]);
        s += diff * diff;
    }
    return s;
}

template <class T>
double distance_of(const T* a, const T* b, std::size_t dim) {
    return std::sqrt(squared_distance_of(a, b, dim));
}

}  // namespace agm
