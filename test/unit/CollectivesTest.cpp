//===- CollectivesTest.cpp - communicators, the layout, collective kernels ===//
//
// The sequence layout against hand-written positions; the single-process
// communicator; and the collective kernels on 2 and 4 ranks run as threads of
// this process over a loopback communicator, so that their packing and
// zigzag reordering are checked without MPI (test/integration checks MPI).
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

std::vector<double> positions(int64_t count, double offset = 0) {
  std::vector<double> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    values[size_t(i)] = offset + double(i);
  return values;
}

//===----------------------------------------------------------------------===//
// SequenceLayout
//===----------------------------------------------------------------------===//

TEST(SequenceLayoutTest, ShardsOfEightPositions) {
  // 8 positions of a [1, 8] tensor (values = positions).
  std::vector<double> whole = positions(8);
  auto shardOf = [&](SequenceLayout layout, int rank) {
    std::vector<double> shard(size_t(8 / layout.ranks));
    layout.extractShard(whole.data(), shard.data(), {1, 8}, 1, rank, sizeof(double));
    return shard;
  };
  // Contiguous: rank r holds the r-th of N pieces.
  EXPECT_EQ(shardOf({2, false}, 1), (std::vector<double>{4, 5, 6, 7}));
  EXPECT_EQ(shardOf({4, false}, 2), (std::vector<double>{4, 5}));
  // Zigzag, 2 ranks: 4 chunks of 2; rank 0 holds chunks 0 and 3, rank 1
  // chunks 1 and 2.
  EXPECT_EQ(shardOf({2, true}, 0), (std::vector<double>{0, 1, 6, 7}));
  EXPECT_EQ(shardOf({2, true}, 1), (std::vector<double>{2, 3, 4, 5}));
  // Zigzag, 4 ranks: 8 chunks of 1; rank r holds r and 7 - r.
  EXPECT_EQ(shardOf({4, true}, 0), (std::vector<double>{0, 7}));
  EXPECT_EQ(shardOf({4, true}, 3), (std::vector<double>{3, 4}));
  // One rank holds everything, in order, zigzag or not.
  EXPECT_EQ(shardOf({1, true}, 0), whole);
}

TEST(SequenceLayoutTest, MiddleAxisPackAndUnpack) {
  // [2, 4, 3]: two rows of 4 positions of 3 features; 100 * row + 10 * position + feature.
  std::vector<int32_t> whole;
  for (int row = 0; row < 2; ++row)
    for (int position = 0; position < 4; ++position)
      for (int feature = 0; feature < 3; ++feature)
        whole.push_back(100 * row + 10 * position + feature);
  SequenceLayout zigzag{2, true};
  std::vector<int32_t> ranksMajor(whole.size());
  zigzag.packRanks(whole.data(), ranksMajor.data(), {2, 4, 3}, 1, sizeof(int32_t));
  // Rank 0: positions 0 and 3 of both rows, then rank 1: positions 1 and 2.
  EXPECT_EQ(ranksMajor,
            (std::vector<int32_t>{0,  1,  2,  30, 31, 32, 100, 101, 102, 130, 131, 132,
                                  10, 11, 12, 20, 21, 22, 110, 111, 112, 120, 121, 122}));
  std::vector<int32_t> back(whole.size(), -1);
  zigzag.unpackRanks(ranksMajor.data(), back.data(), {2, 4, 3}, 1, sizeof(int32_t));
  EXPECT_EQ(back, whole);

  // insertShard leaves the other ranks' positions alone.
  std::vector<int32_t> shard = {-1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12};
  std::vector<int32_t> placed = whole;
  zigzag.insertShard(shard.data(), placed.data(), {2, 4, 3}, 1, 1, sizeof(int32_t));
  EXPECT_EQ(placed,
            (std::vector<int32_t>{0,   1,   2,   -1, -2, -3, -4,  -5,  -6,  30,  31,  32,
                                  100, 101, 102, -7, -8, -9, -10, -11, -12, 130, 131, 132}));
}

