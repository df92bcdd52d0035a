//===- CpuKernelLinalgTest.cpp - matmul, gemm, softmax, norms, reductions -===//

#include "CpuKernelTesting.h"

#include <cmath>
#include <limits>

using namespace sp::runtime;
using namespace sp::runtime::testing;

namespace {

/// Row-major [m, k] x [k, n] in double.
std::vector<double> naiveMatmul(const std::vector<double> &a, const std::vector<double> &b,
                                int64_t m, int64_t k, int64_t n) {
  std::vector<double> c(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p)
        c[i * n + j] += a[i * k + p] * b[p * n + j];
  return c;
}

TEST(CpuKernelMatmulTest, TwoDimensionalInBothPrecisions) {
  std::vector<double> a = sequence<double>(5 * 7, -1, 1, 1), b = sequence<double>(7 * 3, -1, 1, 2);
  std::vector<double> expected = naiveMatmul(a, b, 5, 7, 3);
  Tensor a64 = doubles({5, 7}, a), b64 = doubles({7, 3}, b), c64(DType::Float64, {5, 3});
  ASSERT_EQ(call("matmul", {&a64, &b64}, {&c64}).run(), "");
  expectNear(c64.values<double>(), expected, 1e-14);
  Tensor a32 = floats({5, 7}, std::vector<float>(a.begin(), a.end()));
  Tensor b32 = floats({7, 3}, std::vector<float>(b.begin(), b.end()));
  Tensor c32(DType::Float32, {5, 3});
  ASSERT_EQ(call("matmul", {&a32, &b32}, {&c32}).run(), "");
  expectNear(c32.values<float>(), std::vector<float>(expected.begin(), expected.end()), 1e-5);
}

TEST(CpuKernelMatmulTest, BroadcastsBatchDims) {
  // [2, 1, 3, 4] x [3, 4, 5] -> [2, 3, 3, 5]: the lhs repeats over the rhs batch.
  std::vector<double> a = sequence<double>(2 * 3 * 4, -1, 1, 3);
  std::vector<double> b = sequence<double>(3 * 4 * 5, -1, 1, 4);
  Tensor lhs = doubles({2, 1, 3, 4}, a), rhs = doubles({3, 4, 5}, b);
  Tensor out(DType::Float64, {2, 3, 3, 5});
  ASSERT_EQ(call("matmul", {&lhs, &rhs}, {&out}).run(), "");
  std::vector<double> result = out.values<double>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      std::vector<double> left(a.begin() + i * 12, a.begin() + (i + 1) * 12);
      std::vector<double> right(b.begin() + j * 20, b.begin() + (j + 1) * 20);
      std::vector<double> expected = naiveMatmul(left, right, 3, 4, 5);
      std::vector<double> actual(result.begin() + (i * 3 + j) * 15,
                                 result.begin() + (i * 3 + j + 1) * 15);
      expectNear(actual, expected, 1e-14);
    }

  // [2, 3, 4] x [4, 5]: one tall GEMM.
  Tensor tall = doubles({2, 3, 4}, a), weight = doubles({4, 5}, std::vector<double>(b.begin(), b.begin() + 20));
  Tensor flat(DType::Float64, {2, 3, 5});
  ASSERT_EQ(call("matmul", {&tall, &weight}, {&flat}).run(), "");
  expectNear(flat.values<double>(),
             naiveMatmul(a, std::vector<double>(b.begin(), b.begin() + 20), 6, 4, 5), 1e-14);
}

