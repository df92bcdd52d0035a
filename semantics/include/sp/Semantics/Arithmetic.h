//===- Arithmetic.h - element-wise arithmetic rules -------------*- C++ -*-===//
//
// The element-wise rules in which ONNX, C and the hardware differ, written
// once for the constant folder and the kernels: wrapping integer arithmetic,
// division and remainders without undefined behaviour, Python-style and
// C-style remainders, NaN-propagating max and min.
//
//===----------------------------------------------------------------------===//
#ifndef SP_SEMANTICS_ARITHMETIC_H
#define SP_SEMANTICS_ARITHMETIC_H

#include <cmath>
#include <limits>
#include <type_traits>

namespace sp::semantics {

/// Integer add, subtract, multiply and negate wrap around in two's
/// complement (as ONNX Runtime's and PyTorch's kernels do) instead of
/// overflowing into undefined behaviour; floats are plain.
template <typename T> using Unsigned = std::make_unsigned_t<T>;

template <typename T> T wrapAdd(T a, T b) {
  if constexpr (std::is_integral_v<T>)
    return T(Unsigned<T>(a) + Unsigned<T>(b));
  else
    return a + b;
}
template <typename T> T wrapSub(T a, T b) {
  if constexpr (std::is_integral_v<T>)
    return T(Unsigned<T>(a) - Unsigned<T>(b));
  else
    return a - b;
}
template <typename T> T wrapMul(T a, T b) {
  if constexpr (std::is_integral_v<T>)
    return T(Unsigned<T>(a) * Unsigned<T>(b));
  else
    return a * b;
}
template <typename T> T wrapNeg(T a) {
  if constexpr (std::is_integral_v<T>)
    return T(Unsigned<T>(0) - Unsigned<T>(a));
  else
    return -a;
}

/// Integer division truncating toward zero; INT_MIN / -1 wraps to INT_MIN.
/// The caller rules out b == 0.
template <typename T> T truncDiv(T a, T b) {
  static_assert(std::is_integral_v<T>);
  return b == T(-1) ? wrapNeg(a) : T(a / b);
}

/// A float converted to the integer type `To`: truncated toward zero and
/// saturated to `To`'s range, NaN to 0 (ONNX leaves out-of-range casts
/// undefined; C++ makes them undefined behaviour).
template <typename To, typename From> To saturatingCast(From value) {
  static_assert(std::is_integral_v<To> && std::is_floating_point_v<From>);
  // Both bounds are powers of two (or 0), exact in every float type.
  const From low = From(std::numeric_limits<To>::min());
  const From high = std::ldexp(From(1), std::numeric_limits<To>::digits);
  if (!(value == value))
    return To(0);
  if (value <= low)
    return std::numeric_limits<To>::min();
  if (value >= high)
    return std::numeric_limits<To>::max();
  return To(value);
}

/// ONNX Mod with fmod=0 (Python's `%`): the remainder takes the divisor's
/// sign. Integers: the caller rules out b == 0; b == -1 gives 0 (INT_MIN % -1
/// is undefined in C++).
template <typename T> T floorMod(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    if (b == T(-1))
      return T(0);
    T r = T(a % b);
    return (r != 0 && ((r < 0) != (b < 0))) ? T(r + b) : r;
  } else {
    T r = std::fmod(a, b);
    return (r != 0 && ((r < 0) != (b < 0))) ? T(r + b) : r;
  }
}

/// ONNX Mod with fmod=1 (C's `fmod`): the remainder takes the dividend's sign.
template <typename T> T truncMod(T a, T b) {
  if constexpr (std::is_integral_v<T>)
    return b == T(-1) ? T(0) : T(a % b);
  else
    return std::fmod(a, b);
}

/// Max and Min that return NaN when either operand is NaN, as numpy.maximum,
/// torch.maximum and ONNX Runtime do (std::max keeps its first operand).
template <typename T> T nanMax(T a, T b) { return (a != a || a > b) ? a : b; }
template <typename T> T nanMin(T a, T b) { return (a != a || a < b) ? a : b; }

} // namespace sp::semantics

#endif // SP_SEMANTICS_ARITHMETIC_H
