//===- BlockAttentionKernels.cpp - attention between sequence blocks ------===//
//
// block_attention and its gradient: attention whose causal mask compares the
// query's and key's positions in the whole sequence (operands), as the
// sequence-parallel attention strategies need. A task takes a block of query
// rows of one head; BLAS computes its scores against the keys it may see, a
// row-wise softmax makes them probabilities, and BLAS multiplies them by V.
// Positions come sorted from the strategies (contiguous chunks, or a zigzag
// rank's two chunks in order), so a block's keys end at the last one its
// latest query sees; other positions are masked key by key. A row that sees
// no key gets a zero output and a logsumexp of -inf; the backward pass skips
// such rows. A NaN score makes its row's logsumexp, and so its output, NaN,
// as softmax followed by a matmul would; a NaN value reaches its column of
// every row (propagateValueNaN). The gradient also takes the logsumexp's gradient, since ring
// attention merges blocks by it:
//   dS = P * (dO V^T - (rowsum(dO * O) - dlse)).
//
// The backward pass runs one task per (batch, key/value head): the dK and dV
// it writes are its own, and so are the dQ of the query heads that read it.
//
//===----------------------------------------------------------------------===//

#include "AttentionSupport.h"
#include "FastMath.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <optional>

namespace sp::runtime::cpu {

namespace {

/// Query rows per task: a [64, Sk] tile of scores and one of probabilities.
constexpr int64_t kQueryRows = 64;

/// Checks query, key, value, the positions and the optional bias; fills `dims`.
std::string checkBlockOperands(const KernelArgs &args, size_t biasIndex, AttentionDims &dims) {
  const TensorArg &query = args.inputs[0], &key = args.inputs[1], &value = args.inputs[2];
  if (std::string error =
          firstError({checkPresent(args, 0, "query"), checkPresent(args, 1, "key"),
                      checkPresent(args, 2, "value"), checkPresent(args, 3, "query_positions"),
                      checkPresent(args, 4, "key_positions"),
                      checkQueryKeyValue(query, key, value, dims),
                      checkDType(args.inputs[3], DType::Int64, "query_positions"),
                      checkDType(args.inputs[4], DType::Int64, "key_positions")});
      !error.empty())
    return error;
  if (std::string error = firstError({checkShape(args.inputs[3], {dims.sq}, "query_positions"),
                                      checkShape(args.inputs[4], {dims.sk}, "key_positions")});
      !error.empty())
    return error;
  if (args.inputs.size() > biasIndex && args.inputs[biasIndex].present) {
    const TensorArg &bias = args.inputs[biasIndex];
    Shape scores = dims.with({dims.queryHeads, dims.sq, dims.sk});
    if (bias.dtype != query.dtype || !broadcastsTo(bias.shape, scores))
      return "bias " + describe(bias) + " does not broadcast to the scores " + formatShape(scores) +
             " of " + dtypeName(query.dtype);
  }
  return firstError({checkFloatAttribute(attributesOf(args), "scale", true),
                     checkBoolAttribute(attributesOf(args), "causal"),
                     checkAttentionMasks(attributesOf(args))});
}

/// Everything one instruction's rows read.
template <typename T> struct BlockProblem {
  AttentionDims dims;
  T scale = 1;
  bool causal = false;
  const T *query = nullptr, *key = nullptr, *value = nullptr, *bias = nullptr;
  const int64_t *queryPositions = nullptr, *keyPositions = nullptr;
  /// Where each bias element lives; set with a bias tensor or a band mask.
  std::optional<BiasLayout> biasLayout;
  BandMask<T> band;
  AttentionDropout<T> dropout;
  SoftCap<T> softcap;

  /// `mustBeFinite`: the inputs whose non-finite values would reach the
  /// result through keys the bias hides; when they are finite, a block of
  /// rows stops at the last key its bias lets a row see (biasKeyEnds).
  BlockProblem(const KernelArgs &args, size_t biasIndex,
               std::initializer_list<size_t> mustBeFinite) {
    checkBlockOperands(args, biasIndex, dims);
    const Attributes &attributes = attributesOf(args);
    scale = T(floatAttribute(attributes, "scale", 1.0));
    causal = boolAttribute(attributes, "causal", false);
    query = args.inputs[0].as<T>();
    key = args.inputs[1].as<T>();
    value = args.inputs[2].as<T>();
    queryPositions = args.inputs[3].as<int64_t>();
    keyPositions = args.inputs[4].as<int64_t>();
    band = BandMask<T>(attributes);
    dropout = AttentionDropout<T>(args, dims);
    softcap = SoftCap<T>(attributes);
    bool hasBias = args.inputs.size() > biasIndex && args.inputs[biasIndex].present;
    if (hasBias || band.present) {
      if (hasBias) {
        bias = args.inputs[biasIndex].as<T>();
        biasLayout.emplace(args.inputs[biasIndex], dims);
      } else {
        biasLayout.emplace(dims);
      }
      if (inputsFinite<T>(args, mustBeFinite))
        findBiasKeyEnds();
    }
    keysSorted = std::is_sorted(keyPositions, keyPositions + dims.sk);
  }

  /// For each head's block of kQueryRows rows, one past the last key the
  /// bias lets one of its rows see; the whole key range where a row sees
  /// none (its softmax is even over every key). A Hugging Face mask holds
  /// the causal triangle, so each block stops at its diagonal.
  void findBiasKeyEnds() {
    int64_t blocks = (dims.sq + kQueryRows - 1) / kQueryRows;
    const BiasLayout &layout = *biasLayout;
    // Per bias plane: heads that broadcast one share its ends.
    std::vector<int64_t> planeEnds(layout.planeOffsets.size() * size_t(blocks));
    for (size_t plane = 0; plane < layout.planeOffsets.size(); ++plane)
      for (int64_t block = 0; block < blocks; ++block) {
        int64_t i0 = block * kQueryRows, rows = std::min(kQueryRows, dims.sq - i0);
        int64_t end = 0;
        bool everyRowSees = true;
        for (int64_t r = 0; r < rows && everyRowSees; ++r) {
          const T *row = bias ? bias + layout.planeOffsets[plane] + (i0 + r) * layout.rowStride
                              : nullptr;
          int64_t last = dims.sk, position = queryPositions[i0 + r];
          while (last > 0 &&
                 biasHidesKey(band.value(row ? row + (last - 1) * layout.columnStride : nullptr,
                                         position, keyPositions[last - 1])))
            --last;
          everyRowSees = last > 0;
          end = std::max(end, last);
        }
        planeEnds[plane * size_t(blocks) + size_t(block)] = everyRowSees ? end : dims.sk;
      }
    biasKeyEnds.resize(layout.planeOfHead.size() * size_t(blocks));
    for (size_t head = 0; head < layout.planeOfHead.size(); ++head)
      std::copy_n(planeEnds.begin() + layout.planeOfHead[head] * blocks, blocks,
                  biasKeyEnds.begin() + int64_t(head) * blocks);
  }

  int64_t kvHead(int64_t bh) const {
    return (bh / dims.queryHeads) * dims.kvHeads + (bh % dims.queryHeads) / dims.group();
  }
  const T *queryRow(int64_t bh, int64_t i) const { return query + (bh * dims.sq + i) * dims.d; }
  const T *keyRow(int64_t kv, int64_t j) const { return key + (kv * dims.sk + j) * dims.d; }
  const T *valueRow(int64_t kv, int64_t j) const { return value + (kv * dims.sk + j) * dims.dv; }

  /// One past the last key that rows [i0, i0 + rows) of head bh may see.
  int64_t keyEnd(int64_t bh, int64_t i0, int64_t rows) const {
    int64_t end = dims.sk;
    if (!biasKeyEnds.empty())
      end = biasKeyEnds[size_t(bh * ((dims.sq + kQueryRows - 1) / kQueryRows) + i0 / kQueryRows)];
    if (!causal || !keysSorted)
      return end;
    int64_t latest = *std::max_element(queryPositions + i0, queryPositions + i0 + rows);
    return std::min<int64_t>(
        end, std::upper_bound(keyPositions, keyPositions + dims.sk, latest) - keyPositions);
  }

  /// scores[r][j] = scale * q_(i0+r) . k_j (soft-capped) + bias, -inf where
  /// the mask hides the key, for the keys [0, keys); `scores` has `keys`
  /// columns. With a soft-cap, `capDerivatives` (when given) gets each
  /// score's 1 - tanh^2.
  void blockScores(int64_t bh, int64_t i0, int64_t rows, int64_t keys, T *scores,
                   T *capDerivatives = nullptr) const {
    blasGemm(false, true, rows, keys, dims.d, scale, queryRow(bh, i0), dims.d,
             keyRow(kvHead(bh), 0), dims.d, T(0), scores, keys);
    if (softcap.present())
      softcap.apply(scores, rows * keys, capDerivatives);
    constexpr T kNegInf = -std::numeric_limits<T>::infinity();
    for (int64_t r = 0; r < rows; ++r) {
      T *row = scores + r * keys;
      if (biasLayout) {
        // Keys sit at arbitrary positions: each element goes through the band.
        const T *biasRowStart =
            bias ? bias + biasLayout->headOffsets[size_t(bh)] + (i0 + r) * biasLayout->rowStride
                 : nullptr;
        int64_t position = queryPositions[i0 + r];
        int64_t stride = biasLayout->columnStride;
        for (int64_t j = 0; j < keys; ++j)
          row[j] += band.value(biasRowStart ? biasRowStart + j * stride : nullptr, position,
                               keyPositions[j]);
      }
      if (causal) {
        int64_t position = queryPositions[i0 + r];
        for (int64_t j = 0; j < keys; ++j)
          row[j] = keyPositions[j] > position ? kNegInf : row[j];
      }
    }
  }

  /// Turns a row of scores into probabilities in place (softmaxFromLogsumexp).
  /// A row whose logsumexp lost its sum is normalized by this block's keys
  /// alone, which is the whole row for allgather; ring attention never gets
  /// such rows (its strategy keeps every row's own key visible).
  static void probabilities(T *row, int64_t keys, T lse) { softmaxFromLogsumexp(row, keys, lse); }

  /// The dropout factors of row i's first `keys` keys (dropout.present).
  void dropoutFactors(int64_t bh, int64_t i, int64_t keys, T *factors) const {
    dropout.factors(dropout.rowStart(bh, queryPositions[i]), keyPositions, keys, factors);
  }

  bool keysSorted = true;
  /// Per head and block of rows: see findBiasKeyEnds; empty when unused.
  std::vector<int64_t> biasKeyEnds;
};

std::string checkBlockAttention(const KernelArgs &args) {
  if (args.inputs.size() != 5 && args.inputs.size() != 6)
    return "expects 5 or 6 inputs (query, key, value, query_positions, key_positions, bias), "
           "got " +
           std::to_string(args.inputs.size());
  if (args.outputs.size() != 2)
    return "expects 2 outputs (output, logsumexp), got " + std::to_string(args.outputs.size());
  AttentionDims dims;
  if (std::string error = checkBlockOperands(args, 5, dims); !error.empty())
    return error;
  DType dtype = args.inputs[0].dtype;
  return firstError(
      {checkDType(args.outputs[0], dtype, "output"),
       checkShape(args.outputs[0], dims.with({dims.queryHeads, dims.sq, dims.dv}), "output"),
       checkDType(args.outputs[1], dtype, "logsumexp"),
       checkShape(args.outputs[1], dims.with({dims.queryHeads, dims.sq}), "logsumexp")});
}

std::string runBlockAttention(const KernelArgs &args) {
  visitFloat(args.inputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    BlockProblem<T> p(args, 5, {0, 1, 2});
    const AttentionDims &dims = p.dims;
    T *output = args.outputs[0].as<T>();
    T *logsumexp = args.outputs[1].as<T>();
    int64_t blocks = (dims.sq + kQueryRows - 1) / kQueryRows;
    int64_t tasks = dims.batch * dims.queryHeads * blocks;
    parallelFor(tasks, kQueryRows * dims.sk * (dims.d + dims.dv), [&](int64_t begin, int64_t end) {
      std::vector<T> scores, factors;
      for (int64_t task = begin; task < end; ++task) {
        int64_t bh = task / blocks, i0 = (task % blocks) * kQueryRows;
        int64_t rows = std::min(kQueryRows, dims.sq - i0), keys = p.keyEnd(bh, i0, rows);
        T *out = output + (bh * dims.sq + i0) * dims.dv;
        T *lse = logsumexp + bh * dims.sq + i0;
        std::fill(out, out + rows * dims.dv, T(0));
        if (keys == 0) {
          std::fill(lse, lse + rows, -std::numeric_limits<T>::infinity());
          continue;
        }
        scores.resize(rows * keys);
        p.blockScores(bh, i0, rows, keys, scores.data());
        for (int64_t r = 0; r < rows; ++r) {
          T *row = scores.data() + r * keys;
          T maximum = *std::max_element(row, row + keys);
          if (maximum == -std::numeric_limits<T>::infinity()) {
            // Sees no key: a zero row of probabilities, a zero output; unless
            // a score is NaN (max_element may pass over it), which makes the
            // probabilities exp(s - NaN) NaN.
            bool poisoned =
                std::any_of(row, row + keys, [](T score) { return std::isnan(score); });
            lse[r] = poisoned ? std::numeric_limits<T>::quiet_NaN() : maximum;
            BlockProblem<T>::probabilities(row, keys, lse[r]);
            continue;
          }
          T sum = 0;
#pragma omp simd reduction(+ : sum)
          for (int64_t j = 0; j < keys; ++j)
            sum += expOf(row[j] - maximum);
          lse[r] = maximum + std::log(sum);
          BlockProblem<T>::probabilities(row, keys, lse[r]);
          // The logsumexp is the undropped one; the output sums the kept.
          if (p.dropout.present) {
            factors.resize(size_t(keys));
            p.dropout.drop(row, p.dropout.rowStart(bh, p.queryPositions[i0 + r]),
                           p.keyPositions, keys, factors.data());
          }
        }
        blasGemm(false, false, rows, dims.dv, keys, T(1), scores.data(), keys,
                 p.valueRow(p.kvHead(bh), 0), dims.dv, T(0), out, dims.dv);
      }
    });
    propagateValueNaN(dims, args.inputs[2].as<T>(), output);
  });
  return {};
}

std::string checkBlockAttentionGrad(const KernelArgs &args) {
  if (args.inputs.size() != 9 && args.inputs.size() != 10)
    return "expects 9 or 10 inputs (query, key, value, query_positions, key_positions, "
           "output, logsumexp, output_grad, logsumexp_grad, bias), got " +
           std::to_string(args.inputs.size());
  if (args.outputs.size() != 3)
    return "expects 3 outputs (query_grad, key_grad, value_grad), got " +
           std::to_string(args.outputs.size());
  AttentionDims dims;
  if (std::string error = checkBlockOperands(args, 9, dims); !error.empty())
    return error;
  DType dtype = args.inputs[0].dtype;
  Shape output = dims.with({dims.queryHeads, dims.sq, dims.dv});
  Shape rows = dims.with({dims.queryHeads, dims.sq});
  return firstError({checkPresent(args, 5, "output"), checkPresent(args, 6, "logsumexp"),
                     checkPresent(args, 7, "output_grad"), checkPresent(args, 8, "logsumexp_grad"),
                     checkDType(args.inputs[5], dtype, "output"),
                     checkShape(args.inputs[5], output, "output"),
                     checkDType(args.inputs[6], dtype, "logsumexp"),
                     checkShape(args.inputs[6], rows, "logsumexp"),
                     checkDType(args.inputs[7], dtype, "output_grad"),
                     checkShape(args.inputs[7], output, "output_grad"),
                     checkDType(args.inputs[8], dtype, "logsumexp_grad"),
                     checkShape(args.inputs[8], rows, "logsumexp_grad"),
                     checkSameType(args.outputs[0], args.inputs[0], "query_grad"),
                     checkSameType(args.outputs[1], args.inputs[1], "key_grad"),
                     checkSameType(args.outputs[2], args.inputs[2], "value_grad")});
}

std::string runBlockAttentionGrad(const KernelArgs &args) {
  visitFloat(args.inputs[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    // Query, key, value, the output and both gradients: 0 * NaN is NaN.
    BlockProblem<T> p(args, 9, {0, 1, 2, 5, 7, 8});
    const AttentionDims &dims = p.dims;
    const T *output = args.inputs[5].as<T>(), *logsumexp = args.inputs[6].as<T>();
    const T *outputGrad = args.inputs[7].as<T>(), *logsumexpGrad = args.inputs[8].as<T>();
    T *queryGrad = args.outputs[0].as<T>(), *keyGrad = args.outputs[1].as<T>(),
      *valueGrad = args.outputs[2].as<T>();
    std::fill(queryGrad, queryGrad + args.outputs[0].numElements(), T(0));
    std::fill(keyGrad, keyGrad + args.outputs[1].numElements(), T(0));
    std::fill(valueGrad, valueGrad + args.outputs[2].numElements(), T(0));
    int64_t pairs = dims.batch * dims.kvHeads;
    int64_t cost = dims.group() * dims.sq * dims.sk * (3 * dims.d + 2 * dims.dv);
    parallelFor(pairs, cost, [&](int64_t begin, int64_t end) {
      std::vector<T> probabilities, gradients, factors, capDerivatives, rowDots(kQueryRows);
      for (int64_t pair = begin; pair < end; ++pair) {
        int64_t b = pair / dims.kvHeads, kvInBatch = pair % dims.kvHeads;
        T *dK = keyGrad + pair * dims.sk * dims.d;
        T *dV = valueGrad + pair * dims.sk * dims.dv;
        for (int64_t h = kvInBatch * dims.group(); h < (kvInBatch + 1) * dims.group(); ++h) {
          int64_t bh = b * dims.queryHeads + h;
          for (int64_t i0 = 0; i0 < dims.sq; i0 += kQueryRows) {
            int64_t rows = std::min(kQueryRows, dims.sq - i0), keys = p.keyEnd(bh, i0, rows);
            if (keys == 0)
              continue;
            int64_t row0 = bh * dims.sq + i0;
            const T *dO = outputGrad + row0 * dims.dv;
            probabilities.resize(rows * keys);
            gradients.resize(rows * keys);
            if (p.softcap.present())
              capDerivatives.resize(rows * keys);
            p.blockScores(bh, i0, rows, keys, probabilities.data(),
                          p.softcap.present() ? capDerivatives.data() : nullptr);
            for (int64_t r = 0; r < rows; ++r) {
              BlockProblem<T>::probabilities(probabilities.data() + r * keys, keys,
                                             logsumexp[row0 + r]);
              const T *o = output + (row0 + r) * dims.dv, *dOr = dO + r * dims.dv;
              T dot = 0;
#pragma omp simd reduction(+ : dot)
              for (int64_t c = 0; c < dims.dv; ++c)
                dot += dOr[c] * o[c];
              rowDots[r] = dot - logsumexpGrad[row0 + r];
            }
            // dP = dO V^T, then dS = P * (dP - D) in place; with dropout
            // factors Z, the output reads P * Z: dP = Z * (dO V^T), and P
            // becomes P * Z for dV.
            blasGemm(false, true, rows, keys, dims.dv, T(1), dO, dims.dv, p.valueRow(pair, 0),
                     dims.dv, T(0), gradients.data(), keys);
            if (p.dropout.present)
              factors.resize(size_t(keys));
            for (int64_t r = 0; r < rows; ++r) {
              if (p.dropout.present)
                p.dropoutFactors(bh, i0 + r, keys, factors.data());
              probabilityGradientRow(probabilities.data() + r * keys, gradients.data() + r * keys,
                                     p.dropout.present ? factors.data() : nullptr, rowDots[r],
                                     keys);
            }
            // Through the soft-cap: d(cap tanh(s / cap)) / ds = 1 - tanh^2.
            if (p.softcap.present())
              for (int64_t e = 0; e < rows * keys; ++e)
                gradients[size_t(e)] *= capDerivatives[size_t(e)];
            // dV += (P * Z)^T dO
            blasGemm(true, false, keys, dims.dv, rows, T(1), probabilities.data(), keys, dO,
                     dims.dv, T(1), dV, dims.dv);
            // dK += scale dS^T Q, dQ += scale dS K
            blasGemm(true, false, keys, dims.d, rows, p.scale, gradients.data(), keys,
                     p.queryRow(bh, i0), dims.d, T(1), dK, dims.d);
            blasGemm(false, false, rows, dims.d, keys, p.scale, gradients.data(), keys,
                     p.keyRow(pair, 0), dims.d, T(1), queryGrad + row0 * dims.d, dims.d);
          }
        }
      }
    });
  });
  return {};
}

} // namespace

void addBlockAttentionKernels(std::vector<Kernel> &kernels) {
  kernels.push_back({"block_attention", checkBlockAttention, runBlockAttention});
  kernels.push_back({"block_attention_grad", checkBlockAttentionGrad, runBlockAttentionGrad});
}

} // namespace sp::runtime::cpu
