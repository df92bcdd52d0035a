//===- PlanEmitTest.cpp - plans written from modules, read back -----------===//

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Plan/MemoryPlan.h"
#include "sp/Plan/PlanEmitter.h"

#include "sp/plan/plan.pb.h"
#include "sp/runtime/PlanFile.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

using namespace mlir;
namespace proto = sp::plan;

namespace {

// A training step in miniature: a constant weight from a resource blob, a
// parameter with AdamW state and the step counter, views of arena and state
// tensors, a large splat constant, an i1 constant output, and a gemm without
// its optional operand.
constexpr const char *kTrainingModule = R"mlir(
module attributes {graph.optimizer = {kind = "adamw", learning_rate = 1.0e-3 : f64, weight_decay = 0.01 : f64, beta1 = 0.9 : f64, beta2 = 0.999 : f64, epsilon = 1.0e-8 : f64}, graph.token_input = "ids", graph.vocab_size = 7 : i64} {
  ml_program.global private @proj(dense_resource<proj_blob> : tensor<3x2xf32>) : tensor<3x2xf32>
  ml_program.global private mutable @w(dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>) : tensor<2x3xf32>
  ml_program.global private mutable @w.exp_avg(dense<0.0> : tensor<2x3xf32>) : tensor<2x3xf32> {graph.state_of = @w}
  ml_program.global private mutable @w.exp_avg_sq(dense<0.0> : tensor<2x3xf32>) : tensor<2x3xf32> {graph.state_of = @w}
  ml_program.global private mutable @sp.step(dense<0> : tensor<i64>) : tensor<i64> {graph.step_counter}
  func.func @main(%x: tensor<2x3xf32> {graph.onnx_name = "x"}, %ids: tensor<1x3xi64> {graph.onnx_name = "ids"})
      -> (tensor<2x2xf32> {graph.onnx_name = "y"}, tensor<f32> {graph.loss},
          tensor<2x3xf32> {graph.gradient_of = @w}, tensor<6xf32> {graph.onnx_name = "flat"},
          tensor<3xi1> {graph.onnx_name = "mask"}) {
    %p = ml_program.global_load_const @proj : tensor<3x2xf32>
    %w = ml_program.global_load @w : tensor<2x3xf32>
    %xw = graph.mul %x, %w : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32> loc("mul_node"("model.onnx":0:0))
    %y = graph.gemm %xw, %p : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32> loc(fused["gemm_node"("model.onnx":0:0), "other"])
    %shape = graph.constant dense<6> : tensor<1xi64>
    %flat = graph.reshape %xw, %shape : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<6xf32>
    %wflat = graph.reshape %w, %shape : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<6xf32>
    %wsum = graph.reduce_sum %wflat {axes = array<i64: 0>, keep_dims = false} : (tensor<6xf32>) -> tensor<f32>
    %ysum = graph.reduce_sum %y {axes = array<i64>, keep_dims = false} : (tensor<2x2xf32>) -> tensor<f32>
    %big = graph.constant dense<0.5> : tensor<2048xf32>
    %bigsum = graph.reduce_sum %big {axes = array<i64>, keep_dims = false} : (tensor<2048xf32>) -> tensor<f32>
    %partial = graph.add %ysum, %wsum : (tensor<f32>, tensor<f32>) -> tensor<f32>
    %loss = graph.add %partial, %bigsum : (tensor<f32>, tensor<f32>) -> tensor<f32>
    %two = graph.constant dense<2.0> : tensor<2x3xf32>
    %g = graph.mul %x, %two : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
    %mask = graph.constant dense<[true, false, true]> : tensor<3xi1>
    %one = graph.constant dense<1> : tensor<i64>
    %s0 = ml_program.global_load @sp.step : tensor<i64>
    %step = graph.add %s0, %one : (tensor<i64>, tensor<i64>) -> tensor<i64>
    ml_program.global_store @sp.step = %step : tensor<i64>
    %m = ml_program.global_load @w.exp_avg : tensor<2x3xf32>
    %v = ml_program.global_load @w.exp_avg_sq : tensor<2x3xf32>
    %nw, %nm, %nv = graph.adamw_update %w, %g, %m, %v, %step {beta1 = 0.9 : f64, beta2 = 0.999 : f64, epsilon = 1.0e-8 : f64, learning_rate = 1.0e-3 : f64, weight_decay = 0.01 : f64} : (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>, tensor<i64>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>)
    ml_program.global_store @w = %nw : tensor<2x3xf32>
    ml_program.global_store @w.exp_avg = %nm : tensor<2x3xf32>
    ml_program.global_store @w.exp_avg_sq = %nv : tensor<2x3xf32>
    return %y, %loss, %g, %flat, %mask : tensor<2x2xf32>, tensor<f32>, tensor<2x3xf32>, tensor<6xf32>, tensor<3xi1>
  }
}
{-#
  dialect_resources: {
    builtin: {
      proj_blob: "0x040000000000803F0000004000004040000080400000A0400000C040"
    }
  }
#-}
)mlir";

class PlanEmitTest : public ::testing::Test {
protected:
  void SetUp() override {
    context.loadDialect<sp::graph::GraphDialect, func::FuncDialect, ml_program::MLProgramDialect>();
    directory = std::filesystem::temp_directory_path() /
                ("sp-plan-emit-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(directory);
  }
  void TearDown() override { std::filesystem::remove_all(directory); }

  OwningOpRef<ModuleOp> parse(const char *source) {
    return parseSourceString<ModuleOp>(source, &context);
  }

  /// Emits `module` to a plan file and reads it back with the runtime's
  /// reader; the diagnostics emitted on the way land in `errors`.
  bool emitAndRead(ModuleOp module, proto::Plan &plan) {
    ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
      errors.push_back(diagnostic.str());
      return success();
    });
    sp::planning::PlanEmitOptions options;
    options.producer = "sp-compile test";
    options.sourcePath = "model.onnx";
    options.worldSize = 1;
    if (failed(sp::planning::emitPlan(module, options, planPath())))
      return false;
    std::string error;
    bool read = sp::runtime::readPlanFile(planPath(), plan, error);
    EXPECT_TRUE(read) << error;
    return read;
  }

