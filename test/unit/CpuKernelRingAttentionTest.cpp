//===- CpuKernelRingAttentionTest.cpp - attention around a ring of ranks --===//
//
// ring_attention and ring_attention_grad on 2 and 4 ranks run as threads
// over a loopback communicator, against block_attention and
// block_attention_grad on the whole sequence on one rank: each rank's
// output, logsumexp and query gradient must be its shard of the whole ones,
// and its key/value gradients the shard of the whole dK/dV, in the
// contiguous and zigzag layouts, causal or not, with a bias.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelTesting.h"
#include "LoopbackCommunicator.h"

#include "sp/runtime/Collectives.h"

#include <thread>

using namespace sp::runtime;
using namespace sp::runtime::testing;
using sp::test::LoopbackCommunicator;
using sp::test::LoopbackGroup;

namespace {

/// query [B, Hq, S, D], key/value [B, Hkv, S, D]: the whole sequence.
struct RingCase {
  int64_t batch = 2, queryHeads = 4, kvHeads = 2, sequence = 16, d = 3;
  bool causal = true;
  double scale = 0.37;
  /// Dropout on the probabilities (0: none), site 1.
  double dropout = 0;
  /// Logit soft-capping (0: none).
  double softcap = 0;

  /// `extra` with scale, causal and the dropout.
  Attributes attributes(std::initializer_list<std::pair<const char *, AttributeValue>> extra) const {
    Attributes attributes = attrs(extra);
    attributes.set("scale", scale);
    attributes.set("causal", causal);
    if (dropout > 0) {
      attributes.set("dropout_ratio", dropout);
      attributes.set("dropout_site", int64_t(1));
    }
    if (softcap > 0)
      attributes.set("softcap", softcap);
    return attributes;
  }
  Shape queryShape(int64_t s) const { return {batch, queryHeads, s, d}; }
  Shape keyShape(int64_t s) const { return {batch, kvHeads, s, d}; }
  Shape rowsShape(int64_t s) const { return {batch, queryHeads, s}; }
};

std::vector<double> randomValues(const Shape &shape, uint64_t seed) {
  int64_t count = 1;
  for (int64_t dim : shape)
    count *= dim;
  return sequence<double>(count, -1, 1, seed);
}

/// Rank `rank`'s shard of `whole` along `axis` in `layout`.
Tensor shardOf(Tensor &whole, int64_t axis, const SequenceLayout &layout, int rank) {
  Shape shape = whole.shape;
  shape[size_t(axis)] /= layout.ranks;
  Tensor shard(whole.dtype, shape);
  layout.extractShard(whole.bytes.data(), shard.bytes.data(), whole.shape, axis, rank,
                      dtypeSize(whole.dtype));
  return shard;
}

/// The whole sequence's attention and gradients (block kernels, positions
/// 0..S-1), and each rank's ring_attention(_grad) with the same data.
void expectRingMatches(const RingCase &c, int ranks, bool zigzag, Tensor *bias) {
  int64_t s = c.sequence;
  Tensor query = doubles(c.queryShape(s), randomValues(c.queryShape(s), 1));
  Tensor key = doubles(c.keyShape(s), randomValues(c.keyShape(s), 2));
  Tensor value = doubles(c.keyShape(s), randomValues(c.keyShape(s), 3));
  Tensor outputGrad = doubles(c.queryShape(s), randomValues(c.queryShape(s), 4));
  Tensor logsumexpGrad = doubles(c.rowsShape(s), randomValues(c.rowsShape(s), 5));
  std::vector<int64_t> all(static_cast<size_t>(s));
  for (int64_t i = 0; i < s; ++i)
    all[size_t(i)] = i;
  Tensor positions = int64s({s}, all);
  Attributes blockAttributes = c.attributes({});

  Tensor output(DType::Float64, c.queryShape(s)), logsumexp(DType::Float64, c.rowsShape(s));
  std::vector<Tensor *> forward = {&query, &key, &value, &positions, &positions};
  if (bias)
    forward.push_back(bias);
  ASSERT_EQ(call("block_attention", forward, {&output, &logsumexp}, blockAttributes).run(), "");
  Tensor queryGrad(DType::Float64, c.queryShape(s)), keyGrad(DType::Float64, c.keyShape(s)),
      valueGrad(DType::Float64, c.keyShape(s));
  std::vector<Tensor *> backward = {&query,  &key,       &value,      &positions,    &positions,
                                    &output, &logsumexp, &outputGrad, &logsumexpGrad};
  if (bias)
    backward.push_back(bias);
  ASSERT_EQ(
      call("block_attention_grad", backward, {&queryGrad, &keyGrad, &valueGrad}, blockAttributes)
          .run(),
      "");

  SequenceLayout layout;
  layout.ranks = ranks;
  layout.zigzag = zigzag;
  Attributes ringAttributes = c.attributes({{"num_ranks", int64_t(ranks)}, {"zigzag", zigzag}});
  struct Rank {
    Tensor query, key, value, outputGrad, logsumexpGrad, bias;
    Tensor output, logsumexp, queryGrad, keyGrad, valueGrad;
  };
  int64_t local = s / ranks;
  std::vector<Rank> shards(static_cast<size_t>(ranks));
  for (int r = 0; r < ranks; ++r) {
    Rank &shard = shards[size_t(r)];
    shard.query = shardOf(query, 2, layout, r);
    shard.key = shardOf(key, 2, layout, r);
    shard.value = shardOf(value, 2, layout, r);
    shard.outputGrad = shardOf(outputGrad, 2, layout, r);
    shard.logsumexpGrad = shardOf(logsumexpGrad, 2, layout, r);
    // The bias's rows are the rank's queries; its columns stay whole.
    if (bias)
      shard.bias = shardOf(*bias, int64_t(bias->shape.size()) - 2, layout, r);
    shard.output = Tensor(DType::Float64, c.queryShape(local));
    shard.logsumexp = Tensor(DType::Float64, c.rowsShape(local));
    shard.queryGrad = Tensor(DType::Float64, c.queryShape(local));
    shard.keyGrad = Tensor(DType::Float64, c.keyShape(local));
    shard.valueGrad = Tensor(DType::Float64, c.keyShape(local));
  }

  LoopbackGroup group(ranks);
  std::vector<LoopbackCommunicator> communicators;
  std::vector<ExecutionContext> contexts;
  for (int r = 0; r < ranks; ++r)
    communicators.emplace_back(group, r);
  for (int r = 0; r < ranks; ++r)
    contexts.push_back({r, ranks, &communicators[size_t(r)], nullptr});
  std::vector<std::string> messages(static_cast<size_t>(ranks));
  auto calls = [&](int r) {
    Rank &shard = shards[size_t(r)];
    Tensor *shardBias = bias ? &shard.bias : nullptr;
    std::vector<Tensor *> ringForward = {&shard.query, &shard.key, &shard.value};
    std::vector<Tensor *> ringBackward = {&shard.query,        &shard.key,       &shard.value,
                                          &shard.output,       &shard.logsumexp, &shard.outputGrad,
                                          &shard.logsumexpGrad};
    if (shardBias) {
      ringForward.push_back(shardBias);
      ringBackward.push_back(shardBias);
    }
    return std::vector<KernelCall>{
        call("ring_attention", ringForward, {&shard.output, &shard.logsumexp}, ringAttributes),
        call("ring_attention_grad", ringBackward,
             {&shard.queryGrad, &shard.keyGrad, &shard.valueGrad}, ringAttributes)};
  };
  // Checked first: a rank that skipped the run would leave the others waiting.
  for (int r = 0; r < ranks; ++r)
    for (const KernelCall &kernelCall : calls(r)) {
      KernelArgs shapes = kernelCall.args(false);
      shapes.context = &contexts[size_t(r)];
      ASSERT_EQ(findCpuKernel(kernelCall.name)->check(shapes), "") << kernelCall.name;
    }
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      for (const KernelCall &kernelCall : calls(r)) {
        KernelArgs data = kernelCall.args(true);
        data.context = &contexts[size_t(r)];
        messages[size_t(r)] += findCpuKernel(kernelCall.name)->run(data);
      }
    });
  for (std::thread &thread : threads)
    thread.join();

  for (int r = 0; r < ranks; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    Rank &shard = shards[size_t(r)];
    EXPECT_EQ(messages[size_t(r)], "");
    expectNear(shard.output.values<double>(), shardOf(output, 2, layout, r).values<double>(), 1e-12,
               "output");
    expectNear(shard.logsumexp.values<double>(), shardOf(logsumexp, 2, layout, r).values<double>(),
               1e-12, "logsumexp");
    expectNear(shard.queryGrad.values<double>(), shardOf(queryGrad, 2, layout, r).values<double>(),
               1e-12, "query_grad");
    expectNear(shard.keyGrad.values<double>(), shardOf(keyGrad, 2, layout, r).values<double>(),
               1e-12, "key_grad");
    expectNear(shard.valueGrad.values<double>(), shardOf(valueGrad, 2, layout, r).values<double>(),
               1e-12, "value_grad");
  }
}

