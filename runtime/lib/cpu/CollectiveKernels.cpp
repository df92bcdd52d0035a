//===- CollectiveKernels.cpp - kernels that span the ranks ----------------===//
//
// The sequence-parallel ops of GraphCollectives.td on the CPU: all_gather,
// reduce_scatter (sum), all_reduce (sum), all_to_all and ring_shift, each
// blocking and as a `*_start` whose `wait` completes it, and shard_slice and
// shard_unslice, which need the rank but no communication.
//
// The communicator moves rank-major buffers; these kernels put the pieces
// where the sequence layout wants them (SequenceLayout): packing a send
// buffer before a reduce_scatter or an all_to_all, unpacking what an
// all_gather or an all_to_all received. With one rank, or a contiguous layout
// and nothing but unit dims before the axis, there is nothing to pack and
// the communicator reads and writes the tensors themselves.
//
// Layouts (the `zigzag` attribute): all_gather returns the whole in sequence
// order; reduce_scatter and shard_slice give this rank's chunks in layout
// order; shard_unslice writes them in place in zeros. all_to_all lays out
// each of its axes, the one `zigzag_axis` names zigzag and the other
// contiguously: piece j of split_axis is rank j's shard in its layout, and
// the piece from rank q lands along concat_axis where rank q's shard lies, so
// that the all_to_all with the axes swapped is its inverse (Ulysses: the
// sequence is the concat axis going into attention and the split axis coming
// out, zigzag under the ring's layout; the heads stay contiguous, so that
// grouped key/value heads keep their query heads).
//
// A `*_start` posts its communication into its future's bytes and records
// the request in the session's PendingCollectives, keyed by those bytes;
// `wait` completes it and unpacks in place. The planner keeps the start's
// input and the future alive until the wait, so the communicator may read and
// write them meanwhile; packed send bytes live in the pending operation.
//
//===----------------------------------------------------------------------===//

#include "CpuKernelSupport.h"

#include "sp/Semantics/Collectives.h"
#include "sp/runtime/Collectives.h"

namespace sp::runtime::cpu {

namespace {

using Kind = semantics::CollectiveKind;
using semantics::splitsAxis;

/// What one instruction does, from its attributes and the execution context.
struct Collective {
  Kind kind;
  int rank = 0;
  Communicator *communicator = nullptr;
  PendingCollectives *pending = nullptr;
  /// The layout of `axis`; all_to_all's concat axis has its own.
  SequenceLayout layout, concatLayout;
  int64_t axis = 0;       // the split axis (all_to_all: split_axis)
  int64_t concatAxis = 0; // all_to_all
  /// all_to_all: the world's groups of `num_ranks` consecutive ranks, each
  /// exchanging among itself (the hybrid of Ulysses and the ring).
  int64_t groups = 1;
  int64_t offset = 0; // ring_shift

