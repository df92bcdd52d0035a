//===- CpuKernelBFloat16Test.cpp - bf16 storage and the kernels taking it -===//
//
// The conversion (sp/Semantics/BFloat16.h) against hand-worked bit patterns,
// and each kernel --precision=bf16 uses against its f32 kernel on the
// widened inputs, rounded once: the bf16 path must compute exactly that.
// Kernels the policy keeps in f32 must refuse bf16 in their check.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelTesting.h"

#include <cmath>
#include <limits>

using namespace sp::runtime;
using namespace sp::runtime::testing;
using sp::semantics::BFloat16;

namespace {

uint16_t bitsOf(float value) { return BFloat16(value).bits; }

float fromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

TEST(BFloat16Test, RoundsToNearestTiesToEven) {
  // Exact values keep their top half.
  EXPECT_EQ(bitsOf(1.0f), 0x3f80);
  EXPECT_EQ(bitsOf(-2.0f), 0xc000);
  EXPECT_EQ(bitsOf(0.0f), 0x0000);
  EXPECT_EQ(bitsOf(-0.0f), 0x8000);
  // Below half an ulp rounds down, above rounds up.
  EXPECT_EQ(bitsOf(fromBits(0x3f807fff)), 0x3f80);
  EXPECT_EQ(bitsOf(fromBits(0x3f808001)), 0x3f81);
  // Halfway: to the even neighbour, down from an even one, up from an odd one.
  EXPECT_EQ(bitsOf(fromBits(0x3f808000)), 0x3f80);
  EXPECT_EQ(bitsOf(fromBits(0x3f818000)), 0x3f82);
  // A carry through the mantissa raises the exponent: 1.99999 -> 2.
  EXPECT_EQ(bitsOf(fromBits(0x3fffffff)), 0x4000);
  // 1/3 in bf16 is 0x3eab (0.333984375).
  EXPECT_EQ(bitsOf(1.0f / 3.0f), 0x3eab);
  EXPECT_EQ(float(BFloat16::fromBits(0x3eab)), 0.333984375f);
  // Subnormals round like any other value.
  EXPECT_EQ(bitsOf(fromBits(0x00018000)), 0x0002);
  EXPECT_EQ(bitsOf(fromBits(0x00008000)), 0x0000);
}

TEST(BFloat16Test, InfinityNaNAndOverflow) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(bitsOf(kInf), 0x7f80);
  EXPECT_EQ(bitsOf(-kInf), 0xff80);
  // The largest float is past bf16's largest finite value plus half an ulp.
  EXPECT_EQ(bitsOf(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(bitsOf(-std::numeric_limits<float>::max()), 0xff80);
  // bf16's largest finite value stays finite.
  EXPECT_EQ(bitsOf(fromBits(0x7f7f0000)), 0x7f7f);
  // NaNs stay NaN, quiet, with their sign, even when their payload sits only
  // in the dropped bits (rounding would make them infinity).
  uint16_t nan = bitsOf(fromBits(0x7f800001));
  EXPECT_TRUE(std::isnan(float(BFloat16::fromBits(nan))));
  EXPECT_EQ(nan & 0x0040, 0x0040);
  uint16_t negativeNaN = bitsOf(fromBits(0xffc00000));
  EXPECT_TRUE(std::isnan(float(BFloat16::fromBits(negativeNaN))));
  EXPECT_EQ(negativeNaN & 0x8000, 0x8000);
  EXPECT_TRUE(std::isnan(float(BFloat16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(BFloat16Test, WideningIsExactAndRoundTrips) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    BFloat16 value = BFloat16::fromBits(uint16_t(bits));
    float widened = float(value);
    if (std::isnan(widened))
      continue;
    EXPECT_EQ(BFloat16(widened).bits, bits) << std::hex << bits;
  }
}

/// A bf16 tensor of `values` rounded.
Tensor bfloat16s(Shape shape, const std::vector<float> &values) {
  std::vector<BFloat16> rounded;
  for (float value : values)
    rounded.push_back(BFloat16(value));
  return tensor<BFloat16>(std::move(shape), rounded);
}

/// The f32 tensor holding `bf16`'s values exactly.
Tensor widened(const Tensor &bf16) {
  std::vector<float> values;
  for (BFloat16 value : bf16.values<BFloat16>())
    values.push_back(float(value));
  return floats(bf16.shape, values);
}

/// `result` (bf16) must hold `reference` (f32) rounded, element for element.
void expectRounded(const Tensor &result, const Tensor &reference) {
  ASSERT_EQ(result.dtype, DType::BFloat16);
  std::vector<BFloat16> got = result.values<BFloat16>();
  std::vector<float> want = reference.values<float>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i].bits, BFloat16(want[i]).bits)
        << "element " << i << ": " << float(got[i]) << " vs " << want[i];
}

/// `result` (bf16) within `tolerance` times `magnitude` (f32) of
/// `reference` (f32), element for element.
void expectClose(const Tensor &result, const Tensor &reference, const Tensor &magnitude,
                 double tolerance) {
  std::vector<BFloat16> got = result.values<BFloat16>();
  std::vector<float> want = reference.values<float>(), scale = magnitude.values<float>();
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(float(got[i]), want[i], tolerance * scale[i] + 1e-30) << "element " << i;
}

/// Runs `name` on bf16 `inputs` and on their widened f32 copies; the bf16
/// results must be the f32 results rounded. Products (`tolerance` > 0) may
/// go to oneDNN, which sums in another order: each result must then be
/// within `tolerance` times the product of the operands' absolute values.
void expectLikeFloat(const std::string &name, std::vector<Tensor *> inputs,
                     std::vector<Shape> outputShapes, Attributes attributes = {},
                     double tolerance = 0) {
  std::vector<Tensor> wide;
  wide.reserve(inputs.size());
  for (Tensor *input : inputs)
    wide.push_back(input->dtype == DType::BFloat16 ? widened(*input) : *input);
  std::vector<Tensor> narrowOut, wideOut;
  narrowOut.reserve(outputShapes.size());
  wideOut.reserve(outputShapes.size());
  for (const Shape &shape : outputShapes) {
    narrowOut.emplace_back(DType::BFloat16, shape);
    wideOut.emplace_back(DType::Float32, shape);
  }
  std::vector<Tensor *> wideInputs, narrowOutputs, wideOutputs;
  for (Tensor &tensor : wide)
    wideInputs.push_back(&tensor);
  for (Tensor &tensor : narrowOut)
    narrowOutputs.push_back(&tensor);
  for (Tensor &tensor : wideOut)
    wideOutputs.push_back(&tensor);
  ASSERT_EQ(call(name, inputs, narrowOutputs, attributes).run(), "") << name;
  ASSERT_EQ(call(name, wideInputs, wideOutputs, attributes).run(), "") << name;
  if (tolerance == 0) {
    for (size_t i = 0; i < narrowOut.size(); ++i)
      expectRounded(narrowOut[i], wideOut[i]);
    return;
  }
  std::vector<Tensor> absolute = wide;
  std::vector<Tensor *> absoluteInputs;
  for (Tensor &tensor : absolute) {
    for (int64_t i = 0; i < tensor.numElements(); ++i)
      tensor.data<float>()[i] = std::abs(tensor.data<float>()[i]);
    absoluteInputs.push_back(&tensor);
  }
  std::vector<Tensor> magnitude;
  magnitude.reserve(outputShapes.size());
  std::vector<Tensor *> magnitudeOutputs;
  for (const Shape &shape : outputShapes) {
    magnitude.emplace_back(DType::Float32, shape);
    magnitudeOutputs.push_back(&magnitude.back());
  }
  ASSERT_EQ(call(name, absoluteInputs, magnitudeOutputs, attributes).run(), "") << name;
  for (size_t i = 0; i < narrowOut.size(); ++i)
    expectClose(narrowOut[i], wideOut[i], magnitude[i], tolerance);
}

/// bf16 rounds the result once (2^-9 relative) and f32 sums differ by
/// order: 2^-8 of the products' absolute sum holds both.
constexpr double kProductTolerance = 1.0 / 256;

TEST(CpuKernelBFloat16Test, CastsToAndFromFloat32Only) {
  Tensor input = floats({5}, {1.0f, 1.0f / 3.0f, -65504.0f, 3.0e38f,
                              std::numeric_limits<float>::infinity()});
  Tensor narrowed(DType::BFloat16, {5});
  ASSERT_EQ(call("cast", {&input}, {&narrowed}).run(), "");
  expectRounded(narrowed, input);
  Tensor back(DType::Float32, {5});
  ASSERT_EQ(call("cast", {&narrowed}, {&back}).run(), "");
  EXPECT_EQ(back.values<float>(), widened(narrowed).values<float>());
  // f64 would round twice through f32; integers have no policy use.
  Tensor wide = doubles({5}, {1, 2, 3, 4, 5});
  EXPECT_EQ(call("cast", {&wide}, {&narrowed}).check(), "cannot cast float64 to bfloat16");
  Tensor ints(DType::Int64, {5});
  EXPECT_EQ(call("cast", {&narrowed}, {&ints}).check(), "cannot cast bfloat16 to int64");
}

TEST(CpuKernelBFloat16Test, MatmulAndGemmAccumulateInFloat32) {
  // Batched matmul with a broadcast rhs batch, and the tall x @ W form.
  Tensor lhs = bfloat16s({2, 3, 5, 7}, sequence<float>(210, -2, 2, 1));
  Tensor rhs = bfloat16s({3, 7, 4}, sequence<float>(84, -2, 2, 2));
  expectLikeFloat("matmul", {&lhs, &rhs}, {{2, 3, 5, 4}}, {}, kProductTolerance);
  Tensor weight = bfloat16s({7, 6}, sequence<float>(42, -1, 1, 3));
  expectLikeFloat("matmul", {&lhs, &weight}, {{2, 3, 5, 6}}, {}, kProductTolerance);
  // A vector operand, whose unit dim the result drops.
  Tensor vector = bfloat16s({7}, sequence<float>(7, -1, 1, 14));
  expectLikeFloat("matmul", {&vector, &weight}, {{6}}, {}, kProductTolerance);
  // The f32 reference itself is an f32 accumulation: within bf16 rounding of
  // the exact product (relative 2^-8) in double.
  Tensor product(DType::BFloat16, {2, 3, 5, 6});
  ASSERT_EQ(call("matmul", {&lhs, &weight}, {&product}).run(), "");
  std::vector<BFloat16> a = lhs.values<BFloat16>(), w = weight.values<BFloat16>(),
                        c = product.values<BFloat16>();
  for (int64_t row = 0; row < 30; ++row)
    for (int64_t j = 0; j < 6; ++j) {
      double exact = 0, magnitude = 0;
      for (int64_t p = 0; p < 7; ++p) {
        exact += double(float(a[row * 7 + p])) * double(float(w[p * 6 + j]));
        magnitude += std::abs(double(float(a[row * 7 + p])) * double(float(w[p * 6 + j])));
      }
      EXPECT_NEAR(float(c[row * 6 + j]), exact, magnitude * kProductTolerance + 1e-30);
    }
  // gemm: transposes, alpha, beta and a broadcast bias.
  Tensor x = bfloat16s({7, 5}, sequence<float>(35, -1, 1, 4));
  Tensor y = bfloat16s({6, 7}, sequence<float>(42, -1, 1, 5));
  Tensor bias = bfloat16s({6}, sequence<float>(6, -1, 1, 6));
  expectLikeFloat("gemm", {&x, &y, &bias}, {{5, 6}},
                  attrs({{"transpose_a", true}, {"transpose_b", true}, {"alpha", 0.5},
                         {"beta", 2.0}}),
                  kProductTolerance);
  // The forms autodiff writes: transposed operands, a bias at beta 1, none.
  expectLikeFloat("gemm", {&x, &y, &bias}, {{5, 6}},
                  attrs({{"transpose_a", true}, {"transpose_b", true}}), kProductTolerance);
  Tensor column = bfloat16s({5, 1}, sequence<float>(5, -1, 1, 15));
  expectLikeFloat("gemm", {&x, &y, &column}, {{5, 6}},
                  attrs({{"transpose_a", true}, {"transpose_b", true}}), kProductTolerance);
  Tensor rows = bfloat16s({5, 7}, sequence<float>(35, -1, 1, 16));
  expectLikeFloat("gemm", {&rows, &y}, {{5, 6}}, attrs({{"transpose_b", true}}),
                  kProductTolerance);
  Tensor tall = bfloat16s({5, 6}, sequence<float>(30, -1, 1, 17));
  expectLikeFloat("gemm", {&rows, &tall}, {{7, 6}}, attrs({{"transpose_a", true}}),
                  kProductTolerance);
  // Mixed element types are refused.
  Tensor wide = floats({7, 6}, sequence<float>(42, -1, 1, 3));
  Tensor out(DType::BFloat16, {2, 3, 5, 6});
  EXPECT_NE(call("matmul", {&lhs, &wide}, {&out}).check(), "");
}

TEST(CpuKernelBFloat16Test, ElementwiseOpsComputeInFloatAndRoundOnce) {
  Tensor a = bfloat16s({4, 6}, sequence<float>(24, -3, 3, 7));
  Tensor b = bfloat16s({6}, sequence<float>(6, 0.5, 2, 8));
  for (const char *op : {"add", "sub", "mul", "div", "max", "min"})
    expectLikeFloat(op, {&a, &b}, {{4, 6}});
  for (const char *op : {"neg", "abs", "relu", "tanh", "sigmoid", "exp", "sqrt", "erf"})
    expectLikeFloat(op, {&a}, {{4, 6}});
  expectLikeFloat("gelu", {&a}, {{4, 6}}, attrs({{"tanh_approximation", true}}));
  expectLikeFloat("gelu", {&a}, {{4, 6}});
  Tensor dy = bfloat16s({4, 6}, sequence<float>(24, -1, 1, 9));
  expectLikeFloat("gelu_grad", {&a, &dy}, {{4, 6}}, attrs({{"tanh_approximation", true}}));
  // pow: an f32 exponent (the forward op) or a bf16 one (its gradient).
  Tensor three = floats({}, {3});
  Tensor positive = bfloat16s({4, 6}, sequence<float>(24, 0.1, 3, 10));
  expectLikeFloat("pow", {&positive, &three}, {{4, 6}});
  Tensor half = bfloat16s({}, {0.5});
  expectLikeFloat("pow", {&positive, &half}, {{4, 6}});
  // An f32 base takes no bf16 exponent.
  Tensor wideBase = floats({2}, {1, 2});
  Tensor wideOut(DType::Float32, {2});
  EXPECT_NE(call("pow", {&wideBase, &half}, {&wideOut}).check(), "");
}

TEST(CpuKernelBFloat16Test, NaNAndInfinityPropagate) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  Tensor a = bfloat16s({4}, {std::numeric_limits<float>::quiet_NaN(), kInf, -kInf, 1});
  Tensor b = bfloat16s({4}, {1, 1, 1, kInf});
  Tensor sum(DType::BFloat16, {4});
  ASSERT_EQ(call("add", {&a, &b}, {&sum}).run(), "");
  std::vector<BFloat16> values = sum.values<BFloat16>();
  EXPECT_TRUE(std::isnan(float(values[0])));
  EXPECT_EQ(float(values[1]), kInf);
  EXPECT_EQ(float(values[2]), -kInf);
  EXPECT_EQ(float(values[3]), kInf);
  Tensor weight = bfloat16s({4, 1}, {1, 0, 0, 0});
  Tensor row = bfloat16s({1, 4}, {std::numeric_limits<float>::quiet_NaN(), 0, 0, 0});
  Tensor product(DType::BFloat16, {1, 1});
  ASSERT_EQ(call("matmul", {&row, &weight}, {&product}).run(), "");
  EXPECT_TRUE(std::isnan(float(product.values<BFloat16>()[0])));
}

TEST(CpuKernelBFloat16Test, ReductionsComparisonsWhereAndFill) {
  Tensor a = bfloat16s({3, 4, 5}, sequence<float>(60, -2, 2, 11));
  expectLikeFloat("reduce_sum", {&a}, {{1, 4, 1}},
                  attrs({{"axes", std::vector<int64_t>{0, 2}}, {"keep_dims", true}}));
  expectLikeFloat("reduce_sum", {&a}, {{3, 4}},
                  attrs({{"axes", std::vector<int64_t>{2}}, {"keep_dims", false}}));
  Tensor b = bfloat16s({5}, sequence<float>(5, -2, 2, 12));
  Tensor equal(DType::Bool, {3, 4, 5}), wideEqual(DType::Bool, {3, 4, 5});
  Tensor wa = widened(a), wb = widened(b);
  ASSERT_EQ(call("greater", {&a, &b}, {&equal}).run(), "");
  ASSERT_EQ(call("greater", {&wa, &wb}, {&wideEqual}).run(), "");
  EXPECT_EQ(equal.values<uint8_t>(), wideEqual.values<uint8_t>());
  Tensor chosen(DType::BFloat16, {3, 4, 5});
  ASSERT_EQ(call("where", {&equal, &a, &b}, {&chosen}).run(), "");
  std::vector<BFloat16> got = chosen.values<BFloat16>(), av = a.values<BFloat16>(),
                        bv = b.values<BFloat16>();
  std::vector<uint8_t> mask = equal.values<uint8_t>();
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i].bits, mask[i] ? av[i].bits : bv[i % 5].bits);
  Tensor filled(DType::BFloat16, {3});
  ASSERT_EQ(call("fill", {}, {&filled}, attrs({{"value", 0.1}})).run(), "");
  for (BFloat16 value : filled.values<BFloat16>())
    EXPECT_EQ(value.bits, BFloat16(0.1f).bits);
}

