//===- GradientCheckTest.cpp - gradient rules against finite differences --===//
//
// Each rule is checked end to end in float64: a small module whose
// parameters are mutable globals computes y = op(...), the loss is
// sum(y * c) for a fixed random cotangent c, sp-autodiff differentiates it,
// the plan emitter writes it, and the runtime runs it. The analytic
// gradients the plan returns must match central finite differences of the
// loss that the same plan computes with each parameter element nudged
// through the Session API.
//
//===----------------------------------------------------------------------===//

#include "sp/Autodiff/GradientOpInterface.h"
#include "sp/Autodiff/Passes.h"
#include "sp/Dialect/Graph/IR/GraphAttributes.h"
#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Plan/PlanEmitter.h"
#include "sp/runtime/Device.h"
#include "sp/runtime/Kernel.h"
#include "sp/runtime/Session.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <random>

using namespace mlir;
namespace graph = sp::graph;
namespace runtime = sp::runtime;

namespace {

/// One rule family: a module whose @main returns the value y to check.
/// Parameters are drawn uniformly from [low, high] (a domain where the op is
/// smooth, e.g. positive for log).
struct GradientCase {
  const char *name;
  const char *module;
  double low = -1.0;
  double high = 1.0;
  /// The op draws random numbers keyed by the step (dropout): each loss of
  /// the finite differences is then the first step of a fresh session, so
  /// that it draws the mask the analytic gradient saw.
  bool drawsRandom = false;
};

void PrintTo(const GradientCase &gradientCase, std::ostream *os) {
  *os << gradientCase.name;
}

// Central differences with this step in float64 have a truncation error of
// about h^2 and a rounding error of about 1e-16 / h relative to the loss.
constexpr double kStep = 1e-6;
constexpr double kRelativeTolerance = 1e-6;
constexpr double kAbsoluteTolerance = 1e-8;

std::vector<double> valuesOf(const runtime::NpyArray &array) {
  std::vector<double> values(array.data.size() / sizeof(double));
  std::memcpy(values.data(), array.data.data(), array.data.size());
  return values;
}

runtime::NpyArray arrayOf(const runtime::TensorInfo &info,
                          const std::vector<double> &values) {
  runtime::NpyArray array;
  array.dtype = runtime::DType::Float64;
  array.shape = info.shape;
  array.data.resize(values.size() * sizeof(double));
  std::memcpy(array.data.data(), values.data(), array.data.size());
  return array;
}

class GradientCheck : public ::testing::TestWithParam<GradientCase> {
protected:
  GradientCheck()
      : diagnostics(&context, [this](Diagnostic &diagnostic) {
          messages += diagnostic.str() + "\n";
          return success();
        }) {
    DialectRegistry registry;
    registry
        .insert<graph::GraphDialect, func::FuncDialect, ml_program::MLProgramDialect>();
    sp::autodiff::registerGradientOpInterfaceExternalModels(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  void TearDown() override {
    if (!directory.empty())
      llvm::sys::fs::remove_directories(directory);
  }

  /// Replaces @main's one result y by the loss sum(y * c), marked graph.loss.
  LogicalResult appendLoss(ModuleOp module, std::mt19937_64 &random) {
    auto main = module.lookupSymbol<func::FuncOp>("main");
    if (!main || main.getNumResults() != 1)
      return failure();
    auto returnOp = llvm::cast<func::ReturnOp>(main.getBody().front().getTerminator());
    Value y = returnOp.getOperand(0);
    auto type = llvm::cast<RankedTensorType>(y.getType());
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);
    SmallVector<double> cotangent(type.getNumElements());
    for (double &value : cotangent)
      value = uniform(random);
    OpBuilder builder(returnOp);
    Location loc = builder.getUnknownLoc();
    Value c = graph::ConstantOp::create(
        builder, loc, type, DenseElementsAttr::get(type, ArrayRef<double>(cotangent)));
    Value weighted = graph::MulOp::create(builder, loc, type, y, c);
    auto scalarType = RankedTensorType::get({}, type.getElementType());
    // The axes are spelled out: a plan's attribute cannot hold an empty list.
    SmallVector<int64_t> allDims(type.getRank());
    std::iota(allDims.begin(), allDims.end(), 0);
    Value loss = type.getRank() == 0
                     ? weighted
                     : graph::ReduceSumOp::create(builder, loc, scalarType, weighted,
                                                  builder.getDenseI64ArrayAttr(allDims),
                                                  builder.getBoolAttr(false))
                           .getResult();
    returnOp->setOperand(0, loss);
    main.setFunctionType(builder.getFunctionType(main.getArgumentTypes(), {scalarType}));
    main.setResultAttr(0, sp::graph::kLossAttr, builder.getUnitAttr());
    return success();
  }

  MLIRContext context;
  ScopedDiagnosticHandler diagnostics;
  std::string messages;
  llvm::SmallString<128> directory;
};

TEST_P(GradientCheck, MatchesFiniteDifferences) {
  const GradientCase &gradientCase = GetParam();
  std::mt19937_64 random(std::hash<std::string>()(gradientCase.name));

  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(gradientCase.module, ParserConfig(&context));
  ASSERT_TRUE(module) << messages;
  ASSERT_TRUE(succeeded(appendLoss(*module, random))) << "@main must return one value";
  PassManager passes(&context);
  passes.addPass(sp::autodiff::createAutodiff());
  ASSERT_TRUE(succeeded(passes.run(*module))) << messages;

  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("sp-gradient-check", directory));
  llvm::SmallString<128> planPath(directory);
  llvm::sys::path::append(planPath, std::string(gradientCase.name) + ".spplan");
  sp::planning::PlanEmitOptions options;
  options.producer = "GradientCheckTest";
  ASSERT_TRUE(succeeded(sp::planning::emitPlan(*module, options, planPath))) << messages;

  std::string error;
  std::unique_ptr<runtime::Session> session =
      runtime::Session::load(std::string(planPath), error);
  ASSERT_TRUE(session) << error;
  ASSERT_FALSE(session->parameters().empty());

  std::uniform_real_distribution<double> uniform(gradientCase.low, gradientCase.high);
  std::map<std::string, std::vector<double>> parameters;
  for (const runtime::TensorInfo &info : session->parameters()) {
    ASSERT_EQ(info.dtype, runtime::DType::Float64) << info.name;
    std::vector<double> values(info.numElements());
    for (double &value : values)
      value = uniform(random);
    ASSERT_EQ(session->setParameter(info.name, arrayOf(info, values)), "") << info.name;
    parameters[info.name] = std::move(values);
  }
  ASSERT_EQ(session->runStep(), "");
  std::map<std::string, std::vector<double>> analytic;
  for (const runtime::TensorInfo &info : session->parameters()) {
    runtime::NpyArray gradient;
    ASSERT_EQ(session->gradient(info.name, gradient), "") << info.name;
    analytic[info.name] = valuesOf(gradient);
    ASSERT_EQ(analytic[info.name].size(), size_t(info.numElements())) << info.name;
  }

