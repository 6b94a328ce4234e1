// AtlasGraph::save / load: one little-endian binary file with a header, every array and an FNV-1a 64 checksum.
//
// Layout (version 1): "AGMGRAPH", u32 version, u32 0x01020304 (byte-order mark), u8 latent dtype (1 float32,
// 2 float64), u8 has_weights, u8 positions dtype (0 none), u8 0, u64 n_charts, n_nodes, latent_dim, k, n_edges,
// n_intra_edges, positions_dim, metadata_bytes; then i64 chart_offsets[n_charts + 1], i64 node_point[n_nodes],
// latents[n_nodes * latent_dim], i32 edges[2 * n_edges], f64 weights[n_edges] (if any), positions (if any),
// metadata bytes; then u64 FNV-1a 64 of every preceding byte.
//
// A file is untrusted input: load checks every header field against the file's size (with overflow-checked
// arithmetic) before it allocates anything, then the checksum, then every array's invariants before anything is
// derived from it (chart offsets non-decreasing within n_nodes, the cross-chart edges the point ids imply no
// more than the file states, the metadata UTF-8): no allocation exceeds a small multiple of the file's size.
// The core holds point ids and CSR offsets in 32 bits (the file keeps i64 point ids, so files of either build read
// alike): a point id >= 2^31 or n_edges > 2^30 - 1 is refused like any other malformed file.
//
// save is atomic: it writes ".{basename}.{pid}-{random}.part" in the target's folder (mode 0666 & ~umask),
// fsyncs it, renames it over the target and fsyncs the folder; on any error the part file is removed. Part files
// of writers whose pid is no longer alive (killed mid-write) are removed by the next save to the same target. The
// Python side (agm._files.atomic_write) uses the same naming scheme.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

#include "agm/atlas_graph.hpp"

namespace agm {

namespace {

constexpr char magic[8] = {'A', 'G', 'M', 'G', 'R', 'A', 'P', 'H'};
constexpr std::uint32_t format_version = 1;
constexpr std::uint32_t byte_order_mark = 0x01020304;
constexpr std::size_t header_bytes = 8 + 4 + 4 + 4 + 8 * 8;

std::uint64_t fnv1a64(const char* data, std::size_t n) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < n; ++i) {
        h ^= static_cast<unsigned char>(data[i]);
        h *= 0x100000001b3ull;
    }
    return h;
}

struct Writer {
    std::string buffer;
    template <class T>
    void put(const T& value) { buffer.append(reinterpret_cast<const char*>(&value), sizeof(T)); }
    template <class T>
    void put_array(const T* data, std::size_t n) {
        if (n != 0) buffer.append(reinterpret_cast<const char*>(data), n * sizeof(T));
    }
};

struct Reader {
    const std::string& buffer;
    std::size_t pos;
    const std::string& path;
    template <class T>
    T get() {
        T value;
        std::memcpy(&value, take(sizeof(T)), sizeof(T));
        return value;
    }
    template <class T>
    std::vector<T> get_array(std::size_t n) {
        if (n > (buffer.size() - pos) / sizeof(T)) fail("truncated file (an array runs past the end)");
        std::vector<T> out(n);
        const char* src = take(n * sizeof(T));
        if (n != 0) std::memcpy(out.data(), src, n * sizeof(T));  // out.data() may be null when n == 0
        return out;
    }
    const char* take(std::size_t n) {
        if (n > buffer.size() - pos) fail("truncated file");
        const char* p = buffer.data() + pos;
        pos += n;
        return p;
    }
    [[noreturn]] void fail(const std::string& why) const {
        throw std::invalid_argument("cannot load AtlasGraph from '" + path + "': " + why);
    }
};

template <class T>
void put_matrix(Writer& w, const FloatMatrix& m) {
    const auto& v = std::get<std::vector<T>>(m.data);
    w.put_array(v.data(), v.size());
}

template <class T>
bool all_finite(const std::vector<T>& v) {
    for (const T x : v) {
        if (!std::isfinite(x)) return false;
    }
    return true;
}

FloatMatrix read_matrix(Reader& r, std::uint8_t dtype, std::size_t rows, std::size_t cols, const char* name) {
    FloatMatrix m;
    m.rows = rows;
    m.cols = cols;
    if (cols != 0 && rows > std::numeric_limits<std::size_t>::max() / 8 / cols) r.fail(std::string(name) + " too large");
    if (dtype == 1) {
        m.data = r.get_array<float>(rows * cols);
        if (!all_finite(std::get<0>(m.data))) r.fail(std::string(name) + " hold non-finite values");
    } else if (dtype == 2) {
        m.data = r.get_array<double>(rows * cols);
        if (!all_finite(std::get<1>(m.data))) r.fail(std::string(name) + " hold non-finite values");
    } else {
        r.fail(std::string("unknown dtype code ") + std::to_string(dtype) + " for " + name);
    }
    return m;
}

