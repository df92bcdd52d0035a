//===- CpuKernelTrainingTest.cpp - gradient, loss and optimizer kernels --===//
//
// Gradient kernels are checked in f64 against central finite differences of
// the forward kernels: for a weight tensor w, d(sum(w * f(x)))/dx must equal
// the gradient kernel given result_grad = w.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelTesting.h"

#include <algorithm>
#include <cmath>

using namespace sp::runtime;
using namespace sp::runtime::testing;

namespace {

constexpr double kGradientTolerance = 1e-7;

TEST(CpuKernelGradientTest, SoftmaxGradMatchesFiniteDifferences) {
  for (int64_t axis : {int64_t(-1), int64_t(0)}) {
    Tensor x = doubles({3, 4}, sequence<double>(12, -2, 2, 21));
    Tensor w = doubles({3, 4}, sequence<double>(12, -1, 1, 22));
    Tensor y(DType::Float64, {3, 4}), dx(DType::Float64, {3, 4});
    Attributes axisAttr = attrs({{"axis", axis}});
    auto loss = [&] {
      EXPECT_EQ(call("softmax", {&x}, {&y}, axisAttr).run(), "");
      return dot(y.values<double>(), w.values<double>());
    };
    std::vector<double> expected = finiteDifference(x, loss);
    loss();
    ASSERT_EQ(call("softmax_grad", {&y, &w}, {&dx}, axisAttr).run(), "");
    expectNear(dx.values<double>(), expected, kGradientTolerance, "softmax_grad");
  }
}

TEST(CpuKernelGradientTest, LayerNormGradMatchesFiniteDifferences) {
  Tensor x = doubles({2, 3, 4}, sequence<double>(24, -2, 3, 31));
  Tensor g = doubles({4}, sequence<double>(4, 0.5, 1.5, 32));
  Tensor b = doubles({4}, sequence<double>(4, -1, 1, 33));
  Tensor w = doubles({2, 3, 4}, sequence<double>(24, -1, 1, 34));
  Tensor y(DType::Float64, {2, 3, 4});
  Attributes attributes = attrs({{"axis", int64_t(-1)}, {"epsilon", 1e-5}});
  auto loss = [&] {
    EXPECT_EQ(call("layer_norm", {&x, &g, &b}, {&y}, attributes).run(), "");
    return dot(y.values<double>(), w.values<double>());
  };
  std::vector<double> dxExpected = finiteDifference(x, loss);
  std::vector<double> dgExpected = finiteDifference(g, loss);
  std::vector<double> dbExpected = finiteDifference(b, loss);
  Tensor dx(DType::Float64, {2, 3, 4}), dg(DType::Float64, {4}), db(DType::Float64, {4});
  ASSERT_EQ(call("layer_norm_grad", {&x, &g, &w}, {&dx, &dg, &db}, attributes).run(), "");
  expectNear(dx.values<double>(), dxExpected, kGradientTolerance, "input_grad");
  expectNear(dg.values<double>(), dgExpected, kGradientTolerance, "scale_grad");
  expectNear(db.values<double>(), dbExpected, kGradientTolerance, "bias_grad");

  Tensor wrongScale(DType::Float64, {3, 4});
  EXPECT_EQ(call("layer_norm_grad", {&x, &g, &w}, {&dx, &wrongScale, &db}, attributes).check(),
            "scale_grad must be float64 4, got float64 3x4");
}

TEST(CpuKernelGradientTest, GeluGradMatchesFiniteDifferences) {
  for (bool tanhForm : {false, true}) {
    Tensor x = doubles({9}, {-4, -2, -0.7, -0.1, 0, 0.3, 1, 2.5, 5});
    Tensor w = doubles({9}, sequence<double>(9, -1, 1, 41));
    Tensor y(DType::Float64, {9}), dx(DType::Float64, {9});
    Attributes attributes = attrs({{"tanh_approximation", tanhForm}});
    auto loss = [&] {
      EXPECT_EQ(call("gelu", {&x}, {&y}, attributes).run(), "");
      return dot(y.values<double>(), w.values<double>());
    };
    std::vector<double> expected = finiteDifference(x, loss);
    ASSERT_EQ(call("gelu_grad", {&x, &w}, {&dx}, attributes).run(), "");
    expectNear(dx.values<double>(), expected, kGradientTolerance, "gelu_grad");
  }
}

TEST(CpuKernelCrossEntropyTest, SumSkipsIgnoredPositions) {
  Tensor logits = doubles({2, 2, 3}, {1, 2, 3, 0, 0, 0, 1000, 0, -1000, 5, 5, 6});
  Tensor labels = int64s({2, 2}, {2, -100, 0, 1});
  Tensor loss(DType::Float64, {});
  ASSERT_EQ(call("cross_entropy_sum", {&logits, &labels}, {&loss}).run(), "");
  auto term = [](std::vector<double> row, int label) {
    double max = std::max({row[0], row[1], row[2]});
    double sum = 0;
    for (double v : row)
      sum += std::exp(v - max);
    return max + std::log(sum) - row[label];
  };
  double expected = term({1, 2, 3}, 2) + term({1000, 0, -1000}, 0) + term({5, 5, 6}, 1);
  EXPECT_NEAR(loss.values<double>()[0], expected, 1e-12);

  Tensor ignoreZero = int64s({2, 2}, {2, 0, 0, 1});
  ASSERT_EQ(call("cross_entropy_sum", {&logits, &ignoreZero}, {&loss},
                 attrs({{"ignore_index", int64_t(0)}}))
                .run(),
            "");
  EXPECT_NEAR(loss.values<double>()[0], term({1, 2, 3}, 2) + term({5, 5, 6}, 1), 1e-12);

  Tensor bad = int64s({2, 2}, {2, -100, 3, 1});
  EXPECT_EQ(call("cross_entropy_sum", {&logits, &bad}, {&loss}).run(),
            "label 3 at position 2 is out of range for 3 classes");
  Tensor shortLabels(DType::Int64, {2});
  EXPECT_EQ(call("cross_entropy_sum", {&logits, &shortLabels}, {&loss}).check(),
            "labels must have shape 2x2, got int64 2");
}

TEST(CpuKernelCrossEntropyTest, GradMatchesFiniteDifferencesAndFloat32) {
  Tensor logits = doubles({3, 5}, sequence<double>(15, -3, 3, 51));
  Tensor labels = int32s({3}, {4, -100, 0});
  Tensor loss(DType::Float64, {});
  auto value = [&] {
    EXPECT_EQ(call("cross_entropy_sum", {&logits, &labels}, {&loss}).run(), "");
    return loss.values<double>()[0];
  };
  std::vector<double> expected = finiteDifference(logits, value);
  for (double &e : expected)
    e *= 0.25;
  Tensor lossGrad = doubles({}, {0.25});
  Tensor grad(DType::Float64, {3, 5});
  ASSERT_EQ(call("cross_entropy_sum_grad", {&logits, &labels, &lossGrad}, {&grad}).run(), "");
  expectNear(grad.values<double>(), expected, kGradientTolerance, "logits_grad");

  // f32 agrees with the f64 result to float precision, on a vocab-sized row.
  int64_t rows = 4, classes = 3000;
  std::vector<double> wide = sequence<double>(rows * classes, -8, 8, 52);
  Tensor l64 = doubles({rows, classes}, wide);
  Tensor l32 = floats({rows, classes}, std::vector<float>(wide.begin(), wide.end()));
  Tensor ids = int64s({rows}, {0, 2999, 17, 1234});
  Tensor s64(DType::Float64, {}), s32(DType::Float32, {});
  ASSERT_EQ(call("cross_entropy_sum", {&l64, &ids}, {&s64}).run(), "");
  ASSERT_EQ(call("cross_entropy_sum", {&l32, &ids}, {&s32}).run(), "");
  EXPECT_NEAR(s32.values<float>()[0], s64.values<double>()[0], 1e-4);
}

/// PyTorch's AdamW step (torch.optim.AdamW, single-tensor path) in double.
void referenceAdamW(std::vector<double> &p, const std::vector<double> &g, std::vector<double> &m,
                    std::vector<double> &v, int64_t step, double lr, double beta1, double beta2,
                    double eps, double wd) {
  for (size_t i = 0; i < p.size(); ++i) {
    p[i] *= 1 - lr * wd;
    m[i] = beta1 * m[i] + (1 - beta1) * g[i];
    v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
    double mHat = m[i] / (1 - std::pow(beta1, double(step)));
    double vHat = v[i] / (1 - std::pow(beta2, double(step)));
    p[i] -= lr * mHat / (std::sqrt(vHat) + eps);
  }
}

TEST(CpuKernelOptimizerTest, AdamWUpdatesInPlace) {
  const double lr = 1e-2, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, wd = 0.1;
  Attributes attributes = attrs({{"learning_rate", lr}, {"beta1", beta1}, {"beta2", beta2},
                                 {"epsilon", eps}, {"weight_decay", wd}});
  std::vector<double> p = sequence<double>(6, -1, 1, 61), m(6, 0.0), v(6, 0.0);
  Tensor param = doubles({2, 3}, p), moment1(DType::Float64, {2, 3}), moment2(DType::Float64, {2, 3});
  Tensor param32 = floats({2, 3}, std::vector<float>(p.begin(), p.end()));
  Tensor m32(DType::Float32, {2, 3}), v32(DType::Float32, {2, 3});
  for (int64_t t = 1; t <= 3; ++t) {
    std::vector<double> g = sequence<double>(6, -0.5, 0.5, 70 + t);
    Tensor grad = doubles({2, 3}, g), step = int64s({}, {t});
    Tensor grad32 = floats({2, 3}, std::vector<float>(g.begin(), g.end()));
    // The plan passes the same tensors as inputs and outputs.
    ASSERT_EQ(call("adamw_update", {&param, &grad, &moment1, &moment2, &step},
                   {&param, &moment1, &moment2}, attributes)
                  .run(),
              "");
    ASSERT_EQ(call("adamw_update", {&param32, &grad32, &m32, &v32, &step},
                   {&param32, &m32, &v32}, attributes)
                  .run(),
              "");
    referenceAdamW(p, g, m, v, t, lr, beta1, beta2, eps, wd);
  }
  expectNear(param.values<double>(), p, 1e-14, "param");
  expectNear(moment1.values<double>(), m, 1e-15, "m");
  expectNear(moment2.values<double>(), v, 1e-15, "v");
  expectNear(param32.values<float>(), std::vector<float>(p.begin(), p.end()), 1e-6, "param f32");

  Tensor grad(DType::Float64, {2, 3}), zero = int64s({}, {0});
  EXPECT_EQ(call("adamw_update", {&param, &grad, &moment1, &moment2, &zero},
                 {&param, &moment1, &moment2}, attributes)
                .run(),
            "adamw step 0 must be at least 1");
  EXPECT_EQ(call("adamw_update", {&param, &grad, &moment1, &moment2, &zero},
                 {&param, &moment1, &moment2}, attrs({{"learning_rate", lr}}))
                .check(),
            "attribute 'beta1' is required");
}

TEST(CpuKernelOptimizerTest, SGDUpdatesInPlace) {
  Tensor param = doubles({3}, {1, -2, 3}), grad = doubles({3}, {0.5, 0.5, -1});
  ASSERT_EQ(call("sgd_update", {&param, &grad}, {&param},
                 attrs({{"learning_rate", 0.1}, {"weight_decay", 0.01}}))
                .run(),
            "");
  std::vector<double> expected = {1 - 0.1 * (0.5 + 0.01 * 1), -2 - 0.1 * (0.5 - 0.02),
                                  3 - 0.1 * (-1 + 0.03)};
  expectNear(param.values<double>(), expected, 1e-15);
}

TEST(CpuKernelOptimizerTest, ScheduledLearningRateOperandReplacesTheAttribute) {
  Tensor param = doubles({2}, {1, -2}), grad = doubles({2}, {0.5, -1});
  Tensor rate = doubles({}, {0.25});
  ASSERT_EQ(call("sgd_update", {&param, &grad, &rate}, {&param},
                 attrs({{"learning_rate", 100.0}, {"weight_decay", 0.0}}))
                .run(),
            "");
  expectNear(param.values<double>(), {1 - 0.25 * 0.5, -2 + 0.25}, 0);

  Tensor wrongRate = floats({}, {0.25});
  EXPECT_EQ(call("sgd_update", {&param, &grad, &wrongRate}, {&param},
                 attrs({{"learning_rate", 1.0}, {"weight_decay", 0.0}}))
                .check(),
            "scheduled_lr must be float64, got float32 scalar");
}

TEST(CpuKernelClippingTest, GlobalNormCoversEveryElementOfEveryInput) {
  Tensor a = floats({2, 2}, {1, -2, 3, 0.5f}), b = doubles({3}, {-4, 1e-3, 2});
  double expected = std::sqrt(1.0 + 4 + 9 + 0.25 + 16 + 1e-6 + 4);
  Tensor norm(DType::Float64, {}), norm32(DType::Float32, {});
  ASSERT_EQ(call("global_norm", {&a, &b}, {&norm}).run(), "");
  EXPECT_EQ(norm.values<double>()[0], expected);
  ASSERT_EQ(call("global_norm", {&a, &b}, {&norm32}).run(), "");
  EXPECT_EQ(norm32.values<float>()[0], float(expected));

  // Many elements: chunked partial sums still give the exact sum of squares.
  Tensor ones = doubles({100003}, std::vector<double>(100003, 0.5));
  ASSERT_EQ(call("global_norm", {&ones}, {&norm}).run(), "");
  EXPECT_DOUBLE_EQ(norm.values<double>()[0], std::sqrt(100003 * 0.25));

  Tensor integers = int64s({2}, {1, 2});
  EXPECT_EQ(call("global_norm", {&a, &integers}, {&norm}).check(),
            "input 1 must be float32 or float64, got int64 2");
  EXPECT_EQ(call("global_norm", {}, {&norm}).check(),
            "expects at least 1 input and 1 output, got 0 and 1");
}

TEST(CpuKernelClippingTest, ClipCoefficientIsTorchsClampedRatio) {
  Tensor coefficient(DType::Float64, {});
  for (double value : {4.0, 1.0, 0.5, 0.0}) {
    Tensor norm = doubles({}, {value});
    ASSERT_EQ(call("clip_coefficient", {&norm}, {&coefficient}, attrs({{"max_norm", 1.0}})).run(),
              "");
    // torch: clamp(max_norm / (total_norm + 1e-6), max=1.0)
    EXPECT_EQ(coefficient.values<double>()[0], std::min(1.0, 1.0 / (value + 1e-6))) << value;
  }
  Tensor nan = doubles({}, {std::nan("")});
  ASSERT_EQ(call("clip_coefficient", {&nan}, {&coefficient}, attrs({{"max_norm", 1.0}})).run(),
            "");
  EXPECT_TRUE(std::isnan(coefficient.values<double>()[0]));
  EXPECT_EQ(call("clip_coefficient", {&nan}, {&coefficient}, attrs({{"max_norm", -2.0}})).check(),
            "max_norm must be positive and finite, got -2.000000");
}

/// Hugging Face's lr lambdas (transformers.optimization), transcribed from
/// their Python for the test: the factor LambdaLR multiplies the base rate by.
double referenceFactor(const std::string &kind, int64_t s, int64_t w, int64_t t, double minRate) {
  if (s < w)
    return double(s) / double(std::max<int64_t>(1, w));
  if (kind == "constant")
    return 1.0;
  if (kind == "linear") {
    double linear = std::max(0.0, double(t - s) / double(std::max<int64_t>(1, t - w)));
    return minRate > 0 ? minRate + (1.0 - minRate) * linear : linear;
  }
  double progress = double(s - w) / double(std::max<int64_t>(1, t - w));
  double factor = 0.5 * (1.0 + std::cos(M_PI * 0.5 * 2.0 * progress));
  return std::max(0.0, factor * (1 - minRate) + minRate);
}

TEST(CpuKernelScheduleTest, LRScheduleFollowsHuggingFaceWithWarmup) {
  struct Case {
    const char *kind;
    int64_t warmup, total;
    double minLr;
  };
  const double lr = 0.002;
  for (Case c : {Case{"constant", 3, 0, 0}, Case{"constant", 0, 0, 0}, Case{"linear", 3, 10, 0},
                 Case{"linear", 0, 10, 2e-4}, Case{"cosine", 3, 10, 0},
                 Case{"cosine", 2, 10, 5e-4}, Case{"cosine", 10, 10, 0}}) {
    Attributes attributes =
        attrs({{"kind", std::string(c.kind)}, {"warmup_steps", c.warmup},
               {"total_steps", c.total}, {"learning_rate", lr}, {"min_learning_rate", c.minLr}});
    for (int64_t s = 0; s <= 13; ++s) {
      Tensor steps = int64s({}, {s}), rate(DType::Float64, {});
      ASSERT_EQ(call("lr_schedule", {&steps}, {&rate}, attributes).run(), "");
      double expected = lr * referenceFactor(c.kind, s, c.warmup, c.total, c.minLr / lr);
      EXPECT_EQ(rate.values<double>()[0], expected) << c.kind << " step " << s;
    }
  }
  // Spot values that need no formula: warmup halfway, the linear end, the
  // cosine midpoint, the floor.
  auto rateAt = [&](const char *kind, int64_t w, int64_t t, double minLr, int64_t s) {
    Tensor steps = int64s({}, {s}), rate(DType::Float64, {});
    EXPECT_EQ(call("lr_schedule", {&steps}, {&rate},
                   attrs({{"kind", std::string(kind)}, {"warmup_steps", w}, {"total_steps", t},
                          {"learning_rate", 1.0}, {"min_learning_rate", minLr}}))
                  .run(),
              "");
    return rate.values<double>()[0];
  };
  EXPECT_EQ(rateAt("linear", 4, 8, 0, 2), 0.5);
  EXPECT_EQ(rateAt("linear", 4, 8, 0, 6), 0.5);
  EXPECT_EQ(rateAt("linear", 4, 8, 0, 9), 0.0);
  EXPECT_EQ(rateAt("linear", 0, 8, 0.25, 8), 0.25);
  EXPECT_NEAR(rateAt("cosine", 0, 8, 0, 4), 0.5, 1e-15);
  EXPECT_NEAR(rateAt("cosine", 0, 8, 0.1, 8), 0.1, 1e-15);

  Tensor steps = int64s({}, {0}), rate(DType::Float64, {});
  EXPECT_EQ(call("lr_schedule", {&steps}, {&rate},
                 attrs({{"kind", std::string("step")}, {"warmup_steps", int64_t(0)},
                        {"total_steps", int64_t(1)}, {"learning_rate", 1.0},
                        {"min_learning_rate", 0.0}}))
                .check(),
            "unknown schedule kind 'step'; expected constant, linear or cosine");
  EXPECT_EQ(call("lr_schedule", {&steps}, {&rate},
                 attrs({{"kind", std::string("linear")}, {"warmup_steps", int64_t(5)},
                        {"total_steps", int64_t(4)}, {"learning_rate", 1.0},
                        {"min_learning_rate", 0.0}}))
                .check(),
            "schedule steps out of range: warmup 5, total 4");
}

} // namespace
