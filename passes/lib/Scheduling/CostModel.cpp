//===- CostModel.cpp - predicted time of compute and collectives ----------===//

#include "sp/Scheduling/CostModel.h"

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"

#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
namespace graph = sp::graph;

namespace sp::scheduling {

namespace {

/// The tensor a value holds: a future holds its collective's result.
RankedTensorType getTensorType(Type type) {
  if (auto future = llvm::dyn_cast<graph::FutureType>(type))
    return future.getValueType();
  auto tensor = llvm::dyn_cast<RankedTensorType>(type);
  return tensor && tensor.hasStaticShape() ? tensor : nullptr;
}

double getElementCount(Type type) {
  RankedTensorType tensor = getTensorType(type);
  return tensor ? double(tensor.getNumElements()) : 0.0;
}

/// Bytes of a static tensor (an i1 element is a byte, as plans store it).
uint64_t getByteSize(Type type) {
  RankedTensorType tensor = getTensorType(type);
  if (!tensor || !tensor.getElementType().isIntOrFloat())
    return 0;
  uint64_t elementBytes = std::max<uint64_t>(tensor.getElementTypeBitWidth(), 8) / 8;
  return uint64_t(tensor.getNumElements()) * elementBytes;
}

/// Ops that compute nothing at run time: views of their input, values the
/// plan holds already, global accesses the planner resolves in place, the
/// terminator.
bool isFree(Operation *op) {
  return llvm::isa<graph::ReshapeOp, graph::SqueezeOp, graph::UnsqueezeOp, graph::ShapeOp,
                   ml_program::GlobalLoadOp, ml_program::GlobalLoadConstOp,
                   ml_program::GlobalStoreOp, func::ReturnOp>(op) ||
         matchPattern(op, m_Constant());
}

/// The dim `fromEnd` places before the end of `value`'s static shape, or 0.
double getDimFromEnd(Value value, int64_t fromEnd) {
  RankedTensorType tensor = getTensorType(value.getType());
  if (!tensor || tensor.getRank() < fromEnd)
    return 0.0;
  return double(tensor.getDimSize(tensor.getRank() - fromEnd));
}

/// 4 Sq Sk D per query head (scores and weighted values), for every op of
/// the attention family: the query is operand 0 and the key operand 1, and
/// a ring attention meets `num_ranks` key blocks.
std::optional<double> estimateAttentionFlops(Operation *op) {
  StringRef name = op->getName().getStringRef();
  bool gradient = name.consume_back("_grad");
  bool attention = name == "graph.attention" || name == "graph.block_attention" ||
                   name == "graph.ring_attention";
  if (!attention || op->getNumOperands() < 2)
    return std::nullopt;
  double flops =
      4.0 * getElementCount(op->getOperand(0).getType()) * getDimFromEnd(op->getOperand(1), 2);
  if (auto blocks = op->getAttrOfType<IntegerAttr>("num_ranks"))
    flops *= double(blocks.getInt());
  // The kernels skip the tiles a causal mask hides, and those outside a
  // band that lets no later key through (a causal mask the kernels compute
  // from the band; a sliding window skips more, which this leaves out).
  auto bandUpper = op->getAttrOfType<IntegerAttr>("band_upper");
  if (auto causal = op->getAttrOfType<BoolAttr>("causal");
      (causal && causal.getValue()) || (bandUpper && bandUpper.getValue().getSExtValue() <= 0))
    flops *= 0.5;
  // The backward pass recomputes the scores and takes three more products.
  return gradient ? 2.5 * flops : flops;
}

} // namespace

double CostModel::estimateFlops(Operation *op) {
  if (isFree(op) || getCollectiveTraffic(op) || llvm::isa<graph::WaitOp>(op))
    return 0.0;
  if (auto matmul = llvm::dyn_cast<graph::MatMulOp>(op))
    return 2.0 * getElementCount(matmul.getType()) * getDimFromEnd(matmul.getLhs(), 1);
  if (auto gemm = llvm::dyn_cast<graph::GemmOp>(op)) {
    double inner = getDimFromEnd(gemm.getA(), gemm.getTransposeA() ? 2 : 1);
    return 2.0 * getElementCount(gemm.getType()) * inner;
  }
  if (std::optional<double> flops = estimateAttentionFlops(op))
    return *flops;
  double flops = 0.0;
  for (Type type : op->getResultTypes())
    flops += getElementCount(type);
  return flops;
}

double CostModel::estimateComputeSeconds(Operation *op) const {
  if (isFree(op) || getCollectiveTraffic(op) || llvm::isa<graph::WaitOp>(op))
    return 0.0;
  if (std::optional<double> measured = lookUpMeasured(measuredComputeSeconds, op))
    return *measured;
  uint64_t bytes = 0;
  for (Type type : op->getOperandTypes())
    bytes += getByteSize(type);
  for (Type type : op->getResultTypes())
    bytes += getByteSize(type);
  return estimateFlops(op) / flopsPerSecond + double(bytes) / memoryBytesPerSecond;
}

double CostModel::estimateCommunicationSeconds(uint64_t bytesSent, int64_t steps) const {
  return double(steps) * linkLatencySeconds + double(bytesSent) / linkBytesPerSecond;
}

double CostModel::estimateCollectiveSeconds(Operation *op) const {
  std::optional<CollectiveTraffic> traffic = getCollectiveTraffic(op);
  if (!traffic)
    return 0.0;
  if (std::optional<double> measured = lookUpMeasured(measuredCollectiveSeconds, op))
    return *measured;
  // Its ranks are consecutive (the hybrid's exchanges: a group of them).
  auto ranks = op->getAttrOfType<IntegerAttr>("num_ranks");
  if (ranks && spansNodes(ranks.getInt()))
    return acrossNodes().estimateCommunicationSeconds(traffic->bytesSent, traffic->steps);
  return estimateCommunicationSeconds(traffic->bytesSent, traffic->steps);
}

std::optional<CollectiveTraffic> getCollectiveTraffic(Operation *op) {
  // Ring algorithms: a gather or scatter takes N - 1 steps of one shard
  // each, an all-reduce is a reduce-scatter and an all-gather.
  std::optional<StringRef> kind =
      llvm::TypeSwitch<Operation *, std::optional<StringRef>>(op)
          .Case<graph::AllGatherOp, graph::AllGatherStartOp>([](auto) { return "all_gather"; })
          .Case<graph::ReduceScatterOp, graph::ReduceScatterStartOp>(
              [](auto) { return "reduce_scatter"; })
          .Case<graph::AllReduceOp, graph::AllReduceStartOp>([](auto) { return "all_reduce"; })
          .Case<graph::AllToAllOp, graph::AllToAllStartOp>([](auto) { return "all_to_all"; })
          .Case<graph::RingShiftOp, graph::RingShiftStartOp>([](auto) { return "ring_shift"; })
          .Default([](Operation *) { return std::nullopt; });
  auto ranks = op->getAttrOfType<IntegerAttr>("num_ranks");
  if (!kind || !ranks || op->getNumOperands() != 1 || op->getNumResults() != 1)
    return std::nullopt;
  int64_t numRanks = std::max<int64_t>(ranks.getInt(), 1);
  double input = double(getByteSize(op->getOperand(0).getType()));
  double share = double(numRanks - 1) / double(numRanks);
  CollectiveTraffic traffic;
  traffic.kind = *kind;
  traffic.bytesHeld =
      getByteSize(op->getOperand(0).getType()) + getByteSize(op->getResultTypes()[0]);
  traffic.steps = numRanks - 1;
  if (*kind == "all_gather") {
    traffic.bytesSent = uint64_t(double(numRanks - 1) * input);
  } else if (*kind == "reduce_scatter" || *kind == "all_to_all") {
    traffic.bytesSent = uint64_t(share * input);
  } else if (*kind == "all_reduce") {
    traffic.bytesSent = uint64_t(2.0 * share * input);
    traffic.steps = 2 * (numRanks - 1);
  } else {
    traffic.bytesSent = uint64_t(input);
    traffic.steps = numRanks > 1 ? 1 : 0;
  }
  return traffic;
}

Timeline predictTimeline(func::FuncOp function, const CostModel &model) {
  Timeline timeline;
  if (function.getBody().empty())
    return timeline;
  double now = 0.0, linkFree = 0.0;
  // Started collectives by future: their entry and when the link delivers them.
  llvm::MapVector<Value, std::pair<size_t, double>> inFlight;
  for (Operation &op : function.getBody().front()) {
    if (std::optional<CollectiveTraffic> traffic = getCollectiveTraffic(&op)) {
      TimelineEntry entry;
      entry.traffic = *traffic;
      entry.communicationSeconds = model.estimateCollectiveSeconds(&op);
      // One link: a collective begins when the ones started before it are done.
      double done = std::max(now, linkFree) + entry.communicationSeconds;
      linkFree = done;
      timeline.communicationSeconds += entry.communicationSeconds;
      entry.async = llvm::isa<graph::FutureType>(op.getResult(0).getType());
      if (entry.async) {
        inFlight[op.getResult(0)] = {timeline.collectives.size(), done};
        timeline.maxInFlight = std::max<unsigned>(timeline.maxInFlight, inFlight.size());
      } else {
        entry.exposedSeconds = done - now;
        now = done;
      }
      timeline.collectives.push_back(entry);
      continue;
    }
    if (auto wait = llvm::dyn_cast<graph::WaitOp>(op)) {
      auto started = inFlight.find(wait.getFuture());
      if (started == inFlight.end())
        continue;
      auto [index, done] = started->second;
      timeline.collectives[index].exposedSeconds = std::max(0.0, done - now);
      now = std::max(now, done);
      inFlight.erase(started);
      continue;
    }
    double seconds = model.estimateComputeSeconds(&op);
    if (seconds <= 0.0)
      continue;
    double flops = CostModel::estimateFlops(&op);
    now += seconds;
    timeline.computeSeconds += seconds;
    for (auto &started : inFlight) {
      TimelineEntry &entry = timeline.collectives[started.second.first];
      ++entry.opsBetween;
      entry.flopsBetween += flops;
      entry.computeSecondsBetween += seconds;
    }
  }
  for (const TimelineEntry &entry : timeline.collectives)
    timeline.exposedSeconds += entry.exposedSeconds;
  timeline.stepSeconds = now;
  return timeline;
}

void printTimeline(llvm::raw_ostream &os, const Timeline &timeline, const CostModel &model) {
  if (timeline.collectives.empty())
    return;
  auto micro = [](double seconds) { return seconds * 1e6; };
  os << llvm::formatv("predicted timeline per rank (cost profile {0}: {1:F0} GFLOP/s, {2:F1} GB/s "
                      "memory, {3:F1} GB/s link, {4:F1} us per message step):\n",
                      model.profile, model.flopsPerSecond / 1e9, model.memoryBytesPerSecond / 1e9,
                      model.linkBytesPerSecond / 1e9, micro(model.linkLatencySeconds));
  os << llvm::formatv("  {0,-4} {1,-22} {2,12} {3,12} {4,14} {5,12} {6,12}\n", "#", "collective",
                      "bytes sent", "ops between", "MFLOP between", "link us", "exposed us");
  for (auto [index, entry] : llvm::enumerate(timeline.collectives)) {
    std::string kind = entry.traffic.kind.str() + (entry.async ? "" : " (sync)");
    os << llvm::formatv("  {0,-4} {1,-22} {2,12} {3,12} {4,14:F2} {5,12:F1} {6,12:F1}\n", index,
                        kind, entry.traffic.bytesSent, entry.opsBetween, entry.flopsBetween / 1e6,
                        micro(entry.communicationSeconds), micro(entry.exposedSeconds));
  }
  // Sums in different orders: never print a hidden -0.0.
  double hidden = std::max(0.0, timeline.communicationSeconds - timeline.exposedSeconds);
  double percent =
      timeline.communicationSeconds > 0.0 ? 100.0 * hidden / timeline.communicationSeconds : 0.0;
  os << llvm::formatv("  communication hidden: {0:F1} of {1:F1} us ({2:F0}%), {3:F1} us "
                      "exposed; compute {4:F1} us, step {5:F1} us; at most {6} in flight\n",
                      micro(hidden), micro(timeline.communicationSeconds), percent,
                      micro(timeline.exposedSeconds), micro(timeline.computeSeconds),
                      micro(timeline.stepSeconds), timeline.maxInFlight);
  // One line for scripts (utils/bench/overlap.py) to compare with a trace.
  os << llvm::formatv("predicted step time: {0:F1} us; communication hidden: {1:F1}% "
                      "(cost profile {2})\n",
                      micro(timeline.stepSeconds), percent, model.profile);
}

} // namespace sp::scheduling