  Collective(Kind kind, const KernelArgs &args) : kind(kind) {
    static SingleProcessCommunicator alone;
    const ExecutionContext *context = args.context;
    communicator = context && context->communicator ? context->communicator : &alone;
    rank = context && context->communicator ? context->rank : 0;
    pending = context ? context->pending : nullptr;
    const Attributes &attributes = attributesOf(args);
    layout.ranks = int(intAttribute(attributes, "num_ranks", 1));
    layout.zigzag = boolAttribute(attributes, "zigzag", false);
    int64_t rankOfInput = int64_t(args.inputs[0].shape.size());
    if (kind == Kind::AllToAll) {
      axis = *normalizeAxis(intAttribute(attributes, "split_axis", 0), rankOfInput);
      concatAxis = *normalizeAxis(intAttribute(attributes, "concat_axis", 0), rankOfInput);
      std::optional<int64_t> zigzagAxis;
      if (attributes.has("zigzag_axis"))
        zigzagAxis = normalizeAxis(intAttribute(attributes, "zigzag_axis", 0), rankOfInput);
      layout.zigzag = zigzagAxis == axis;
      concatLayout = {layout.ranks, zigzagAxis == concatAxis};
    } else if (splitsAxis(kind)) {
      axis = *normalizeAxis(intAttribute(attributes, "axis", 0), rankOfInput);
    }
    offset = intAttribute(attributes, "offset", 0);
    groups = intAttribute(attributes, "num_groups", 1);
  }
};

/// Scratch bytes: the session's, reused across steps, or this call's own.
class Scratch {
public:
  explicit Scratch(PendingCollectives *pending) : pending_(pending) {}
  char *get(size_t bytes) {
    if (pending_)
      return pending_->scratch(bytes);
    local_.resize(bytes);
    return local_.data();
  }

private:
  PendingCollectives *pending_;
  std::vector<char> local_;
};

int64_t byteSize(const TensorArg &tensor) { return tensor.numElements() * dtypeSize(tensor.dtype); }

//===----------------------------------------------------------------------===//
// Checking
//===----------------------------------------------------------------------===//

std::string checkCollective(Kind kind, const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "input")});
      !error.empty())
    return error;
  const TensorArg &input = args.inputs[0], &output = args.outputs[0];
  const Attributes &attributes = attributesOf(args);
  int64_t rank = int64_t(input.shape.size());
  std::string error = firstError(
      {checkIntAttribute(attributes, "num_ranks", true), checkBoolAttribute(attributes, "zigzag")});
  if (!error.empty())
    return error;
  auto checkAxis = [&](const char *name) -> std::string {
    if (std::string problem = checkIntAttribute(attributes, name, true); !problem.empty())
      return problem;
    int64_t axis = intAttribute(attributes, name, 0);
    if (!normalizeAxis(axis, rank))
      return std::string(name) + " " + std::to_string(axis) + " is out of range for " +
             describe(input);
    return "";
  };
  if (kind == Kind::AllToAll) {
    error = firstError({checkAxis("split_axis"), checkAxis("concat_axis"),
                        checkIntAttribute(attributes, "num_groups", false)});
    if (error.empty() && attributes.has("zigzag_axis")) {
      error = checkAxis("zigzag_axis");
      auto normalized = [&](const char *name) {
        return normalizeAxis(intAttribute(attributes, name, 0), rank);
      };
      if (error.empty() && normalized("zigzag_axis") != normalized("split_axis") &&
          normalized("zigzag_axis") != normalized("concat_axis"))
        error = "zigzag_axis " + std::to_string(intAttribute(attributes, "zigzag_axis", 0)) +
                " is neither split_axis nor concat_axis";
    }
  } else if (splitsAxis(kind))
    error = checkAxis("axis");
  else if (kind == Kind::RingShift)
    error = checkIntAttribute(attributes, "offset", true);
  if (!error.empty())
    return error;

  int64_t numRanks = intAttribute(attributes, "num_ranks", 0);
  int64_t numGroups = intAttribute(attributes, "num_groups", 1);
  int64_t worldSize = args.context ? args.context->worldSize : 1;
  if (numRanks < 1 || numGroups < 1)
    return "num_ranks " + std::to_string(numRanks) + " and num_groups " +
           std::to_string(numGroups) + " must be positive";
  if (numRanks * numGroups != worldSize)
    return (numGroups == 1
                ? "num_ranks " + std::to_string(numRanks)
                : std::to_string(numGroups) + " groups of " + std::to_string(numRanks) + " ranks") +
           " differs from the " + std::to_string(worldSize) +
           (worldSize == 1 ? " rank" : " ranks") + " of this run";
  if (semantics::sumsAcrossRanks(kind)) {
    if (std::string problem = checkReducible(input.dtype); !problem.empty())
      return "input: " + problem;
  }

  Collective collective(kind, args);
  // The dims that are whole sequences must split into the layout's chunks.
  auto checkWhole = [&](const Shape &whole, int64_t axis, const char *role,
                        const SequenceLayout &layout) -> std::string {
    if (std::string problem = layout.checkSplits(whole[size_t(axis)]); !problem.empty())
      return std::string(role) + " " + formatShape(whole) + ", dim " + std::to_string(axis) + ": " +
             problem;
    return "";
  };
  // The layout's chunks first (they say more than "does not split"), then
  // the result's shape as type inference computes it.
  Shape expected = input.shape;
  if (kind == Kind::ReduceScatter || kind == Kind::ShardSlice || kind == Kind::AllToAll)
    error = checkWhole(input.shape, collective.axis, "input", collective.layout);
  if (error.empty())
    error = semantics::collectiveResultShape(kind, expected, collective.axis,
                                             collective.concatAxis, numRanks,
                                             /*unknown=*/-1);
  if (error.empty() && (kind == Kind::AllGather || kind == Kind::ShardUnslice))
    error = checkWhole(expected, collective.axis, "the whole", collective.layout);
  if (error.empty() && kind == Kind::AllToAll)
    error = checkWhole(expected, collective.concatAxis, "result", collective.concatLayout);
  if (!error.empty())
    return error;
  return checkSameType(output, TensorArg{input.dtype, expected, nullptr, true}, "result");
}