  auto lossWith = [&](const runtime::TensorInfo &info, std::vector<double> &values,
                      size_t index, double value) {
    double saved = values[index];
    values[index] = value;
    std::string failure;
    if (gradientCase.drawsRandom) {
      session = runtime::Session::load(std::string(planPath), failure);
      for (const runtime::TensorInfo &other : session ? session->parameters()
                                                      : std::vector<runtime::TensorInfo>())
        if (failure.empty())
          failure = session->setParameter(other.name, arrayOf(other, parameters[other.name]));
    }
    if (failure.empty())
      failure = session->setParameter(info.name, arrayOf(info, values));
    if (failure.empty())
      failure = session->runStep();
    values[index] = saved;
    EXPECT_EQ(failure, "") << info.name;
    return session->loss();
  };
  // A copy: drawsRandom replaces the session, and its parameter list.
  const std::vector<runtime::TensorInfo> infos = session->parameters();
  for (const runtime::TensorInfo &info : infos) {
    std::vector<double> &values = parameters[info.name];
    for (size_t i = 0; i < values.size(); ++i) {
      double x = values[i];
      double numeric =
          (lossWith(info, values, i, x + kStep) - lossWith(info, values, i, x - kStep)) /
          (2 * kStep);
      double expected = analytic[info.name][i];
      double tolerance =
          kRelativeTolerance * std::max(std::abs(expected), std::abs(numeric)) +
          kAbsoluteTolerance;
      EXPECT_NEAR(expected, numeric, tolerance)
          << "d loss / d " << info.name << "[" << i << "] at " << x;
    }
    ASSERT_EQ(session->setParameter(info.name, arrayOf(info, values)), "");
  }
}

//===----------------------------------------------------------------------===//
// The cases: one per rule family, float64, static shapes
//===----------------------------------------------------------------------===//

const GradientCase kCases[] = {
    {"add_sub_broadcast", R"mlir(
      ml_program.global private mutable @a(dense<0.0> : tensor<2x3xf64>) : tensor<2x3xf64>
      ml_program.global private mutable @b(dense<0.0> : tensor<3xf64>) : tensor<3xf64>
      ml_program.global private mutable @c(dense<0.0> : tensor<2x1xf64>) : tensor<2x1xf64>
      func.func @main() -> tensor<2x3xf64> {
        %a = ml_program.global_load @a : tensor<2x3xf64>
        %b = ml_program.global_load @b : tensor<3xf64>
        %c = ml_program.global_load @c : tensor<2x1xf64>
        %0 = graph.sub %a, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
        %1 = graph.add %c, %0 : (tensor<2x1xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
        %2 = graph.mul %1, %1 : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
        return %2 : tensor<2x3xf64>
      })mlir"},
    {"mul_div_fan_in", R"mlir(
      ml_program.global private mutable @a(dense<0.0> : tensor<2x3xf64>) : tensor<2x3xf64>
      ml_program.global private mutable @b(dense<0.0> : tensor<3xf64>) : tensor<3xf64>
      func.func @main() -> tensor<2x3xf64> {
        %a = ml_program.global_load @a : tensor<2x3xf64>
        %b = ml_program.global_load @b : tensor<3xf64>
        %b2 = ml_program.global_load @b : tensor<3xf64>
        %0 = graph.mul %a, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
        %1 = graph.div %0, %b2 : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
        %2 = graph.div %a, %1 : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
        %3 = graph.mul %2, %0 : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
        return %3 : tensor<2x3xf64>
      })mlir",
     0.5, 1.5},
    {"pow", R"mlir(
      ml_program.global private mutable @base(dense<0.0> : tensor<2x3xf64>) : tensor<2x3xf64>
      ml_program.global private mutable @exponent(dense<0.0> : tensor<3xf64>) : tensor<3xf64>
      func.func @main() -> tensor<2x3xf64> {
        %x = ml_program.global_load @base : tensor<2x3xf64>
        %p = ml_program.global_load @exponent : tensor<3xf64>
        %three = graph.constant dense<3> : tensor<i64>
        %0 = graph.pow %x, %p : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
        %1 = graph.pow %x, %three : (tensor<2x3xf64>, tensor<i64>) -> tensor<2x3xf64>
        %2 = graph.add %0, %1 : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
        return %2 : tensor<2x3xf64>
      })mlir",
     0.5, 1.5},
    {"max_min", R"mlir(
      ml_program.global private mutable @a(dense<0.0> : tensor<2x3xf64>) : tensor<2x3xf64>
      ml_program.global private mutable @b(dense<0.0> : tensor<3xf64>) : tensor<3xf64>
      func.func @main() -> tensor<2x3xf64> {
        %a = ml_program.global_load @a : tensor<2x3xf64>
        %b = ml_program.global_load @b : tensor<3xf64>
        %0 = graph.max %a, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
        %1 = graph.min %b, %a : (tensor<3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
        %2 = graph.mul %0, %1 : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
        return %2 : tensor<2x3xf64>
      })mlir"},
    {"mod_fmod", R"mlir(
      ml_program.global private mutable @a(dense<0.0> : tensor<2x3xf64>) : tensor<2x3xf64>
      ml_program.global private mutable @b(dense<0.0> : tensor<3xf64>) : tensor<3xf64>
      func.func @main() -> tensor<2x3xf64> {
        %a = ml_program.global_load @a : tensor<2x3xf64>
        %b = ml_program.global_load @b : tensor<3xf64>
        %scale = graph.constant dense<[[7.0, -5.0, 3.0], [-9.0, 4.0, -6.0]]> : tensor<2x3xf64>
        %big = graph.mul %a, %scale : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
        %0 = graph.mod %big, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
        %1 = graph.fmod %big, %b : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
        %2 = graph.mul %0, %1 : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
        return %2 : tensor<2x3xf64>
      })mlir",
     0.5, 1.5},
    {"neg_abs_relu", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<6xf64>) : tensor<6xf64>
      func.func @main() -> tensor<6xf64> {
        %x = ml_program.global_load @x : tensor<6xf64>
        %0 = graph.neg %x : tensor<6xf64>
        %1 = graph.abs %x : tensor<6xf64>
        %2 = graph.relu %x : tensor<6xf64>
        %3 = graph.mul %0, %1 : (tensor<6xf64>, tensor<6xf64>) -> tensor<6xf64>
        %4 = graph.add %3, %2 : (tensor<6xf64>, tensor<6xf64>) -> tensor<6xf64>
        return %4 : tensor<6xf64>
      })mlir"},
    {"sqrt_reciprocal_log", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<5xf64>) : tensor<5xf64>
      func.func @main() -> tensor<5xf64> {
        %x = ml_program.global_load @x : tensor<5xf64>
        %0 = graph.sqrt %x : tensor<5xf64>
        %1 = graph.reciprocal %x : tensor<5xf64>
        %2 = graph.log %x : tensor<5xf64>
        %3 = graph.add %0, %1 : (tensor<5xf64>, tensor<5xf64>) -> tensor<5xf64>
        %4 = graph.mul %3, %2 : (tensor<5xf64>, tensor<5xf64>) -> tensor<5xf64>
        return %4 : tensor<5xf64>
      })mlir",
     0.5, 2.0},
    {"exp_tanh_sigmoid", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<5xf64>) : tensor<5xf64>
      func.func @main() -> tensor<5xf64> {
        %x = ml_program.global_load @x : tensor<5xf64>
        %0 = graph.exp %x : tensor<5xf64>
        %1 = graph.tanh %x : tensor<5xf64>
        %2 = graph.sigmoid %x : tensor<5xf64>
        %3 = graph.add %0, %1 : (tensor<5xf64>, tensor<5xf64>) -> tensor<5xf64>
        %4 = graph.mul %3, %2 : (tensor<5xf64>, tensor<5xf64>) -> tensor<5xf64>
        return %4 : tensor<5xf64>
      })mlir",
     -2.0, 2.0},
    {"erf_cos_sin", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<5xf64>) : tensor<5xf64>
      func.func @main() -> tensor<5xf64> {
        %x = ml_program.global_load @x : tensor<5xf64>
        %0 = graph.erf %x : tensor<5xf64>
        %1 = graph.cos %x : tensor<5xf64>
        %2 = graph.sin %x : tensor<5xf64>
        %3 = graph.add %0, %1 : (tensor<5xf64>, tensor<5xf64>) -> tensor<5xf64>
        %4 = graph.mul %3, %2 : (tensor<5xf64>, tensor<5xf64>) -> tensor<5xf64>
        return %4 : tensor<5xf64>
      })mlir",
     -2.0, 2.0},
    {"floor_ceil", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<4xf64>) : tensor<4xf64>
      func.func @main() -> tensor<4xf64> {
        %x = ml_program.global_load @x : tensor<4xf64>
        %0 = graph.floor %x : tensor<4xf64>
        %1 = graph.ceil %x : tensor<4xf64>
        %2 = graph.add %0, %1 : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
        %3 = graph.mul %2, %x : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
        return %3 : tensor<4xf64>
      })mlir",
     -3.0, 3.0},
    {"gelu", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<6xf64>) : tensor<6xf64>
      func.func @main() -> tensor<6xf64> {
        %x = ml_program.global_load @x : tensor<6xf64>
        %0 = graph.gelu %x : tensor<6xf64>
        %1 = graph.gelu %x {tanh_approximation = true} : tensor<6xf64>
        %2 = graph.add %0, %1 : (tensor<6xf64>, tensor<6xf64>) -> tensor<6xf64>
        return %2 : tensor<6xf64>
      })mlir",
     -3.0, 3.0},
    // Ratio 0.5 drops about half of the 24 elements: the gradient is the same
    // mask scaled by 2, redrawn in the backward pass.
    {"dropout", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<4x6xf64>) : tensor<4x6xf64>
      func.func @main() -> tensor<4x6xf64> {
        %x = ml_program.global_load @x : tensor<4x6xf64>
        %0 = graph.dropout %x {ratio = 0.5 : f64, site = 3 : i64} : (tensor<4x6xf64>) -> tensor<4x6xf64>
        %1 = graph.mul %0, %x : (tensor<4x6xf64>, tensor<4x6xf64>) -> tensor<4x6xf64>
        return %1 : tensor<4x6xf64>
      })mlir",
     -1.0, 1.0, true},
    {"where", R"mlir(
      ml_program.global private mutable @a(dense<0.0> : tensor<2x3xf64>) : tensor<2x3xf64>
      ml_program.global private mutable @b(dense<0.0> : tensor<3xf64>) : tensor<3xf64>
      func.func @main() -> tensor<2x3xf64> {
        %a = ml_program.global_load @a : tensor<2x3xf64>
        %b = ml_program.global_load @b : tensor<3xf64>
        %zero = graph.constant dense<0.0> : tensor<f64>
        %c = graph.greater %a, %zero : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xi1>
        %0 = graph.where %c, %a, %b : (tensor<2x3xi1>, tensor<2x3xf64>, tensor<3xf64>) -> tensor<2x3xf64>
        %1 = graph.mul %0, %a : (tensor<2x3xf64>, tensor<2x3xf64>) -> tensor<2x3xf64>
        return %1 : tensor<2x3xf64>
      })mlir"},
    {"matmul_batch_broadcast", R"mlir(
      ml_program.global private mutable @a(dense<0.0> : tensor<2x1x3x4xf64>) : tensor<2x1x3x4xf64>
      ml_program.global private mutable @b(dense<0.0> : tensor<2x4x2xf64>) : tensor<2x4x2xf64>
      func.func @main() -> tensor<2x2x3x2xf64> {
        %a = ml_program.global_load @a : tensor<2x1x3x4xf64>
        %b = ml_program.global_load @b : tensor<2x4x2xf64>
        %0 = graph.matmul %a, %b : (tensor<2x1x3x4xf64>, tensor<2x4x2xf64>) -> tensor<2x2x3x2xf64>
        return %0 : tensor<2x2x3x2xf64>
      })mlir"},
    {"matmul_weight", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<2x3x4xf64>) : tensor<2x3x4xf64>
      ml_program.global private mutable @w(dense<0.0> : tensor<4x5xf64>) : tensor<4x5xf64>
      func.func @main() -> tensor<2x3x5xf64> {
        %x = ml_program.global_load @x : tensor<2x3x4xf64>
        %w = ml_program.global_load @w : tensor<4x5xf64>
        %0 = graph.matmul %x, %w : (tensor<2x3x4xf64>, tensor<4x5xf64>) -> tensor<2x3x5xf64>
        %1 = graph.tanh %0 : tensor<2x3x5xf64>
        return %1 : tensor<2x3x5xf64>
      })mlir"},
    {"matmul_vectors", R"mlir(
      ml_program.global private mutable @m(dense<0.0> : tensor<2x3x4xf64>) : tensor<2x3x4xf64>
      ml_program.global private mutable @u(dense<0.0> : tensor<3xf64>) : tensor<3xf64>
      ml_program.global private mutable @v(dense<0.0> : tensor<4xf64>) : tensor<4xf64>
      func.func @main() -> tensor<2xf64> {
        %m = ml_program.global_load @m : tensor<2x3x4xf64>
        %u = ml_program.global_load @u : tensor<3xf64>
        %v = ml_program.global_load @v : tensor<4xf64>
        %0 = graph.matmul %m, %v : (tensor<2x3x4xf64>, tensor<4xf64>) -> tensor<2x3xf64>
        %1 = graph.matmul %u, %u : (tensor<3xf64>, tensor<3xf64>) -> tensor<f64>
        %2 = graph.mul %0, %1 : (tensor<2x3xf64>, tensor<f64>) -> tensor<2x3xf64>
        %3 = graph.matmul %2, %u : (tensor<2x3xf64>, tensor<3xf64>) -> tensor<2xf64>
        return %3 : tensor<2xf64>
      })mlir"},
    {"gemm_transposed", R"mlir(
      ml_program.global private mutable @a(dense<0.0> : tensor<4x3xf64>) : tensor<4x3xf64>
      ml_program.global private mutable @b(dense<0.0> : tensor<5x4xf64>) : tensor<5x4xf64>
      ml_program.global private mutable @c(dense<0.0> : tensor<5xf64>) : tensor<5xf64>
      func.func @main() -> tensor<3x5xf64> {
        %a = ml_program.global_load @a : tensor<4x3xf64>
        %b = ml_program.global_load @b : tensor<5x4xf64>
        %c = ml_program.global_load @c : tensor<5xf64>
        %0 = graph.gemm %a, %b, %c {alpha = 0.5 : f64, beta = 2.0 : f64, transpose_a = true, transpose_b = true} : (tensor<4x3xf64>, tensor<5x4xf64>, tensor<5xf64>) -> tensor<3x5xf64>
        return %0 : tensor<3x5xf64>
      })mlir"},
    {"gemm_plain", R"mlir(
      ml_program.global private mutable @a(dense<0.0> : tensor<3x4xf64>) : tensor<3x4xf64>
      ml_program.global private mutable @b(dense<0.0> : tensor<4x5xf64>) : tensor<4x5xf64>
      ml_program.global private mutable @c(dense<0.0> : tensor<3x1xf64>) : tensor<3x1xf64>
      func.func @main() -> tensor<3x5xf64> {
        %a = ml_program.global_load @a : tensor<3x4xf64>
        %b = ml_program.global_load @b : tensor<4x5xf64>
        %c = ml_program.global_load @c : tensor<3x1xf64>
        %0 = graph.gemm %a, %b, %c : (tensor<3x4xf64>, tensor<4x5xf64>, tensor<3x1xf64>) -> tensor<3x5xf64>
        return %0 : tensor<3x5xf64>
      })mlir"},
    {"softmax", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<2x3x4xf64>) : tensor<2x3x4xf64>
      func.func @main() -> tensor<2x3x4xf64> {
        %x = ml_program.global_load @x : tensor<2x3x4xf64>
        %0 = graph.softmax %x {axis = 1 : i64} : tensor<2x3x4xf64>
        return %0 : tensor<2x3x4xf64>
      })mlir",
     -2.0, 2.0},
    {"layer_norm", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<2x3x4xf64>) : tensor<2x3x4xf64>
      ml_program.global private mutable @scale(dense<0.0> : tensor<1x4xf64>) : tensor<1x4xf64>
      ml_program.global private mutable @bias(dense<0.0> : tensor<4xf64>) : tensor<4xf64>
      func.func @main() -> tensor<2x3x4xf64> {
        %x = ml_program.global_load @x : tensor<2x3x4xf64>
        %g = ml_program.global_load @scale : tensor<1x4xf64>
        %b = ml_program.global_load @bias : tensor<4xf64>
        %0 = graph.layer_norm %x, %g, %b {axis = -2 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x3x4xf64>, tensor<1x4xf64>, tensor<4xf64>) -> tensor<2x3x4xf64>
        return %0 : tensor<2x3x4xf64>
      })mlir"},
    {"layer_norm_last_axis", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<3x4xf64>) : tensor<3x4xf64>
      ml_program.global private mutable @scale(dense<0.0> : tensor<4xf64>) : tensor<4xf64>
      func.func @main() -> tensor<3x4xf64> {
        %x = ml_program.global_load @x : tensor<3x4xf64>
        %g = ml_program.global_load @scale : tensor<4xf64>
        %0 = graph.layer_norm %x, %g {axis = 1 : i64, epsilon = 1.0e-5 : f64} : (tensor<3x4xf64>, tensor<4xf64>) -> tensor<3x4xf64>
        return %0 : tensor<3x4xf64>
      })mlir"},
    {"reduce_sum_mean", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<2x3x4xf64>) : tensor<2x3x4xf64>
      func.func @main() -> tensor<3xf64> {
        %x = ml_program.global_load @x : tensor<2x3x4xf64>
        %0 = graph.reduce_sum %x {axes = array<i64: 0, 2>, keep_dims = false} : (tensor<2x3x4xf64>) -> tensor<3xf64>
        %1 = graph.reduce_mean %x {axes = array<i64: 1>} : (tensor<2x3x4xf64>) -> tensor<2x1x4xf64>
        %2 = graph.reduce_mean %1 {axes = array<i64: 0, 1, 2>, keep_dims = false} : (tensor<2x1x4xf64>) -> tensor<f64>
        %3 = graph.mul %0, %2 : (tensor<3xf64>, tensor<f64>) -> tensor<3xf64>
        return %3 : tensor<3xf64>
      })mlir"},
    {"reduce_max", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<2x3x4xf64>) : tensor<2x3x4xf64>
      func.func @main() -> tensor<2x1x4xf64> {
        %x = ml_program.global_load @x : tensor<2x3x4xf64>
        %0 = graph.reduce_max %x {axes = array<i64: 1>} : (tensor<2x3x4xf64>) -> tensor<2x1x4xf64>
        return %0 : tensor<2x1x4xf64>
      })mlir"},
    {"cumsum", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<2x4xf64>) : tensor<2x4xf64>
      func.func @main() -> tensor<2x4xf64> {
        %x = ml_program.global_load @x : tensor<2x4xf64>
        %0 = graph.cumsum %x {axis = 1 : i64} : tensor<2x4xf64>
        %1 = graph.cumsum %x {axis = -1 : i64, exclusive = true, reverse = true} : tensor<2x4xf64>
        %2 = graph.mul %0, %1 : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
        return %2 : tensor<2x4xf64>
      })mlir"},
    {"reshape_squeeze_unsqueeze_transpose", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<2x6xf64>) : tensor<2x6xf64>
      func.func @main() -> tensor<4x1x3xf64> {
        %x = ml_program.global_load @x : tensor<2x6xf64>
        %shape = graph.constant dense<[3, 4, 1]> : tensor<3xi64>
        %0 = graph.reshape %x, %shape : (tensor<2x6xf64>, tensor<3xi64>) -> tensor<3x4x1xf64>
        %1 = graph.squeeze %0 {axes = array<i64: 2>} : (tensor<3x4x1xf64>) -> tensor<3x4xf64>
        %2 = graph.transpose %1 {perm = array<i64: 1, 0>} : (tensor<3x4xf64>) -> tensor<4x3xf64>
        %3 = graph.unsqueeze %2 {axes = array<i64: 1>} : (tensor<4x3xf64>) -> tensor<4x1x3xf64>
        %4 = graph.mul %3, %3 : (tensor<4x1x3xf64>, tensor<4x1x3xf64>) -> tensor<4x1x3xf64>
        return %4 : tensor<4x1x3xf64>
      })mlir"},
    {"expand", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<3x1xf64>) : tensor<3x1xf64>
      func.func @main() -> tensor<2x3x4xf64> {
        %x = ml_program.global_load @x : tensor<3x1xf64>
        %shape = graph.constant dense<[2, 1, 4]> : tensor<3xi64>
        %0 = graph.expand %x, %shape : (tensor<3x1xf64>, tensor<3xi64>) -> tensor<2x3x4xf64>
        %1 = graph.mul %0, %0 : (tensor<2x3x4xf64>, tensor<2x3x4xf64>) -> tensor<2x3x4xf64>
        return %1 : tensor<2x3x4xf64>
      })mlir"},
    {"transpose_3d", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<2x3x4xf64>) : tensor<2x3x4xf64>
      func.func @main() -> tensor<4x2x3xf64> {
        %x = ml_program.global_load @x : tensor<2x3x4xf64>
        %0 = graph.transpose %x {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf64>) -> tensor<4x2x3xf64>
        %1 = graph.exp %0 : tensor<4x2x3xf64>
        return %1 : tensor<4x2x3xf64>
      })mlir"},
    {"slice", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<3x5xf64>) : tensor<3x5xf64>
      func.func @main() -> tensor<2x2xf64> {
        %x = ml_program.global_load @x : tensor<3x5xf64>
        %starts = graph.constant dense<[-1, 1]> : tensor<2xi64>
        %ends = graph.constant dense<[-100, 5]> : tensor<2xi64>
        %axes = graph.constant dense<[0, 1]> : tensor<2xi64>
        %steps = graph.constant dense<[-2, 2]> : tensor<2xi64>
        %0 = graph.slice %x, %starts, %ends, %axes, %steps : (tensor<3x5xf64>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>, tensor<2xi64>) -> tensor<2x2xf64>
        %1 = graph.mul %0, %0 : (tensor<2x2xf64>, tensor<2x2xf64>) -> tensor<2x2xf64>
        return %1 : tensor<2x2xf64>
      })mlir"},
    {"split_concat", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<2x5xf64>) : tensor<2x5xf64>
      ml_program.global private mutable @y(dense<0.0> : tensor<2x2xf64>) : tensor<2x2xf64>
      func.func @main() -> tensor<2x6xf64> {
        %x = ml_program.global_load @x : tensor<2x5xf64>
        %y = ml_program.global_load @y : tensor<2x2xf64>
        %0:3 = graph.split %x {axis = 1 : i64, sizes = array<i64: 2, 1, 2>} : (tensor<2x5xf64>) -> (tensor<2x2xf64>, tensor<2x1xf64>, tensor<2x2xf64>)
        %1 = graph.concat %0#2, %y, %0#0 {axis = -1 : i64} : (tensor<2x2xf64>, tensor<2x2xf64>, tensor<2x2xf64>) -> tensor<2x6xf64>
        %2 = graph.mul %1, %1 : (tensor<2x6xf64>, tensor<2x6xf64>) -> tensor<2x6xf64>
        return %2 : tensor<2x6xf64>
      })mlir"},
    {"gather", R"mlir(
      ml_program.global private mutable @table(dense<0.0> : tensor<4x3xf64>) : tensor<4x3xf64>
      func.func @main() -> tensor<3x2x2xf64> {
        %t = ml_program.global_load @table : tensor<4x3xf64>
        %rows = graph.constant dense<[[0, -1], [2, 0]]> : tensor<2x2xi64>
        %0 = graph.gather %t, %rows {axis = 1 : i64} : (tensor<4x3xf64>, tensor<2x2xi64>) -> tensor<4x2x2xf64>
        %cols = graph.constant dense<[3, 1, 3]> : tensor<3xi64>
        %1 = graph.gather %0, %cols {axis = 0 : i64} : (tensor<4x2x2xf64>, tensor<3xi64>) -> tensor<3x2x2xf64>
        %2 = graph.mul %1, %1 : (tensor<3x2x2xf64>, tensor<3x2x2xf64>) -> tensor<3x2x2xf64>
        return %2 : tensor<3x2x2xf64>
      })mlir"},
    {"gather_nd", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<2x3x4xf64>) : tensor<2x3x4xf64>
      func.func @main() -> tensor<2x2x4xf64> {
        %x = ml_program.global_load @x : tensor<2x3x4xf64>
        %indices = graph.constant dense<[[[1], [1]], [[0], [2]]]> : tensor<2x2x1xi64>
        %0 = graph.gather_nd %x, %indices {batch_dims = 1 : i64} : (tensor<2x3x4xf64>, tensor<2x2x1xi64>) -> tensor<2x2x4xf64>
        %1 = graph.mul %0, %0 : (tensor<2x2x4xf64>, tensor<2x2x4xf64>) -> tensor<2x2x4xf64>
        return %1 : tensor<2x2x4xf64>
      })mlir"},
    // ScatterND as the importer writes it: the scatter-add of the updates
    // (gather_nd_grad, with a repeated index) where an update lands, the
    // data elsewhere.
    {"scatter_nd", R"mlir(
      ml_program.global private mutable @data(dense<0.0> : tensor<3x4xf64>) : tensor<3x4xf64>
      ml_program.global private mutable @updates(dense<0.0> : tensor<3x4xf64>) : tensor<3x4xf64>
      func.func @main() -> tensor<3x4xf64> {
        %d = ml_program.global_load @data : tensor<3x4xf64>
        %u = ml_program.global_load @updates : tensor<3x4xf64>
        %indices = graph.constant dense<[[2], [-3], [2]]> : tensor<3x1xi64>
        %0 = graph.gather_nd_grad %u, %indices : (tensor<3x4xf64>, tensor<3x1xi64>) -> tensor<3x4xf64>
        %written = graph.constant dense<[[true, true, true, true], [false, false, false, false], [true, true, true, true]]> : tensor<3x4xi1>
        %1 = graph.where %written, %0, %d : (tensor<3x4xi1>, tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
        %2 = graph.mul %1, %1 : (tensor<3x4xf64>, tensor<3x4xf64>) -> tensor<3x4xf64>
        return %2 : tensor<3x4xf64>
      })mlir"},
    // ScatterElements along the last axis: the same over batch dim 0.
    {"scatter_elements", R"mlir(
      ml_program.global private mutable @data(dense<0.0> : tensor<2x4xf64>) : tensor<2x4xf64>
      ml_program.global private mutable @updates(dense<0.0> : tensor<2x3xf64>) : tensor<2x3xf64>
      func.func @main() -> tensor<2x4xf64> {
        %d = ml_program.global_load @data : tensor<2x4xf64>
        %u = ml_program.global_load @updates : tensor<2x3xf64>
        %indices = graph.constant dense<[[[3], [0], [3]], [[-1], [1], [2]]]> : tensor<2x3x1xi64>
        %0 = graph.gather_nd_grad %u, %indices {batch_dims = 1 : i64} : (tensor<2x3xf64>, tensor<2x3x1xi64>) -> tensor<2x4xf64>
        %1 = graph.add %0, %d : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
        %2 = graph.mul %1, %1 : (tensor<2x4xf64>, tensor<2x4xf64>) -> tensor<2x4xf64>
        return %2 : tensor<2x4xf64>
      })mlir"},
    {"trilu", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<2x3x3xf64>) : tensor<2x3x3xf64>
      func.func @main() -> tensor<2x3x3xf64> {
        %x = ml_program.global_load @x : tensor<2x3x3xf64>
        %0 = graph.trilu %x {upper = false, diagonal = 1 : i64} : tensor<2x3x3xf64>
        %1 = graph.mul %0, %x : (tensor<2x3x3xf64>, tensor<2x3x3xf64>) -> tensor<2x3x3xf64>
        return %1 : tensor<2x3x3xf64>
      })mlir"},
    {"cross_entropy_sum", R"mlir(
      ml_program.global private mutable @logits(dense<0.0> : tensor<2x3x5xf64>) : tensor<2x3x5xf64>
      func.func @main() -> tensor<f64> {
        %logits = ml_program.global_load @logits : tensor<2x3x5xf64>
        %labels = graph.constant dense<[[4, 0, -100], [2, 2, 1]]> : tensor<2x3xi64>
        %0 = graph.cross_entropy_sum %logits, %labels : (tensor<2x3x5xf64>, tensor<2x3xi64>) -> tensor<f64>
        return %0 : tensor<f64>
      })mlir",
     -2.0, 2.0},
    // Grouped-query heads (4 query heads on 2 key/value heads), a bias
    // broadcast over batch and heads, a bottom-right causal mask and Sq != Sk.
    {"attention_gqa_causal_bias", R"mlir(
      ml_program.global private mutable @q(dense<0.0> : tensor<2x4x3x2xf64>) : tensor<2x4x3x2xf64>
      ml_program.global private mutable @k(dense<0.0> : tensor<2x2x5x2xf64>) : tensor<2x2x5x2xf64>
      ml_program.global private mutable @v(dense<0.0> : tensor<2x2x5x3xf64>) : tensor<2x2x5x3xf64>
      func.func @main() -> tensor<2x4x3x3xf64> {
        %q = ml_program.global_load @q : tensor<2x4x3x2xf64>
        %k = ml_program.global_load @k : tensor<2x2x5x2xf64>
        %v = ml_program.global_load @v : tensor<2x2x5x3xf64>
        %bias = graph.constant dense<[[0.5, -0.25, 0.0, 1.0, -1.0], [0.0, 0.75, -0.5, 0.25, 0.0], [-1.5, 0.0, 0.5, 0.0, 2.0]]> : tensor<3x5xf64>
        %0:2 = graph.attention %q, %k, %v, %bias {scale = 0.7 : f64, causal = true} : (tensor<2x4x3x2xf64>, tensor<2x2x5x2xf64>, tensor<2x2x5x3xf64>, tensor<3x5xf64>) -> (tensor<2x4x3x3xf64>, tensor<2x4x3xf64>)
        return %0#0 : tensor<2x4x3x3xf64>
      })mlir",
     -2.0, 2.0},
    // More queries than keys: under the causal mask the first query sees no
    // key and its output is zero.
    {"attention_more_queries_than_keys", R"mlir(
      ml_program.global private mutable @q(dense<0.0> : tensor<2x4x3xf64>) : tensor<2x4x3xf64>
      ml_program.global private mutable @k(dense<0.0> : tensor<2x3x3xf64>) : tensor<2x3x3xf64>
      ml_program.global private mutable @v(dense<0.0> : tensor<2x3x2xf64>) : tensor<2x3x2xf64>
      func.func @main() -> tensor<2x4x2xf64> {
        %q = ml_program.global_load @q : tensor<2x4x3xf64>
        %k = ml_program.global_load @k : tensor<2x3x3xf64>
        %v = ml_program.global_load @v : tensor<2x3x2xf64>
        %0:2 = graph.attention %q, %k, %v {scale = 1.3 : f64, causal = true} : (tensor<2x4x3xf64>, tensor<2x3x3xf64>, tensor<2x3x2xf64>) -> (tensor<2x4x2xf64>, tensor<2x4xf64>)
        return %0#0 : tensor<2x4x2xf64>
      })mlir",
     -2.0, 2.0},
    // Attention on computed values: the gradient flows on through q, k, v.
    {"attention_of_products", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<1x2x4x3xf64>) : tensor<1x2x4x3xf64>
      ml_program.global private mutable @w(dense<0.0> : tensor<3x3xf64>) : tensor<3x3xf64>
      func.func @main() -> tensor<1x2x4x3xf64> {
        %x = ml_program.global_load @x : tensor<1x2x4x3xf64>
        %w = ml_program.global_load @w : tensor<3x3xf64>
        %k = graph.matmul %x, %w : (tensor<1x2x4x3xf64>, tensor<3x3xf64>) -> tensor<1x2x4x3xf64>
        %v = graph.tanh %x : tensor<1x2x4x3xf64>
        %0:2 = graph.attention %x, %k, %v {scale = 0.5 : f64} : (tensor<1x2x4x3xf64>, tensor<1x2x4x3xf64>, tensor<1x2x4x3xf64>) -> (tensor<1x2x4x3xf64>, tensor<1x2x4xf64>)
        return %0#0 : tensor<1x2x4x3xf64>
      })mlir",
     -1.0, 1.0},
    // Dropout on the probabilities, drawn inside the kernels: the backward
    // pass redraws the forward mask.
    {"attention_dropout_causal", R"mlir(
      ml_program.global private mutable @q(dense<0.0> : tensor<2x2x5x3xf64>) : tensor<2x2x5x3xf64>
      ml_program.global private mutable @k(dense<0.0> : tensor<2x1x5x3xf64>) : tensor<2x1x5x3xf64>
      ml_program.global private mutable @v(dense<0.0> : tensor<2x1x5x2xf64>) : tensor<2x1x5x2xf64>
      func.func @main() -> tensor<2x2x5x2xf64> {
        %q = ml_program.global_load @q : tensor<2x2x5x3xf64>
        %k = ml_program.global_load @k : tensor<2x1x5x3xf64>
        %v = ml_program.global_load @v : tensor<2x1x5x2xf64>
        %0:2 = graph.attention %q, %k, %v {scale = 0.8 : f64, causal = true, dropout_ratio = 0.3 : f64, dropout_site = 2 : i64} : (tensor<2x2x5x3xf64>, tensor<2x1x5x3xf64>, tensor<2x1x5x2xf64>) -> (tensor<2x2x5x2xf64>, tensor<2x2x5xf64>)
        return %0#0 : tensor<2x2x5x2xf64>
      })mlir",
     -2.0, 2.0, true},
    {"rms_norm", R"mlir(
      ml_program.global private mutable @x(dense<0.0> : tensor<2x3x4xf64>) : tensor<2x3x4xf64>
      ml_program.global private mutable @scale(dense<0.0> : tensor<3x4xf64>) : tensor<3x4xf64>
      func.func @main() -> tensor<2x3x4xf64> {
        %x = ml_program.global_load @x : tensor<2x3x4xf64>
        %g = ml_program.global_load @scale : tensor<3x4xf64>
        %0 = graph.rms_norm %x, %g {axis = 1 : i64, epsilon = 1.0e-5 : f64} : (tensor<2x3x4xf64>, tensor<3x4xf64>) -> tensor<2x3x4xf64>
        return %0 : tensor<2x3x4xf64>
      })mlir"},
};

