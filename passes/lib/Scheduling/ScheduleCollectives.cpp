//===- ScheduleCollectives.cpp - the sp-schedule-collectives pass ---------===//
//
// A top-down list scheduler over one block (XLA's latency-hiding scheduler,
// kept small). The block's ops form a graph: SSA uses, the order of loads
// and stores of each global, the in-place parameter updates that must follow
// every read of the old value (and every collective reading it), ops with
// unknown effects that order everything, and one chain through the
// collective starts (and ops that communicate inside their kernel) that
// fixes the order in which every rank issues them. Every edge points forward
// in program order except those of the chain that bucketing reorders; only
// reductions no start depends on are bucketed, which keeps the graph
// acyclic (a cycle would be reported, not scheduled).
//
// The scheduler then repeatedly emits the next start if it is ready, due
// (enough compute left before its first reader to hide it, no more) and
// fits the limits; else a wait that is due; else the best ready compute op
// (what feeds the next start first, then program order); else a wait.
// Waits are not "ready" on their own: a collective's wait goes once the
// compute that came before its first reader in program order has run and
// the model says it has arrived, or when compute runs out, so every op
// that does not need its result and can hide it runs before it.
//
//===----------------------------------------------------------------------===//

#include "sp/Scheduling/Passes.h"

#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Plan/InstructionIds.h"

#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <limits>
#include <set>

namespace sp::scheduling {
#define GEN_PASS_DEF_SCHEDULECOLLECTIVES
#include "sp/Scheduling/Passes.h.inc"
} // namespace sp::scheduling

using namespace mlir;
namespace graph = sp::graph;
using namespace sp::scheduling;
using sp::planning::kInstructionIdAttr;

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

/// Ops whose kernel communicates by itself: they keep their place among the
/// collective starts, so every rank's messages still match.
bool communicatesInside(Operation *op) {
  return llvm::isa<graph::RingAttentionOp, graph::RingAttentionGradOp>(op);
}

bool isView(Operation *op) {
  return llvm::isa<graph::ReshapeOp, graph::SqueezeOp, graph::UnsqueezeOp>(op);
}

/// Rewrites each synchronous collective of `block` into its start and a wait
/// in the same place. The start keeps the collective's attributes, its
/// instruction id among them; the wait is named after it.
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
    if (auto id = op.getAttrOfType<StringAttr>(kInstructionIdAttr))
      wait->setAttr(kInstructionIdAttr, builder.getStringAttr(id.getValue() + "/wait"));
    op.replaceAllUsesWith(wait);
    op.erase();
  }
}

/// An op whose side effects the schedule cannot reason about: it keeps its
/// place relative to every other op. Global accesses, and the effects that
/// collectives' starts and waits declare, are handled precisely.
bool isEffectBarrier(Operation *op) {
  if (llvm::isa<ml_program::GlobalLoadOp, ml_program::GlobalLoadConstOp, ml_program::GlobalStoreOp,
                graph::WaitOp>(op) ||
      givesFuture(op) || op->hasTrait<OpTrait::IsTerminator>())
    return false;
  return !isMemoryEffectFree(op);
}

/// The mutable global whose bytes `value` is (through views), if any: a
/// collective in flight reads those bytes until its wait.
std::optional<SymbolRefAttr> getGlobalRead(Value value) {
  while (Operation *definition = value.getDefiningOp()) {
    if (auto load = llvm::dyn_cast<ml_program::GlobalLoadOp>(definition))
      return SymbolRefAttr(load.getGlobal());
    if (!isView(definition))
      return std::nullopt;
    value = definition->getOperand(0);
  }
  return std::nullopt;
}

/// The limits a schedule keeps.
struct ScheduleLimits {
  int64_t maxInFlight = 4;
  uint64_t maxInFlightBytes = 0;
  uint64_t gradientBucketBytes = 0;
  double overlapMargin = 2.0;
};

struct Collective {
  unsigned start = 0, wait = 0; // op indices
  /// Collectives of one bucket share a group; others have their own.
  unsigned group = 0;
  uint64_t bytesHeld = 0;
  double seconds = 0.0;
  /// A parameter gradient's reduction (an all-reduce no later collective
  /// depends on): it starts as soon as its bucket is complete, and is waited
  /// for only when compute runs out, after the backward pass.
  bool gradientReduction = false;
  /// The compute (predicted seconds from the step's start) before which a
  /// start would only hold its buffers longer than hiding it needs.
  double notBefore = 0.0;
  /// While it is in flight, later compute may move up ahead of its wait
  /// only from before this op: the first reader of the next collective in
  /// the communication order (work past it, such as gradient math that only
  /// needs forward activations, would hold its tensors for the whole pass).
  unsigned pullHorizon = 0;
};