// Offset of the first byte that is not part of well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF), or n when all of data[0, n) is UTF-8.
std::size_t invalid_utf8_at(const char* data, std::size_t n) {
    const auto* u = reinterpret_cast<const unsigned char*>(data);
    std::size_t i = 0;
    while (i < n) {
        const unsigned char c = u[i];
        std::size_t len = 0;
        unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
        if (c < 0x80) len = 1;
        else if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c == 0xE0) len = 3, lo = 0xA0;
        else if (c >= 0xE1 && c <= 0xEC) len = 3;
        else if (c == 0xED) len = 3, hi = 0x9F;
        else if (c >= 0xEE && c <= 0xEF) len = 3;
        else if (c == 0xF0) len = 4, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) len = 4;
        else if (c == 0xF4) len = 4, hi = 0x8F;
        else return i;
        if (len > n - i) return i;
        for (std::size_t j = 1; j < len; ++j) {
            const unsigned char lower = j == 1 ? lo : 0x80, upper = j == 1 ? hi : 0xBF;
            if (u[i + j] < lower || u[i + j] > upper) return i;
        }
        i += len;
    }
    return n;
}

}  // namespace

namespace {

[[noreturn]] void fail_os(int error, const std::string& path, const std::string& doing) {
    throw FileError(error, path, doing + " '" + path + "' failed: " + std::strerror(error));
}

// Overflow-checked size arithmetic for the header check.
bool add_to(std::uint64_t& total, std::uint64_t a) { return !__builtin_add_overflow(total, a, &total); }
bool mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) { return !__builtin_mul_overflow(a, b, &out); }

bool pid_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH); }

// Removes ".{base}.{pid}-{anything}.part" files in `dir` whose writer process no longer exists.
void remove_stale_parts(const std::string& dir, const std::string& base) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return;
    const std::string prefix = "." + base + ".";
    const std::string suffix = ".part";
    while (const dirent* entry = ::readdir(d)) {
        const std::string name = entry->d_name;
        if (name.size() <= prefix.size() + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
            continue;
        }
        const std::string middle = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
        const std::size_t dash = middle.find('-');
        if (dash == 0 || dash == std::string::npos || middle.find_first_not_of("0123456789") != dash) continue;
        if (dash > 9) continue;  // not a pid
        if (!pid_alive(std::stol(middle.substr(0, dash)))) ::unlink((dir + "/" + name).c_str());
    }
    ::closedir(d);
}

void write_all(int fd, const std::string& bytes, const std::string& part) {
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail_os(errno, part, "writing");
        done += static_cast<std::size_t>(n);
    }
}

void write_atomically(const std::string& path, const std::string& bytes) {
    namespace fs = std::filesystem;
    const fs::path target(path);
    const std::string base = target.filename().string();
    if (base.empty() || base == "." || base == "..") fail_os(EISDIR, path, "saving to");
    const std::string dir = target.has_parent_path() ? target.parent_path().string() : std::string(".");
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) fail_os(ec.value(), dir, "creating the folder");
    remove_stale_parts(dir, base);
    std::random_device entropy;
    char tag[32];
    std::snprintf(tag, sizeof tag, "%ld-%08x%08x", static_cast<long>(::getpid()), entropy(), entropy());
    const std::string part = dir + "/." + base + "." + tag + ".part";
    const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) fail_os(errno, part, "creating");
    try {
        write_all(fd, bytes, part);
        if (::fsync(fd) != 0) fail_os(errno, part, "fsync of");
        const int closed = ::close(fd);
        if (closed != 0) {
            const int error = errno;
            ::unlink(part.c_str());
            fail_os(error, part, "closing");
        }
    } catch (...) {
        ::close(fd);
        ::unlink(part.c_str());
        throw;
    }
    if (::rename(part.c_str(), path.c_str()) != 0) {
        const int error = errno;
        ::unlink(part.c_str());
        fail_os(error, path, "renaming the part file to");
    }
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {  // make the rename durable; a folder that cannot be opened for reading is not an error
        ::fsync(dir_fd);
        ::close(dir_fd);
    }
}

std::string read_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail_os(errno, path, "opening");
    struct stat st {};
    if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        const int error = S_ISDIR(st.st_mode) ? EISDIR : errno;
        ::close(fd);
        fail_os(error, path, "reading");
    }
    std::string buffer;
    char chunk[1 << 16];
    while (true) {
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int error = errno;
            ::close(fd);
            fail_os(error, path, "reading");
        }
        if (n == 0) break;
        buffer.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return buffer;
}

}  // namespace

