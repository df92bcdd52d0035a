//===- SessionRanksTest.cpp - sessions on several ranks -------------------===//
//
// Sessions of a plan for 2 ranks, the ranks being threads over a loopback
// communicator: whole inputs are split, split outputs gathered, a failure on
// one rank fails the step on both with one message, and the C API reports
// the rank of a plan run alone.
//
//===----------------------------------------------------------------------===//

#include "LoopbackCommunicator.h"
#include "RuntimeTestSupport.h"

#include "sp/runtime/Collectives.h"
#include "sp/runtime/Session.h"
#include "sp/runtime/sp_runtime.h"

#include <functional>
#include <thread>

using namespace sp::runtime;
using sp::test::LoopbackCommunicator;
using sp::test::LoopbackGroup;

namespace {

class SessionRanksTest : public sp::test::ScratchDirectoryTest {
protected:
  /// y = all_gather(x) and z = neg(x) for x [2, 4] split along dim 1 of the
  /// whole [2, 8] in the zigzag layout of 2 ranks; y is whole, z split.
  /// With `unpadded` > 0 the whole sequence is padded: x and z bind
  /// `unpadded` of its 8 positions.
  std::string writePlan(int64_t unpadded = 0) {
    sp::test::PlanBuilder builder;
    builder.plan.set_world_size(2);
    builder.plan.set_zigzag(true);
    int x = builder.arena(sp::plan::F64, {2, 4}, "x");
    int y = builder.arena(sp::plan::F64, {2, 8}, "y");
    int z = builder.arena(sp::plan::F64, {2, 4}, "z");
    sp::plan::Instruction &gather = builder.instruction("all_gather", {x}, {y});
    (*gather.mutable_attributes())["axis"].set_i(1);
    (*gather.mutable_attributes())["num_ranks"].set_i(2);
    (*gather.mutable_attributes())["zigzag"].set_b(true);
    builder.instruction("neg", {x}, {z});
    builder.input("x", x);
    builder.output("y", y);
    builder.output("z", z);
    for (sp::plan::Binding *binding :
         {builder.plan.mutable_inputs(0), builder.plan.mutable_outputs(1)}) {
      binding->set_sharded(true);
      binding->set_shard_axis(1);
      binding->set_unpadded_length(unpadded);
    }
    std::string error;
    EXPECT_TRUE(builder.write(file("ranks.spplan"), error)) << error;
    return file("ranks.spplan");
  }

  /// What one rank saw of a step: the first error, and the outputs y and z.
  struct RankStep {
    std::string error;
    std::vector<double> y, z;
  };

  /// On 2 ranks: loads `path`, lets `inspect` look at the session, sets the
  /// whole input x of `shape`, runs a step and reads y and z whole.
  std::vector<RankStep> stepOnTwoRanks(const std::string &path, const std::vector<double> &x,
                                       const std::vector<int64_t> &shape,
                                       const std::function<void(int, Session &)> &inspect) {
    std::vector<RankStep> steps(2);
    onTwoRanks([&](int rank, std::shared_ptr<Communicator> communicator) {
      RankStep &step = steps[size_t(rank)];
      std::unique_ptr<Session> session = Session::load(path, communicator, step.error);
      if (!session)
        return;
      inspect(rank, *session);
      step.error = session->setInput("x", DType::Float64, shape, x.data(), x.size() * sizeof(double));
      NpyArray y, z;
      if (step.error.empty())
        step.error = session->runStep();
      if (step.error.empty())
        step.error = session->output("y", y);
      if (step.error.empty())
        step.error = session->output("z", z);
      for (auto [array, values] : {std::pair{&y, &step.y}, std::pair{&z, &step.z}}) {
        values->resize(array->data.size() / sizeof(double));
        std::memcpy(values->data(), array->data.data(), values->size() * sizeof(double));
      }
    });
    return steps;
  }

  /// Runs `body(rank, communicator)` on 2 ranks, one thread each.
  void onTwoRanks(const std::function<void(int, std::shared_ptr<Communicator>)> &body) {
    LoopbackGroup group(2);
    std::vector<std::thread> threads;
    for (int rank = 0; rank < 2; ++rank)
      threads.emplace_back(
          [&, rank] { body(rank, std::make_shared<LoopbackCommunicator>(group, rank)); });
    for (std::thread &thread : threads)
      thread.join();
  }
};

std::vector<double> wholeX() {
  std::vector<double> values;
  for (int row = 0; row < 2; ++row)
    for (int position = 0; position < 8; ++position)
      values.push_back(10.0 * row + position);
  return values;
}

TEST_F(SessionRanksTest, WholeInputsAndOutputs) {
  std::vector<RankStep> steps =
      stepOnTwoRanks(writePlan(), wholeX(), {2, 8}, [](int rank, Session &session) {
        EXPECT_EQ(session.rank(), rank);
        EXPECT_EQ(session.worldSize(), 2);
        // Users see whole shapes.
        EXPECT_EQ(session.inputs()[0].shape, (std::vector<int64_t>{2, 8}));
        EXPECT_EQ(session.outputs()[1].shape, (std::vector<int64_t>{2, 8}));
      });
  std::vector<double> negated = wholeX();
  for (double &value : negated)
    value = -value;
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(steps[size_t(rank)].error, "") << "rank " << rank;
    EXPECT_EQ(steps[size_t(rank)].y, wholeX()) << "rank " << rank;
    EXPECT_EQ(steps[size_t(rank)].z, negated) << "rank " << rank;
  }
}

