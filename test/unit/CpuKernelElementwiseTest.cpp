//===- CpuKernelElementwiseTest.cpp - element-wise CPU kernels -----------===//

#include "CpuKernelTesting.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace sp::runtime;
using namespace sp::runtime::testing;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(CpuKernelRegistryTest, NamesAreSortedAndFindable) {
  std::vector<std::string> names = cpuKernelNames();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_TRUE(std::adjacent_find(names.begin(), names.end()) == names.end());
  for (const char *name :
       {"add", "matmul", "gemm", "softmax", "layer_norm", "gather", "gather_nd", "slice",
        "cumsum", "trilu", "cast", "where", "fill", "copy", "softmax_grad", "layer_norm_grad",
        "gelu_grad", "gather_grad", "gather_nd_grad", "slice_grad", "cross_entropy_sum",
        "cross_entropy_sum_grad", "adamw_update", "sgd_update", "is_nan", "is_inf"}) {
    const Kernel *kernel = findCpuKernel(name);
    ASSERT_NE(kernel, nullptr) << name;
    EXPECT_EQ(std::string(kernel->name), name);
  }
  for (const std::string &name : names)
    EXPECT_EQ(findCpuKernel(name)->name, name);
  EXPECT_EQ(findCpuKernel("no_such_kernel"), nullptr);
}

/// A plan is untrusted input: whatever operand counts an instruction names,
/// a kernel's check refuses what its op cannot have before `run` indexes an
/// operand that is not there.
TEST(CpuKernelRegistryTest, CheckRefusesWrongOperandCounts) {
  TensorArg scalar;
  scalar.dtype = DType::Float32;
  scalar.shape = {2};
  Attributes none;
  struct Counts {
    size_t inputs, outputs;
  };
  // No op takes no operands at all, none makes no result, none makes 3
  // results of one operand or 5 of two, and none takes 12 operands to 12.
  for (Counts counts : {Counts{0, 0}, Counts{3, 0}, Counts{1, 3}, Counts{2, 5}, Counts{12, 12}}) {
    for (const std::string &name : cpuKernelNames()) {
      KernelArgs args;
      args.inputs.assign(counts.inputs, scalar);
      args.outputs.assign(counts.outputs, scalar);
      args.attributes = &none;
      EXPECT_NE(findCpuKernel(name)->check(args), "")
          << name << " accepts " << counts.inputs << " inputs and " << counts.outputs
          << " outputs";
    }
  }
}

TEST(CpuKernelBinaryTest, AddBroadcastsRowsColumnsAndScalars) {
  Tensor a = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor row = floats({3}, {10, 20, 30});
  Tensor out(DType::Float32, {2, 3});
  ASSERT_EQ(call("add", {&a, &row}, {&out}).run(), "");
  EXPECT_EQ(out.values<float>(), (std::vector<float>{11, 22, 33, 14, 25, 36}));

  Tensor column = doubles({2, 1}, {100, 200});
  Tensor line = doubles({1, 3}, {1, 2, 3});
  Tensor grid(DType::Float64, {2, 3});
  ASSERT_EQ(call("sub", {&column, &line}, {&grid}).run(), "");
  EXPECT_EQ(grid.values<double>(), (std::vector<double>{99, 98, 97, 199, 198, 197}));

  Tensor scalar = int32s({}, {3});
  Tensor ints = int32s({2, 2}, {1, -2, 3, -4});
  Tensor product(DType::Int32, {2, 2});
  ASSERT_EQ(call("mul", {&scalar, &ints}, {&product}).run(), "");
  EXPECT_EQ(product.values<int32_t>(), (std::vector<int32_t>{3, -6, 9, -12}));
}

TEST(CpuKernelBinaryTest, LargeBroadcastMatchesElementLoop) {
  // Big enough to split across threads and chunks: [4, 1, 5000] + [3, 1].
  std::vector<double> left = sequence<double>(4 * 5000, -1, 1, 3);
  Tensor a = doubles({4, 1, 5000}, left);
  Tensor b = doubles({3, 1}, {1, 2, 3});
  Tensor out(DType::Float64, {4, 3, 5000});
  ASSERT_EQ(call("mul", {&a, &b}, {&out}).run(), "");
  std::vector<double> result = out.values<double>();
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 5000; k += 97)
        ASSERT_EQ(result[(i * 3 + j) * 5000 + k], left[i * 5000 + k] * (j + 1));
}

