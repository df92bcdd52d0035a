//===- sp-compile.cpp - ONNX model to training or inference plan ------------===//
//
// The user-facing compiler driver. Every failure is one line on stderr and
// exit code 1.
//
//===----------------------------------------------------------------------===//

#include "sp/Autodiff/Passes.h"
#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Fusion/Passes.h"
#include "sp/Import/OnnxImporter.h"
#include "sp/Plan/InstructionIds.h"
#include "sp/Plan/MemoryPlan.h"
#include "sp/Plan/Passes.h"
#include "sp/Plan/PlanEmitter.h"
#include "sp/Pipeline/Pipeline.h"
#include "sp/Scheduling/Passes.h"
#include "sp/SequenceParallel/Passes.h"
#include "sp/Training/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cctype>
#include <cmath>

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory category("sp-compile options");
static cl::OptionCategory trainingCategory("Training (with --train)");

static cl::opt<std::string> modelPath(cl::Positional, cl::desc("MODEL.onnx"),
                                      cl::Required, cl::cat(category));
static cl::opt<std::string> outputPath(
    "o", cl::desc("Output file (default: MODEL's name with .spplan in the current "
                  "folder for plans, stdout for MLIR)"),
    cl::value_desc("OUT"), cl::cat(category));
enum class EmitKind { Import, Mlir, Plan };
static cl::opt<EmitKind> emit(
    "emit", cl::desc("What to write"), cl::init(EmitKind::Plan),
    cl::values(clEnumValN(EmitKind::Plan, "plan",
                          "the execution plan for sp-run, and its weights in OUT.weights"),
               clEnumValN(EmitKind::Mlir, "mlir",
                          "the module in the sp dialects, after the last stage asked for"),
               clEnumValN(EmitKind::Import, "import",
                          "the module as imported, before any pass (sp-opt "
                          "--sp-train-pipeline runs the stages from there)")),
    cl::cat(category));
static cl::list<std::string> inputShapes(
    "input-shape",
    cl::desc("Static shape of a graph input; binds its symbolic dims everywhere "
             "(repeatable)"),
    cl::value_desc("NAME=DxDx..."), cl::cat(category));

static cl::opt<bool> report(
    "report",
    cl::desc("Print where each rank's bytes go: parameters, constants, gradients, "
             "optimizer state, peak activations; with --train, the step's total at fp32 and "
             "bf16 (--precision); with --sp, the bytes each collective "
             "moves, what the sequence split gathered and how much of the communication the "
             "schedule hides (a predicted timeline)"),
    cl::cat(category));
static cl::opt<bool> fuse("fuse",
                          cl::desc("Fuse decomposed attention and RMS norm into single ops "
                                   "(default on; --fuse=false keeps the graph as imported)"),
                          cl::init(true), cl::cat(category));

static cl::OptionCategory parallelCategory("Sequence parallelism");
static cl::opt<int64_t> sequenceParallel(
    "sp",
    cl::desc("Split the sequence across N ranks (run the plan with mpirun -np N); default 1. "
             "A sequence length N (2N for --sp-strategy=ring and --sp-ulysses-degree) does not "
             "divide is padded at "
             "its end with positions that attend to nothing real and count in no loss "
             "(models exported with a symbolic sequence length)"),
    cl::value_desc("N"), cl::init(1), cl::cat(parallelCategory));
static cl::opt<std::string> sequenceParallelStrategy(
    "sp-strategy",
    cl::desc("Attention across ranks: allgather (gather K/V), ulysses (all-to-all over "
             "heads), ring (K/V blocks around a ring), auto (of allgather and, for every divisor U "
             "of N, Ulysses in groups of U ranks with the ring across them, the least predicted "
             "attention time on the --cost-profile: compute plus the communication it does not "
             "hide, which for the ring is what each block's transfer takes beyond its step; "
             "--report gives every layout's prediction)"),
    cl::init("auto"), cl::value_desc("allgather|ulysses|ring|auto"),
    cl::cat(parallelCategory));
static cl::opt<int64_t> ulyssesDegree(
    "sp-ulysses-degree",
    cl::desc("The hybrid of Ulysses and the ring (USP, Megatron's hierarchical context "
             "parallelism): all-to-all over heads inside groups of U consecutive ranks, the "
             "ring across the N / U groups, so query heads need divide by U only. U divides "
             "N; U = N is ulysses, U = 1 the ring. Zigzag layout, 2N chunks"),
    cl::value_desc("U"), cl::init(0), cl::cat(parallelCategory));
static cl::opt<int64_t> ranksPerNode(
    "ranks-per-node",
    cl::desc("Ranks per node of the machine the plan will run on (sp-run numbers the ranks "
             "node by node): --sp-strategy=auto prices collectives that reach beyond a node "
             "at the --cost-profile's inter-node rates, keeping Ulysses' all-to-all inside a "
             "node and running the ring across nodes where that is faster (default: the "
             "profile's; h100-cluster has 8)"),
    cl::value_desc("R"), cl::init(0), cl::cat(parallelCategory));
static cl::opt<bool> noOverlap(
    "no-overlap",
    cl::desc("Keep every collective synchronous where sharding put it; by default the overlap "
             "scheduler starts collectives as early as their inputs and the memory budget "
             "allow, waits for them as late as their readers allow, and reduces parameter "
             "gradients in buckets hidden behind the backward pass"),
    cl::cat(parallelCategory));

static cl::opt<std::string> costProfile(
    "cost-profile",
    cl::desc("The machine the schedule, --sp-strategy=auto and --report's timeline assume: a "
             "built-in analytic profile (cpu: this 2-core CPU machine with MPI over shared "
             "memory; h100-nvlink: 8 H100s on NVLink; h100-ib: H100 nodes over 400 Gb/s "
             "InfiniBand; h100-cluster: nodes of 8 H100s on NVLink joined by InfiniBand), or a "
             "JSON file: an analytic profile of the same form, or a measured "
             "one written by sp-run --profile, whose times replace the estimates of the "
             "instructions it timed (default: cpu)"),
    cl::init("cpu"), cl::value_desc("FILE|NAME"), cl::cat(parallelCategory));

