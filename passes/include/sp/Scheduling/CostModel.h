//===- CostModel.h - predicted time of a step's compute and collectives -*- C++ -*-===//
//
// The estimates the overlap scheduler places collectives by, and the timeline
// `sp-compile --report` prints. Deliberately coarse: one rank computes one op
// at a time at a fixed FLOP rate plus a fixed memory bandwidth, and one link
// carries one collective at a time, in the order they start. The rates come
// from a cost profile (a data file, built in by name or given as a path);
// a measured profile (`sp-run --profile`) replaces the estimate of every
// instruction it timed, by instruction id (sp/Plan/InstructionIds.h).
//
//===----------------------------------------------------------------------===//

#ifndef SP_SCHEDULING_COSTMODEL_H
#define SP_SCHEDULING_COSTMODEL_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>
#include <string>

namespace sp::scheduling {

/// Rates of one rank, from a cost profile (loadCostModel); the defaults are
/// round figures for tests that set their own.
struct CostModel {
  /// What the rates came from: a built-in profile's name or a file's path,
  /// and for a measured profile also the analytic one it falls back to.
  std::string profile = "default";
  /// Matrix products and attention.
  double flopsPerSecond = 1e11;
  /// Bytes an op reads and writes per second (element-wise ops are bound by it).
  double memoryBytesPerSecond = 1e10;
  /// Bytes a rank sends per second.
  double linkBytesPerSecond = 5e9;
  /// Latency of each message step of a collective's ring algorithm.
  double linkLatencySeconds = 5e-6;
  /// Parameter-gradient bytes the scheduler reduces as one bucket (PyTorch
  /// DDP's 25 MB, scaled to the machine); 0: one bucket per gradient.
  uint64_t gradientBucketBytes = 1 << 20;
  /// Measured seconds by instruction id: compute ops' time on the compute
  /// lane, and collectives' time on the communication lane (by the id of
  /// their start or synchronous op). A start may be in both.
  llvm::StringMap<double> measuredComputeSeconds, measuredCollectiveSeconds;
  /// The ranks a measured profile was taken on (0: not measured).
  int64_t measuredWorldSize = 0;
  /// The machine's topology: nodes of this many consecutive ranks on the
  /// link above, joined by a slower one (0: every rank on one node).
  int64_t ranksPerNode = 0;
  double interNodeLinkBytesPerSecond = 0;
  double interNodeLinkLatencySeconds = 0;

  /// Whether a collective among `firstRanks` consecutive ranks (a group of
  /// them, the groups aligned) reaches beyond a node.
  bool spansNodes(int64_t firstRanks) const;
  /// This model with the link between nodes in place of the one inside.
  CostModel acrossNodes() const;

  /// FLOPs of `op`: 2MNK for matrix products, 4 Sq Sk D per head for
  /// attention (half when causal, 2.5 times for its gradient), one per result
  /// element otherwise; 0 for views, constants and global accesses.
  static double estimateFlops(mlir::Operation *op);
  /// Seconds `op` computes: measured, else estimated; 0 for collectives
  /// and their starts and waits.
  double estimateComputeSeconds(mlir::Operation *op) const;
  /// Seconds the link carries a collective (sync or `*_start`) that sends
  /// `bytesSent` in `steps` message steps.
  double estimateCommunicationSeconds(uint64_t bytesSent, int64_t steps) const;
  /// Seconds the link carries the collective `op`: measured, else estimated
  /// from its traffic; 0 for other ops.
  double estimateCollectiveSeconds(mlir::Operation *op) const;
  /// The measured seconds of `op` in `times`, if the profile timed it.
  static std::optional<double> lookUpMeasured(const llvm::StringMap<double> &times,
                                              mlir::Operation *op);
};

/// The names of the built-in analytic profiles: "cpu" (this project's
/// 2-core CPU machine, MPI over shared memory), "h100-nvlink" (8 H100s on
/// NVLink), "h100-ib" (H100 nodes over 400 Gb/s InfiniBand).
llvm::ArrayRef<llvm::StringRef> getBuiltinCostProfileNames();

/// Loads a cost profile: a built-in's name, or the path of a JSON file that
/// is either an analytic profile
///   {"format": "sp-cost-model", "version": 1, "name": ...,
///    "flops_per_second": F, "memory_bytes_per_second": M,
///    "link_bytes_per_second": L, "link_latency_us": T,
///    "gradient_bucket_bytes": B}
/// with, for a machine of several nodes, "ranks_per_node": R,
/// "inter_node_link_bytes_per_second": L2, "inter_node_link_latency_us": T2
/// or a measured one, as `sp-run --profile` writes it
///   {"format": "sp-profile", "version": 1, "device": "cpu"|"cuda", ...,
///    "instructions": [{"id": ..., "kernel": ..., "us": ...}, ...],
///    "collectives": [{"id": ..., "kind": ..., "bytes": ..., "us": ...}, ...]}
/// whose instructions fall back to the device's built-in profile ("cpu",
/// or "h100-nvlink" for "cuda"). The error is one line naming the file.
llvm::Expected<CostModel> loadCostModel(llvm::StringRef fileOrName);

/// Rates that replace a loaded profile's, as pass options give them: a rate
/// of 0, a latency below 0 and a bucket size below 0 keep the profile's.
struct CostModelOverrides {
  double flopsPerSecond = 0, memoryBytesPerSecond = 0, linkBytesPerSecond = 0;
  double linkLatencySeconds = -1;
  int64_t gradientBucketBytes = -1;
  int64_t ranksPerNode = 0;
};
void overrideRates(CostModel &model, const CostModelOverrides &overrides);

/// What one collective (sync, or a `*_start`) moves: bytes one rank sends
/// and the message steps of the ring algorithm for it. Null for other ops.
struct CollectiveTraffic {
  llvm::StringRef kind; // the sync op's name without "graph.", e.g. "all_reduce"
  uint64_t bytesSent = 0;
  int64_t steps = 0;
  /// Bytes the collective keeps allocated while it is in flight: its input,
  /// which the communication reads until the wait, and its result.
  uint64_t bytesHeld = 0;
};
std::optional<CollectiveTraffic> getCollectiveTraffic(mlir::Operation *op);

/// One collective of the predicted timeline, in start order.
struct TimelineEntry {
  CollectiveTraffic traffic;
  bool async = false;
  /// Ops that compute between the start and the wait (views and constants
  /// not counted) and their FLOPs and seconds.
  unsigned opsBetween = 0;
  double flopsBetween = 0;
  double computeSecondsBetween = 0;
  double communicationSeconds = 0;
  /// Seconds the rank stalls for it: at its wait, or in the sync op.
  double exposedSeconds = 0;
};

/// The step as one rank would run it under `model`, ops in block order.
struct Timeline {
  llvm::SmallVector<TimelineEntry> collectives;
  double computeSeconds = 0;
  double communicationSeconds = 0;
  double exposedSeconds = 0;
  double stepSeconds = 0;
  unsigned maxInFlight = 0;
};
Timeline predictTimeline(mlir::func::FuncOp function, const CostModel &model);

/// The --report section: the model's constants, one line per collective and
/// the communication hidden in total.
void printTimeline(llvm::raw_ostream &os, const Timeline &timeline, const CostModel &model);

} // namespace sp::scheduling

#endif // SP_SCHEDULING_COSTMODEL_H
