//===- ShardingAttributes.h - sequence-parallel IR annotations ----*- C++ -*-===//
//
// The attributes sp-sequence-parallel leaves for autodiff, plan emission and
// the runtime. Header-only, so that passes reading them need not link the
// sequence-parallel library.
//
//===----------------------------------------------------------------------===//

#ifndef SP_SEQUENCEPARALLEL_SHARDINGATTRIBUTES_H
#define SP_SEQUENCEPARALLEL_SHARDINGATTRIBUTES_H

#include "sp/Dialect/Graph/IR/GraphAttributes.h"

namespace sp::sequence_parallel {

/// Declared, with their kinds and places, in GraphAttributes.h.
using sp::graph::kNumRanksAttr;
using sp::graph::kShardAxisAttr;
using sp::graph::kZigzagAttr;

} // namespace sp::sequence_parallel

#endif // SP_SEQUENCEPARALLEL_SHARDINGATTRIBUTES_H
