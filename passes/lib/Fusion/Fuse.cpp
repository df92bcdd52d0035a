//===- Fuse.cpp - the sp-fuse pass ----------------------------------------===//
//
// Collects the anchors of the two patterns (each softmax, each mean) first
// and rewrites them afterwards, so that a rewrite never invalidates the walk.
//
//===----------------------------------------------------------------------===//

#include "FusionSupport.h"

#include "sp/Fusion/Passes.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace sp::fusion {
#define GEN_PASS_DEF_FUSE
#include "sp/Fusion/Passes.h.inc"
} // namespace sp::fusion

using namespace mlir;
using namespace sp::graph;

namespace sp::fusion {

std::optional<double> getSplatValue(Value value) {
  Attribute attribute;
  if (!value || !matchPattern(value, m_Constant(&attribute)))
    return std::nullopt;
  auto elements = llvm::dyn_cast<DenseElementsAttr>(attribute);
  if (!elements || !elements.isSplat())
    return std::nullopt;
  Type element = elements.getElementType();
  if (llvm::isa<FloatType>(element))
    return elements.getSplatValue<APFloat>().convertToDouble();
  if (element.isSignlessInteger() && element.getIntOrFloatBitWidth() > 1)
    return double(elements.getSplatValue<APInt>().getSExtValue());
  return std::nullopt;
}

std::optional<double> getScalarOperand(Value constant, Value operand, Value result) {
  if (operand.getType() != result.getType())
    return std::nullopt;
  return getSplatValue(constant);
}

bool isFloatCast(Operation *op) {
  auto cast = llvm::dyn_cast_or_null<CastOp>(op);
  return cast && llvm::isa<FloatType>(cast.getInput().getType().getElementType()) &&
         llvm::isa<FloatType>(cast.getType().getElementType());
}

bool isFusibleType(Type type) {
  auto tensor = llvm::dyn_cast<RankedTensorType>(type);
  return tensor && tensor.hasStaticShape() &&
         (tensor.getElementType().isF32() || tensor.getElementType().isF64());
}

void eraseDeadOps(ArrayRef<Operation *> ops) {
  // The ops form chains in any order: sweep until nothing more goes.
  SmallVector<Operation *> pending(ops.begin(), ops.end());
  bool erased = true;
  while (erased) {
    erased = false;
    for (Operation *&op : pending) {
      if (op && op->use_empty()) {
        op->erase();
        op = nullptr;
        erased = true;
      }
    }
  }
}

namespace {

struct FusePass : public impl::FuseBase<FusePass> {
  using FuseBase::FuseBase;

  void runOnOperation() override {
    FusionOptions options;
    options.remarks = remarks;
    SmallVector<SoftmaxOp> softmaxes;
    SmallVector<ReduceMeanOp> means;
    getOperation().walk([&](Operation *op) {
      if (auto softmax = llvm::dyn_cast<SoftmaxOp>(op); softmax && attention)
        softmaxes.push_back(softmax);
      if (auto mean = llvm::dyn_cast<ReduceMeanOp>(op); mean && rmsNorm)
        means.push_back(mean);
    });
    SmallVector<DropoutOp> unfusedForDropout;
    options.unfusedForDropout = &unfusedForDropout;
    SmallVector<std::pair<SoftmaxOp, ml_program::GlobalLoadOp>> unfusedForTrainedBias;
    options.unfusedForTrainedBias = &unfusedForTrainedBias;
    bool fused = false;
    for (SoftmaxOp softmax : softmaxes)
      fused |= fuseAttention(softmax, options);
    // Quadratic memory the user did not ask for: said once, where sp-compile
    // prints it, not only as a remark per attention.
    if (!unfusedForDropout.empty()) {
      auto probabilities = llvm::cast<RankedTensorType>(unfusedForDropout.front().getType());
      unfusedForDropout.front()->emitWarning()
          << unfusedForDropout.size() << " attention"
          << (unfusedForDropout.size() == 1 ? " is" : "s are")
          << " not fused: the fused kernels draw dropout on the probabilities of "
             "self-attention only, and queries and keys differ in length here, so the step keeps "
          << formatShape(probabilities.getShape())
          << " probabilities per attention (train without attention dropout to fuse)";
    }
    if (!unfusedForTrainedBias.empty()) {
      auto [softmax, weight] = unfusedForTrainedBias.front();
      softmax->emitWarning()
          << unfusedForTrainedBias.size() << " attention"
          << (unfusedForTrainedBias.size() == 1 ? " is" : "s are")
          << " not fused: a bias or mask of "
          << (unfusedForTrainedBias.size() == 1 ? "its" : "their")
          << " scores reads trained parameter '"
          << weight.getGlobal().getLeafReference().getValue()
          << "', whose gradient the fused kernels do not give, so the step keeps "
          << formatShape(softmax.getType().getShape())
          << " scores per attention (if it is a constant the exporter lifted into an "
             "initializer, such as ALiBi slopes, --frozen="
          << weight.getGlobal().getLeafReference().getValue() << " keeps it one)";
    }
    // Memory that grows with the square of the sequence: a bias the band
    // masks do not express (ALiBi added to the mask table, a mask of
    // another form) stays an [Sq, Sk] tensor. Said once, with its shape.
    SmallVector<AttentionOp> squareBiases;
    getOperation().walk([&](AttentionOp attention) {
      if (!attention.getBias())
        return;
      auto bias = llvm::cast<RankedTensorType>(attention.getBias().getType());
      int64_t rank = bias.getRank();
      if (rank >= 2 && bias.getDimSize(rank - 2) > 1 && bias.getDimSize(rank - 1) > 1)
        squareBiases.push_back(attention);
    });
    if (!squareBiases.empty())
      squareBiases.front()->emitWarning()
          << squareBiases.size() << " attention" << (squareBiases.size() == 1 ? " keeps" : "s keep")
          << " a "
          << formatShape(llvm::cast<RankedTensorType>(squareBiases.front().getBias().getType())
                             .getShape())
          << " bias tensor, which grows with the square of the sequence: sp computes causal, "
             "sliding-window and padding masks in the kernels, not this bias";
    for (ReduceMeanOp mean : means)
      fused |= fuseRmsNorm(mean, options);
    // What only the fused chains used (masks shared by all layers, the
    // transposes and repetitions of K and V) would otherwise still run.
    if (fused)
      for (Block &block : getOperation().getBody())
        for (Operation &op : llvm::make_early_inc_range(llvm::reverse(block)))
          if (isOpTriviallyDead(&op))
            op.erase();
  }
};

} // namespace
} // namespace sp::fusion
