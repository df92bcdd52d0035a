//===- AttentionFusion.cpp - decomposed attention into graph.attention ----===//
//
// The pattern, anchored at the softmax:
//
//   S = matmul(Q, K^T)                       (batch dims equal on both sides)
//   X = chain(S): * c, / c, + bias, where(m, S, fill), max(S, finfo.min), casts,
//       reshapes of the batch dims
//   P = [where(isnan(P), 0, P)] [casts] [reshapes] softmax(X, axis = -1)
//   O = matmul(P, V)
//
// Q, K^T and V are read through reshapes of their batch dims and swaps of
// their last two dims, Q and K through scalar factors, K and V through the
// head repetition of grouped-query attention and the broadcast of one head
// to all in multi-query attention (expand, Tile, or the matmul's own
// broadcasting of a [..., 1, S, D] operand). A reshape in the chain that
// only regroups the batch dims (BLOOM adds ALiBi to [B*H, S, S] scores,
// then views them as [B, H, S, S] for the mask) moves the bias built so far
// into the new layout. The chain is rewritten as
// X = scale * S + bias with one bias, which is exact up to rounding:
// where(m, S, fill) becomes S + where(m, 0, fill), equal to it wherever
// fill absorbs S (fill = -inf, or |fill| >= 1e30, so S + fill rounds to
// fill for any score below 1e14) or wherever the row keeps a visible key
// (a constant mask with one in every row, and fill <= -1e4, whose
// probability underflows to 0); max(S + b, finfo.min) becomes
// S + max(b, finfo.min) by the same absorption. Anything else stays
// unfused.
//
//===----------------------------------------------------------------------===//

#include "FusionSupport.h"

#include "sp/Autodiff/GradientBuilder.h"

#include "mlir/Dialect/MLProgram/IR/MLProgram.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <cstring>
#include <numeric>

using namespace mlir;
using namespace sp::graph;

