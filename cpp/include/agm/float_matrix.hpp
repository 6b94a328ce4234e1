// FloatMatrix: an owned row-major matrix whose dtype (float32 or float64) is chosen at run time.
#pragma once

#include <cstddef>
#include <variant>
#include <vector>

#include "agm/array_view.hpp"

namespace agm {

struct FloatMatrix {
    std::variant<std::vector<float>, std::vector<double>> data;
    std::size_t rows = 0;
    std::size_t cols = 0;

    FloatMatrix() = default;
    template <class T>
    explicit FloatMatrix(MatrixView<T> view)
        : data(std::vector<T>(view.data, view.data + view.size())), rows(view.rows), cols(view.cols) {}

    bool is_double() const { return data.index() == 1; }
    bool empty() const { return rows == 0; }
    std::size_t bytes() const {
        return std::visit([](const auto& v) { return v.size() * sizeof(v[0]); }, data);
    }
    template <class T>
    MatrixView<T> view() const {
        return MatrixView<T>{std::get<std::vector<T>>(data).data(), rows, cols};
    }
};

}  // namespace agm