TEST(SequenceLayoutTest, RankMajorAndSplits) {
  EXPECT_TRUE((SequenceLayout{4, false}).isRankMajor({1, 8, 3}, 1));
  EXPECT_FALSE((SequenceLayout{4, false}).isRankMajor({2, 8, 3}, 1));
  EXPECT_TRUE((SequenceLayout{4, false}).isRankMajor({8, 3}, 0));
  EXPECT_FALSE((SequenceLayout{4, true}).isRankMajor({8, 3}, 0));
  EXPECT_TRUE((SequenceLayout{1, true}).isRankMajor({2, 8, 3}, 1));
  EXPECT_EQ((SequenceLayout{4, true}).checkSplits(16), "");
  EXPECT_EQ((SequenceLayout{4, true}).checkSplits(12),
            "a dim of size 12 does not split into 8 zigzag chunks for 4 ranks");
  EXPECT_EQ((SequenceLayout{3, false}).checkSplits(10),
            "a dim of size 10 does not split into 3 chunks for 3 ranks");
}

//===----------------------------------------------------------------------===//
// SingleProcessCommunicator
//===----------------------------------------------------------------------===//

TEST(SingleProcessCommunicatorTest, CollectivesCopy) {
  SingleProcessCommunicator alone;
  EXPECT_EQ(alone.rank(), 0);
  EXPECT_EQ(alone.size(), 1);
  EXPECT_STREQ(alone.backend(), "single");
  std::vector<float> send = {1, 2, 3, 4};
  for (auto collective : {&Communicator::allGather, &Communicator::reduceScatter,
                          &Communicator::allReduce, &Communicator::allToAll}) {
    std::vector<float> receive(4, 0);
    EXPECT_EQ((alone.*collective)(send.data(), receive.data(), 4, DType::Float32), "");
    EXPECT_EQ(receive, send);
  }
  std::vector<int64_t> integers = {5, -6}, shifted(2);
  EXPECT_EQ(alone.sendReceive(integers.data(), 0, shifted.data(), 0, 2, DType::Int64), "");
  EXPECT_EQ(shifted, integers);

  CollectiveRequest request;
  std::vector<double> doubles = {0.5}, summed = {0};
  EXPECT_EQ(alone.startAllReduce(doubles.data(), summed.data(), 1, DType::Float64, request), "");
  EXPECT_EQ(alone.wait(request), "");
  EXPECT_EQ(summed, doubles);
  EXPECT_EQ(request.id, -1);
}

TEST(SingleProcessCommunicatorTest, Errors) {
  SingleProcessCommunicator alone;
  std::vector<uint8_t> flags = {1, 0}, out(2);
  EXPECT_EQ(alone.allReduce(flags.data(), out.data(), 2, DType::Bool),
            "cannot sum bool elements across ranks (float32, float64, int64 or int32)");
  EXPECT_EQ(alone.allGather(flags.data(), out.data(), 2, DType::Bool), "");
  EXPECT_EQ(alone.sendReceive(flags.data(), 1, out.data(), 0, 2, DType::Bool),
            "rank 1 does not exist in a run of 1 rank");
  // Alone, agreeing changes nothing.
  EXPECT_EQ(alone.agree(""), "");
  EXPECT_EQ(alone.agree("x.npy: cannot open"), "x.npy: cannot open");
}

/// Rank 0 of 2 whose peer has stopped: every collective times out, as the
/// stream communicator's waits do under --timeout.
class StoppedPeerCommunicator final : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  const char *backend() const override { return "stopped-peer"; }
  std::string startAllGather(const void *, void *, int64_t, DType, CollectiveRequest &) override {
    return kStuck;
  }
  std::string startReduceScatter(const void *, void *, int64_t, DType,
                                 CollectiveRequest &) override {
    return kStuck;
  }
  std::string startAllReduce(const void *, void *, int64_t, DType, CollectiveRequest &) override {
    return kStuck;
  }
  std::string startAllToAll(const void *, void *, int64_t, DType, int,
                            CollectiveRequest &) override {
    return kStuck;
  }
  std::string startSendReceive(const void *, int, void *, int, int64_t, DType,
                               CollectiveRequest &) override {
    return kStuck;
  }
  std::string wait(CollectiveRequest &) override { return ""; }
  [[noreturn]] void abort(int exitCode) override { std::_Exit(exitCode); }

  static constexpr const char *kStuck = "all_gather made no progress for 2 s on rank 0";
};