namespace sp::fusion {
namespace {

/// A fill value this negative absorbs any score below 1e14 in f32 and f64:
/// S + fill rounds to fill.
constexpr double kAbsorbingFill = -1e30;
/// A fill value this negative gives probability 0 next to any visible key.
constexpr double kMaskingFill = -1e4;

RankedTensorType typeOf(Value value) { return llvm::cast<RankedTensorType>(value.getType()); }

int64_t product(ArrayRef<int64_t> dims) {
  return std::accumulate(dims.begin(), dims.end(), int64_t(1), std::multiplies<int64_t>());
}

//===----------------------------------------------------------------------===//
// The score chain between S and the softmax
//===----------------------------------------------------------------------===//

/// One op between S and the softmax.
struct ScoreStep {
  enum class Kind { Scale, AddBias, Mask, Clamp, Cast, Reshape, SoftCap } kind;
  Operation *op;
  double value = 0;          // Scale: the factor; Mask: the fill; Clamp: the bound
  Value operand;             // AddBias: the term; Mask: the condition
  bool keepWhereTrue = true; // Mask: where(m, S, fill) rather than where(m, fill, S)
};

/// The chain from the softmax's input down to S.
struct ScoreChain {
  MatMulOp scores;
  SmallVector<ScoreStep> steps; // softmax side first
  /// The trained weight a bias or mask that stopped the match reads, if any.
  ml_program::GlobalLoadOp trainedBias;
};

/// Whether `reshape` only regroups batch dims, leaving the matrices in the
/// last two dims as they are: the same [rows, columns] matrices, in the same
/// row-major order, under other batch dims.
bool regroupsBatch(ReshapeOp reshape) {
  auto input = reshape.getInput().getType(), output = reshape.getType();
  return input.getRank() >= 3 && output.getRank() >= 3 && input.hasStaticShape() &&
         output.hasStaticShape() && input.getShape().take_back(2) == output.getShape().take_back(2);
}

/// The trained weight `value` reads (a mutable global, which
/// sp-select-params makes of each parameter before fusion), if any: a bias
/// built from it would need a gradient that attention_grad does not give. A
/// constant global (frozen weights, inference, lifted constants such as
/// BLOOM's ALiBi slopes in dynamo exports) needs none.
ml_program::GlobalLoadOp findWeightRead(Value value) {
  SmallVector<Value> worklist = {value};
  llvm::DenseSet<Operation *> visited;
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val().getDefiningOp();
    if (!op || !visited.insert(op).second)
      continue;
    if (auto load = llvm::dyn_cast<ml_program::GlobalLoadOp>(op))
      return load;
    for (Value operand : op->getOperands())
      worklist.push_back(operand);
  }
  return {};
}

/// Whether every row of the constant i1 `condition` (along its last dim)
/// holds `keepWhereTrue` somewhere, so that each query keeps a visible key.
bool everyRowKeepsAKey(Value condition, bool keepWhereTrue) {
  Attribute attr;
  if (!matchPattern(condition, m_Constant(&attr)))
    return false;
  std::optional<HostTensor> host = HostTensor::fromAttr(attr);
  if (!host || host->isFloat)
    return false;
  ArrayRef<int64_t> shape = host->type.getShape();
  int64_t length = shape.empty() ? 1 : shape.back();
  if (length == 0)
    return false;
  for (int64_t row = 0; row < host->numElements() / length; ++row) {
    bool kept = false;
    for (int64_t j = 0; j < length && !kept; ++j)
      kept = (host->ints[row * length + j] != 0) == keepWhereTrue;
    if (!kept)
      return false;
  }
  return true;
}

bool matchScores(Value x, ScoreChain &chain, int depth);

/// Tries `path` as the continuation of the chain after pushing `step`.
bool tryStep(ScoreChain &chain, ScoreStep step, Value path, int depth) {
  chain.steps.push_back(step);
  if (matchScores(path, chain, depth + 1))
    return true;
  chain.steps.pop_back();
  return false;
}

/// The soft-cap the chain applies, as the attention op's `softcap` (the
/// product of the scales after the tanh), 0 without one; nullopt when the op
/// cannot carry it: a second tanh, a bias or mask inside the tanh, or a
/// factor after it that is not positive.
std::optional<double> softCapOf(const ScoreChain &chain) {
  bool capped = false, biased = false;
  double cap = 1.0;
  for (const ScoreStep &step : llvm::reverse(chain.steps)) {
    switch (step.kind) {
    case ScoreStep::Kind::SoftCap:
      if (capped || biased)
        return std::nullopt;
      capped = true;
      break;
    case ScoreStep::Kind::Scale:
      if (capped)
        cap *= step.value;
      break;
    case ScoreStep::Kind::AddBias:
    case ScoreStep::Kind::Mask:
    case ScoreStep::Kind::Clamp:
      biased = true;
      break;
    case ScoreStep::Kind::Cast:
    case ScoreStep::Kind::Reshape:
      break;
    }
  }
  if (!capped)
    return 0.0;
  if (!(cap > 0.0) || !std::isfinite(cap))
    return std::nullopt;
  return cap;
}

/// Matches `x` (used once, by the op above it) as S or a step of the chain.
bool matchScores(Value x, ScoreChain &chain, int depth) {
  Operation *op = x.getDefiningOp();
  if (depth > 32 || !op || !x.hasOneUse())
    return false;
  if (auto matmul = llvm::dyn_cast<MatMulOp>(op)) {
    chain.scores = matmul;
    return true;
  }
  Value result = op->getResult(0);
  if (isFloatCast(op))
    return tryStep(chain, {ScoreStep::Kind::Cast, op}, op->getOperand(0), depth);
  if (auto reshape = llvm::dyn_cast<ReshapeOp>(op); reshape && regroupsBatch(reshape))
    return tryStep(chain, {ScoreStep::Kind::Reshape, op}, reshape.getInput(), depth);
  if (auto mul = llvm::dyn_cast<MulOp>(op)) {
    for (auto [path, other] :
         {std::pair(mul.getLhs(), mul.getRhs()), std::pair(mul.getRhs(), mul.getLhs())}) {
      std::optional<double> factor = getScalarOperand(other, path, result);
      if (factor && std::isfinite(*factor) && *factor != 0 &&
          tryStep(chain, {ScoreStep::Kind::Scale, op, *factor}, path, depth))
        return true;
    }
    return false;
  }
  if (auto div = llvm::dyn_cast<DivOp>(op)) {
    std::optional<double> divisor = getScalarOperand(div.getRhs(), div.getLhs(), result);
    return divisor && std::isfinite(*divisor) && *divisor != 0 &&
           tryStep(chain, {ScoreStep::Kind::Scale, op, 1.0 / *divisor}, div.getLhs(), depth);
  }
  if (auto add = llvm::dyn_cast<AddOp>(op)) {
    // The bias side is the one that neither leads to S nor reads a weight;
    // the weight check runs only once the other side has matched, since a
    // wrong guess would walk the whole model.
    for (auto [path, term] :
         {std::pair(add.getLhs(), add.getRhs()), std::pair(add.getRhs(), add.getLhs())}) {
      if (path.getType() != result.getType())
        continue;
      ScoreStep step{ScoreStep::Kind::AddBias, op};
      step.operand = term;
      if (!tryStep(chain, step, path, depth))
        continue;
      ml_program::GlobalLoadOp weight = findWeightRead(term);
      if (!weight)
        return true;
      chain.trainedBias = weight;
      // Undo the match below this step and this step itself.
      while (chain.steps.back().op != op)
        chain.steps.pop_back();
      chain.steps.pop_back();
    }
    return false;
  }
  if (auto where = llvm::dyn_cast<WhereOp>(op)) {
    for (bool keepWhereTrue : {true, false}) {
      Value path = keepWhereTrue ? where.getOnTrue() : where.getOnFalse();
      Value fillValue = keepWhereTrue ? where.getOnFalse() : where.getOnTrue();
      std::optional<double> fill = getScalarOperand(fillValue, path, result);
      if (!fill || *fill > kMaskingFill ||
          (*fill > kAbsorbingFill && !std::isinf(*fill) &&
           !everyRowKeepsAKey(where.getCondition(), keepWhereTrue)) ||
          (chain.trainedBias = findWeightRead(where.getCondition())))
        continue;
      ScoreStep step{ScoreStep::Kind::Mask, op, *fill, where.getCondition(), keepWhereTrue};
      if (tryStep(chain, step, path, depth))
        return true;
    }
    return false;
  }
  // Logit soft-capping (Gemma 2's cap * tanh(s / cap)): the scales on
  // either side of the tanh become the op's scale and softcap.
  if (llvm::isa<TanhOp>(op))
    return tryStep(chain, {ScoreStep::Kind::SoftCap, op}, op->getOperand(0), depth);
  if (auto max = llvm::dyn_cast<MaxOp>(op)) {
    for (auto [path, other] :
         {std::pair(max.getLhs(), max.getRhs()), std::pair(max.getRhs(), max.getLhs())}) {
      std::optional<double> bound = getScalarOperand(other, path, result);
      if (bound && *bound <= kAbsorbingFill &&
          tryStep(chain, {ScoreStep::Kind::Clamp, op, *bound}, path, depth))
        return true;
    }
  }
  return false;
}

//===----------------------------------------------------------------------===//
// The probabilities between the softmax and O
//===----------------------------------------------------------------------===//

/// The ops from the softmax to the product with V, and that product.
struct ProbabilityChain {
  SmallVector<Operation *> ops;
  MatMulOp output;
  /// Training-mode dropout on the probabilities (Hugging Face's
  /// attention_dropout), which the fused kernels draw; null when none.
  DropoutOp dropout;
};

bool matchProbabilities(SoftmaxOp softmax, ProbabilityChain &chain) {
  Value p = softmax.getResult();
  for (int depth = 0; depth < 8; ++depth) {
    SmallVector<Operation *> users(p.getUsers());
    if (users.size() == 1 && p.hasOneUse()) {
      Operation *user = users.front();
      if (auto matmul = llvm::dyn_cast<MatMulOp>(user)) {
        if (matmul.getLhs() != p || matmul.getRhs() == p)
          return false;
        chain.output = matmul;
        return true;
      }
      // Dropout as the model wrote it, before sequence parallelism or
      // micro-batches placed it in a larger tensor: its mask indexes the
      // probabilities, whose row-major order the fused op's [..., H, Sq, Sk]
      // keeps.
      if (auto dropout = llvm::dyn_cast<DropoutOp>(user)) {
        if (chain.dropout || dropout.getPositions() || dropout.getMicroBatch() ||
            dropout.getUnpaddedKeys())
          return false;
        chain.dropout = dropout;
        chain.ops.push_back(user);
        p = dropout.getResult();
        continue;
      }
      // A reshape regrouping the batch dims: the torchscript export of
      // BLOOM's bmm over [B*H, S, S] probabilities.
      auto reshape = llvm::dyn_cast<ReshapeOp>(user);
      if (!isFloatCast(user) && !(reshape && regroupsBatch(reshape)))
        return false;
      chain.ops.push_back(user);
      p = user->getResult(0);
      continue;
    }
    // where(isnan(P), 0, P): the SDPA decomposition's guard for rows that
    // see no key, whose softmax is NaN; attention gives them zeros.
    if (users.size() != 2)
      return false;
    auto isNaN = llvm::dyn_cast<IsNaNOp>(users[0]);
    auto where = llvm::dyn_cast<WhereOp>(users[1]);
    if (!isNaN || !where) {
      isNaN = llvm::dyn_cast<IsNaNOp>(users[1]);
      where = llvm::dyn_cast<WhereOp>(users[0]);
    }
    if (!isNaN || !where || !isNaN.getResult().hasOneUse() ||
        where.getCondition() != isNaN.getResult() || where.getOnFalse() != p ||
        where.getType() != p.getType() ||
        getScalarOperand(where.getOnTrue(), p, where.getResult()) != 0.0)
      return false;
    chain.ops.append({isNaN, where});
    p = where.getResult();
  }
  return false;
}

//===----------------------------------------------------------------------===//
// Q, K and V
//===----------------------------------------------------------------------===//

/// A matmul operand read through views: `base` reshaped in its batch dims,
/// with its last two dims swapped when `transposed`, times `factor`.
struct Operand {
  Value base;
  bool transposed = false;
  double factor = 1;
};

bool isLastTwoSwap(ArrayRef<int64_t> perm) {
  int64_t rank = perm.size();
  if (rank < 2 || perm[rank - 2] != rank - 1 || perm[rank - 1] != rank - 2)
    return false;
  for (int64_t d = 0; d < rank - 2; ++d)
    if (perm[d] != d)
      return false;
  return true;
}

Operand peel(Value value, bool withFactors) {
  Operand operand{value};
  for (int depth = 0; depth < 16; ++depth) {
    Operation *op = operand.base.getDefiningOp();
    auto type = typeOf(operand.base);
    if (auto reshape = llvm::dyn_cast_or_null<ReshapeOp>(op)) {
      auto input = reshape.getInput().getType();
      if (input.getRank() >= 2 && input.hasStaticShape() && type.hasStaticShape() &&
          input.getShape().take_back(2) == type.getShape().take_back(2)) {
        operand.base = reshape.getInput();
        continue;
      }
    }
    if (auto transpose = llvm::dyn_cast_or_null<TransposeOp>(op);
        transpose && isLastTwoSwap(transpose.getPerm())) {
      operand.transposed = !operand.transposed;
      operand.base = transpose.getInput();
      continue;
    }
    if (withFactors) {
      if (auto mul = llvm::dyn_cast_or_null<MulOp>(op)) {
        auto factor = [&](Value path, Value other) -> bool {
          std::optional<double> c = getScalarOperand(other, path, mul.getResult());
          if (!c || !std::isfinite(*c))
            return false;
          operand.factor *= *c;
          operand.base = path;
          return true;
        };
        if (factor(mul.getLhs(), mul.getRhs()) || factor(mul.getRhs(), mul.getLhs()))
          continue;
      }
      if (auto div = llvm::dyn_cast_or_null<DivOp>(op)) {
        std::optional<double> c = getScalarOperand(div.getRhs(), div.getLhs(), div.getResult());
        if (c && std::isfinite(*c) && *c != 0) {
          operand.factor /= *c;
          operand.base = div.getLhs();
          continue;
        }
      }
    }
    break;
  }
  return operand;
}

/// K or V as repeat_kv leaves it: `expand(unsqueeze(kv, [r - 2]))` with
/// kv [..., Hkv, S, D] gives [..., Hkv, group, S, D], each kv head repeated
/// `group` times. `kv` is null when `base` is not such a repetition.
struct Repetition {
  Value kv;
  int64_t group = 1;
};

Repetition repetitionOf(Value base) {
  auto expand = base.getDefiningOp<ExpandOp>();
  auto unsqueeze = expand ? expand.getInput().getDefiningOp<UnsqueezeOp>() : UnsqueezeOp();
  if (!unsqueeze || unsqueeze.getAxes().size() != 1)
    return {};
  auto kvType = unsqueeze.getInput().getType();
  int64_t rank = kvType.getRank() + 1;
  int64_t axis = unsqueeze.getAxes()[0];
  if (axis < 0)
    axis += rank;
  auto expanded = expand.getType();
  if (kvType.getRank() < 3 || axis != rank - 3 || !expanded.hasStaticShape() ||
      expanded.getRank() != rank)
    return {};
  for (int64_t d = 0; d < rank; ++d)
    if (d != axis && expanded.getDimSize(d) != unsqueeze.getType().getDimSize(d))
      return {};
  return {unsqueeze.getInput(), expanded.getDimSize(axis)};
}

/// Multi-query attention's one KV head broadcast to all H heads, as the
/// exporters write it besides repeat_kv: `expand(kv)` from [..., 1, S, D] to
/// [..., H, S, D] (`key.expand(-1, H, -1, -1)`), or through unit dims and a
/// reshape (Tile, which imports as unsqueeze, expand, reshape). `base`
/// [..., H, S, D] is `kv` [..., 1, S, D] broadcast over its head dim when
/// the expand grows exactly one unit dim, to H, and the reshape only drops
/// or inserts unit dims with that one landing on the head dim: row-major
/// order then maps every element of `base` to `kv` at head 0.
Repetition headBroadcastOf(Value base) {
  auto type = typeOf(base);
  int64_t rank = type.getRank();
  if (rank < 3 || !type.hasStaticShape())
    return {};
  Value expanded = base;
  if (auto reshape = base.getDefiningOp<ReshapeOp>())
    expanded = reshape.getInput();
  auto expand = expanded.getDefiningOp<ExpandOp>();
  if (!expand || !expand.getInput().getType().hasStaticShape() ||
      !expand.getType().hasStaticShape())
    return {};
  Value kv = expand.getInput();
  if (auto unsqueeze = kv.getDefiningOp<UnsqueezeOp>())
    kv = unsqueeze.getInput();
  SmallVector<int64_t> kvShape(type.getShape());
  kvShape[rank - 3] = 1;
  if (typeOf(kv).getShape() != ArrayRef<int64_t>(kvShape))
    return {};
  // The expand's non-unit dims in order, and which of them it grew.
  ArrayRef<int64_t> in = expand.getInput().getType().getShape();
  ArrayRef<int64_t> out = expand.getType().getShape();
  if (in.size() != out.size())
    return {};
  SmallVector<int64_t> sizes;
  int64_t grown = -1;
  for (auto [before, after] : llvm::zip(in, out)) {
    if (after == 1)
      continue;
    if (before != after) {
      if (before != 1 || grown >= 0)
        return {};
      grown = sizes.size();
    }
    sizes.push_back(after);
  }
  // The same non-unit dims in `base`, the grown one at its head dim.
  SmallVector<int64_t> baseSizes;
  int64_t head = -1;
  for (int64_t d = 0; d < rank; ++d) {
    if (type.getDimSize(d) == 1)
      continue;
    if (d == rank - 3)
      head = baseSizes.size();
    baseSizes.push_back(type.getDimSize(d));
  }
  if (grown < 0 || grown != head || sizes != baseSizes)
    return {};
  return {kv, type.getDimSize(rank - 3)};
}

//===----------------------------------------------------------------------===//
// The causal pattern
//===----------------------------------------------------------------------===//

enum class ConstantMask { Other, Zero, Causal };

/// The value of a constant that broadcasts to [..., Sq, Sk] at plane
/// `plane` (over its own leading dims), row i, column j.
double planeValue(const HostTensor &host, int64_t plane, int64_t i, int64_t j) {
  ArrayRef<int64_t> shape = host.type.getShape();
  int64_t rank = shape.size();
  int64_t rows = rank >= 2 ? shape[rank - 2] : 1, columns = rank >= 1 ? shape[rank - 1] : 1;
  return host.getAsDouble((plane * rows + (rows == 1 ? 0 : i)) * columns +
                          (columns == 1 ? 0 : j));
}

/// What a constant bias that broadcasts to [..., Sq, Sk] is in every one of
/// its planes: all zeros, the bottom-right causal mask (0 where key
/// j <= i + Sk - Sq, at most -1e4 elsewhere), or something else.
ConstantMask classifyBias(Value bias, int64_t sq, int64_t sk) {
  Attribute attr;
  if (!matchPattern(bias, m_Constant(&attr)))
    return ConstantMask::Other;
  std::optional<HostTensor> host = HostTensor::fromAttr(attr);
  if (!host || !host->isFloat)
    return ConstantMask::Other;
  ArrayRef<int64_t> shape = host->type.getShape();
  int64_t planes = product(shape.drop_back(std::min<size_t>(2, shape.size())));
  bool zero = true, causal = true;
  for (int64_t plane = 0; plane < planes; ++plane)
    for (int64_t i = 0; i < sq && (zero || causal); ++i)
      for (int64_t j = 0; j < sk; ++j) {
        double v = planeValue(*host, plane, i, j);
        zero &= v == 0;
        causal &= j <= i + sk - sq ? v == 0 : v <= kMaskingFill;
      }
  return zero ? ConstantMask::Zero : causal ? ConstantMask::Causal : ConstantMask::Other;
}

/// `bias`, which broadcasts against `from`, laid out to broadcast against
/// the same matrices under the batch dims `toBatch` (a row-major regrouping
/// of `from`'s). A bias without batch dims of its own drops them; otherwise
/// only its batch dims are expanded, so that a bias broadcast over rows or
/// columns (BLOOM's ALiBi, [B*H, 1, Sk]) stays that small.
Value regroupBias(autodiff::GradientBuilder &b, Value bias, RankedTensorType from,
                  ArrayRef<int64_t> toBatch) {
  auto type = typeOf(bias);
  int64_t matrixRank = std::min<int64_t>(2, type.getRank());
  ArrayRef<int64_t> batch = type.getShape().drop_back(matrixRank);
  ArrayRef<int64_t> matrix = type.getShape().take_back(matrixRank);
  if (llvm::all_of(batch, [](int64_t dim) { return dim == 1; }))
    return batch.empty() ? bias : b.reshape(bias, type.clone(matrix));
  SmallVector<int64_t> expanded(from.getShape().drop_back(2));
  expanded.append(matrix.begin(), matrix.end());
  SmallVector<int64_t> regrouped(toBatch);
  regrouped.append(matrix.begin(), matrix.end());
  return b.reshape(b.expand(bias, type.clone(expanded)), type.clone(regrouped));
}

//===----------------------------------------------------------------------===//
// Structured masks
//===----------------------------------------------------------------------===//

/// Bounds on the offset of key column j from query row i (j - i) that a
/// mask lets through; a bound left out does not bound.
struct Band {
  std::optional<int64_t> lower, upper;