static cl::opt<bool> train("train", cl::desc("Compile a training step: loss, backward "
                                             "pass and optimizer update"),
                           cl::cat(trainingCategory));
static cl::opt<std::string> loss(
    "loss",
    cl::desc("causal-lm: mean next-token cross-entropy of the logits against the token "
             "input; output: the model's one scalar float output is the loss"),
    cl::init("causal-lm"), cl::value_desc("causal-lm|output"), cl::cat(trainingCategory));
static cl::list<std::string> params(
    "params",
    cl::desc("Trainable initializers: globs, or @FILE with one name per line "
             "(default: every float initializer of rank >= 1)"),
    cl::value_desc("GLOB,...|@FILE"), cl::CommaSeparated, cl::cat(trainingCategory));
static cl::list<std::string> frozen("frozen",
                                    cl::desc("Initializers that stay constant (globs)"),
                                    cl::value_desc("GLOB,..."), cl::CommaSeparated,
                                    cl::cat(trainingCategory));
static cl::opt<std::string> optimizer("optimizer", cl::desc("Parameter update rule"),
                                      cl::init("adamw"), cl::value_desc("adamw|sgd"),
                                      cl::cat(trainingCategory));
static cl::opt<double> learningRate("lr", cl::desc("Learning rate (default 1e-3)"),
                                    cl::init(1e-3), cl::cat(trainingCategory));
static cl::opt<double> weightDecay(
    "weight-decay", cl::desc("Weight decay (default: 0.01 for adamw, 0 for sgd)"),
    cl::init(-1), cl::cat(trainingCategory));
static cl::opt<double> beta1("beta1", cl::desc("AdamW beta1 (default 0.9)"), cl::init(0.9),
                             cl::cat(trainingCategory));
static cl::opt<double> beta2("beta2", cl::desc("AdamW beta2 (default 0.999)"),
                             cl::init(0.999), cl::cat(trainingCategory));
static cl::opt<double> epsilon("eps", cl::desc("AdamW epsilon (default 1e-8)"),
                               cl::init(1e-8), cl::cat(trainingCategory));

static cl::opt<std::string> lrSchedule(
    "lr-schedule",
    cl::desc("Learning rate per step, Hugging Face's get_*_schedule_with_warmup stepped as "
             "PyTorch's LambdaLR: linear warmup over --warmup-steps from 0 to --lr, then "
             "constant, linear decay or cosine decay to --min-lr at --total-steps "
             "(default: --lr throughout)"),
    cl::value_desc("constant|linear|cosine"), cl::cat(trainingCategory));
static cl::opt<int64_t> warmupSteps("warmup-steps",
                                    cl::desc("Schedule: steps of linear warmup (default 0)"),
                                    cl::init(0), cl::value_desc("W"),
                                    cl::cat(trainingCategory));
static cl::opt<int64_t> totalSteps(
    "total-steps",
    cl::desc("Schedule: the step linear and cosine decay end at (required for them)"),
    cl::init(0), cl::value_desc("T"), cl::cat(trainingCategory));
static cl::opt<double> minLearningRate(
    "min-lr",
    cl::desc("Schedule: the learning rate linear and cosine decay to (default 0; cosine as "
             "get_cosine_with_min_lr_schedule_with_warmup, linear likewise)"),
    cl::init(0), cl::value_desc("X"), cl::cat(trainingCategory));
static cl::opt<double> clipGradNorm(
    "clip-grad-norm",
    cl::desc("Scale the gradients so that their global L2 norm over all parameters is at "
             "most X, as torch.nn.utils.clip_grad_norm_ (with --sp, the norm one rank "
             "computes)"),
    cl::init(0), cl::value_desc("X"), cl::cat(trainingCategory));

static cl::opt<int64_t> microBatches(
    "micro-batches",
    cl::desc("Accumulate the gradients of K slices of the batch (dim 0 of every input, which "
             "K must divide) before one optimizer update: the same update and loss as the "
             "whole batch, within float rounding, with one slice's activations live at a time "
             "(default 1)"),
    cl::init(1), cl::value_desc("K"), cl::cat(trainingCategory));

static cl::opt<std::string> precision(
    "precision",
    cl::desc("fp32 (default), or bf16: mixed precision, with GEMMs and the element-wise "
             "ops between them in bf16 (bf16 activations) and fp32 master weights, "
             "optimizer state, gradient reductions, norms, softmax, attention and loss; "
             "--report shows the step's memory at both"),
    cl::init("fp32"), cl::value_desc("fp32|bf16"), cl::cat(trainingCategory));

static cl::opt<std::string> memoryBudget(
    "memory-budget",
    cl::desc("Fit each rank's step (parameters, constants, optimizer state and arena: "
             "--report's total) into BYTES by recomputing cheap activations (element-wise ops, "
             "norms, activations, casts, views, softmax, dropout, products the cost profile finds "
             "memory-bound) in the backward pass instead of keeping them, chosen by the cost "
             "model; an error says by how much it cannot. "
             "BYTES is a count with an optional K, M, G or T suffix (powers of 1024, e.g. 512M)"),
    cl::value_desc("BYTES"), cl::cat(trainingCategory));

static int reportError(const llvm::Twine &message) {
  llvm::errs() << "sp-compile: error: " << message << "\n";
  return 1;
}

