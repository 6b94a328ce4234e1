// AtlasGraph::save / load: one little-endian binary file with a header, every array and an FNV-1a 64 checksum.
//
// Layout (version 1): "AGMGRAPH", u32 version, u32 0x01020304 (byte-order mark), u8 latent dtype (1 float32,
// 2 float64), u8 has_weights, u8 positions dtype (0 none), u8 0, u64 n_charts, n_nodes, latent_dim, k, n_edges,
// n_intra_edges, positions_dim, metadata_bytes; then i64 chart_offsets[n_charts + 1], i64 node_point[n_nodes],
// latents[n_nodes * latent_dim], i32 edges[2 * n_edges], f64 weights[n_edges] (if any), positions (if any),
// metadata bytes; then u64 FNV-1a 64 of every preceding byte.
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
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
    void put_array(const T* data, std::size_t n) { buffer.append(reinterpret_cast<const char*>(data), n * sizeof(T)); }
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
        std::memcpy(out.data(), take(n * sizeof(T)), n * sizeof(T));
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

}  // namespace

void AtlasGraph::save(const std::string& path, const std::string& metadata) {
    Writer w;
    w.put_array(magic, 8);
    w.put(format_version);
    w.put(byte_order_mark);
    const std::uint8_t flags[4] = {static_cast<std::uint8_t>(latents_.is_double() ? 2 : 1),
                                   static_cast<std::uint8_t>(has_weights_ ? 1 : 0),
                                   static_cast<std::uint8_t>(positions_.empty() ? 0 : positions_.is_double() ? 2 : 1),
                                   0};
    w.put_array(flags, 4);
    const std::uint64_t sizes[8] = {n_charts(), n_nodes(),       latent_dim(),    k_,
                                    n_edges(),  n_intra_,        positions_.cols, metadata.size()};
    w.put_array(sizes, 8);
    w.put_array(chart_offsets_.data(), chart_offsets_.size());
    w.put_array(node_point_.data(), node_point_.size());
    latents_.is_double() ? put_matrix<double>(w, latents_) : put_matrix<float>(w, latents_);
    w.put_array(edges_.data(), edges_.size());
    if (has_weights_) {
        const std::vector<double> weight_list = weights();
        w.put_array(weight_list.data(), weight_list.size());
    }
    if (!positions_.empty()) positions_.is_double() ? put_matrix<double>(w, positions_) : put_matrix<float>(w, positions_);
    w.put_array(metadata.data(), metadata.size());
    w.put(fnv1a64(w.buffer.data(), w.buffer.size()));
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw std::invalid_argument("cannot open '" + path + "' for writing");
    out.write(w.buffer.data(), static_cast<std::streamsize>(w.buffer.size()));
    out.close();
    if (!out) throw std::runtime_error("writing '" + path + "' failed");
    metadata_ = metadata;
}

std::unique_ptr<AtlasGraph> AtlasGraph::load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::invalid_argument("cannot open '" + path + "' for reading");
    const std::string buffer((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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
    if (n_charts == 0 || n_nodes >= (std::uint64_t{1} << 31) || dim == 0 || k == 0 || n_intra > n_edges ||
        n_charts > n_nodes || n_edges > (std::uint64_t{1} << 40)) {
        b.fail("inconsistent sizes in the header");
    }
    std::unique_ptr<AtlasGraph> g(new AtlasGraph());
    g->k_ = k;
    g->chart_offsets_ = b.get_array<std::int64_t>(n_charts + 1);
    g->node_point_ = b.get_array<std::int64_t>(n_nodes);
    g->latents_ = read_matrix(b, latent_dtype, n_nodes, dim, "latents");
    g->edges_ = b.get_array<std::int32_t>(2 * n_edges);
    const auto& off = g->chart_offsets_;
    if (off.front() != 0 || off.back() != static_cast<std::int64_t>(n_nodes)) b.fail("inconsistent chart_offsets");
    for (std::size_t c = 0; c < n_charts; ++c) {
        if (off[c + 1] - off[c] <= static_cast<std::int64_t>(k)) b.fail("a chart has k or fewer points");
        g->node_chart_.insert(g->node_chart_.end(), off[c + 1] - off[c], static_cast<std::int32_t>(c));
    }
    for (const std::int64_t p : g->node_point_) {
        if (p < 0) b.fail("negative point id");
    }
    for (std::size_t e = 0; e < n_edges; ++e) {
        const std::int32_t u = g->edges_[2 * e], v = g->edges_[2 * e + 1];
        if (u < 0 || u >= v || static_cast<std::uint64_t>(v) >= n_nodes ||
            (g->node_chart_[u] == g->node_chart_[v]) != (e < n_intra)) {
            b.fail("invalid edge " + std::to_string(e));
        }
    }
    std::vector<double> weights = has_weights ? b.get_array<double>(n_edges) : std::vector<double>();
    FloatMatrix positions;
    if (position_dtype != 0) positions = read_matrix(b, position_dtype, n_nodes, pos_dim, "positions");
    g->metadata_.assign(b.take(meta_bytes), meta_bytes);
    if (b.pos != body.size()) b.fail("trailing bytes after the arrays (sizes inconsistent)");
    // Rebuild what is derived: cross edges (checked against the file), trees, CSR, components.
    const std::vector<std::int32_t> stored_edges = std::move(g->edges_);
    try {
        g->build_cross_edges();
    } catch (const std::invalid_argument& e) {
        b.fail(e.what());
    }
    if (!std::equal(g->edges_.begin(), g->edges_.end(), stored_edges.begin() + 2 * n_intra, stored_edges.end())) {
        b.fail("cross-chart edges do not match the point ids");
    }
    g->edges_ = stored_edges;
    g->n_intra_ = n_intra;
    std::visit(
        [&](const auto& all) {
            using T = typename std::decay_t<decltype(all)>::value_type;
            std::vector<MatrixView<T>> views;
            for (std::size_t c = 0; c < n_charts; ++c) {
                views.push_back(MatrixView<T>{all.data() + off[c] * dim, static_cast<std::size_t>(off[c + 1] - off[c]), dim});
            }
            g->build_charts<T>(views, tree_leaf_size);
        },
        g->latents_.data);
    g->build_structure();
    if (has_weights) {
        try {
            g->set_weights(VectorView<double>{weights.data(), weights.size()});
        } catch (const std::invalid_argument& e) {
            b.fail(e.what());
        }
    }
    if (position_dtype != 0) g->positions_ = std::move(positions);
    return g;
}

}  // namespace agm
