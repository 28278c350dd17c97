/// SwiGLU: out[i] = silu(gate[i]) * up[i] over n elements. Launch: grid-stride, block (256).
enum ActivationKernels {
    static let body = #"""
    extern "C" __global__ void swiglu_f32(const float *__restrict__ gate, const float *__restrict__ up,
                                          float *__restrict__ out, long long n) {
        for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
            out[i] = hm_silu(gate[i]) * up[i];
    }
    """#
}