  std::string planPath() const { return (directory / "model.spplan").string(); }

  std::vector<char> readSidecar() const {
    std::ifstream file(planPath() + ".weights", std::ios::binary);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  }

  template <typename T>
  std::vector<T> sidecarValues(const std::vector<char> &sidecar, const proto::Tensor &tensor,
                               size_t count) const {
    std::vector<T> values(count);
    EXPECT_LE(tensor.sidecar_offset() + count * sizeof(T), sidecar.size());
    if (tensor.sidecar_offset() + count * sizeof(T) <= sidecar.size())
      std::memcpy(values.data(), sidecar.data() + tensor.sidecar_offset(), count * sizeof(T));
    return values;
  }

  MLIRContext context;
  std::filesystem::path directory;
  std::vector<std::string> errors;
};

int findBinding(const google::protobuf::RepeatedPtrField<proto::Binding> &bindings,
                const std::string &name) {
  for (const proto::Binding &binding : bindings)
    if (binding.name() == name)
      return binding.tensor();
  return -1;
}

const proto::Instruction *findInstruction(const proto::Plan &plan, const std::string &kernel,
                                          int nth = 0) {
  for (const proto::Instruction &instruction : plan.instructions())
    if (instruction.kernel() == kernel && nth-- == 0)
      return &instruction;
  return nullptr;
}

int indexOf(const proto::Plan &plan, const proto::Instruction *instruction) {
  for (int i = 0; i < plan.instructions_size(); ++i)
    if (&plan.instructions(i) == instruction)
      return i;
  return -1;
}