INSTANTIATE_TEST_SUITE_P(Rules, GradientCheck, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<GradientCase> &info) {
                           return std::string(info.param.name);
                         });

/// Every graph op the importer or the loss can produce has a model: a rule,
/// or an explicit statement that its operands get no gradient. Ops that only
/// the backward pass or the optimizer emit are exempt.
TEST(GradientRules, EveryForwardOpHasAModel) {
  DialectRegistry registry;
  registry.insert<graph::GraphDialect>();
  sp::autodiff::registerGradientOpInterfaceExternalModels(registry);
  MLIRContext context(registry);
  context.loadAllAvailableDialects();
  int checked = 0;
  for (RegisteredOperationName name : context.getRegisteredOperations()) {
    if (name.getDialectNamespace() != "graph")
      continue;
    StringRef op = name.getStringRef();
    // Gradient clipping and the schedule run after autodiff, on gradients.
    bool updateOnly = op == "graph.global_norm" || op == "graph.clip_coefficient" ||
                      op == "graph.lr_schedule";
    if (op.ends_with("_grad") || op.ends_with("_update") || updateOnly)
      continue;
    ++checked;
    EXPECT_TRUE(name.hasInterface<sp::autodiff::GradientOpInterface>()) << op.str();
  }
  EXPECT_GT(checked, 50);
}

