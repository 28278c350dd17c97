// Runs every hotmoe CUDA kernel on the CPU emulation (emu_shim.h) against float64 references
// built from ggml's own quantisers/dequantisers (libggml-base), rel L2 < 1e-2 each.
#include "ggml.h"
#include <cstdio>
#include <random>

static std::mt19937_64 rng(12345);
static std::vector<float> rnd(size_t n, float lo = -1, float hi = 1) {
    std::uniform_real_distribution<float> u(lo, hi);
    std::vector<float> v(n);
    for (auto &x : v) x = u(rng);
    return v;
}
static int failures = 0;
static void report(const char *name, const std::vector<float> &got, const std::vector<double> &want) {
    double d = 0, w = 0;
    bool finite = got.size() == want.size();
    for (size_t i = 0; finite && i < got.size(); ++i) {
        if (!std::isfinite(got[i])) finite = false;
        d += (got[i] - want[i]) * (got[i] - want[i]);
        w += want[i] * want[i];
    }
    const double rel = finite ? std::sqrt(d / (w > 0 ? w : 1)) : INFINITY;
    const bool ok = rel < 1e-2;
    failures += !ok;
    std::printf("kernel %-24s rel_l2 %.3e %s\n", name, rel, ok ? "PASS" : "FAIL");
}

struct Matrix {
    int type, rows, cols;
    size_t rowBytes;
    std::vector<uint8_t> bytes;
    std::vector<float> values;
    Matrix(int t, int r, int c) : type(t), rows(r), cols(c) {
        const auto *tr = ggml_get_type_traits((ggml_type)t);
        rowBytes = ggml_row_size((ggml_type)t, c);
        bytes.resize(rowBytes * r);
        values.resize((size_t)r * c);
        auto src = rnd((size_t)r * c);
        for (int i = 0; i < r; ++i) {
            if (t == GGML_TYPE_F32) std::memcpy(&bytes[i * rowBytes], &src[(size_t)i * c], c * 4);
            else tr->from_float_ref(&src[(size_t)i * c], &bytes[i * rowBytes], c);
            if (t == GGML_TYPE_F32) std::memcpy(&values[(size_t)i * c], &bytes[i * rowBytes], c * 4);
            else tr->to_float(&bytes[i * rowBytes], &values[(size_t)i * c], c);
        }
    }
    std::vector<double> mul(const std::vector<double> &x, int tokens) const {
        std::vector<double> y((size_t)tokens * rows);
        for (int t = 0; t < tokens; ++t)
            for (int r = 0; r < rows; ++r) {
                double s = 0;
                for (int c = 0; c < cols; ++c) s += (double)values[(size_t)r * cols + c] * x[(size_t)t * cols + c];
                y[(size_t)t * rows + r] = s;
            }
        return y;
    }
};
static std::vector<double> dbl(const std::vector<float> &v) { return std::vector<double>(v.begin(), v.end()); }
static double silu(double x) { return x / (1 + std::exp(-x)); }