TEST(CpuKernelRingAttentionTest, MatchesWholeSequenceAttention) {
  for (int ranks : {1, 2, 4})
    for (bool zigzag : {false, true})
      for (bool causal : {true, false}) {
        SCOPED_TRACE(std::to_string(ranks) + " ranks, zigzag " + std::to_string(zigzag) +
                     ", causal " + std::to_string(causal));
        RingCase c;
        c.causal = causal;
        expectRingMatches(c, ranks, zigzag, nullptr);
      }
}

TEST(CpuKernelRingAttentionTest, DropoutAndSoftCapMatchTheWholeSequence) {
  // Each block draws the probabilities of its keys' positions in the whole
  // sequence: the ring's gradients are one rank's, in every layout.
  RingCase c;
  c.dropout = 0.25;
  for (int ranks : {2, 4})
    for (bool zigzag : {false, true}) {
      SCOPED_TRACE(std::to_string(ranks) + " ranks, zigzag " + std::to_string(zigzag));
      expectRingMatches(c, ranks, zigzag, nullptr);
    }
  // With a soft-cap too: each block caps its own scores.
  c.softcap = 0.9;
  c.scale = 2.0;
  for (int ranks : {2, 4})
    for (bool zigzag : {false, true}) {
      SCOPED_TRACE(std::to_string(ranks) + " ranks, zigzag " + std::to_string(zigzag));
      expectRingMatches(c, ranks, zigzag, nullptr);
    }
}