/// Schedules the ops of one block.
class ListScheduler {
public:
  ListScheduler(Block &block, const CostModel &model, const ScheduleLimits &limits)
      : block(block), model(model), limits(limits) {}

  LogicalResult run() {
    splitCollectives(block);
    for (Operation &op : block) {
      index[&op] = ops.size();
      ops.push_back(&op);
    }
    if (failed(collectCollectives()))
      return failure();
    if (collectives.empty())
      return success();
    predecessors.assign(ops.size(), {});
    addDataEdges();
    addGlobalEdges();
    formBuckets();
    addCommunicationChain();
    placeEarliestStarts();
    FailureOr<SmallVector<unsigned>> order = emitSchedule();
    if (failed(order))
      return failure();
    for (unsigned op : *order)
      ops[op]->moveBefore(&block, block.end());
    return success();
  }

private:
  void addEdge(unsigned from, unsigned to) {
    if (from != to)
      predecessors[to].push_back(from);
  }

  /// The starts and their waits, checking that every future is waited for
  /// once in the block.
  LogicalResult collectCollectives() {
    for (auto [position, op] : llvm::enumerate(ops)) {
      if (givesFuture(op)) {
        std::optional<CollectiveTraffic> traffic = getCollectiveTraffic(op);
        Value future = op->getResult(0);
        auto wait = future.hasOneUse() ? llvm::dyn_cast<graph::WaitOp>(*future.getUsers().begin())
                                       : graph::WaitOp();
        if (!traffic || !wait || wait->getBlock() != &block)
          return op->emitOpError("gives a future that is not a collective's, waited for once "
                                 "in its block; the schedule cannot place it");
        Collective collective;
        collective.start = position;
        collective.wait = index.lookup(wait);
        collective.group = collectives.size();
        collective.bytesHeld = traffic->bytesHeld;
        collective.seconds = model.estimateCollectiveSeconds(op);
        collectiveOf[position] = collectives.size();
        collectives.push_back(collective);
      } else if (auto wait = llvm::dyn_cast<graph::WaitOp>(op)) {
        Operation *start = wait.getFuture().getDefiningOp();
        if (!start || start->getBlock() != &block)
          return wait.emitOpError("waits for a future not started in its block; the schedule "
                                  "cannot place it");
      }
    }
    for (auto [position, op] : llvm::enumerate(ops))
      if (auto wait = llvm::dyn_cast<graph::WaitOp>(op))
        waitOf[position] = collectiveOf.lookup(index.lookup(wait.getFuture().getDefiningOp()));
    return success();
  }

  /// SSA uses (also from nested regions), and ops with unknown effects that
  /// order everything around them.
  void addDataEdges() {
    std::optional<unsigned> lastBarrier;
    SmallVector<unsigned> sinceBarrier;
    for (auto [position, op] : llvm::enumerate(ops)) {
      op->walk([&](Operation *nested) {
        for (Value operand : nested->getOperands())
          if (Operation *definition = operand.getDefiningOp();
              definition && definition->getBlock() == &block)
            addEdge(index.lookup(definition), position);
      });
      if (lastBarrier)
        addEdge(*lastBarrier, position);
      if (isEffectBarrier(op)) {
        for (unsigned earlier : sinceBarrier)
          addEdge(earlier, position);
        sinceBarrier.clear();
        lastBarrier = position;
      } else {
        sinceBarrier.push_back(position);
      }
    }
  }

  /// The ops that read `value`'s bytes: its users, through views.
  void collectReaders(Value value, SmallVectorImpl<unsigned> &readers) {
    for (Operation *user : value.getUsers()) {
      Operation *op = block.findAncestorOpInBlock(*user);
      if (!op)
        continue;
      readers.push_back(index.lookup(op));
      if (isView(op))
        collectReaders(op->getResult(0), readers);
    }
  }

