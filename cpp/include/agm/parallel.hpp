// A tiny parallel_for: dynamic chunks over std::threads, worker exceptions rethrown after join.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>

#include <sched.h>
#include <vector>

namespace agm {

// Threads used for n_threads == 0 (and the most ever used): the cores this process may run on (its CPU affinity
// mask, as Python's len(os.sched_getaffinity(0))), else std::thread::hardware_concurrency(); at least 1.
inline std::size_t hardware_threads() {
    cpu_set_t mask;
    CPU_ZERO(&mask);
    if (::sched_getaffinity(0, sizeof mask, &mask) == 0) {
        const int allowed = CPU_COUNT(&mask);
        if (allowed > 0) return static_cast<std::size_t>(allowed);
    }
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<std::size_t>(n);
}

// Threads actually used for a request: 0 means all hardware threads, and more than the hardware has is clamped
// to it (extra threads only add scratch memory and contention).
inline std::size_t resolve_threads(std::size_t n_threads) {
    const std::size_t hardware = hardware_threads();
    return n_threads == 0 ? hardware : std::min(n_threads, hardware);
}

// Calls body(begin, end, worker) over [0, n) in chunks of `grain` items, spread over up to n_threads workers
// (worker in [0, n_workers)). Runs inline when one worker suffices. The first exception thrown by any worker
// stops the remaining chunks and is rethrown in the caller after every worker has joined.
template <class Body>
void parallel_for(std::size_t n, std::size_t n_threads, std::size_t grain, Body&& body) {
    if (n == 0) return;
    grain = std::max<std::size_t>(grain, 1);
    const std::size_t n_chunks = (n + grain - 1) / grain;
    const std::size_t n_workers = std::min(resolve_threads(n_threads), n_chunks);
    if (n_workers <= 1) {
        body(std::size_t{0}, n, std::size_t{0});
        return;
    }
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto work = [&](std::size_t worker) {
        try {
            while (!failed.load(std::memory_order_relaxed)) {
                const std::size_t chunk = next.fetch_add(1, std::memory_order_relaxed);
                if (chunk >= n_chunks) break;
                const std::size_t begin = chunk * grain;
                body(begin, std::min(n, begin + grain), worker);
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            failed.store(true);
        }
    };
    std::vector<std::thread> threads;
    threads.reserve(n_workers - 1);
    try {
        for (std::size_t w = 1; w < n_workers; ++w) threads.emplace_back(work, w);
    } catch (...) {  // could not start a thread: stop the started ones, then report
        failed.store(true);
        for (auto& t : threads) t.join();
        throw;
    }
    work(0);
    for (auto& t : threads) t.join();
    if (error) std::rethrow_exception(error);
}

// Number of workers parallel_for will use for n items of the given grain (to size per-worker scratch).
inline std::size_t parallel_workers(std::size_t n, std::size_t n_threads, std::size_t grain) {
    grain = std::max<std::size_t>(grain, 1);
    const std::size_t n_chunks = (n + grain - 1) / grain;
    return std::max<std::size_t>(1, std::min(resolve_threads(n_threads), n_chunks));
}

}  // namespace agm
