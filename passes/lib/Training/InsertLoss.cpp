//===- InsertLoss.cpp - append the training loss to @main ------------------===//

#include "sp/Dialect/Graph/IR/GraphDialect.h"
#include "sp/Dialect/Graph/IR/GraphOps.h"
#include "sp/Import/OnnxImporter.h"
#include "sp/Training/MainFunction.h"
#include "sp/Training/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

namespace sp::training {
#define GEN_PASS_DEF_INSERTLOSS
#include "sp/Training/Passes.h.inc"
} // namespace sp::training

using namespace mlir;
namespace graph = sp::graph;

namespace {

/// Labels the loss ignores: the last position has no next token.
constexpr int64_t kIgnoreIndex = -100;

StringRef argumentName(func::FuncOp main, unsigned index) {
  auto name = main.getArgAttrOfType<StringAttr>(index, sp::kOnnxNameAttr);
  return name ? name.getValue() : StringRef();
}

StringRef resultName(func::FuncOp main, unsigned index) {
  auto name = main.getResultAttrOfType<StringAttr>(index, sp::kOnnxNameAttr);
  return name ? name.getValue() : StringRef();
}

/// Among `candidates` (index, name), the one named `preferred`, else the only
/// one; -1 with `ambiguous` set when neither exists.
int pick(ArrayRef<std::pair<unsigned, StringRef>> candidates, StringRef preferred,
         bool &ambiguous) {
  ambiguous = candidates.size() > 1;
  for (auto [index, name] : candidates)
    if (name == preferred)
      return index;
  return candidates.size() == 1 ? int(candidates.front().first) : -1;
}

/// The results of `main` that hold one float element.
SmallVector<unsigned> scalarFloatResults(func::FuncOp main) {
  SmallVector<unsigned> scalars;
  for (unsigned i = 0; i < main.getNumResults(); ++i) {
    auto type = llvm::dyn_cast<RankedTensorType>(main.getResultTypes()[i]);
    if (type && type.hasStaticShape() && llvm::isa<FloatType>(type.getElementType()) &&
        type.getNumElements() == 1)
      scalars.push_back(i);
  }
  return scalars;
}

struct InsertLossPass : public sp::training::impl::InsertLossBase<InsertLossPass> {
  using InsertLossBase::InsertLossBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp main = sp::training::getMainFunction(module);
    if (!main)
      return signalPassFailure();
    for (unsigned i = 0; i < main.getNumResults(); ++i)
      if (main.getResultAttr(i, sp::training::kLossAttr)) {
        main.emitError("@main already returns a loss");
        return signalPassFailure();
      }
    LogicalResult result = failure();
    if (kind == "causal-lm")
      result = insertCausalLmLoss(module, main);
    else if (kind == "output" && module->hasAttr(sp::graph::kUnpaddedSequenceLengthAttr))
      main.emitError() << "--loss=output: the model's own loss would count the padding that "
                          "makes the sequence split across the ranks; use a sequence length "
                          "the ranks' chunks divide, or --loss=causal-lm";
    else if (kind == "output")
      result = markOutputLoss(main);
    else
      main.emitError() << "unknown loss '" << kind << "'; expected causal-lm or output";
    if (failed(result))
      signalPassFailure();
  }