TEST(CpuKernelBinaryTest, FewLongRowsSplitIntoChunks) {
  // Two rows of 20000: each row is cut into pieces for the threads.
  std::vector<float> left = sequence<float>(2 * 20000, -1, 1, 4);
  std::vector<float> right = sequence<float>(20000, -1, 1, 5);
  Tensor a = floats({2, 20000}, left), b = floats({20000}, right);
  Tensor out(DType::Float32, {2, 20000});
  ASSERT_EQ(call("sub", {&a, &b}, {&out}).run(), "");
  std::vector<float> result = out.values<float>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 20000; ++j)
      ASSERT_EQ(result[i * 20000 + j], left[i * 20000 + j] - right[j]) << i << " " << j;
}

TEST(CpuKernelBinaryTest, IntegerDivisionTruncatesAndRejectsZero) {
  Tensor a = int64s({4}, {-7, 7, std::numeric_limits<int64_t>::min(), 9});
  Tensor b = int64s({4}, {2, -2, -1, 3});
  Tensor out(DType::Int64, {4});
  ASSERT_EQ(call("div", {&a, &b}, {&out}).run(), "");
  EXPECT_EQ(out.values<int64_t>(),
            (std::vector<int64_t>{-3, -3, std::numeric_limits<int64_t>::min(), 3}));

  Tensor zero = int64s({}, {0});
  EXPECT_EQ(call("div", {&a, &zero}, {&out}).run(), "integer division by zero");
  EXPECT_EQ(call("mod", {&a, &zero}, {&out}).run(), "integer division by zero");
}

TEST(CpuKernelBinaryTest, ModFollowsDivisorAndFModDividend) {
  Tensor a = int32s({4}, {-7, 7, -7, 7});
  Tensor b = int32s({4}, {3, 3, -3, -3});
  Tensor out(DType::Int32, {4});
  ASSERT_EQ(call("mod", {&a, &b}, {&out}).run(), "");
  EXPECT_EQ(out.values<int32_t>(), (std::vector<int32_t>{2, 1, -1, -2}));
  ASSERT_EQ(call("fmod", {&a, &b}, {&out}).run(), "");
  EXPECT_EQ(out.values<int32_t>(), (std::vector<int32_t>{-1, 1, -1, 1}));

  Tensor x = doubles({2}, {-7.5, 7.5});
  Tensor y = doubles({}, {2});
  Tensor r(DType::Float64, {2});
  ASSERT_EQ(call("mod", {&x, &y}, {&r}).run(), "");
  EXPECT_EQ(r.values<double>(), (std::vector<double>{0.5, 1.5}));
  ASSERT_EQ(call("fmod", {&x, &y}, {&r}).run(), "");
  EXPECT_EQ(r.values<double>(), (std::vector<double>{-1.5, 1.5}));
}

TEST(CpuKernelBinaryTest, PowTakesExponentsOfAnotherType) {
  Tensor base = floats({4}, {2, -3, 0.5f, 4});
  Tensor intExponent = int64s({4}, {3, 2, -1, 0});
  Tensor out(DType::Float32, {4});
  ASSERT_EQ(call("pow", {&base, &intExponent}, {&out}).run(), "");
  EXPECT_EQ(out.values<float>(), (std::vector<float>{8, 9, 2, 1}));

  // The scalar fast paths (x**2, x**3) and the general one agree with libm.
  for (double exponent : {2.0, 3.0, 0.5}) {
    Tensor e = doubles({}, {exponent});
    Tensor x = doubles({3}, {1.5, 2.25, 7});
    Tensor y(DType::Float64, {3});
    ASSERT_EQ(call("pow", {&x, &e}, {&y}).run(), "");
    for (int i = 0; i < 3; ++i)
      EXPECT_DOUBLE_EQ(y.values<double>()[i], std::pow(x.values<double>()[i], exponent));
  }
  Tensor cube = floats({}, {3});
  Tensor x = floats({2}, {1.1f, -2});
  Tensor y(DType::Float32, {2});
  ASSERT_EQ(call("pow", {&x, &cube}, {&y}).run(), "");
  EXPECT_FLOAT_EQ(y.values<float>()[0], 1.331f);
  EXPECT_FLOAT_EQ(y.values<float>()[1], -8);

  Tensor ints = int32s({3}, {2, -2, 5});
  Tensor exponents = int32s({3}, {10, 3, -1});
  Tensor powers(DType::Int32, {3});
  ASSERT_EQ(call("pow", {&ints, &exponents}, {&powers}).run(), "");
  EXPECT_EQ(powers.values<int32_t>(), (std::vector<int32_t>{1024, -8, 0}));
}