/// Drivers need not register the rules themselves: the pass brings them, so
/// a context that only loaded the dialects (as sp-compile's) can run it.
TEST(GradientRules, PassRegistersItsRules) {
  MLIRContext context;
  context.loadDialect<graph::GraphDialect, func::FuncDialect,
                      ml_program::MLProgramDialect>();
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(R"mlir(
    ml_program.global private mutable @w(dense<1.0> : tensor<3xf32>) : tensor<3xf32>
    func.func @main() -> (tensor<f32> {graph.loss}) {
      %w = ml_program.global_load @w : tensor<3xf32>
      %0 = graph.exp %w : tensor<3xf32>
      %1 = graph.reduce_sum %0 {axes = array<i64: 0>, keep_dims = false} : (tensor<3xf32>) -> tensor<f32>
      return %1 : tensor<f32>
    })mlir",
                                                             ParserConfig(&context));
  ASSERT_TRUE(module);
  PassManager passes(&context);
  passes.addPass(sp::autodiff::createAutodiff());
  ASSERT_TRUE(succeeded(passes.run(*module)));
  auto main = module->lookupSymbol<func::FuncOp>("main");
  ASSERT_EQ(main.getNumResults(), 2u);
  auto parameter = main.getResultAttrOfType<FlatSymbolRefAttr>(1, sp::graph::kGradientOfAttr);
  ASSERT_TRUE(parameter);
  EXPECT_EQ(parameter.getValue(), "w");
}

} // namespace

