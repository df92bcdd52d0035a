//===- BFloat16.h - the bfloat16 storage type -------------------*- C++ -*-===//
//
// bfloat16 is float32's top 16 bits: its sign, its 8-bit exponent and 7 of
// its 23 mantissa bits. Computing happens in float; bf16 is how values are
// stored. Narrowing rounds to the nearest bf16, ties to even (as PyTorch's
// c10::BFloat16, Eigen and the AVX-512 BF16 instruction vcvtneps2bf16 do);
// a NaN stays a NaN (quiet, sign kept) instead of rounding into infinity.
// Widening is exact.
//
//===----------------------------------------------------------------------===//
#ifndef SP_SEMANTICS_BFLOAT16_H
#define SP_SEMANTICS_BFLOAT16_H

#include <cstdint>
#include <cstring>

namespace sp::semantics {

/// The bf16 bits nearest to `value`, ties to even; NaN gives a quiet NaN.
inline uint16_t floatToBFloat16Bits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return uint16_t((bits >> 16) | 0x0040u);
  // Adding 0x7fff plus the lowest kept bit carries into the kept bits exactly
  // when the dropped half is above the halfway point, or at it with an odd
  // kept part; a carry out of the mantissa rounds up the exponent, and the
  // largest finite floats round to infinity as they should.
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t((bits + rounding) >> 16);
}

/// The float whose top 16 bits are `bits`: exact.
inline float bfloat16BitsToFloat(uint16_t bits) {
  uint32_t widened = uint32_t(bits) << 16;
  float value;
  std::memcpy(&value, &widened, sizeof value);
  return value;
}

/// A bf16 element as tensors store it: two bytes, converted to and from
/// float wherever it is computed on.
struct BFloat16 {
  uint16_t bits = 0;

  BFloat16() = default;
  /// Rounds to the nearest bf16 (ties to even).
  explicit BFloat16(float value) : bits(floatToBFloat16Bits(value)) {}
  explicit BFloat16(double value) : BFloat16(float(value)) {}
  static BFloat16 fromBits(uint16_t bits) {
    BFloat16 result;
    result.bits = bits;
    return result;
  }
  operator float() const { return bfloat16BitsToFloat(bits); }
};
static_assert(sizeof(BFloat16) == 2, "bf16 tensors hold two bytes per element");

} // namespace sp::semantics

#endif // SP_SEMANTICS_BFLOAT16_H
