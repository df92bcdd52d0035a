//===- ElementwiseKernels.cpp - element-wise CPU kernels ------------------===//
//
// Broadcasting binary ops, unary ops, GELU, float classes, where, cast, and
// the emitter's fill and copy. Integer arithmetic wraps (it goes through the
// unsigned type) instead of being undefined, and an integer division by zero
// is a run-time error line instead of a trap. bf16 tensors (--precision=bf16)
// are computed on in float and each result rounded to bf16 once, as
// PyTorch's CPU kernels do: arithmetic, comparisons, the float unary ops,
// neg/abs/relu, GELU, pow of a bf16 base, where, fill, and casts between
// bf16 and f32.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelSupport.h"
#include "FastMath.h"

#include "sp/Semantics/Arithmetic.h"

#include <cmath>
#include <limits>
#include <type_traits>

namespace sp::runtime::cpu {

namespace {

using Offsets = BroadcastLoop::Offsets;

//===----------------------------------------------------------------------===//
// Scalar operations
//===----------------------------------------------------------------------===//

using semantics::wrapAdd;
using semantics::wrapMul;
using semantics::wrapNeg;
using semantics::wrapSub;

/// Converts one element to `To`: floats to integers truncate and saturate
/// (NaN gives 0), anything to bool is `!= 0`.
template <typename To, typename From> To convert(From value) {
  if constexpr (std::is_same_v<To, BoolByte>) {
    return value != From(0);
  } else if constexpr (std::is_same_v<From, BoolByte>) {
    return To(value != 0);
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    return semantics::saturatingCast<To>(value);
  } else {
    return To(value);
  }
}

struct AddOp {
  template <typename T> static T apply(T a, T b) { return wrapAdd(a, b); }
};
struct SubOp {
  template <typename T> static T apply(T a, T b) { return wrapSub(a, b); }
};
struct MulOp {
  template <typename T> static T apply(T a, T b) { return wrapMul(a, b); }
};
/// Integer division truncates; divisors were checked for zero beforehand.
struct DivOp {
  static constexpr bool kIntegerDivision = true;
  template <typename T> static T apply(T a, T b) {
    if constexpr (std::is_integral_v<T>)
      return semantics::truncDiv(a, b);
    else
      return a / b;
  }
};
/// NaN wins, as in numpy.maximum and torch.maximum.
struct MaxOp {
  template <typename T> static T apply(T a, T b) { return semantics::nanMax(a, b); }
};
struct MinOp {
  template <typename T> static T apply(T a, T b) { return semantics::nanMin(a, b); }
};
/// Python `%`: the remainder takes the divisor's sign.
struct ModOp {
  static constexpr bool kIntegerDivision = true;
  template <typename T> static T apply(T a, T b) { return semantics::floorMod(a, b); }
};
/// C `fmod`: the remainder takes the dividend's sign.
struct FModOp {
  static constexpr bool kIntegerDivision = true;
  template <typename T> static T apply(T a, T b) { return semantics::truncMod(a, b); }
};

template <typename Op, typename = void> struct IsIntegerDivision : std::false_type {};
template <typename Op>
struct IsIntegerDivision<Op, std::void_t<decltype(Op::kIntegerDivision)>>
    : std::true_type {};

/// base ** exponent in the base's type. Integer powers square and multiply
/// (wrapping); a negative integer exponent gives 1/base^n truncated.
template <typename Base, typename Exponent> Base power(Base base, Exponent exponent) {
  if constexpr (std::is_integral_v<Base> && std::is_integral_v<Exponent>) {
    if (exponent < 0) {
      if (base == 1)
        return 1;
      if (base == -1)
        return (exponent % 2) ? -1 : 1;
      return 0;
    }
    Base result = 1;
    uint64_t n = uint64_t(exponent);
    while (n) {
      if (n & 1)
        result = wrapMul(result, base);
      base = wrapMul(base, base);
      n >>= 1;
    }
    return result;
  } else if constexpr (std::is_integral_v<Base>) {
    return convert<Base>(std::pow(double(base), double(exponent)));
  } else {
    return std::pow(base, Base(exponent));
  }
}

struct EqualOp {
  template <typename T> static bool apply(T a, T b) { return a == b; }
};
struct LessOp {
  template <typename T> static bool apply(T a, T b) { return a < b; }
};
struct LessEqualOp {
  template <typename T> static bool apply(T a, T b) { return a <= b; }
};
struct GreaterOp {
  template <typename T> static bool apply(T a, T b) { return a > b; }
};
struct GreaterEqualOp {
  template <typename T> static bool apply(T a, T b) { return a >= b; }
};
struct AndOp {
  static bool apply(bool a, bool b) { return a && b; }
};
struct OrOp {
  static bool apply(bool a, bool b) { return a || b; }
};
struct XorOp {
  static bool apply(bool a, bool b) { return a != b; }
};

//===----------------------------------------------------------------------===//
// Element loops and binary kernels
//===----------------------------------------------------------------------===//

/// out[i] = f(in[i]) in parallel chunks; `cost` weighs libm-heavy functions.
template <typename T, typename R, typename F>
void mapElements(const TensorArg &input, const TensorArg &output, int64_t cost, F f) {
  const T *in = input.as<T>();
  R *out = output.as<R>();
  parallelFor(input.numElements(), cost, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      out[i] = f(in[i]);
  });
}

/// out = f(lhs, rhs) over the broadcast, with the inner loop specialized for
/// the lhs and rhs being walked or held.
template <typename A, typename B, typename R, typename F>
void binaryLoop(const KernelArgs &args, F f) {
  const TensorArg &lhs = args.inputs[0], &rhs = args.inputs[1], &out = args.outputs[0];
  BroadcastLoop loop(out.shape, {&lhs.shape, &rhs.shape});
  const A *a = lhs.as<A>();
  const B *b = rhs.as<B>();
  R *r = out.as<R>();
  loop.run(1, [&](int64_t at, const Offsets &from, int64_t n, const Offsets &step) {
    const A *x = a + from[0];
    const B *y = b + from[1];
    R *z = r + at;
    if (step[0] && step[1]) {
      for (int64_t i = 0; i < n; ++i)
        z[i] = f(x[i], y[i]);
    } else if (step[0]) {
      B held = *y;
      for (int64_t i = 0; i < n; ++i)
        z[i] = f(x[i], held);
    } else if (step[1]) {
      A held = *x;
      for (int64_t i = 0; i < n; ++i)
        z[i] = f(held, y[i]);
    } else {
      R value = f(*x, *y);
      for (int64_t i = 0; i < n; ++i)
        z[i] = value;
    }
  });
}

enum class BinaryFamily { Arithmetic, Power, Comparison, Logical };


template <BinaryFamily family> std::string checkBinary(const KernelArgs &args) {
  if (std::string error = checkArity(args, 2, 1); !error.empty())
    return error;
  const TensorArg &lhs = args.inputs[0], &rhs = args.inputs[1], &out = args.outputs[0];
  if (std::string error = firstError({checkPresent(args, 0, "lhs"),
                                      checkPresent(args, 1, "rhs")});
      !error.empty())
    return error;
  switch (family) {
  case BinaryFamily::Arithmetic:
  case BinaryFamily::Power:
    if (std::string error = checkNumericOrBFloat16(lhs, "lhs"); !error.empty())
      return error;
    if (family == BinaryFamily::Power) {
      // A bf16 exponent only with a bf16 base (pow's gradient casts the
      // exponent to the base's type).
      if (std::string error = lhs.dtype == DType::BFloat16
                                  ? checkNumericOrBFloat16(rhs, "exponent")
                                  : checkNumeric(rhs, "exponent");
          !error.empty())
        return error;
    } else if (rhs.dtype != lhs.dtype) {
      return "operand element types differ: " + describe(lhs) + " and " + describe(rhs);
    }
    if (out.dtype != lhs.dtype)
      return "result must be " + std::string(dtypeName(lhs.dtype)) + ", got " +
             describe(out);
    break;
  case BinaryFamily::Comparison:
    if (!(isSupported(lhs.dtype) || lhs.dtype == DType::BFloat16) || rhs.dtype != lhs.dtype)
      return "cannot compare " + describe(lhs) + " with " + describe(rhs);
    if (std::string error = checkDType(out, DType::Bool, "result"); !error.empty())
      return error;
    break;
  case BinaryFamily::Logical:
    if (std::string error = firstError({checkDType(lhs, DType::Bool, "lhs"),
                                        checkDType(rhs, DType::Bool, "rhs"),
                                        checkDType(out, DType::Bool, "result")});
        !error.empty())
      return error;
    break;
  }
  std::optional<Shape> shape = broadcastShapes({&lhs.shape, &rhs.shape});
  if (!shape)
    return "shapes " + formatShape(lhs.shape) + " and " + formatShape(rhs.shape) +
           " do not broadcast";
  if (*shape != out.shape)
    return "result must have the broadcast shape " + formatShape(*shape) + ", got " +
           describe(out);
  return {};
}

template <typename T> bool containsZero(const TensorArg &tensor) {
  const T *values = tensor.as<T>();
  for (int64_t i = 0, e = tensor.numElements(); i < e; ++i)
    if (values[i] == 0)
      return true;
  return false;
}

template <typename Op> std::string runArithmetic(const KernelArgs &args) {
  if (args.inputs[0].dtype == DType::BFloat16) {
    binaryLoop<BFloat16, BFloat16, BFloat16>(args, [](BFloat16 a, BFloat16 b) {
      return BFloat16(Op::template apply<float>(float(a), float(b)));
    });
    return {};
  }
  return visitNumeric(args.inputs[0].dtype, [&](auto tag) -> std::string {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T> && IsIntegerDivision<Op>::value)
      if (containsZero<T>(args.inputs[1]))
        return "integer division by zero";
    binaryLoop<T, T, T>(args, [](T a, T b) { return Op::template apply<T>(a, b); });
    return {};
  });
}