TEST(CommunicatorTest, AnAgreementThatCannotCompleteLeavesTheRanksOutOfStep) {
  // sp-run ends the job by abort() then: returning would wait for the
  // stopped rank in the teardown.
  StoppedPeerCommunicator stuck;
  EXPECT_FALSE(stuck.outOfStep());
  EXPECT_EQ(stuck.agree(""), std::string("cannot agree on the outcome among the ranks: ") +
                                 StoppedPeerCommunicator::kStuck);
  EXPECT_TRUE(stuck.outOfStep());
  SingleProcessCommunicator alone;
  EXPECT_EQ(alone.agree("x.npy: cannot open"), "x.npy: cannot open");
  EXPECT_FALSE(alone.outOfStep());
}

//===----------------------------------------------------------------------===//
// Collective kernels on ranks that are threads
//===----------------------------------------------------------------------===//

/// One kernel per rank, each on its own thread, with the rank's context;
/// returns each rank's message ("" on success). `setUp(rank)` gives each
/// rank its call.
std::vector<std::string> runOnRanks(int ranks, const std::function<KernelCall(int)> &setUp,
                                    std::vector<PendingCollectives> *pending = nullptr) {
  LoopbackGroup group(ranks);
  std::vector<PendingCollectives> ownPending(static_cast<size_t>(ranks));
  if (!pending)
    pending = &ownPending;
  std::vector<std::string> messages(static_cast<size_t>(ranks));
  std::vector<KernelCall> calls;
  std::vector<LoopbackCommunicator> communicators;
  std::vector<ExecutionContext> contexts;
  for (int rank = 0; rank < ranks; ++rank) {
    calls.push_back(setUp(rank));
    communicators.emplace_back(group, rank);
  }
  for (int rank = 0; rank < ranks; ++rank)
    contexts.push_back({rank, ranks, &communicators[size_t(rank)], &(*pending)[size_t(rank)]});
  // Checked first: a rank that skipped the run would leave the others waiting.
  bool checked = true;
  for (int rank = 0; rank < ranks; ++rank) {
    KernelArgs shapes = calls[size_t(rank)].args(false);
    shapes.context = &contexts[size_t(rank)];
    if (std::string message = findCpuKernel(calls[size_t(rank)].name)->check(shapes);
        !message.empty()) {
      messages[size_t(rank)] = "check: " + message;
      checked = false;
    }
  }
  if (!checked)
    return messages;
  std::vector<std::thread> threads;
  for (int rank = 0; rank < ranks; ++rank) {
    threads.emplace_back([&, rank] {
      KernelArgs data = calls[size_t(rank)].args(true);
      data.context = &contexts[size_t(rank)];
      messages[size_t(rank)] = findCpuKernel(calls[size_t(rank)].name)->run(data);
    });
  }
  for (std::thread &thread : threads)
    thread.join();
  return messages;
}

/// The [2, S, 3] tensor 1000 * batch + 10 * position + feature.
std::vector<double> batchPositionFeature(int64_t sequence) {
  std::vector<double> values;
  for (int b = 0; b < 2; ++b)
    for (int64_t s = 0; s < sequence; ++s)
      for (int f = 0; f < 3; ++f)
        values.push_back(1000.0 * b + 10.0 * double(s) + f);
  return values;
}

/// Rank r's zigzag shard of batchPositionFeature(2 * chunk * ranks): the
/// positions of chunks r and 2N - 1 - r.
std::vector<double> zigzagShard(int rank, int ranks, int64_t chunk) {
  std::vector<double> values;
  for (int b = 0; b < 2; ++b)
    for (int64_t c : {int64_t(rank), int64_t(2 * ranks - 1 - rank)})
      for (int64_t s = c * chunk; s < (c + 1) * chunk; ++s)
        for (int f = 0; f < 3; ++f)
          values.push_back(1000.0 * b + 10.0 * double(s) + f);
  return values;
}

class CollectiveKernelTest : public ::testing::TestWithParam<int> {};