TEST(CpuKernelRingAttentionTest, BiasColumnsFollowTheBlocks) {
  // A band that keeps each query's diagonal and a random bias, [Hq, S, S]
  // and [S, 1].
  RingCase c;
  std::vector<double> band;
  for (int64_t h = 0; h < c.queryHeads; ++h)
    for (int64_t i = 0; i < c.sequence; ++i)
      for (int64_t j = 0; j < c.sequence; ++j)
        band.push_back(std::abs(i - j) <= 3 + h ? 0.1 * double(h) - 0.05 * double(j) : -1e30);
  Tensor heads = doubles({c.queryHeads, c.sequence, c.sequence}, band);
  Tensor rows = doubles({c.sequence, 1}, randomValues({c.sequence, 1}, 9));
  for (bool zigzag : {false, true}) {
    SCOPED_TRACE("zigzag " + std::to_string(zigzag));
    expectRingMatches(c, 2, zigzag, &heads);
    expectRingMatches(c, 4, zigzag, &rows);
  }
}

TEST(CpuKernelRingAttentionTest, RowsAtTheFloatMinimumAreWhatOneRankGives) {
  // Hugging Face's mask over 3 keys of left padding, at the float minimum:
  // under the causal mask queries 0..2 see only padding, so every score of
  // their rows sits at the minimum, their logsumexp loses its sum in every
  // block, and one rank gives them the mean of the values they see. Without
  // the causal mask, rows 1 and 6 are hidden from every key: at the minimum,
  // but keys 2..4 at -inf (HF GPT-2 adds its causal and padding masks, and
  // min + min overflows), which the row does not see at all. The ring must
  // give both what one rank gives, forward and backward (the logsumexp's
  // gradient included), in every layout.
  RingCase c;
  double hidden = std::numeric_limits<double>::lowest();
  std::vector<double> leftPadding, hiddenRows;
  for (int64_t i = 0; i < c.sequence; ++i)
    for (int64_t j = 0; j < c.sequence; ++j) {
      leftPadding.push_back(j < 3 ? hidden : 0.01 * double(i - j));
      bool overflows = j >= 2 && j <= 4;
      hiddenRows.push_back(i == 1 || i == 6
                               ? (overflows ? -std::numeric_limits<double>::infinity() : hidden)
                               : 0.02 * double(j));
    }
  Tensor padding = doubles({c.sequence, c.sequence}, leftPadding);
  Tensor rows = doubles({1, c.sequence, c.sequence}, hiddenRows);
  for (int ranks : {2, 4})
    for (bool zigzag : {false, true}) {
      SCOPED_TRACE(std::to_string(ranks) + " ranks, zigzag " + std::to_string(zigzag));
      c.causal = true;
      expectRingMatches(c, ranks, zigzag, &padding);
      c.causal = false;
      expectRingMatches(c, ranks, zigzag, &rows);
    }
}

TEST(CpuKernelRingAttentionTest, ChecksTheRing) {
  RingCase c;
  Tensor query(DType::Float64, c.queryShape(8)), key(DType::Float64, c.keyShape(8));
  Tensor shortKey(DType::Float64, c.keyShape(6));
  Tensor output(DType::Float64, c.queryShape(8)), logsumexp(DType::Float64, c.rowsShape(8));
  Tensor bias(DType::Float64, {8, 12});
  Attributes one = attrs({{"scale", 0.5}, {"num_ranks", int64_t(1)}});
  EXPECT_EQ(call("ring_attention", {&query, &key, &key}, {&output, &logsumexp},
                 attrs({{"scale", 0.5}, {"num_ranks", int64_t(2)}}))
                .check(),
            "num_ranks 2 differs from the 1 rank of this run");
  EXPECT_EQ(
      call("ring_attention", {&query, &shortKey, &shortKey}, {&output, &logsumexp}, one).check(),
      "the rank's 8 queries and 6 keys must be the same block of the sequence");
  EXPECT_EQ(call("ring_attention", {&query, &key, &key, &bias}, {&output, &logsumexp}, one).check(),
            "bias float64 8x12 must have 1 or 8 key columns (the whole sequence)");
}

} // namespace
