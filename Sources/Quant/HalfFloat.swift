// Scalar IEEE half and bfloat16 conversions, written on bit patterns so they behave the same
// on every platform (Swift's Float16 is missing on Intel macOS) and match ggml bit for bit.

/// Converts IEEE binary16 bits to Float (exact).
@inlinable @inline(__always)
public func fp16ToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32(h >> 10) & 0x1f
    let mant = UInt32(h & 0x3ff)
    if exp == 0 {
        // Zero or subnormal: mant * 2^-24 is exact in Float.
        let v = Float(mant) * 5.9604644775390625e-08
        return Float(bitPattern: v.bitPattern | sign)
    }
    if exp == 31 {
        return Float(bitPattern: sign | 0x7f80_0000 | (mant << 13))
    }
    return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
}

/// Converts Float to IEEE binary16 bits, rounding to nearest even (what F16C's
/// `vcvtps2ph` and ggml's `GGML_FP32_TO_FP16` do). NaNs stay NaN (quietened).
@inlinable @inline(__always)
public func floatToFp16(_ f: Float) -> UInt16 {
    let x = f.bitPattern
    let sign = UInt16(truncatingIfNeeded: (x >> 16) & 0x8000)
    let absx = x & 0x7fff_ffff
    if absx >= 0x7f80_0000 {
        let nan: UInt16 = absx > 0x7f80_0000 ? 0x200 | UInt16(truncatingIfNeeded: (absx >> 13) & 0x3ff) : 0
        return sign | 0x7c00 | nan
    }
    // 65520 is the midpoint between the largest half (65504) and 2^16; ties go to even = infinity.
    if absx >= 0x477f_f000 { return sign | 0x7c00 }
    if absx < 0x3880_0000 {
        // Below 2^-14 the result is subnormal: scale to units of 2^-24 (exact) and round.
        let v = Float(bitPattern: absx) * 16_777_216.0
        return sign | UInt16(v.rounded(.toNearestOrEven))
    }
    let mant = absx & 0x7f_ffff
    var h = (((absx >> 23) - 112) << 10) | (mant >> 13)
    let rem = mant & 0x1fff
    // A carry out of the mantissa correctly bumps the exponent.
    if rem > 0x1000 || (rem == 0x1000 && (h & 1) == 1) { h += 1 }
    return sign | UInt16(truncatingIfNeeded: h)
}

/// Converts bfloat16 bits to Float (exact).
@inlinable @inline(__always)
public func bf16ToFloat(_ b: UInt16) -> Float {
    Float(bitPattern: UInt32(b) << 16)
}

/// Converts Float to bfloat16 bits, rounding to nearest even; NaNs are quietened.
/// Same as ggml's `ggml_compute_fp32_to_bf16`.
@inlinable @inline(__always)
public func floatToBf16(_ f: Float) -> UInt16 {
    let u = f.bitPattern
    if u & 0x7fff_ffff > 0x7f80_0000 {
        return UInt16(truncatingIfNeeded: (u >> 16) | 64)
    }
    return UInt16(truncatingIfNeeded: (u &+ (0x7fff &+ ((u >> 16) & 1))) >> 16)
}