/// Every graph op that can reach a plan has a kernel on every device built
/// in, registered under the op's name (the plan emitter names instructions
/// so). graph.constant alone is none: the emitter stores its value as the
/// plan's constant data.
TEST(OpContract, EveryEmittableOpHasAKernelOnEveryDevice) {
  MLIRContext context;
  context.loadDialect<graph::GraphDialect>();
  std::vector<std::unique_ptr<sp::runtime::Device>> devices;
  for (const std::string &name : sp::runtime::builtInDevices()) {
    std::string error;
    devices.push_back(sp::runtime::createDevice(name, error));
    ASSERT_TRUE(devices.back()) << name << ": " << error;
  }
  int checked = 0;
  for (RegisteredOperationName name : context.getRegisteredOperations()) {
    if (name.getDialectNamespace() != "graph")
      continue;
    StringRef op = name.getStringRef().drop_front(strlen("graph."));
    if (op == "constant")
      continue;
    ++checked;
    for (auto &device : devices)
      EXPECT_TRUE(device->findKernel(op.str(), sp::runtime::DType::Float32) ||
                  device->findKernel(op.str(), sp::runtime::DType::Int64))
          << "graph." << op.str() << " has no kernel on device " << device->name();
  }
  EXPECT_GT(checked, 50);
}