TEST(CpuKernelMatmulTest, VectorOperandsDropTheirUnitDim) {
  Tensor v = doubles({3}, {1, 2, 3});
  Tensor m = doubles({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor row(DType::Float64, {2});
  ASSERT_EQ(call("matmul", {&v, &m}, {&row}).run(), "");
  EXPECT_EQ(row.values<double>(), (std::vector<double>{22, 28}));
  Tensor mt = doubles({2, 3}, {1, 3, 5, 2, 4, 6});
  Tensor column(DType::Float64, {2});
  ASSERT_EQ(call("matmul", {&mt, &v}, {&column}).run(), "");
  EXPECT_EQ(column.values<double>(), (std::vector<double>{22, 28}));
  Tensor scalar(DType::Float64, {});
  ASSERT_EQ(call("matmul", {&v, &v}, {&scalar}).run(), "");
  EXPECT_EQ(scalar.values<double>(), (std::vector<double>{14}));
  Tensor batched = doubles({2, 3, 2}, {1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 1, 1});
  Tensor rows(DType::Float64, {2, 2});
  ASSERT_EQ(call("matmul", {&v, &batched}, {&rows}).run(), "");
  EXPECT_EQ(rows.values<double>(), (std::vector<double>{22, 28, 3, 3}));
}

TEST(CpuKernelMatmulTest, IntegersAndBadShapes) {
  Tensor a = int64s({2, 2}, {1, 2, 3, 4}), b = int64s({2, 2}, {5, 6, 7, 8});
  Tensor c(DType::Int64, {2, 2});
  ASSERT_EQ(call("matmul", {&a, &b}, {&c}).run(), "");
  EXPECT_EQ(c.values<int64_t>(), (std::vector<int64_t>{19, 22, 43, 50}));
  Tensor x(DType::Float32, {2, 3}), y(DType::Float32, {4, 5}), z(DType::Float32, {2, 5});
  EXPECT_EQ(call("matmul", {&x, &y}, {&z}).check(), "contracting dims differ: 2x3 x 4x5");
  Tensor w(DType::Float32, {3, 5}), wrong(DType::Float32, {5, 2});
  EXPECT_EQ(call("matmul", {&x, &w}, {&wrong}).check(),
            "result must have shape 2x5, got float32 5x2");
  Tensor p(DType::Float32, {2, 2, 3}), q(DType::Float32, {3, 3, 5}), r(DType::Float32, {3, 2, 5});
  EXPECT_EQ(call("matmul", {&p, &q}, {&r}).check(),
            "batch dims of 2x2x3 and 3x3x5 do not broadcast");
}

TEST(CpuKernelGemmTest, TransposesAlphaBetaAndBias) {
  std::vector<double> a = sequence<double>(4 * 3, -1, 1, 5), b = sequence<double>(3 * 2, -1, 1, 6);
  // a stored transposed [3, 4], b stored transposed [2, 3].
  std::vector<double> at(12), bt(6);
  for (int i = 0; i < 4; ++i)
    for (int p = 0; p < 3; ++p)
      at[p * 4 + i] = a[i * 3 + p];
  for (int p = 0; p < 3; ++p)
    for (int j = 0; j < 2; ++j)
      bt[j * 3 + p] = b[p * 2 + j];
  std::vector<double> product = naiveMatmul(a, b, 4, 3, 2);
  Tensor ta = doubles({3, 4}, at), tb = doubles({2, 3}, bt);
  Tensor bias = doubles({2}, {10, 20});
  Tensor out(DType::Float64, {4, 2});
  ASSERT_EQ(call("gemm", {&ta, &tb, &bias}, {&out},
                 attrs({{"alpha", 2.0}, {"beta", 0.5}, {"transpose_a", true},
                        {"transpose_b", true}}))
                .run(),
            "");
  std::vector<double> expected(8);
  for (int i = 0; i < 8; ++i)
    expected[i] = 2 * product[i] + 0.5 * (i % 2 ? 20 : 10);
  expectNear(out.values<double>(), expected, 1e-14);

  Tensor columnBias = doubles({4, 1}, {1, 2, 3, 4});
  Tensor plainA = doubles({4, 3}, a), plainB = doubles({3, 2}, b);
  ASSERT_EQ(call("gemm", {&plainA, &plainB, &columnBias}, {&out}).run(), "");
  for (int i = 0; i < 8; ++i)
    expected[i] = product[i] + (i / 2 + 1);
  expectNear(out.values<double>(), expected, 1e-14);
  ASSERT_EQ(call("gemm", {&plainA, &plainB, nullptr}, {&out}).run(), "");
  expectNear(out.values<double>(), product, 1e-14);

  Tensor badBias(DType::Float64, {3});
  EXPECT_EQ(call("gemm", {&plainA, &plainB, &badBias}, {&out}).check(),
            "bias float64 3 does not broadcast to 4x2");
}

/// softmax of rows of `x` ([rows, n]) in double, the reference.
std::vector<double> referenceSoftmax(const std::vector<double> &x, int64_t rows, int64_t n) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double max = -INFINITY, sum = 0;
    for (int64_t j = 0; j < n; ++j)
      max = std::max(max, x[r * n + j]);
    for (int64_t j = 0; j < n; ++j)
      sum += std::exp(x[r * n + j] - max);
    for (int64_t j = 0; j < n; ++j)
      y[r * n + j] = std::exp(x[r * n + j] - max) / sum;
  }
  return y;
}