TEST(CpuKernelBinaryTest, MaxAndMinPropagateNaN) {
  Tensor a = doubles({3}, {1, kNaN, 5});
  Tensor b = doubles({3}, {kNaN, 2, 3});
  Tensor out(DType::Float64, {3});
  ASSERT_EQ(call("max", {&a, &b}, {&out}).run(), "");
  std::vector<double> maxima = out.values<double>();
  EXPECT_TRUE(std::isnan(maxima[0]) && std::isnan(maxima[1]));
  EXPECT_EQ(maxima[2], 5);
  ASSERT_EQ(call("min", {&a, &b}, {&out}).run(), "");
  EXPECT_EQ(out.values<double>()[2], 3);
}

TEST(CpuKernelBinaryTest, ComparisonsAndLogicGiveBools) {
  Tensor a = int64s({2, 2}, {1, 2, 3, 4});
  Tensor b = int64s({2}, {2, 2});
  Tensor out(DType::Bool, {2, 2});
  ASSERT_EQ(call("less", {&a, &b}, {&out}).run(), "");
  EXPECT_EQ(out.values<uint8_t>(), (std::vector<uint8_t>{1, 0, 0, 0}));
  ASSERT_EQ(call("greater_equal", {&a, &b}, {&out}).run(), "");
  EXPECT_EQ(out.values<uint8_t>(), (std::vector<uint8_t>{0, 1, 1, 1}));
  ASSERT_EQ(call("equal", {&a, &b}, {&out}).run(), "");
  EXPECT_EQ(out.values<uint8_t>(), (std::vector<uint8_t>{0, 1, 0, 0}));

  Tensor f = doubles({2}, {kNaN, 1});
  Tensor g = doubles({2}, {kNaN, 1});
  Tensor same(DType::Bool, {2});
  ASSERT_EQ(call("equal", {&f, &g}, {&same}).run(), "");
  EXPECT_EQ(same.values<uint8_t>(), (std::vector<uint8_t>{0, 1}));

  // Any nonzero byte is true.
  Tensor p = bools({4}, {0, 0, 7, 1});
  Tensor q = bools({4}, {0, 1, 0, 255});
  Tensor r(DType::Bool, {4});
  ASSERT_EQ(call("and", {&p, &q}, {&r}).run(), "");
  EXPECT_EQ(r.values<uint8_t>(), (std::vector<uint8_t>{0, 0, 0, 1}));
  ASSERT_EQ(call("or", {&p, &q}, {&r}).run(), "");
  EXPECT_EQ(r.values<uint8_t>(), (std::vector<uint8_t>{0, 1, 1, 1}));
  ASSERT_EQ(call("xor", {&p, &q}, {&r}).run(), "");
  EXPECT_EQ(r.values<uint8_t>(), (std::vector<uint8_t>{0, 1, 1, 0}));
  ASSERT_EQ(call("equal", {&p, &q}, {&r}).run(), "");
  EXPECT_EQ(r.values<uint8_t>(), (std::vector<uint8_t>{1, 0, 0, 1}));
  ASSERT_EQ(call("not", {&p}, {&r}).run(), "");
  EXPECT_EQ(r.values<uint8_t>(), (std::vector<uint8_t>{1, 1, 0, 0}));
}