  /// Loads and stores of one global keep their order. A store, and the op
  /// whose result it stores (an optimizer update that the planner runs in
  /// place in the global's bytes), come after every read of the value
  /// loaded before it, and after the wait of every collective reading it.
  void addGlobalEdges() {
    llvm::DenseMap<Attribute, SmallVector<unsigned>> accesses;
    for (auto [position, op] : llvm::enumerate(ops)) {
      if (auto load = llvm::dyn_cast<ml_program::GlobalLoadOp>(op))
        accesses[load.getGlobal()].push_back(position);
      else if (auto store = llvm::dyn_cast<ml_program::GlobalStoreOp>(op))
        accesses[store.getGlobal()].push_back(position);
    }
    for (auto &[global, positions] : accesses) {
      SmallVector<unsigned> oldReaders;
      for (unsigned position : positions) {
        auto store = llvm::dyn_cast<ml_program::GlobalStoreOp>(ops[position]);
        if (!store) {
          oldReaders.push_back(position);
          collectReaders(ops[position]->getResult(0), oldReaders);
          continue;
        }
        SmallVector<unsigned> writers = {position};
        if (Operation *producer = store.getValue().getDefiningOp();
            producer && producer->getBlock() == &block)
          writers.push_back(index.lookup(producer));
        // A collective reading the old value reads it until its wait.
        SmallVector<unsigned> mustPrecede;
        for (unsigned reader : oldReaders) {
          mustPrecede.push_back(reader);
          if (auto found = collectiveOf.find(reader); found != collectiveOf.end())
            mustPrecede.push_back(collectives[found->second].wait);
        }
        for (unsigned writer : writers)
          for (unsigned reader : mustPrecede)
            if (reader < writer)
              addEdge(reader, writer);
        oldReaders = {position};
      }
    }
  }

  /// Whether the result of each collective's wait reaches no start: such a
  /// collective (a parameter gradient's reduction) may start later than its
  /// place in program order without a cycle.
  SmallVector<bool> findCollectivesNoStartDependsOn() {
    SmallVector<bool> reachesStart(ops.size(), false);
    for (unsigned position = ops.size(); position-- > 0;) {
      Operation *op = ops[position];
      bool reaches = collectiveOf.count(position) || communicatesInside(op);
      for (Value result : op->getResults())
        for (Operation *user : result.getUsers())
          if (Operation *ancestor = block.findAncestorOpInBlock(*user))
            reaches |= reachesStart[index.lookup(ancestor)];
      reachesStart[position] = reaches;
    }
    SmallVector<bool> free(collectives.size());
    for (auto [number, collective] : llvm::enumerate(collectives))
      free[number] = !reachesStart[collective.wait];
    return free;
  }

  /// Marks the gradient reductions and buckets them in program order (the
  /// order their gradients complete) up to the bucket size; a bucket's
  /// collectives share one group and start together at the place of its
  /// last one.
  void formBuckets() {
    SmallVector<bool> free = findCollectivesNoStartDependsOn();
    SmallVector<unsigned> bucket;
    uint64_t bucketBytes = 0;
    auto close = [&]() {
      for (unsigned member : bucket)
        collectives[member].group = collectives[bucket.back()].group;
      if (bucket.size() > 1)
        buckets.push_back(bucket);
      bucket.clear();
      bucketBytes = 0;
    };
    for (auto [number, collective] : llvm::enumerate(collectives)) {
      if (!free[number] || !llvm::isa<graph::AllReduceStartOp>(ops[collective.start]))
        continue;
      collective.gradientReduction = true;
      if (limits.gradientBucketBytes == 0)
        continue;
      bucket.push_back(number);
      // An all-reduce holds its input and a result of the same size.
      bucketBytes += collective.bytesHeld / 2;
      if (bucketBytes >= limits.gradientBucketBytes)
        close();
    }
    if (!bucket.empty())
      close();
  }

  /// The order of every rank's communication: starts and ops that
  /// communicate inside, in program order, each bucket at its last member.
  /// A bucket's first start also needs every member's input.
  void addCommunicationChain() {
    llvm::DenseMap<unsigned, unsigned> lastOfGroup;
    for (auto [number, collective] : llvm::enumerate(collectives))
      lastOfGroup[collective.group] = number;
    for (auto [position, op] : llvm::enumerate(ops)) {
      if (communicatesInside(op)) {
        chain.push_back(position);
        continue;
      }
      auto found = collectiveOf.find(position);
      if (found == collectiveOf.end())
        continue;
      const Collective &collective = collectives[found->second];
      if (lastOfGroup.lookup(collective.group) != found->second)
        continue;
      for (auto [number, member] : llvm::enumerate(collectives))
        if (member.group == collective.group)
          chain.push_back(member.start);
    }
    for (const SmallVector<unsigned> &bucket : buckets)
      for (unsigned member : bucket) {
        SmallVector<unsigned> inputs = predecessors[collectives[member].start];
        for (unsigned input : inputs)
          addEdge(input, collectives[bucket.front()].start);
      }
    for (unsigned link = 1; link < chain.size(); ++link)
      addEdge(chain[link - 1], chain[link]);
    for (auto [link, position] : llvm::enumerate(chain))
      chainIndex[position] = link;
  }