/// pow with a base stored as S (bf16 computes in float, C, and rounds once).
template <typename S> std::string runPowerOf(const KernelArgs &args) {
  using C = ComputeType<S>;
  const TensorArg &rhs = args.inputs[1];
  // Squares and cubes (x ** 3 in GPT-2's GELU) skip the libm call; x * x is
  // exactly pow's correctly rounded result, x * x * x within an ulp.
  if constexpr (std::is_floating_point_v<C>) {
    if (rhs.numElements() == 1) {
      double exponent =
          rhs.dtype == DType::BFloat16
              ? double(float(rhs.as<BFloat16>()[0]))
              : visitNumeric(rhs.dtype, [&](auto e) { return double(rhs.as<decltype(e)>()[0]); });
      // One exponent: the result has the base's elements in the same order.
      const TensorArg &base = args.inputs[0], &out = args.outputs[0];
      if (exponent == 1.0) {
        mapElements<S, S>(base, out, 1, [](S x) { return x; });
        return {};
      }
      if (exponent == 2.0) {
        mapElements<S, S>(base, out, 1, [](S s) {
          C x = C(s);
          return S(x * x);
        });
        return {};
      }
      if (std::is_same_v<C, float> && exponent == 3.0) {
        mapElements<S, S>(base, out, 1, [](S s) {
          C x = C(s);
          return S(x * x * x);
        });
        return {};
      }
    }
  }
  // A bf16 exponent comes only with a bf16 base (checkBinary).
  if (rhs.dtype == DType::BFloat16) {
    binaryLoop<S, BFloat16, S>(args, [](S a, BFloat16 b) { return S(power(C(a), float(b))); });
    return {};
  }
  visitNumeric(rhs.dtype, [&](auto exponentTag) {
    using E = decltype(exponentTag);
    binaryLoop<S, E, S>(args, [](S a, E b) { return S(power(C(a), b)); });
  });
  return {};
}