TEST(CpuKernelBinaryTest, CheckRejectsBadShapesAndTypes) {
  Tensor a(DType::Float32, {2, 3}), b(DType::Float32, {4}), out(DType::Float32, {2, 3});
  EXPECT_EQ(call("add", {&a, &b}, {&out}).check(), "shapes 2x3 and 4 do not broadcast");
  Tensor c(DType::Float32, {3}), wrong(DType::Float32, {3, 2});
  EXPECT_EQ(call("add", {&a, &c}, {&wrong}).check(),
            "result must have the broadcast shape 2x3, got float32 3x2");
  Tensor d(DType::Float64, {3});
  EXPECT_EQ(call("add", {&a, &d}, {&out}).check(),
            "operand element types differ: float32 2x3 and float64 3");
  Tensor flags(DType::Bool, {2, 3});
  EXPECT_EQ(call("less", {&a, &c}, {&out}).check(), "result must be bool, got float32 2x3");
  EXPECT_EQ(call("and", {&a, &a}, {&flags}).check(), "lhs must be bool, got float32 2x3");
  EXPECT_EQ(call("add", {&a}, {&out}).check(), "expects 2 inputs and 1 outputs, got 1 and 1");
  EXPECT_EQ(call("add", {&flags, &flags}, {&flags}).check(),
            "lhs must be float32, float64, int64, int32 or bfloat16, got bool 2x3");
}

TEST(CpuKernelUnaryTest, FloatFunctionsMatchLibm) {
  std::vector<double> inputs = sequence<double>(2000, -12, 12, 5);
  inputs.insert(inputs.end(), {0.0, -0.0, 1e-6, -1e-6, 30, -30, 100, -100, 0.6249, 0.625});
  int64_t n = int64_t(inputs.size());
  struct Case {
    const char *name;
    double (*reference)(double);
    double absolute, relative; // f32 tolerance
  };
  const Case cases[] = {
      {"exp", [](double x) { return std::exp(x); }, 1e-30, 4e-7},
      {"tanh", [](double x) { return std::tanh(x); }, 3e-7, 1e-6},
      {"sigmoid", [](double x) { return 1 / (1 + std::exp(-x)); }, 1e-30, 4e-7},
      {"erf", [](double x) { return std::erf(x); }, 3e-7, 1e-6},
      {"sin", [](double x) { return std::sin(x); }, 1e-7, 1e-6},
      {"cos", [](double x) { return std::cos(x); }, 1e-7, 1e-6},
      {"floor", [](double x) { return std::floor(x); }, 0, 0},
      {"ceil", [](double x) { return std::ceil(x); }, 0, 0},
      {"neg", [](double x) { return -x; }, 0, 0},
      {"abs", [](double x) { return std::fabs(x); }, 0, 0},
      {"relu", [](double x) { return x < 0 ? 0.0 : x; }, 0, 0},
  };
  for (const Case &c : cases) {
    // f64 computes with libm itself.
    Tensor x64 = doubles({n}, inputs), y64(DType::Float64, {n});
    ASSERT_EQ(call(c.name, {&x64}, {&y64}).run(), "") << c.name;
    std::vector<double> exact = y64.values<double>();
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(exact[i], c.reference(inputs[i])) << c.name << "(" << inputs[i] << ")";
    std::vector<float> inputs32(inputs.begin(), inputs.end());
    Tensor x32 = floats({n}, inputs32), y32(DType::Float32, {n});
    ASSERT_EQ(call(c.name, {&x32}, {&y32}).run(), "") << c.name;
    std::vector<float> approx = y32.values<float>();
    for (int64_t i = 0; i < n; ++i) {
      double expected = c.reference(double(inputs32[i]));
      double tolerance = c.absolute + c.relative * std::fabs(expected);
      if (std::fabs(expected) > std::numeric_limits<float>::max())
        ASSERT_EQ(double(approx[i]), std::copysign(kInf, expected)) << c.name << "(" << inputs32[i] << ")";
      else
        ASSERT_NEAR(approx[i], expected, tolerance) << c.name << "(" << inputs32[i] << ")";
    }
  }
}

