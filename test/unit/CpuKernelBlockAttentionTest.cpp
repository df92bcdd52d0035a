//===- CpuKernelBlockAttentionTest.cpp - attention between sequence blocks ===//
//
// block_attention and block_attention_grad against attention and
// attention_grad: with the positions of a bottom-right causal mask they must
// agree, and with any other positions they must agree with attention under
// the equivalent -inf bias. The logsumexp's gradient, which only the block
// form takes, against finite differences; rows that see no key.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelTesting.h"

#include <cmath>
#include <limits>

using namespace sp::runtime;
using namespace sp::runtime::testing;

namespace {

/// query [B, Hq, Sq, D], key/value [B, Hkv, Sk, D], positions and a
/// weighting of each result for a scalar loss.
struct BlockCase {
  int64_t batch, queryHeads, kvHeads, sq, sk, d;
  std::vector<int64_t> queryPositions, keyPositions;
  bool causal = true;
  double scale = 0.41;
  /// Dropout on the probabilities (0: none), site 2.
  double dropout = 0;
  /// Logit soft-capping (0: none).
  double softcap = 0;

  Shape queryShape() const { return {batch, queryHeads, sq, d}; }
  Shape keyShape() const { return {batch, kvHeads, sk, d}; }
  Shape rowsShape() const { return {batch, queryHeads, sq}; }
  Attributes attributes(bool withCausal = true) const {
    Attributes attributes = attrs({{"scale", scale}, {"causal", withCausal && causal}});
    if (dropout > 0) {
      attributes.set("dropout_ratio", dropout);
      attributes.set("dropout_site", int64_t(2));
    }
    if (softcap > 0)
      attributes.set("softcap", softcap);
    return attributes;
  }
};

int64_t count(const Shape &shape) {
  int64_t total = 1;
  for (int64_t dim : shape)
    total *= dim;
  return total;
}

struct BlockInputs {
  Tensor query, key, value, queryPositions, keyPositions, outputGrad, logsumexpGrad;