std::string runPower(const KernelArgs &args) {
  if (args.inputs[0].dtype == DType::BFloat16)
    return runPowerOf<BFloat16>(args);
  return visitNumeric(args.inputs[0].dtype, [&](auto tag) {
    return runPowerOf<decltype(tag)>(args);
  });
}

template <typename Op> std::string runComparison(const KernelArgs &args) {
  if (args.inputs[0].dtype == DType::BFloat16) {
    // Widening is exact, so floats compare as the bf16 values do.
    binaryLoop<BFloat16, BFloat16, BoolByte>(args, [](BFloat16 a, BFloat16 b) -> BoolByte {
      return Op::apply(float(a), float(b));
    });
    return {};
  }
  visitSupported(args.inputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    // bool bytes compare as truth values: any nonzero byte is true.
    using Compared = std::conditional_t<std::is_same_v<T, BoolByte>, bool, T>;
    binaryLoop<T, T, BoolByte>(args, [](T a, T b) -> BoolByte {
      return Op::apply(Compared(a), Compared(b));
    });
  });
  return {};
}

template <typename Op> std::string runLogical(const KernelArgs &args) {
  binaryLoop<BoolByte, BoolByte, BoolByte>(args, [](BoolByte a, BoolByte b) -> BoolByte {
    return Op::apply(a != 0, b != 0);
  });
  return {};
}