namespace {

/// The count N of the first `Trait<N>` among `Ns` that `name` has.
template <template <unsigned> class Trait, unsigned... Ns>
std::optional<unsigned> countTrait(RegisteredOperationName name,
                                   std::integer_sequence<unsigned, Ns...>) {
  std::optional<unsigned> count;
  ((count = !count && name.hasTrait<Trait<Ns>::template Impl>() ? std::optional(Ns) : count),
   ...);
  return count;
}
template <unsigned N> using ExactOperands = OpTrait::NOperands<N>;
template <unsigned N> using LeastOperands = OpTrait::AtLeastNOperands<N>;
template <unsigned N> using ExactResults = OpTrait::NResults<N>;
// Counts below 2 have traits of their own (ZeroOperands, OneResult, ...).
using Counts = std::integer_sequence<unsigned, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>;

} // namespace

/// The operand counts ODS gives each op bound its kernels: every kernel's
/// check refuses one operand fewer than the op has (or than its required
/// ones, where some are optional) and, for a fixed count, one more, with the
/// op's result count. So a kernel never indexes an operand its op lacks.
TEST(OpContract, KernelsRefuseOperandCountsTheirOpDoesNotHave) {
  MLIRContext context;
  context.loadDialect<graph::GraphDialect>();
  std::string deviceError;
  std::unique_ptr<sp::runtime::Device> cpu = sp::runtime::createDevice("cpu", deviceError);
  ASSERT_TRUE(cpu) << deviceError;
  int checked = 0;
  for (RegisteredOperationName name : context.getRegisteredOperations()) {
    if (name.getDialectNamespace() != "graph" || name.getStringRef() == "graph.constant")
      continue;
    std::string op = name.getStringRef().drop_front(strlen("graph.")).str();
    std::optional<unsigned> exact =
        name.hasTrait<OpTrait::ZeroOperands>()  ? std::optional(0u)
        : name.hasTrait<OpTrait::OneOperand>() ? std::optional(1u)
                                                : countTrait<ExactOperands>(name, Counts());
    std::optional<unsigned> least =
        name.hasTrait<OpTrait::AtLeastNOperands<1>::Impl>() ? std::optional(1u)
                                                           : countTrait<LeastOperands>(name, Counts());
    std::optional<unsigned> results =
        name.hasTrait<OpTrait::ZeroResults>()  ? std::optional(0u)
        : name.hasTrait<OpTrait::OneResult>() ? std::optional(1u)
                                               : countTrait<ExactResults>(name, Counts());
    if (!results || (!exact && !least))
      continue; // variadic: only the kernel knows
    sp::runtime::DType dtype = sp::runtime::DType::Float32;
    const sp::runtime::Kernel *kernel = cpu->findKernel(op, dtype);
    if (!kernel)
      kernel = cpu->findKernel(op, dtype = sp::runtime::DType::Int64);
    ASSERT_TRUE(kernel) << "graph." << op;
    sp::runtime::TensorArg operand;
    operand.dtype = dtype;
    operand.shape = {2};
    sp::runtime::Attributes none;
    auto check = [&](unsigned inputs) {
      sp::runtime::KernelArgs args;
      args.inputs.assign(inputs, operand);
      args.outputs.assign(*results, operand);
      args.attributes = &none;
      return kernel->check(args);
    };
    unsigned required = exact ? *exact : *least;
    if (required > 0)
      EXPECT_NE(check(required - 1), "") << "graph." << op << " accepts " << required - 1
                                          << " operands; ODS requires " << required;
    if (exact)
      EXPECT_NE(check(*exact + 1), "") << "graph." << op << " accepts " << *exact + 1
                                        << " operands; ODS has " << *exact;
    ++checked;
  }
  EXPECT_GT(checked, 50);
}

