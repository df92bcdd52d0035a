//===- Rematerialize.cpp - recompute activations to fit a memory budget ----===//
//
// Selective recomputation (Megatron-LM's), chosen greedily by the cost model
// (as XLA's rematerialization pass): a forward value the backward pass reads
// is live from its producer to that reader, across the step's peak. Where the
// producer is cheap, a clone of it right before the first backward reader
// recomputes the value and the forward one dies at its last forward use. The
// real memory planner measures the step after every choice, so the budget is
// met in the plan's own bytes, not in an estimate of them.
//
//===----------------------------------------------------------------------===//

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Plan/InstructionIds.h"
#include "sp/Plan/MemoryPlan.h"
#include "sp/Scheduling/CostModel.h"
#include "sp/Training/MainFunction.h"
#include "sp/Training/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

namespace sp::training {
#define GEN_PASS_DEF_REMATERIALIZE
#include "sp/Training/Passes.h.inc"
} // namespace sp::training

using namespace mlir;
namespace graph = sp::graph;
using sp::planning::ArenaBuffer;
using sp::planning::HomeKind;
using sp::planning::StepAnalysis;
using sp::planning::ValueHome;

namespace {

/// Most cost-model FLOPs per result element of an op worth recomputing:
/// element-wise math, norms and softmax are a few, a matrix product 2K.
constexpr double kMaxFlopsPerElement = 8.0;

std::string formatBytes(uint64_t bytes) {
  if (bytes >= (1ull << 20))
    return llvm::formatv("{0} bytes ({1:F2} MiB)", bytes, double(bytes) / double(1ull << 20));
  if (bytes >= (1ull << 10))
    return llvm::formatv("{0} bytes ({1:F1} KiB)", bytes, double(bytes) / double(1ull << 10));
  return llvm::formatv("{0} {1}", bytes, bytes == 1 ? "byte" : "bytes");
}

/// Whether cloning `op` next to a backward reader recomputes its results
/// cheaply and exactly: a pure graph op without regions that does not
/// communicate, at most a few FLOPs per result element (element-wise math,
/// norms, softmax, views), or a matrix product that `model` predicts to be
/// bound by its memory traffic rather than its FLOPs (a small inner dim on a
/// fast machine: the scores of an unfused attention on a GPU profile).
bool isRecomputable(Operation *op, const sp::scheduling::CostModel &model) {
  if (!op || !llvm::isa_and_nonnull<graph::GraphDialect>(op->getDialect()) ||
      op->getNumRegions() != 0 || op->getNumResults() == 0 || !isPure(op))
    return false;
  if (sp::scheduling::getCollectiveTraffic(op) || llvm::isa<graph::WaitOp>(op))
    return false;
  for (Type type : op->getResultTypes())
    if (llvm::isa<graph::FutureType>(type) || !sp::planning::getPlanTensorBytes(type))
      return false;
  for (Type type : op->getOperandTypes())
    if (llvm::isa<graph::FutureType>(type))
      return false;
  // Attention and the loss and update: expensive, or not activations.
  if (llvm::isa<graph::AttentionOp, graph::AttentionGradOp, graph::CrossEntropySumOp,
                graph::CrossEntropySumGradOp, graph::AdamWUpdateOp, graph::SGDUpdateOp,
                graph::GlobalNormOp, graph::ClipCoefficientOp, graph::LRScheduleOp>(op))
    return false;
  StringRef name = op->getName().getStringRef();
  if (name.contains("attention"))
    return false;
  double flops = sp::scheduling::CostModel::estimateFlops(op);
  if (llvm::isa<graph::MatMulOp, graph::GemmOp>(op)) {
    uint64_t bytes = 0;
    for (Type type : llvm::concat<const Type>(op->getOperandTypes(), op->getResultTypes()))
      bytes += sp::planning::getPlanTensorBytes(type).value_or(0);
    return flops / model.flopsPerSecond <= double(bytes) / model.memoryBytesPerSecond;
  }
  double elements = 0;
  for (Type type : op->getResultTypes())
    elements += double(llvm::cast<ShapedType>(type).getNumElements());
  return flops <= kMaxFlopsPerElement * elements;
}

/// The step as the planner lays it out now.
struct Measurement {
  std::optional<StepAnalysis> analysis;
  /// The arena tensors' live ranges.
  std::vector<ArenaBuffer> buffers;
  /// Parameters, constants and optimizer state: every global.
  uint64_t staticBytes = 0;
  /// The globals and the most arena bytes live at once: a lower bound on
  /// the total.
  uint64_t lowerBoundBytes = 0;
  /// What --report prints as the total: the globals and the arena the
  /// planner lays out; set only where the planner placed the step.
  std::optional<uint64_t> totalBytes;
  /// The position where the most arena bytes are live.
  unsigned peakPosition = 0;
  llvm::DenseMap<Value, size_t> bufferOf;
};

/// One candidate: recompute `root` (and the views of it that late readers
/// read) before `insertBefore`.
struct Candidate {
  Value root;
  Operation *insertBefore = nullptr;
  /// The uses outside the forward pass that will read the clones.
  SmallVector<OpOperand *> lateUses;
  /// Ops to clone, in block order.
  SmallVector<Operation *> chain;
  int64_t bytesFreedAtPeak = 0;
  double seconds = 0;
  double flops = 0;
};

struct RematerializePass
    : public sp::training::impl::RematerializeBase<RematerializePass> {
  using RematerializeBase::RematerializeBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    forward.clear();
    usedIds.clear();
    if (budget < 0) {
      module.emitError() << "memory budget: " << int64_t(budget)
                         << " bytes is not a byte count (0: no budget)";
      return signalPassFailure();
    }
    if (budget == 0)
      return;
    if (maxChain < 1) {
      module.emitError() << "memory budget: max-chain " << int64_t(maxChain)
                         << " must be at least 1";
      return signalPassFailure();
    }
    llvm::Expected<sp::scheduling::CostModel> loaded = sp::scheduling::loadCostModel(costProfile);
    if (!loaded) {
      module.emitError() << "memory budget: " << llvm::toString(loaded.takeError());
      return signalPassFailure();
    }
    costModel = std::move(*loaded);
    main = sp::training::getMainFunction(module);
    if (!main)
      return signalPassFailure();
    if (failed(findForwardPass()))
      return signalPassFailure();
    for (Operation &op : main.getBody().front())
      if (StringRef id = sp::planning::getInstructionId(&op); !id.empty())
        usedIds.insert(id);

    uint64_t limit = uint64_t(int64_t(budget));
    uint64_t smallest = UINT64_MAX;
    for (bool first = true;; first = false) {
      // Placing offsets is most of the time a measurement takes: it is done
      // first, to know the step as it is, and whenever the lower bound fits.
      Measurement now;
      if (failed(measure(now, /*place=*/first)))
        return signalPassFailure();
      if (now.totalBytes) {
        smallest = std::min(smallest, *now.totalBytes);
        if (*now.totalBytes <= limit)
          break;
      }
      std::optional<Candidate> best = chooseCandidate(now);
      if (best) {
        apply(*best);
        continue;
      }
      if (!now.totalBytes && failed(measure(now, /*place=*/true)))
        return signalPassFailure();
      smallest = std::min(smallest, *now.totalBytes);
      module.emitError() << "memory budget of " << formatBytes(limit)
                         << " per rank cannot be met: recomputing every activation that "
                            "lowers the peak brings the step to "
                         << formatBytes(smallest) << ", " << formatBytes(smallest - limit)
                         << " over (parameters, constants and optimizer state take "
                         << formatBytes(now.staticBytes) << ")";
      return signalPassFailure();
    }
    module->setAttr(sp::training::kMemoryBudgetAttr,
                    IntegerAttr::get(IntegerType::get(module.getContext(), 64), int64_t(budget)));
  }

private:
  /// The ops the loss depends on: the forward pass. Everything else (the
  /// backward pass, the update) reads forward values late.
  LogicalResult findForwardPass() {
    auto returnOp = llvm::cast<func::ReturnOp>(main.getBody().front().getTerminator());
    Value loss;
    for (unsigned i = 0; i < main.getNumResults(); ++i)
      if (main.getResultAttr(i, sp::training::kLossAttr))
        loss = returnOp.getOperand(i);
    if (!loss)
      return main.emitError("memory budget: @main returns no loss; recomputation needs a "
                            "training step (sp-insert-loss, sp-autodiff)");
    SmallVector<Value> work{loss};
    while (!work.empty()) {
      Operation *op = work.pop_back_val().getDefiningOp();
      if (!op || !forward.insert(op).second)
        continue;
      llvm::append_range(work, op->getOperands());
    }
    return success();
  }