//===----------------------------------------------------------------------===//
// Unary kernels
//===----------------------------------------------------------------------===//

enum class UnaryDomain { Float, Signed, Bool };

template <UnaryDomain domain> std::string checkUnary(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "input")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0];
  std::string error;
  if (domain == UnaryDomain::Float)
    error = checkFloatStorage(input, "input");
  else if (domain == UnaryDomain::Signed)
    error = checkNumericOrBFloat16(input, "input");
  else
    error = checkDType(input, DType::Bool, "input");
  return firstError({error, checkSameType(args.outputs[0], input, "result")});
}

// S is the stored type, T the one computed in (float for bf16).
#define SP_FLOAT_UNARY(Name, Cost, Expression)                                 \
  std::string run##Name(const KernelArgs &args) {                              \
    visitFloatStorage(args.inputs[0].dtype, [&](auto tag) {                    \
      using S = decltype(tag);                                                 \
      using T = ComputeType<S>;                                                \
      mapElements<S, S>(args.inputs[0], args.outputs[0], Cost, [](S stored) {  \
        T x = T(stored);                                                       \
        return S(Expression);                                                  \
      });                                                                      \
    });                                                                        \
    return {};                                                                 \
  }

SP_FLOAT_UNARY(Sqrt, 2, std::sqrt(x))
SP_FLOAT_UNARY(Reciprocal, 1, T(1) / x)
SP_FLOAT_UNARY(Exp, 8, expOf(x))
SP_FLOAT_UNARY(Log, 16, std::log(x))
SP_FLOAT_UNARY(Tanh, 8, tanhOf(x))
SP_FLOAT_UNARY(Sigmoid, 8, sigmoidOf(x))
SP_FLOAT_UNARY(Erf, 8, erfOf(x))
SP_FLOAT_UNARY(Cos, 16, std::cos(x))
SP_FLOAT_UNARY(Sin, 16, std::sin(x))
SP_FLOAT_UNARY(Floor, 1, std::floor(x))
SP_FLOAT_UNARY(Ceil, 1, std::ceil(x))
#undef SP_FLOAT_UNARY

#define SP_SIGNED_UNARY(Name, Expression)                                      \
  std::string run##Name(const KernelArgs &args) {                              \
    if (args.inputs[0].dtype == DType::BFloat16) {                             \
      using T = float;                                                         \
      mapElements<BFloat16, BFloat16>(args.inputs[0], args.outputs[0], 1,      \
                                      [](BFloat16 stored) {                    \
                                        T x = T(stored);                       \
                                        return BFloat16(Expression);           \
                                      });                                      \
      return {};                                                               \
    }                                                                          \
    visitNumeric(args.inputs[0].dtype, [&](auto tag) {                         \
      using T = decltype(tag);                                                 \
      mapElements<T, T>(args.inputs[0], args.outputs[0], 1,                    \
                        [](T x) -> T { return Expression; });                  \
    });                                                                        \
    return {};                                                                 \
  }

SP_SIGNED_UNARY(Neg, wrapNeg(x))
SP_SIGNED_UNARY(Abs, x < 0 ? wrapNeg(x) : x)
// NaN stays NaN, as in torch.relu.
SP_SIGNED_UNARY(Relu, x < 0 ? T(0) : x)
#undef SP_SIGNED_UNARY

std::string runNot(const KernelArgs &args) {
  mapElements<BoolByte, BoolByte>(args.inputs[0], args.outputs[0], 1,
                                  [](BoolByte x) -> BoolByte { return x == 0; });
  return {};
}

//===----------------------------------------------------------------------===//
// GELU
//===----------------------------------------------------------------------===//

