// PagedWeights: the CSR-slot weights of a graph in fixed-size pages that versions share (copy-on-write), so that a
// weight update costs the page table and the pages it touches, not the whole array: changing c edges of a graph
// with S slots copies S / page_size pointers and at most 2c pages (an O(S) copy before: 175 ms for 100 edges of a
// 17.7M-edge graph). Readers index slots through a WeightsView (one extra load per weight: the page pointer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace agm {

// Borrowed read access to paged weights (valid while the PagedWeights lives): weights[slot].
struct WeightsView {
    static constexpr unsigned page_bits = 11;  // 2048 doubles (16 KiB) per page
    static constexpr std::size_t page_size = std::size_t{1} << page_bits;
    const double* const* pages = nullptr;
    double operator[](std::int64_t slot) const {
        const auto s = static_cast<std::size_t>(slot);
        return pages[s >> page_bits][s & (page_size - 1)];
    }
};

class PagedWeights {
public:
    static constexpr std::size_t page_size = WeightsView::page_size;
    struct Change {
        std::size_t slot;
        double weight;
    };

    explicit PagedWeights(std::size_t size);  // `size` slots, all 0.0
    std::size_t size() const { return size_; }
    double operator[](std::size_t slot) const { return view()[static_cast<std::int64_t>(slot)]; }
    WeightsView view() const { return WeightsView{raw_.data()}; }
    // Writes one slot of a block nobody shares yet (while it is being filled).
    void set(std::size_t slot, double weight) { pages_[slot / page_size]->w[slot % page_size] = weight; }
    // A new block with `changes` applied (slots < size()): this block's pages, copied where a change falls.
    std::shared_ptr<const PagedWeights> with(std::vector<Change> changes) const;
    void copy_to(double* out) const;  // the size() weights in slot order
    std::size_t bytes() const;        // pages + page table

private:
    struct Page {
        double w[page_size];
    };
    std::size_t size_;
    std::vector<std::shared_ptr<Page>> pages_;  // owners; pages are shared with other blocks once frozen
    std::vector<const double*> raw_;            // raw_[p] = pages_[p]->w, for WeightsView
};

}  // namespace agm