  void intersect(const Band &other) {
    if (other.lower)
      lower = lower ? std::max(*lower, *other.lower) : other.lower;
    if (other.upper)
      upper = upper ? std::min(*upper, *other.upper) : other.upper;
  }
};

/// `value`, a constant whose dims before the last two are 1 and whose last
/// two broadcast to [sq, sk], unpacked.
std::optional<HostTensor> matrixConstant(Value value, int64_t sq, int64_t sk) {
  Attribute attr;
  if (!matchPattern(value, m_Constant(&attr)))
    return std::nullopt;
  std::optional<HostTensor> host = HostTensor::fromAttr(attr);
  if (!host)
    return std::nullopt;
  ArrayRef<int64_t> shape = host->type.getShape();
  int64_t rank = int64_t(shape.size());
  int64_t rows = rank >= 2 ? shape[rank - 2] : 1, columns = rank >= 1 ? shape[rank - 1] : 1;
  if (llvm::any_of(shape.drop_back(std::min<int64_t>(2, rank)), [](int64_t d) { return d != 1; }) ||
      (rows != 1 && rows != sq) || (columns != 1 && columns != sk))
    return std::nullopt;
  return host;
}

/// p * i + q * j + r of query row i and key column j.
struct Affine {
  int64_t p = 0, q = 0, r = 0;
};

/// `value` as an affine function of the row and column where it is one: an
/// integer constant that is a scalar, a column or a row stepping evenly (an
/// arange of positions), or a sum or difference of such.
std::optional<Affine> affineOf(Value value, int64_t sq, int64_t sk, int depth) {
  if (depth > 8)
    return std::nullopt;
  if (std::optional<HostTensor> host = matrixConstant(value, sq, sk)) {
    ArrayRef<int64_t> shape = host->type.getShape();
    int64_t rank = int64_t(shape.size());
    int64_t rows = rank >= 2 ? shape[rank - 2] : 1, columns = rank >= 1 ? shape[rank - 1] : 1;
    if (host->isFloat || (rows != 1 && columns != 1))
      return std::nullopt;
    int64_t count = host->numElements(), first = host->ints[0];
    int64_t step = count > 1 ? host->ints[1] - first : 0;
    for (int64_t k = 0; k < count; ++k)
      if (host->ints[size_t(k)] != first + step * k)
        return std::nullopt;
    Affine affine;
    affine.r = first;
    (rows != 1 ? affine.p : affine.q) = step;
    return affine;
  }
  Operation *op = value.getDefiningOp();
  if (llvm::isa_and_nonnull<AddOp, SubOp>(op)) {
    std::optional<Affine> lhs = affineOf(op->getOperand(0), sq, sk, depth + 1);
    std::optional<Affine> rhs = affineOf(op->getOperand(1), sq, sk, depth + 1);
    if (!lhs || !rhs)
      return std::nullopt;
    int64_t sign = llvm::isa<AddOp>(op) ? 1 : -1;
    return Affine{lhs->p + sign * rhs->p, lhs->q + sign * rhs->q, lhs->r + sign * rhs->r};
  }
  if (auto cast = llvm::dyn_cast_or_null<CastOp>(op);
      cast && cast.getInput().getType().getElementType().isSignlessInteger() &&
      cast.getType().getElementType().isSignlessInteger(64))
    return affineOf(cast.getInput(), sq, sk, depth + 1);
  return std::nullopt;
}

/// The band a comparison of positions lets through: `a OP b` where a - b is
/// m * (j - i) + r (causal and sliding-window masks compare a key arange
/// with a query arange, plus the window).
std::optional<Band> bandOfComparison(Operation *op, int64_t sq, int64_t sk) {
  if (!llvm::isa<LessOp, LessEqualOp, GreaterOp, GreaterEqualOp>(op))
    return std::nullopt;
  std::optional<Affine> a = affineOf(op->getOperand(0), sq, sk, 0);
  std::optional<Affine> b = affineOf(op->getOperand(1), sq, sk, 0);
  if (!a || !b)
    return std::nullopt;
  int64_t m = a->q - b->q, r = a->r - b->r;
  if (m == 0 || a->p - b->p != -m)
    return std::nullopt;
  // As m * d + r <= 0 over the integers, d = j - i.
  if (llvm::isa<LessOp>(op)) {
    r += 1;
  } else if (llvm::isa<GreaterOp>(op)) {
    m = -m;
    r = 1 - r;
  } else if (llvm::isa<GreaterEqualOp>(op)) {
    m = -m;
    r = -r;
  }
  Band band;
  if (m > 0)
    band.upper = llvm::divideFloorSigned(-r, m);
  else
    band.lower = llvm::divideCeilSigned(r, -m);
  return band;
}

/// The band a constant boolean table [sq, sk] is, if it is one.
std::optional<Band> bandOfTable(const HostTensor &table, int64_t sq, int64_t sk) {
  std::optional<int64_t> lowest, highest;
  for (int64_t i = 0; i < sq; ++i)
    for (int64_t j = 0; j < sk; ++j)
      if (planeValue(table, 0, i, j) != 0) {
        lowest = std::min(lowest.value_or(j - i), j - i);
        highest = std::max(highest.value_or(j - i), j - i);
      }
  if (!lowest)
    return std::nullopt;
  for (int64_t i = 0; i < sq; ++i)
    for (int64_t j = 0; j < sk; ++j)
      if ((planeValue(table, 0, i, j) != 0) != (*lowest <= j - i && j - i <= *highest))
        return std::nullopt;
  return Band{lowest, highest};
}

/// Whether `type` is the same for every query row (a padding mask's rows).
bool isRowBroadcast(Type type) {
  auto tensor = llvm::cast<RankedTensorType>(type);
  return tensor.getRank() < 2 || tensor.getDimSize(tensor.getRank() - 2) == 1;
}

/// Splits the and-tree `condition` into the band of its leaves that are
/// constant tables or comparisons of positions and its leaves that are the
/// same for every query row; false when a leaf is neither.
bool splitMask(Value condition, int64_t sq, int64_t sk, Band &band, SmallVectorImpl<Value> &keys,
               int depth) {
  if (depth > 16)
    return false;
  Operation *op = condition.getDefiningOp();
  if (auto both = llvm::dyn_cast_or_null<AndOp>(op))
    return splitMask(both.getLhs(), sq, sk, band, keys, depth + 1) &&
           splitMask(both.getRhs(), sq, sk, band, keys, depth + 1);
  std::optional<Band> leaf;
  if (std::optional<HostTensor> table = matrixConstant(condition, sq, sk); table && !table->isFloat)
    leaf = bandOfTable(*table, sq, sk);
  else if (op)
    leaf = bandOfComparison(op, sq, sk);
  if (leaf) {
    band.intersect(*leaf);
    return true;
  }
  if (!isRowBroadcast(condition.getType()))
    return false;
  keys.push_back(condition);
  return true;
}

/// The largest magnitude the values of a float constant can have.
std::optional<double> largestMagnitude(Attribute value) {
  if (auto dense = llvm::dyn_cast<DenseElementsAttr>(value)) {
    std::optional<HostTensor> host = HostTensor::fromAttr(dense);
    if (!host)
      return std::nullopt;
    double largest = 0;
    for (int64_t i = 0; i < host->numElements(); ++i)
      largest = std::max(largest, std::abs(host->getAsDouble(i)));
    return largest;
  }
  auto resource = llvm::dyn_cast<DenseResourceElementsAttr>(value);
  AsmResourceBlob *blob = resource ? resource.getRawHandle().getBlob() : nullptr;
  if (!blob)
    return std::nullopt;
  ArrayRef<char> data = blob->getData();
  Type element = resource.getElementType();
  double largest = 0;
  auto scan = [&](auto tag) {
    using T = decltype(tag);
    for (size_t i = 0; i + sizeof(T) <= data.size(); i += sizeof(T)) {
      T v;
      std::memcpy(&v, data.data() + i, sizeof(T));
      largest = std::max(largest, std::abs(double(v)));
    }
  };
  if (element.isF32())
    scan(float());
  else if (element.isF64())
    scan(double());
  else
    return std::nullopt;
  return largest;
}

/// A bound on the magnitude of `value`'s elements, where its ops give one:
/// constants (also constant globals), integers cast to floats (at most
/// 2^(bits-1)), products, sums and views of those. ALiBi's bias, slopes times
/// positions, has one.
std::optional<double> magnitudeBound(Value value, int depth) {
  Operation *op = value.getDefiningOp();
  if (!op || depth > 16)
    return std::nullopt;
  Attribute constant;
  if (matchPattern(value, m_Constant(&constant)))
    return largestMagnitude(constant);
  if (auto load = llvm::dyn_cast<ml_program::GlobalLoadConstOp>(op)) {
    auto global = SymbolTable::lookupNearestSymbolFrom<ml_program::GlobalOp>(op, load.getGlobal());
    if (!global || !global.getValue())
      return std::nullopt;
    return largestMagnitude(*global.getValue());
  }
  if (auto cast = llvm::dyn_cast<CastOp>(op)) {
    Type from = cast.getInput().getType().getElementType();
    if (from.isInteger(1))
      return 1.0;
    if (auto integer = llvm::dyn_cast<IntegerType>(from))
      return std::ldexp(1.0, int(integer.getWidth()) - 1);
    return magnitudeBound(cast.getInput(), depth + 1);
  }
  if (llvm::isa<MulOp, AddOp, SubOp>(op)) {
    std::optional<double> lhs = magnitudeBound(op->getOperand(0), depth + 1);
    std::optional<double> rhs = magnitudeBound(op->getOperand(1), depth + 1);
    if (!lhs || !rhs)
      return std::nullopt;
    return llvm::isa<MulOp>(op) ? *lhs * *rhs : *lhs + *rhs;
  }
  if (llvm::isa<NegOp, ReshapeOp, ExpandOp, UnsqueezeOp, SqueezeOp, TransposeOp>(op))
    return magnitudeBound(op->getOperand(0), depth + 1);
  return std::nullopt;
}

/// Whether adding any value of magnitude at most `bound` to `fill` gives
/// `fill` again in `element` (f32 or f64): less than half its ulp, or -inf.
bool absorbs(double fill, double bound, Type element) {
  if (std::isinf(fill) && fill < 0)
    return std::isfinite(bound);
  if (!std::isfinite(fill) || fill == 0)
    return false;
  int exponent = 0;
  std::frexp(fill, &exponent);
  int digits = element.isF32() ? 24 : element.isF64() ? 53 : 0;
  return digits > 0 && bound < std::ldexp(1.0, exponent - 1 - digits);
}

/// A mask that sp-fuse keeps structured: a bias the same for every query
/// row (absent: 0) where a band of key offsets lets keys through, `fill`
/// elsewhere.
struct StructuredMask {
  Value bias;
  Band band;
  double fill = 0;
};

/// `bias` as a structured mask when it is `where(c, keep, fill)` whose
/// condition and-s a causal or sliding-window table (constant, or compared
/// aranges) with conditions that are the same for every query row (Hugging
/// Face's padding mask, [B, 1, 1, Sk]), `keep` is too and `fill` is a
/// constant: the new bias is `where(the row conditions, keep, fill)`,
/// [..., 1, Sk], and no [Sq, Sk] tensor is left.
std::optional<StructuredMask> structureMask(autodiff::GradientBuilder &b, Value bias, int64_t sq,
                                            int64_t sk) {
  // A bias the same for every row added to the mask (BLOOM's ALiBi): where
  // the band hides a key, the dense bias holds it plus the fill, which is
  // the fill itself when the fill absorbs every value it can take.
  if (auto add = bias.getDefiningOp<AddOp>()) {
    for (auto [rows, masked] : {std::pair(add.getLhs(), add.getRhs()),
                                std::pair(add.getRhs(), add.getLhs())}) {
      if (!isRowBroadcast(rows.getType()) || !masked.getDefiningOp<WhereOp>())
        continue;
      std::optional<double> bound = magnitudeBound(rows, 0);
      std::optional<StructuredMask> mask = structureMask(b, masked, sq, sk);
      if (!bound || !mask ||
          !absorbs(mask->fill, *bound, typeOf(bias).getElementType()))
        continue;
      mask->bias = mask->bias ? b.add(rows, mask->bias) : rows;
      return mask;
    }
    return std::nullopt;
  }
  auto where = bias.getDefiningOp<WhereOp>();
  if (!where || isRowBroadcast(bias.getType()) || !isRowBroadcast(where.getOnTrue().getType()))
    return std::nullopt;
  std::optional<double> fill = getSplatValue(where.getOnFalse());
  if (!fill)
    return std::nullopt;
  StructuredMask mask;
  mask.fill = *fill;
  SmallVector<Value> keys;
  if (!splitMask(where.getCondition(), sq, sk, mask.band, keys, 0))
    return std::nullopt;
  // A bound the matrix's offsets never cross does not bound.
  if (mask.band.lower && *mask.band.lower <= -(sq - 1))
    mask.band.lower.reset();
  if (mask.band.upper && *mask.band.upper >= sk - 1)
    mask.band.upper.reset();
  if (keys.empty()) {
    std::optional<double> keep = getSplatValue(where.getOnTrue());
    if (!keep || *keep != 0.0)
      mask.bias = where.getOnTrue();
    return mask;
  }
  Value condition = keys.front();
  for (Value key : ArrayRef<Value>(keys).drop_front())
    condition = b.build<AndOp>({condition, key});
  mask.bias = b.where(condition, where.getOnTrue(), where.getOnFalse());
  return mask;
}

} // namespace

