//===- RingAttentionKernels.cpp - attention around a ring of ranks --------===//
//
// ring_attention and ring_attention_grad run the ring themselves. Step s of
// N attends the rank's queries to the key/value block of rank r - s, which
// the block_attention kernels compute (their tile math, positions in the
// whole sequence, and bias), while the next block is already in flight from
// rank r - 1: communication overlaps compute, and only two blocks live at
// once, whatever N.
//
// Forward: the blocks merge into (output, logsumexp) by online softmax,
//   lse = logaddexp(lse, lse_b), out = out e^(lse_old - lse) + out_b e^(lse_b -
//   lse),
// with rows that see no key in a block (lse_b = -inf) left as they are.
//
// Backward (FlashAttention-2): with the merged output and logsumexp, each
// block's gradients are block_attention_grad's on that block alone, since
// P = exp(S - lse) recomputes the block's share of the whole softmax. The
// key/value blocks travel as in the forward ring; their dK/dV accumulators
// follow one step behind (sent once a block's gradients are added, received
// while the next block computes), and one last shift brings each rank its
// own block's dK/dV.
//
//===----------------------------------------------------------------------===//

#include "AttentionSupport.h"
#include "CpuKernelSupport.h"

#include "sp/runtime/Collectives.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <cstring>
#include <limits>

namespace sp::runtime::cpu {

namespace {

/// The rank's place in the ring and the sequence layout of the blocks. With
/// `group_size` U > 1 (the hybrid of Ulysses and the ring) the ring runs
/// across the world's groups of U consecutive ranks, each group holding one
/// block: its peers are the ranks U before and after, and `rank` is its
/// group's place in the ring.
struct Ring {
  Communicator *communicator = nullptr;
  int rank = 0;
  int groupSize = 1;
  /// This rank's place inside its group, which its ring peers share.
  int member = 0;
  SequenceLayout layout;
  /// Sequence positions per chunk: the rank's block length over its chunks.
  int64_t chunkLength = 0;

  Ring(const KernelArgs &args, int64_t blockLength) {
    static SingleProcessCommunicator alone;
    const ExecutionContext *context = args.context;
    bool shared = context && context->communicator;
    communicator = shared ? context->communicator : &alone;
    const Attributes &attributes = attributesOf(args);
    groupSize = int(intAttribute(attributes, "group_size", 1));
    int worldRank = shared ? context->rank : 0;
    rank = worldRank / groupSize;
    member = worldRank % groupSize;
    layout.ranks = int(intAttribute(attributes, "num_ranks", 1));
    layout.zigzag = boolAttribute(attributes, "zigzag", false);
    chunkLength = blockLength / layout.chunksPerRank();
  }

  int ranks() const { return layout.ranks; }
  /// The communicator's ranks that this rank sends its blocks to and
  /// receives them from.
  int next() const { return (rank + 1) % layout.ranks * groupSize + member; }
  int previous() const { return (rank + layout.ranks - 1) % layout.ranks * groupSize + member; }
  /// The rank whose block this rank holds at `step`.
  int sourceAt(int64_t step) const { return int((rank - step % ranks() + ranks()) % ranks()); }