  /// How early each start may go (the memory budget in time): it leaves
  /// `overlap-margin` times its link time of compute, in program order,
  /// before its first reader, or before the first reader of any collective
  /// after it in the communication order (which it must precede). Gradient
  /// buckets are exempt: they start when complete, as DDP's do.
  void placeEarliestStarts() {
    SmallVector<double> computeBefore(ops.size() + 1, 0.0);
    for (auto [position, op] : llvm::enumerate(ops))
      computeBefore[position + 1] = computeBefore[position] + model.estimateComputeSeconds(op);
    SmallVector<unsigned> firstReader(collectives.size(), ops.size() - 1);
    for (unsigned number = collectives.size(); number-- > 0;) {
      for (Operation *user : ops[collectives[number].wait]->getResult(0).getUsers()) {
        Operation *reader = block.findAncestorOpInBlock(*user);
        if (!reader)
          continue;
        unsigned position = index.lookup(reader);
        auto started = collectiveOf.find(position);
        firstReader[number] = std::min(firstReader[number], started == collectiveOf.end()
                                                                ? position
                                                                : firstReader[started->second]);
      }
    }
    unsigned deadline = ops.size() - 1, horizon = ops.size() - 1;
    for (unsigned position : llvm::reverse(chain)) {
      auto found = collectiveOf.find(position);
      if (found == collectiveOf.end()) {
        horizon = std::min(horizon, position);
        continue;
      }
      Collective &collective = collectives[found->second];
      collective.pullHorizon = horizon;
      if (!collective.gradientReduction)
        horizon = std::min(horizon, firstReader[found->second]);
      deadline = std::min(deadline, firstReader[found->second]);
      collective.notBefore =
          collective.gradientReduction
              ? 0.0
              : computeBefore[deadline] - limits.overlapMargin * collective.seconds;
    }
  }

  /// For each op, the first link of the communication chain that needs it
  /// (itself, for a link), or the chain's length.
  SmallVector<unsigned> findFirstLinkFed() {
    SmallVector<unsigned> firstLink(ops.size(), chain.size());
    for (auto [link, position] : llvm::enumerate(chain))
      firstLink[position] = link;
    // Edges point to later ops except along a reordered chain; sweep until
    // nothing changes (twice in practice).
    for (bool changed = true; changed;) {
      changed = false;
      for (unsigned position = ops.size(); position-- > 0;)
        for (unsigned from : predecessors[position])
          if (firstLink[position] < firstLink[from]) {
            firstLink[from] = firstLink[position];
            changed = true;
          }
    }
    return firstLink;
  }