/// Reads the names `--params @FILE` lists, one per line, as one
/// comma-separated value.
static llvm::Expected<std::string> readParamFile(llvm::StringRef file) {
  auto buffer = llvm::MemoryBuffer::getFile(file);
  if (!buffer)
    return llvm::createStringError("cannot read --params file '" + file +
                                   "': " + buffer.getError().message());
  llvm::SmallVector<llvm::StringRef> lines;
  (*buffer)->getBuffer().split(lines, '\n');
  std::string names;
  for (llvm::StringRef line : lines) {
    line = line.trim();
    if (line.empty())
      continue;
    if (line.contains(','))
      return llvm::createStringError("--params file '" + file + "': name '" + line +
                                     "' holds a comma");
    names += (names.empty() ? "" : ",") + line.str();
  }
  if (names.empty())
    return llvm::createStringError("--params file '" + file + "' names no parameter");
  return names;
}

/// Rewrites `--params @FILE` and `--params=@FILE` into the names FILE lists,
/// before llvm::cl would read @FILE as a response file of more options.
static llvm::Error expandParamFiles(std::vector<std::string> &arguments) {
  for (size_t i = 0; i < arguments.size(); ++i) {
    llvm::StringRef argument = arguments[i];
    bool separate = argument == "--params" || argument == "-params";
    llvm::StringRef value;
    if (separate && i + 1 < arguments.size())
      value = arguments[i + 1];
    else if (argument.starts_with("--params=") || argument.starts_with("-params="))
      value = argument.split('=').second;
    if (!value.starts_with("@"))
      continue;
    llvm::Expected<std::string> names = readParamFile(value.drop_front());
    if (!names)
      return names.takeError();
    if (separate)
      arguments.erase(arguments.begin() + i + 1);
    arguments[i] = "--params=" + *names;
  }
  return llvm::Error::success();
}

/// Reads --memory-budget's value: decimal digits and an optional suffix K, M,
/// G or T (KiB, MiB, ...: powers of 1024; "B" alone or after one is allowed),
/// positive and within int64. Returns the problem, or empty.
static std::string parseMemoryBudget(llvm::StringRef text, int64_t &bytes) {
  llvm::StringRef digits = text.take_while([](char c) { return c >= '0' && c <= '9'; });
  llvm::StringRef suffix = text.drop_front(digits.size());
  uint64_t count = 0;
  if (digits.empty() || digits.getAsInteger(10, count) ||
      !llvm::all_of(suffix, [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }))
    return "'" + text.str() + "' is not a byte count (digits with an optional K, M, G or T "
                              "suffix, e.g. 512M)";
  unsigned shift = 0;
  std::string unit = suffix.lower();
  if (!unit.empty() && unit != "b") {
    size_t power = llvm::StringRef("kmgt").find(unit[0]);
    llvm::StringRef rest = llvm::StringRef(unit).drop_front();
    if (power == llvm::StringRef::npos || !(rest.empty() || rest == "b" || rest == "ib"))
      return "'" + text.str() + "' has an unknown unit '" + suffix.str() +
             "' (K, M, G or T: powers of 1024)";
    shift = 10 * unsigned(power + 1);
  }
  if (count == 0)
    return "the budget must be positive";
  if (count > (uint64_t(INT64_MAX) >> shift))
    return "'" + text.str() + "' is more bytes than a 64-bit count holds";
  bytes = int64_t(count << shift);
  return "";
}

static std::string formatBytes(uint64_t bytes) {
  char text[32];
  if (bytes >= (1ull << 30))
    snprintf(text, sizeof text, "%.2f GiB", double(bytes) / double(1ull << 30));
  else if (bytes >= (1ull << 20))
    snprintf(text, sizeof text, "%.2f MiB", double(bytes) / double(1ull << 20));
  else if (bytes >= (1ull << 10))
    snprintf(text, sizeof text, "%.1f KiB", double(bytes) / double(1ull << 10));
  else
    snprintf(text, sizeof text, "%llu B", (unsigned long long)bytes);
  return text;
}

/// The --report table, one rank's memory in a step; `fullBatch`, for a step
/// of micro-batches, the same step without them.
static void printReport(llvm::raw_ostream &os, const sp::planning::StepMemory &memory,
                        int64_t ranks, const sp::planning::StepMemory *fullBatch) {
  auto line = [&](llvm::StringRef what, uint64_t bytes, llvm::StringRef note = {}) {
    os << llvm::formatv("  {0,-22} {1,14}  {2,10}", what, bytes, formatBytes(bytes));
    if (!note.empty())
      os << "  " << note;
    os << "\n";
  };
  os << "memory per rank (" << ranks << (ranks == 1 ? " rank" : " ranks") << "):\n";
  line("parameters", memory.parameterBytes, "trainable, kept across steps");
  line("constants", memory.constantBytes, "frozen weights, tables");
  line("gradients", memory.gradientBytes, "in the arena, live to the step's end");
  line("optimizer state", memory.optimizerStateBytes, "kept across steps");
  if (fullBatch) {
    line("peak activations", memory.peakActivationBytes,
         "most activation bytes live at once, gradients aside: one micro-batch of " +
             std::to_string(microBatches));
    line("full-batch activations", fullBatch->peakActivationBytes,
         "the same without --micro-batches");
  } else {
    line("peak activations", memory.peakActivationBytes,
         "most activation bytes live at once, gradients aside");
  }
  line("arena", memory.arenaBytes,
       "the step's scratch memory: activations and gradients, reused by liveness");
  line("total", memory.parameterBytes + memory.constantBytes +
                    memory.optimizerStateBytes + memory.arenaBytes,
       "parameters, constants, optimizer state and arena");
}