TEST_P(CollectiveKernelTest, AllGatherZigzagReturnsTheWholeInSequenceOrder) {
  int ranks = GetParam();
  int64_t sequence = 4 * ranks;
  std::vector<Tensor> inputs, outputs(size_t(ranks), Tensor(DType::Float64, {2, sequence, 3}));
  for (int rank = 0; rank < ranks; ++rank)
    inputs.push_back(doubles({2, 4, 3}, zigzagShard(rank, ranks, 2)));
  Attributes attributes =
      attrs({{"axis", int64_t(1)}, {"num_ranks", int64_t(ranks)}, {"zigzag", true}});
  auto gather = [&](const char *kernel, std::vector<PendingCollectives> *pending) {
    for (const std::string &message : runOnRanks(
             ranks,
             [&](int rank) {
               return call(kernel, {&inputs[size_t(rank)]}, {&outputs[size_t(rank)]}, attributes);
             },
             pending))
      EXPECT_EQ(message, "") << kernel;
  };
  gather("all_gather", nullptr);
  for (int rank = 0; rank < ranks; ++rank)
    EXPECT_EQ(outputs[size_t(rank)].values<double>(), batchPositionFeature(sequence))
        << "rank " << rank;

  // Started, the bytes arrive rank-major and the wait puts them in order.
  std::vector<PendingCollectives> pending(static_cast<size_t>(ranks));
  outputs.assign(size_t(ranks), Tensor(DType::Float64, {2, sequence, 3}));
  gather("all_gather_start", &pending);
  for (const std::string &message : runOnRanks(
           ranks,
           [&](int rank) {
             return call("wait", {&outputs[size_t(rank)]}, {&outputs[size_t(rank)]});
           },
           &pending))
    EXPECT_EQ(message, "");
  for (int rank = 0; rank < ranks; ++rank)
    EXPECT_EQ(outputs[size_t(rank)].values<double>(), batchPositionFeature(sequence))
        << "started, rank " << rank;
}

TEST_P(CollectiveKernelTest, ReduceScatterSumsTheRanksShards) {
  int ranks = GetParam();
  int64_t sequence = 4 * ranks;
  // Rank q contributes (q + 1) * whole: rank r gets its zigzag chunks of
  // N (N + 1) / 2 * whole.
  std::vector<Tensor> inputs, outputs(size_t(ranks), Tensor(DType::Float64, {2, 4, 3}));
  for (int rank = 0; rank < ranks; ++rank) {
    std::vector<double> whole = batchPositionFeature(sequence);
    for (double &value : whole)
      value *= rank + 1;
    inputs.push_back(doubles({2, sequence, 3}, whole));
  }
  Attributes attributes =
      attrs({{"axis", int64_t(-2)}, {"num_ranks", int64_t(ranks)}, {"zigzag", true}});
  std::vector<std::string> messages = runOnRanks(ranks, [&](int rank) {
    return call("reduce_scatter", {&inputs[size_t(rank)]}, {&outputs[size_t(rank)]}, attributes);
  });
  for (int rank = 0; rank < ranks; ++rank) {
    EXPECT_EQ(messages[size_t(rank)], "");
    std::vector<double> expected = zigzagShard(rank, ranks, 2);
    for (double &value : expected)
      value *= ranks * (ranks + 1) / 2;
    EXPECT_EQ(outputs[size_t(rank)].values<double>(), expected) << "rank " << rank;
  }
}