  LogicalResult insertCausalLmLoss(ModuleOp module, func::FuncOp main) {
    SmallVector<std::pair<unsigned, StringRef>> tokenInputs, logitsOutputs;
    for (unsigned i = 0; i < main.getNumArguments(); ++i) {
      auto type = llvm::dyn_cast<RankedTensorType>(main.getArgument(i).getType());
      if (type && type.getRank() == 2 && llvm::isa<IntegerType>(type.getElementType()) &&
          type.getElementType().getIntOrFloatBitWidth() >= 32)
        tokenInputs.push_back({i, argumentName(main, i)});
    }
    bool ambiguous = false;
    int tokenIndex = pick(tokenInputs, sp::kPreferredTokenInputName, ambiguous);
    if (tokenIndex < 0)
      return main.emitError()
             << (ambiguous ? "causal-lm loss: several rank-2 integer inputs and none is "
                             "named 'input_ids'"
                           : "causal-lm loss: the model has no rank-2 integer input "
                             "(token ids [batch, sequence])");
    Value tokens = main.getArgument(tokenIndex);
    auto tokenType = llvm::cast<RankedTensorType>(tokens.getType());
    if (!tokenType.hasStaticShape())
      return main.emitError() << "causal-lm loss: token input has dynamic shape "
                              << graph::formatShape(tokenType.getShape())
                              << "; bind it with --input-shape";
    int64_t batch = tokenType.getDimSize(0), sequence = tokenType.getDimSize(1);
    // Past the length users pass, the sequence is padding (the importer's,
    // for sequence parallelism): no position predicts a padded token.
    int64_t predicting = sequence;
    if (auto unpadded =
            module->getAttrOfType<IntegerAttr>(sp::graph::kUnpaddedSequenceLengthAttr)) {
      predicting = unpadded.getInt();
      if (predicting > sequence)
        return main.emitError() << "causal-lm loss: the unpadded sequence length " << predicting
                                << " exceeds the token input's " << sequence;
    }
    if (predicting < 2)
      return main.emitError() << "causal-lm loss: sequence length " << predicting
                              << " leaves no next token to predict; it must be >= 2";

    auto returnOp = llvm::cast<func::ReturnOp>(main.getBody().front().getTerminator());
    for (unsigned i = 0; i < main.getNumResults(); ++i) {
      auto type = llvm::dyn_cast<RankedTensorType>(main.getResultTypes()[i]);
      if (type && type.getRank() == 3 && llvm::isa<FloatType>(type.getElementType()) &&
          type.getDimSize(0) == batch && type.getDimSize(1) == sequence)
        logitsOutputs.push_back({i, resultName(main, i)});
    }
    int logitsIndex = pick(logitsOutputs, "logits", ambiguous);
    if (logitsIndex < 0) {
      if (ambiguous)
        return main.emitError() << "causal-lm loss: several float outputs of shape [batch, "
                                   "sequence, vocab] and none is named 'logits'";
      InFlightDiagnostic error = main.emitError()
                                 << "causal-lm loss: no float output of shape [batch, "
                                    "sequence, vocab] matches the token input of shape "
                                 << graph::formatShape(tokenType.getShape());
      // A model that ends in its own loss (SoftmaxCrossEntropyLoss) returns it.
      if (scalarFloatResults(main).size() == 1)
        error << "; the model's one scalar float output may be its own loss: train it "
                 "with --loss=output";
      return error;
    }
    Value logits = returnOp.getOperand(logitsIndex);
    auto logitsType = llvm::cast<RankedTensorType>(logits.getType());

    // labels[b, s] = tokens[b, s + 1]; the last position is ignored.
    OpBuilder builder(returnOp);
    Location loc = NameLoc::get(builder.getStringAttr("causal-lm loss"), main.getLoc());
    Value labels = graph::ShiftOp::create(builder, loc, tokenType, tokens, int64_t(1),
                                          int64_t(1), kIgnoreIndex);
    if (predicting < sequence) {
      // labels[b, s] = s + 1 < predicting ? labels[b, s] : ignored.
      auto positionsType = RankedTensorType::get({1, sequence}, builder.getI1Type());
      SmallVector<bool> predicts(size_t(sequence), false);
      std::fill_n(predicts.begin(), predicting - 1, true);
      Value predictsToken = graph::ConstantOp::create(
          builder, loc, DenseElementsAttr::get(positionsType, ArrayRef<bool>(predicts)));
      auto labelType = RankedTensorType::get({}, tokenType.getElementType());
      Value ignored = graph::ConstantOp::create(
          builder, loc,
          DenseElementsAttr::get(labelType, builder.getIntegerAttr(tokenType.getElementType(),
                                                                   kIgnoreIndex)));
      labels = graph::WhereOp::create(builder, loc, tokenType, predictsToken, labels, ignored);
    }
    Type floatType = logitsType.getElementType();
    auto scalarType = RankedTensorType::get({}, floatType);
    Value sum = graph::CrossEntropySumOp::create(builder, loc, scalarType, logits, labels,
                                                 kIgnoreIndex);
    Value count = graph::ConstantOp::create(
        builder, loc,
        DenseElementsAttr::get(scalarType,
                               builder.getFloatAttr(floatType, double(batch * (predicting - 1)))));
    Value loss = graph::DivOp::create(builder, loc, scalarType, sum, count);
    sp::training::appendMainResult(
        main, loss,
        {builder.getNamedAttr(sp::training::kLossAttr, builder.getUnitAttr())});

    StringRef tokenName = argumentName(main, tokenIndex);
    module->setAttr(sp::training::kTokenInputAttr, builder.getStringAttr(tokenName));
    module->setAttr(sp::training::kVocabSizeAttr,
                    builder.getI64IntegerAttr(logitsType.getDimSize(2)));
    return success();
  }

  LogicalResult markOutputLoss(func::FuncOp main) {
    SmallVector<unsigned> scalars = scalarFloatResults(main);
    if (scalars.size() != 1)
      return main.emitError() << "--loss=output needs exactly one scalar float output, "
                                 "the model has "
                              << scalars.size();
    main.setResultAttr(scalars.front(), sp::training::kLossAttr,
                       UnitAttr::get(main.getContext()));
    return success();
  }
};

} // namespace