//===----------------------------------------------------------------------===//
// The rewrite
//===----------------------------------------------------------------------===//

bool fuseAttention(SoftmaxOp softmax, const FusionOptions &options) {
  auto scoresType = softmax.getType();
  int64_t rank = scoresType.getRank();
  if (rank < 3 || (softmax.getAxis() != -1 && softmax.getAxis() != rank - 1))
    return false;
  ScoreChain scoreChain;
  ProbabilityChain probabilityChain;
  if (!matchScores(softmax.getInput(), scoreChain, 0)) {
    if (scoreChain.trainedBias && options.unfusedForTrainedBias &&
        matchProbabilities(softmax, probabilityChain))
      options.unfusedForTrainedBias->push_back({softmax, scoreChain.trainedBias});
    return false;
  }
  if (!matchProbabilities(softmax, probabilityChain))
    return false;
  std::optional<double> softcap = softCapOf(scoreChain);
  if (!softcap)
    return false;
  MatMulOp scores = scoreChain.scores, output = probabilityChain.output;

  // S and O multiply batches of matrices with equal batch dims on both sides,
  // or with K and V broadcast over the heads (multi-query attention written
  // as matmul broadcasting: [..., H, S, D] by [..., 1, D, S]); S, the softmax
  // and O may group the batch dims differently (the chains' reshapes regroup
  // them row-major), over the same number of matrices.
  auto sameBatch = [](MatMulOp matmul) {
    auto lhs = matmul.getLhs().getType(), rhs = matmul.getRhs().getType();
    return lhs.getRank() >= 3 && lhs.getRank() == rhs.getRank() &&
           lhs.getShape().drop_back(3) == rhs.getShape().drop_back(3) &&
           (lhs.getShape().end()[-3] == rhs.getShape().end()[-3] || rhs.getShape().end()[-3] == 1);
  };
  // The heads the rhs of `matmul` is broadcast over, or 1.
  auto broadcastHeads = [](MatMulOp matmul) -> int64_t {
    int64_t heads = matmul.getLhs().getType().getShape().end()[-3];
    return matmul.getRhs().getType().getShape().end()[-3] == 1 ? heads : 1;
  };
  auto batchCountOf = [](RankedTensorType type) { return product(type.getShape().drop_back(2)); };
  Type element = output.getType().getElementType();
  if (!sameBatch(scores) || !sameBatch(output) || !isFusibleType(scores.getType()) ||
      !isFusibleType(output.getType()) || !isFusibleType(scoresType) ||
      scores.getType().getElementType() != element ||
      scores.getType().getShape().take_back(2) != scoresType.getShape().take_back(2) ||
      batchCountOf(scores.getType()) != batchCountOf(scoresType) ||
      batchCountOf(scores.getType()) != batchCountOf(output.getType()))
    return false;

  // Q, K and V behind their views; K and V unrepeated when both are repeated
  // alike (grouped-query attention).
  Operand query = peel(scores.getLhs(), /*withFactors=*/true);
  Operand keyT = peel(scores.getRhs(), /*withFactors=*/true);
  Operand value = peel(output.getRhs(), /*withFactors=*/false);
  if (query.transposed || value.transposed)
    return false;
  Repetition keyRepetition, valueRepetition;
  if (keyT.transposed) {
    keyRepetition = repetitionOf(keyT.base);
    valueRepetition = repetitionOf(value.base);
    if (!keyRepetition.kv)
      keyRepetition = headBroadcastOf(keyT.base);
    if (!valueRepetition.kv)
      valueRepetition = headBroadcastOf(value.base);
  }
  // Broadcast by the matmul itself: the operand is the one KV head, provided
  // the views peeled off it left its batch dims as the matmul saw them (so
  // its head dim is the one broadcast).
  auto broadcastOf = [&](MatMulOp matmul, Value base) -> Repetition {
    int64_t heads = broadcastHeads(matmul);
    if (heads == 1 || typeOf(base).getShape().drop_back(2) !=
                          matmul.getRhs().getType().getShape().drop_back(2))
      return {};
    return {base, heads};
  };
  if (broadcastHeads(scores) != 1)
    keyRepetition = broadcastOf(scores, keyT.base);
  if (broadcastHeads(output) != 1)
    valueRepetition = broadcastOf(output, value.base);
  if ((broadcastHeads(scores) != 1 && !keyRepetition.kv) ||
      (broadcastHeads(output) != 1 && !valueRepetition.kv))
    return false;
  int64_t group = 1;
  Value key = keyT.base, valueBase = value.base;
  if (keyRepetition.kv && valueRepetition.kv && keyRepetition.group == valueRepetition.group &&
      typeOf(keyRepetition.kv).getShape().drop_back(2) ==
          typeOf(valueRepetition.kv).getShape().drop_back(2)) {
    key = keyRepetition.kv;
    valueBase = valueRepetition.kv;
    group = keyRepetition.group;
  }
  for (Value operand : {query.base, key, valueBase})
    if (!isFusibleType(operand.getType()) || typeOf(operand).getElementType() != element)
      return false;

  // The canonical layout [lead..., H, S, D]: the query's batch dims, or with
  // repeated heads the key's [lead..., Hkv] with Hq = Hkv * group.
  auto sDims = scores.getType().getShape();
  int64_t sq = sDims.end()[-2], sk = sDims.back();
  auto queryDims = typeOf(query.base).getShape();
  auto keyDims = typeOf(key).getShape();
  auto valueDims = typeOf(valueBase).getShape();
  int64_t d = queryDims.back(), dv = valueDims.back();
  // The kernels index a dropout's mask by query and key positions of one
  // sequence (Graph_AttentionDropoutAttrs).
  if (DropoutOp dropout = probabilityChain.dropout; dropout && sq != sk) {
    if (options.unfusedForDropout)
      options.unfusedForDropout->push_back(dropout);
    if (options.remarks)
      dropout->emitRemark() << "attention not fused: dropout on the probabilities of " << sq
                            << " queries and " << sk
                            << " keys (the fused kernels draw it for self-attention only); "
                               "the step keeps "
                            << formatShape(scoresType.getShape()) << " probabilities";
    return false;
  }
  int64_t batchCount = product(sDims.drop_back(2));
  SmallVector<int64_t> lead;
  int64_t queryHeads, kvHeads;
  if (group > 1) {
    ArrayRef<int64_t> keyBatch = keyDims.drop_back(2);
    if (keyBatch.empty())
      return false;
    lead.assign(keyBatch.begin(), keyBatch.end() - 1);
    kvHeads = keyBatch.back();
    queryHeads = kvHeads * group;
  } else {
    ArrayRef<int64_t> queryBatch = queryDims.drop_back(2);
    if (queryBatch.empty()) {
      queryHeads = kvHeads = 1;
    } else {
      lead.assign(queryBatch.begin(), queryBatch.end() - 1);
      queryHeads = kvHeads = queryBatch.back();
    }
  }
  if (product(lead) * queryHeads != batchCount ||
      product(keyDims.drop_back(2)) * group != batchCount ||
      product(valueDims.drop_back(2)) * group != batchCount)
    return false;
  auto shapeOf = [&](std::initializer_list<int64_t> tail) {
    SmallVector<int64_t> shape(lead);
    shape.append(tail);
    return shape;
  };

  // Everything matched: build. The bias first, from S up to the softmax.
  Location loc =
      FusedLoc::get(softmax.getContext(), {scores.getLoc(), softmax.getLoc(), output.getLoc()});
  autodiff::GradientBuilder b(output);
  b.setLoc(loc);
  double scale = query.factor * keyT.factor;
  // Scales after a soft-cap's tanh multiply the cap (softCapOf), not the
  // scores inside it.
  bool pastSoftCap = false;
  Value bias;
  auto inElement = [&](Value term) {
    return typeOf(term).getElementType() == element ? term : b.cast(term, element);
  };
  for (const ScoreStep &step : llvm::reverse(scoreChain.steps)) {
    switch (step.kind) {
    case ScoreStep::Kind::Scale:
      if (!pastSoftCap)
        scale *= step.value;
      if (bias)
        bias = b.scale(bias, step.value);
      break;
    case ScoreStep::Kind::SoftCap:
      pastSoftCap = true;
      break;
    case ScoreStep::Kind::AddBias:
      bias = bias ? b.add(bias, inElement(step.operand)) : inElement(step.operand);
      break;
    case ScoreStep::Kind::Mask: {
      Value kept = bias ? bias : b.scalar(element, 0.0);
      Value fill = b.scalar(element, step.value);
      bias = step.keepWhereTrue ? b.where(step.operand, kept, fill)
                                : b.where(step.operand, fill, kept);
      break;
    }
    case ScoreStep::Kind::Clamp:
      if (bias)
        bias = b.build<MaxOp>({bias, b.scalar(element, step.value)});
      break;
    case ScoreStep::Kind::Cast:
      break;
    case ScoreStep::Kind::Reshape:
      if (bias)
        bias = regroupBias(b, bias, typeOf(step.op->getOperand(0)),
                           typeOf(step.op->getResult(0)).getShape().drop_back(2));
      break;
    }
  }

  // The bias in the canonical layout: it broadcasts against S, whose batch
  // dims may be laid out differently.
  SmallVector<int64_t> canonicalScores = shapeOf({queryHeads, sq, sk});
  bool causal = false;
  std::optional<StructuredMask> structured;
  if (bias) {
    if (scoresType.getShape().drop_back(2) != ArrayRef<int64_t>(canonicalScores).drop_back(2))
      bias = regroupBias(b, bias, scoresType, ArrayRef<int64_t>(canonicalScores).drop_back(2));
    ConstantMask mask = bias ? classifyBias(bias, sq, sk) : ConstantMask::Other;
    if (mask == ConstantMask::Zero || (mask == ConstantMask::Causal && sq <= sk)) {
      causal = mask == ConstantMask::Causal;
      bias = Value();
    } else if ((structured = structureMask(b, bias, sq, sk))) {
      bias = structured->bias;
    }
  }

  // Q, K and V in the canonical layout.
  Value q = b.reshape(query.base, typeOf(query.base).clone(shapeOf({queryHeads, sq, d})));
  Value k = key;
  if (!keyT.transposed) {
    // K^T itself was computed: transpose it back, folding into the
    // transpose that produced it when there is one.
    if (auto transpose = k.getDefiningOp<TransposeOp>()) {
      SmallVector<int64_t> perm(transpose.getPerm());
      std::swap(perm[perm.size() - 2], perm[perm.size() - 1]);
      k = b.transpose(transpose.getInput(), perm);
    } else {
      k = b.transposeLastTwo(k);
    }
  }
  k = b.reshape(k, typeOf(query.base).clone(shapeOf({kvHeads, sk, d})));
  Value v = b.reshape(valueBase, typeOf(valueBase).clone(shapeOf({kvHeads, sk, dv})));
  SmallVector<Value> operands = {q, k, v};
  if (bias)
    operands.push_back(bias);
  // cap * tanh(scale * qk): the op's scale is the scores' before its tanh
  // divides them by the cap.
  if (*softcap > 0.0)
    scale *= *softcap;
  SmallVector<NamedAttribute> attributes = {b.getNamedAttr("scale", b.getF64FloatAttr(scale)),
                                            b.getNamedAttr("causal", b.getBoolAttr(causal))};
  if (*softcap > 0.0)
    attributes.push_back(b.getNamedAttr("softcap", b.getF64FloatAttr(*softcap)));
  if (structured) {
    // The op's band compares key j with query position i + (Sk - Sq).
    if (structured->band.lower)
      attributes.push_back(b.getNamedAttr(
          "band_lower", b.getI64IntegerAttr(*structured->band.lower - (sk - sq))));
    if (structured->band.upper)
      attributes.push_back(b.getNamedAttr(
          "band_upper", b.getI64IntegerAttr(*structured->band.upper - (sk - sq))));
    attributes.push_back(b.getNamedAttr("band_fill", b.getF64FloatAttr(structured->fill)));
  }
  if (DropoutOp dropout = probabilityChain.dropout)
    attributes.append({b.getNamedAttr("dropout_ratio", dropout.getRatioAttr()),
                       b.getNamedAttr("dropout_site", dropout.getSiteAttr())});
  SmallVector<Value> results =
      b.buildInferred(AttentionOp::getOperationName(), operands, attributes, 2);
  if (results.empty())
    return false;
  Operation *attention = results[0].getDefiningOp();
  Value fused = b.reshape(results[0], output.getType());
  if (b.hasFailed())
    return false;
  output.getResult().replaceAllUsesWith(fused);
  if (options.remarks) {
    InFlightDiagnostic remark = attention->emitRemark()
                                << "fused attention: " << queryHeads << " query heads on "
                                << kvHeads << " key/value heads, scale " << scale;
    remark << (causal ? ", causal" : bias ? ", bias" : structured ? "" : ", no mask");
    if (structured)
      remark << ", band [" << (structured->band.lower ? std::to_string(*structured->band.lower) : "")
             << ", " << (structured->band.upper ? std::to_string(*structured->band.upper) : "")
             << "] of key - query offsets, fill " << structured->fill;
    if (*softcap > 0.0)
      remark << ", soft-cap " << *softcap;
    if (DropoutOp dropout = probabilityChain.dropout)
      remark << ", dropout " << dropout.getRatio().convertToDouble();
  }

  SmallVector<Operation *> dead = {output};
  dead.append(probabilityChain.ops.rbegin(), probabilityChain.ops.rend());
  dead.push_back(softmax);
  for (const ScoreStep &step : scoreChain.steps)
    dead.push_back(step.op);
  dead.push_back(scores);
  eraseDeadOps(dead);
  return true;
}

} // namespace sp::fusion
