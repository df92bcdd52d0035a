//===- ShardingAttributes.h - sequence-parallel IR annotations ----*- C++ -*-===//
//
// The attributes sp-sequence-parallel leaves for autodiff, plan emission and
// the runtime. Header-only, so that passes reading them need not link the
// sequence-parallel library.
//
//===----------------------------------------------------------------------===//

#ifndef SP_SEQUENCEPARALLEL_SHARDINGATTRIBUTES_H
#define SP_SEQUENCEPARALLEL_SHARDINGATTRIBUTES_H

#include "llvm/ADT/StringRef.h"

namespace sp::sequence_parallel {

/// Module: the ranks of the SPMD step (i64); absent on one rank.
constexpr llvm::StringLiteral kNumRanksAttr = "graph.num_ranks";
/// Module: unit attribute when the sequence is laid out zigzag.
constexpr llvm::StringLiteral kZigzagAttr = "graph.zigzag";
/// @main argument or result: the dim (i64) split along the sequence.
constexpr llvm::StringLiteral kShardAxisAttr = "graph.shard_axis";

} // namespace sp::sequence_parallel

#endif // SP_SEQUENCEPARALLEL_SHARDINGATTRIBUTES_H