  /// Measures the step: its live ranges and peak, and with `place` or
  /// where the peak fits the budget, the arena the planner lays out.
  LogicalResult measure(Measurement &now, bool place) {
    FailureOr<StepAnalysis> analysis = StepAnalysis::analyze(getOperation());
    if (failed(analysis))
      return failure();
    now.analysis.emplace(std::move(*analysis));
    now.buffers = sp::planning::computeLiveRanges(*now.analysis);
    now.staticBytes = 0;
    for (auto global : getOperation().getOps<ml_program::GlobalOp>())
      now.staticBytes += sp::planning::getPlanTensorBytes(global.getType()).value_or(0);
    std::vector<int64_t> delta(now.analysis->getOps().size() + 2, 0);
    now.bufferOf.clear();
    for (auto [index, buffer] : llvm::enumerate(now.buffers)) {
      now.bufferOf[buffer.root] = index;
      delta[buffer.firstPosition] += int64_t(buffer.bytes);
      delta[buffer.lastPosition + 1] -= int64_t(buffer.bytes);
    }
    int64_t live = 0, peak = -1;
    for (auto [position, change] : llvm::enumerate(delta)) {
      live += change;
      if (live > peak) {
        peak = live;
        now.peakPosition = unsigned(position);
      }
    }
    now.lowerBoundBytes = now.staticBytes + uint64_t(std::max<int64_t>(peak, 0));
    if (place || now.lowerBoundBytes <= uint64_t(int64_t(budget)))
      now.totalBytes = now.staticBytes + sp::planning::planMemory(*now.analysis).arenaBytes;
    return success();
  }

