//===- ShardingRewriter.h - splitting @main along the sequence ----*- C++ -*-===//
//
// Internal to passes/lib/SequenceParallel. The rewriter walks @main once in
// program order (a forward dataflow analysis that rewrites as it goes: every
// op's operands have their final state when the op is reached) and keeps one
// state per value. Rules per op kind live in ShardingRewriter.cpp; the
// attention strategies in AttentionStrategies.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef SP_LIB_SEQUENCEPARALLEL_SHARDINGREWRITER_H
#define SP_LIB_SEQUENCEPARALLEL_SHARDINGREWRITER_H

#include "sp/Autodiff/GradientBuilder.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "llvm/ADT/DenseMap.h"

namespace sp::sequence_parallel {

/// How one value is spread over the ranks.
///
/// A sharded value's dim `axis` has the global size `outer * block`, where
/// each of the `outer` blocks spans the whole sequence (for [batch, seq]
/// merged into one dim, outer is the batch). A rank holds, of every block,
/// its chunks of the layout: chunk r of N (contiguous) or chunks r and
/// 2N-1-r of 2N (zigzag). Its local dim is the global one divided by N.
struct Sharding {
  enum class Kind { Replicated, Sharded, Partial };
  Kind kind = Kind::Replicated;
  int64_t axis = 0;
  int64_t outer = 1;

  static Sharding replicated() { return {}; }
  static Sharding partial() { return {Kind::Partial, 0, 1}; }
  static Sharding sharded(int64_t axis, int64_t outer = 1) { return {Kind::Sharded, axis, outer}; }
  bool isReplicated() const { return kind == Kind::Replicated; }
  bool isSharded() const { return kind == Kind::Sharded; }
  bool isPartial() const { return kind == Kind::Partial; }
  Sharding withAxis(int64_t newAxis) const { return sharded(newAxis, outer); }
  bool operator==(const Sharding &other) const {
    return kind == other.kind &&
           (kind != Kind::Sharded || (axis == other.axis && outer == other.outer));
  }
  bool operator!=(const Sharding &other) const { return !(*this == other); }
};

/// Hybrid: Ulysses inside groups of consecutive ranks, the ring across them.
enum class AttentionStrategy { AllGather, Ulysses, Ring, Hybrid };

llvm::StringRef strategyName(AttentionStrategy strategy);

/// "'graph.op' (ONNX node 'NAME')", for remarks.
std::string describeOp(mlir::Operation *op);

class ShardingRewriter {
public:
  /// `unpaddedLength` is `sequenceLength` unless the importer padded the
  /// sequence (graph.unpadded_sequence_length): the positions from it on are
  /// padding.
  /// `ulyssesDegree` is the hybrid's group size (the ranks that exchange
  /// heads); it divides `numRanks`.
  ShardingRewriter(mlir::func::FuncOp main, int64_t numRanks, bool zigzag, int64_t sequenceLength,
                   int64_t unpaddedLength, AttentionStrategy strategy, bool strategyRequested,
                   int64_t ulyssesDegree = 1);

  /// Shards the block arguments `shardedArguments` maps to their dims.
  mlir::LogicalResult
  shardArguments(const llvm::SmallDenseMap<unsigned, int64_t> &shardedArguments);
  /// Rewrites every op of @main and its signature.
  mlir::LogicalResult run();

private:
  //===--------------------------------------------------------------------===//
  // States and shapes
  //===--------------------------------------------------------------------===//

  Sharding stateOf(mlir::Value value) const { return states.lookup(value); }
  void setState(mlir::Value value, Sharding sharding) { states[value] = sharding; }
  /// Chunks the sequence is cut into: N, or 2N for zigzag.
  int64_t chunks() const { return zigzag ? 2 * numRanks : numRanks; }
  /// The whole tensor's shape of a value (local dims times N where sharded).
  llvm::SmallVector<int64_t> globalShape(mlir::Value value) const;
  /// `global` with the sharded dim divided among the ranks.
  mlir::RankedTensorType localType(mlir::RankedTensorType global, const Sharding &sharding) const;

  //===--------------------------------------------------------------------===//
  // Building blocks; they build at the builder's insertion point
  //===--------------------------------------------------------------------===//

  /// The whole tensor from every rank's shard.
  mlir::Value gatherWhole(mlir::Value local, const Sharding &sharding);
  /// This rank's shard of a replicated tensor. The slice moves back through
  /// the position-wise ops that made the tensor, to the table they index,
  /// so that each rank computes only its own positions.
  mlir::Value sliceToShard(mlir::Value whole, const Sharding &sharding);
  /// The sum over ranks of a partial value.
  mlir::Value reducePartial(mlir::Value partial);
  /// The axis collectives' attributes.
  llvm::SmallVector<mlir::NamedAttribute> axisAttributes(int64_t axis, bool zigzagAxis);
  /// A rank's global sequence positions, in its layout order.
  llvm::SmallVector<int64_t> positionsOfRank(int64_t rank) const;
  /// The i64 [S / N] positions of this rank's queries.
  mlir::Value localPositions();
  /// The band mask and dropout attributes of `attention`, for its
  /// sequence-parallel form: a dropout indexes the unpadded sequence, which
  /// the op's keys no longer span.
  llvm::SmallVector<mlir::NamedAttribute> attentionMaskAttributes(graph::AttentionOp attention);