TEST(CpuKernelSoftmaxTest, LastAndMiddleAxes) {
  std::vector<double> x = sequence<double>(6 * 5, -4, 4, 7);
  x[3] = 1000; // no overflow: the row max is subtracted
  Tensor in = doubles({6, 5}, x), out(DType::Float64, {6, 5});
  ASSERT_EQ(call("softmax", {&in}, {&out}, attrs({{"axis", int64_t(-1)}})).run(), "");
  expectNear(out.values<double>(), referenceSoftmax(x, 6, 5), 1e-15);
  Tensor in32 = floats({6, 5}, std::vector<float>(x.begin(), x.end()));
  Tensor out32(DType::Float32, {6, 5});
  ASSERT_EQ(call("softmax", {&in32}, {&out32}, attrs({{"axis", int64_t(1)}})).run(), "");
  std::vector<double> reference = referenceSoftmax(x, 6, 5);
  expectNear(out32.values<float>(), std::vector<float>(reference.begin(), reference.end()), 1e-6);

  // Axis 1 of [2, 3, 4]: transpose to rows, compare.
  std::vector<double> cube = sequence<double>(24, -3, 3, 8);
  Tensor c = doubles({2, 3, 4}, cube), s(DType::Float64, {2, 3, 4});
  ASSERT_EQ(call("softmax", {&c}, {&s}, attrs({{"axis", int64_t(1)}})).run(), "");
  std::vector<double> rows(24);
  for (int o = 0; o < 2; ++o)
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 4; ++k)
        rows[(o * 4 + k) * 3 + i] = cube[(o * 3 + i) * 4 + k];
  std::vector<double> expectedRows = referenceSoftmax(rows, 8, 3);
  std::vector<double> result = s.values<double>();
  for (int o = 0; o < 2; ++o)
    for (int i = 0; i < 3; ++i)
      for (int k = 0; k < 4; ++k)
        EXPECT_NEAR(result[(o * 3 + i) * 4 + k], expectedRows[(o * 4 + k) * 3 + i], 1e-15);

  EXPECT_EQ(call("softmax", {&c}, {&s}, attrs({{"axis", int64_t(3)}})).check(),
            "axis 3 is out of range for rank 3");
}

TEST(CpuKernelLayerNormTest, NormalizesTrailingDims) {
  std::vector<double> x = sequence<double>(3 * 2 * 4, -2, 5, 9);
  std::vector<double> scale = sequence<double>(8, 0.5, 1.5, 10), bias = sequence<double>(8, -1, 1, 11);
  Tensor in = doubles({3, 2, 4}, x), g = doubles({2, 4}, scale), b = doubles({2, 4}, bias);
  Tensor out(DType::Float64, {3, 2, 4});
  ASSERT_EQ(call("layer_norm", {&in, &g, &b}, {&out},
                 attrs({{"axis", int64_t(1)}, {"epsilon", 1e-5}}))
                .run(),
            "");
  std::vector<double> expected(24);
  for (int r = 0; r < 3; ++r) {
    double mean = 0, variance = 0;
    for (int j = 0; j < 8; ++j)
      mean += x[r * 8 + j] / 8;
    for (int j = 0; j < 8; ++j)
      variance += (x[r * 8 + j] - mean) * (x[r * 8 + j] - mean) / 8;
    for (int j = 0; j < 8; ++j)
      expected[r * 8 + j] =
          (x[r * 8 + j] - mean) / std::sqrt(variance + 1e-5) * scale[j] + bias[j];
  }
  expectNear(out.values<double>(), expected, 1e-13);

  // No bias, a scale that broadcasts ([4] over the normalized [2, 4]), f32.
  Tensor in32 = floats({3, 2, 4}, std::vector<float>(x.begin(), x.end()));
  Tensor g4 = floats({4}, {1, 2, 3, 4});
  Tensor out32(DType::Float32, {3, 2, 4});
  ASSERT_EQ(call("layer_norm", {&in32, &g4, nullptr}, {&out32},
                 attrs({{"axis", int64_t(-2)}, {"epsilon", 1e-5}}))
                .run(),
            "");
  std::vector<float> result = out32.values<float>();
  for (int i = 0; i < 24; ++i) {
    double unscaled = (expected[i] - bias[i % 8]) / scale[i % 8];
    EXPECT_NEAR(result[i], unscaled * (i % 4 + 1), 2e-5) << i;
  }
  Tensor badScale(DType::Float32, {3});
  EXPECT_EQ(call("layer_norm", {&in32, &badScale}, {&out32},
                 attrs({{"axis", int64_t(-1)}, {"epsilon", 1e-5}}))
                .check(),
            "scale float32 3 does not broadcast to the normalized shape 4");
}

