//===- ScheduleCollectives.cpp - the sp-schedule-collectives pass ---------===//
//
// The ops that are not collective starts or waits ("compute", including
// global loads and stores) keep their order; the schedule only decides in
// which gap between two of them each start and each wait goes. Gap g is the
// place right before compute op g. For each collective, in start order:
//
//   lowestStart   the gap after its input's definition
//   latestWait    the gap of its first reader (or of a barrier)
//   desiredStart  the latest gap that leaves enough estimated compute before
//                 latestWait to hide it, not before lowestStart
//   deadline      the earliest latestWait of it and every later collective:
//                 as starts keep their order, it must have started by then
//
// One pass over the gaps then emits, at each gap, the waits that are due and
// the starts whose desired gap has come, as the in-flight limits allow. A
// start short of room waits early for collectives the model says have
// arrived; one whose deadline has come waits early for those needed soonest.
//
//===----------------------------------------------------------------------===//

#include "sp/Scheduling/Passes.h"

#include "sp/Dialect/Graph/IR/GraphOps.h"

#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>

namespace sp::scheduling {
#define GEN_PASS_DEF_SCHEDULECOLLECTIVES
#include "sp/Scheduling/Passes.h.inc"
} // namespace sp::scheduling

using namespace mlir;
namespace graph = sp::graph;
using namespace sp::scheduling;

namespace {

/// The name of the `*_start` form of a synchronous collective, if it has one
/// (shard_slice and shard_unslice do not communicate).
std::optional<StringRef> getStartName(Operation *op) {
  return llvm::TypeSwitch<Operation *, std::optional<StringRef>>(op)
      .Case([](graph::AllGatherOp) { return graph::AllGatherStartOp::getOperationName(); })
      .Case([](graph::ReduceScatterOp) { return graph::ReduceScatterStartOp::getOperationName(); })
      .Case([](graph::AllReduceOp) { return graph::AllReduceStartOp::getOperationName(); })
      .Case([](graph::AllToAllOp) { return graph::AllToAllStartOp::getOperationName(); })
      .Case([](graph::RingShiftOp) { return graph::RingShiftStartOp::getOperationName(); })
      .Default([](Operation *) { return std::nullopt; });
}

bool givesFuture(Operation *op) {
  return op->getNumResults() == 1 && llvm::isa<graph::FutureType>(op->getResult(0).getType());
}

/// Rewrites each synchronous collective of `block` into its start and a wait
/// in the same place.
void splitCollectives(Block &block) {
  for (Operation &op : llvm::make_early_inc_range(block)) {
    std::optional<StringRef> startName = getStartName(&op);
    if (!startName)
      continue;
    OpBuilder builder(&op);
    auto resultType = llvm::cast<RankedTensorType>(op.getResult(0).getType());
    OperationState state(op.getLoc(), *startName);
    state.addOperands(op.getOperands());
    state.addAttributes(op.getAttrs());
    state.addTypes(graph::FutureType::get(op.getContext(), resultType));
    Operation *start = builder.create(state);
    auto wait = graph::WaitOp::create(builder, op.getLoc(), resultType, start->getResult(0));
    op.replaceAllUsesWith(wait);
    op.erase();
  }
}

/// An op whose side effects the schedule cannot reason about: no start or
/// wait moves across it. Global accesses are handled precisely.
bool isEffectBarrier(Operation *op) {
  if (llvm::isa<ml_program::GlobalLoadOp, ml_program::GlobalLoadConstOp, ml_program::GlobalStoreOp>(
          op) ||
      op->hasTrait<OpTrait::IsTerminator>())
    return false;
  return !isMemoryEffectFree(op);
}

/// The mutable global whose bytes `value` is (through views), if any: a
/// collective in flight reads those bytes until its wait.
std::optional<SymbolRefAttr> getGlobalRead(Value value) {
  while (Operation *definition = value.getDefiningOp()) {
    if (auto load = llvm::dyn_cast<ml_program::GlobalLoadOp>(definition))
      return SymbolRefAttr(load.getGlobal());
    if (!llvm::isa<graph::ReshapeOp, graph::SqueezeOp, graph::UnsqueezeOp>(definition))
      return std::nullopt;
    value = definition->getOperand(0);
  }
  return std::nullopt;
}

struct Collective {
  Operation *start = nullptr;
  graph::WaitOp wait;
  /// The collective whose wait gives this one's input, or -1.
  int dependency = -1;
  unsigned originalStart = 0, originalWait = 0;
  unsigned lowestStart = 0, latestWait = 0, desiredStart = 0, deadline = 0;
  uint64_t bytesHeld = 0;
  double seconds = 0.0;
};

/// The limits a schedule keeps.
struct ScheduleLimits {
  int64_t maxInFlight = 4;
  uint64_t maxInFlightBytes = 0;
  double overlapMargin = 2.0;
};

/// Schedules the collectives of one block.
class CollectiveScheduler {
public:
  CollectiveScheduler(Block &block, const CostModel &model, const ScheduleLimits &limits)
      : block(block), model(model), limits(limits) {}

