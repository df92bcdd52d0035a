//===- MemoryPlanner.cpp - arena offsets for the tensors of one step ------===//

#include "sp/Plan/MemoryPlan.h"
#include "sp/Plan/Passes.h"
#include "sp/Training/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <numeric>

namespace sp::planning {
#define GEN_PASS_DEF_PLANMEMORY
#include "sp/Plan/Passes.h.inc"
} // namespace sp::planning

using namespace mlir;

namespace sp::planning {

/// The live ranges of the tensors that own arena bytes. A tensor is live from
/// the position that writes it to the last position that reads it or any
/// view of it; a Fill constant from its first reader, where its `fill` runs.
/// Both ends are inclusive, so an op's results never share bytes with its
/// operands: kernels need not work in place. A collective start reads its
/// input until its wait (the communication reads it meanwhile), and its
/// future, written meanwhile, is live from the start to the wait and on
/// through the wait's result, which is a view of it.
std::vector<ArenaBuffer> computeLiveRanges(const StepAnalysis &analysis) {
  llvm::MapVector<Value, ArenaBuffer> buffers;
  auto touch = [&](Value value, unsigned position) {
    ValueHome home = analysis.getHome(value);
    if (home.kind != HomeKind::Arena && home.kind != HomeKind::Fill)
      return;
    auto [entry, inserted] = buffers.try_emplace(home.root);
    ArenaBuffer &buffer = entry->second;
    if (inserted) {
      buffer.root = home.root;
      buffer.bytes = llvm::alignTo(*getPlanTensorBytes(home.root.getType()), kPlanAlignment);
      buffer.firstPosition = buffer.lastPosition = position;
      return;
    }
    buffer.firstPosition = std::min(buffer.firstPosition, position);
    buffer.lastPosition = std::max(buffer.lastPosition, position);
  };

  // The runtime writes the inputs before the first op.
  for (BlockArgument argument : analysis.getMain().getArguments())
    touch(argument, 0);
  for (Operation *op : analysis.getOps()) {
    unsigned position = analysis.getPosition(op);
    // Results are written here even when nothing reads them. A view's result
    // is its input's root, which is already live.
    for (Value result : op->getResults())
      if (analysis.getHome(result).root == result &&
          analysis.getHome(result).kind == HomeKind::Arena)
        touch(result, position);
    // func.return is the last op, so what @main returns stays live to the end.
    for (Value operand : op->getOperands()) {
      touch(operand, position);
      touch(operand, analysis.getLastUsePosition(op));
    }
  }

  std::vector<ArenaBuffer> result;
  result.reserve(buffers.size());
  for (auto &entry : buffers)
    result.push_back(entry.second);
  return result;
}

namespace {

bool overlapInTime(const ArenaBuffer &a, const ArenaBuffer &b) {
  return a.firstPosition <= b.lastPosition && b.firstPosition <= a.lastPosition;
}

/// Greedy by size (Pisarchyk and Lee, "Efficient Memory Management for Deep
/// Neural Net Inference", as in TFLite's and ONNX Runtime's planners): the
/// largest tensors first, each at the lowest offset of the tightest gap among
/// the tensors already placed that are live at the same time.
void assignOffsets(std::vector<ArenaBuffer> &buffers) {
  std::vector<size_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (buffers[a].bytes != buffers[b].bytes)
      return buffers[a].bytes > buffers[b].bytes;
    return buffers[a].firstPosition < buffers[b].firstPosition;
  });

  std::vector<size_t> placedByOffset;
  for (size_t index : order) {
    ArenaBuffer &buffer = buffers[index];
    if (buffer.bytes == 0) {
      buffer.offset = 0;
      continue;
    }
    uint64_t bestOffset = 0, bestGap = UINT64_MAX;
    bool found = false;
    uint64_t gapStart = 0;
    for (size_t other : placedByOffset) {
      const ArenaBuffer &placed = buffers[other];
      if (!overlapInTime(buffer, placed))
        continue;
      if (placed.offset > gapStart) {
        uint64_t gap = placed.offset - gapStart;
        if (gap >= buffer.bytes && gap < bestGap) {
          bestGap = gap;
          bestOffset = gapStart;
          found = true;
        }
      }
      gapStart = std::max(gapStart, placed.offset + placed.bytes);
    }
    buffer.offset = found ? bestOffset : gapStart;
    auto position = std::upper_bound(
        placedByOffset.begin(), placedByOffset.end(), buffer.offset,
        [&](uint64_t offset, size_t other) { return offset < buffers[other].offset; });
    placedByOffset.insert(position, index);
  }
}

} // namespace

/// The most bytes of the `counted` buffers live at one position of the step.
static uint64_t peakLiveBytes(const StepAnalysis &analysis, ArrayRef<ArenaBuffer> buffers,
                              llvm::function_ref<bool(const ArenaBuffer &)> counted) {
  std::vector<int64_t> liveDelta(analysis.getOps().size() + 2, 0);
  for (const ArenaBuffer &buffer : buffers) {
    if (!counted(buffer))
      continue;
    liveDelta[buffer.firstPosition] += int64_t(buffer.bytes);
    liveDelta[buffer.lastPosition + 1] -= int64_t(buffer.bytes);
  }
  int64_t live = 0;
  uint64_t peak = 0;
  for (int64_t delta : liveDelta) {
    live += delta;
    peak = std::max(peak, uint64_t(live));
  }
  return peak;
}