TEST(CpuKernelUnaryTest, SpecialValues) {
  Tensor x = floats({5}, {float(kNaN), float(kInf), float(-kInf), -200, 200});
  Tensor y(DType::Float32, {5});
  ASSERT_EQ(call("exp", {&x}, {&y}).run(), "");
  std::vector<float> e = y.values<float>();
  EXPECT_TRUE(std::isnan(e[0]));
  EXPECT_EQ(e[1], float(kInf));
  EXPECT_EQ(e[2], 0.0f);
  EXPECT_EQ(e[3], 0.0f);
  EXPECT_EQ(e[4], float(kInf));
  ASSERT_EQ(call("tanh", {&x}, {&y}).run(), "");
  std::vector<float> t = y.values<float>();
  EXPECT_TRUE(std::isnan(t[0]));
  EXPECT_EQ(t[1], 1.0f);
  EXPECT_EQ(t[2], -1.0f);
  ASSERT_EQ(call("sigmoid", {&x}, {&y}).run(), "");
  EXPECT_EQ(y.values<float>()[2], 0.0f);
  EXPECT_EQ(y.values<float>()[1], 1.0f);

  Tensor d = doubles({3}, {4, 0.25, -1});
  Tensor r(DType::Float64, {3});
  ASSERT_EQ(call("sqrt", {&d}, {&r}).run(), "");
  EXPECT_EQ(r.values<double>()[0], 2);
  EXPECT_TRUE(std::isnan(r.values<double>()[2]));
  ASSERT_EQ(call("reciprocal", {&d}, {&r}).run(), "");
  EXPECT_EQ(r.values<double>(), (std::vector<double>{0.25, 4, -1}));
  ASSERT_EQ(call("log", {&d}, {&r}).run(), "");
  EXPECT_DOUBLE_EQ(r.values<double>()[0], std::log(4.0));

  Tensor i = int64s({3}, {-5, 0, std::numeric_limits<int64_t>::min()});
  Tensor j(DType::Int64, {3});
  ASSERT_EQ(call("abs", {&i}, {&j}).run(), "");
  EXPECT_EQ(j.values<int64_t>(),
            (std::vector<int64_t>{5, 0, std::numeric_limits<int64_t>::min()}));
  ASSERT_EQ(call("relu", {&i}, {&j}).run(), "");
  EXPECT_EQ(j.values<int64_t>(), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(call("exp", {&i}, {&j}).check(),
            "input must be float32, float64 or bfloat16, got int64 3");
}

TEST(CpuKernelUnaryTest, GeluExactAndTanh) {
  std::vector<double> inputs = {-3, -1, -0.1, 0, 0.5, 2, 6};
  int64_t n = int64_t(inputs.size());
  for (bool tanhForm : {false, true}) {
    Tensor x = doubles({n}, inputs), y(DType::Float64, {n});
    ASSERT_EQ(call("gelu", {&x}, {&y}, attrs({{"tanh_approximation", tanhForm}})).run(), "");
    std::vector<float> inputs32(inputs.begin(), inputs.end());
    Tensor x32 = floats({n}, inputs32), y32(DType::Float32, {n});
    ASSERT_EQ(call("gelu", {&x32}, {&y32}, attrs({{"tanh_approximation", tanhForm}})).run(),
              "");
    for (int64_t i = 0; i < n; ++i) {
      double v = inputs[i];
      double expected =
          tanhForm ? 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)))
                   : 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
      EXPECT_NEAR(y.values<double>()[i], expected, 1e-15) << v;
      EXPECT_NEAR(y32.values<float>()[i], expected, 2e-6) << v;
    }
  }
}

TEST(CpuKernelUnaryTest, FloatClasses) {
  Tensor x = floats({4}, {1, float(kNaN), float(kInf), float(-kInf)});
  Tensor out(DType::Bool, {4});
  ASSERT_EQ(call("is_nan", {&x}, {&out}).run(), "");
  EXPECT_EQ(out.values<uint8_t>(), (std::vector<uint8_t>{0, 1, 0, 0}));
  ASSERT_EQ(call("is_inf", {&x}, {&out}).run(), "");
  EXPECT_EQ(out.values<uint8_t>(), (std::vector<uint8_t>{0, 0, 1, 1}));
  ASSERT_EQ(call("is_inf", {&x}, {&out}, attrs({{"detect_positive", false}})).run(), "");
  EXPECT_EQ(out.values<uint8_t>(), (std::vector<uint8_t>{0, 0, 0, 1}));
}

