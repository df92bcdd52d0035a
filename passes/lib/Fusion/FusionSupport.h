//===- FusionSupport.h - what the fusion patterns share ----------*- C++ -*-===//
//
// Internal to passes/lib/Fusion: the matchers' small predicates and the two
// rewrites the sp-fuse pass drives.
//
//===----------------------------------------------------------------------===//

#ifndef SP_PASSES_LIB_FUSION_FUSIONSUPPORT_H
#define SP_PASSES_LIB_FUSION_FUSIONSUPPORT_H

#include "sp/Dialect/Graph/IR/GraphOps.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace sp::fusion {

/// The one value of a constant whose elements are all equal (any shape,
/// float or integer).
std::optional<double> getSplatValue(mlir::Value value);

/// Whether `constant` is a splat that broadcasting against `operand` leaves
/// `result`'s type unchanged: a scalar factor, epsilon or fill value.
std::optional<double> getScalarOperand(mlir::Value constant, mlir::Value operand,
                                       mlir::Value result);

/// Whether `op` converts between float element types.
bool isFloatCast(mlir::Operation *op);

/// A ranked tensor type with a static shape and an f32 or f64 element type,
/// what the fused kernels compute in.
bool isFusibleType(mlir::Type type);

/// Erases `ops` (and what they alone used, among `ops`) once nothing uses
/// their results; ops still in use stay.
void eraseDeadOps(llvm::ArrayRef<mlir::Operation *> ops);

/// How a fusion reports what it did.
struct FusionOptions {
  bool remarks = false;
  /// Where fuseAttention records the dropout of each attention it leaves
  /// unfused for it (null: not recorded), for sp-fuse's warning.
  llvm::SmallVectorImpl<graph::DropoutOp> *unfusedForDropout = nullptr;
  /// Where fuseAttention records each attention it leaves unfused because
  /// its bias or mask reads a trained weight, with that weight's load.
  llvm::SmallVectorImpl<std::pair<graph::SoftmaxOp, mlir::ml_program::GlobalLoadOp>>
      *unfusedForTrainedBias = nullptr;
};

/// Rewrites the attention whose softmax is `softmax` into graph.attention;
/// false (and no change) when it does not match.
bool fuseAttention(graph::SoftmaxOp softmax, const FusionOptions &options);

/// Rewrites the RMS norm whose mean of squares is `mean` into
/// graph.rms_norm; false (and no change) when it does not match.
bool fuseRmsNorm(graph::ReduceMeanOp mean, const FusionOptions &options);

} // namespace sp::fusion

#endif // SP_PASSES_LIB_FUSION_FUSIONSUPPORT_H