TEST_F(SessionRanksTest, PaddedSequenceInputsAndOutputs) {
  // 6 positions padded to 8: users pass and get 6; the ranks hold the zigzag
  // shards of 8, the padding zeros (the replicated all_gather shows them).
  std::vector<double> x;
  for (int row = 0; row < 2; ++row)
    for (int position = 0; position < 6; ++position)
      x.push_back(10.0 * row + position + 1);
  std::vector<RankStep> steps =
      stepOnTwoRanks(writePlan(6), x, {2, 6}, [](int, Session &session) {
        EXPECT_EQ(session.inputs()[0].shape, (std::vector<int64_t>{2, 6}));
        EXPECT_EQ(session.outputs()[0].shape, (std::vector<int64_t>{2, 8}));
        EXPECT_EQ(session.outputs()[1].shape, (std::vector<int64_t>{2, 6}));
        // The padded length is not what users pass.
        std::vector<double> padded(16, 1.0);
        EXPECT_EQ(session.setInput("x", DType::Float64, {2, 8}, padded.data(),
                                   padded.size() * sizeof(double)),
                  "input 'x': expected float64 2x6, got float64 2x8");
      });
  // all_gather puts the zigzag shards back in sequence order.
  std::vector<double> gathered, negated;
  for (int row = 0; row < 2; ++row)
    for (int position = 0; position < 8; ++position)
      gathered.push_back(position < 6 ? 10.0 * row + position + 1 : 0.0);
  for (double value : x)
    negated.push_back(-value);
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(steps[size_t(rank)].error, "") << "rank " << rank;
    EXPECT_EQ(steps[size_t(rank)].y, gathered) << "rank " << rank;
    EXPECT_EQ(steps[size_t(rank)].z, negated) << "rank " << rank;
  }
}

TEST_F(SessionRanksTest, RefusesPaddingThatDoesNotFit) {
  for (int64_t unpadded : {int64_t(8), int64_t(9), int64_t(-1)}) {
    std::string path = writePlan(unpadded);
    std::vector<std::string> errors(2);
    onTwoRanks([&](int rank, std::shared_ptr<Communicator> communicator) {
      std::unique_ptr<Session> session = Session::load(path, communicator, errors[size_t(rank)]);
      EXPECT_FALSE(session);
    });
    EXPECT_NE(errors[0].find("input 'x': unpadded_length " + std::to_string(unpadded) +
                             " is not a length in [1, 8) of dim 1 of the whole 2x8"),
              std::string::npos)
        << errors[0];
  }
}

TEST_F(SessionRanksTest, OneRanksFailureFailsTheStepOnEveryRank) {
  std::string path = writePlan();
  std::vector<std::string> errors(2);
  onTwoRanks([&](int rank, std::shared_ptr<Communicator> communicator) {
    std::string error;
    std::unique_ptr<Session> session = Session::load(path, communicator, error);
    ASSERT_TRUE(session) << error;
    // Rank 1 has no input: it still takes part in the all_gather.
    std::vector<double> x = wholeX();
    if (rank == 0)
      EXPECT_EQ(session->setInput("x", DType::Float64, {2, 8}, x.data(), x.size() * sizeof(double)),
                "");
    errors[size_t(rank)] = session->runStep();
    EXPECT_FALSE(session->hasRun());
  });
  EXPECT_EQ(errors[0], "rank 1: missing input 'x' (float64 2x8)");
  EXPECT_EQ(errors[1], errors[0]);
}

TEST_F(SessionRanksTest, LoadingAgrees) {
  std::string path = writePlan();
  std::vector<std::string> errors(2);
  onTwoRanks([&](int rank, std::shared_ptr<Communicator> communicator) {
    std::string error;
    // Rank 1 alone looks for a plan that does not exist.
    std::unique_ptr<Session> session =
        Session::load(rank == 0 ? path : file("none.spplan"), communicator, error);
    EXPECT_FALSE(session);
    errors[size_t(rank)] = error;
  });
  EXPECT_EQ(errors[0].rfind("rank 1: " + file("none.spplan") + ": ", 0), 0u) << errors[0];
  EXPECT_EQ(errors[1], errors[0]);
}

TEST_F(SessionRanksTest, AloneThePlanForTwoRanksIsRefused) {
  std::string error;
  EXPECT_FALSE(Session::load(writePlan(), std::make_shared<SingleProcessCommunicator>(), error));
  EXPECT_EQ(error, file("ranks.spplan") + ": built for 2 ranks; this run has 1");

  // A plan for one rank: rank 0 of 1 through the C API.
  sp::test::PlanBuilder builder;
  int x = builder.arena(sp::plan::F32, {2}, "x");
  int y = builder.arena(sp::plan::F32, {2}, "y");
  builder.instruction("neg", {x}, {y});
  builder.input("x", x);
  builder.output("y", y);
  ASSERT_TRUE(builder.write(file("one.spplan"), error)) << error;
  sp_session *session = nullptr;
  ASSERT_EQ(sp_session_load(file("one.spplan").c_str(), &session), SP_OK) << sp_last_error();
  EXPECT_EQ(sp_session_rank(session), 0);
  EXPECT_EQ(sp_session_world_size(session), 1);
  sp_session_free(session);
}

} // namespace