void AtlasGraph::save(const std::string& path, const std::string& metadata) {
    const Values values = this->values();  // one snapshot: a concurrent set_weights cannot tear or free it
    const FloatMatrix* positions = values.positions.get();
    Writer w;
    w.put_array(magic, 8);
    w.put(format_version);
    w.put(byte_order_mark);
    const std::uint8_t flags[4] = {static_cast<std::uint8_t>(latents().is_double() ? 2 : 1),
                                   static_cast<std::uint8_t>(values.csr_weights ? 1 : 0),
                                   static_cast<std::uint8_t>(!positions ? 0 : positions->is_double() ? 2 : 1), 0};
    w.put_array(flags, 4);
    const std::uint64_t sizes[8] = {n_charts(), n_nodes(), latent_dim(), k(), n_edges(), n_intra_edges(),
                                    positions ? positions->cols : 0, metadata.size()};
    w.put_array(sizes, 8);
    w.put_array(chart_offsets().data(), chart_offsets().size());
    const std::vector<std::int64_t> node_point_i64(node_point().begin(), node_point().end());  // the file's i64
    w.put_array(node_point_i64.data(), node_point_i64.size());
    latents().is_double() ? put_matrix<double>(w, latents()) : put_matrix<float>(w, latents());
    const std::vector<std::int32_t> edge_list = edges();  // replayed from the CSR, in edge order
    w.put_array(edge_list.data(), edge_list.size());
    if (values.csr_weights) {
        std::vector<double> weight_list(n_edges());
        edge_csr().for_each_edge([&](std::size_t e, const EdgeCsr::Slots& s) { weight_list[e] = (*values.csr_weights)[static_cast<std::size_t>(s.slot_u)]; });
        w.put_array(weight_list.data(), weight_list.size());
    }
    if (positions) positions->is_double() ? put_matrix<double>(w, *positions) : put_matrix<float>(w, *positions);
    w.put_array(metadata.data(), metadata.size());
    w.put(fnv1a64(w.buffer.data(), w.buffer.size()));
    write_atomically(path, w.buffer);
    std::lock_guard<std::mutex> lock(values_mutex_);
    metadata_ = metadata;
}