std::string checkGelu(const KernelArgs &args) {
  return firstError({checkUnary<UnaryDomain::Float>(args),
                     checkBoolAttribute(attributesOf(args), "tanh_approximation")});
}

template <typename T> T geluOf(T x, bool tanhApproximation) {
  constexpr T kSqrtHalf = T(0.70710678118654752440);
  constexpr T kSqrtTwoOverPi = T(0.79788456080286535588);
  if (tanhApproximation)
    return T(0.5) * x * (T(1) + tanhOf(kSqrtTwoOverPi * (x + T(0.044715) * x * x * x)));
  return T(0.5) * x * (T(1) + erfOf(x * kSqrtHalf));
}

std::string runGelu(const KernelArgs &args) {
  bool tanhApproximation = boolAttribute(attributesOf(args), "tanh_approximation", false);
  visitFloatStorage(args.inputs[0].dtype, [&](auto tag) {
    using S = decltype(tag);
    using T = ComputeType<S>;
    if (tanhApproximation)
      mapElements<S, S>(args.inputs[0], args.outputs[0], 8,
                        [](S x) { return S(geluOf(T(x), true)); });
    else
      mapElements<S, S>(args.inputs[0], args.outputs[0], 8,
                        [](S x) { return S(geluOf(T(x), false)); });
  });
  return {};
}

//===----------------------------------------------------------------------===//
// is_nan, is_inf
//===----------------------------------------------------------------------===//

std::string checkFloatClass(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "input")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  const Attributes &attributes = attributesOf(args);
  return firstError({checkFloat(input, "input"), checkDType(out, DType::Bool, "result"),
                     checkShape(out, input.shape, "result"),
                     checkBoolAttribute(attributes, "detect_negative"),
                     checkBoolAttribute(attributes, "detect_positive")});
}

std::string runIsNaN(const KernelArgs &args) {
  visitFloat(args.inputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    mapElements<T, BoolByte>(args.inputs[0], args.outputs[0], 1,
                             [](T x) -> BoolByte { return x != x; });
  });
  return {};
}

std::string runIsInf(const KernelArgs &args) {
  const Attributes &attributes = attributesOf(args);
  bool negative = boolAttribute(attributes, "detect_negative", true);
  bool positive = boolAttribute(attributes, "detect_positive", true);
  visitFloat(args.inputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    constexpr T kInfinity = std::numeric_limits<T>::infinity();
    mapElements<T, BoolByte>(args.inputs[0], args.outputs[0], 1, [=](T x) -> BoolByte {
      return (positive && x == kInfinity) || (negative && x == -kInfinity);
    });
  });
  return {};
}

//===----------------------------------------------------------------------===//
// where
//===----------------------------------------------------------------------===//

std::string checkWhere(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 3, 1), checkPresent(args, 0, "condition"),
                                      checkPresent(args, 1, "on_true"),
                                      checkPresent(args, 2, "on_false")});
      !error.empty())
    return error;
  const TensorArg &condition = args.inputs[0], &onTrue = args.inputs[1],
                  &onFalse = args.inputs[2], &out = args.outputs[0];
  if (std::string error = checkDType(condition, DType::Bool, "condition"); !error.empty())
    return error;
  // where only moves elements: bf16 too.
  if (!(isSupported(onTrue.dtype) || onTrue.dtype == DType::BFloat16) ||
      onFalse.dtype != onTrue.dtype || out.dtype != onTrue.dtype)
    return "branches and result must share a supported element type, got " +
           describe(onTrue) + ", " + describe(onFalse) + " and " + describe(out);
  std::optional<Shape> shape =
      broadcastShapes({&condition.shape, &onTrue.shape, &onFalse.shape});
  if (!shape)
    return "shapes " + formatShape(condition.shape) + ", " + formatShape(onTrue.shape) +
           " and " + formatShape(onFalse.shape) + " do not broadcast";
  return checkShape(out, *shape, "result");
}

/// One inner row of where with each operand walked (1) or held (0).
template <typename T, bool walkCondition, bool walkTrue, bool walkFalse>
void whereRow(const BoolByte *c, const T *x, const T *y, T *z, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    z[i] = c[walkCondition ? i : 0] ? x[walkTrue ? i : 0] : y[walkFalse ? i : 0];
}

template <typename T>
using WhereRow = void (*)(const BoolByte *, const T *, const T *, T *, int64_t);