  /// The recomputation that frees the most bytes at the peak per second of
  /// recompute, if any frees some.
  std::optional<Candidate> chooseCandidate(const Measurement &now) {
    const StepAnalysis &analysis = *now.analysis;
    // Optimizer updates overwrite parameters in place: no clone may read
    // one after that.
    unsigned firstStateWrite = UINT_MAX;
    for (Operation *op : analysis.getOps()) {
      bool writes = llvm::isa<ml_program::GlobalStoreOp>(op) ||
                    llvm::any_of(op->getResults(), [&](Value result) {
                      return analysis.getHome(result).kind == HomeKind::State;
                    });
      // Loads and views of them share the state's bytes without writing it.
      if (writes && !llvm::isa<ml_program::GlobalLoadOp>(op) && !StepAnalysis::isView(op)) {
        firstStateWrite = analysis.getPosition(op);
        break;
      }
    }

    std::optional<Candidate> best;
    double bestScore = 0;
    for (Operation *op : analysis.getOps()) {
      if (!forward.contains(op) || !isRecomputable(op, costModel))
        continue;
      for (Value result : op->getResults()) {
        ValueHome home = analysis.getHome(result);
        if (home.root != result || (home.kind != HomeKind::Arena && home.kind != HomeKind::Fill))
          continue;
        std::optional<Candidate> candidate = evaluate(now, result, firstStateWrite);
        if (!candidate || candidate->bytesFreedAtPeak <= 0)
          continue;
        double score = double(candidate->bytesFreedAtPeak) / std::max(candidate->seconds, 1e-12);
        if (!best || score > bestScore) {
          best = std::move(candidate);
          bestScore = score;
        }
      }
    }
    return best;
  }