TEST(CpuKernelWhereTest, BroadcastsAllThreeOperands) {
  // A causal mask [1, 3, 3] over scores [2, 3, 3] with a scalar fill.
  Tensor mask = bools({1, 3, 3}, {1, 0, 0, 1, 1, 0, 1, 1, 1});
  Tensor scores = floats({2, 3, 3}, sequence<float>(18, 0, 1));
  Tensor fill = floats({}, {-1e9f});
  Tensor out(DType::Float32, {2, 3, 3});
  ASSERT_EQ(call("where", {&mask, &scores, &fill}, {&out}).run(), "");
  std::vector<float> s = scores.values<float>(), r = out.values<float>();
  for (int i = 0; i < 18; ++i)
    EXPECT_EQ(r[i], mask.values<uint8_t>()[i % 9] ? s[i] : -1e9f);

  Tensor condition = bools({2, 1}, {1, 0});
  Tensor a = int64s({3}, {1, 2, 3});
  Tensor b = int64s({2, 1}, {7, 8});
  Tensor picked(DType::Int64, {2, 3});
  ASSERT_EQ(call("where", {&condition, &a, &b}, {&picked}).run(), "");
  EXPECT_EQ(picked.values<int64_t>(), (std::vector<int64_t>{1, 2, 3, 8, 8, 8}));
  Tensor floatCondition(DType::Float32, {2, 1});
  EXPECT_EQ(call("where", {&floatCondition, &a, &b}, {&picked}).check(),
            "condition must be bool, got float32 2x1");
}

TEST(CpuKernelCastTest, AllPairsConvert) {
  Tensor source = doubles({6}, {-2.7, -0.5, 0, 0.5, 3.9, 1e30});
  Tensor toInt(DType::Int32, {6});
  ASSERT_EQ(call("cast", {&source}, {&toInt}).run(), "");
  EXPECT_EQ(toInt.values<int32_t>(), (std::vector<int32_t>{-2, 0, 0, 0, 3, 2147483647}));
  Tensor toBool(DType::Bool, {6});
  ASSERT_EQ(call("cast", {&source}, {&toBool}).run(), "");
  EXPECT_EQ(toBool.values<uint8_t>(), (std::vector<uint8_t>{1, 1, 0, 1, 1, 1}));
  Tensor back(DType::Float32, {6});
  ASSERT_EQ(call("cast", {&toBool}, {&back}).run(), "");
  EXPECT_EQ(back.values<float>(), (std::vector<float>{1, 1, 0, 1, 1, 1}));
  Tensor wide = int64s({2}, {(int64_t(1) << 32) + 5, -1});
  Tensor narrow(DType::Int32, {2});
  ASSERT_EQ(call("cast", {&wide}, {&narrow}).run(), "");
  EXPECT_EQ(narrow.values<int32_t>(), (std::vector<int32_t>{5, -1}));

  // Every pair among the five element types round-trips small integers.
  const DType types[] = {DType::Float32, DType::Float64, DType::Int64, DType::Int32, DType::Bool};
  for (DType from : types)
    for (DType to : types) {
      Tensor ones = int64s({3}, {0, 1, 1});
      Tensor in(from, {3}), out(to, {3}), check(DType::Int64, {3});
      ASSERT_EQ(call("cast", {&ones}, {&in}).run(), "");
      ASSERT_EQ(call("cast", {&in}, {&out}).run(), "");
      ASSERT_EQ(call("cast", {&out}, {&check}).run(), "");
      EXPECT_EQ(check.values<int64_t>(), (std::vector<int64_t>{0, 1, 1}))
          << dtypeName(from) << " -> " << dtypeName(to);
    }
  Tensor reshaped(DType::Int32, {3, 2});
  EXPECT_EQ(call("cast", {&source}, {&reshaped}).check(),
            "result must have shape 6, got int32 3x2");
}

TEST(CpuKernelEmitterTest, FillAndCopy) {
  Tensor out(DType::Float64, {2, 2});
  ASSERT_EQ(call("fill", {}, {&out}, attrs({{"value", 1.5}})).run(), "");
  EXPECT_EQ(out.values<double>(), (std::vector<double>{1.5, 1.5, 1.5, 1.5}));
  Tensor ints(DType::Int32, {3});
  ASSERT_EQ(call("fill", {}, {&ints}, attrs({{"value", int64_t(-4)}})).run(), "");
  EXPECT_EQ(ints.values<int32_t>(), (std::vector<int32_t>{-4, -4, -4}));
  EXPECT_EQ(call("fill", {}, {&ints}).check(), "attribute 'value' must be a number");

  Tensor source = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor flat(DType::Float32, {6});
  ASSERT_EQ(call("copy", {&source}, {&flat}).run(), "");
  EXPECT_EQ(flat.values<float>(), source.values<float>());
  Tensor small(DType::Float32, {5});
  EXPECT_EQ(call("copy", {&source}, {&small}).check(),
            "input float32 2x3 and result float32 5 differ in byte size");
}

} // namespace