/// The --report lines of a training step's update: the optimizer, its
/// learning-rate schedule and gradient clipping.
static void printTrainingReport(llvm::raw_ostream &os, ModuleOp module) {
  auto optimizer = module->getAttrOfType<DictionaryAttr>(sp::training::kOptimizerAttr);
  if (!optimizer)
    return;
  auto real = [&](llvm::StringRef name) {
    auto value = optimizer.getAs<FloatAttr>(name);
    return value ? value.getValueAsDouble() : 0.0;
  };
  auto integer = [&](llvm::StringRef name) -> int64_t {
    auto value = optimizer.getAs<IntegerAttr>(name);
    return value ? value.getInt() : 0;
  };
  auto kind = optimizer.getAs<StringAttr>("kind");
  os << "update:\n";
  os << llvm::formatv("  {0,-22} {1} lr {2}\n", "optimizer",
                      kind ? kind.getValue() : llvm::StringRef(),
                      llvm::format("%g", real("learning_rate")));
  if (auto schedule = optimizer.getAs<StringAttr>("lr_schedule")) {
    os << llvm::formatv("  {0,-22} {1}, warmup {2} steps", "lr schedule", schedule.getValue(),
                        integer("warmup_steps"));
    if (schedule.getValue() != "constant")
      os << llvm::formatv(", total {0} steps, min lr {1}", integer("total_steps"),
                          llvm::format("%g", real("min_learning_rate")));
    os << "\n";
  } else {
    os << llvm::formatv("  {0,-22} none (constant lr)\n", "lr schedule");
  }
  if (auto clip = module->getAttrOfType<FloatAttr>(sp::training::kClipGradNormAttr))
    os << llvm::formatv("  {0,-22} global L2 norm at most {1}\n", "gradient clipping",
                        llvm::format("%g", clip.getValueAsDouble()));
  else
    os << llvm::formatv("  {0,-22} none\n", "gradient clipping");
  if (auto slices = module->getAttrOfType<IntegerAttr>(sp::training::kMicroBatchesAttr))
    os << llvm::formatv("  {0,-22} {1} per update, gradients accumulated, then one "
                        "reduction over ranks, clipping and update\n",
                        "micro-batches", slices.getInt());
}

/// The --report lines of --memory-budget: the step with and without the
/// recomputation, and what recomputing costs by the cost model.
static void printBudgetReport(llvm::raw_ostream &os, ModuleOp module,
                              const sp::planning::StepMemory &memory,
                              const sp::planning::StepMemory &unbudgeted,
                              const sp::scheduling::CostModel &costModel) {
  auto total = [](const sp::planning::StepMemory &step) {
    return step.parameterBytes + step.constantBytes + step.optimizerStateBytes +
           step.arenaBytes;
  };
  auto budget = module->getAttrOfType<IntegerAttr>(sp::training::kMemoryBudgetAttr);
  func::FuncOp main = module.lookupSymbol<func::FuncOp>("main");
  if (!budget || !main)
    return;
  unsigned ops = 0;
  double flops = 0, seconds = 0;
  main.walk([&](Operation *op) {
    if (!op->hasAttr(sp::training::kRecomputedAttr))
      return;
    ++ops;
    flops += sp::scheduling::CostModel::estimateFlops(op);
    seconds += costModel.estimateComputeSeconds(op);
  });
  double stepCompute = sp::scheduling::predictTimeline(main, costModel).computeSeconds;
  double before = stepCompute - seconds;
  auto line = [&](llvm::StringRef what, uint64_t bytes, llvm::StringRef note) {
    os << llvm::formatv("  {0,-22} {1,14}  {2,10}  {3}\n", what, bytes, formatBytes(bytes), note);
  };
  uint64_t after = total(memory), without = total(unbudgeted);
  os << "memory budget (recomputation in the backward pass):\n";
  line("budget", uint64_t(budget.getInt()), "per rank, --memory-budget");
  line("step without budget", without, "total as compiled without --memory-budget");
  line("step with budget", after, "total above");
  line("saved", without > after ? without - after : 0,
       "peak activations " + std::to_string(unbudgeted.peakActivationBytes) + " -> " +
           std::to_string(memory.peakActivationBytes) + " bytes");
  os << llvm::formatv("  {0,-22} {1} ops, {2:F3} MFLOP, {3:F1} us per step predicted ({4:F1}% "
                      "more compute; cost profile {5})\n",
                      "recompute cost", ops, flops / 1e6, seconds * 1e6,
                      before > 0 ? 100.0 * seconds / before : 0.0, costModel.profile);
}

/// The --report lines of --precision: the step's memory at each precision,
/// `fp32` and `bf16` (one of them the step compiled, the other compiled again
/// for the comparison), both without recomputation when `withoutBudget`.
static void printPrecisionReport(llvm::raw_ostream &os, const sp::planning::StepMemory &fp32,
                                 const sp::planning::StepMemory &bf16, bool withoutBudget) {
  auto total = [](const sp::planning::StepMemory &step) {
    return step.parameterBytes + step.constantBytes + step.optimizerStateBytes +
           step.arenaBytes;
  };
  auto line = [&](llvm::StringRef what, uint64_t bytes, llvm::StringRef note) {
    os << llvm::formatv("  {0,-22} {1,14}  {2,10}  {3}\n", what, bytes, formatBytes(bytes), note);
  };
  os << "precision (this plan: " << precision << "; the step's total at each"
     << (withoutBudget ? ", without --memory-budget" : "") << "):\n";
  line("fp32", total(fp32),
       "peak activations " + std::to_string(fp32.peakActivationBytes) + " bytes");
  line("bf16", total(bf16),
       "peak activations " + std::to_string(bf16.peakActivationBytes) +
           " bytes; bf16 GEMMs and activations, fp32 master weights, optimizer state, "
           "norms, softmax, attention and loss");
}