std::unique_ptr<AtlasGraph> AtlasGraph::load(const std::string& path) {
    const std::string buffer = read_file(path);
    Reader r{buffer, 0, path};
    if (buffer.size() < 8 || std::memcmp(buffer.data(), magic, 8) != 0) r.fail("not an AtlasGraph file (wrong magic)");
    if (buffer.size() < header_bytes + 8) r.fail("truncated file (incomplete header)");
    r.pos = 8;
    const auto version = r.get<std::uint32_t>();
    if (version != format_version) {
        r.fail("unsupported format version " + std::to_string(version) + " (this build reads version " +
               std::to_string(format_version) + ")");
    }
    if (r.get<std::uint32_t>() != byte_order_mark) r.fail("written on a machine with another byte order");
    const auto stored = [&] {
        std::uint64_t h;
        std::memcpy(&h, buffer.data() + buffer.size() - 8, 8);
        return h;
    }();
    if (stored != fnv1a64(buffer.data(), buffer.size() - 8)) r.fail("checksum mismatch (truncated or corrupted file)");
    const std::string body(buffer.data(), buffer.size() - 8);  // arrays must end exactly before the checksum
    Reader b{body, r.pos, path};
    const auto latent_dtype = b.get<std::uint8_t>();
    const auto has_weights = b.get<std::uint8_t>();
    const auto position_dtype = b.get<std::uint8_t>();
    b.get<std::uint8_t>();
    std::uint64_t s[8];
    for (auto& x : s) x = b.get<std::uint64_t>();
    const std::uint64_t n_charts = s[0], n_nodes = s[1], dim = s[2], k = s[3], n_edges = s[4], n_intra = s[5],
                        pos_dim = s[6], meta_bytes = s[7];
    if (latent_dtype != 1 && latent_dtype != 2) b.fail("unknown latent dtype code " + std::to_string(latent_dtype));
    if (has_weights > 1) b.fail("invalid has_weights flag " + std::to_string(has_weights));
    if (position_dtype > 2) b.fail("unknown positions dtype code " + std::to_string(position_dtype));
    if ((position_dtype == 0) != (pos_dim == 0)) b.fail("positions_dim " + std::to_string(pos_dim) + " does not match the positions flag");
    if (n_charts == 0 || n_nodes >= (std::uint64_t{1} << 31) || n_edges > EdgeCsr::max_slots / 2 || dim == 0 ||
        k == 0 || k >= n_nodes ||
        n_intra > n_edges || n_charts > n_nodes || n_intra > n_nodes * k) {
        b.fail("inconsistent sizes in the header (n_charts " + std::to_string(n_charts) + ", n_nodes " +
               std::to_string(n_nodes) + ", latent_dim " + std::to_string(dim) + ", k " + std::to_string(k) +
               ", n_edges " + std::to_string(n_edges) + ", n_intra_edges " + std::to_string(n_intra) + ")");
    }
    // The exact file size the header implies, before anything is allocated.
    std::uint64_t expected = header_bytes + 8, part = 0;
    const std::uint64_t latent_bytes = latent_dtype == 2 ? 8 : 4, position_bytes = position_dtype == 2 ? 8 : 4;
    const bool sized = add_to(expected, 8 * (n_charts + 1)) && add_to(expected, 8 * n_nodes) &&
                       mul(n_nodes * latent_bytes, dim, part) && add_to(expected, part) &&
                       mul(n_edges, 8, part) && add_to(expected, part) &&
                       (has_weights == 0 || add_to(expected, part)) &&
                       (position_dtype == 0 || (mul(n_nodes * position_bytes, pos_dim, part) && add_to(expected, part))) &&
                       add_to(expected, meta_bytes);
    if (!sized || expected != buffer.size()) {
        b.fail("the header's sizes imply " + (sized ? std::to_string(expected) + " bytes" : std::string("an overflowing size")) +
               " but the file has " + std::to_string(buffer.size()));
    }
    std::vector<std::int64_t> chart_offsets = b.get_array<std::int64_t>(n_charts + 1);
    std::vector<std::int64_t> node_point = b.get_array<std::int64_t>(n_nodes);
    FloatMatrix latents = read_matrix(b, latent_dtype, n_nodes, dim, "latents");
    const std::vector<std::int32_t> stored_edges = b.get_array<std::int32_t>(2 * n_edges);
    const auto& off = chart_offsets;
    if (off.front() != 0 || off.back() != static_cast<std::int64_t>(n_nodes)) b.fail("inconsistent chart_offsets");
    // Every offset within [0, n_nodes] and each chart above k points, before node_chart (n_nodes entries) is made.
    for (std::size_t c = 0; c < n_charts; ++c) {
        if (off[c + 1] < off[c] || off[c + 1] > static_cast<std::int64_t>(n_nodes)) {
            b.fail("chart_offsets[" + std::to_string(c + 1) + "] = " + std::to_string(off[c + 1]) +
                   " is not in [chart_offsets[" + std::to_string(c) + "], n_nodes = " + std::to_string(n_nodes) + "]");
        }
        if (off[c + 1] - off[c] <= static_cast<std::int64_t>(k)) b.fail("a chart has k or fewer points");
    }
    std::vector<std::int32_t> node_chart;
    node_chart.reserve(n_nodes);
    for (std::size_t c = 0; c < n_charts; ++c) {
        node_chart.insert(node_chart.end(), off[c + 1] - off[c], static_cast<std::int32_t>(c));
    }
    std::vector<std::int32_t> node_point32;  // the core's point ids are 32-bit (files hold them as i64)
    node_point32.reserve(n_nodes);
    for (const std::int64_t p : node_point) {
        if (p < 0) b.fail("negative point id");
        if (p >= (std::int64_t{1} << 31)) b.fail("point id " + std::to_string(p) + " >= 2^31");
        node_point32.push_back(static_cast<std::int32_t>(p));
    }
    for (std::size_t e = 0; e < n_edges; ++e) {
        const std::int32_t u = stored_edges[2 * e], v = stored_edges[2 * e + 1];
        if (u < 0 || u >= v || static_cast<std::uint64_t>(v) >= n_nodes ||
            (node_chart[u] == node_chart[v]) != (e < n_intra)) {
            b.fail("invalid edge " + std::to_string(e));
        }
    }
    std::vector<double> weights = has_weights ? b.get_array<double>(n_edges) : std::vector<double>();
    FloatMatrix positions;
    if (position_dtype != 0) positions = read_matrix(b, position_dtype, n_nodes, pos_dim, "positions");
    const char* meta = b.take(meta_bytes);
    if (b.pos != body.size()) b.fail("trailing bytes after the arrays (sizes inconsistent)");
    const std::size_t bad_byte = invalid_utf8_at(meta, meta_bytes);
    if (bad_byte != meta_bytes) b.fail("the metadata is not UTF-8 (byte " + std::to_string(bad_byte) + ")");
    // Rebuild what is derived: cross edges (checked against the file), trees, CSR, components.
    std::unique_ptr<AtlasGraph> g;
    try {
        g = std::make_unique<AtlasGraph>(structure_from_arrays(std::move(chart_offsets), std::move(node_point32),
                                                               std::move(latents), k, stored_edges, n_intra));
    } catch (const std::invalid_argument& e) {
        b.fail(e.what());
    }
    g->metadata_.assign(meta, meta_bytes);
    if (has_weights) {
        try {
            g->set_weights(VectorView<double>{weights.data(), weights.size()});
        } catch (const std::invalid_argument& e) {
            b.fail(e.what());
        }
    }
    if (position_dtype != 0) g->set_positions(std::move(positions));
    return g;
}

}  // namespace agm