template <typename T> WhereRow<T> selectWhereRow(const Offsets &step) {
  static constexpr WhereRow<T> kRows[8] = {
      whereRow<T, 0, 0, 0>, whereRow<T, 0, 0, 1>, whereRow<T, 0, 1, 0>,
      whereRow<T, 0, 1, 1>, whereRow<T, 1, 0, 0>, whereRow<T, 1, 0, 1>,
      whereRow<T, 1, 1, 0>, whereRow<T, 1, 1, 1>};
  return kRows[(step[0] ? 4 : 0) + (step[1] ? 2 : 0) + (step[2] ? 1 : 0)];
}

std::string runWhere(const KernelArgs &args) {
  const TensorArg &condition = args.inputs[0], &onTrue = args.inputs[1],
                  &onFalse = args.inputs[2], &out = args.outputs[0];
  BroadcastLoop loop(out.shape, {&condition.shape, &onTrue.shape, &onFalse.shape});
  visitElementBytes(dtypeSize(out.dtype), [&](auto tag) {
    using T = decltype(tag);
    const BoolByte *c = condition.as<BoolByte>();
    const T *x = onTrue.as<T>();
    const T *y = onFalse.as<T>();
    T *z = out.as<T>();
    loop.run(1, [&](int64_t at, const Offsets &from, int64_t n, const Offsets &step) {
      selectWhereRow<T>(step)(c + from[0], x + from[1], y + from[2], z + at, n);
    });
  });
  return {};
}

//===----------------------------------------------------------------------===//
// cast
//===----------------------------------------------------------------------===//

std::string checkCast(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "input")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  // bf16 converts to and from f32 only: from f64 through f32 would round
  // twice.
  bool bfloat16 = input.dtype == DType::BFloat16 || out.dtype == DType::BFloat16;
  bool supported = bfloat16 ? isFloatStorage(input.dtype) && isFloatStorage(out.dtype) &&
                                  input.dtype != DType::Float64 &&
                                  out.dtype != DType::Float64
                            : isSupported(input.dtype) && isSupported(out.dtype);
  if (!supported)
    return std::string("cannot cast ") + dtypeName(input.dtype) + " to " +
           dtypeName(out.dtype);
  return checkShape(out, input.shape, "result");
}

std::string runCast(const KernelArgs &args) {
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  if (input.dtype == out.dtype) {
    std::memcpy(out.data, input.data, size_t(input.numElements() * dtypeSize(input.dtype)));
    return {};
  }
  if (input.dtype == DType::BFloat16) {
    mapElements<BFloat16, float>(input, out, 1, [](BFloat16 x) { return float(x); });
    return {};
  }
  if (out.dtype == DType::BFloat16) {
    mapElements<float, BFloat16>(input, out, 1, [](float x) { return BFloat16(x); });
    return {};
  }
  visitSupported(input.dtype, [&](auto fromTag) {
    using From = decltype(fromTag);
    visitSupported(out.dtype, [&](auto toTag) {
      using To = decltype(toTag);
      mapElements<From, To>(input, out, 1, [](From x) { return convert<To>(x); });
    });
  });
  return {};
}

//===----------------------------------------------------------------------===//
// fill, copy
//===----------------------------------------------------------------------===//

std::string checkFill(const KernelArgs &args) {
  if (std::string error = checkArity(args, 0, 1); !error.empty())
    return error;
  const Attributes &attributes = attributesOf(args);
  if (!attributes.holds<double>("value") && !attributes.holds<int64_t>("value") &&
      !attributes.holds<bool>("value"))
    return "attribute 'value' must be a number";
  if (!isSupported(args.outputs[0].dtype) && args.outputs[0].dtype != DType::BFloat16)
    return std::string("cannot fill ") + describe(args.outputs[0]);
  return {};
}

/// Writes `count` copies of `value` in parallel chunks.
template <typename T> void fillElements(T *out, int64_t count, T value) {
  parallelFor(count, 1, [&](int64_t begin, int64_t end) {
    std::fill(out + begin, out + end, value);
  });
}