template <Kind K> std::string check(const KernelArgs &args) { return checkCollective(K, args); }

std::string checkWait(const KernelArgs &args) {
  if (std::string error = firstError({checkArity(args, 1, 1), checkPresent(args, 0, "future")});
      !error.empty())
    return error;
  return checkSameType(args.outputs[0], args.inputs[0], "result");
}

//===----------------------------------------------------------------------===//
// Running
//===----------------------------------------------------------------------===//

int positiveModulo(int64_t value, int64_t modulus) {
  return int(((value % modulus) + modulus) % modulus);
}

/// Whether `collective` sends a packed copy of its input rather than the
/// input itself.
bool packsInput(const Collective &collective, const TensorArg &input) {
  return (collective.kind == Kind::ReduceScatter || collective.kind == Kind::AllToAll) &&
         !collective.layout.isRankMajor(input.shape, collective.axis);
}

/// Whether what arrives must be reordered into the output.
bool unpacksOutput(const Collective &collective, const TensorArg &output) {
  if (collective.kind == Kind::AllGather)
    return !collective.layout.isRankMajor(output.shape, collective.axis);
  if (collective.kind == Kind::AllToAll)
    return !collective.concatLayout.isRankMajor(output.shape, collective.concatAxis);
  return false;
}

/// Posts the communication of `collective` from `input` to `output` into
/// `operation`, or does all of it when it needs none. Packed send bytes go to
/// `sendStaging`, else to the operation's staging; rank-major received bytes
/// to `receiveStaging`, else to the output, to be reordered in place. Sets
/// `operation.finish` to what must follow the wait.
std::string post(const Collective &collective, const TensorArg &input, const TensorArg &output,
                 PendingCollectives::Operation &operation, char *sendStaging,
                 char *receiveStaging) {
  const SequenceLayout &layout = collective.layout;
  Communicator &communicator = *collective.communicator;
  DType dtype = input.dtype;
  int64_t elementBytes = dtypeSize(dtype);
  operation.finish = nullptr;
  operation.request = {};

  const void *send = input.data;
  if (packsInput(collective, input)) {
    if (!sendStaging) {
      operation.staging.resize(size_t(byteSize(input)));
      sendStaging = operation.staging.data();
    }
    layout.packRanks(input.data, sendStaging, input.shape, collective.axis, elementBytes);
    send = sendStaging;
  }
  void *receive = output.data;
  if (unpacksOutput(collective, output)) {
    bool exchange = collective.kind == Kind::AllToAll;
    int64_t axis = exchange ? collective.concatAxis : collective.axis;
    SequenceLayout unpacked = exchange ? collective.concatLayout : layout;
    if (receiveStaging) {
      receive = receiveStaging;
      operation.finish = [=, data = output.data, shape = output.shape]() {
        unpacked.unpackRanks(receiveStaging, data, shape, axis, elementBytes);
      };
    } else {
      operation.finish = [pending = collective.pending, data = output.data, shape = output.shape,
                          axis, unpacked, elementBytes, bytes = size_t(byteSize(output))]() {
        Scratch scratch(pending);
        char *received = scratch.get(bytes);
        std::memcpy(received, data, bytes);
        unpacked.unpackRanks(received, data, shape, axis, elementBytes);
      };
    }
  }

  switch (collective.kind) {
  case Kind::AllGather:
    return communicator.startAllGather(send, receive, input.numElements(), dtype,
                                       operation.request);
  case Kind::ReduceScatter:
    return communicator.startReduceScatter(send, receive, output.numElements(), dtype,
                                           operation.request);
  case Kind::AllReduce:
    return communicator.startAllReduce(send, receive, input.numElements(), dtype,
                                       operation.request);
  case Kind::AllToAll:
    return communicator.startAllToAll(send, receive, input.numElements() / layout.ranks, dtype,
                                      layout.ranks, operation.request);
  case Kind::RingShift: {
    int destination = positiveModulo(collective.rank + collective.offset, layout.ranks);
    int source = positiveModulo(collective.rank - collective.offset, layout.ranks);
    if (destination == collective.rank) {
      std::memcpy(output.data, input.data, size_t(byteSize(input)));
      return "";
    }
    return communicator.startSendReceive(send, destination, receive, source, input.numElements(),
                                         dtype, operation.request);
  }
  case Kind::ShardSlice:
    layout.extractShard(input.data, output.data, input.shape, collective.axis, collective.rank,
                        elementBytes);
    return "";
  case Kind::ShardUnslice:
    std::memset(output.data, 0, size_t(byteSize(output)));
    layout.insertShard(input.data, output.data, output.shape, collective.axis, collective.rank,
                       elementBytes);
    return "";
  }
  return "";
}

