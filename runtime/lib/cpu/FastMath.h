//===- FastMath.h - vectorizable f32 exp, tanh, sigmoid, erf ------*- C++ -*-===//
//
// glibc's expf/tanhf/erff are scalar calls that the compiler cannot vectorize,
// and softmax, GELU and cross-entropy spend most of their time in them. These
// branch-free versions vectorize in plain loops and stay within a few ulp
// (exp, sigmoid) or 2e-7 absolute (tanh, erf) of the libm result. f64 kernels
// keep calling libm: they are the reference that tests compare against.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_LIB_CPU_FASTMATH_H
#define SP_RUNTIME_LIB_CPU_FASTMATH_H

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace sp::runtime::cpu {

inline float bitsToFloat(int32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

/// e^x: Cephes' range reduction x = n ln2 + r and a degree-6 polynomial for
/// e^r, scaled by 2^n built in the exponent bits.
inline float fastExp(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2High = 0.693359375f, kLn2Low = -2.12194440e-4f;
  // Adding then subtracting 1.5 * 2^23 rounds to the nearest integer.
  constexpr float kRound = 12582912.0f;
  constexpr float kMin = -87.0f, kMax = 88.0f;
  // Ternaries rather than fmin/fmax: those vectorize only under -ffast-math.
  float clamped = x < kMin ? kMin : (x > kMax ? kMax : x);
  clamped = x != x ? 0.0f : clamped;
  float n = (clamped * kLog2e + kRound) - kRound;
  float r = clamped - n * kLn2High;
  r = r - n * kLn2Low;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  float y = p * bitsToFloat((int32_t(n) + 127) << 23);
  y = x < kMin ? 0.0f : y;
  y = x > kMax ? std::numeric_limits<float>::infinity() : y;
  return x != x ? x : y;
}

/// tanh: Cephes' odd polynomial below 0.625, where 1 - 2/(e^2x + 1) would
/// cancel, and the exponential form above.
inline float fastTanh(float x) {
  float a = std::fabs(x);
  float a2 = a * a;
  float p = -5.70498872745e-3f;
  p = p * a2 + 2.06390887954e-2f;
  p = p * a2 - 5.37397155531e-2f;
  p = p * a2 + 1.33314422036e-1f;
  p = p * a2 - 3.33332819422e-1f;
  float small = a + a * a2 * p;
  float large = 1.0f - 2.0f / (fastExp(2.0f * a) + 1.0f);
  float y = a < 0.625f ? small : large;
  return std::copysign(y, x);
}

inline float fastSigmoid(float x) { return 1.0f / (1.0f + fastExp(-x)); }

/// erf: x P(x^2) below 1 (a least-squares fit, 2e-7 relative), Abramowitz
/// and Stegun 7.1.26 above (1.5e-7 absolute).
inline float fastErf(float x) {
  float a = std::fabs(x);
  float a2 = a * a;
  float p = -5.696591688e-4f;
  p = p * a2 + 4.934489261e-3f;
  p = p * a2 - 2.672696486e-2f;
  p = p * a2 + 1.128078774e-1f;
  p = p * a2 - 3.761241436e-1f;
  p = p * a2 + 1.128379107f;
  float small = a * p;
  float t = 1.0f / (1.0f + 0.3275911f * a);
  float q = 1.061405429f;
  q = q * t - 1.453152027f;
  q = q * t + 1.421413741f;
  q = q * t - 0.284496736f;
  q = q * t + 0.254829592f;
  float large = 1.0f - q * t * fastExp(-a2);
  float y = a < 1.0f ? small : large;
  return std::copysign(y, x);
}

// The same names for every element type, so templates call one spelling:
// f32 takes the vectorizable forms, f64 libm's.
inline float expOf(float x) { return fastExp(x); }
inline double expOf(double x) { return std::exp(x); }
inline float tanhOf(float x) { return fastTanh(x); }
inline double tanhOf(double x) { return std::tanh(x); }
inline float sigmoidOf(float x) { return fastSigmoid(x); }
inline double sigmoidOf(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline float erfOf(float x) { return fastErf(x); }
inline double erfOf(double x) { return std::erf(x); }

} // namespace sp::runtime::cpu

#endif // SP_RUNTIME_LIB_CPU_FASTMATH_H
