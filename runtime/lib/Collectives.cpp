//===- Collectives.cpp - communicators and the sequence layout ------------===//

#include "sp/runtime/Collectives.h"

#ifdef SP_HAVE_MPI
#include "mpi/MpiCommunicator.h"
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace sp::runtime {

//===----------------------------------------------------------------------===//
// Communicator
//===----------------------------------------------------------------------===//

Communicator::~Communicator() = default;

namespace {
/// Starts an operation with `start(request)` and waits for it.
template <typename Start> std::string startAndWait(Communicator &communicator, Start &&start) {
  CollectiveRequest request;
  std::string error = start(request);
  return error.empty() ? communicator.wait(request) : error;
}
} // namespace

std::string Communicator::allGather(const void *send, void *receive, int64_t count, DType dtype) {
  return startAndWait(*this, [&](CollectiveRequest &request) {
    return startAllGather(send, receive, count, dtype, request);
  });
}

std::string Communicator::reduceScatter(const void *send, void *receive, int64_t count,
                                        DType dtype) {
  return startAndWait(*this, [&](CollectiveRequest &request) {
    return startReduceScatter(send, receive, count, dtype, request);
  });
}

std::string Communicator::allReduce(const void *send, void *receive, int64_t count, DType dtype) {
  return startAndWait(*this, [&](CollectiveRequest &request) {
    return startAllReduce(send, receive, count, dtype, request);
  });
}

std::string Communicator::allToAll(const void *send, void *receive, int64_t count, DType dtype) {
  return startAndWait(*this, [&](CollectiveRequest &request) {
    return startAllToAll(send, receive, count, dtype, size(), request);
  });
}

std::string Communicator::sendReceive(const void *send, int destination, void *receive, int source,
                                      int64_t count, DType dtype) {
  return startAndWait(*this, [&](CollectiveRequest &request) {
    return startSendReceive(send, destination, receive, source, count, dtype, request);
  });
}

std::string Communicator::agree(const std::string &error) {
  int ranks = size();
  if (ranks == 1)
    return error;
  // Longer messages are cut: they are one line for a terminal.
  constexpr int64_t kMaxMessage = 4096;
  int64_t length = std::min<int64_t>(int64_t(error.size()), kMaxMessage);
  // Each rank's message length, -1 where it has none: the lowest failing
  // rank follows without a reduction other than sums.
  int64_t mine = error.empty() ? -1 : length;
  std::vector<int64_t> lengths(size_t(ranks), -1);
  if (std::string failed = allGather(&mine, lengths.data(), 1, DType::Int64); !failed.empty()) {
    outOfStep_ = true;
    return "cannot agree on the outcome among the ranks: " + failed;
  }
  int failing = -1;
  for (int rank = 0; rank < ranks && failing < 0; ++rank)
    if (lengths[size_t(rank)] >= 0)
      failing = rank;
  if (failing < 0)
    return "";
  int64_t messageLength = lengths[size_t(failing)];
  std::string message;
  if (messageLength > 0) {
    std::vector<char> sent(size_t(messageLength), ' ');
    if (rank() == failing)
      std::memcpy(sent.data(), error.data(), size_t(messageLength));
    std::vector<char> received(size_t(messageLength) * size_t(ranks));
    if (std::string failed = allGather(sent.data(), received.data(), messageLength, DType::UInt8);
        !failed.empty()) {
      outOfStep_ = true;
      return "cannot agree on the outcome among the ranks: " + failed;
    }
    message.assign(received.data() + size_t(failing) * size_t(messageLength),
                   size_t(messageLength));
  }
  return failing == 0 ? message : "rank " + std::to_string(failing) + ": " + message;
}

std::string checkReducible(DType dtype) {
  if (dtype == DType::Float32 || dtype == DType::Float64 || dtype == DType::Int64 ||
      dtype == DType::Int32)
    return "";
  return std::string("cannot sum ") + dtypeName(dtype) +
         " elements across ranks (float32, float64, int64 or int32)";
}

//===----------------------------------------------------------------------===//
// SingleProcessCommunicator
//===----------------------------------------------------------------------===//

namespace {
/// What every collective of one rank does: the rank's data is the result.
std::string copyAlone(const void *send, void *receive, int64_t count, DType dtype,
                      CollectiveRequest &request, bool sums) {
  if (sums)
    if (std::string error = checkReducible(dtype); !error.empty())
      return error;
  if (count > 0)
    std::memcpy(receive, send, size_t(count) * size_t(dtypeSize(dtype)));
  request = {};
  return "";
}
} // namespace

std::string SingleProcessCommunicator::startAllGather(const void *send, void *receive,
                                                      int64_t count, DType dtype,
                                                      CollectiveRequest &request) {
  return copyAlone(send, receive, count, dtype, request, /*sums=*/false);
}

std::string SingleProcessCommunicator::startReduceScatter(const void *send, void *receive,
                                                          int64_t count, DType dtype,
                                                          CollectiveRequest &request) {
  return copyAlone(send, receive, count, dtype, request, /*sums=*/true);
}

std::string SingleProcessCommunicator::startAllReduce(const void *send, void *receive,
                                                      int64_t count, DType dtype,
                                                      CollectiveRequest &request) {
  return copyAlone(send, receive, count, dtype, request, /*sums=*/true);
}

std::string SingleProcessCommunicator::startAllToAll(const void *send, void *receive, int64_t count,
                                                     DType dtype, int groupSize,
                                                     CollectiveRequest &request) {
  if (groupSize != 1)
    return "a group of " + std::to_string(groupSize) + " ranks in a run of 1 rank";
  return copyAlone(send, receive, count, dtype, request, /*sums=*/false);
}

std::string SingleProcessCommunicator::startSendReceive(const void *send, int destination,
                                                        void *receive, int source, int64_t count,
                                                        DType dtype, CollectiveRequest &request) {
  if (destination != 0 || source != 0)
    return "rank " + std::to_string(destination == 0 ? source : destination) +
           " does not exist in a run of 1 rank";
  return copyAlone(send, receive, count, dtype, request, /*sums=*/false);
}

std::string SingleProcessCommunicator::wait(CollectiveRequest &request) {
  request = {};
  return "";
}

void SingleProcessCommunicator::abort(int exitCode) { std::exit(exitCode); }

//===----------------------------------------------------------------------===//
// The world
//===----------------------------------------------------------------------===//

std::shared_ptr<Communicator> worldCommunicator(std::string &error) {
  static std::mutex mutex;
  static std::shared_ptr<Communicator> world;
  std::lock_guard<std::mutex> lock(mutex);
  if (world)
    return world;
#ifdef SP_HAVE_MPI
  if (mpi::launchedByMpi()) {
    world = mpi::createWorldCommunicator(error);
    return world;
  }
#endif
  (void)error;
  world = std::make_shared<SingleProcessCommunicator>();
  return world;
}

std::vector<std::string> collectiveBackends() {
#ifdef SP_HAVE_MPI
  return {"mpi"};
#else
  return {};
#endif
}

//===----------------------------------------------------------------------===//
// SequenceLayout
//===----------------------------------------------------------------------===//

namespace {

/// Calls copy(wholeByte, shardByte, bytes) for each contiguous run of
/// `rank`'s shard of a tensor of `wholeShape` split along `axis`: one per
/// chunk of the rank and index of the dims before the axis.
template <typename Copy>
void forEachShardRun(const SequenceLayout &layout, const std::vector<int64_t> &wholeShape,
                     int64_t axis, int rank, int64_t elementBytes, Copy &&copy) {
  int64_t outer = 1, innerBytes = elementBytes;
  for (int64_t d = 0; d < axis; ++d)
    outer *= wholeShape[size_t(d)];
  for (size_t d = size_t(axis) + 1; d < wholeShape.size(); ++d)
    innerBytes *= wholeShape[d];
  int64_t length = wholeShape[size_t(axis)];
  int64_t chunk = length / layout.chunksPerSequence();
  int64_t shardLength = chunk * layout.chunksPerRank();
  size_t chunkBytes = size_t(chunk * innerBytes);
  if (chunkBytes == 0)
    return;
  for (int64_t o = 0; o < outer; ++o)
    for (int piece = 0; piece < layout.chunksPerRank(); ++piece)
      copy((o * length + layout.chunkOf(rank, piece) * chunk) * innerBytes,
           (o * shardLength + piece * chunk) * innerBytes, chunkBytes);
}

/// Bytes of one rank's shard of a tensor of `wholeShape`.
int64_t shardBytes(const SequenceLayout &layout, const std::vector<int64_t> &wholeShape,
                   int64_t elementBytes) {
  int64_t bytes = elementBytes;
  for (int64_t dim : wholeShape)
    bytes *= dim;
  return bytes / layout.ranks;
}

} // namespace

std::string SequenceLayout::checkSplits(int64_t length) const {
  int64_t chunks = chunksPerSequence();
  if (length % chunks == 0)
    return "";
  return "a dim of size " + std::to_string(length) + " does not split into " +
         std::to_string(chunks) + (zigzag ? " zigzag" : "") + " chunks for " +
         std::to_string(ranks) + (ranks == 1 ? " rank" : " ranks");
}

void SequenceLayout::extractShard(const void *whole, void *shard,
                                  const std::vector<int64_t> &wholeShape, int64_t axis, int rank,
                                  int64_t elementBytes) const {
  forEachShardRun(*this, wholeShape, axis, rank, elementBytes,
                  [&](int64_t wholeByte, int64_t shardByte, size_t bytes) {
                    std::memcpy(static_cast<char *>(shard) + shardByte,
                                static_cast<const char *>(whole) + wholeByte, bytes);
                  });
}

void SequenceLayout::insertShard(const void *shard, void *whole,
                                 const std::vector<int64_t> &wholeShape, int64_t axis, int rank,
                                 int64_t elementBytes) const {
  forEachShardRun(*this, wholeShape, axis, rank, elementBytes,
                  [&](int64_t wholeByte, int64_t shardByte, size_t bytes) {
                    std::memcpy(static_cast<char *>(whole) + wholeByte,
                                static_cast<const char *>(shard) + shardByte, bytes);
                  });
}

void SequenceLayout::packRanks(const void *whole, void *ranksMajor,
                               const std::vector<int64_t> &wholeShape, int64_t axis,
                               int64_t elementBytes) const {
  int64_t bytes = shardBytes(*this, wholeShape, elementBytes);
  for (int rank = 0; rank < ranks; ++rank)
    extractShard(whole, static_cast<char *>(ranksMajor) + rank * bytes, wholeShape, axis, rank,
                 elementBytes);
}

void SequenceLayout::unpackRanks(const void *ranksMajor, void *whole,
                                 const std::vector<int64_t> &wholeShape, int64_t axis,
                                 int64_t elementBytes) const {
  int64_t bytes = shardBytes(*this, wholeShape, elementBytes);
  for (int rank = 0; rank < ranks; ++rank)
    insertShard(static_cast<const char *>(ranksMajor) + rank * bytes, whole, wholeShape, axis, rank,
                elementBytes);
}

bool SequenceLayout::isRankMajor(const std::vector<int64_t> &wholeShape, int64_t axis) const {
  if (ranks == 1)
    return true;
  if (zigzag)
    return false;
  for (int64_t d = 0; d < axis; ++d)
    if (wholeShape[size_t(d)] != 1)
      return false;
  return true;
}

//===----------------------------------------------------------------------===//
// PendingCollectives
//===----------------------------------------------------------------------===//

PendingCollectives::Operation *PendingCollectives::find(const void *future) {
  auto it = operations_.find(future);
  return it == operations_.end() ? nullptr : &it->second;
}

bool PendingCollectives::anyInFlight() const {
  return std::any_of(operations_.begin(), operations_.end(),
                     [](const auto &entry) { return entry.second.inFlight; });
}

char *PendingCollectives::scratch(size_t bytes) {
  if (scratch_.size() < bytes)
    scratch_.resize(bytes);
  return scratch_.data();
}

} // namespace sp::runtime
