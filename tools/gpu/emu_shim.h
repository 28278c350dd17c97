// A CPU emulation of the CUDA subset hotmoe's kernels use, so their source can be executed
// here (no GPU) against ggml's own dequantisers: each block's threads are OS threads, warp
// shuffles and __syncthreads are barriers. Blocks run one after another, so `__shared__`
// (a function-local static) is shared by exactly one block's threads at a time.
#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>
using std::min;

struct hm_dim3 { unsigned x = 1, y = 1, z = 1; };
static thread_local hm_dim3 threadIdx, blockIdx;
static hm_dim3 blockDim, gridDim;

struct hm_block_ctx {
    std::unique_ptr<std::barrier<>> block;
    std::vector<std::unique_ptr<std::barrier<>>> warps;
    float shfl[32][32];
};
static thread_local hm_block_ctx *hm_ctx;
static thread_local int hm_linear;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static

static inline float __int_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }
static inline float hm_emu_half(unsigned short h) {
    const unsigned s = (h >> 15) & 1, e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? std::ldexp((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : std::ldexp((float)(m | 1024), (int)e - 25);
    return s ? -v : v;
}
static inline void __syncthreads() { hm_ctx->block->arrive_and_wait(); }
static inline float __shfl_xor_sync(unsigned, float v, int o) {
    const int w = hm_linear / 32, lane = hm_linear % 32;
    hm_ctx->shfl[w][lane] = v;
    hm_ctx->warps[w]->arrive_and_wait();
    const float r = hm_ctx->shfl[w][lane ^ o];
    hm_ctx->warps[w]->arrive_and_wait();
    return r;
}

template <class F> static void hm_launch(hm_dim3 grid, hm_dim3 block, F kernel) {
    gridDim = grid;
    blockDim = block;
    const int n = block.x * block.y * block.z;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                hm_block_ctx ctx;
                ctx.block = std::make_unique<std::barrier<>>(n);
                if (n % 32 == 0)
                    for (int w = 0; w < n / 32; ++w) ctx.warps.push_back(std::make_unique<std::barrier<>>(32));
                std::vector<std::thread> threads;
                for (int t = 0; t < n; ++t)
                    threads.emplace_back([&, t] {
                        hm_ctx = &ctx;
                        hm_linear = t;
                        threadIdx = {unsigned(t % block.x), unsigned(t / block.x % block.y), unsigned(t / (block.x * block.y))};
                        blockIdx = {bx, by, bz};
                        kernel();
                    });
                for (auto &th : threads) th.join();
            }
}