std::string runFill(const KernelArgs &args) {
  const Attributes &attributes = attributesOf(args);
  const TensorArg &out = args.outputs[0];
  if (out.dtype == DType::BFloat16) {
    float value = attributes.holds<double>("value")
                      ? float(attributes.getFloat("value"))
                      : float(intAttribute(attributes, "value", 0));
    fillElements(out.as<BFloat16>(), out.numElements(), BFloat16(value));
    return {};
  }
  visitSupported(out.dtype, [&](auto tag) {
    using T = decltype(tag);
    T value;
    if (attributes.holds<double>("value"))
      value = convert<T>(attributes.getFloat("value"));
    else
      value = convert<T>(intAttribute(attributes, "value", 0));
    fillElements(out.as<T>(), out.numElements(), value);
  });
  return {};
}

std::string checkCopy(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "input")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  if (input.numElements() * dtypeSize(input.dtype) != out.numElements() * dtypeSize(out.dtype))
    return "input " + describe(input) + " and result " + describe(out) +
           " differ in byte size";
  return {};
}

std::string runCopy(const KernelArgs &args) {
  const TensorArg &input = args.inputs[0], &out = args.outputs[0];
  if (out.data == input.data)
    return {};
  int64_t bytes = input.numElements() * dtypeSize(input.dtype);
  const char *from = static_cast<const char *>(input.data);
  char *to = static_cast<char *>(out.data);
  // Each thread copies whole 4 KiB pages of the range.
  parallelFor((bytes + 4095) / 4096, 512, [&](int64_t begin, int64_t end) {
    int64_t first = begin * 4096, last = std::min(end * 4096, bytes);
    std::memcpy(to + first, from + first, size_t(last - first));
  });
  return {};
}

} // namespace

void addElementwiseKernels(std::vector<Kernel> &kernels) {
  constexpr auto arithmetic = checkBinary<BinaryFamily::Arithmetic>;
  constexpr auto comparison = checkBinary<BinaryFamily::Comparison>;
  constexpr auto logical = checkBinary<BinaryFamily::Logical>;
  constexpr auto floatUnary = checkUnary<UnaryDomain::Float>;
  constexpr auto signedUnary = checkUnary<UnaryDomain::Signed>;
  kernels.insert(
      kernels.end(),
      {
          {"add", arithmetic, runArithmetic<AddOp>},
          {"sub", arithmetic, runArithmetic<SubOp>},
          {"mul", arithmetic, runArithmetic<MulOp>},
          {"div", arithmetic, runArithmetic<DivOp>},
          {"max", arithmetic, runArithmetic<MaxOp>},
          {"min", arithmetic, runArithmetic<MinOp>},
          {"mod", arithmetic, runArithmetic<ModOp>},
          {"fmod", arithmetic, runArithmetic<FModOp>},
          {"pow", checkBinary<BinaryFamily::Power>, runPower},
          {"equal", comparison, runComparison<EqualOp>},
          {"less", comparison, runComparison<LessOp>},
          {"less_equal", comparison, runComparison<LessEqualOp>},
          {"greater", comparison, runComparison<GreaterOp>},
          {"greater_equal", comparison, runComparison<GreaterEqualOp>},
          {"and", logical, runLogical<AndOp>},
          {"or", logical, runLogical<OrOp>},
          {"xor", logical, runLogical<XorOp>},
          {"neg", signedUnary, runNeg},
          {"abs", signedUnary, runAbs},
          {"relu", signedUnary, runRelu},
          {"sqrt", floatUnary, runSqrt},
          {"reciprocal", floatUnary, runReciprocal},
          {"exp", floatUnary, runExp},
          {"log", floatUnary, runLog},
          {"tanh", floatUnary, runTanh},
          {"sigmoid", floatUnary, runSigmoid},
          {"erf", floatUnary, runErf},
          {"cos", floatUnary, runCos},
          {"sin", floatUnary, runSin},
          {"floor", floatUnary, runFloor},
          {"ceil", floatUnary, runCeil},
          {"not", checkUnary<UnaryDomain::Bool>, runNot},
          {"gelu", checkGelu, runGelu},
          {"is_nan", checkFloatClass, runIsNaN},
          {"is_inf", checkFloatClass, runIsInf},
          {"where", checkWhere, runWhere},
          {"cast", checkCast, runCast},
          {"fill", checkFill, runFill},
          {"copy", checkCopy, runCopy},
      });
}

} // namespace sp::runtime::cpu