  FailureOr<SmallVector<unsigned>> emitSchedule() {
    SmallVector<unsigned> firstLinkFed = findFirstLinkFed();
    SmallVector<unsigned> pending(ops.size());
    SmallVector<SmallVector<unsigned>> successors(ops.size());
    for (auto [position, froms] : llvm::enumerate(predecessors)) {
      llvm::sort(froms);
      froms.erase(std::unique(froms.begin(), froms.end()), froms.end());
      pending[position] = froms.size();
      for (unsigned from : froms)
        successors[from].push_back(position);
    }
    unsigned terminator = ops.size();
    if (ops.back()->hasTrait<OpTrait::IsTerminator>())
      terminator = ops.size() - 1;

    SmallVector<unsigned> order;
    SmallVector<bool> ready(ops.size(), false);
    // Ready compute ops by (feeds the next link of the chain ? 0 : 1,
    // position). Not for a gradient bucket: its gradients come in program
    // order, since computing them early would keep them (and the rank's own
    // copy, until the reduction arrives) alive through more of the pass.
    std::set<std::pair<unsigned, unsigned>> readyCompute;
    size_t nextLink = 0;
    // Nor for an op that communicates inside its kernel: it hides its own
    // traffic, so running what feeds it early hides nothing and only keeps
    // earlier work (another micro-batch's backward pass) waiting.
    auto isPrioritizedLink = [&](size_t link) {
      if (link >= chain.size())
        return false;
      auto found = collectiveOf.find(chain[link]);
      return found != collectiveOf.end() && !collectives[found->second].gradientReduction;
    };
    auto priorityOf = [&](unsigned position) {
      bool feedsNext = firstLinkFed[position] == nextLink && isPrioritizedLink(nextLink);
      return std::make_pair(feedsNext ? 0u : 1u, position);
    };
    auto isCompute = [&](unsigned position) {
      return !collectiveOf.count(position) && !waitOf.count(position) &&
             !communicatesInside(ops[position]) && position != terminator;
    };
    auto markReady = [&](unsigned position) {
      ready[position] = true;
      if (isCompute(position))
        readyCompute.insert(priorityOf(position));
    };
    for (unsigned position = 0; position < ops.size(); ++position)
      if (pending[position] == 0)
        markReady(position);

    // The predicted clock: compute so far, and when the link is free.
    double now = 0.0, linkFree = 0.0;
    SmallVector<double> arrival(collectives.size(), 0.0);
    SmallVector<unsigned> inFlight; // collectives, in start order
    uint64_t bytesInFlight = 0;

    auto emit = [&](unsigned position) {
      order.push_back(position);
      if (isCompute(position))
        readyCompute.erase(priorityOf(position));
      if (chainIndex.count(position)) {
        ++nextLink;
        // Priorities follow the next link: re-key what feeds it.
        std::set<std::pair<unsigned, unsigned>> rekeyed;
        for (auto [_, op] : readyCompute)
          rekeyed.insert(priorityOf(op));
        readyCompute = std::move(rekeyed);
      }
      for (unsigned successor : successors[position])
        if (--pending[successor] == 0)
          markReady(successor);
    };
    // Gradient reductions stay in flight to the end of the backward pass:
    // they count against the bytes, not against the collectives in flight.
    auto countsAgainstLimit = [&](unsigned number) {
      return !collectives[number].gradientReduction;
    };
    auto countBlocks = [&](const Collective &collective) {
      return !collective.gradientReduction &&
             int64_t(llvm::count_if(inFlight, countsAgainstLimit)) + 1 > limits.maxInFlight;
    };
    auto bytesBlock = [&](const Collective &collective) {
      return limits.maxInFlightBytes != 0 &&
             bytesInFlight + collective.bytesHeld > limits.maxInFlightBytes;
    };
    auto fits = [&](const Collective &collective) {
      return inFlight.empty() || (!countBlocks(collective) && !bytesBlock(collective));
    };
    // Whether waiting for `number` makes room for `collective`.
    auto makesRoom = [&](unsigned number, const Collective &collective) {
      return bytesBlock(collective) || countsAgainstLimit(number);
    };
    auto emitWait = [&](unsigned number) {
      const Collective &collective = collectives[number];
      now = std::max(now, arrival[number]);
      bytesInFlight -= collective.bytesHeld;
      llvm::erase(inFlight, number);
      emit(collective.wait);
    };
    auto startCollective = [&](unsigned number) {
      const Collective &collective = collectives[number];
      double begin = std::max(now, linkFree);
      arrival[number] = linkFree = begin + collective.seconds;
      inFlight.push_back(number);
      bytesInFlight += collective.bytesHeld;
      emit(collective.start);
    };
    // The op that needs each in-flight collective first, among those left.
    auto firstNeed = [&](unsigned number) {
      unsigned first = std::numeric_limits<unsigned>::max();
      for (unsigned successor : successors[collectives[number].wait])
        first = std::min(first, successor);
      return first;
    };

    // Compute emitted so far, in predicted seconds: what a start's
    // notBefore is measured against.
    double computed = 0.0;
    auto emitCompute = [&](unsigned position) {
      emit(position);
      double seconds = model.estimateComputeSeconds(ops[position]);
      now += seconds;
      computed += seconds;
    };
    while (order.size() < terminator) {
      bool linkReady = nextLink < chain.size() && ready[chain[nextLink]];
      if (linkReady) {
        unsigned link = chain[nextLink];
        auto found = collectiveOf.find(link);
        if (found == collectiveOf.end()) {
          // An op that communicates inside runs like compute, in its turn.
          emitCompute(link);
          continue;
        }
        const Collective &collective = collectives[found->second];
        // Due once the next compute op would take the step past notBefore;
        // with nothing left to compute, starting now costs nothing.
        bool due = readyCompute.empty() ||
                   computed + model.estimateComputeSeconds(ops[readyCompute.begin()->second]) >=
                       collective.notBefore;
        if (due) {
          // Room from collectives that have arrived: by the model, their
          // waits cost nothing now.
          while (!fits(collective)) {
            unsigned *arrived = llvm::find_if(inFlight, [&](unsigned number) {
              return arrival[number] <= now && makesRoom(number, collective);
            });
            if (arrived == inFlight.end())
              break;
            emitWait(*arrived);
          }
          if (fits(collective)) {
            startCollective(found->second);
            continue;
          }
        }
      }
      if (!readyCompute.empty()) {
        // A wait is due once the compute left to run came after its first
        // reader in program order and the model says it has arrived, or is
        // past its pull horizon: later work moves up only as far as hiding
        // the collective needs, since it keeps its tensors alive longer.
        // A gradient reduction's wait is due once it has arrived, which
        // frees the rank's own gradient; the update it feeds comes last in
        // program order, so it runs where the backward pass would stall.
        unsigned best = readyCompute.begin()->second;
        std::optional<unsigned> due;
        for (unsigned number : inFlight) {
          const Collective &collective = collectives[number];
          if (collective.gradientReduction) {
            if (arrival[number] > now)
              continue;
          } else if (firstNeed(number) >= best ||
                     (arrival[number] > now && best < collective.pullHorizon)) {
            continue;
          }
          if (!due || firstNeed(number) < firstNeed(*due))
            due = number;
        }
        if (due) {
          emitWait(*due);
          continue;
        }
        emitCompute(best);
        continue;
      }
      if (inFlight.empty())
        return block.getParentOp()->emitOpError(
            "cannot be scheduled: its collectives' order and its data dependencies form a "
            "cycle");
      // Nothing to compute: wait. For room, the oldest that makes room;
      // else the one the earliest blocked op needs.
      unsigned chosen = inFlight.front();
      if (linkReady) {
        const Collective &next = collectives[collectiveOf.lookup(chain[nextLink])];
        chosen = *llvm::find_if(inFlight,
                                [&](unsigned number) { return makesRoom(number, next); });
      } else {
        for (unsigned number : inFlight)
          if (firstNeed(number) < firstNeed(chosen))
            chosen = number;
      }
      emitWait(chosen);
    }
    if (terminator < ops.size())
      order.push_back(terminator);
    return order;
  }