/// Folding an op on constants computes what its kernel computes, bit for
/// bit (NaN as NaN): each case's @main runs once as a plan, its arguments fed
/// as inputs, and once with the arguments replaced by constants and folded.
struct FoldCase {
  const char *name;
  const char *module;
};

const FoldCase kFoldCases[] = {
    {"float_arithmetic", R"mlir(
      func.func @main(%a: tensor<8xf64> {graph.onnx_name = "a"}, %b: tensor<8xf64> {graph.onnx_name = "b"}) -> (tensor<8xf64>, tensor<8xf64>, tensor<8xf64>, tensor<8xf64>, tensor<8xf64>, tensor<8xf64>, tensor<8xf64>) {
        %0 = graph.max %a, %b : (tensor<8xf64>, tensor<8xf64>) -> tensor<8xf64>
        %1 = graph.min %a, %b : (tensor<8xf64>, tensor<8xf64>) -> tensor<8xf64>
        %2 = graph.mod %a, %b : (tensor<8xf64>, tensor<8xf64>) -> tensor<8xf64>
        %3 = graph.fmod %a, %b : (tensor<8xf64>, tensor<8xf64>) -> tensor<8xf64>
        %4 = graph.div %a, %b : (tensor<8xf64>, tensor<8xf64>) -> tensor<8xf64>
        %5 = graph.sub %a, %b : (tensor<8xf64>, tensor<8xf64>) -> tensor<8xf64>
        %6 = graph.pow %a, %b : (tensor<8xf64>, tensor<8xf64>) -> tensor<8xf64>
        return %0, %1, %2, %3, %4, %5, %6 : tensor<8xf64>, tensor<8xf64>, tensor<8xf64>, tensor<8xf64>, tensor<8xf64>, tensor<8xf64>, tensor<8xf64>
      })mlir"},
    {"integer_arithmetic", R"mlir(
      func.func @main(%a: tensor<8xi64> {graph.onnx_name = "a"}, %b: tensor<8xi64> {graph.onnx_name = "b"}) -> (tensor<8xi64>, tensor<8xi64>, tensor<8xi64>, tensor<8xi64>, tensor<8xi64>, tensor<8xi64>) {
        %0 = graph.mod %a, %b : (tensor<8xi64>, tensor<8xi64>) -> tensor<8xi64>
        %1 = graph.fmod %a, %b : (tensor<8xi64>, tensor<8xi64>) -> tensor<8xi64>
        %2 = graph.div %a, %b : (tensor<8xi64>, tensor<8xi64>) -> tensor<8xi64>
        %3 = graph.max %a, %b : (tensor<8xi64>, tensor<8xi64>) -> tensor<8xi64>
        %4 = graph.mul %a, %b : (tensor<8xi64>, tensor<8xi64>) -> tensor<8xi64>
        %5 = graph.add %a, %b : (tensor<8xi64>, tensor<8xi64>) -> tensor<8xi64>
        return %0, %1, %2, %3, %4, %5 : tensor<8xi64>, tensor<8xi64>, tensor<8xi64>, tensor<8xi64>, tensor<8xi64>, tensor<8xi64>
      })mlir"},
    {"float_to_integer_cast", R"mlir(
      func.func @main(%a: tensor<8xf64> {graph.onnx_name = "a"}, %b: tensor<8xf64> {graph.onnx_name = "b"}) -> (tensor<8xi64>, tensor<8xi64>, tensor<8xi32>, tensor<8xi32>) {
        %0 = graph.cast %a : tensor<8xf64> -> tensor<8xi64>
        %1 = graph.cast %b : tensor<8xf64> -> tensor<8xi64>
        %2 = graph.cast %a : tensor<8xf64> -> tensor<8xi32>
        %3 = graph.cast %b : tensor<8xf64> -> tensor<8xi32>
        return %0, %1, %2, %3 : tensor<8xi64>, tensor<8xi64>, tensor<8xi32>, tensor<8xi32>
      })mlir"},
};