  LogicalResult run() {
    splitCollectives(block);
    if (failed(collect()))
      return failure();
    if (collectives.empty())
      return success();
    placeBounds();
    for (Operation *op : emitSchedule())
      op->moveBefore(&block, block.end());
    return success();
  }

private:
  /// Splits the block into compute ops and collectives, checking that every
  /// future is waited for once.
  LogicalResult collect() {
    llvm::DenseMap<Operation *, unsigned> waitGap;
    for (Operation &op : block) {
      if (givesFuture(&op)) {
        std::optional<CollectiveTraffic> traffic = getCollectiveTraffic(&op);
        Value future = op.getResult(0);
        auto wait = future.hasOneUse() ? llvm::dyn_cast<graph::WaitOp>(*future.getUsers().begin())
                                       : graph::WaitOp();
        if (!traffic || !wait || wait->getBlock() != &block)
          return op.emitOpError("gives a future that is not a collective's, waited for once "
                                "in its block; the schedule cannot place it");
        Collective collective;
        collective.start = &op;
        collective.wait = wait;
        collective.originalStart = compute.size();
        collective.bytesHeld = traffic->bytesHeld;
        collective.seconds = model.estimateCommunicationSeconds(traffic->bytesSent, traffic->steps);
        indexOfStart[&op] = collectives.size();
        collectives.push_back(collective);
      } else if (auto wait = llvm::dyn_cast<graph::WaitOp>(op)) {
        if (!wait.getFuture().getDefiningOp() ||
            wait.getFuture().getDefiningOp()->getBlock() != &block)
          return wait.emitOpError("waits for a future not started in its block; the schedule "
                                  "cannot place it");
        waitGap[wait] = compute.size();
      } else {
        position[&op] = compute.size();
        compute.push_back(&op);
      }
    }
    for (Collective &collective : collectives)
      collective.originalWait = waitGap.lookup(collective.wait);
    return success();
  }

  /// The compute position of `user`, an op of the block or nested in one.
  unsigned getComputePosition(Operation *user) const {
    Operation *op = block.findAncestorOpInBlock(*user);
    auto found = op ? position.find(op) : position.end();
    return found == position.end() ? unsigned(compute.size()) : found->second;
  }