  /// What recomputing `root` before its first late reader frees at the
  /// peak and costs, or nullopt where it cannot be recomputed.
  std::optional<Candidate> evaluate(const Measurement &now, Value root,
                                    unsigned firstStateWrite) {
    const StepAnalysis &analysis = *now.analysis;
    unsigned peak = now.peakPosition;
    Candidate candidate;
    candidate.root = root;
    // Readers of the root and of its views, split into forward (they keep
    // the original) and late (they read the clone).
    unsigned lastForward = analysis.getDefinitionPosition(root);
    unsigned firstLate = UINT_MAX;
    SmallVector<Value> values{root};
    while (!values.empty()) {
      Value value = values.pop_back_val();
      for (OpOperand &use : value.getUses()) {
        Operation *user = use.getOwner();
        if (user->hasTrait<OpTrait::IsTerminator>())
          return std::nullopt; // returned: live to the end anyway
        if (forward.contains(user)) {
          lastForward = std::max(lastForward, analysis.getLastUsePosition(user));
          if (StepAnalysis::isView(user))
            values.push_back(user->getResult(0));
          continue;
        }
        candidate.lateUses.push_back(&use);
        if (analysis.getPosition(user) < firstLate) {
          firstLate = analysis.getPosition(user);
          candidate.insertBefore = user;
        }
      }
    }
    if (candidate.lateUses.empty() || !(lastForward < peak && peak < firstLate) ||
        firstLate >= firstStateWrite)
      return std::nullopt;

    auto bufferOf = [&](Value root) -> const ArenaBuffer * {
      auto found = now.bufferOf.find(root);
      return found == now.bufferOf.end() ? nullptr : &now.buffers[found->second];
    };
    const ArenaBuffer *freed = bufferOf(root);
    if (!freed)
      return std::nullopt;
    candidate.bytesFreedAtPeak = int64_t(freed->bytes);

    // The clones: the root's producer, the views late readers read, and
    // operands that are dead by then and cheap, up to max-chain ops.
    llvm::SetVector<Operation *> chain;
    llvm::DenseSet<Value> extended;
    int64_t computeOps = 0;
    bool readsState = false;
    std::function<void(Operation *)> add = [&](Operation *op) {
      if (!chain.insert(op))
        return;
      if (!StepAnalysis::isView(op))
        ++computeOps;
      for (Value operand : op->getOperands()) {
        ValueHome home = analysis.getHome(operand);
        if (home.root == root) {
          add(operand.getDefiningOp());
          continue;
        }
        if (home.kind == HomeKind::Constant)
          continue;
        if (home.kind == HomeKind::State) {
          readsState = true;
          continue;
        }
        const ArenaBuffer *buffer = bufferOf(home.root);
        if (!buffer || buffer->lastPosition >= firstLate)
          continue; // live there anyway
        Operation *producer = operand.getDefiningOp();
        if (producer && forward.contains(producer) && isRecomputable(producer, costModel) &&
            (StepAnalysis::isView(producer) || computeOps < maxChain)) {
          add(producer);
          continue;
        }
        // Kept live to the clone: it costs its bytes at the peak when it
        // would have been dead there.
        if (extended.insert(home.root).second && buffer->firstPosition <= peak &&
            buffer->lastPosition < peak)
          candidate.bytesFreedAtPeak -= int64_t(buffer->bytes);
      }
    };
    // Every value the late readers read is the root or a view of it.
    for (OpOperand *use : candidate.lateUses)
      if (Operation *producer = use->get().getDefiningOp())
        add(producer);
    if (readsState && firstLate >= firstStateWrite)
      return std::nullopt;

    candidate.chain.assign(chain.begin(), chain.end());
    llvm::sort(candidate.chain, [&](Operation *a, Operation *b) {
      return analysis.getPosition(a) < analysis.getPosition(b);
    });
    for (Operation *op : candidate.chain) {
      candidate.seconds += costModel.estimateComputeSeconds(op);
      candidate.flops += sp::scheduling::CostModel::estimateFlops(op);
    }
    return candidate;
  }

  void apply(const Candidate &candidate) {
    OpBuilder builder(candidate.insertBefore);
    IRMapping mapping;
    for (Operation *op : candidate.chain) {
      Operation *clone = builder.clone(*op, mapping);
      clone->setAttr(sp::training::kRecomputedAttr, builder.getUnitAttr());
      if (StringRef id = sp::planning::getInstructionId(op); !id.empty()) {
        std::string fresh = (id + "/recompute").str();
        for (unsigned ordinal = 1; usedIds.contains(fresh); ++ordinal)
          fresh = (id + "/recompute#" + llvm::Twine(ordinal)).str();
        usedIds.insert(fresh);
        clone->setAttr(sp::planning::kInstructionIdAttr, builder.getStringAttr(fresh));
      }
    }
    for (OpOperand *use : candidate.lateUses)
      use->set(mapping.lookup(use->get()));
  }

  sp::scheduling::CostModel costModel;
  func::FuncOp main;
  llvm::DenseSet<Operation *> forward;
  llvm::StringSet<> usedIds;
};

} // namespace