TEST(OpContract, FoldingAgreesWithTheKernel) {
  MLIRContext context;
  context.loadDialect<graph::GraphDialect, func::FuncDialect, ml_program::MLProgramDialect>();
  // Operands where the rules differ: signs, zero, NaN, infinity, extremes.
  const double floatsA[] = {7, -7, 7, -7, NAN, 1, INFINITY, -0.0};
  const double floatsB[] = {3, 3, -3, -3, 1e30, -2.7, 2.7, -1e300};
  const int64_t intsA[] = {7, -7, 7, -7, INT64_MIN, 5, 9, 0};
  const int64_t intsB[] = {3, 3, -3, -3, -1, 7, INT64_MAX, 4};
  llvm::SmallString<128> directory;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("sp-fold-check", directory));
  for (const FoldCase &foldCase : kFoldCases) {
    SCOPED_TRACE(foldCase.name);
    OwningOpRef<ModuleOp> module =
        parseSourceString<ModuleOp>(foldCase.module, ParserConfig(&context));
    ASSERT_TRUE(module);
    auto main = module->lookupSymbol<func::FuncOp>("main");
    bool isFloat = llvm::isa<FloatType>(
        llvm::cast<RankedTensorType>(main.getArgumentTypes()[0]).getElementType());
    bool floatResults = llvm::isa<FloatType>(
        llvm::cast<RankedTensorType>(main.getResultTypes()[0]).getElementType());
    auto bytesOf = [&](int index) {
      const void *data = isFloat ? static_cast<const void *>(index ? floatsB : floatsA)
                                 : static_cast<const void *>(index ? intsB : intsA);
      return std::vector<char>(static_cast<const char *>(data),
                               static_cast<const char *>(data) + 8 * 8);
    };

    // The kernels: a plan with the arguments as inputs, results r0, r1, ...
    for (unsigned r = 0; r < main.getNumResults(); ++r)
      main.setResultAttr(r, sp::graph::kOnnxNameAttr,
                         StringAttr::get(&context, "r" + std::to_string(r)));
    llvm::SmallString<128> planPath(directory);
    llvm::sys::path::append(planPath, std::string(foldCase.name) + ".spplan");
    sp::planning::PlanEmitOptions options;
    options.producer = "GradientCheckTest";
    ASSERT_TRUE(succeeded(sp::planning::emitPlan(*module, options, planPath)));
    std::string error;
    std::unique_ptr<runtime::Session> session = runtime::Session::load(std::string(planPath), error);
    ASSERT_TRUE(session) << error;
    ASSERT_EQ(session->inputs().size(), 2u);
    for (int i = 0; i < 2; ++i) {
      runtime::NpyArray array;
      array.dtype = isFloat ? runtime::DType::Float64 : runtime::DType::Int64;
      array.shape = {8};
      array.data = bytesOf(i);
      ASSERT_EQ(session->setInput(session->inputs()[i].name, array), "");
    }
    ASSERT_EQ(session->runStep(), "");

    // The folder: the arguments as constants, then canonicalize.
    OpBuilder builder(&main.getBody().front(), main.getBody().front().begin());
    for (int i = 0; i < 2; ++i) {
      auto type = llvm::cast<RankedTensorType>(main.getArgumentTypes()[i]);
      std::vector<char> bytes = bytesOf(i);
      DenseElementsAttr value = DenseElementsAttr::getFromRawBuffer(type, bytes);
      Value constant = graph::ConstantOp::create(builder, main.getLoc(), type, value);
      main.getArgument(i).replaceAllUsesWith(constant);
    }
    PassManager passes(&context);
    passes.addPass(mlir::createCanonicalizerPass());
    ASSERT_TRUE(succeeded(passes.run(*module)));
    auto returnOp = llvm::cast<func::ReturnOp>(main.getBody().front().getTerminator());
    for (unsigned r = 0; r < returnOp.getNumOperands(); ++r) {
      auto folded = returnOp.getOperand(r).getDefiningOp<graph::ConstantOp>();
      ASSERT_TRUE(folded) << "result " << r << " did not fold";
      auto elements = llvm::cast<DenseElementsAttr>(folded.getValue());
      runtime::NpyArray ran;
      ASSERT_EQ(session->output("r" + std::to_string(r), ran), "");
      auto resultType = llvm::cast<IntegerType>(
          llvm::isa<FloatType>(elements.getElementType())
              ? IntegerType::get(&context, 64)
              : elements.getElementType());
      size_t width = resultType.getWidth() / 8;
      ASSERT_EQ(ran.data.size(), 8 * width);
      for (int64_t k = 0; k < 8; ++k) {
        if (floatResults) {
          double expected = elements.getValues<double>()[k], actual;
          std::memcpy(&actual, ran.data.data() + 8 * k, 8);
          EXPECT_TRUE((std::isnan(expected) && std::isnan(actual)) ||
                      std::memcmp(&expected, &actual, 8) == 0)
              << "result " << r << "[" << k << "]: folded " << expected << ", kernel " << actual;
        } else {
          APInt value = elements.getValues<APInt>()[k];
          uint64_t expected = resultType.isUnsigned() ? value.getZExtValue()
                                                      : uint64_t(value.getSExtValue());
          uint64_t actual = 0;
          std::memcpy(&actual, ran.data.data() + width * k, width);
          if (!resultType.isUnsigned() && width < 8 && (actual >> (8 * width - 1)) & 1)
            actual |= ~uint64_t(0) << (8 * width);
          EXPECT_EQ(expected, actual) << "result " << r << "[" << k << "]";
        }
      }
    }
  }
  llvm::sys::fs::remove_directories(directory);
}