  void placeBounds() {
    unsigned end = compute.size();
    // Where the barriers are, and which ops write each global's bytes: its
    // store, and the op whose result the store writes, which the planner may
    // run in place.
    SmallVector<unsigned> barriers;
    llvm::DenseMap<Attribute, SmallVector<unsigned>> writersOf;
    for (auto [index, op] : llvm::enumerate(compute)) {
      if (isEffectBarrier(op))
        barriers.push_back(index);
      if (auto store = llvm::dyn_cast<ml_program::GlobalStoreOp>(op)) {
        SmallVector<unsigned> &writers = writersOf[store.getGlobal()];
        writers.push_back(index);
        if (Operation *producer = store.getValue().getDefiningOp();
            producer && position.count(producer))
          writers.push_back(position.lookup(producer));
      }
    }
    auto firstAtOrAfter = [&](ArrayRef<unsigned> sorted, unsigned gap) {
      auto found = llvm::lower_bound(sorted, gap);
      return found == sorted.end() ? end : *found;
    };

    // Every wait comes before the terminator.
    unsigned lastGap = end;
    if (!compute.empty() && compute.back()->hasTrait<OpTrait::IsTerminator>())
      lastGap = end - 1;

    // Waits, last collective first: a reader may be a later collective's start.
    for (Collective &collective : llvm::reverse(collectives)) {
      unsigned latest = lastGap;
      for (Operation *user : collective.wait.getResult().getUsers()) {
        auto reader = indexOfStart.find(user);
        latest =
            std::min(latest, reader != indexOfStart.end() ? collectives[reader->second].latestWait
                                                          : getComputePosition(user));
      }
      latest = std::min(latest, firstAtOrAfter(barriers, collective.originalWait));
      if (std::optional<SymbolRefAttr> global = getGlobalRead(collective.start->getOperand(0))) {
        SmallVector<unsigned> writers = writersOf.lookup(*global);
        llvm::sort(writers);
        latest = std::min(latest, firstAtOrAfter(writers, collective.originalWait));
      }
      collective.latestWait = std::max(latest, collective.originalStart);
    }

    // Starts, first collective first.
    computeBefore.assign(end + 1, 0.0);
    for (auto [index, op] : llvm::enumerate(compute))
      computeBefore[index + 1] = computeBefore[index] + model.estimateComputeSeconds(op);
    for (Collective &collective : collectives) {
      Value input = collective.start->getOperand(0);
      unsigned lowest = 0;
      if (auto wait = input.getDefiningOp<graph::WaitOp>()) {
        collective.dependency = indexOfStart.lookup(wait.getFuture().getDefiningOp());
        lowest = collectives[collective.dependency].latestWait;
      } else if (Operation *definition = input.getDefiningOp()) {
        lowest = getComputePosition(definition) + 1;
      }
      auto barrier = llvm::lower_bound(barriers, collective.originalStart);
      if (barrier != barriers.begin())
        lowest = std::max(lowest, *std::prev(barrier) + 1);
      collective.lowestStart = std::min(lowest, collective.originalStart);
      // The latest gap with enough compute before the wait to hide the
      // collective; computeBefore never decreases.
      double needed = limits.overlapMargin * collective.seconds;
      double latestBefore = computeBefore[collective.latestWait] - needed;
      unsigned desired =
          std::upper_bound(computeBefore.begin(), computeBefore.end(), latestBefore) -
          computeBefore.begin();
      desired = desired == 0 ? 0 : desired - 1;
      collective.desiredStart = std::clamp(desired, collective.lowestStart, collective.latestWait);
    }
    unsigned deadline = lastGap;
    for (Collective &collective : llvm::reverse(collectives)) {
      deadline = std::min(deadline, collective.latestWait);
      collective.deadline = deadline;
    }
  }