TEST_F(PlanEmitTest, TrainingStepRoundTrips) {
  OwningOpRef<ModuleOp> module = parse(kTrainingModule);
  ASSERT_TRUE(module);
  proto::Plan plan;
  ASSERT_TRUE(emitAndRead(*module, plan)) << (errors.empty() ? "" : errors.front());
  std::vector<char> sidecar = readSidecar();

  // Header fields and module attributes.
  EXPECT_EQ(plan.producer(), "sp-compile test");
  EXPECT_EQ(plan.source(), "model.onnx");
  EXPECT_EQ(plan.world_size(), 1);
  EXPECT_EQ(plan.alignment(), 64u);
  auto arenaAttr = (*module)->getAttrOfType<IntegerAttr>(sp::planning::kArenaBytesAttr);
  ASSERT_TRUE(arenaAttr) << "emitPlan plans the memory of an unplanned module";
  EXPECT_EQ(plan.arena_bytes(), uint64_t(arenaAttr.getInt()));
  EXPECT_EQ(plan.token_input(), "ids");
  EXPECT_EQ(plan.vocab_size(), 7);
  EXPECT_EQ(plan.optimizer().kind(), "adamw");
  EXPECT_DOUBLE_EQ(plan.optimizer().learning_rate(), 1e-3);
  EXPECT_DOUBLE_EQ(plan.optimizer().weight_decay(), 0.01);
  EXPECT_DOUBLE_EQ(plan.optimizer().beta1(), 0.9);
  EXPECT_DOUBLE_EQ(plan.optimizer().beta2(), 0.999);
  EXPECT_DOUBLE_EQ(plan.optimizer().epsilon(), 1e-8);
  EXPECT_EQ(plan.weights().size(), sidecar.size());

  // Every arena and state tensor is aligned and inside its region.
  for (const proto::Tensor &tensor : plan.tensors()) {
    if (tensor.placement() == proto::CONSTANT) {
      EXPECT_EQ(tensor.sidecar_offset() % 64, 0u);
      continue;
    }
    EXPECT_EQ(tensor.offset() % 64, 0u) << tensor.name();
    uint64_t region = tensor.placement() == proto::ARENA ? plan.arena_bytes() : plan.state_bytes();
    uint64_t bytes = tensor.dtype() == proto::F32 ? 4 : tensor.dtype() == proto::BOOL ? 1 : 8;
    for (int64_t dim : tensor.shape())
      bytes *= uint64_t(dim);
    EXPECT_LE(tensor.offset() + bytes, region) << tensor.name();
  }

  // Inputs.
  ASSERT_EQ(plan.inputs_size(), 2);
  const proto::Tensor &x = plan.tensors(findBinding(plan.inputs(), "x"));
  EXPECT_EQ(x.placement(), proto::ARENA);
  EXPECT_EQ(x.dtype(), proto::F32);
  EXPECT_EQ(std::vector<int64_t>(x.shape().begin(), x.shape().end()), (std::vector<int64_t>{2, 3}));
  const proto::Tensor &ids = plan.tensors(findBinding(plan.inputs(), "ids"));
  EXPECT_EQ(ids.dtype(), proto::I64);
  EXPECT_EQ(ids.name(), "ids");

  // State: the parameter from the sidecar, its moments and the step zero-filled.
  ASSERT_EQ(plan.parameters_size(), 1);
  const proto::Parameter &parameter = plan.parameters(0);
  EXPECT_EQ(parameter.name(), "w");
  const proto::Tensor &w = plan.tensors(parameter.tensor());
  EXPECT_EQ(w.placement(), proto::STATE);
  EXPECT_EQ(w.name(), "w");
  EXPECT_FALSE(w.zero_init());
  EXPECT_EQ(sidecarValues<float>(sidecar, w, 6), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  ASSERT_EQ(parameter.optimizer_state_size(), 2);
  EXPECT_EQ(plan.tensors(parameter.optimizer_state(0)).name(), "w.exp_avg");
  EXPECT_EQ(plan.tensors(parameter.optimizer_state(1)).name(), "w.exp_avg_sq");
  for (int state : parameter.optimizer_state()) {
    EXPECT_EQ(plan.tensors(state).placement(), proto::STATE);
    EXPECT_TRUE(plan.tensors(state).zero_init());
  }
  EXPECT_EQ(plan.state_bytes(), 3 * 64u + 8u);

  // The gradient is the arena tensor of x * 2, computed from an expanded splat.
  const proto::Instruction *gradient = findInstruction(plan, "mul", 1);
  ASSERT_NE(gradient, nullptr);
  EXPECT_EQ(parameter.gradient(), gradient->outputs(0));
  const proto::Tensor &two = plan.tensors(gradient->inputs(1));
  EXPECT_EQ(two.placement(), proto::CONSTANT);
  EXPECT_EQ(sidecarValues<float>(sidecar, two, 6), std::vector<float>(6, 2.0f));

  // The weight from the resource blob, and gemm's absent bias as -1.
  const proto::Instruction *gemm = findInstruction(plan, "gemm");
  ASSERT_NE(gemm, nullptr);
  ASSERT_EQ(gemm->inputs_size(), 3);
  EXPECT_EQ(gemm->inputs(2), -1);
  EXPECT_EQ(gemm->location(), "node 'gemm_node' (gemm)");
  const proto::Tensor &proj = plan.tensors(gemm->inputs(1));
  EXPECT_EQ(proj.placement(), proto::CONSTANT);
  EXPECT_EQ(proj.name(), "proj");
  EXPECT_EQ(sidecarValues<float>(sidecar, proj, 6), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  const proto::Instruction *firstMul = findInstruction(plan, "mul");
  EXPECT_EQ(firstMul->location(), "node 'mul_node' (mul)");
  EXPECT_EQ(firstMul->inputs(1), parameter.tensor());

  // Views share bytes: the flat output with gemm's input, the flat parameter
  // with the parameter.
  const proto::Tensor &flat = plan.tensors(findBinding(plan.outputs(), "flat"));
  const proto::Tensor &xw = plan.tensors(firstMul->outputs(0));
  EXPECT_EQ(flat.placement(), proto::ARENA);
  EXPECT_EQ(flat.offset(), xw.offset());
  EXPECT_EQ(std::vector<int64_t>(flat.shape().begin(), flat.shape().end()),
            std::vector<int64_t>{6});
  const proto::Instruction *sumOfW = findInstruction(plan, "reduce_sum");
  ASSERT_NE(sumOfW, nullptr);
  const proto::Tensor &wflat = plan.tensors(sumOfW->inputs(0));
  EXPECT_EQ(wflat.placement(), proto::STATE);
  EXPECT_EQ(wflat.offset(), w.offset());
  EXPECT_EQ(wflat.shape_size(), 1);
  ASSERT_EQ(sumOfW->attributes().count("axes"), 1u);
  EXPECT_EQ(sumOfW->attributes().at("axes").ints().values_size(), 1);
  EXPECT_EQ(sumOfW->attributes().at("keep_dims").value_case(), proto::Attribute::kB);
  EXPECT_FALSE(sumOfW->attributes().at("keep_dims").b());

  // The large splat: a fill into the arena just before its one reader.
  const proto::Instruction *fill = findInstruction(plan, "fill");
  ASSERT_NE(fill, nullptr);
  EXPECT_EQ(fill->inputs_size(), 0);
  EXPECT_DOUBLE_EQ(fill->attributes().at("value").f(), 0.5);
  const proto::Tensor &big = plan.tensors(fill->outputs(0));
  EXPECT_EQ(big.placement(), proto::ARENA);
  EXPECT_EQ(big.shape(0), 2048);
  const proto::Instruction &afterFill = plan.instructions(indexOf(plan, fill) + 1);
  EXPECT_EQ(afterFill.kernel(), "reduce_sum");
  EXPECT_EQ(afterFill.inputs(0), fill->outputs(0));

  // The i1 constant output: one byte per element.
  const proto::Tensor &mask = plan.tensors(findBinding(plan.outputs(), "mask"));
  EXPECT_EQ(mask.dtype(), proto::BOOL);
  EXPECT_EQ(mask.placement(), proto::CONSTANT);
  EXPECT_EQ(sidecarValues<uint8_t>(sidecar, mask, 3), (std::vector<uint8_t>{1, 0, 1}));

  // The step counter's new value is copied into its state; AdamW updates the
  // parameter and its moments in place.
  const proto::Instruction *copy = findInstruction(plan, "copy");
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(plan.tensors(copy->outputs(0)).name(), "sp.step");
  EXPECT_EQ(plan.tensors(copy->inputs(0)).placement(), proto::ARENA);
  EXPECT_EQ(findInstruction(plan, "copy", 1), nullptr);
  const proto::Instruction *adamw = findInstruction(plan, "adamw_update");
  ASSERT_NE(adamw, nullptr);
  ASSERT_EQ(adamw->outputs_size(), 3);
  EXPECT_EQ(adamw->outputs(0), parameter.tensor());
  EXPECT_EQ(adamw->outputs(1), parameter.optimizer_state(0));
  EXPECT_EQ(adamw->outputs(2), parameter.optimizer_state(1));
  EXPECT_EQ(adamw->inputs(0), parameter.tensor());
  EXPECT_EQ(adamw->inputs(4), copy->inputs(0));
  EXPECT_DOUBLE_EQ(adamw->attributes().at("learning_rate").f(), 1e-3);
  EXPECT_EQ(adamw->location(), "");
  EXPECT_EQ(&plan.instructions(plan.instructions_size() - 1), adamw);

  // Outputs and loss.
  ASSERT_EQ(plan.outputs_size(), 3);
  const proto::Tensor &y = plan.tensors(findBinding(plan.outputs(), "y"));
  EXPECT_EQ(y.name(), "y");
  EXPECT_EQ(findBinding(plan.outputs(), "y"), gemm->outputs(0));
  ASSERT_GE(plan.loss(), 0);
  EXPECT_EQ(plan.tensors(plan.loss()).shape_size(), 0);
  EXPECT_EQ(plan.loss(), findInstruction(plan, "add", 1)->outputs(0));
}

TEST_F(PlanEmitTest, InferencePlanHasNoTrainingBindings) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @main(%x: tensor<4xf64> {graph.onnx_name = "x"}) -> (tensor<4xf64> {graph.onnx_name = "y"}) {
      %y = graph.softmax %x {axis = -1 : i64} : tensor<4xf64>
      return %y : tensor<4xf64>
    }
  )mlir");
  ASSERT_TRUE(module);
  proto::Plan plan;
  ASSERT_TRUE(emitAndRead(*module, plan)) << (errors.empty() ? "" : errors.front());
  EXPECT_EQ(plan.loss(), -1);
  EXPECT_EQ(plan.parameters_size(), 0);
  EXPECT_EQ(plan.state_bytes(), 0u);
  EXPECT_EQ(plan.optimizer().kind(), "");
  ASSERT_EQ(plan.instructions_size(), 1);
  EXPECT_EQ(plan.instructions(0).attributes().at("axis").i(), -1);
  EXPECT_EQ(plan.tensors(plan.instructions(0).inputs(0)).dtype(), proto::F64);
  EXPECT_EQ(plan.weights().size(), 0u);
}

