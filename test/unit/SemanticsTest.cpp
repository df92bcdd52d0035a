//===- SemanticsTest.cpp - the op rules written once -----------------------===//
//
// sp/Semantics holds the arithmetic that type inference, the constant folder
// and the kernels share; OpContract (GradientCheckTest) checks that folder
// and kernels agree through it. These pin the rules themselves to ONNX's.
//
//===----------------------------------------------------------------------===//

#include "sp/Semantics/Arithmetic.h"
#include "sp/Semantics/Axes.h"
#include "sp/Semantics/Broadcast.h"
#include "sp/Semantics/Collectives.h"
#include "sp/Semantics/Matmul.h"
#include "sp/Semantics/Random.h"
#include "sp/Semantics/Slice.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

using namespace sp::semantics;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

void expectRange(SliceRange range, int64_t start, int64_t step, int64_t length) {
  EXPECT_EQ(range.start, start);
  EXPECT_EQ(range.step, step);
  EXPECT_EQ(range.length, length);
}

TEST(SemanticsSlice, ClampsAsOnnx) {
  expectRange(resolveSlice(0, 5, 1, 5), 0, 1, 5);
  expectRange(resolveSlice(1, -1, 1, 5), 1, 1, 3);
  expectRange(resolveSlice(-1, kMin, -1, 5), 4, -1, 5);   // reversed, whole dim
  expectRange(resolveSlice(-100, 100, 2, 5), 0, 2, 3);    // clamped both ends
  expectRange(resolveSlice(3, 1, 1, 5), 3, 1, 0);         // empty
  expectRange(resolveSlice(0, 5, 1, 0), 0, 1, 0);         // empty dim
}

TEST(SemanticsSlice, ExtremeValuesDoNotOverflow) {
  // ONNX and ONNX Runtime: one element (the first, or the last going back).
  EXPECT_EQ(resolveSlice(0, 5, kMax, 5).length, 1);
  EXPECT_EQ(resolveSlice(kMax, kMin, kMin, 5).length, 1);
  EXPECT_EQ(resolveSlice(kMax, kMin, kMin, 5).start, 4);
  EXPECT_EQ(resolveSlice(kMin, kMax, 1, 5).length, 5);
  EXPECT_EQ(resolveSlice(kMin, kMax, kMax, 5).length, 1);
}

TEST(SemanticsArithmetic, RemaindersAndDivision) {
  EXPECT_EQ(floorMod<int64_t>(7, -3), -2);
  EXPECT_EQ(floorMod<int64_t>(-7, 3), 2);
  EXPECT_EQ(truncMod<int64_t>(7, -3), 1);
  EXPECT_EQ(truncMod<int64_t>(-7, 3), -1);
  EXPECT_EQ(floorMod<int64_t>(kMin, -1), 0);
  EXPECT_EQ(truncDiv<int64_t>(kMin, -1), kMin);
  EXPECT_EQ(truncDiv<int64_t>(-7, 2), -3);
  EXPECT_DOUBLE_EQ(floorMod(-7.5, 2.0), 0.5);
  EXPECT_DOUBLE_EQ(truncMod(-7.5, 2.0), -1.5);
  EXPECT_EQ(wrapAdd<int64_t>(kMax, 1), kMin);
  EXPECT_EQ(wrapMul<int32_t>(1 << 30, 4), 0);
}

TEST(SemanticsArithmetic, NanWinsInMaxAndMin) {
  EXPECT_TRUE(std::isnan(nanMax(double(NAN), 1.0)));
  EXPECT_TRUE(std::isnan(nanMax(1.0, double(NAN))));
  EXPECT_TRUE(std::isnan(nanMin(double(NAN), 1.0)));
  EXPECT_TRUE(std::isnan(nanMin(1.0, double(NAN))));
  EXPECT_EQ(nanMax(-2.0, 3.0), 3.0);
}