  Block &block;
  const CostModel &model;
  const ScheduleLimits &limits;
  SmallVector<Operation *> ops;
  llvm::DenseMap<Operation *, unsigned> index;
  SmallVector<SmallVector<unsigned>> predecessors;
  SmallVector<Collective> collectives;
  /// Op index of a start or a wait -> its collective.
  llvm::DenseMap<unsigned, unsigned> collectiveOf, waitOf;
  SmallVector<SmallVector<unsigned>> buckets;
  /// The communication order: op indices, and each one's place in it.
  SmallVector<unsigned> chain;
  llvm::DenseMap<unsigned, unsigned> chainIndex;
};

struct ScheduleCollectivesPass
    : public sp::scheduling::impl::ScheduleCollectivesBase<ScheduleCollectivesPass> {
  using ScheduleCollectivesBase::ScheduleCollectivesBase;

  LogicalResult initialize(MLIRContext *context) override {
    llvm::Expected<CostModel> loaded = loadCostModel(costProfile);
    if (!loaded) {
      loadError = llvm::toString(loaded.takeError());
      return success();
    }
    model = std::move(*loaded);
    overrideRates(model, {flopsPerSecond, memoryBytesPerSecond, linkBytesPerSecond,
                          linkLatencySeconds, gradientBucketBytes});
    return success();
  }

  void runOnOperation() override {
    func::FuncOp function = getOperation();
    if (!loadError.empty()) {
      function.emitError(loadError);
      return signalPassFailure();
    }
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
    ScheduleLimits limits{maxInFlight, uint64_t(int64_t(maxInFlightBytes)),
                          model.gradientBucketBytes, overlapMargin};
    ListScheduler scheduler(function.getBody().front(), model, limits);
    if (failed(scheduler.run()))
      signalPassFailure();
  }

  CostModel model;
  std::string loadError;
};

} // namespace