  BlockInputs(const BlockCase &c, uint64_t seed) {
    auto random = [&](const Shape &shape, uint64_t offset) {
      return doubles(shape, sequence<double>(count(shape), -1, 1, seed + offset));
    };
    query = random(c.queryShape(), 0);
    key = random(c.keyShape(), 1);
    value = random(c.keyShape(), 2);
    outputGrad = random(c.queryShape(), 3);
    logsumexpGrad = random(c.rowsShape(), 4);
    queryPositions = int64s({c.sq}, c.queryPositions);
    keyPositions = int64s({c.sk}, c.keyPositions);
  }
};

struct BlockResults {
  Tensor output, logsumexp, queryGrad, keyGrad, valueGrad;
  BlockResults(const BlockCase &c)
      : output(DType::Float64, c.queryShape()), logsumexp(DType::Float64, c.rowsShape()),
        queryGrad(DType::Float64, c.queryShape()), keyGrad(DType::Float64, c.keyShape()),
        valueGrad(DType::Float64, c.keyShape()) {}
};

/// block_attention, then its gradient from `logsumexpGrad` (null: zeros).
BlockResults runBlock(const BlockCase &c, BlockInputs &in, Tensor *logsumexpGrad,
                      Tensor *bias = nullptr) {
  BlockResults r(c);
  std::vector<Tensor *> forward = {&in.query, &in.key, &in.value, &in.queryPositions,
                                   &in.keyPositions};
  if (bias)
    forward.push_back(bias);
  EXPECT_EQ(call("block_attention", forward, {&r.output, &r.logsumexp}, c.attributes()).run(), "");
  Tensor zeros(DType::Float64, c.rowsShape());
  std::vector<Tensor *> backward(forward.begin(), forward.begin() + 5);
  backward.insert(backward.end(), {&r.output, &r.logsumexp, &in.outputGrad,
                                   logsumexpGrad ? logsumexpGrad : &zeros});
  if (bias)
    backward.push_back(bias);
  EXPECT_EQ(call("block_attention_grad", backward, {&r.queryGrad, &r.keyGrad, &r.valueGrad},
                 c.attributes())
                .run(),
            "");
  return r;
}

/// attention and attention_grad with `bias` (null: none) and `causal`.
BlockResults runAttention(const BlockCase &c, BlockInputs &in, Tensor *bias, bool causal) {
  BlockResults r(c);
  Attributes attributes = c.attributes(causal);
  std::vector<Tensor *> forward = {&in.query, &in.key, &in.value};
  if (bias)
    forward.push_back(bias);
  EXPECT_EQ(call("attention", forward, {&r.output, &r.logsumexp}, attributes).run(), "");
  std::vector<Tensor *> backward = {&in.query, &in.key,      &in.value,
                                    &r.output, &r.logsumexp, &in.outputGrad};
  if (bias)
    backward.push_back(bias);
  EXPECT_EQ(
      call("attention_grad", backward, {&r.queryGrad, &r.keyGrad, &r.valueGrad}, attributes).run(),
      "");
  return r;
}

void expectSame(BlockResults &actual, BlockResults &expected, double tolerance) {
  expectNear(actual.output.values<double>(), expected.output.values<double>(), tolerance, "output");
  std::vector<double> lse = actual.logsumexp.values<double>(),
                      expectedLse = expected.logsumexp.values<double>();
  ASSERT_EQ(lse.size(), expectedLse.size());
  for (size_t i = 0; i < lse.size(); ++i) {
    if (std::isinf(expectedLse[i]))
      EXPECT_EQ(lse[i], expectedLse[i]) << "logsumexp element " << i;
    else
      EXPECT_NEAR(lse[i], expectedLse[i], tolerance) << "logsumexp element " << i;
  }
  expectNear(actual.queryGrad.values<double>(), expected.queryGrad.values<double>(), tolerance,
             "query_grad");
  expectNear(actual.keyGrad.values<double>(), expected.keyGrad.values<double>(), tolerance,
             "key_grad");
  expectNear(actual.valueGrad.values<double>(), expected.valueGrad.values<double>(), tolerance,
             "value_grad");
}

std::vector<int64_t> range(int64_t begin, int64_t end) {
  std::vector<int64_t> values;
  for (int64_t i = begin; i < end; ++i)
    values.push_back(i);
  return values;
}

TEST(CpuKernelBlockAttentionTest, ContiguousPositionsAreCausalAttention) {
  // The last Sq queries of Sk keys: attention's bottom-right causal mask.
  for (auto [sq, sk] : {std::pair<int64_t, int64_t>{5, 5}, {3, 8}}) {
    BlockCase c{2, 4, 2, sq, sk, 3, range(sk - sq, sk), range(0, sk)};
    BlockInputs in(c, 5);
    BlockResults block = runBlock(c, in, nullptr);
    BlockResults attention = runAttention(c, in, nullptr, true);
    SCOPED_TRACE("Sq " + std::to_string(sq) + " Sk " + std::to_string(sk));
    expectSame(block, attention, 1e-12);
  }
}

TEST(CpuKernelBlockAttentionTest, DropoutDrawsByPositions) {
  // Dropout indexes the probabilities by sequence positions: over the whole
  // sequence block_attention draws attention's mask, and a zigzag rank's
  // queries, whole keys and gradients included, draw the whole one's rows.
  BlockCase c{2, 4, 2, 9, 9, 3, range(0, 9), range(0, 9)};
  c.dropout = 0.3;
  BlockInputs in(c, 5);
  BlockResults block = runBlock(c, in, nullptr);
  BlockResults attention = runAttention(c, in, nullptr, true);
  expectSame(block, attention, 1e-12);

  BlockCase rows = c;
  rows.queryPositions = {2, 3, 7, 8};
  rows.sq = 4;
  BlockInputs shard(rows, 6);
  // The rows at the shard's positions of a whole [B, Hq, S, D] tensor.
  auto rowsOf = [&](const Tensor &whole) {
    std::vector<double> values = whole.values<double>(), taken;
    for (int64_t bh = 0; bh < c.batch * c.queryHeads; ++bh)
      for (int64_t position : rows.queryPositions)
        for (int64_t e = 0; e < c.d; ++e)
          taken.push_back(values[size_t((bh * c.sq + position) * c.d + e)]);
    return taken;
  };
  shard.query = doubles(rows.queryShape(), rowsOf(in.query));
  shard.outputGrad = doubles(rows.queryShape(), rowsOf(in.outputGrad));
  shard.key = in.key;
  shard.value = in.value;
  BlockResults part = runBlock(rows, shard, nullptr);
  expectNear(part.output.values<double>(), rowsOf(attention.output), 1e-12, "the rows' output");
  expectNear(part.queryGrad.values<double>(), rowsOf(attention.queryGrad), 1e-12,
             "the rows' query_grad");
}

TEST(CpuKernelBlockAttentionTest, SoftCapIsAttentions) {
  // The same soft-capped scores as attention's, forward and backward, with
  // the logsumexp's gradient zero (attention has none).
  BlockCase c{2, 4, 2, 9, 9, 3, range(0, 9), range(0, 9)};
  c.scale = 3.0;
  c.softcap = 1.1;
  BlockInputs in(c, 8);
  BlockResults block = runBlock(c, in, nullptr);
  BlockResults attention = runAttention(c, in, nullptr, true);
  expectSame(block, attention, 1e-12);
}

TEST(CpuKernelBlockAttentionTest, RowsAtTheFloatMinimumAreSoftmax) {
  // Hugging Face's mask for 2 tokens of left padding: the float minimum on
  // the first keys. Queries 0 and 1 see only those, so their rows are softmax
  // over keys at the minimum (even shares), as in attention; the block holds
  // every key, as allgather gives it.
  constexpr int64_t kSequence = 6, kPadding = 2;
  BlockCase c{2, 4, 2, kSequence, kSequence, 3, range(0, kSequence), range(0, kSequence)};
  BlockInputs in(c, 5);
  std::vector<double> mask;
  for (int64_t i = 0; i < kSequence; ++i)
    for (int64_t j = 0; j < kSequence; ++j)
      mask.push_back(j < kPadding ? std::numeric_limits<double>::lowest() : 0.0);
  Tensor bias = doubles({kSequence, kSequence}, mask);
  BlockResults block = runBlock(c, in, nullptr, &bias);
  BlockResults attention = runAttention(c, in, &bias, true);
  expectSame(block, attention, 1e-12);
  // Query 0 sees key 0 only and query 1 keys 0 and 1, all at the minimum:
  // their outputs are the mean of those values.
  std::vector<double> output = block.output.values<double>(), value = in.value.values<double>();
  for (int64_t d = 0; d < 3; ++d) {
    EXPECT_NEAR(output[size_t(d)], value[size_t(d)], 1e-12);
    EXPECT_NEAR(output[size_t(3 + d)], 0.5 * (value[size_t(d)] + value[size_t(3 + d)]), 1e-12);
  }
}

TEST(CpuKernelBlockAttentionTest, KeysTheBiasHidesAreSkippedExactly) {
  // A causal [S, S] bias at the float minimum, as Hugging Face builds it
  // from attention_mask (with 3 keys of left padding, whose rows see no key,
  // and without): each block of rows stops at the last key its bias shows.
  // That must give attention's results, and the very bits of the same bias
  // at a quarter of the minimum, where no key is skipped (but every hidden
  // score's exp is still 0). S crosses the 64-row blocks.
  constexpr int64_t kSequence = 150;
  for (int64_t padded : {0, 3}) {
    SCOPED_TRACE(std::to_string(padded) + " keys of left padding");
    BlockCase c{1, 2, 1, kSequence, kSequence, 4, range(0, kSequence), range(0, kSequence)};
    c.causal = false;
    auto mask = [&](double hidden) {
      std::vector<double> values = sequence<double>(kSequence * kSequence, -1, 1, 11);
      for (int64_t i = 0; i < kSequence; ++i)
        for (int64_t j = 0; j < kSequence; ++j)
          if (j > i || j < padded)
            values[size_t(i * kSequence + j)] = hidden;
      return doubles({kSequence, kSequence}, values);
    };
    Tensor skipped = mask(std::numeric_limits<double>::lowest());
    Tensor computed = mask(std::numeric_limits<double>::lowest() / 4);
    BlockInputs in(c, 13);
    BlockResults fast = runBlock(c, in, nullptr, &skipped);
    BlockResults slow = runBlock(c, in, nullptr, &computed);
    for (auto [a, b] : {std::pair{&fast.output, &slow.output}, {&fast.queryGrad, &slow.queryGrad},
                        {&fast.keyGrad, &slow.keyGrad}, {&fast.valueGrad, &slow.valueGrad}})
      EXPECT_EQ(a->values<double>(), b->values<double>());
    BlockResults attention = runAttention(c, in, &skipped, false);
    expectSame(fast, attention, 1e-12);
  }
}

TEST(CpuKernelBlockAttentionTest, ZigzagPositionsAreAMask) {
  // A rank's zigzag queries (chunks 0 and 3 of 4) against another rank's
  // keys (chunks 1 and 2): the causal mask is -inf where the key comes later.
  BlockCase c{1, 2, 1, 4, 4, 3, {0, 1, 6, 7}, {2, 3, 4, 5}};
  BlockInputs in(c, 9);
  std::vector<double> mask(c.sq * c.sk);
  for (int64_t i = 0; i < c.sq; ++i)
    for (int64_t j = 0; j < c.sk; ++j)
      mask[i * c.sk + j] =
          c.keyPositions[j] <= c.queryPositions[i] ? 0.0 : -std::numeric_limits<double>::infinity();
  Tensor bias = doubles({c.sq, c.sk}, mask);
  BlockResults block = runBlock(c, in, nullptr);
  BlockResults attention = runAttention(c, in, &bias, false);
  // Queries 0 and 1 see none of these keys: zero output, -inf logsumexp.
  expectSame(block, attention, 1e-12);
  EXPECT_TRUE(std::isinf(block.logsumexp.values<double>()[0]));
}

TEST(CpuKernelBlockAttentionTest, BlocksOfRowsAndUnsortedKeys) {
  // 130 query rows cross the kernel's 64-row blocks; with sorted positions
  // each block stops at its last visible key.
  BlockCase sorted{2, 2, 1, 130, 150, 5, range(20, 150), range(0, 150)};
  BlockInputs sortedInputs(sorted, 21);
  BlockResults block = runBlock(sorted, sortedInputs, nullptr);
  BlockResults attention = runAttention(sorted, sortedInputs, nullptr, true);
  expectSame(block, attention, 1e-11);
  // Keys in no order: the mask decides key by key.
  std::vector<int64_t> shuffled = range(0, 150);
  for (size_t i = 0; i < shuffled.size(); ++i)
    std::swap(shuffled[i], shuffled[(i * 7919) % shuffled.size()]);
  BlockCase unsorted{1, 2, 2, 130, 150, 4, range(10, 140), shuffled};
  BlockInputs in(unsorted, 23);
  std::vector<double> mask(unsorted.sq * unsorted.sk);
  for (int64_t i = 0; i < unsorted.sq; ++i)
    for (int64_t j = 0; j < unsorted.sk; ++j)
      mask[i * unsorted.sk + j] = shuffled[j] <= unsorted.queryPositions[i]
                                      ? 0.0
                                      : -std::numeric_limits<double>::infinity();
  Tensor bias = doubles({unsorted.sq, unsorted.sk}, mask);
  BlockResults unsortedBlock = runBlock(unsorted, in, nullptr);
  BlockResults masked = runAttention(unsorted, in, &bias, false);
  expectSame(unsortedBlock, masked, 1e-11);
}

TEST(CpuKernelBlockAttentionTest, GradientsIncludeTheLogsumexp) {
  BlockCase c{1, 2, 1, 3, 4, 2, {1, 2, 3}, {0, 1, 2, 3}};
  BlockInputs in(c, 13);
  BlockResults r = runBlock(c, in, &in.logsumexpGrad);
  std::vector<double> outputWeights = in.outputGrad.values<double>(),
                      rowWeights = in.logsumexpGrad.values<double>();
  Tensor output(DType::Float64, c.queryShape()), logsumexp(DType::Float64, c.rowsShape());
  auto loss = [&] {
    EXPECT_EQ(call("block_attention",
                   {&in.query, &in.key, &in.value, &in.queryPositions, &in.keyPositions},
                   {&output, &logsumexp}, c.attributes())
                  .run(),
              "");
    return dot(output.values<double>(), outputWeights) +
           dot(logsumexp.values<double>(), rowWeights);
  };
  expectNear(r.queryGrad.values<double>(), finiteDifference(in.query, loss), 1e-8, "query_grad");
  expectNear(r.keyGrad.values<double>(), finiteDifference(in.key, loss), 1e-8, "key_grad");
  expectNear(r.valueGrad.values<double>(), finiteDifference(in.value, loss), 1e-8, "value_grad");
}

TEST(CpuKernelBlockAttentionTest, HiddenBlockGivesZerosNotNaN) {
  // Every key after every query: the block a causal ring step skips.
  BlockCase c{1, 1, 1, 2, 3, 2, {0, 1}, {4, 5, 6}};
  BlockInputs in(c, 17);
  BlockResults r = runBlock(c, in, &in.logsumexpGrad);
  for (double value : r.output.values<double>())
    EXPECT_EQ(value, 0.0);
  for (double value : r.logsumexp.values<double>())
    EXPECT_EQ(value, -std::numeric_limits<double>::infinity());
  for (Tensor *grad : {&r.queryGrad, &r.keyGrad, &r.valueGrad})
    for (double value : grad->values<double>())
      EXPECT_EQ(value, 0.0);
}

TEST(CpuKernelBlockAttentionTest, NaNScoresMakeTheirRowsNaN) {
  // Query 0 sees only key 0, whose NaN is then its only score: the row must
  // not read as one that sees no key. Query 1 sees keys 0 and 1.
  BlockCase c{1, 1, 1, 2, 3, 2, {0, 1}, {0, 1, 2}};
  BlockInputs in(c, 19);
  in.key.data<double>()[0] = std::numeric_limits<double>::quiet_NaN();
  BlockResults r = runBlock(c, in, nullptr);
  for (double value : r.output.values<double>())
    EXPECT_TRUE(std::isnan(value));
  for (double value : r.logsumexp.values<double>())
    EXPECT_TRUE(std::isnan(value));
  // Finite inputs of a hidden row still give zeros (HiddenBlockGivesZerosNotNaN).
}

TEST(CpuKernelBlockAttentionTest, RejectsPositionsThatDoNotFit) {
  BlockCase c{1, 1, 1, 2, 3, 2, {0, 1}, {0, 1, 2}};
  BlockInputs in(c, 19);
  Tensor wrong = int64s({2}, {0, 1});
  Tensor output(DType::Float64, c.queryShape()), logsumexp(DType::Float64, c.rowsShape());
  EXPECT_EQ(call("block_attention", {&in.query, &in.key, &in.value, &in.queryPositions, &wrong},
                 {&output, &logsumexp}, c.attributes())
                .check(),
            "key_positions must have shape 3, got int64 2");
  Tensor floatPositions = doubles({2}, {0, 1});
  EXPECT_EQ(call("block_attention",
                 {&in.query, &in.key, &in.value, &floatPositions, &in.keyPositions},
                 {&output, &logsumexp}, c.attributes())
                .check(),
            "query_positions must be int64, got float64 2");
}

} // namespace