/// What the policy keeps in f32 has no bf16 kernel: a plan that computes it
/// in bf16 fails validation with the kernel's line, never runs as f32.
TEST(CpuKernelBFloat16Test, KernelsThePolicyKeepsInFloat32RefuseIt) {
  Tensor x = bfloat16s({2, 4}, sequence<float>(8, -1, 1, 13));
  Tensor out(DType::BFloat16, {2, 4});
  auto refusesBFloat16 = [](const std::string &message) {
    return message.find("bfloat16") != std::string::npos;
  };
  EXPECT_PRED1(refusesBFloat16,
               call("softmax", {&x}, {&out}, attrs({{"axis", int64_t(-1)}})).check());
  EXPECT_PRED1(refusesBFloat16,
               call("cumsum", {&x}, {&out}, attrs({{"axis", int64_t(1)}})).check());
  Tensor flags(DType::Bool, {2, 4});
  EXPECT_PRED1(refusesBFloat16, call("is_nan", {&x}, {&flags}).check());
  // The registry offers bf16 to the products and gelu_grad, not to the
  // f32-only families.
  auto takes = [](const char *name) {
    const Kernel *kernel = findCpuKernel(name);
    return kernel && (kernel->elementTypes == 0 ||
                      (kernel->elementTypes & elementTypeBit(DType::BFloat16)) != 0);
  };
  EXPECT_TRUE(takes("matmul"));
  EXPECT_TRUE(takes("gemm"));
  EXPECT_TRUE(takes("gelu_grad"));
  EXPECT_FALSE(takes("softmax"));
  EXPECT_FALSE(takes("layer_norm"));
  EXPECT_FALSE(takes("attention"));
  EXPECT_FALSE(takes("adamw_update"));
}

} // namespace
