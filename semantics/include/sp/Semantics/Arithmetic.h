//===- Arithmetic.h - element-wise arithmetic rules -------------*- C++ -*-===//
//
// The element-wise rules in which ONNX, C and the hardware differ, written
// once for the constant folder and the kernels: Python-style and C-style
// remainders, NaN-propagating max and min, and integer division without
// undefined behaviour.
//
//===----------------------------------------------------------------------===//
#ifndef SP_SEMANTICS_ARITHMETIC_H
#define SP_SEMANTICS_ARITHMETIC_H

#include <cmath>
#include <type_traits>

namespace sp::semantics {

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
