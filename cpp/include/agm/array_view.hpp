// Non-owning views over caller memory: the core reads borrowed row-major buffers through these only.
#pragma once

#include <cstddef>

namespace agm {

// A read-only row-major (rows x cols) matrix that the caller owns.
template <class T>
struct MatrixView {
    const T* data = nullptr;
    std::size_t rows = 0;
    std::size_t cols = 0;

    const T* row(std::size_t i) const { return data + i * cols; }
    std::size_t size() const { return rows * cols; }
};

// A read-only contiguous vector that the caller owns.
template <class T>
struct VectorView {
    const T* data = nullptr;
    std::size_t size = 0;

    const T& operator[](std::size_t i) const { return data[i]; }
    const T* begin() const { return data; }
    const T* end() const { return data + size; }
};

}  // namespace agm