#define LINEAR_CASE(NAME, TYPE)                                                                          \
    {                                                                                                    \
        Matrix w(TYPE, 70, 512);                                                                         \
        for (int tokens : {1, 11}) {                                                                     \
            auto x = rnd((size_t)tokens * 512);                                                          \
            std::vector<float> y((size_t)tokens * 70);                                                   \
            if (tokens == 1)                                                                             \
                hm_launch({18, 1, 1}, {32, 4, 1}, [&] { matvec_##NAME(w.bytes.data(), w.rowBytes, x.data(), y.data(), 70, 512); }); \
            else                                                                                         \
                hm_launch({18, 2, 1}, {32, 4, 1}, [&] { matmul_##NAME(w.bytes.data(), w.rowBytes, x.data(), y.data(), 70, 512, tokens); }); \
            report(tokens == 1 ? "matvec_" #NAME : "matmul_" #NAME, y, w.mul(dbl(x), tokens));           \
        }                                                                                                \
    }

#define EXPERT_CASE(GU, GUT, DN, DNT)                                                                     \
    {                                                                                                    \
        const int d = 256, ff = 512, E = 3, items = 6;                                                   \
        std::vector<Matrix> g, u, dn;                                                                    \
        for (int e = 0; e < E; ++e) { g.emplace_back(GUT, ff, d); u.emplace_back(GUT, ff, d); dn.emplace_back(DNT, d, ff); } \
        auto x = rnd(2 * d);                                                                             \
        std::vector<unsigned long long> ga(items), ua(items), da(items);                                 \
        std::vector<int> tok(items);                                                                     \
        auto wt = rnd(items, 0.05f, 1);                                                                  \
        std::vector<double> want;                                                                        \
        for (int i = 0; i < items; ++i) {                                                                \
            const int e = (int)(rng() % E);                                                              \
            tok[i] = i / 3;                                                                              \
            ga[i] = (unsigned long long)g[e].bytes.data(); ua[i] = (unsigned long long)u[e].bytes.data(); \
            da[i] = (unsigned long long)dn[e].bytes.data();                                              \
            std::vector<double> xt(x.begin() + tok[i] * d, x.begin() + (tok[i] + 1) * d);                 \
            auto gv = g[e].mul(xt, 1), uv = u[e].mul(xt, 1);                                             \
            std::vector<double> h(ff);                                                                   \
            for (int j = 0; j < ff; ++j) h[j] = silu(gv[j]) * uv[j];                                     \
            for (double v : dn[e].mul(h, 1)) want.push_back(v * wt[i]);                                  \
        }                                                                                                \
        std::vector<float> hb((size_t)items * ff), out((size_t)items * d);                               \
        hm_launch({ff / 4, items, 1}, {32, 4, 1}, [&] { expert_gate_up_##GU(ga.data(), ua.data(), g[0].rowBytes, tok.data(), x.data(), hb.data(), d, ff); }); \
        hm_launch({d / 4, items, 1}, {32, 4, 1}, [&] { expert_down_##DN(da.data(), dn[0].rowBytes, wt.data(), hb.data(), out.data(), d, ff); }); \
        report("expert_ffn_" #GU "_" #DN, out, want);                                                    \
    }

int main() {
    LINEAR_CASE(f32, GGML_TYPE_F32)
    LINEAR_CASE(f16, GGML_TYPE_F16)
    LINEAR_CASE(q8_0, GGML_TYPE_Q8_0)
    LINEAR_CASE(q4_K, GGML_TYPE_Q4_K)
    LINEAR_CASE(q6_K, GGML_TYPE_Q6_K)
    {  // RMSNorm
        const int T = 3, D = 1000;
        auto x = rnd(T * D, -3, 3), w = rnd(D, 0.5, 1.5);
        std::vector<float> y(T * D);
        hm_launch({T, 1, 1}, {256, 1, 1}, [&] { rms_norm_f32(x.data(), w.data(), y.data(), D, 1e-6f); });
        std::vector<double> want(T * D);
        for (int t = 0; t < T; ++t) {
            double s = 0;
            for (int i = 0; i < D; ++i) s += (double)x[t * D + i] * x[t * D + i];
            const double sc = 1 / std::sqrt(s / D + 1e-6);
            for (int i = 0; i < D; ++i) want[t * D + i] = x[t * D + i] * sc * w[i];
        }
        report("rms_norm_f32", y, want);
    }
    for (int neox = 0; neox < 2; ++neox) {  // RoPE
        const int T = 3, H = 4, HD = 64, RD = neox ? 64 : 32;
        auto x = rnd(T * H * HD);
        std::vector<int> pos = {5, 1000, 4095};
        std::vector<double> want = dbl(x);
        for (int t = 0; t < T; ++t)
            for (int h = 0; h < H; ++h)
                for (int i = 0; i < RD / 2; ++i) {
                    const int o = (t * H + h) * HD, a = neox ? i : 2 * i, b = neox ? i + RD / 2 : 2 * i + 1;
                    const double th = pos[t] * std::pow(10000.0, -2.0 * i / RD);
                    want[o + a] = x[o + a] * std::cos(th) - x[o + b] * std::sin(th);
                    want[o + b] = x[o + a] * std::sin(th) + x[o + b] * std::cos(th);
                }
        hm_launch({T, H, 1}, {unsigned(min(128, RD / 2)), 1, 1}, [&] {
            if (neox) rope_neox_f32(x.data(), pos.data(), H, HD, RD, 10000.0f);
            else rope_norm_f32(x.data(), pos.data(), H, HD, RD, 10000.0f);
        });
        report(neox ? "rope_neox_f32" : "rope_norm_f32", x, want);
    }
    {  // SwiGLU
        const int n = 3000;
        auto g = rnd(n, -6, 6), u = rnd(n);
        std::vector<float> o(n);
        std::vector<double> want(n);
        for (int i = 0; i < n; ++i) want[i] = silu(g[i]) * u[i];
        hm_launch({(n + 255) / 256, 1, 1}, {256, 1, 1}, [&] { swiglu_f32(g.data(), u.data(), o.data(), n); });
        report("swiglu_f32", o, want);
    }
    {  // router
        const int T = 5, E = 64, K = 8;
        auto l = rnd(T * E, -4, 4);
        std::vector<int> ids(T * K, -1);
        std::vector<float> w(T * K), dense(T * E, 0.0f);
        hm_launch({1, 1, 1}, {64, 1, 1}, [&] { router_softmax_topk(l.data(), E, K, 1, 0.0f, ids.data(), w.data(), T); });
        std::vector<double> want(T * E, 0.0);
        for (int t = 0; t < T; ++t) {
            double m = -1e30, s = 0;
            for (int e = 0; e < E; ++e) m = std::max(m, (double)l[t * E + e]);
            std::vector<std::pair<double, int>> p;
            for (int e = 0; e < E; ++e) { s += std::exp(l[t * E + e] - m); }
            for (int e = 0; e < E; ++e) p.push_back({-std::exp(l[t * E + e] - m) / s, e});
            std::sort(p.begin(), p.end());
            double tot = 0;
            for (int k = 0; k < K; ++k) tot += -p[k].first;
            for (int k = 0; k < K; ++k) want[t * E + p[k].second] = -p[k].first / tot;
            for (int k = 0; k < K; ++k) if (ids[t * K + k] >= 0 && ids[t * K + k] < E) dense[t * E + ids[t * K + k]] += w[t * K + k];
        }
        report("router_softmax_topk", dense, want);
    }
    {  // attention
        const int H = 8, KV = 2, HD = 64, CAP = 300, N = 257;
        const float scale = 1 / std::sqrt((float)HD);
        auto q = rnd(H * HD, -2, 2), k = rnd(KV * CAP * HD, -2, 2), v = rnd(KV * CAP * HD);
        std::vector<float> out(H * HD), sc(H * CAP);
        hm_launch({H, 1, 1}, {128, 1, 1}, [&] { attention_decode_f32(q.data(), k.data(), v.data(), out.data(), sc.data(), H, KV, HD, CAP, N, scale); });
        std::vector<double> want(H * HD);
        for (int h = 0; h < H; ++h) {
            const int kvh = h / (H / KV);
            std::vector<double> s(N);
            double m = -1e300, sum = 0;
            for (int p = 0; p < N; ++p) {
                double a = 0;
                for (int i = 0; i < HD; ++i) a += (double)q[h * HD + i] * k[((size_t)kvh * CAP + p) * HD + i];
                s[p] = a * scale;
                m = std::max(m, s[p]);
            }
            for (auto &x : s) { x = std::exp(x - m); sum += x; }
            for (int i = 0; i < HD; ++i) {
                double a = 0;
                for (int p = 0; p < N; ++p) a += s[p] * v[((size_t)kvh * CAP + p) * HD + i];
                want[h * HD + i] = a / sum;
            }
        }
        report("attention_decode_f32", out, want);
    }
    EXPERT_CASE(q4_K, GGML_TYPE_Q4_K, q6_K, GGML_TYPE_Q6_K)
    EXPERT_CASE(q8_0, GGML_TYPE_Q8_0, q8_0, GGML_TYPE_Q8_0)
    EXPERT_CASE(f16, GGML_TYPE_F16, f32, GGML_TYPE_F32)
    std::printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