MemoryPlan planMemory(const StepAnalysis &analysis) {
  MemoryPlan plan;
  plan.buffers = computeLiveRanges(analysis);
  assignOffsets(plan.buffers);

  for (const ArenaBuffer &buffer : plan.buffers) {
    plan.offsets[buffer.root] = buffer.offset;
    plan.arenaBytes = std::max(plan.arenaBytes, buffer.offset + buffer.bytes);
    plan.totalBytes += buffer.bytes;
  }
  plan.peakLiveBytes = peakLiveBytes(analysis, plan.buffers, [](const ArenaBuffer &) {
    return true;
  });
  return plan;
}

FailureOr<StepMemory> measureStepMemory(ModuleOp module) {
  FailureOr<StepAnalysis> analysis = StepAnalysis::analyze(module);
  if (failed(analysis))
    return failure();
  MemoryPlan plan = planMemory(*analysis);
  StepMemory memory;
  memory.arenaBytes = plan.arenaBytes;
  memory.peakLiveBytes = plan.peakLiveBytes;
  for (auto global : module.getOps<ml_program::GlobalOp>()) {
    uint64_t bytes = getPlanTensorBytes(global.getType()).value_or(0);
    if (!global.getIsMutable())
      memory.constantBytes += bytes;
    else if (global->hasAttr(training::kStateOfAttr) ||
             global->hasAttr(training::kStepCounterAttr))
      memory.optimizerStateBytes += bytes;
    else
      memory.parameterBytes += bytes;
  }
  func::FuncOp main = analysis->getMain();
  auto returnOp = llvm::cast<func::ReturnOp>(main.getBody().front().getTerminator());
  llvm::DenseSet<Value> gradientRoots;
  for (unsigned i = 0; i < main.getNumResults(); ++i)
    if (main.getResultAttr(i, training::kGradientOfAttr)) {
      memory.gradientBytes += getPlanTensorBytes(main.getResultTypes()[i]).value_or(0);
      gradientRoots.insert(analysis->getHome(returnOp.getOperand(i)).root);
    }
  // Under micro-batches, each slice's gradients and their running sums.
  auto addGradient = [&](Value value) {
    if (ValueHome home = analysis->getHome(value); home.kind == HomeKind::Arena)
      gradientRoots.insert(home.root);
  };
  for (Operation *op : analysis->getOps())
    if (op->hasAttr(training::kAccumulatesGradientAttr)) {
      llvm::for_each(op->getOperands(), addGradient);
      llvm::for_each(op->getResults(), addGradient);
    }
  memory.peakActivationBytes =
      peakLiveBytes(*analysis, plan.buffers, [&](const ArenaBuffer &buffer) {
        return !gradientRoots.contains(buffer.root);
      });
  return memory;
}

FailureOr<MemoryPlan> planAndRecordMemory(ModuleOp module) {
  FailureOr<StepAnalysis> analysis = StepAnalysis::analyze(module);
  if (failed(analysis))
    return failure();
  MemoryPlan plan = planMemory(*analysis);

  Builder builder(module.getContext());
  auto offsetOf = [&](Value value) -> int64_t {
    ValueHome home = analysis->getHome(value);
    auto offset = plan.offsets.find(home.root);
    return home.root && offset != plan.offsets.end() ? int64_t(offset->second) : -1;
  };
  func::FuncOp main = analysis->getMain();
  for (BlockArgument argument : main.getArguments())
    main.setArgAttr(argument.getArgNumber(), kArgumentOffsetAttr,
                    builder.getI64IntegerAttr(offsetOf(argument)));
  for (Operation *op : analysis->getOps()) {
    if (op->getNumResults() == 0)
      continue;
    SmallVector<int64_t> offsets;
    for (Value result : op->getResults())
      offsets.push_back(offsetOf(result));
    op->setAttr(kOffsetsAttr, builder.getDenseI64ArrayAttr(offsets));
  }
  module->setAttr(kArenaBytesAttr, builder.getI64IntegerAttr(int64_t(plan.arenaBytes)));
  return plan;
}

namespace {

struct PlanMemoryPass : public impl::PlanMemoryBase<PlanMemoryPass> {
  using PlanMemoryBase::PlanMemoryBase;

  void runOnOperation() override {
    FailureOr<MemoryPlan> plan = planAndRecordMemory(getOperation());
    if (failed(plan))
      return signalPassFailure();
    if (report)
      getOperation().emitRemark() << "arena of " << plan->arenaBytes << " bytes for "
                                  << plan->buffers.size() << " tensors; at most "
                                  << plan->peakLiveBytes << " bytes live at once; "
                                  << plan->totalBytes << " bytes without reuse";
  }
};

} // namespace

} // namespace sp::planning