  mlir::Value hoistedSlice(mlir::Value whole, int64_t axis);
  mlir::Value sliceAfterDefinition(mlir::Value whole, int64_t axis);

  //===--------------------------------------------------------------------===//
  // Rules
  //===--------------------------------------------------------------------===//

  mlir::LogicalResult rewrite(mlir::Operation *op);
  /// Sets operand `index` of `op` to `value`, just built; failure when
  /// building it failed (the builder reported why).
  mlir::LogicalResult replaceOperand(mlir::Operation *op, unsigned index, mlir::Value value);
  /// Re-infers `op`'s result types from its (now local) operands.
  mlir::LogicalResult reinfer(mlir::Operation *op);
  /// All of `op`'s sharded operands gathered whole; `why` completes the
  /// remark "gathered ... because ...".
  mlir::LogicalResult gatherOperands(mlir::Operation *op, const llvm::Twine &why);
  /// Gives replicated operands that broadcast along `target` (a result dim)
  /// their shard; `firstOperand` skips leading non-data operands.
  mlir::LogicalResult sliceBroadcastOperands(mlir::Operation *op, const Sharding &target,
                                             int64_t resultRank, unsigned firstOperand = 0,
                                             unsigned endOperand = ~0u);

  mlir::LogicalResult rewriteElementwise(mlir::Operation *op);
  mlir::LogicalResult rewriteSameShape(mlir::Operation *op);
  mlir::LogicalResult rewriteReshape(graph::ReshapeOp op);
  mlir::LogicalResult rewriteExpand(graph::ExpandOp op);
  mlir::LogicalResult rewriteTranspose(graph::TransposeOp op);
  mlir::LogicalResult rewriteUnsqueeze(graph::UnsqueezeOp op);
  mlir::LogicalResult rewriteSqueeze(graph::SqueezeOp op);
  mlir::LogicalResult rewriteAlongAxis(mlir::Operation *op, int64_t axis, bool fromAxisOn,
                                       llvm::StringRef what);
  template <typename ReduceOp> mlir::LogicalResult rewriteReduce(ReduceOp op);
  mlir::LogicalResult rewriteMatMul(graph::MatMulOp op);
  mlir::LogicalResult rewriteGemm(graph::GemmOp op);
  mlir::LogicalResult rewriteGather(graph::GatherOp op);
  mlir::LogicalResult rewriteGatherND(graph::GatherNDOp op);
  mlir::LogicalResult rewriteSlice(graph::SliceOp op);
  mlir::LogicalResult rewriteSplit(graph::SplitOp op);
  mlir::LogicalResult rewriteConcat(graph::ConcatOp op);
  mlir::LogicalResult rewriteShape(graph::ShapeOp op);
  mlir::LogicalResult rewriteShift(graph::ShiftOp op);
  mlir::LogicalResult rewriteCrossEntropy(graph::CrossEntropySumOp op);
  mlir::LogicalResult rewriteDropout(graph::DropoutOp op);
  mlir::LogicalResult rewriteReturn(mlir::func::ReturnOp op);

  // AttentionStrategies.cpp
  mlir::LogicalResult rewriteAttention(graph::AttentionOp op);
  mlir::LogicalResult attendAllGather(graph::AttentionOp op, mlir::Value bias);
  /// Ulysses over groups of `degree` consecutive ranks: all_to_all from the
  /// sequence to heads inside each group, then attention on the group's block
  /// of the sequence, local when the group is every rank, else a ring across
  /// the groups (the hybrid).
  mlir::LogicalResult attendUlysses(graph::AttentionOp op, mlir::Value bias, int64_t degree);
  mlir::LogicalResult attendRing(graph::AttentionOp op, mlir::Value bias);
  mlir::Value repeatHeads(mlir::Value value, int64_t times);
  void replaceAttention(graph::AttentionOp op, mlir::Value output, mlir::Value logsumexp);

  mlir::func::FuncOp main;
  int64_t numRanks;
  bool zigzag;
  int64_t sequenceLength;
  int64_t unpaddedLength;
  AttentionStrategy strategy;
  int64_t ulyssesDegree;
  /// Whether the user named the strategy (not `auto`): attention it cannot
  /// split is then an error, not a quiet gather.
  bool strategyRequested;
  autodiff::GradientBuilder builder;
  llvm::DenseMap<mlir::Value, Sharding> states;
  /// Shards of replicated tables, by (table, axis): layers share them.
  llvm::DenseMap<std::pair<mlir::Value, int64_t>, mlir::Value> slices;
  mlir::Value queryPositions;
};

} // namespace sp::sequence_parallel

#endif // SP_LIB_SEQUENCEPARALLEL_SHARDINGREWRITER_H