TEST_F(PlanEmitTest, ElidedWeightsAreOneError) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    ml_program.global private @w(dense_resource<__elided__> : tensor<4xf32>) : tensor<4xf32>
    func.func @main(%x: tensor<4xf32> {graph.onnx_name = "x"}) -> (tensor<4xf32> {graph.onnx_name = "y"}) {
      %w = ml_program.global_load_const @w : tensor<4xf32>
      %y = graph.add %x, %w : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
      return %y : tensor<4xf32>
    }
  )mlir");
  ASSERT_TRUE(module);
  proto::Plan plan;
  EXPECT_FALSE(emitAndRead(*module, plan));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("whose bytes are not available"), std::string::npos) << errors[0];
  EXPECT_FALSE(std::filesystem::exists(planPath()));
}

TEST_F(PlanEmitTest, UnwritablePathIsOneErrorAndKeepsNothing) {
  OwningOpRef<ModuleOp> module = parse(R"mlir(
    func.func @main(%x: tensor<4xf32> {graph.onnx_name = "x"}) -> (tensor<4xf32> {graph.onnx_name = "y"}) {
      %y = graph.neg %x : tensor<4xf32>
      return %y : tensor<4xf32>
    }
  )mlir");
  ASSERT_TRUE(module);
  std::filesystem::path missing = directory / "no-such-folder" / "model.spplan";
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
    errors.push_back(diagnostic.str());
    return success();
  });
  EXPECT_TRUE(failed(sp::planning::emitPlan(*module, {}, missing.string())));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find(missing.string()), std::string::npos) << errors[0];
  EXPECT_EQ(errors[0].find('\n'), std::string::npos) << errors[0];
}

} // namespace
