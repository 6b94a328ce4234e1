// PagedWeights: the CSR-slot weights of a graph in fixed-size pages that versions share (copy-on-write), so that a
// weight update costs the page table and the pages it touches, not the whole array: changing c edges of a graph
// with S slots copies S / page_size page ids and at most 2c pages (an O(S) copy before: 175 ms for 100 edges of a
// 17.7M-edge graph). Readers index slots through a WeightsView (one extra load per weight: the page pointer).
//
// The blocks made from one another share an arena: the pages by id, with one reference count per page in one
// contiguous array under one mutex, and the pages no block holds kept for reuse (up to 8 MiB). Copying or releasing
// a page table then touches adjacent counters instead of one scattered control block per page (a cache and TLB
// miss each: 0.8 ms of a 1.7 ms 100-edge update on 15.5M edges with std::shared_ptr pages of 16 KiB), which makes
// small pages affordable: at 4 KiB a 100-edge update copies about 0.8 MB of pages instead of 3.2 MB (most of the
// rest of that 1.7 ms), and a copied page reuses warm memory instead of a fresh allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace agm {

// Borrowed read access to paged weights (valid while the PagedWeights lives): weights[slot].
struct WeightsView {
    static constexpr unsigned page_bits = 9;  // 512 doubles (4 KiB) per page
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

    explicit PagedWeights(std::size_t size);  // `size` slots, all 0.0, in a new arena
    ~PagedWeights();                          // releases its pages (any thread; under the arena's mutex)
    PagedWeights(const PagedWeights&) = delete;
    PagedWeights& operator=(const PagedWeights&) = delete;

    std::size_t size() const { return size_; }
    double operator[](std::size_t slot) const { return view()[static_cast<std::int64_t>(slot)]; }
    WeightsView view() const { return WeightsView{raw_.data()}; }
    // Writes one slot of a block nobody shares yet (while it is being filled).
    void set(std::size_t slot, double weight) { raw_[slot / page_size][slot % page_size] = weight; }
    // A new block with `changes` applied (slots < size()): this block's pages, copied where a change falls.
    std::shared_ptr<const PagedWeights> with(std::vector<Change> changes) const;
    void copy_to(double* out) const;  // the size() weights in slot order
    std::size_t bytes() const;        // pages + page table + reference counts

private:
    struct Arena;
    PagedWeights(std::shared_ptr<Arena> arena, std::size_t size);  // empty tables: with() fills them

    std::size_t size_;
    std::shared_ptr<Arena> arena_;
    std::vector<std::uint32_t> ids_;  // ids_[p]: the arena page holding slots [p * page_size, (p + 1) * page_size)
    std::vector<double*> raw_;        // raw_[p]: that page's weights, for WeightsView
};

}  // namespace agm
