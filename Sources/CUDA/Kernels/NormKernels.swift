/// RMSNorm per token: y = x / sqrt(mean(x^2) + eps) * w. Launch: grid (tokens), block (256).
enum NormKernels {
    static let blockThreads = 256

    static let body = #"""
    extern "C" __global__ void rms_norm_f32(const float *__restrict__ x, const float *__restrict__ w,
                                            float *__restrict__ y, int d, float eps) {
        __shared__ float scratch[32];
        const float *xr = x + (long long)blockIdx.x * d;
        float *yr = y + (long long)blockIdx.x * d;
        float s = 0.0f;
        for (int i = threadIdx.x; i < d; i += blockDim.x) s += xr[i] * xr[i];
        s = hm_block_sum(s, scratch);
        const float scale = 1.0f / sqrtf(s / (float)d + eps);
        for (int i = threadIdx.x; i < d; i += blockDim.x) yr[i] = (xr[i] * scale) * w[i];
    }
    """#
}