TEST_P(CollectiveKernelTest, AllToAllAndBackContiguousAndZigzag) {
  int ranks = GetParam();
  for (bool zigzag : {false, true}) {
    // [2, 4, 2N] per rank (a sequence shard of all heads) -> [2, 4N, 2] (all
    // of the sequence for 2 heads) -> back. The sequence (dim 1) may be
    // zigzag; the heads stay contiguous.
    std::vector<Tensor> inputs, middles(size_t(ranks), Tensor(DType::Float64, {2, 4 * ranks, 2}));
    std::vector<Tensor> backs(size_t(ranks), Tensor(DType::Float64, {2, 4, 2 * ranks}));
    for (int rank = 0; rank < ranks; ++rank)
      inputs.push_back(doubles({2, 4, 2 * ranks}, positions(2 * 4 * 2 * ranks, 1000.0 * rank)));
    Attributes forward = attrs(
        {{"split_axis", int64_t(2)}, {"concat_axis", int64_t(1)}, {"num_ranks", int64_t(ranks)}});
    Attributes backward = attrs(
        {{"split_axis", int64_t(1)}, {"concat_axis", int64_t(2)}, {"num_ranks", int64_t(ranks)}});
    if (zigzag) {
      forward.set("zigzag_axis", int64_t(1));
      backward.set("zigzag_axis", int64_t(1));
    }
    std::vector<std::string> messages = runOnRanks(ranks, [&](int rank) {
      return call("all_to_all", {&inputs[size_t(rank)]}, {&middles[size_t(rank)]}, forward);
    });
    for (const std::string &message : messages)
      EXPECT_EQ(message, "");
    // Rank r's heads of the sequence held by rank q lie at q's positions.
    SequenceLayout layout{ranks, zigzag}, headLayout{ranks, false};
    for (int rank = 0; rank < ranks; ++rank) {
      std::vector<double> middle = middles[size_t(rank)].values<double>();
      for (int q = 0; q < ranks; ++q) {
        std::vector<double> heads(2 * 4 * 2), expected(2 * 4 * 2);
        layout.extractShard(middle.data(), heads.data(), {2, 4 * ranks, 2}, 1, q, sizeof(double));
        headLayout.extractShard(inputs[size_t(q)].bytes.data(), expected.data(), {2, 4, 2 * ranks},
                                2, rank, sizeof(double));
        EXPECT_EQ(heads, expected) << "zigzag " << zigzag << " rank " << rank << " from " << q;
      }
    }
    messages = runOnRanks(ranks, [&](int rank) {
      return call("all_to_all", {&middles[size_t(rank)]}, {&backs[size_t(rank)]}, backward);
    });
    for (int rank = 0; rank < ranks; ++rank) {
      EXPECT_EQ(messages[size_t(rank)], "");
      EXPECT_EQ(backs[size_t(rank)].values<double>(), inputs[size_t(rank)].values<double>());
    }
  }
}

TEST_P(CollectiveKernelTest, StartedCollectivesCompleteAtTheirWait) {
  int ranks = GetParam();
  // all_reduce_start and ring_shift_start in flight, then waited in the
  // opposite order, through each rank's table of pending collectives.
  std::vector<PendingCollectives> pending(static_cast<size_t>(ranks));
  std::vector<Tensor> inputs, sums(size_t(ranks), Tensor(DType::Int64, {3})),
      shifted(size_t(ranks), Tensor(DType::Int64, {3}));
  for (int rank = 0; rank < ranks; ++rank)
    inputs.push_back(int64s({3}, {rank, 10 * rank, -1}));
  auto started = [&](const char *kernel, std::vector<Tensor> &futures, Attributes attributes) {
    return runOnRanks(
        ranks,
        [&](int rank) {
          return call(kernel, {&inputs[size_t(rank)]}, {&futures[size_t(rank)]}, attributes);
        },
        &pending);
  };
  for (const std::string &message :
       started("all_reduce_start", sums, attrs({{"num_ranks", int64_t(ranks)}})))
    EXPECT_EQ(message, "");
  for (const std::string &message :
       started("ring_shift_start", shifted,
               attrs({{"num_ranks", int64_t(ranks)}, {"offset", int64_t(-1)}})))
    EXPECT_EQ(message, "");
  for (std::vector<Tensor> *futures : {&shifted, &sums})
    for (const std::string &message : runOnRanks(
             ranks,
             [&](int rank) {
               Tensor *future = &(*futures)[size_t(rank)];
               return call("wait", {future}, {future});
             },
             &pending))
      EXPECT_EQ(message, "");
  int64_t total = int64_t(ranks) * (ranks - 1) / 2;
  for (int rank = 0; rank < ranks; ++rank) {
    EXPECT_EQ(sums[size_t(rank)].values<int64_t>(),
              (std::vector<int64_t>{total, 10 * total, -ranks}));
    // Offset -1: rank r receives from rank r + 1.
    int from = (rank + 1) % ranks;
    EXPECT_EQ(shifted[size_t(rank)].values<int64_t>(), (std::vector<int64_t>{from, 10 * from, -1}));
  }
  // A second wait finds nothing in flight.
  std::vector<std::string> again = runOnRanks(
      ranks, [&](int rank) { return call("wait", {&sums[size_t(rank)]}, {&sums[size_t(rank)]}); },
      &pending);
  EXPECT_EQ(again[0], "no started collective writes its future (a wait without a start, or a "
                      "second wait)");
}

