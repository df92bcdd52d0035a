//===- SequenceParallel.cpp - the sequence-parallel passes ----------------===//
//
// sp-sequence-parallel picks the inputs to split, the attention strategy and
// the layout, checks that the sizes split, and hands @main to the
// ShardingRewriter. sp-reduce-gradients sums the parameter gradients after
// autodiff. measureCollectiveTraffic is what `sp-compile --report` prints.
//
//===----------------------------------------------------------------------===//

#include "ShardingRewriter.h"

#include "sp/Import/OnnxImporter.h"
#include "sp/SequenceParallel/Passes.h"
#include "sp/SequenceParallel/StrategyCosts.h"
#include "sp/Training/MainFunction.h"
#include "sp/Training/Passes.h"

#include "mlir/IR/Matchers.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FormatVariadic.h"


namespace sp::sequence_parallel {
#define GEN_PASS_DEF_SEQUENCEPARALLEL
#define GEN_PASS_DEF_REDUCEGRADIENTS
#include "sp/SequenceParallel/Passes.h.inc"
} // namespace sp::sequence_parallel

using namespace mlir;
namespace graph = sp::graph;
namespace scheduling = sp::scheduling;
using namespace sp::sequence_parallel;

namespace {

RankedTensorType typeOf(Value value) { return llvm::cast<RankedTensorType>(value.getType()); }

bool isTokenTensor(Type type) {
  auto tensor = llvm::dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getRank() == 2 && llvm::isa<IntegerType>(tensor.getElementType());
}

StringRef argumentName(func::FuncOp main, unsigned index) {
  auto name = main.getArgAttrOfType<StringAttr>(index, sp::kOnnxNameAttr);
  return name ? name.getValue() : StringRef();
}

/// The [batch, sequence] token input: the one sp-insert-loss recorded, else
/// the rank-2 integer input named input_ids, else the only one.
FailureOr<unsigned> findTokenInput(ModuleOp module, func::FuncOp main) {
  if (auto recorded = module->getAttrOfType<StringAttr>(sp::training::kTokenInputAttr)) {
    for (unsigned i = 0; i < main.getNumArguments(); ++i)
      if (argumentName(main, i) == recorded.getValue())
        return i;
    return main.emitError() << "the token input '" << recorded.getValue()
                            << "' that the loss names is not an input of @main";
  }
  SmallVector<unsigned> candidates;
  for (unsigned i = 0; i < main.getNumArguments(); ++i) {
    if (!isTokenTensor(main.getArgument(i).getType()))
      continue;
    if (argumentName(main, i) == sp::kPreferredTokenInputName)
      return i;
    candidates.push_back(i);
  }
  if (candidates.size() == 1)
    return candidates.front();
  return main.emitError() << "sequence parallelism needs the token input [batch, sequence]: "
                          << (candidates.empty() ? "the model has no rank-2 integer input"
                                                 : "several rank-2 integer inputs and none "
                                                   "is named 'input_ids'");
}

/// Whether the constant `mask`, broadcast over scores [..., queries, keys],
/// hides every padded key (from `unpadded` on) from every real query: an
/// additive mask holds -1e30 or less there (HF's float minimum, -inf), a
/// `where` condition (`selects`) false.
bool constantHidesPadding(Value mask, bool selects, int64_t unpadded, int64_t padded) {
  DenseElementsAttr values;
  if (!matchPattern(mask, m_Constant(&values)))
    return false;
  auto type = llvm::cast<RankedTensorType>(values.getType());
  int64_t rank = type.getRank();
  if (rank < 1 || type.getDimSize(rank - 1) != padded)
    return false;
  int64_t rows = rank >= 2 ? type.getDimSize(rank - 2) : 1;
  if (rows != 1 && rows != padded)
    return false;
  int64_t blocks = type.getNumElements() / (rows * padded);
  int64_t realRows = std::min(rows, unpadded);
  auto hidden = [&](int64_t index) {
    if (selects)
      return llvm::isa<IntegerType>(type.getElementType()) &&
             !*(values.getValues<bool>().begin() + index);
    return llvm::isa<FloatType>(type.getElementType()) &&
           APFloat(*(values.getValues<APFloat>().begin() + index)).convertToDouble() <= -1e30;
  };
  for (int64_t block = 0; block < blocks; ++block)
    for (int64_t row = 0; row < realRows; ++row)
      for (int64_t key = unpadded; key < padded; ++key)
        if (!hidden((block * rows + row) * padded + key))
          return false;
  return true;
}

/// Whether scores (softmax's input, or an attention bias) keep the padded
/// keys from the real queries: a constant mask added or selected on the way
/// there, through the scalings exporters put around it.
bool scoresHidePadding(Value scores, int64_t unpadded, int64_t padded, int depth = 6) {
  if (constantHidesPadding(scores, /*selects=*/false, unpadded, padded))
    return true;
  Operation *op = scores.getDefiningOp();
  if (!op || depth == 0)
    return false;
  auto through = [&](Value operand) {
    return scoresHidePadding(operand, unpadded, padded, depth - 1);
  };
  if (llvm::isa<graph::AddOp>(op))
    return through(op->getOperand(0)) || through(op->getOperand(1));
  if (auto where = llvm::dyn_cast<graph::WhereOp>(op)) {
    DenseElementsAttr fill;
    if (constantHidesPadding(where.getCondition(), /*selects=*/true, unpadded, padded) &&
        matchPattern(where.getOnFalse(), m_Constant(&fill)) && fill.isSplat() &&
        llvm::isa<FloatType>(fill.getElementType()) &&
        fill.getSplatValue<APFloat>().convertToDouble() <= -1e30)
      return true;
    return through(where.getOnTrue());
  }
  // Scaling by a constant keeps a mask of -1e30 far below any score.
  if (llvm::isa<graph::MulOp, graph::DivOp>(op) &&
      matchPattern(op->getOperand(1), m_Constant()))
    return through(op->getOperand(0));
  if (llvm::isa<graph::CastOp>(op))
    return through(op->getOperand(0));
  return false;
}

/// The importer padded the sequence from `unpadded` to `padded` positions so
/// that it splits across the ranks; the padded positions are at the end. Real
/// positions must not see them: causal attention hides later keys, and a
/// mask input hides them once the runtime zeroes it over the padding (as
/// Hugging Face's attention_mask: 0 is a padded token), and so does a
/// constant mask (a causal table). Anything else that mixes positions
/// (attention that sees every key, or an unfused softmax over the sequence)
/// would let the padding in.
LogicalResult checkPaddingIsHidden(func::FuncOp main, unsigned tokenIndex,
                                   const llvm::SmallDenseMap<unsigned, int64_t> &shardedArguments,
                                   int64_t unpadded, int64_t padded) {
  for (auto [index, axis] : shardedArguments)
    if (index != tokenIndex && argumentName(main, index).contains_insensitive("mask"))
      return success();
  auto refuse = [&](Operation *op, StringRef what) {
    op->emitError() << "the sequence of " << unpadded << " positions is padded to " << padded
                    << " to split across the ranks, and " << what
                    << " would see the padding; give the model its attention_mask input (the "
                       "runtime zeroes it over the padding) or use a sequence length the "
                       "ranks' chunks divide";
    return WalkResult::interrupt();
  };
  // A band that lets no later key through, at a fill far below any score,
  // hides the padding as the causal mask does.
  auto bandHidesLaterKeys = [](graph::AttentionOp attention) {
    std::optional<int64_t> upper = attention.getBandUpper();
    std::optional<APFloat> fill = attention.getBandFill();
    return upper && *upper <= 0 && fill && fill->convertToDouble() <= -1e30;
  };
  WalkResult walk = main.walk([&](Operation *op) {
    if (auto attention = llvm::dyn_cast<graph::AttentionOp>(op);
        attention && !attention.getCausal() && !bandHidesLaterKeys(attention) &&
        !(attention.getBias() && scoresHidePadding(attention.getBias(), unpadded, padded)))
      return refuse(op, "this attention, which is not causal,");
    if (auto softmax = llvm::dyn_cast<graph::SoftmaxOp>(op)) {
      RankedTensorType type = softmax.getType();
      int64_t axis = softmax.getAxis() < 0 ? softmax.getAxis() + type.getRank() : softmax.getAxis();
      if (axis == type.getRank() - 1 && type.getDimSize(axis) == padded &&
          !scoresHidePadding(softmax.getInput(), unpadded, padded))
        return refuse(op, "this softmax over the sequence (unfused attention)");
    }
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}

/// Bytes of a tensor type (i1 counts a byte, as plans store it).
uint64_t bytesOf(Type type) {
  auto tensor = llvm::cast<RankedTensorType>(type);
  int64_t bits = std::max<int64_t>(tensor.getElementTypeBitWidth(), 8);
  return uint64_t(tensor.getNumElements()) * uint64_t(bits / 8);
}

struct SequenceParallelPass
    : public sp::sequence_parallel::impl::SequenceParallelBase<SequenceParallelPass> {
  using SequenceParallelBase::SequenceParallelBase;

  LogicalResult initialize(MLIRContext *) override {
    llvm::Expected<scheduling::CostModel> loaded = scheduling::loadCostModel(costProfile);
    if (!loaded) {
      loadError = llvm::toString(loaded.takeError());
      return success();
    }
    model = std::move(*loaded);
    scheduling::overrideRates(model, {flopsPerSecond, /*memoryBytesPerSecond=*/0,
                                      linkBytesPerSecond, linkLatencySeconds,
                                      /*gradientBucketBytes=*/-1, ranksPerNode});
    return success();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (numRanks < 1) {
      module.emitError() << "num-ranks must be at least 1, got " << int64_t(numRanks);
      return signalPassFailure();
    }
    if (numRanks == 1)
      return;
    if (!loadError.empty()) {
      module.emitError(loadError);
      return signalPassFailure();
    }
    if (failed(shard(module)))
      signalPassFailure();
  }

  FailureOr<AttentionStrategy> parseStrategy(func::FuncOp main) {
    if (strategy == "allgather")
      return AttentionStrategy::AllGather;
    if (strategy == "ulysses")
      return AttentionStrategy::Ulysses;
    if (strategy == "ring")
      return AttentionStrategy::Ring;
    return main.emitError() << "unknown sequence-parallel strategy '" << strategy
                            << "'; expected allgather, ulysses, ring or auto";
  }

  /// The hybrid's degree: a divisor of the rank count, given with auto.
  LogicalResult checkUlyssesDegree(func::FuncOp main) {
    int64_t degree = ulyssesDegree;
    if (strategy != "auto")
      return main.emitError() << "--sp-ulysses-degree " << degree
                              << " chooses the hybrid of ulysses and ring; it does not combine "
                                 "with --sp-strategy="
                              << strategy;
    if (degree < 1 || degree > numRanks || numRanks % degree != 0)
      return main.emitError() << "--sp-ulysses-degree " << degree << " must divide --sp "
                              << int64_t(numRanks) << " (the ranks split into groups of " << degree
                              << ")";
    return success();
  }

  /// The layout the cost model predicts to be fastest, then to hold the
  /// least: allgather, or Ulysses in groups of U ranks and the ring across
  /// them for a divisor U of the ranks. Its remark gives every prediction.
  std::pair<AttentionStrategy, int64_t> chooseStrategy(ModuleOp module, func::FuncOp main,
                                                       int64_t sequence) {
    SmallVector<AttentionSize> attentions = collectAttentionSizes(module, sequence);
    scheduling::CostModel acrossNodes = model.acrossNodes();
    auto linkOf = [&](int64_t ranks) -> const scheduling::CostModel & {
      return model.spansNodes(ranks) ? acrossNodes : model;
    };
    SmallVector<AttentionLayout> layouts = {{/*allGather=*/true, 1}};
    for (int64_t degree = numRanks; degree >= 1; --degree)
      if (numRanks % degree == 0)
        layouts.push_back({/*allGather=*/false, degree});
    SmallVector<StrategyPrediction> predictions;
    for (const AttentionLayout &layout : layouts) {
      // The all-to-all spans a group of U consecutive ranks; the ring and
      // the all-gather reach every rank.
      LinkModels links{linkOf(layout.allGather ? numRanks : layout.ulyssesDegree),
                       linkOf(numRanks)};
      predictions.push_back(predictAttention(attentions, sequence, numRanks, layout, links));
    }
    // allgather is always possible: it is what any attention falls back to.
    const StrategyPrediction *best = chooseBest(predictions);
    const AttentionLayout &layout = best->layout;
    AttentionStrategy chosen = layout.allGather                   ? AttentionStrategy::AllGather
                               : layout.ulyssesDegree == numRanks ? AttentionStrategy::Ulysses
                               : layout.ulyssesDegree == 1        ? AttentionStrategy::Ring
                                                                  : AttentionStrategy::Hybrid;
    InFlightDiagnostic remark = main.emitRemark();
    remark << "strategy auto chose " << layout.describe(numRanks) << " for " << attentions.size()
           << (attentions.size() == 1 ? " attention" : " attentions")
           << "; predicted per rank and step, forward and backward (cost profile " << model.profile;
    if (model.ranksPerNode > 0)
      remark << ", " << model.ranksPerNode << " ranks per node";
    remark << "): ";
    // For --report's predicted step time of each layout.
    Builder builder(module.getContext());
    SmallVector<NamedAttribute> layoutSeconds = {
        builder.getNamedAttr("chosen", builder.getStringAttr(layout.describe(numRanks)))};
    for (const StrategyPrediction &prediction : predictions)
      if (prediction.impossible.empty())
        layoutSeconds.push_back(builder.getNamedAttr(prediction.layout.describe(numRanks),
                                                     builder.getF64FloatAttr(prediction.seconds())));
    module->setAttr(graph::kAttentionLayoutsAttr, builder.getDictionaryAttr(layoutSeconds));
    for (auto [index, prediction] : llvm::enumerate(predictions)) {
      remark << (index ? "; " : "") << prediction.layout.describe(numRanks);
      if (!prediction.impossible.empty()) {
        remark << " impossible (" << prediction.impossible << ")";
        continue;
      }
      remark << llvm::formatv(" {0:F1} us ({1:F1} compute + {2:F1} of {3:F1} link exposed), "
                              "{4} bytes sent, {5} bytes held",
                              prediction.seconds() * 1e6, prediction.computeSeconds * 1e6,
                              prediction.exposedSeconds * 1e6, prediction.linkSeconds * 1e6,
                              prediction.bytesSent, prediction.heldBytes);
    }
    return {chosen, layout.ulyssesDegree};
  }

  LogicalResult shard(ModuleOp module) {
    int64_t numRanks = this->numRanks;
    func::FuncOp main = sp::training::getMainFunction(module);
    if (!main)
      return failure();
    if (module->hasAttr(kNumRanksAttr))
      return main.emitError("@main is already sequence-parallel; run sp-sequence-parallel "
                            "once");
    FailureOr<unsigned> tokenIndex = findTokenInput(module, main);
    if (failed(tokenIndex))
      return failure();
    RankedTensorType tokens = typeOf(main.getArgument(*tokenIndex));
    StringRef tokenName = argumentName(main, *tokenIndex);
    if (!tokens.hasStaticShape())
      return main.emitError() << "sequence parallelism needs a static token input; '" << tokenName
                              << "' has shape " << graph::formatShape(tokens.getShape())
                              << ": bind it with --input-shape";
    int64_t batch = tokens.getDimSize(0), sequence = tokens.getDimSize(1);

    AttentionStrategy chosen = AttentionStrategy::AllGather;
    int64_t degree = ulyssesDegree;
    if (ulyssesDegree != 0) {
      if (failed(checkUlyssesDegree(main)))
        return failure();
      chosen = ulyssesDegree == numRanks ? AttentionStrategy::Ulysses
               : ulyssesDegree == 1      ? AttentionStrategy::Ring
                                         : AttentionStrategy::Hybrid;
    } else if (strategy == "auto") {
      std::tie(chosen, degree) = chooseStrategy(module, main, sequence);
    } else {
      FailureOr<AttentionStrategy> parsed = parseStrategy(main);
      if (failed(parsed))
        return failure();
      chosen = *parsed;
    }
    bool zigzag = chosen == AttentionStrategy::Ring || chosen == AttentionStrategy::Hybrid;

    int64_t chunks = zigzag ? 2 * numRanks : numRanks;
    if (sequence % chunks != 0) {
      int64_t below = sequence / chunks * chunks, above = below + chunks;
      InFlightDiagnostic error = main.emitError();
      error << "sequence length " << sequence << " of '" << tokenName << "' does not split across "
            << numRanks << " ranks";
      if (zigzag)
        error << " in the " << strategyName(chosen) << " strategy's zigzag layout (" << chunks
              << " equal chunks)";
      error << "; use a length divisible by " << chunks << " (e.g. "
            << (below > 0 ? std::to_string(below) + " or " : std::string()) << above
            << ") or a rank count that divides it (sp-compile pads the sequence of a model "
               "exported with a symbolic sequence length)";
      return failure();
    }
    if (chosen == AttentionStrategy::Ulysses || chosen == AttentionStrategy::Hybrid) {
      bool hybrid = chosen == AttentionStrategy::Hybrid;
      int64_t headsDegree = hybrid ? degree : numRanks;
      WalkResult heads = main.walk([&](graph::AttentionOp op) {
        int64_t rank = op.getQuery().getType().getRank();
        int64_t count = op.getQuery().getType().getDimSize(rank - 3);
        if (count % headsDegree == 0)
          return WalkResult::advance();
        if (hybrid)
          op.emitError() << "the hybrid splits attention heads across groups of " << headsDegree
                         << " ranks (--sp-ulysses-degree), and " << count
                         << " query heads do not split across " << headsDegree
                         << "; use a degree that divides " << count;
        else
          op.emitError() << "ulysses splits attention heads across ranks, and " << count
                         << " query heads do not split across " << numRanks
                         << " ranks; use --sp-strategy=allgather or ring, or a rank count "
                            "that divides "
                         << count;
        return WalkResult::interrupt();
      });
      if (heads.wasInterrupted())
        return failure();
    }

    // The inputs that hold positions of the sequence: the tokens, inputs
    // whose dims name the tokens' sequence dim, and unnamed ones of the
    // tokens' [batch, sequence] leading shape (attention masks, position ids).
    llvm::SmallDenseMap<unsigned, int64_t> shardedArguments;
    auto dimNames = [&](unsigned index) {
      return main.getArgAttrOfType<ArrayAttr>(index, sp::kDimNamesAttr);
    };
    StringRef sequenceName;
    if (ArrayAttr names = dimNames(*tokenIndex); names && names.size() == 2)
      if (auto name = llvm::dyn_cast<StringAttr>(names[1]))
        sequenceName = name.getValue();
    for (unsigned i = 0; i < main.getNumArguments(); ++i) {
      auto type = llvm::dyn_cast<RankedTensorType>(main.getArgument(i).getType());
      if (!type)
        continue;
      std::optional<int64_t> axis;
      if (i == *tokenIndex)
        axis = 1;
      if (ArrayAttr names = dimNames(i); !axis && names && !sequenceName.empty()) {
        for (auto [d, name] : llvm::enumerate(names))
          if (auto text = llvm::dyn_cast<StringAttr>(name); text && text == sequenceName)
            axis = d;
      } else if (!axis && !names && type.getRank() >= 2 && type.getDimSize(0) == batch &&
                 type.getDimSize(1) == sequence) {
        axis = 1;
      }
      if (!axis)
        continue;
      if (type.getDimSize(*axis) != sequence)
        return main.emitError() << "input '" << argumentName(main, i) << "' of shape "
                                << graph::formatShape(type.getShape()) << " names dim " << *axis
                                << " '" << sequenceName
                                << "' but its length differs from the sequence length " << sequence;
      shardedArguments[i] = *axis;
    }

    int64_t unpadded = sequence;
    if (auto attribute =
            module->getAttrOfType<IntegerAttr>(sp::graph::kUnpaddedSequenceLengthAttr)) {
      unpadded = attribute.getInt();
      if (unpadded >= sequence)
        return main.emitError() << sp::graph::kUnpaddedSequenceLengthAttr << " " << unpadded
                                << " is not below the sequence length " << sequence
                                << " of '" << tokenName << "'";
      if (failed(checkPaddingIsHidden(main, *tokenIndex, shardedArguments, unpadded, sequence)))
        return failure();
    }

    ShardingRewriter rewriter(main, numRanks, zigzag, sequence, unpadded, chosen,
                              strategy != "auto" || ulyssesDegree != 0,
                              chosen == AttentionStrategy::Hybrid ? degree : 1);
    if (failed(rewriter.shardArguments(shardedArguments)) || failed(rewriter.run()))
      return failure();
    Builder builder(module.getContext());
    module->setAttr(kNumRanksAttr, builder.getI64IntegerAttr(numRanks));
    if (zigzag)
      module->setAttr(kZigzagAttr, builder.getUnitAttr());
    return success();
  }

  scheduling::CostModel model;
  std::string loadError;
};

struct ReduceGradientsPass
    : public sp::sequence_parallel::impl::ReduceGradientsBase<ReduceGradientsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto ranks = module->getAttrOfType<IntegerAttr>(kNumRanksAttr);
    if (!ranks || ranks.getInt() <= 1)
      return;
    func::FuncOp main = sp::training::getMainFunction(module);
    if (!main)
      return signalPassFailure();
    auto returnOp = llvm::cast<func::ReturnOp>(main.getBody().front().getTerminator());
    OpBuilder builder(returnOp);
    for (OpOperand &operand : returnOp->getOpOperands()) {
      if (!main.getResultAttr(operand.getOperandNumber(), sp::training::kGradientOfAttr))
        continue;
      Value gradient = operand.get();
      // A gradient every rank knows already: zeros of a parameter that does
      // not reach the loss, or one this pass summed before.
      if (matchPattern(gradient, m_Constant()) || gradient.getDefiningOp<graph::AllReduceOp>())
        continue;
      // Right where the gradient is complete, so that the scheduler can overlap
      // its communication with the rest of the backward pass.
      if (Operation *definition = gradient.getDefiningOp())
        builder.setInsertionPointAfter(definition);
      else
        builder.setInsertionPoint(returnOp);
      operand.set(graph::AllReduceOp::create(builder, gradient.getLoc(), gradient.getType(),
                                             gradient, ranks.getInt()));
    }
  }
};

/// Bytes one rank sends for one collective, with ring algorithms, among the
/// ranks it spans (its `num_ranks`: the hybrid's exchanges span a group, its
/// ring the groups).
std::optional<std::pair<StringRef, uint64_t>> trafficOf(Operation *op) {
  auto ranks = op->getAttrOfType<IntegerAttr>("num_ranks");
  if (!ranks)
    return std::nullopt;
  int64_t numRanks = ranks.getInt();
  double share = double(numRanks - 1) / double(numRanks);
  auto input = [&] { return double(bytesOf(op->getOperand(0).getType())); };
  return llvm::TypeSwitch<Operation *, std::optional<std::pair<StringRef, uint64_t>>>(op)
      .Case<graph::AllGatherOp, graph::AllGatherStartOp>([&](auto) {
        return std::make_pair(StringRef("all_gather"), uint64_t((numRanks - 1) * input()));
      })
      .Case<graph::ReduceScatterOp, graph::ReduceScatterStartOp>([&](auto) {
        return std::make_pair(StringRef("reduce_scatter"), uint64_t(share * input()));
      })
      .Case<graph::AllReduceOp, graph::AllReduceStartOp>([&](auto) {
        return std::make_pair(StringRef("all_reduce"), uint64_t(2 * share * input()));
      })
      .Case<graph::AllToAllOp, graph::AllToAllStartOp>(
          [&](auto) { return std::make_pair(StringRef("all_to_all"), uint64_t(share * input())); })
      .Case<graph::RingShiftOp, graph::RingShiftStartOp>(
          [&](auto) { return std::make_pair(StringRef("ring_shift"), uint64_t(input())); })
      // The key/value blocks move N - 1 times; the gradient's dK/dV
      // accumulators move N times more.
      .Case<graph::RingAttentionOp, graph::RingAttentionGradOp>([&](auto ring) {
        double blocks =
            double(bytesOf(ring.getKey().getType()) + bytesOf(ring.getValue().getType()));
        double shifts = llvm::isa<graph::RingAttentionOp>(op) ? numRanks - 1 : 2 * numRanks - 1;
        return std::make_pair(StringRef("ring_attention"), uint64_t(shifts * blocks));
      })
      .Default([](Operation *) { return std::nullopt; });
}

} // namespace

namespace sp::sequence_parallel {

SmallVector<CollectiveTraffic> measureCollectiveTraffic(ModuleOp module) {
  SmallVector<CollectiveTraffic> traffic;
  auto ranks = module->getAttrOfType<IntegerAttr>(kNumRanksAttr);
  func::FuncOp main = module.lookupSymbol<func::FuncOp>("main");
  if (!ranks || !main)
    return traffic;
  for (StringRef kind : {"all_gather", "reduce_scatter", "all_reduce", "all_to_all", "ring_shift",
                         "ring_attention"})
    traffic.push_back({kind.str(), 0, 0});
  main.walk([&](Operation *op) {
    auto moved = trafficOf(op);
    if (!moved)
      return;
    for (CollectiveTraffic &entry : traffic)
      if (entry.kind == moved->first) {
        ++entry.count;
        entry.bytesSent += moved->second;
      }
  });
  llvm::erase_if(traffic, [](const CollectiveTraffic &entry) { return entry.count == 0; });
  return traffic;
}

} // namespace sp::sequence_parallel