/// The --report lines of the step's attention: each forward attention op
/// (by the kernel it runs: attention, block_attention under allgather,
/// ring_attention) and the mask it computes: causal, a band the kernels
/// compute from positions (what sp-fuse makes of a causal or sliding-window
/// mask and-ed with a padding mask), or a bias tensor, which is quadratic in
/// the sequence when it has an [Sq, Sk] matrix; then a soft-cap and the
/// dropout on the probabilities, which the kernels also compute.
/// The --report lines of --sp-strategy=auto's choice: every layout it could
/// run, with the step's predicted time under it: this plan's predicted step
/// with the chosen layout's attention time replaced by that layout's (the
/// rest of the step is the same under every layout).
static void printLayoutReport(llvm::raw_ostream &os, ModuleOp module, double stepSeconds) {
  auto layouts = module->getAttrOfType<DictionaryAttr>(sp::graph::kAttentionLayoutsAttr);
  if (!layouts)
    return;
  llvm::StringRef chosen = layouts.getAs<StringAttr>("chosen").getValue();
  auto chosenSeconds = layouts.getAs<FloatAttr>(chosen);
  if (!chosenSeconds)
    return;
  llvm::SmallVector<std::pair<double, llvm::StringRef>> steps;
  for (NamedAttribute entry : layouts)
    if (auto seconds = llvm::dyn_cast<FloatAttr>(entry.getValue()))
      steps.push_back({stepSeconds - chosenSeconds.getValueAsDouble() +
                           seconds.getValueAsDouble(),
                       entry.getName().getValue()});
  llvm::sort(steps);
  os << "attention layouts --sp-strategy=auto compared (predicted step time: this step with "
        "each layout's attention in place of the chosen one's):\n";
  for (const auto &[seconds, name] : steps)
    os << llvm::formatv("  {0,-34} {1,12:F1} us{2}\n", name, seconds * 1e6,
                        name == chosen ? "  (chosen)" : "");
}

static void printAttentionReport(llvm::raw_ostream &os, ModuleOp module) {
  // (kernel, mask) in the order the step first meets them, and a count.
  llvm::SmallVector<std::pair<std::pair<llvm::StringRef, std::string>, int64_t>> kinds;
  module.walk([&](Operation *op) {
    if (!llvm::isa<sp::graph::AttentionOp, sp::graph::BlockAttentionOp,
                   sp::graph::RingAttentionOp>(op))
      return;
    std::string mask;
    llvm::raw_string_ostream describe(mask);
    if (auto causal = op->getAttrOfType<BoolAttr>("causal"); causal && causal.getValue())
      describe << "causal";
    if (auto fill = op->getAttrOfType<FloatAttr>("band_fill")) {
      auto bound = [&](llvm::StringRef name) {
        auto value = op->getAttrOfType<IntegerAttr>(name);
        return value ? std::to_string(value.getValue().getSExtValue()) : std::string();
      };
      describe << (mask.empty() ? "" : ", ") << "band [" << bound("band_lower") << ", "
               << bound("band_upper") << "] of key - query positions, fill "
               << fill.getValueAsDouble() << " outside (computed by the kernels)";
    }
    // The bias is the last operand past query, key and value (and positions).
    unsigned fixed = llvm::isa<sp::graph::BlockAttentionOp>(op) ? 5 : 3;
    if (op->getNumOperands() > fixed) {
      auto bias = llvm::cast<RankedTensorType>(op->getOperands().back().getType());
      int64_t rank = bias.getRank();
      bool square = rank >= 2 && bias.getDimSize(rank - 2) > 1 && bias.getDimSize(rank - 1) > 1;
      describe << (mask.empty() ? "" : ", ") << "bias "
               << sp::graph::formatShape(bias.getShape())
               << (square ? " (a tensor with an [Sq, Sk] matrix: quadratic in the sequence)"
                          : "");
    }
    if (mask.empty())
      mask = "no mask";
    // What else shapes the probabilities, computed by the kernels too.
    if (auto softcap = op->getAttrOfType<FloatAttr>("softcap"))
      describe << ", soft-cap " << softcap.getValueAsDouble();
    if (auto ratio = op->getAttrOfType<FloatAttr>("dropout_ratio"))
      describe << ", dropout " << ratio.getValueAsDouble();
    std::pair<llvm::StringRef, std::string> kind = {op->getName().stripDialect(), mask};
    auto *known = llvm::find_if(kinds, [&](const auto &entry) { return entry.first == kind; });
    if (known == kinds.end())
      kinds.push_back({kind, 1});
    else
      ++known->second;
  });
  if (kinds.empty())
    return;
  os << "attention (forward ops per step, by kernel and mask):\n";
  for (const auto &[kind, count] : kinds)
    os << llvm::formatv("  {0,-22} {1,14}  {2}\n", kind.first, count, kind.second);
}

/// The --report lines of a sequence-parallel step: what each kind of
/// collective moves, and what the sharding pass gathered and chose.
static void printParallelReport(llvm::raw_ostream &os, ModuleOp module,
                                llvm::ArrayRef<std::string> remarks) {
  llvm::SmallVector<sp::sequence_parallel::CollectiveTraffic> traffic =
      sp::sequence_parallel::measureCollectiveTraffic(module);
  if (traffic.empty() && remarks.empty())
    return;
  auto ranks = module->getAttrOfType<IntegerAttr>(sp::sequence_parallel::kNumRanksAttr);
  os << "collectives per step, bytes each rank sends (" << (ranks ? ranks.getInt() : 1)
     << " ranks" << (module->hasAttr(sp::sequence_parallel::kZigzagAttr) ? ", zigzag" : "")
     << "):\n";
  uint64_t total = 0;
  for (const sp::sequence_parallel::CollectiveTraffic &entry : traffic) {
    os << llvm::formatv("  {0,-22} {1,14}  {2,10}  {3} ops\n", entry.kind, entry.bytesSent,
                        formatBytes(entry.bytesSent), entry.count);
    total += entry.bytesSent;
  }
  os << llvm::formatv("  {0,-22} {1,14}  {2,10}\n", "total", total, formatBytes(total));
  if (auto unpadded =
          module->getAttrOfType<IntegerAttr>(sp::graph::kUnpaddedSequenceLengthAttr)) {
    auto main = module.lookupSymbol<func::FuncOp>("main");
    auto tokenName = module->getAttrOfType<StringAttr>(sp::graph::kTokenInputAttr);
    int64_t padded = 0;
    for (unsigned i = 0; main && i < main.getNumArguments(); ++i) {
      auto name = main.getArgAttrOfType<StringAttr>(i, sp::graph::kOnnxNameAttr);
      auto sharded = main.getArgAttrOfType<IntegerAttr>(i, sp::graph::kShardAxisAttr);
      if (name && sharded && (!tokenName || name == tokenName))
        padded = llvm::cast<RankedTensorType>(main.getArgument(i).getType())
                     .getDimSize(sharded.getInt()) *
                 (ranks ? ranks.getInt() : 1);
    }
    os << "  sequence padded from " << unpadded.getInt() << " to " << padded
       << " positions to split across the ranks (" << (padded - unpadded.getInt())
       << " padding, " << llvm::formatv("{0:F1}", 100.0 * double(padded - unpadded.getInt()) /
                                                       double(padded))
       << "% of the step's tokens)\n";
  }
  for (const std::string &remark : remarks)
    os << "  " << remark << "\n";
}