TEST_P(CollectiveKernelTest, ShardSliceAndUnslice) {
  int ranks = GetParam();
  Tensor whole = doubles({2, 4 * ranks, 3}, batchPositionFeature(4 * ranks));
  std::vector<Tensor> slices(size_t(ranks), Tensor(DType::Float64, {2, 4, 3}));
  std::vector<Tensor> unslices(size_t(ranks), Tensor(DType::Float64, {2, 4 * ranks, 3}));
  Attributes attributes =
      attrs({{"axis", int64_t(1)}, {"num_ranks", int64_t(ranks)}, {"zigzag", true}});
  runOnRanks(ranks, [&](int rank) {
    return call("shard_slice", {&whole}, {&slices[size_t(rank)]}, attributes);
  });
  runOnRanks(ranks, [&](int rank) {
    return call("shard_unslice", {&slices[size_t(rank)]}, {&unslices[size_t(rank)]}, attributes);
  });
  std::vector<double> sum(size_t(whole.numElements()), 0);
  for (int rank = 0; rank < ranks; ++rank) {
    EXPECT_EQ(slices[size_t(rank)].values<double>(), zigzagShard(rank, ranks, 2));
    std::vector<double> unsliced = unslices[size_t(rank)].values<double>();
    for (size_t i = 0; i < sum.size(); ++i)
      sum[i] += unsliced[i];
  }
  // The unslices of all ranks sum to the whole.
  EXPECT_EQ(sum, whole.values<double>());
}

INSTANTIATE_TEST_SUITE_P(Ranks, CollectiveKernelTest, ::testing::Values(2, 4));

TEST(CollectiveKernelCheckTest, RanksLayoutAndTypes) {
  LoopbackGroup group(2);
  LoopbackCommunicator communicator(group, 0);
  PendingCollectives pending;
  ExecutionContext twoRanks{0, 2, &communicator, &pending};
  auto check = [&](KernelCall call, const ExecutionContext *context) {
    KernelArgs args = call.args(false);
    args.context = context;
    return findCpuKernel(call.name)->check(args);
  };
  Tensor shard(DType::Float32, {2, 3, 4}), whole(DType::Float32, {2, 6, 4});
  Attributes gather = attrs({{"axis", int64_t(1)}, {"num_ranks", int64_t(2)}});
  EXPECT_EQ(check(call("all_gather", {&shard}, {&whole}, gather), &twoRanks), "");
  // Outside a session, or in one of another size, num_ranks must match.
  EXPECT_EQ(check(call("all_gather", {&shard}, {&whole}, gather), nullptr),
            "num_ranks 2 differs from the 1 rank of this run");
  ExecutionContext fourRanks{0, 4, &communicator, &pending};
  EXPECT_EQ(check(call("all_gather", {&shard}, {&whole}, gather), &fourRanks),
            "num_ranks 2 differs from the 4 ranks of this run");
  // A zigzag shard is two chunks: 3 positions are not.
  Attributes zigzag = attrs({{"axis", int64_t(1)}, {"num_ranks", int64_t(2)}, {"zigzag", true}});
  EXPECT_EQ(check(call("all_gather_start", {&shard}, {&whole}, zigzag), &twoRanks),
            "the whole 2x6x4, dim 1: a dim of size 6 does not split into 4 zigzag chunks for 2 "
            "ranks");
  Tensor wrong(DType::Float32, {2, 5, 4});
  EXPECT_EQ(check(call("all_gather", {&shard}, {&wrong}, gather), &twoRanks),
            "result must be float32 2x6x4, got float32 2x5x4");
  Tensor flags(DType::Bool, {4}), flagsOut(DType::Bool, {4});
  EXPECT_EQ(check(call("all_reduce", {&flags}, {&flagsOut}, attrs({{"num_ranks", int64_t(2)}})),
                  &twoRanks),
            "input: cannot sum bool elements across ranks (float32, float64, int64 or int32)");
  EXPECT_EQ(check(call("ring_shift", {&flags}, {&flagsOut}, attrs({{"num_ranks", int64_t(2)}})),
                  &twoRanks),
            "attribute 'offset' is required");
  Tensor heads(DType::Float32, {2, 3, 4}), gathered(DType::Float32, {2, 6, 2});
  EXPECT_EQ(check(call("all_to_all", {&heads}, {&gathered},
                       attrs({{"split_axis", int64_t(2)},
                              {"concat_axis", int64_t(3)},
                              {"num_ranks", int64_t(2)}})),
                  &twoRanks),
            "concat_axis 3 is out of range for float32 2x3x4");
}

} // namespace
