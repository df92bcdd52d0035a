//===- AttentionStrategies.cpp - attention over a split sequence ----------===//
//
// graph.attention with its query, key and value split along the sequence:
//
//   allgather  every rank gathers the whole K and V and attends its own
//              queries to them (block_attention with the queries' positions
//              keeps the causal mask right). Autodiff turns the gathers into
//              reduce-scatters of dK and dV.
//   ulysses    all_to_all moves from a shard of the sequence with all heads
//              to all of the sequence with a shard of the heads, attention is
//              plain and local, and all_to_all moves back. Key/value heads
//              that the ranks do not divide are repeated first.
//   ring       graph.ring_attention: K and V blocks travel around the ring
//              in N steps inside one kernel, each step attending the rank's
//              queries to the block it holds and merging by logsumexp
//              (online softmax). Its gradient, ring_attention_grad, is a
//              second ring that carries dK and dV with the blocks, so no
//              step's block is kept for the backward pass.
//   hybrid     Ulysses inside groups of U consecutive ranks, the ring across
//              the N / U groups (USP, Megatron's hierarchical context
//              parallelism): the all_to_all gives each rank its group's
//              block of the sequence for 1/U of the heads, and the ring
//              passes those blocks between the ranks at the same place of
//              each group. The zigzag layout of N ranks makes each group's
//              block the zigzag chunks of the group in a ring of N / U, so
//              neither step reorders anything. Query heads must divide by
//              U, not by N.
//
//===----------------------------------------------------------------------===//

#include "ShardingRewriter.h"

#include "mlir/IR/Matchers.h"

#include <cmath>
#include <numeric>

using namespace mlir;
namespace graph = sp::graph;

