#include "RuntimeTestSupport.h"

#include "sp/runtime/Files.h"
#include "sp/runtime/Session.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <unistd.h>

using namespace sp::runtime;
using sp::test::PlanBuilder;

namespace {

NpyArray floats(std::vector<int64_t> shape, std::vector<float> values) {
  NpyArray array;
  array.dtype = DType::Float32;
  array.shape = std::move(shape);
  array.data.resize(values.size() * sizeof(float));
  std::memcpy(array.data.data(), values.data(), array.data.size());
  return array;
}

NpyArray int64s(std::vector<int64_t> shape, std::vector<int64_t> values) {
  NpyArray array;
  array.dtype = DType::Int64;
  array.shape = std::move(shape);
  array.data.resize(values.size() * sizeof(int64_t));
  std::memcpy(array.data.data(), values.data(), array.data.size());
  return array;
}

template <typename T> std::vector<T> valuesOf(const NpyArray &array) {
  std::vector<T> values(array.data.size() / sizeof(T));
  std::memcpy(values.data(), array.data.data(), array.data.size());
  return values;
}

/// z = x @ w + b: x is the input [2, 3], w [3, 2] and b [2] are constants.
PlanBuilder affinePlan() {
  PlanBuilder builder;
  int x = builder.arena(sp::plan::F32, {2, 3}, "x");
  int w = builder.constant<float>(sp::plan::F32, {3, 2}, {1, 2, 3, 4, 5, 6}, "w");
  int b = builder.constant<float>(sp::plan::F32, {2}, {0.5f, -0.5f}, "b");
  int y = builder.arena(sp::plan::F32, {2, 2});
  int z = builder.arena(sp::plan::F32, {2, 2}, "z");
  builder.instruction("matmul", {x, w}, {y}, "node 'mm' (MatMul)");
  builder.instruction("add", {y, b}, {z}, "node 'bias' (Add)");
  builder.input("x", x);
  builder.output("z", z);
  return builder;
}

/// A training step in miniature: the gradient of p is x * p, SGD updates p
/// in place, the loss is a constant 2.5, and a step counter in the state
/// counts steps the way the optimizer's global_store does (add, then copy).
PlanBuilder trainingPlan() {
  PlanBuilder builder;
  int x = builder.arena(sp::plan::F32, {4}, "x");
  int p = builder.state<float>(sp::plan::F32, {4}, {1, 2, 3, 4}, "p");
  int counter = builder.state<int64_t>(sp::plan::I64, {}, {}, "step");
  int one = builder.constant<int64_t>(sp::plan::I64, {}, {1});
  int next = builder.arena(sp::plan::I64, {});
  int grad = builder.arena(sp::plan::F32, {4}, "p.grad");
  int loss = builder.arena(sp::plan::F32, {}, "loss");
  builder.instruction("mul", {x, p}, {grad}, "node 'grad' (Mul)");
  builder.instruction("fill", {}, {loss}).mutable_attributes()->operator[]("value").set_f(2.5);
  builder.instruction("add", {counter, one}, {next});
  builder.instruction("copy", {next}, {counter});
  auto &update = builder.instruction("sgd_update", {p, grad}, {p});
  (*update.mutable_attributes())["learning_rate"].set_f(0.125);
  (*update.mutable_attributes())["weight_decay"].set_f(0.0);
  builder.input("x", x);
  builder.parameter("p", p, grad);
  builder.plan.set_loss(loss);
  builder.plan.mutable_optimizer()->set_kind("sgd");
  builder.plan.mutable_optimizer()->set_learning_rate(0.125);
  return builder;
}

class SessionTest : public sp::test::ScratchDirectoryTest {
protected:
  std::unique_ptr<Session> load(PlanBuilder &builder, std::string &error) {
    std::string path = file("plan.spplan");
    if (!builder.write(path, error))
      return nullptr;
    return Session::load(path, error);
  }
  /// The load error of `builder`'s plan after `breakIt` changed it.
  std::string loadError(PlanBuilder builder, const std::function<void(sp::plan::Plan &)> &breakIt) {
    breakIt(builder.plan);
    std::string error;
    std::unique_ptr<Session> session = load(builder, error);
    EXPECT_EQ(session, nullptr);
    return error;
  }
  std::string planPath() const { return file("plan.spplan"); }
};

TEST_F(SessionTest, RunsAnInferencePlan) {
  PlanBuilder builder = affinePlan();
  std::string error;
  std::unique_ptr<Session> session = load(builder, error);
  ASSERT_TRUE(session) << error;
  EXPECT_FALSE(session->isTraining());
  ASSERT_EQ(session->inputs().size(), 1u);
  EXPECT_EQ(session->inputs()[0].name, "x");
  EXPECT_EQ(session->inputs()[0].describe(), "float32 2x3");
  ASSERT_EQ(session->outputs().size(), 1u);
  EXPECT_EQ(session->outputs()[0].name, "z");
  EXPECT_TRUE(std::isnan(session->loss()));

  NpyArray z;
  EXPECT_EQ(session->output("z", z), "output 'z': no step has run yet");
  EXPECT_EQ(session->runStep(), "missing input 'x' (float32 2x3)");
  ASSERT_EQ(session->setInput("x", floats({2, 3}, {1, 0, 0, 0, 1, 1})), "");
  ASSERT_EQ(session->runStep(), "");
  ASSERT_EQ(session->output("z", z), "");
  EXPECT_EQ(z.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(valuesOf<float>(z), (std::vector<float>{1.5f, 1.5f, 8.5f, 9.5f}));
  EXPECT_EQ(session->output("nope", z), "the plan has no output 'nope'");
}

TEST_F(SessionTest, InputsMustMatchExactly) {
  PlanBuilder builder = affinePlan();
  std::string error;
  std::unique_ptr<Session> session = load(builder, error);
  ASSERT_TRUE(session) << error;
  EXPECT_EQ(session->setInput("x", floats({3, 2}, {1, 2, 3, 4, 5, 6})),
            "input 'x': expected float32 2x3, got float32 3x2");
  EXPECT_EQ(session->setInput("x", int64s({2, 3}, {1, 2, 3, 4, 5, 6})),
            "input 'x': expected float32 2x3, got int64 2x3");
  EXPECT_EQ(session->setInput("y", floats({2, 3}, {1, 2, 3, 4, 5, 6})),
            "the plan has no input 'y' (its inputs: x)");
}

TEST_F(SessionTest, TrainsSavesAndResumes) {
  PlanBuilder builder = trainingPlan();
  std::string error;
  std::unique_ptr<Session> session = load(builder, error);
  ASSERT_TRUE(session) << error;
  EXPECT_TRUE(session->isTraining());
  ASSERT_EQ(session->parameters().size(), 1u);
  ASSERT_EQ(session->setInput("x", floats({4}, {1, 2, 0, -1})), "");
  NpyArray grad, p;
  EXPECT_EQ(session->gradient("p", grad), "gradient of 'p': no step has run yet");

  ASSERT_EQ(session->runStep(), "");
  EXPECT_EQ(session->loss(), 2.5);
  ASSERT_EQ(session->gradient("p", grad), "");
  EXPECT_EQ(valuesOf<float>(grad), (std::vector<float>{1, 4, 0, -4}));
  ASSERT_EQ(session->parameter("p", p), "");
  // p - 0.125 * x * p
  EXPECT_EQ(valuesOf<float>(p), (std::vector<float>{0.875f, 1.5f, 3.0f, 4.5f}));
  ASSERT_EQ(session->runStep(), "");
  EXPECT_EQ(session->stepsCompleted(), 2);

  ASSERT_EQ(session->saveState(file("ckpt")), "");
  EXPECT_TRUE(std::filesystem::exists(file("ckpt/step-0000000002/manifest.json")));
  EXPECT_TRUE(std::filesystem::exists(file("ckpt/step-0000000002/param/p.npy")));
  NpyArray counter;
  ASSERT_TRUE(readNpy(file("ckpt/step-0000000002/state/step.npy"), counter, error)) << error;
  EXPECT_EQ(valuesOf<int64_t>(counter), std::vector<int64_t>{2});

  // A fresh session resumed from the checkpoint continues where this one is.
  std::unique_ptr<Session> resumed = Session::load(planPath(), error);
  ASSERT_TRUE(resumed) << error;
  ASSERT_EQ(resumed->loadState(file("ckpt")), "");
  EXPECT_EQ(resumed->stepsCompleted(), 2);
  ASSERT_EQ(resumed->setInput("x", floats({4}, {1, 2, 0, -1})), "");
  ASSERT_EQ(resumed->runStep(), "");
  ASSERT_EQ(session->runStep(), "");
  NpyArray expected, actual;
  ASSERT_EQ(session->parameter("p", expected), "");
  ASSERT_EQ(resumed->parameter("p", actual), "");
  EXPECT_EQ(actual.data, expected.data);
  EXPECT_EQ(resumed->stepsCompleted(), 3);
}

TEST_F(SessionTest, SetParameterAndLoadStateCheckShapes) {
  PlanBuilder builder = trainingPlan();
  std::string error;
  std::unique_ptr<Session> session = load(builder, error);
  ASSERT_TRUE(session) << error;
  EXPECT_EQ(session->setParameter("p", floats({2}, {1, 2})),
            "parameter 'p': expected float32 4, got float32 2");
  ASSERT_EQ(session->setParameter("p", floats({4}, {9, 9, 9, 9})), "");
  NpyArray p;
  ASSERT_EQ(session->parameter("p", p), "");
  EXPECT_EQ(valuesOf<float>(p), (std::vector<float>{9, 9, 9, 9}));

  EXPECT_EQ(session->loadState(file("missing")),
            file("missing") + ": not a checkpoint folder (no such folder)");
  ASSERT_EQ(session->saveState(file("ckpt")), "");
  std::string wrong = file("ckpt/step-0000000000/param/p.npy");
  ASSERT_TRUE(writeNpy(wrong, floats({2}, {1, 2}), error)) << error;
  EXPECT_EQ(session->loadState(file("ckpt")),
            wrong + ": holds float32 2, the manifest says float32 4");
  // The same shape with other bytes: the checksum tells.
  ASSERT_TRUE(writeNpy(wrong, floats({4}, {9, 9, 9, 8}), error)) << error;
  EXPECT_EQ(session->loadState(file("ckpt")),
            wrong + ": checksum mismatch (the file is corrupt or was changed)");
  // A parameter that diverged to NaN is saved as it is, but not resumed.
  ASSERT_EQ(session->setParameter("p", floats({4}, {1, std::nanf(""), 3, 4})), "");
  ASSERT_EQ(session->saveState(file("diverged")), "");
  EXPECT_EQ(session->loadState(file("diverged")),
            file("diverged/step-0000000000/param/p.npy") +
                ": parameter 'p' holds NaN or infinity");
  ASSERT_EQ(session->setParameter("p", floats({4}, {9, 9, 9, 9})), "");
  // Nothing changed: the state is loaded whole or not at all.
  ASSERT_EQ(session->parameter("p", p), "");
  EXPECT_EQ(valuesOf<float>(p), (std::vector<float>{9, 9, 9, 9}));
}

TEST_F(SessionTest, ReportsRunTimeErrorsWithTheLocation) {
  PlanBuilder builder;
  int data = builder.constant<float>(sp::plan::F32, {4, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  int indices = builder.arena(sp::plan::I64, {3}, "ids");
  int out = builder.arena(sp::plan::F32, {3, 2}, "out");
  builder.instruction("gather", {data, indices}, {out}, "node 'embed' (Gather)")
      .mutable_attributes()
      ->
      operator[]("axis")
      .set_i(0);
  builder.input("ids", indices);
  builder.output("out", out);
  std::string error;
  std::unique_ptr<Session> session = load(builder, error);
  ASSERT_TRUE(session) << error;
  ASSERT_EQ(session->setInput("ids", int64s({3}, {0, 3, 1})), "");
  ASSERT_EQ(session->runStep(), "");
  ASSERT_EQ(session->setInput("ids", int64s({3}, {0, 9, 1})), "");
  error = session->runStep();
  EXPECT_EQ(error.rfind(planPath() + ": instruction 0 (gather, node 'embed' (Gather)): ", 0), 0u)
      << error;
}

TEST_F(SessionTest, CollectsKernelTimings) {
  PlanBuilder builder = affinePlan();
  std::string error;
  std::unique_ptr<Session> session = load(builder, error);
  ASSERT_TRUE(session) << error;
  ASSERT_EQ(session->setInput("x", floats({2, 3}, {1, 2, 3, 4, 5, 6})), "");
  ASSERT_EQ(session->runStep(), "");
  const std::vector<KernelTiming> &timings = session->lastStepTimings();
  ASSERT_EQ(timings.size(), 2u);
  EXPECT_EQ(timings[0].kernel, "matmul");
  EXPECT_EQ(timings[1].location, "node 'bias' (Add)");
  EXPECT_LE(timings[0].startMicroseconds, timings[1].startMicroseconds);
  EXPECT_GE(timings[1].durationMicroseconds, 0);
  EXPECT_FALSE(timings[0].waitsForCommunication);
  EXPECT_GE(session->lastStepMicroseconds(),
            timings[1].startMicroseconds + timings[1].durationMicroseconds);
  // One rank communicates nothing.
  EXPECT_TRUE(session->lastStepCommunication().empty());
}

TEST_F(SessionTest, RefusesBrokenTensors) {
  std::string prefix = planPath() + ": ";
  EXPECT_EQ(loadError(affinePlan(), [](sp::plan::Plan &plan) { plan.set_alignment(48); }),
            prefix + "alignment 48 is not a power of two from 1 to 1048576");
  EXPECT_EQ(
      loadError(affinePlan(), [](sp::plan::Plan &plan) { plan.set_alignment(uint64_t(1) << 62); }),
      prefix + "alignment 4611686018427387904 is not a power of two from 1 to 1048576");
  EXPECT_EQ(loadError(affinePlan(),
                      [](sp::plan::Plan &plan) {
                        plan.mutable_tensors(0)->set_dtype(sp::plan::DType(42));
                      }),
            prefix + "tensor 0 ('x'): unknown dtype 42");
  EXPECT_EQ(loadError(affinePlan(),
                      [](sp::plan::Plan &plan) { plan.mutable_tensors(0)->set_shape(1, -3); }),
            prefix + "tensor 0 ('x'): negative dim -3 in its shape");
  EXPECT_EQ(loadError(affinePlan(),
                      [](sp::plan::Plan &plan) {
                        plan.mutable_tensors(0)->set_shape(0, int64_t(1) << 40);
                        plan.mutable_tensors(0)->set_shape(1, int64_t(1) << 40);
                      }),
            prefix + "tensor 0 ('x'): shape 1099511627776x1099511627776 is too large");
  EXPECT_EQ(loadError(affinePlan(),
                      [](sp::plan::Plan &plan) { plan.mutable_tensors(4)->set_offset(96); }),
            prefix + "tensor 4 ('z'): arena offset 96 is not a multiple of the alignment 64 "
                     "and of its element size");
  EXPECT_EQ(loadError(affinePlan(),
                      [](sp::plan::Plan &plan) { plan.mutable_tensors(4)->set_offset(4096); }),
            prefix + "tensor 4 ('z'): bytes [4096, 4112) lie outside the arena of 192 bytes");
  EXPECT_EQ(loadError(affinePlan(), [](sp::plan::Plan &plan) { plan.set_arena_bytes(140); }),
            prefix + "tensor 4 ('z'): bytes [128, 144) lie outside the arena of 140 bytes");
  EXPECT_EQ(loadError(affinePlan(),
                      [](sp::plan::Plan &plan) {
                        plan.mutable_tensors(2)->set_sidecar_offset(uint64_t(-4));
                      }),
            prefix + "tensor 2 ('b'): sidecar bytes [18446744073709551612, +8) lie outside the "
                     "sidecar of 32 bytes");
  EXPECT_EQ(loadError(affinePlan(),
                      [](sp::plan::Plan &plan) {
                        plan.mutable_tensors(0)->set_placement(sp::plan::PLACEMENT_UNSPECIFIED);
                      }),
            prefix + "tensor 0 ('x'): placement 0 is not ARENA, STATE or CONSTANT");
  EXPECT_EQ(loadError(trainingPlan(), [](sp::plan::Plan &plan) { plan.set_state_bytes(64); }),
            prefix + "tensor 2 ('step'): bytes [64, 72) lie outside the state of 64 bytes");
}

TEST_F(SessionTest, RefusesBrokenInstructions) {
  std::string prefix = planPath() + ": ";
  EXPECT_EQ(loadError(affinePlan(),
                      [](sp::plan::Plan &plan) {
                        plan.mutable_instructions(1)->set_kernel("frobnicate");
                      }),
            prefix + "instruction 1 (frobnicate, node 'bias' (Add)): no cpu kernel 'frobnicate'");
  EXPECT_EQ(
      loadError(affinePlan(),
                [](sp::plan::Plan &plan) { plan.mutable_instructions(0)->set_inputs(1, 17); }),
      prefix + "instruction 0 (matmul, node 'mm' (MatMul)): input 1 is tensor 17, out of "
               "range (the plan has 5 tensors)");
  EXPECT_EQ(
      loadError(affinePlan(),
                [](sp::plan::Plan &plan) { plan.mutable_instructions(0)->set_outputs(0, -1); }),
      prefix + "instruction 0 (matmul, node 'mm' (MatMul)): output 0 is tensor -1, out of "
               "range (the plan has 5 tensors)");
  EXPECT_EQ(
      loadError(affinePlan(),
                [](sp::plan::Plan &plan) { plan.mutable_instructions(1)->set_outputs(0, 1); }),
      prefix + "instruction 1 (add, node 'bias' (Add)): output 0 writes CONSTANT tensor 1 "
               "('w')");
  // An attribute the kernel never reads would be silently ignored.
  EXPECT_EQ(loadError(affinePlan(),
                      [](sp::plan::Plan &plan) {
                        (*plan.mutable_instructions(0)->mutable_attributes())["transpose_b"]
                            .set_b(true);
                      }),
            prefix + "instruction 0 (matmul, node 'mm' (MatMul)): attribute 'transpose_b' is "
                     "not one the cpu kernel 'matmul' knows");
  // The kernel's own check: [2, 3] @ [2, 3] does not multiply.
  std::string error = loadError(
      affinePlan(), [](sp::plan::Plan &plan) { plan.mutable_instructions(0)->set_inputs(1, 0); });
  EXPECT_EQ(error.rfind(prefix + "instruction 0 (matmul, node 'mm' (MatMul)): ", 0), 0u) << error;
  EXPECT_GT(error.size(), (prefix + "instruction 0 (matmul, node 'mm' (MatMul)): ").size());
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

TEST_F(SessionTest, RefusesBrokenBindings) {
  std::string prefix = planPath() + ": ";
  EXPECT_EQ(loadError(affinePlan(), [](sp::plan::Plan &plan) { plan.set_world_size(4); }),
            prefix + "built for 4 ranks; this run has 1");
  EXPECT_EQ(loadError(affinePlan(), [](sp::plan::Plan &plan) { plan.set_world_size(0); }),
            prefix + "world_size 0 is not a rank count");
  EXPECT_EQ(
      loadError(affinePlan(), [](sp::plan::Plan &plan) { plan.mutable_inputs(0)->set_tensor(9); }),
      prefix + "input 'x' is tensor 9, out of range");
  EXPECT_EQ(
      loadError(affinePlan(), [](sp::plan::Plan &plan) { plan.mutable_inputs(0)->set_tensor(1); }),
      prefix + "input 'x' is CONSTANT tensor 1 ('w'); inputs live in the arena or state");
  EXPECT_EQ(
      loadError(affinePlan(), [](sp::plan::Plan &plan) { *plan.add_outputs() = plan.outputs(0); }),
      prefix + "output 'z' is bound twice");
  EXPECT_EQ(loadError(affinePlan(), [](sp::plan::Plan &plan) { plan.set_loss(4); }),
            prefix + "loss tensor 4 ('z') is float32 2x2; a loss is a float32 or float64 scalar");
  EXPECT_EQ(loadError(affinePlan(), [](sp::plan::Plan &plan) { plan.set_token_input("x"); }),
            prefix + "token input 'x' is float32 2x3; token inputs are int64 or int32 "
                     "[batch, sequence]");
  EXPECT_EQ(loadError(affinePlan(), [](sp::plan::Plan &plan) { plan.set_token_input("ids"); }),
            prefix + "token input 'ids' is not an input of the plan");
  EXPECT_EQ(loadError(trainingPlan(),
                      [](sp::plan::Plan &plan) { plan.mutable_parameters(0)->set_tensor(0); }),
            prefix + "parameter 'p' is ARENA tensor 0 ('x'); parameters live in STATE");
  EXPECT_EQ(loadError(trainingPlan(),
                      [](sp::plan::Plan &plan) { plan.mutable_parameters(0)->set_gradient(2); }),
            prefix + "parameter 'p' is float32 4 but its gradient tensor 2 ('step') is int64 "
                     "scalar");
  // A CONSTANT gradient is allowed (a loss linear in the parameter), but it
  // must still have the parameter's type.
  EXPECT_EQ(loadError(trainingPlan(),
                      [](sp::plan::Plan &plan) { plan.mutable_parameters(0)->set_gradient(3); }),
            prefix + "parameter 'p' is float32 4 but its gradient tensor 3 is int64 scalar");
  EXPECT_EQ(
      loadError(trainingPlan(),
                [](sp::plan::Plan &plan) { plan.mutable_parameters(0)->add_optimizer_state(0); }),
      prefix + "parameter 'p': optimizer state tensor 0 ('x') is ARENA; it must be STATE");
  EXPECT_EQ(loadError(trainingPlan(),
                      [](sp::plan::Plan &plan) { *plan.add_parameters() = plan.parameters(0); }),
            prefix + "parameter 'p' is listed twice");
  EXPECT_EQ(loadError(trainingPlan(), [](sp::plan::Plan &plan) { plan.set_learning_rate(99); }),
            prefix + "learning rate is tensor 99, out of range");
  EXPECT_EQ(loadError(trainingPlan(), [](sp::plan::Plan &plan) { plan.set_gradient_norm(2); }),
            prefix + "gradient norm tensor 2 ('step') is int64 scalar; it must be a float32 or "
                     "float64 scalar");
}

TEST_F(SessionTest, RefusesBrokenSidecars) {
  PlanBuilder builder = affinePlan();
  std::string error;
  ASSERT_TRUE(builder.write(planPath(), error)) << error;
  std::string sidecar = planPath() + ".weights";

  std::filesystem::resize_file(sidecar, 20);
  EXPECT_EQ(Session::load(planPath(), error), nullptr);
  EXPECT_EQ(error, sidecar + ": holds 20 bytes; the plan expects 32 (truncated?)");

  ASSERT_TRUE(builder.write(planPath(), error)) << error;
  {
    std::fstream file(sidecar, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(5);
    file.put('\x7f');
  }
  EXPECT_EQ(Session::load(planPath(), error), nullptr);
  EXPECT_EQ(error, sidecar + ": checksum mismatch (the file is corrupt, or belongs to another "
                             "compile of the plan)");

  std::filesystem::remove(sidecar);
  EXPECT_EQ(Session::load(planPath(), error), nullptr);
  EXPECT_EQ(error, sidecar + ": cannot open the weights sidecar: No such file or directory");
}

TEST(FileNames, PercentEncodesUnsafeBytes) {
  EXPECT_EQ(encodeFileName("model.layers.0.mlp.weight"), "model.layers.0.mlp.weight");
  EXPECT_EQ(encodeFileName("/model/Gather_1:0"), "%2Fmodel%2FGather_1%3A0");
  EXPECT_EQ(encodeFileName("a b%"), "a%20b%25");
  EXPECT_EQ(encodeFileName(".."), "%2E%2E");
  EXPECT_EQ(encodeFileName("caf\xc3\xa9"), "caf%C3%A9");
}

} // namespace