/// Waits for `operation` and puts what arrived in place.
std::string complete(Communicator &communicator, PendingCollectives::Operation &operation) {
  operation.inFlight = false;
  if (std::string error = communicator.wait(operation.request); !error.empty())
    return error;
  if (operation.finish)
    operation.finish();
  return "";
}

/// The blocking form: post and wait at once, packing into and receiving
/// through scratch bytes (the session's, reused), so that reordering costs
/// one copy each way.
template <Kind K> std::string runBlocking(const KernelArgs &args) {
  Collective collective(K, args);
  const TensorArg &input = args.inputs[0], &output = args.outputs[0];
  bool packs = packsInput(collective, input), unpacks = unpacksOutput(collective, output);
  size_t sendBytes = packs ? size_t(byteSize(input)) : 0;
  Scratch scratch(collective.pending);
  char *staging = packs || unpacks ? scratch.get(sendBytes + size_t(byteSize(output))) : nullptr;
  PendingCollectives::Operation operation;
  if (std::string error = post(collective, input, output, operation, packs ? staging : nullptr,
                               unpacks ? staging + sendBytes : nullptr);
      !error.empty())
    return error;
  return complete(*collective.communicator, operation);
}

template <Kind K> std::string runStart(const KernelArgs &args) {
  Collective collective(K, args);
  const TensorArg &future = args.outputs[0];
  // Without a session's table of operations in flight, complete at once.
  if (!collective.pending) {
    PendingCollectives::Operation operation;
    if (std::string error = post(collective, args.inputs[0], future, operation, nullptr, nullptr);
        !error.empty())
      return error;
    return complete(*collective.communicator, operation);
  }
  PendingCollectives::Operation &operation = collective.pending->at(future.data);
  if (operation.inFlight)
    return "its future's bytes still receive a collective started earlier and not waited for";
  if (std::string error = post(collective, args.inputs[0], future, operation, nullptr, nullptr);
      !error.empty())
    return error;
  operation.inFlight = true;
  return "";
}

std::string runWait(const KernelArgs &args) {
  const TensorArg &future = args.inputs[0], &result = args.outputs[0];
  const ExecutionContext *context = args.context;
  if (context && context->pending) {
    PendingCollectives::Operation *operation = context->pending->find(future.data);
    if (!operation || !operation->inFlight)
      return "no started collective writes its future (a wait without a start, or a second "
             "wait)";
    if (std::string error = complete(*context->communicator, *operation); !error.empty())
      return error;
  }
  // The planner makes the result a view of the future; copy where it did not.
  if (result.data != future.data)
    std::memcpy(result.data, future.data, size_t(byteSize(future)));
  return "";
}

} // namespace

void addCollectiveKernels(std::vector<Kernel> &kernels) {
  kernels.insert(
      kernels.end(),
      {
          {"all_gather", check<Kind::AllGather>, runBlocking<Kind::AllGather>, true},
          {"reduce_scatter", check<Kind::ReduceScatter>, runBlocking<Kind::ReduceScatter>, true},
          {"all_reduce", check<Kind::AllReduce>, runBlocking<Kind::AllReduce>, true},
          {"all_to_all", check<Kind::AllToAll>, runBlocking<Kind::AllToAll>, true},
          {"ring_shift", check<Kind::RingShift>, runBlocking<Kind::RingShift>, true},
          {"shard_slice", check<Kind::ShardSlice>, runBlocking<Kind::ShardSlice>, false},
          {"shard_unslice", check<Kind::ShardUnslice>, runBlocking<Kind::ShardUnslice>, false},
          {"all_gather_start", check<Kind::AllGather>, runStart<Kind::AllGather>, true},
          {"reduce_scatter_start", check<Kind::ReduceScatter>, runStart<Kind::ReduceScatter>, true},
          {"all_reduce_start", check<Kind::AllReduce>, runStart<Kind::AllReduce>, true},
          {"all_to_all_start", check<Kind::AllToAll>, runStart<Kind::AllToAll>, true},
          {"ring_shift_start", check<Kind::RingShift>, runStart<Kind::RingShift>, true},
          {"wait", checkWait, runWait, true},
      });
}

} // namespace sp::runtime::cpu