namespace sp::sequence_parallel {

namespace {
RankedTensorType typeOf(Value value) { return llvm::cast<RankedTensorType>(value.getType()); }

} // namespace

SmallVector<NamedAttribute>
ShardingRewriter::attentionMaskAttributes(graph::AttentionOp attention) {
  SmallVector<NamedAttribute> attributes = graph::getAttentionMaskAttributes(attention);
  llvm::erase_if(attributes, [](NamedAttribute attribute) {
    return attribute.getName() == "dropout_sequence_length";
  });
  if (attention.getDropoutRatio())
    attributes.push_back(builder.getNamedAttr("dropout_sequence_length",
                                              builder.getI64IntegerAttr(unpaddedLength)));
  return attributes;
}

LogicalResult ShardingRewriter::rewriteAttention(graph::AttentionOp op) {
  int64_t rank = op.getQuery().getType().getRank();
  auto onSequence = [&](Value value) {
    Sharding sharding = stateOf(value);
    return sharding.isSharded() && sharding.axis == rank - 2 && sharding.outer == 1 &&
           globalShape(value)[rank - 2] == sequenceLength;
  };
  bool keysSharded = onSequence(op.getKey()) && onSequence(op.getValue());
  bool keysWhole = stateOf(op.getKey()).isReplicated() && stateOf(op.getValue()).isReplicated();
  if (!onSequence(op.getQuery()) || !(keysSharded || keysWhole)) {
    if (strategyRequested && strategy != AttentionStrategy::AllGather)
      return op->emitError() << describeOp(op) << " cannot run by " << strategyName(strategy)
                             << ": its query, key and value are not split along the sequence "
                                "alike, so they would be gathered whole. Use "
                                "--sp-strategy=allgather or auto";
    return gatherOperands(op, "its query, key and value are not split along the sequence "
                              "alike");
  }
  Value bias = op.getBias();
  if (bias && !stateOf(bias).isReplicated()) {
    bias = gatherWhole(bias, stateOf(bias));
    op.getBiasMutable().assign(bias);
    op->emitRemark() << "gathered the whole attention bias of " << describeOp(op)
                     << ": its rows and columns follow the attention strategy";
  }

  // Keys and values that every rank holds whole need no communication: the
  // attention is local, as allgather's is once it has gathered them. Every
  // other attention takes the strategy chosen: ring and Ulysses take any
  // bias (the ring kernels give rows a padding mask hides from every key
  // what one rank gives them), and Ulysses' head count was checked up front.
  AttentionStrategy chosen = strategy;
  if (strategy != AttentionStrategy::AllGather && keysWhole) {
    chosen = AttentionStrategy::AllGather;
    op->emitRemark() << describeOp(op) << " is local instead of " << strategyName(strategy)
                     << ": its keys and values are not split";
  }
  switch (chosen) {
  case AttentionStrategy::AllGather:
    return attendAllGather(op, bias);
  case AttentionStrategy::Ulysses:
    return attendUlysses(op, bias, numRanks);
  case AttentionStrategy::Ring:
    return attendRing(op, bias);
  case AttentionStrategy::Hybrid:
    return attendUlysses(op, bias, ulyssesDegree);
  }
  return failure();
}

void ShardingRewriter::replaceAttention(graph::AttentionOp op, Value output, Value logsumexp) {
  int64_t rank = op.getQuery().getType().getRank();
  op.getOutput().replaceAllUsesWith(output);
  setState(output, Sharding::sharded(rank - 2));
  if (logsumexp) {
    op.getLogsumexp().replaceAllUsesWith(logsumexp);
    setState(logsumexp, Sharding::sharded(rank - 2));
  }
  op->erase();
}

LogicalResult ShardingRewriter::attendAllGather(graph::AttentionOp op, Value bias) {
  int64_t rank = op.getQuery().getType().getRank();
  Value key = op.getKey(), value = op.getValue();
  if (stateOf(key).isSharded()) {
    key = gatherWhole(key, stateOf(key));
    value = gatherWhole(value, stateOf(value));
  }
  // The bias's query rows are this rank's; its key columns stay whole.
  if (bias) {
    RankedTensorType biasType = typeOf(bias);
    int64_t rowAxis = biasType.getRank() - 2;
    if (rowAxis >= 0 && biasType.getDimSize(rowAxis) != 1)
      bias = sliceToShard(bias, Sharding::sharded(rowAxis));
  }
  SmallVector<NamedAttribute> attributes = {
      builder.getNamedAttr("scale", op.getScaleAttr()),
      builder.getNamedAttr("causal", builder.getBoolAttr(op.getCausal()))};
  attributes.append(attentionMaskAttributes(op));
  SmallVector<Value> operands = {op.getQuery(), key, value};
  StringRef name = graph::AttentionOp::getOperationName();
  // The causal mask and the band compare positions, and the dropout draws
  // by them: block_attention's.
  if (op.getCausal() || op->hasAttr("band_fill") || op.getDropoutRatio()) {
    // Key j of the whole sequence sits at position j - (Sk - S), as the
    // unsplit op's mask `j <= i + Sk - Sq` reads.
    int64_t keys = typeOf(key).getDimSize(rank - 2);
    SmallVector<int64_t> keyPositions(keys);
    std::iota(keyPositions.begin(), keyPositions.end(), sequenceLength - keys);
    operands.append({localPositions(), builder.i64Vector(keyPositions)});
    name = graph::BlockAttentionOp::getOperationName();
  }
  if (bias)
    operands.push_back(bias);
  SmallVector<Value> results = builder.buildInferred(name, operands, attributes, 2);
  if (results.empty())
    return failure();
  if (stateOf(op.getKey()).isSharded())
    op->emitRemark() << describeOp(op) << " by allgather: all_gather of key and value";
  replaceAttention(op, results[0], results[1]);
  return success();
}

Value ShardingRewriter::repeatHeads(Value value, int64_t times) {
  if (times == 1)
    return value;
  RankedTensorType type = typeOf(value);
  int64_t rank = type.getRank();
  // [..., H, S, D] -> [..., H, 1, S, D] -> [..., H, times, S, D] -> [..., H * times, S, D]:
  // query head h still reads repeated head h / (Hq / (H * times)), a copy of
  // head h / (Hq / H).
  Value unsqueezed = builder.build<graph::UnsqueezeOp>(
      {value}, {builder.getNamedAttr("axes", builder.getDenseI64ArrayAttr({rank - 2}))});
  SmallVector<int64_t> expanded(type.getShape());
  expanded.insert(expanded.begin() + rank - 2, times);
  Value repeated = builder.build<graph::ExpandOp>({unsqueezed, builder.i64Vector(expanded)});
  SmallVector<int64_t> merged(type.getShape());
  merged[rank - 3] *= times;
  return builder.reshape(repeated, type.clone(merged));
}

LogicalResult ShardingRewriter::attendUlysses(graph::AttentionOp op, Value bias, int64_t degree) {
  int64_t rank = op.getQuery().getType().getRank();
  int64_t keyHeads = typeOf(op.getKey()).getDimSize(rank - 3);
  int64_t repeat = keyHeads % degree == 0 ? 1 : degree / std::gcd(keyHeads, degree);
  int64_t groups = numRanks / degree;
  auto allToAll = [&](Value value, int64_t splitAxis, int64_t concatAxis) {
    SmallVector<NamedAttribute> attributes = {
        builder.getNamedAttr("split_axis", builder.getI64IntegerAttr(splitAxis)),
        builder.getNamedAttr("concat_axis", builder.getI64IntegerAttr(concatAxis)),
        builder.getNamedAttr("num_ranks", builder.getI64IntegerAttr(degree))};
    // The sequence dim is the concat axis going to heads and the split axis
    // coming back: the same dim.
    if (zigzag)
      attributes.push_back(
          builder.getNamedAttr("zigzag_axis", builder.getI64IntegerAttr(rank - 2)));
    if (groups > 1)
      attributes.push_back(builder.getNamedAttr("num_groups", builder.getI64IntegerAttr(groups)));
    return builder.build<graph::AllToAllOp>({value}, attributes);
  };
  auto toHeads = [&](Value value) { return allToAll(value, rank - 3, rank - 2); };
  Value query = toHeads(op.getQuery());
  Value key = toHeads(repeatHeads(op.getKey(), repeat));
  Value value = toHeads(repeatHeads(op.getValue(), repeat));
  // The bias covers the whole sequence; of its heads, this rank's.
  if (bias && groups == 1) {
    RankedTensorType biasType = typeOf(bias);
    int64_t headAxis = biasType.getRank() - 3;
    if (headAxis >= 0 && biasType.getDimSize(headAxis) != 1)
      bias = builder.build<graph::ShardSliceOp>({bias}, axisAttributes(headAxis, false));
  }
  // The hybrid's queries are the group's block for the rank's heads: a bias
  // with a row per query or a head per query head takes the rows of the
  // rank's shard and goes through the queries' all_to_all. Its key columns
  // stay whole, for the ring to take block by block.
  if (bias && groups > 1) {
    RankedTensorType biasType = typeOf(bias);
    int64_t rowAxis = biasType.getRank() - 2, headAxis = biasType.getRank() - 3;
    bool perQuery = biasType.getDimSize(rowAxis) != 1;
    bool perHead = headAxis >= 0 && biasType.getDimSize(headAxis) != 1;
    if ((perQuery || perHead) && biasType.getRank() != rank)
      return op->emitError() << describeOp(op) << " cannot run by the hybrid of ulysses and ring: "
                             << "its bias " << biasType << " is not of the query's rank " << rank
                             << "; use --sp-strategy=ring or ulysses";
    if (perQuery || perHead) {
      if (perQuery) {
        bias = sliceToShard(bias, Sharding::sharded(rowAxis));
      } else {
        SmallVector<int64_t> rows(typeOf(bias).getShape());
        rows[rowAxis] = typeOf(op.getQuery()).getDimSize(rank - 2);
        bias = builder.build<graph::ExpandOp>({bias, builder.i64Vector(rows)});
      }
      if (!perHead) {
        SmallVector<int64_t> heads(typeOf(bias).getShape());
        heads[headAxis] = degree;
        bias = builder.build<graph::ExpandOp>({bias, builder.i64Vector(heads)});
      }
      bias = toHeads(bias);
    }
  }
  SmallVector<Value> operands = {query, key, value};
  if (bias)
    operands.push_back(bias);
  SmallVector<NamedAttribute> attributes = {
      builder.getNamedAttr("scale", op.getScaleAttr()),
      builder.getNamedAttr("causal", builder.getBoolAttr(op.getCausal()))};
  StringRef name = graph::AttentionOp::getOperationName();
  if (groups > 1) {
    attributes.append({builder.getNamedAttr("num_ranks", builder.getI64IntegerAttr(groups)),
                       builder.getNamedAttr("zigzag", builder.getBoolAttr(true)),
                       builder.getNamedAttr("group_size", builder.getI64IntegerAttr(degree))});
    name = graph::RingAttentionOp::getOperationName();
  }
  attributes.append(attentionMaskAttributes(op));
  // Rank r holds head chunk r % degree of the dropout's whole tensor.
  if (op.getDropoutRatio())
    attributes.push_back(
        builder.getNamedAttr("dropout_head_ranks", builder.getI64IntegerAttr(degree)));
  SmallVector<Value> results = builder.buildInferred(name, operands, attributes, 2);
  if (results.empty())
    return failure();
  Value output = allToAll(results[0], rank - 2, rank - 3);
  Value logsumexp;
  if (!op.getLogsumexp().use_empty())
    logsumexp = allToAll(results[1], rank - 2, rank - 3);
  if (builder.hasFailed())
    return failure();
  std::string repeated = repeat > 1 ? " (key/value heads repeated " + std::to_string(repeat) +
                                          " times to split across the ranks)"
                                    : std::string();
  if (groups > 1)
    op->emitRemark() << describeOp(op) << " by hybrid: all_to_all of query, key, value and output "
                     << "inside " << groups << " groups of " << degree << " ranks, a ring of "
                     << groups << " steps across them" << repeated;
  else
    op->emitRemark() << describeOp(op) << " by ulysses: all_to_all of query, key, value and output"
                     << repeated;
  replaceAttention(op, output, logsumexp);
  return success();
}

LogicalResult ShardingRewriter::attendRing(graph::AttentionOp op, Value bias) {
  // The bias's rows are this rank's queries; its key columns stay whole, and
  // the kernel takes those of the block it holds at each step.
  if (bias) {
    RankedTensorType biasType = typeOf(bias);
    int64_t rowAxis = biasType.getRank() - 2;
    if (rowAxis >= 0 && biasType.getDimSize(rowAxis) != 1)
      bias = sliceToShard(bias, Sharding::sharded(rowAxis));
  }
  SmallVector<NamedAttribute> attributes = {
      builder.getNamedAttr("scale", op.getScaleAttr()),
      builder.getNamedAttr("causal", builder.getBoolAttr(op.getCausal())),
      builder.getNamedAttr("num_ranks", builder.getI64IntegerAttr(numRanks))};
  if (zigzag)
    attributes.push_back(builder.getNamedAttr("zigzag", builder.getBoolAttr(true)));
  attributes.append(attentionMaskAttributes(op));
  SmallVector<Value> operands = {op.getQuery(), op.getKey(), op.getValue()};
  if (bias)
    operands.push_back(bias);
  SmallVector<Value> results = builder.buildInferred(graph::RingAttentionOp::getOperationName(),
                                                     operands, attributes, 2);
  if (results.empty())
    return failure();
  op->emitRemark() << describeOp(op) << " by ring: " << numRanks << " steps of key/value blocks";
  replaceAttention(op, results[0], results[1]);
  return success();
}

} // namespace sp::sequence_parallel