TEST(CpuKernelReduceTest, AxesKeepDimsAndPatterns) {
  // [2, 3, 4] with values 0..23.
  std::vector<double> x(24);
  for (int i = 0; i < 24; ++i)
    x[i] = i;
  Tensor in = doubles({2, 3, 4}, x);
  struct Case {
    const char *kernel;
    std::vector<int64_t> axes;
    bool keepDims;
    Shape shape;
    std::vector<double> expected;
  };
  const Case cases[] = {
      {"reduce_sum", {2}, true, {2, 3, 1}, {6, 22, 38, 54, 70, 86}},
      {"reduce_sum", {0}, false, {3, 4}, {12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34}},
      {"reduce_mean", {1}, true, {2, 1, 4}, {4, 5, 6, 7, 16, 17, 18, 19}},
      {"reduce_max", {0, 2}, false, {3}, {15, 19, 23}},
      {"reduce_sum", {}, false, {}, {276}},
      {"reduce_mean", {0, 1, 2}, true, {1, 1, 1}, {11.5}},
      {"reduce_max", {1, 2}, true, {2, 1, 1}, {11, 23}},
  };
  for (const Case &c : cases) {
    Tensor out(DType::Float64, c.shape);
    ASSERT_EQ(call(c.kernel, {&in}, {&out},
                   attrs({{"axes", c.axes}, {"keep_dims", c.keepDims}}))
                  .run(),
              "")
        << c.kernel << " " << c.axes.size();
    EXPECT_EQ(out.values<double>(), c.expected) << c.kernel << " axes " << c.axes.size();
  }
  Tensor ints = int32s({2, 2}, {1, -5, 3, 7});
  Tensor sum(DType::Int32, {2});
  ASSERT_EQ(call("reduce_sum", {&ints}, {&sum},
                 attrs({{"axes", std::vector<int64_t>{0}}, {"keep_dims", false}}))
                .run(),
            "");
  EXPECT_EQ(sum.values<int32_t>(), (std::vector<int32_t>{4, 2}));
  Tensor wrong(DType::Float64, {2, 3});
  EXPECT_EQ(call("reduce_sum", {&in}, {&wrong}, attrs({{"axes", std::vector<int64_t>{2}}})).check(),
            "result must have shape 2x3x1, got float64 2x3");
  EXPECT_EQ(call("reduce_sum", {&in}, {&wrong},
                 attrs({{"axes", std::vector<int64_t>{1, 1}}}))
                .check(),
            "reduction axes must be sorted and unique, got [1, 1]");
  // The graph dialect's canonical axes only: the importer normalizes ONNX's
  // negative ones, so a plan that holds one was not written by sp-compile.
  EXPECT_EQ(call("reduce_sum", {&in}, {&wrong}, attrs({{"axes", std::vector<int64_t>{-1}}}))
                .check(),
            "reduction axes must be in [0, 3), got [-1]");
}

TEST(CpuKernelReduceTest, LargeColumnSumsAndMaxWithNaN) {
  // [64, 1000] summed over rows in f32 (double accumulation).
  std::vector<float> x = sequence<float>(64 * 1000, 0, 1, 12);
  Tensor in = floats({64, 1000}, x), out(DType::Float32, {1000});
  ASSERT_EQ(call("reduce_sum", {&in}, {&out},
                 attrs({{"axes", std::vector<int64_t>{0}}, {"keep_dims", false}}))
                .run(),
            "");
  std::vector<float> result = out.values<float>();
  for (int j = 0; j < 1000; j += 37) {
    double expected = 0;
    for (int i = 0; i < 64; ++i)
      expected += x[i * 1000 + j];
    EXPECT_NEAR(result[j], expected, 1e-4);
  }
  Tensor withNaN = floats({2, 3}, {1, std::nanf(""), 2, 3, 4, 5});
  Tensor max(DType::Float32, {2, 1});
  ASSERT_EQ(call("reduce_max", {&withNaN}, {&max}, attrs({{"axes", std::vector<int64_t>{1}}})).run(),
            "");
  EXPECT_TRUE(std::isnan(max.values<float>()[0]));
  EXPECT_EQ(max.values<float>()[1], 5);
}

TEST(CpuKernelCumSumTest, ExclusiveAndReverse) {
  Tensor in = int64s({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor out(DType::Int64, {2, 3});
  struct Case {
    int64_t axis;
    bool exclusive, reverse;
    std::vector<int64_t> expected;
  };
  const Case cases[] = {
      {1, false, false, {1, 3, 6, 4, 9, 15}},
      {-1, true, false, {0, 1, 3, 0, 4, 9}},
      {1, false, true, {6, 5, 3, 15, 11, 6}},
      {1, true, true, {5, 3, 0, 11, 6, 0}},
      {0, false, false, {1, 2, 3, 5, 7, 9}},
  };
  for (const Case &c : cases) {
    ASSERT_EQ(call("cumsum", {&in}, {&out},
                   attrs({{"axis", c.axis}, {"exclusive", c.exclusive}, {"reverse", c.reverse}}))
                  .run(),
              "");
    EXPECT_EQ(out.values<int64_t>(), c.expected) << c.axis << c.exclusive << c.reverse;
  }
}

} // namespace