  /// Positions in the whole sequence of `owner`'s block, in layout order.
  std::vector<int64_t> positionsOf(int owner) const {
    std::vector<int64_t> positions;
    positions.reserve(size_t(chunkLength * layout.chunksPerRank()));
    for (int piece = 0; piece < layout.chunksPerRank(); ++piece) {
      int64_t start = layout.chunkOf(owner, piece) * chunkLength;
      for (int64_t i = 0; i < chunkLength; ++i)
        positions.push_back(start + i);
    }
    return positions;
  }
};

/// Index of the bias among the inputs.
constexpr size_t kForwardBias = 3, kBackwardBias = 7;

bool hasBias(const KernelArgs &args, size_t index) {
  return args.inputs.size() > index && args.inputs[index].present;
}

/// The bias's shape for one block of `keys` keys: its key columns, when it
/// has more than one, become the block's.
Shape blockBiasShape(const TensorArg &bias, int64_t keys) {
  Shape shape = bias.shape;
  if (!shape.empty() && shape.back() != 1)
    shape.back() = keys;
  return shape;
}

/// The block_attention(_grad) instruction of one step: `inputs` are
/// query, key, value, query_positions, key_positions, then `extra`, then
/// the block's bias (absent when `bias` is null).
KernelArgs blockArgs(const KernelArgs &args, const Attributes &attributes,
                     std::vector<TensorArg> extra, const TensorArg *bias) {
  KernelArgs block;
  block.attributes = &attributes;
  // The dropout's seed and step.
  block.context = args.context;
  block.inputs = {args.inputs[0], args.inputs[1], args.inputs[2]};
  int64_t queries = args.inputs[0].shape[args.inputs[0].shape.size() - 2];
  int64_t keys = args.inputs[1].shape[args.inputs[1].shape.size() - 2];
  block.inputs.push_back({DType::Int64, {queries}, nullptr, true});
  block.inputs.push_back({DType::Int64, {keys}, nullptr, true});
  block.inputs.insert(block.inputs.end(), extra.begin(), extra.end());
  if (bias)
    block.inputs.push_back({bias->dtype, blockBiasShape(*bias, keys), nullptr, true});
  return block;
}

/// The attributes a block kernel reads.
Attributes blockAttributes(const KernelArgs &args) {
  const Attributes &attributes = attributesOf(args);
  Attributes block;
  block.set("scale", floatAttribute(attributes, "scale", 1.0));
  block.set("causal", boolAttribute(attributes, "causal", false));
  // The band compares positions in the whole sequence, as the blocks' do.
  if (attributes.has("band_lower"))
    block.set("band_lower", attributes.getInt("band_lower"));
  if (attributes.has("band_upper"))
    block.set("band_upper", attributes.getInt("band_upper"));
  if (attributes.has("band_fill"))
    block.set("band_fill", attributes.getFloat("band_fill"));
  if (attributes.has("softcap"))
    block.set("softcap", attributes.getFloat("softcap"));
  // The dropout indexes positions in the whole sequence, as the blocks do.
  if (attributes.has("dropout_ratio"))
    block.set("dropout_ratio", attributes.getFloat("dropout_ratio"));
  for (const char *name : {"dropout_site", "dropout_micro_batch", "dropout_sequence_length",
                           "dropout_head_ranks"})
    if (attributes.has(name))
      block.set(name, attributes.getInt(name));
  // A block's keys are not the whole sequence, which the ring's keys are.
  if (attributes.has("dropout_ratio") && !attributes.has("dropout_sequence_length") &&
      args.inputs.size() > 1 && args.inputs[1].shape.size() >= 2)
    block.set("dropout_sequence_length",
              args.inputs[1].shape[args.inputs[1].shape.size() - 2] *
                  intAttribute(attributes, "num_ranks", 1));
  return block;
}

/// Checks what the ring adds to the block kernel's checks: the ranks, the
/// layout, and a bias whose key columns span the whole sequence.
std::string checkRing(const KernelArgs &args, size_t biasIndex, const char *blockKernel,
                      KernelArgs block) {
  const Attributes &attributes = attributesOf(args);
  if (std::string error = firstError({checkIntAttribute(attributes, "num_ranks", true),
                                      checkIntAttribute(attributes, "group_size", false),
                                      checkBoolAttribute(attributes, "zigzag"),
                                      checkAttentionMasks(attributes)});
      !error.empty())
    return error;
  int64_t numRanks = intAttribute(attributes, "num_ranks", 0);
  int64_t groupSize = intAttribute(attributes, "group_size", 1);
  int64_t worldSize = args.context ? args.context->worldSize : 1;
  if (numRanks < 1 || groupSize < 1)
    return "num_ranks " + std::to_string(numRanks) + " and group_size " +
           std::to_string(groupSize) + " must be positive";
  if (numRanks * groupSize != worldSize)
    return (groupSize == 1 ? "num_ranks " + std::to_string(numRanks)
                           : "a ring of " + std::to_string(numRanks) + " groups of " +
                                 std::to_string(groupSize) + " ranks") +
           " differs from the " + std::to_string(worldSize) +
           (worldSize == 1 ? " rank" : " ranks") + " of this run";
  for (size_t i = 0; i < 3; ++i)
    if (std::string error = checkPresent(args, i,
                                         i == 0   ? "query"
                                         : i == 1 ? "key"
                                                  : "value");
        !error.empty())
      return error;
  const TensorArg &query = args.inputs[0], &key = args.inputs[1];
  if (query.shape.size() < 3 || key.shape.size() != query.shape.size())
    return "query and key must have one rank >= 3, got " + describe(query) + " and " +
           describe(key);
  int64_t queries = query.shape[query.shape.size() - 2];
  int64_t keys = key.shape[key.shape.size() - 2];
  bool zigzag = boolAttribute(attributes, "zigzag", false);
  if (queries != keys)
    return "the rank's " + std::to_string(queries) + " queries and " + std::to_string(keys) +
           " keys must be the same block of the sequence";
  if (zigzag && keys % 2 != 0)
    return "a zigzag block of " + std::to_string(keys) +
           " positions does not split into two chunks";
  if (hasBias(args, biasIndex)) {
    const TensorArg &bias = args.inputs[biasIndex];
    if (!bias.shape.empty() && bias.shape.back() != 1 && bias.shape.back() != keys * numRanks)
      return "bias " + describe(bias) + " must have 1 or " + std::to_string(keys * numRanks) +
             " key columns (the whole sequence)";
  }
  Attributes blockAttrs = blockAttributes(args);
  block.attributes = &blockAttrs;
  const Kernel *kernel = findCpuKernel(blockKernel);
  if (!kernel)
    return std::string("no ") + blockKernel + " kernel to compute the ring's blocks";
  return kernel->check(block);
}

std::string checkRingAttention(const KernelArgs &args) {
  if (args.inputs.size() != 3 && args.inputs.size() != 4)
    return "expects 3 or 4 inputs (query, key, value, bias), got " +
           std::to_string(args.inputs.size());
  if (args.outputs.size() != 2)
    return "expects 2 outputs (output, logsumexp), got " + std::to_string(args.outputs.size());
  if (args.inputs[0].shape.size() < 3 || args.inputs[1].shape.size() < 3)
    return "query and key must have rank >= 3, got " + describe(args.inputs[0]) + " and " +
           describe(args.inputs[1]);
  Attributes attributes;
  KernelArgs block = blockArgs(args, attributes, {},
                               hasBias(args, kForwardBias) ? &args.inputs[kForwardBias] : nullptr);
  block.outputs = args.outputs;
  return checkRing(args, kForwardBias, "block_attention", block);
}

std::string checkRingAttentionGrad(const KernelArgs &args) {
  if (args.inputs.size() != 7 && args.inputs.size() != 8)
    return "expects 7 or 8 inputs (query, key, value, output, logsumexp, "
           "output_grad, "
           "logsumexp_grad, bias), got " +
           std::to_string(args.inputs.size());
  if (args.outputs.size() != 3)
    return "expects 3 outputs (query_grad, key_grad, value_grad), got " +
           std::to_string(args.outputs.size());
  if (args.inputs[0].shape.size() < 3 || args.inputs[1].shape.size() < 3)
    return "query and key must have rank >= 3, got " + describe(args.inputs[0]) + " and " +
           describe(args.inputs[1]);
  Attributes attributes;
  KernelArgs block =
      blockArgs(args, attributes, {args.inputs[3], args.inputs[4], args.inputs[5], args.inputs[6]},
                hasBias(args, kBackwardBias) ? &args.inputs[kBackwardBias] : nullptr);
  block.outputs = args.outputs;
  return checkRing(args, kBackwardBias, "block_attention_grad", block);
}

/// The bias columns of the keys at `positions`, or the bias itself when it
/// has one column for every key.
template <typename T>
const T *blockBias(const TensorArg &bias, const std::vector<int64_t> &positions,
                   std::vector<T> &storage) {
  int64_t columns = bias.shape.empty() ? 1 : bias.shape.back();
  if (columns == 1)
    return bias.as<T>();
  int64_t rows = bias.numElements() / columns, keys = int64_t(positions.size());
  storage.resize(size_t(rows * keys));
  const T *whole = bias.as<T>();
  for (int64_t row = 0; row < rows; ++row)
    for (int64_t j = 0; j < keys; ++j)
      storage[size_t(row * keys + j)] = whole[row * columns + positions[size_t(j)]];
  return storage.data();
}

/// Rows whose every key sits at the float minimum (Hugging Face's mask over
/// a query that sees only padding) have a logsumexp that lost its sum
/// (logsumexpLosesTheSum): every block's is the same minimum, so the
/// logsumexp merge would add the blocks' outputs instead of averaging them.
/// One rank gives such a row the mean of the values it sees (softmax of equal
/// scores); the ring gets it from each block's mean weighted by the keys the
/// row sees in that block, and scales the backward pass's blocks likewise.
/// A row sees a key unless the causal mask hides it (a later position) or
/// its bias (the band's fill outside the band) is -inf.
template <typename T> class LostRowKeys {
public:
  LostRowKeys(const KernelArgs &args, const TensorArg *bias,
              const std::vector<int64_t> &queryPositions, int64_t wholeKeys)
      : causal(boolAttribute(attributesOf(args), "causal", false)),
        band(attributesOf(args)), queryPositions(queryPositions) {
    if (!bias)
      return;
    const Shape &query = args.inputs[0].shape;
    AttentionDims dims;
    dims.lead.assign(query.begin(), query.end() - 3);
    dims.batch = product(dims.lead, 0, dims.lead.size());
    dims.queryHeads = query[query.size() - 3];
    dims.sq = query[query.size() - 2];
    dims.sk = wholeKeys;
    layout.emplace(*bias, dims);
    this->bias = bias->as<T>();
  }

  /// Keys at `keyPositions` that row `row` ([heads..., local query]) sees.
  int64_t count(int64_t row, const std::vector<int64_t> &keyPositions) const {
    int64_t localQueries = int64_t(queryPositions.size());
    int64_t head = row / localQueries, i = row % localQueries;
    int64_t position = queryPositions[size_t(i)], seen = 0;
    for (int64_t key : keyPositions) {
      if (causal && key > position)
        continue;
      const T *element = bias ? bias + layout->headOffsets[size_t(head)] + i * layout->rowStride +
                                    key * layout->columnStride
                              : nullptr;
      if (band.value(element, position, key) == -std::numeric_limits<T>::infinity())
        continue;
      ++seen;
    }
    return seen;
  }

private:
  bool causal;
  BandMask<T> band;
  const std::vector<int64_t> &queryPositions;
  const T *bias = nullptr;
  std::optional<BiasLayout> layout;
};

/// Sends `send` to the next rank and receives the previous rank's into
/// `receive`; completes in a later wait().
std::string startShift(const Ring &ring, const void *send, void *receive, int64_t count,
                       DType dtype, CollectiveRequest &request) {
  return ring.communicator->startSendReceive(send, ring.next(), receive, ring.previous(), count,
                                             dtype, request);
}

std::string runRingAttention(const KernelArgs &args) {
  const TensorArg &query = args.inputs[0], &key = args.inputs[1], &value = args.inputs[2];
  Ring ring(args, key.shape[key.shape.size() - 2]);
  const TensorArg *bias = hasBias(args, kForwardBias) ? &args.inputs[kForwardBias] : nullptr;
  Attributes attributes = blockAttributes(args);
  const Kernel *blockKernel = findCpuKernel("block_attention");
  return visitFloat(query.dtype, [&](auto tag) -> std::string {
    using T = decltype(tag);
    int64_t keyCount = key.numElements(), count = keyCount + value.numElements();
    const TensorArg &output = args.outputs[0], &logsumexp = args.outputs[1];
    // In the order ringAttentionWorkspace counts them: the block held now
    // and the one arriving, each [key | value], then one block's results.
    WorkspaceArrays workspace(args);
    T *blocks[2] = {workspace.take<T>(count), workspace.take<T>(count)};
    T *blockOutput = workspace.take<T>(output.numElements());
    T *blockLogsumexp = workspace.take<T>(logsumexp.numElements());
    std::vector<T> biasStorage;
    std::memcpy(blocks[0], key.data, size_t(keyCount) * sizeof(T));
    std::memcpy(blocks[0] + keyCount, value.data, size_t(value.numElements()) * sizeof(T));
    std::vector<int64_t> queryPositions = ring.positionsOf(ring.rank);
    T *out = output.as<T>(), *lse = logsumexp.as<T>();
    int64_t dv = value.shape.back(), rows = logsumexp.numElements();
    LostRowKeys<T> lostRowKeys(args, bias, queryPositions,
                               key.shape[key.shape.size() - 2] * ring.ranks());
    // Rows whose block logsumexp lost its sum: the keys they saw and the sum
    // of each such block's mean times its keys (LostRowKeys).
    std::vector<T> lostKeys, lostSums;
    auto addLostRows = [&](const T *blockOut, const T *blockLse,
                           const std::vector<int64_t> &keyPositions) {
      for (int64_t row = 0; row < rows; ++row) {
        if (!logsumexpLosesTheSum(blockLse[row]))
          continue;
        if (lostKeys.empty()) {
          lostKeys.assign(size_t(rows), T(0));
          lostSums.assign(size_t(rows * dv), T(0));
        }
        T keys = T(lostRowKeys.count(row, keyPositions));
        lostKeys[size_t(row)] += keys;
        for (int64_t c = 0; c < dv; ++c)
          lostSums[size_t(row * dv + c)] += keys * blockOut[row * dv + c];
      }
    };
    for (int64_t step = 0; step < ring.ranks(); ++step) {
      T *held = blocks[step % 2];
      CollectiveRequest request;
      if (step + 1 < ring.ranks())
        if (std::string error =
                startShift(ring, held, blocks[(step + 1) % 2], count, query.dtype, request);
            !error.empty())
          return error;
      std::vector<int64_t> keyPositions = ring.positionsOf(ring.sourceAt(step));
      KernelArgs block = blockArgs(args, attributes, {}, bias);
      block.inputs[1].data = held;
      block.inputs[2].data = held + keyCount;
      block.inputs[3].data = queryPositions.data();
      block.inputs[4].data = keyPositions.data();
      if (bias)
        block.inputs[5].data = const_cast<T *>(blockBias<T>(*bias, keyPositions, biasStorage));
      // Step 0 writes the results; later steps merge into them.
      block.outputs = args.outputs;
      if (step > 0) {
        block.outputs[0].data = blockOutput;
        block.outputs[1].data = blockLogsumexp;
      }
      std::string error = blockKernel->run(block);
      if (error.empty())
        addLostRows(step > 0 ? blockOutput : out, step > 0 ? blockLogsumexp : lse, keyPositions);
      if (error.empty() && step > 0)
        parallelFor(rows, 4 * dv, [&](int64_t begin, int64_t end) {
          for (int64_t row = begin; row < end; ++row) {
            T mine = lse[row], theirs = blockLogsumexp[row];
            if (theirs == -std::numeric_limits<T>::infinity())
              continue;
            T maximum = std::max(mine, theirs);
            T merged = maximum + std::log(std::exp(mine - maximum) + std::exp(theirs - maximum));
            T keep = std::exp(mine - merged), take = std::exp(theirs - merged);
            T *o = out + row * dv;
            const T *b = blockOutput + row * dv;
            for (int64_t c = 0; c < dv; ++c)
              o[c] = o[c] * keep + b[c] * take;
            lse[row] = merged;
          }
        });
      // The shift completes even after a failed block: every rank posts it.
      if (std::string waitError = ring.communicator->wait(request); !waitError.empty())
        return waitError;
      if (!error.empty())
        return error;
    }
    // A row that lost its sum overall lost it in every block it saw keys in.
    for (int64_t row = 0; row < int64_t(lostKeys.size()); ++row)
      if (logsumexpLosesTheSum(lse[row]) && lostKeys[size_t(row)] > T(0))
        for (int64_t c = 0; c < dv; ++c)
          out[row * dv + c] = lostSums[size_t(row * dv + c)] / lostKeys[size_t(row)];
    return "";
  });
}

std::string runRingAttentionGrad(const KernelArgs &args) {
  const TensorArg &query = args.inputs[0], &key = args.inputs[1], &value = args.inputs[2];
  Ring ring(args, key.shape[key.shape.size() - 2]);
  const TensorArg *bias = hasBias(args, kBackwardBias) ? &args.inputs[kBackwardBias] : nullptr;
  Attributes attributes = blockAttributes(args);
  const Kernel *blockKernel = findCpuKernel("block_attention_grad");
  return visitFloat(query.dtype, [&](auto tag) -> std::string {
    using T = decltype(tag);
    int64_t keyCount = key.numElements(), count = keyCount + value.numElements();
    const TensorArg &queryGrad = args.outputs[0];
    // In the order ringAttentionGradWorkspace counts them: key/value blocks
    // [key | value] and their gradient accumulators [dK | dV], one step
    // behind, each the one held now and the one arriving; then one block's
    // gradients.
    WorkspaceArrays workspace(args);
    T *blocks[2] = {workspace.take<T>(count), workspace.take<T>(count)};
    T *accumulators[2] = {workspace.take<T>(count), workspace.take<T>(count)};
    T *blockQueryGrad = workspace.take<T>(queryGrad.numElements());
    T *blockGrads = workspace.take<T>(count);
    std::vector<T> biasStorage;
    std::memcpy(blocks[0], key.data, size_t(keyCount) * sizeof(T));
    std::memcpy(blocks[0] + keyCount, value.data, size_t(value.numElements()) * sizeof(T));
    std::vector<int64_t> queryPositions = ring.positionsOf(ring.rank);
    CollectiveRequest accumulatorRequest;
    std::string failure;
    // Rows whose logsumexp lost its sum (see LostRowKeys): a block
    // normalizes their probabilities by its own keys, so their output
    // gradient (and logsumexp gradient) is scaled by the block's share of
    // the keys the row sees in the whole sequence, which makes each block's
    // share exact.
    const TensorArg &outputGrad = args.inputs[5], &logsumexpGrad = args.inputs[6];
    const T *lse = args.inputs[4].as<T>();
    int64_t rows = args.inputs[4].numElements(), dv = value.shape.back();
    int64_t wholeKeys = key.shape[key.shape.size() - 2] * ring.ranks();
    LostRowKeys<T> lostRowKeys(args, bias, queryPositions, wholeKeys);
    std::vector<int64_t> everyKey(static_cast<size_t>(wholeKeys));
    std::iota(everyKey.begin(), everyKey.end(), 0);
    std::vector<int64_t> lostRows, lostRowsKeys;
    for (int64_t row = 0; row < rows; ++row)
      if (logsumexpLosesTheSum(lse[row])) {
        lostRows.push_back(row);
        lostRowsKeys.push_back(lostRowKeys.count(row, everyKey));
      }
    std::vector<T> scaledOutputGrad, scaledLogsumexpGrad;
    for (int64_t step = 0; step < ring.ranks(); ++step) {
      T *held = blocks[step % 2];
      T *accumulator = accumulators[step % 2];
      CollectiveRequest blockRequest;
      if (step + 1 < ring.ranks())
        if (std::string error =
                startShift(ring, held, blocks[(step + 1) % 2], count, query.dtype, blockRequest);
            !error.empty())
          return error;
      std::vector<int64_t> keyPositions = ring.positionsOf(ring.sourceAt(step));
      KernelArgs block = blockArgs(
          args, attributes, {args.inputs[3], args.inputs[4], args.inputs[5], args.inputs[6]}, bias);
      block.inputs[1].data = held;
      block.inputs[2].data = held + keyCount;
      block.inputs[3].data = queryPositions.data();
      block.inputs[4].data = keyPositions.data();
      if (bias)
        block.inputs[9].data = const_cast<T *>(blockBias<T>(*bias, keyPositions, biasStorage));
      if (!lostRows.empty()) {
        const T *dO = outputGrad.as<T>();
        scaledOutputGrad.assign(dO, dO + outputGrad.numElements());
        if (logsumexpGrad.present) {
          const T *dLse = logsumexpGrad.as<T>();
          scaledLogsumexpGrad.assign(dLse, dLse + logsumexpGrad.numElements());
        }
        for (size_t lost = 0; lost < lostRows.size(); ++lost) {
          int64_t row = lostRows[lost];
          T share = lostRowsKeys[lost] > 0 ? T(lostRowKeys.count(row, keyPositions)) /
                                                 T(lostRowsKeys[lost])
                                           : T(0);
          for (int64_t c = 0; c < dv; ++c)
            scaledOutputGrad[size_t(row * dv + c)] *= share;
          if (logsumexpGrad.present)
            scaledLogsumexpGrad[size_t(row)] *= share;
        }
        block.inputs[7].data = scaledOutputGrad.data();
        if (logsumexpGrad.present)
          block.inputs[8].data = scaledLogsumexpGrad.data();
      }
      // Step 0 writes dQ and the first accumulator; later steps add to them.
      block.outputs = args.outputs;
      T *target = step == 0 ? accumulator : blockGrads;
      block.outputs[1].data = target;
      block.outputs[2].data = target + keyCount;
      if (step > 0)
        block.outputs[0].data = blockQueryGrad;
      if (failure.empty())
        failure = blockKernel->run(block);
      if (step > 0) {
        // The accumulator of the block held now, from the previous rank.
        if (std::string error = ring.communicator->wait(accumulatorRequest); !error.empty())
          return error;
        T *dq = queryGrad.as<T>();
        for (int64_t i = 0; i < queryGrad.numElements(); ++i)
          dq[i] += blockQueryGrad[i];
        for (int64_t i = 0; i < count; ++i)
          accumulator[i] += blockGrads[i];
      }
      // On to the next rank; after the last step, to the block's owner.
      if (std::string error =
              startShift(ring, accumulator, accumulators[(step + 1) % 2], count, query.dtype,
                         accumulatorRequest);
          !error.empty())
        return error;
      if (std::string error = ring.communicator->wait(blockRequest); !error.empty())
        return error;
    }
    if (std::string error = ring.communicator->wait(accumulatorRequest); !error.empty())
      return error;
    if (!failure.empty())
      return failure;
    const T *own = accumulators[ring.ranks() % 2];
    std::memcpy(args.outputs[1].data, own, size_t(keyCount) * sizeof(T));
    std::memcpy(args.outputs[2].data, own + keyCount,
                size_t(value.numElements()) * sizeof(T));
    return "";
  });
}


uint64_t ringAttentionWorkspace(const KernelArgs &args) {
  int64_t count = args.inputs[1].numElements() + args.inputs[2].numElements();
  int64_t bytes = dtypeSize(args.inputs[0].dtype);
  return 2 * workspaceArrayBytes(count, bytes) +
         workspaceArrayBytes(args.outputs[0].numElements(), bytes) +
         workspaceArrayBytes(args.outputs[1].numElements(), bytes);
}

uint64_t ringAttentionGradWorkspace(const KernelArgs &args) {
  int64_t count = args.inputs[1].numElements() + args.inputs[2].numElements();
  int64_t bytes = dtypeSize(args.inputs[0].dtype);
  return 5 * workspaceArrayBytes(count, bytes) +
         workspaceArrayBytes(args.outputs[0].numElements(), bytes);
}

} // namespace

void addRingAttentionKernels(std::vector<Kernel> &kernels) {
  Kernel forward{"ring_attention", checkRingAttention, runRingAttention, true};
  forward.workspace = ringAttentionWorkspace;
  Kernel backward{"ring_attention_grad", checkRingAttentionGrad, runRingAttentionGrad, true};
  backward.workspace = ringAttentionGradWorkspace;
  kernels.push_back(forward);
  kernels.push_back(backward);
}

} // namespace sp::runtime::cpu
