// PagedWeights: pages shared between versions, copied where an update writes (see paged_weights.hpp).
#include "agm/paged_weights.hpp"

#include <algorithm>
#include <cstring>

namespace agm {

PagedWeights::PagedWeights(std::size_t size) : size_(size) {
    const std::size_t n_pages = (size + page_size - 1) / page_size;
    pages_.reserve(n_pages);
    raw_.reserve(n_pages);
    for (std::size_t p = 0; p < n_pages; ++p) {
        pages_.push_back(std::make_shared<Page>());  // value-initialised: zeros
        raw_.push_back(pages_.back()->w);
    }
}

std::shared_ptr<const PagedWeights> PagedWeights::with(std::vector<Change> changes) const {
    auto next = std::make_shared<PagedWeights>(*this);  // the page table: pointers, the pages shared
    std::sort(changes.begin(), changes.end(), [](const Change& a, const Change& b) { return a.slot < b.slot; });
    std::size_t copied = pages_.size();  // the page copied last (none yet)
    for (const Change& c : changes) {
        const std::size_t p = c.slot / page_size;
        if (p != copied) {  // changes are sorted: each touched page is copied once
            next->pages_[p] = std::make_shared<Page>(*pages_[p]);
            next->raw_[p] = next->pages_[p]->w;
            copied = p;
        }
        next->pages_[p]->w[c.slot % page_size] = c.weight;
    }
    return next;
}

void PagedWeights::copy_to(double* out) const {
    for (std::size_t p = 0; p < pages_.size(); ++p) {
        const std::size_t begin = p * page_size;
        std::memcpy(out + begin, raw_[p], std::min(page_size, size_ - begin) * sizeof(double));
    }
}

std::size_t PagedWeights::bytes() const {
    return pages_.size() * (sizeof(Page) + 2 * sizeof(void*) + sizeof(pages_[0]) + sizeof(raw_[0]));  // + control block
}

}  // namespace agm
