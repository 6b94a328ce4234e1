// PagedWeights: pages shared between versions through an arena of reference-counted pages, copied where an update
// writes (see paged_weights.hpp).
#include "agm/paged_weights.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <utility>

namespace agm {

struct PagedWeights::Arena {
    struct Page {
        double w[page_size];
    };
    // Pages nobody holds that are kept for reuse (8 MiB); beyond that they are freed.
    static constexpr std::size_t max_free = (std::size_t{8} << 20) / sizeof(Page);

    std::mutex mutex;                         // guards everything below
    std::vector<std::unique_ptr<Page>> pages;  // by id; null for a freed id
    std::vector<std::uint32_t> refs;           // by id: the blocks holding the page
    std::vector<std::uint32_t> free_ids;       // ids with refs 0 (their page kept or freed)
    std::size_t kept = 0;                      // free ids whose page is kept

    // Under mutex: an id with refs 0 whose page exists (its contents unspecified).
    std::uint32_t take() {
        if (free_ids.empty()) {
            pages.push_back(std::unique_ptr<Page>(new Page));  // default-initialised: the caller overwrites it
            refs.push_back(0);
            return static_cast<std::uint32_t>(pages.size() - 1);
        }
        const std::uint32_t id = free_ids.back();
        free_ids.pop_back();
        if (pages[id]) {
            --kept;
        } else {
            pages[id].reset(new Page);
        }
        return id;
    }
    // Under mutex: one holder of page `id` fewer.
    void release(std::uint32_t id) {
        if (--refs[id] != 0) return;
        if (kept < max_free) {
            ++kept;
        } else {
            pages[id].reset();
        }
        free_ids.push_back(id);
    }
};

PagedWeights::PagedWeights(std::shared_ptr<Arena> arena, std::size_t size) : size_(size), arena_(std::move(arena)) {}

PagedWeights::PagedWeights(std::size_t size) : size_(size), arena_(std::make_shared<Arena>()) {
    const std::size_t n_pages = (size + page_size - 1) / page_size;
    ids_.reserve(n_pages);
    raw_.reserve(n_pages);
    arena_->pages.reserve(n_pages);
    arena_->refs.reserve(n_pages);
    for (std::size_t p = 0; p < n_pages; ++p) {
        arena_->pages.push_back(std::make_unique<Arena::Page>());  // value-initialised: zeros
        arena_->refs.push_back(1);
        ids_.push_back(static_cast<std::uint32_t>(p));
        raw_.push_back(arena_->pages.back()->w);
    }
}

PagedWeights::~PagedWeights() {
    std::lock_guard<std::mutex> lock(arena_->mutex);
    for (const std::uint32_t id : ids_) arena_->release(id);
}

std::shared_ptr<const PagedWeights> PagedWeights::with(std::vector<Change> changes) const {
    std::sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) { return a.slot < b.slot; });
    std::vector<std::size_t> touched;  // the pages a change falls in, increasing
    for (const Change& c : changes) {
        if (touched.empty() || touched.back() != c.slot / page_size) touched.push_back(c.slot / page_size);
    }
    std::shared_ptr<PagedWeights> next(new PagedWeights(arena_, size_));
    {
        // Each step leaves next's table and the counts consistent: if take() throws, next's destructor releases
        // exactly what next holds.
        std::lock_guard<std::mutex> lock(arena_->mutex);
        for (const std::uint32_t id : ids_) ++arena_->refs[id];
        next->ids_ = ids_;
        next->raw_ = raw_;
        for (const std::size_t p : touched) {
            const std::uint32_t fresh = arena_->take();
            ++arena_->refs[fresh];
            arena_->release(ids_[p]);  // still held by this block: never freed here
            next->ids_[p] = fresh;
            next->raw_[p] = arena_->pages[fresh]->w;
        }
    }
    // Outside the lock: this block holds the old pages, next alone the fresh ones.
    for (const std::size_t p : touched) {
        std::memcpy(next->raw_[p], raw_[p], std::min(page_size, size_ - p * page_size) * sizeof(double));
    }
    for (const Change& c : changes) next->raw_[c.slot / page_size][c.slot % page_size] = c.weight;
    return next;
}

void PagedWeights::copy_to(double* out) const {
    for (std::size_t p = 0; p < raw_.size(); ++p) {
        const std::size_t begin = p * page_size;
        std::memcpy(out + begin, raw_[p], std::min(page_size, size_ - begin) * sizeof(double));
    }
}

std::size_t PagedWeights::bytes() const {
    return raw_.size() * (sizeof(Arena::Page) + sizeof(ids_[0]) + sizeof(raw_[0]) + sizeof(std::uint32_t) +
                          sizeof(std::unique_ptr<Arena::Page>));
}

}  // namespace agm