/// Where the plan goes when -o is not given: MODEL's stem + .spplan, here.
static std::string defaultPlanPath() {
  return (llvm::sys::path::stem(modelPath) + ".spplan").str();
}

/// Writes `module` as text to -o (stdout by default).
static int writeModule(ModuleOp module) {
  // Instruction ids are for plans and profiles; printed, they would only
  // clutter every op.
  module->walk([](Operation *op) { op->removeAttr(sp::planning::kInstructionIdAttr); });
  std::string path = outputPath.empty() ? std::string("-") : std::string(outputPath);
  // writeToOutput renames a temporary over the path, which would replace a
  // FIFO or a device (other than /dev/null) with a regular file: those are
  // written in place.
  llvm::sys::fs::file_status status;
  if (path != "-" && !llvm::sys::fs::status(path, status) &&
      status.type() != llvm::sys::fs::file_type::regular_file &&
      status.type() != llvm::sys::fs::file_type::directory_file) {
    std::error_code code;
    llvm::raw_fd_ostream os(path, code);
    if (!code) {
      module->print(os);
      os.flush();
      code = os.error();
    }
    if (code)
      return reportError("cannot write '" + path + "': " + code.message());
    return 0;
  }
  if (llvm::Error error = llvm::writeToOutput(path, [&](llvm::raw_ostream &os) {
        module->print(os);
        return llvm::Error::success();
      })) {
    // Some write errors start with the quoted path; say it once.
    std::string why = llvm::toString(std::move(error));
    llvm::StringRef reason(why);
    reason.consume_front("'" + path + "': ");
    return reportError("cannot write '" + path + "': " + reason);
  }
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::registerAsmPrinterCLOptions();
  mlir::registerMLIRContextCLOptions();
  cl::HideUnrelatedOptions({&category, &trainingCategory, &parallelCategory});
  cl::SetVersionPrinter([](llvm::raw_ostream &os) {
    os << "sp-compile " SP_VERSION "\n";
  });
  std::vector<std::string> arguments(argv, argv + argc);
  if (llvm::Error error = expandParamFiles(arguments))
    return reportError(llvm::toString(std::move(error)));
  std::vector<const char *> argumentPointers;
  for (const std::string &argument : arguments)
    argumentPointers.push_back(argument.c_str());
  cl::ParseCommandLineOptions(
      int(argumentPointers.size()), argumentPointers.data(),
      "sp-compile: compile an ONNX transformer into a plan for sp-run\n\n"
      "  sp-compile MODEL.onnx [-o OUT] [--emit=plan|mlir] [--input-shape NAME=DxD] [--report]\n"
      "             [--train [--loss=causal-lm|output] [--params GLOB,...|@FILE]\n"
      "              [--frozen GLOB,...] [--optimizer=adamw|sgd] [--lr X] [--weight-decay X]\n"
      "              [--beta1 X] [--beta2 X] [--eps X] [--clip-grad-norm X]\n"
      "              [--micro-batches K] [--precision=fp32|bf16] [--memory-budget BYTES]\n"
      "              [--lr-schedule=constant|linear|cosine [--warmup-steps W]\n"
      "               [--total-steps T] [--min-lr X]]]\n"
      "             [--sp N [--sp-strategy=allgather|ulysses|ring|auto] [--sp-ulysses-degree U]\n"
      "                     [--ranks-per-node R] [--no-overlap]]\n"
      "             [--cost-profile FILE|cpu|h100-nvlink|h100-ib|h100-cluster]\n\n"
      "Without --train the plan runs inference. Training needs static shapes:\n"
      "bind dynamic dims with --input-shape, e.g. --input-shape input_ids=2x128.\n"
      "With --emit=mlir, weights print as dense_resource blobs; MLIR's printer\n"
      "flags such as --mlir-elide-resource-strings-if-larger=N are accepted.\n");

  bool trainingOptionGiven = !params.empty() || !frozen.empty() ||
                             loss.getNumOccurrences() || optimizer.getNumOccurrences() ||
                             learningRate.getNumOccurrences() ||
                             weightDecay.getNumOccurrences() || beta1.getNumOccurrences() ||
                             beta2.getNumOccurrences() || epsilon.getNumOccurrences() ||
                             lrSchedule.getNumOccurrences() ||
                             warmupSteps.getNumOccurrences() ||
                             totalSteps.getNumOccurrences() ||
                             minLearningRate.getNumOccurrences() ||
                             clipGradNorm.getNumOccurrences() ||
                             microBatches.getNumOccurrences() ||
                             precision.getNumOccurrences() ||
                             memoryBudget.getNumOccurrences();
  if (trainingOptionGiven && !train)
    return reportError("training options (--loss, --params, --frozen, --optimizer, --lr, "
                       "--micro-batches, --precision, --memory-budget, ...) need --train");
  if (precision != "fp32" && precision != "bf16")
    return reportError("--precision " + precision + ": not a precision (fp32 or bf16)");
  int64_t budgetBytes = 0;
  if (memoryBudget.getNumOccurrences()) {
    std::string problem = parseMemoryBudget(memoryBudget, budgetBytes);
    if (!problem.empty())
      return reportError("--memory-budget " + memoryBudget + ": " + problem);
  }
  if (microBatches < 1)
    return reportError("--micro-batches " + llvm::Twine(microBatches) +
                       ": the count must be at least 1");
  if (clipGradNorm.getNumOccurrences() && (!(clipGradNorm > 0) || std::isinf(clipGradNorm))) {
    std::string value;
    llvm::raw_string_ostream(value) << llvm::format("%g", double(clipGradNorm));
    return reportError("--clip-grad-norm " + value +
                       ": the maximum norm must be positive and finite");
  }
  if (!lrSchedule.getNumOccurrences() &&
      (warmupSteps.getNumOccurrences() || totalSteps.getNumOccurrences() ||
       minLearningRate.getNumOccurrences()))
    return reportError("--warmup-steps, --total-steps and --min-lr need --lr-schedule");
  if (lrSchedule.getNumOccurrences()) {
    std::string problem = sp::graph::describeLRScheduleProblem(
        lrSchedule, warmupSteps, totalSteps, learningRate, minLearningRate);
    if (!problem.empty())
      return reportError("--lr-schedule: " + problem);
  }
  if (sequenceParallel < 1)
    return reportError("--sp " + llvm::Twine(sequenceParallel) +
                       ": the rank count must be at least 1");
  if (sequenceParallelStrategy.getNumOccurrences() && sequenceParallel == 1)
    return reportError("--sp-strategy needs --sp N with N > 1");
  if (ulyssesDegree.getNumOccurrences() && sequenceParallel == 1)
    return reportError("--sp-ulysses-degree needs --sp N with N > 1");
  if (ranksPerNode.getNumOccurrences() && ranksPerNode < 1)
    return reportError("--ranks-per-node " + llvm::Twine(ranksPerNode) +
                       ": the count must be at least 1");
  if (ulyssesDegree.getNumOccurrences() && ulyssesDegree < 1)
    return reportError("--sp-ulysses-degree " + llvm::Twine(ulyssesDegree) +
                       ": the degree must be at least 1");

  // A bad profile is an error before any work, with or without --sp.
  llvm::Expected<sp::scheduling::CostModel> costModel =
      sp::scheduling::loadCostModel(costProfile);
  if (!costModel)
    return reportError(llvm::toString(costModel.takeError()));

  if (costModel->measuredWorldSize > 0 && costModel->measuredWorldSize != sequenceParallel)
    llvm::errs() << "sp-compile: warning: cost profile '" << costProfile << "' was measured on "
                 << costModel->measuredWorldSize << " ranks, this plan is for "
                 << sequenceParallel << "; its collectives' times may not carry over\n";

  sp::OnnxImportOptions options;
  options.forCpuPlan = emit == EmitKind::Plan;
  options.microBatches = microBatches;
  // Ring attention and the hybrid lay the sequence out zigzag, in 2 chunks
  // per rank; auto considers the ring only where the length already makes
  // 2N chunks.
  if (sequenceParallel > 1)
    options.sequenceMultiple =
        sequenceParallel *
        (sequenceParallelStrategy == "ring" || ulyssesDegree.getNumOccurrences() ? 2 : 1);
  for (const std::string &shape : inputShapes)
    if (llvm::Error error = sp::parseInputShape(shape, options))
      return reportError(llvm::toString(std::move(error)));

  MLIRContext context;
  context.printOpOnDiagnostic(false);
  context.printStackTraceOnDiagnostic(false);
  auto module = sp::importOnnxModel(context, modelPath, options);
  if (!module)
    return reportError(llvm::toString(module.takeError()));
  if (emit == EmitKind::Import)
    return writeModule(**module);

  // The first diagnostic of a failing stage becomes the one error line.
  std::string stageError;
  std::vector<std::string> remarks;
  // Set while --report compiles the whole batch again, which would repeat
  // the warnings and remarks.
  bool errorsOnly = false;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diagnostic) {
    if (diagnostic.getSeverity() == DiagnosticSeverity::Error && stageError.empty())
      stageError = diagnostic.str();
    if (errorsOnly)
      return success();
    if (diagnostic.getSeverity() == DiagnosticSeverity::Warning)
      llvm::errs() << "sp-compile: warning: " << diagnostic.str() << "\n";
    // Remarks say what sequence parallelism gathered and chose: --report.
    if (diagnostic.getSeverity() == DiagnosticSeverity::Remark)
      remarks.push_back(diagnostic.str());
    return success();
  });
  auto fail = [&]() { return reportError(modelPath + ": " + stageError); };

  sp::pipeline::TrainingPipelineOptions stages;
  stages.fuse = fuse;
  stages.train = train;
  stages.loss = loss;
  stages.params = std::vector<std::string>(params.begin(), params.end());
  stages.frozen = std::vector<std::string>(frozen.begin(), frozen.end());
  stages.numRanks = sequenceParallel;
  stages.strategy = sequenceParallelStrategy;
  stages.ulyssesDegree = ulyssesDegree;
  stages.ranksPerNode = ranksPerNode;
  stages.overlap = !noOverlap;
  stages.costProfile = costProfile;
  stages.clipGradNorm = clipGradNorm.getNumOccurrences() ? double(clipGradNorm) : 0.0;
  stages.microBatches = microBatches;
  stages.memoryBudget = budgetBytes;
  stages.precision = precision;
  stages.optimizer = optimizer;
  stages.learningRate = learningRate;
  stages.weightDecay = weightDecay;
  stages.beta1 = beta1;
  stages.beta2 = beta2;
  stages.epsilon = epsilon;
  stages.lrSchedule = lrSchedule;
  stages.warmupSteps = warmupSteps;
  stages.totalSteps = totalSteps;
  stages.minLearningRate = minLearningRate;
  PassManager pm(&context);
  sp::pipeline::buildTrainingPipeline(pm, stages, *costModel);
  if (failed(pm.run(**module)))
    return fail();

  if (report) {
    FailureOr<sp::planning::StepMemory> memory = sp::planning::measureStepMemory(**module);
    if (failed(memory))
      return fail();
    // The same step compiled again with other stages, only to compare its
    // memory (quietly: its warnings and remarks would repeat this one's).
    auto measureAgain = [&](const sp::OnnxImportOptions &imports,
                            const sp::pipeline::TrainingPipelineOptions &otherStages)
        -> FailureOr<sp::planning::StepMemory> {
      auto other = sp::importOnnxModel(context, modelPath, imports);
      if (!other) {
        stageError = llvm::toString(other.takeError());
        return failure();
      }
      PassManager otherPm(&context);
      sp::pipeline::buildTrainingPipeline(otherPm, otherStages, *costModel);
      errorsOnly = true;
      LogicalResult ran = otherPm.run(**other);
      errorsOnly = false;
      if (failed(ran))
        return failure();
      return sp::planning::measureStepMemory(**other);
    };
    // The whole batch in one pass.
    std::optional<sp::planning::StepMemory> fullBatch;
    if (microBatches > 1) {
      sp::OnnxImportOptions fullBatchImport = options;
      fullBatchImport.microBatches = 1;
      sp::pipeline::TrainingPipelineOptions fullBatchStages;
      fullBatchStages.copyOptionValuesFrom(stages);
      fullBatchStages.microBatches = 1;
      fullBatchStages.memoryBudget = 0;
      FailureOr<sp::planning::StepMemory> fullBatchMemory =
          measureAgain(fullBatchImport, fullBatchStages);
      if (failed(fullBatchMemory))
        return fail();
      fullBatch = *fullBatchMemory;
    }
    // The step without recomputation.
    std::optional<sp::planning::StepMemory> unbudgeted;
    if (budgetBytes > 0) {
      sp::pipeline::TrainingPipelineOptions unbudgetedStages;
      unbudgetedStages.copyOptionValuesFrom(stages);
      unbudgetedStages.memoryBudget = 0;
      FailureOr<sp::planning::StepMemory> unbudgetedMemory =
          measureAgain(options, unbudgetedStages);
      if (failed(unbudgetedMemory))
        return fail();
      unbudgeted = *unbudgetedMemory;
    }
    // The step at the other precision.
    std::optional<sp::planning::StepMemory> otherPrecision;
    if (train) {
      sp::pipeline::TrainingPipelineOptions otherStages;
      otherStages.copyOptionValuesFrom(stages);
      otherStages.precision = precision == "bf16" ? "fp32" : "bf16";
      // Compared without recomputation: a budget met at one precision may
      // not be at the other.
      otherStages.memoryBudget = 0;
      FailureOr<sp::planning::StepMemory> otherMemory = measureAgain(options, otherStages);
      if (failed(otherMemory))
        return fail();
      otherPrecision = *otherMemory;
    }
    // Beside a module printed to stdout, the report goes to stderr.
    bool moduleOnStdout = emit == EmitKind::Mlir && (outputPath.empty() || outputPath == "-");
    llvm::raw_ostream &os = moduleOnStdout ? llvm::errs() : llvm::outs();
    auto ranks = (**module)->getAttrOfType<IntegerAttr>(sp::sequence_parallel::kNumRanksAttr);
    printReport(os, *memory, ranks ? ranks.getInt() : 1, fullBatch ? &*fullBatch : nullptr);
    printTrainingReport(os, **module);
    if (otherPrecision) {
      bool bf16 = precision == "bf16";
      const sp::planning::StepMemory &compiled = unbudgeted ? *unbudgeted : *memory;
      printPrecisionReport(os, bf16 ? *otherPrecision : compiled,
                           bf16 ? compiled : *otherPrecision, unbudgeted.has_value());
    }
    if (unbudgeted)
      printBudgetReport(os, **module, *memory, *unbudgeted, *costModel);
    printAttentionReport(os, **module);
    printParallelReport(os, **module, remarks);
    if (func::FuncOp main = (**module).lookupSymbol<func::FuncOp>("main")) {
      sp::scheduling::Timeline timeline = sp::scheduling::predictTimeline(main, *costModel);
      sp::scheduling::printTimeline(os, timeline, *costModel);
      printLayoutReport(os, **module, timeline.stepSeconds);
    }
  }

  if (emit == EmitKind::Plan) {
    sp::planning::PlanEmitOptions planOptions;
    planOptions.producer = "sp-compile " SP_VERSION;
    // Absolute, so that sp-export finds the model from any folder.
    llvm::SmallString<256> absoluteModel(modelPath);
    llvm::sys::fs::make_absolute(absoluteModel);
    llvm::sys::path::remove_dots(absoluteModel, /*remove_dot_dot=*/true);
    planOptions.sourcePath = absoluteModel.str().str();
    std::string path = outputPath.empty() ? defaultPlanPath() : std::string(outputPath);
    if (path == "-")
      return reportError("a plan is a file and its weights sidecar; give -o PATH, not stdout");
    if (failed(sp::planning::emitPlan(**module, planOptions, path)))
      return fail();
    return 0;
  }

  return writeModule(**module);
}
