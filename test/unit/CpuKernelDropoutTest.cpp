//===- CpuKernelDropoutTest.cpp - the dropout kernel ---------------------===//
//
// The mask is sp/Semantics/Random.h's, keyed by the context's seed and step,
// the op's site and each element's index in the whole tensor; a shard's rows
// are placed by `positions`. Kept values are x * (1 / (1 - p)) in the
// tensor's type and dropped ones x * 0, as PyTorch's `input * noise`.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelTesting.h"

#include "sp/Semantics/Random.h"

#include <cmath>
#include <limits>

using namespace sp::runtime;
using namespace sp::runtime::testing;

namespace {

Attributes dropoutAttributes(double ratio, int64_t site) {
  return attrs({{"ratio", ratio}, {"site", site}});
}

TEST(CpuKernelDropoutTest, KeepsByPhiloxAndScalesAsPyTorch) {
  // Rows of 513: most start and end inside a group of four and a batch of
  // blocks drawn at once.
  constexpr int64_t kRows = 128, kCount = kRows * 513;
  Tensor x = floats({kRows, kCount / kRows}, sequence<float>(kCount, 0.5, 2.0, 3));
  Tensor y(DType::Float32, x.shape);
  ExecutionContext context;
  context.seed = 42;
  context.step = 9;
  KernelCall dropout = call("dropout", {&x, nullptr}, {&y}, dropoutAttributes(0.25, 3));
  dropout.context = &context;
  ASSERT_EQ(dropout.run(), "");
  sp::semantics::DropoutKey key{42, 9, 3};
  uint32_t threshold = sp::semantics::dropoutKeepThreshold(0.25);
  float scale = 1.0f / float(1.0 - 0.25);
  std::vector<float> in = x.values<float>(), out = y.values<float>();
  int64_t kept = 0;
  for (int64_t i = 0; i < kCount; ++i) {
    bool keep = sp::semantics::dropoutKeeps(key, uint64_t(i), threshold);
    kept += keep;
    ASSERT_EQ(out[size_t(i)], keep ? in[size_t(i)] * scale : 0.0f) << i;
  }
  // Binomial: within 6 standard deviations of 3/4 kept.
  double share = double(kept) / kCount;
  EXPECT_NEAR(share, 0.75, 6 * std::sqrt(0.25 * 0.75 / kCount));
}

TEST(CpuKernelDropoutTest, RatioZeroIsTheIdentityAndOneIsTimesZero) {
  double nan = std::numeric_limits<double>::quiet_NaN();
  double inf = std::numeric_limits<double>::infinity();
  Tensor x = doubles({6}, {1.5, -2.0, nan, inf, -0.0, 3.0});
  Tensor y(DType::Float64, {6});
  ASSERT_EQ(call("dropout", {&x, nullptr}, {&y}, dropoutAttributes(0.0, 0)).run(), "");
  std::vector<double> identity = y.values<double>();
  EXPECT_EQ(identity[0], 1.5);
  EXPECT_EQ(identity[1], -2.0);
  EXPECT_TRUE(std::isnan(identity[2]));
  EXPECT_EQ(identity[3], inf);
  EXPECT_TRUE(std::signbit(identity[4]));
  // p = 1: torch returns input * 0, so NaN and infinity give NaN.
  ASSERT_EQ(call("dropout", {&x, nullptr}, {&y}, dropoutAttributes(1.0, 0)).run(), "");
  std::vector<double> zeros = y.values<double>();
  EXPECT_EQ(zeros[0], 0.0);
  EXPECT_TRUE(std::signbit(zeros[1]));
  EXPECT_TRUE(std::isnan(zeros[2]));
  EXPECT_TRUE(std::isnan(zeros[3]));
  EXPECT_EQ(zeros[5], 0.0);
}

TEST(CpuKernelDropoutTest, SeedStepAndSiteKeyTheMask) {
  Tensor x = floats({1024}, sequence<float>(1024, 1, 2, 5));
  auto draw = [&](uint64_t seed, int64_t step, int64_t site) {
    Tensor y(DType::Float32, {1024});
    ExecutionContext context;
    context.seed = seed;
    context.step = step;
    KernelCall dropout = call("dropout", {&x, nullptr}, {&y}, dropoutAttributes(0.5, site));
    dropout.context = &context;
    EXPECT_EQ(dropout.run(), "");
    return y.values<float>();
  };
  std::vector<float> reference = draw(1, 0, 0);
  EXPECT_EQ(draw(1, 0, 0), reference);
  EXPECT_NE(draw(2, 0, 0), reference);
  EXPECT_NE(draw(1, 1, 0), reference);
  EXPECT_NE(draw(1, 0, 1), reference);
}

// A shard of [batch 2, sequence 8, 3] over 2 ranks in the zigzag layout
// (rank 0 holds positions 0, 1, 6, 7; rank 1 holds 2..5) draws the whole
// tensor's mask at its rows, with the sequence as its own dim and merged
// with the batch ([16, 3] split into [2 x 4, 3] per rank).
TEST(CpuKernelDropoutTest, ShardsDrawTheWholeTensorsMask) {
  constexpr int64_t kBatch = 2, kSequence = 8, kHidden = 3;
  Tensor whole = floats({kBatch, kSequence, kHidden},
                        sequence<float>(kBatch * kSequence * kHidden, 1, 2, 7));
  Tensor wholeResult(DType::Float32, whole.shape);
  ASSERT_EQ(call("dropout", {&whole, nullptr}, {&wholeResult}, dropoutAttributes(0.5, 2)).run(),
            "");
  std::vector<float> in = whole.values<float>(), expected = wholeResult.values<float>();
  const std::vector<std::vector<int64_t>> layouts = {{0, 1, 6, 7}, {2, 3, 4, 5}};
  for (const std::vector<int64_t> &rows : layouts) {
    std::vector<float> local, localExpected;
    for (int64_t b = 0; b < kBatch; ++b)
      for (int64_t s : rows)
        for (int64_t h = 0; h < kHidden; ++h) {
          local.push_back(in[size_t((b * kSequence + s) * kHidden + h)]);
          localExpected.push_back(expected[size_t((b * kSequence + s) * kHidden + h)]);
        }
    Tensor positions = int64s({4}, rows);
    for (bool merged : {false, true}) {
      Shape shape = merged ? Shape{kBatch * 4, kHidden} : Shape{kBatch, 4, kHidden};
      Tensor x = floats(shape, local), y(DType::Float32, shape);
      Attributes attributes = dropoutAttributes(0.5, 2);
      attributes.set("sequence_axis", int64_t(merged ? 0 : 1));
      attributes.set("sequence_length", kSequence);
      ASSERT_EQ(call("dropout", {&x, &positions}, {&y}, attributes).run(), "");
      EXPECT_EQ(y.values<float>(), localExpected)
          << "rows " << rows[0] << (merged ? ", merged" : "");
    }
  }
}

TEST(CpuKernelDropoutTest, MicroBatchesDrawTheWholeBatchsMask) {
  // Batch 4 in two slices of 2 along dim 0: slice k draws rows [2k, 2k + 2).
  constexpr int64_t kBatch = 4, kSequence = 5, kHidden = 3, kSliceElements = 2 * kSequence * kHidden;
  Tensor whole = floats({kBatch, kSequence, kHidden},
                        sequence<float>(kBatch * kSequence * kHidden, 1, 2, 7));
  Tensor wholeResult(DType::Float32, whole.shape);
  ASSERT_EQ(call("dropout", {&whole, nullptr}, {&wholeResult}, dropoutAttributes(0.5, 1)).run(),
            "");
  std::vector<float> in = whole.values<float>(), expected = wholeResult.values<float>();
  for (int64_t slice = 0; slice < 2; ++slice) {
    auto begin = size_t(slice * kSliceElements), end = begin + size_t(kSliceElements);
    Tensor x = floats({2, kSequence, kHidden}, std::vector<float>(in.begin() + begin, in.begin() + end));
    Tensor y(DType::Float32, x.shape);
    Attributes attributes = dropoutAttributes(0.5, 1);
    attributes.set("micro_batch", slice);
    ASSERT_EQ(call("dropout", {&x, nullptr}, {&y}, attributes).run(), "");
    EXPECT_EQ(y.values<float>(),
              std::vector<float>(expected.begin() + begin, expected.begin() + end))
        << "slice " << slice;
  }
}

TEST(CpuKernelDropoutTest, RefusesBadPlans) {
  Tensor x = floats({2, 4}, sequence<float>(8, 0, 1));
  Tensor y(DType::Float32, {2, 4});
  Tensor ints = int64s({2, 4}, std::vector<int64_t>(8, 1)), intsOut(DType::Int64, {2, 4});
  EXPECT_NE(call("dropout", {&ints, nullptr}, {&intsOut}, dropoutAttributes(0.5, 0)).check(), "");
  EXPECT_EQ(call("dropout", {&x, nullptr}, {&y}, dropoutAttributes(1.5, 0)).check(),
            "ratio 1.500000 is not in [0, 1]");
  Tensor positions = int64s({3}, {0, 1, 2});
  Attributes attributes = dropoutAttributes(0.5, 0);
  attributes.set("sequence_axis", int64_t(1));
  attributes.set("sequence_length", int64_t(8));
  EXPECT_EQ(call("dropout", {&x, &positions}, {&y}, attributes).check(),
            "3 positions do not divide dim 1 of float32 2x4 within a sequence of 8");
  EXPECT_EQ(call("dropout", {&x, &positions}, {&y}, dropoutAttributes(0.5, 0)).check(),
            "positions, sequence_axis and sequence_length go together");
}

} // namespace