  /// The block's ops in their new order.
  SmallVector<Operation *> emitSchedule() {
    SmallVector<Operation *> order;
    SmallVector<unsigned> inFlight; // collectives, in start order
    SmallVector<bool> waited(collectives.size(), false);
    uint64_t bytesInFlight = 0;
    size_t next = 0;
    auto emitWait = [&](unsigned index) {
      order.push_back(collectives[index].wait);
      waited[index] = true;
      bytesInFlight -= collectives[index].bytesHeld;
      llvm::erase(inFlight, index);
    };
    auto fits = [&](const Collective &collective) {
      if (inFlight.empty())
        return true;
      if (inFlight.size() + 1 > size_t(limits.maxInFlight))
        return false;
      return limits.maxInFlightBytes == 0 ||
             bytesInFlight + collective.bytesHeld <= limits.maxInFlightBytes;
    };
    auto isInFlight = [&](int index) { return index >= 0 && !waited[index]; };
    SmallVector<unsigned> startGap(collectives.size(), 0);

    for (unsigned gap = 0; gap <= compute.size(); ++gap) {
      for (unsigned index : SmallVector<unsigned>(inFlight))
        if (collectives[index].latestWait <= gap)
          emitWait(index);
      while (next < collectives.size()) {
        Collective &collective = collectives[next];
        bool due = gap >= collective.deadline;
        if (!due && (gap < collective.desiredStart || isInFlight(collective.dependency)))
          break;
        if (!due) {
          // Room from collectives that have had the compute to arrive: by
          // the model, their waits cost nothing now.
          while (!fits(collective)) {
            unsigned *arrived = llvm::find_if(inFlight, [&](unsigned index) {
              return computeBefore[gap] - computeBefore[startGap[index]] >=
                     collectives[index].seconds;
            });
            if (arrived == inFlight.end())
              break;
            emitWait(*arrived);
          }
          if (!fits(collective))
            break;
        }
        if (isInFlight(collective.dependency))
          emitWait(collective.dependency);
        // Make room by waiting early for what is needed soonest.
        while (!fits(collective)) {
          unsigned soonest = *llvm::min_element(inFlight, [&](unsigned a, unsigned b) {
            return std::make_pair(collectives[a].latestWait, a) <
                   std::make_pair(collectives[b].latestWait, b);
          });
          emitWait(soonest);
        }
        order.push_back(collective.start);
        startGap[next] = gap;
        inFlight.push_back(next);
        bytesInFlight += collective.bytesHeld;
        if (collective.latestWait <= gap)
          emitWait(next);
        ++next;
      }
      if (gap < compute.size())
        order.push_back(compute[gap]);
    }
    return order;
  }

  Block &block;
  const CostModel &model;
  const ScheduleLimits &limits;
  /// The ops that keep their order, and where each is among them.
  SmallVector<Operation *> compute;
  llvm::DenseMap<Operation *, unsigned> position;
  /// computeBefore[g]: estimated seconds of the compute ops before gap g.
  SmallVector<double> computeBefore;
  SmallVector<Collective> collectives;
  llvm::DenseMap<Operation *, unsigned> indexOfStart;
};

struct ScheduleCollectivesPass
    : public sp::scheduling::impl::ScheduleCollectivesBase<ScheduleCollectivesPass> {
  using ScheduleCollectivesBase::ScheduleCollectivesBase;

  void runOnOperation() override {
    func::FuncOp function = getOperation();
    if (maxInFlight < 1) {
      function.emitError() << "max-in-flight must be at least 1, got " << int64_t(maxInFlight);
      return signalPassFailure();
    }
    if (maxInFlightBytes < 0 || overlapMargin < 0.0) {
      function.emitError("max-in-flight-bytes and overlap-margin must not be negative");
      return signalPassFailure();
    }
    if (!function.getBody().hasOneBlock()) {
      bool communicates = false;
      function.walk([&](Operation *op) { communicates |= getCollectiveTraffic(op).has_value(); });
      if (communicates) {
        function.emitError("collectives are scheduled in single-block functions only");
        signalPassFailure();
      }
      return;
    }
    CostModel model;
    model.flopsPerSecond = flopsPerSecond;
    model.memoryBytesPerSecond = memoryBytesPerSecond;
    model.linkBytesPerSecond = linkBytesPerSecond;
    model.linkLatencySeconds = linkLatencySeconds;
    ScheduleLimits limits{maxInFlight, uint64_t(int64_t(maxInFlightBytes)), overlapMargin};
    CollectiveScheduler scheduler(function.getBody().front(), model, limits);
    if (failed(scheduler.run()))
      signalPassFailure();
  }
};

} // namespace