TEST(SemanticsArithmetic, FloatToIntegerTruncatesAndSaturates) {
  EXPECT_EQ(saturatingCast<int64_t>(-2.7), -2);
  EXPECT_EQ(saturatingCast<int64_t>(double(INFINITY)), kMax);
  EXPECT_EQ(saturatingCast<int64_t>(-1e300), kMin);
  EXPECT_EQ(saturatingCast<int64_t>(double(NAN)), 0);
  EXPECT_EQ(saturatingCast<int32_t>(3e9), std::numeric_limits<int32_t>::max());
  // Unsigned targets: in range stays, below is 0, above is the maximum.
  EXPECT_EQ(saturatingCast<uint8_t>(5.9), 5);
  EXPECT_EQ(saturatingCast<uint8_t>(300.0), 255);
  EXPECT_EQ(saturatingCast<uint8_t>(-3.0), 0);
  EXPECT_EQ(saturatingCast<uint8_t>(255.5f), 255);
  EXPECT_EQ(saturatingCast<int8_t>(-128.9f), -128);
}

} // namespace

namespace {

std::vector<int64_t> broadcast(std::vector<std::vector<int64_t>> shapes, bool &ok,
                               int64_t unknown = -1) {
  std::vector<int64_t> result;
  ok = true;
  for (const auto &shape : shapes)
    ok = ok && sp::semantics::broadcastInto(result, shape.data(), shape.size(), unknown);
  return result;
}

TEST(SemanticsBroadcast, NumpyRules) {
  bool ok;
  EXPECT_EQ(broadcast({{2, 1, 4}, {3, 1}}, ok), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_TRUE(ok);
  EXPECT_EQ(broadcast({{}, {5}}, ok), (std::vector<int64_t>{5}));
  EXPECT_TRUE(ok);
  EXPECT_EQ(broadcast({{1, 0}, {3, 1}}, ok), (std::vector<int64_t>{3, 0}));
  EXPECT_TRUE(ok);
  broadcast({{2, 3}, {3, 2}}, ok);
  EXPECT_FALSE(ok);
  broadcast({{0}, {5}}, ok);
  EXPECT_FALSE(ok);
}

TEST(SemanticsBroadcast, UnknownDimsAsTypeInferenceSeesThem) {
  constexpr int64_t kUnknown = std::numeric_limits<int64_t>::min();
  bool ok;
  // Unknown beside n > 1 is n; beside 1 or unknown it stays unknown.
  EXPECT_EQ(broadcast({{kUnknown, 1, kUnknown}, {4, kUnknown, kUnknown}}, ok, kUnknown),
            (std::vector<int64_t>{4, kUnknown, kUnknown}));
  EXPECT_TRUE(ok);
  EXPECT_EQ(broadcast({{7, kUnknown}, {kUnknown, 1}}, ok, kUnknown),
            (std::vector<int64_t>{7, kUnknown}));
  EXPECT_TRUE(ok);
}

} // namespace

namespace {

TEST(SemanticsCollectives, ResultShapes) {
  using sp::semantics::CollectiveKind;
  using sp::semantics::collectiveResultShape;
  std::vector<int64_t> dims = {2, 8, 6};
  EXPECT_EQ(collectiveResultShape(CollectiveKind::AllGather, dims, 1, 0, 4, -1), "");
  EXPECT_EQ(dims, (std::vector<int64_t>{2, 32, 6}));
  dims = {2, 8, 6};
  EXPECT_EQ(collectiveResultShape(CollectiveKind::AllToAll, dims, 2, 1, 3, -1), "");
  EXPECT_EQ(dims, (std::vector<int64_t>{2, 24, 2}));
  dims = {2, 8, 6};
  EXPECT_EQ(collectiveResultShape(CollectiveKind::ReduceScatter, dims, 2, 0, 4, -1),
            "dim 2 of size 6 does not split into 4 equal parts");
  // Unknown dims stay unknown (type inference's `?`).
  constexpr int64_t kUnknown = std::numeric_limits<int64_t>::min();
  dims = {kUnknown, 8};
  EXPECT_EQ(collectiveResultShape(CollectiveKind::ShardSlice, dims, 0, 0, 4, kUnknown), "");
  EXPECT_EQ(dims, (std::vector<int64_t>{kUnknown, 8}));
}

} // namespace

namespace {

using Dims = std::vector<int64_t>;
constexpr int64_t kUnknownDim = std::numeric_limits<int64_t>::min();

TEST(SemanticsMatmul, NumpyRulesForVectorsAndBatches) {
  MatmulShape shape;
  ASSERT_EQ(matmulShape({2, 1, 3, 4}, {5, 4, 6}, -1, shape), ProductError::None);
  EXPECT_EQ(shape.batch, (Dims{2, 5}));
  EXPECT_EQ(shape.result, (Dims{2, 5, 3, 6}));
  EXPECT_EQ(shape.m, 3);
  EXPECT_EQ(shape.n, 6);
  EXPECT_EQ(shape.k, 4);
  // A 1-D lhs is a row, a 1-D rhs a column; neither dim stays in the result.
  ASSERT_EQ(matmulShape({4}, {3, 4, 6}, -1, shape), ProductError::None);
  EXPECT_EQ(shape.result, (Dims{3, 6}));
  ASSERT_EQ(matmulShape({3, 4}, {4}, -1, shape), ProductError::None);
  EXPECT_EQ(shape.result, (Dims{3}));
  ASSERT_EQ(matmulShape({4}, {4}, -1, shape), ProductError::None);
  EXPECT_EQ(shape.result, (Dims{}));
  EXPECT_EQ(matmulShape({}, {4}, -1, shape), ProductError::RankZero);
  EXPECT_EQ(matmulShape({2, 3}, {4, 5}, -1, shape), ProductError::ContractingDimsDiffer);
  EXPECT_EQ(matmulShape({2, 3, 4}, {3, 4, 5}, -1, shape), ProductError::BatchDimsDiffer);
}

TEST(SemanticsMatmul, UnknownDimsAsTypeInferenceSeesThem) {
  MatmulShape shape;
  ASSERT_EQ(matmulShape({kUnknownDim, 3, kUnknownDim}, {kUnknownDim, 7}, kUnknownDim, shape),
            ProductError::None);
  EXPECT_EQ(shape.result, (Dims{kUnknownDim, 3, 7}));
  EXPECT_EQ(shape.k, kUnknownDim);
  // The known contracting dim wins over an unknown one.
  ASSERT_EQ(matmulShape({2, kUnknownDim}, {5, 7}, kUnknownDim, shape), ProductError::None);
  EXPECT_EQ(shape.k, 5);
}

TEST(SemanticsMatmul, GemmTransposes) {
  GemmDims dims;
  ASSERT_EQ(gemmShape({4, 3}, {5, 4}, true, true, -1, dims), ProductError::None);
  EXPECT_EQ(dims.m, 3);
  EXPECT_EQ(dims.n, 5);
  EXPECT_EQ(dims.k, 4);
  EXPECT_EQ(gemmShape({4, 3}, {5, 4}, false, false, -1, dims),
            ProductError::ContractingDimsDiffer);
  EXPECT_EQ(gemmShape({4}, {4, 5}, false, false, -1, dims), ProductError::NotTwoDimensional);
}

TEST(SemanticsAxes, NormalizeAndReduce) {
  EXPECT_EQ(normalizeAxis(-1, 3), 2);
  EXPECT_EQ(normalizeAxis(2, 3), 2);
  EXPECT_FALSE(normalizeAxis(3, 3));
  EXPECT_FALSE(normalizeAxis(-4, 3));
  const int64_t sorted[] = {0, 2}, unsorted[] = {2, 0}, repeated[] = {1, 1}, negative[] = {-1};
  EXPECT_EQ(checkReductionAxes(sorted, 2, 3), AxesError::None);
  EXPECT_EQ(checkReductionAxes(unsorted, 2, 3), AxesError::NotSortedAndUnique);
  EXPECT_EQ(checkReductionAxes(repeated, 2, 3), AxesError::NotSortedAndUnique);
  EXPECT_EQ(checkReductionAxes(negative, 1, 3), AxesError::OutOfRange);
  EXPECT_EQ(checkReductionAxes(sorted, 2, 2), AxesError::OutOfRange);
  const int64_t shape[] = {2, kUnknownDim, 4};
  EXPECT_EQ(reducedShape(shape, 3, sorted, 2, true), (Dims{1, kUnknownDim, 1}));
  EXPECT_EQ(reducedShape(shape, 3, sorted, 2, false), (Dims{kUnknownDim}));
  // No axes: every dim.
  EXPECT_EQ(reducedShape(shape, 3, nullptr, 0, false), (Dims{}));
  EXPECT_EQ(reducedShape(shape, 3, nullptr, 0, true), (Dims{1, 1, 1}));
}

} // namespace

namespace {

using namespace sp::semantics;

void expectBlock(PhiloxBlock actual, uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3) {
  EXPECT_EQ(actual.word[0], w0);
  EXPECT_EQ(actual.word[1], w1);
  EXPECT_EQ(actual.word[2], w2);
  EXPECT_EQ(actual.word[3], w3);
}

// Random123's known-answer vectors for philox4x32 with 10 rounds (its
// tests/kat_vectors; TensorFlow's Philox tests use the same three).
TEST(SemanticsRandom, PhiloxKnownAnswers) {
  expectBlock(philox4x32_10({{0, 0, 0, 0}}, 0, 0), 0x6627e8d5, 0xe169c58d, 0xbc57ac4c,
              0x9b00dbd8);
  expectBlock(philox4x32_10({{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}}, 0xffffffff,
                            0xffffffff),
              0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd);
  expectBlock(philox4x32_10({{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}}, 0xa4093822,
                            0x299f31d0),
              0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1);
  // constexpr: a compile-time evaluation gives the same block.
  static_assert(philox4x32_10({{0, 0, 0, 0}}, 0, 0).word[0] == 0x6627e8d5u);
}

TEST(SemanticsRandom, DropoutKeyLayout) {
  // Element i uses word i % 4 of the block of counter (i / 4, site, step),
  // keyed by the seed.
  DropoutKey key{0x0123456789abcdefull, 7, 3};
  PhiloxBlock block = philox4x32_10({{5, 0, 3, 7}}, 0x89abcdef, 0x01234567);
  for (uint64_t i = 20; i < 24; ++i)
    EXPECT_EQ(dropoutUniformBits(key, i), block.word[i - 20] >> 8);
  PhiloxBlock high = philox4x32_10({{1, 2, 3, 7}}, 0x89abcdef, 0x01234567);
  EXPECT_EQ(dropoutUniformBits(key, (uint64_t(2) << 32 | 1) * 4 + 2), high.word[2] >> 8);
}

TEST(SemanticsRandom, LanesDrawWhatOneBlockDraws) {
  DropoutKey key{0xfedcba9876543210ull, 12, 5};
  uint64_t firstGroup = (uint64_t(1) << 32) - 3; // lanes cross into the counter's second word
  uint32_t words[4][8];
  dropoutBlocks<8>(key, firstGroup, words);
  for (int lane = 0; lane < 8; ++lane) {
    PhiloxBlock block = dropoutBlock(key, firstGroup + uint64_t(lane));
    for (int w = 0; w < 4; ++w)
      EXPECT_EQ(words[w][lane], block.word[w]) << "lane " << lane << " word " << w;
  }
}

TEST(SemanticsRandom, DropoutThresholdAndScale) {
  EXPECT_EQ(dropoutKeepThreshold(0.0), 1u << 24);  // keeps every element
  EXPECT_EQ(dropoutKeepThreshold(1.0), 0u);        // keeps none
  EXPECT_EQ(dropoutKeepThreshold(0.5), 1u << 23);  // u < 0.5: bits below 2^23
  // u = bits / 2^24 < 1 - ratio, exactly: 0.1 is not a multiple of 2^-24.
  uint32_t threshold = dropoutKeepThreshold(0.1);
  EXPECT_LT(double(threshold - 1) / (1 << 24), 1 - 0.1);
  EXPECT_GE(double(threshold) / (1 << 24), 1 - 0.1);
  // PyTorch's scale: 1 / (1 - p) rounded to the tensor's type.
  EXPECT_EQ(dropoutScale<float>(0.1), 1.0f / float(0.9));
  EXPECT_EQ(dropoutScale<double>(0.1), 1.0 / 0.9);
}

} // namespace
