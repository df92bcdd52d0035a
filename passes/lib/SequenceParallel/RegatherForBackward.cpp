//===- RegatherForBackward.cpp - gather again for the backward pass --------===//

#include "sp/SequenceParallel/Passes.h"

#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Training/MainFunction.h"

#include "mlir/IR/Builders.h"

namespace sp::sequence_parallel {
#define GEN_PASS_DEF_REGATHERFORBACKWARD
#include "sp/SequenceParallel/Passes.h.inc"
} // namespace sp::sequence_parallel

using namespace mlir;
namespace graph = sp::graph;

namespace {

struct RegatherForBackwardPass
    : public sp::sequence_parallel::impl::RegatherForBackwardBase<RegatherForBackwardPass> {
  void runOnOperation() override {
    func::FuncOp main = sp::training::getMainFunction(getOperation());
    if (!main)
      return signalPassFailure();
    SmallVector<graph::AllGatherOp> gathers(main.getBody().front().getOps<graph::AllGatherOp>());
    for (graph::AllGatherOp gather : gathers) {
      // Readers in block order; the first keeps the original gather.
      SmallVector<OpOperand *> uses;
      for (OpOperand &use : gather->getUses())
        uses.push_back(&use);
      if (uses.size() < 2)
        continue;
      llvm::sort(uses, [](OpOperand *a, OpOperand *b) {
        return a->getOwner()->isBeforeInBlock(b->getOwner());
      });
      Operation *previousReader = uses.front()->getOwner();
      Value regathered;
      for (OpOperand *use : llvm::drop_begin(uses)) {
        Operation *reader = use->getOwner();
        // Operands of one reader share one gather.
        if (reader != previousReader || !regathered) {
          OpBuilder builder(reader);
          regathered = builder.clone(*gather)->getResult(0);
          previousReader = reader;
        }
        use->set(regathered);
      }
    }
  }
};

} // namespace
