//===- MpiCommunicator.cpp - collectives over MPI -------------------------===//
//
// Each collective is one nonblocking MPI call (MPI_Iallgather,
// MPI_Ireduce_scatter_block, MPI_Iallreduce, MPI_Ialltoall, or an
// MPI_Isend/MPI_Irecv pair) on a copy of MPI_COMM_WORLD whose ranks are
// ordered node by node (nodeOrderedWorld), so that the runtime's traffic
// never matches a host's own messages and groups of consecutive ranks stay
// inside a node. Errors return
// (MPI_ERRORS_RETURN) and become one line instead of MPI's default abort.
//
//===----------------------------------------------------------------------===//

#include "MpiCommunicator.h"

#include <mpi.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdlib>
#include <unordered_map>
#include <vector>

namespace sp::runtime::mpi {

namespace {

std::string mpiError(const char *call, int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    length = 0;
  std::string message(text, size_t(length));
  for (char &c : message)
    if (c == '\n' || c == '\r')
      c = ' ';
  if (message.empty())
    message = "MPI error " + std::to_string(code);
  return std::string(call) + " failed: " + message;
}

/// The MPI type of elements that are summed.
MPI_Datatype summedType(DType dtype) {
  switch (dtype) {
  case DType::Float64:
    return MPI_DOUBLE;
  case DType::Int64:
    return MPI_INT64_T;
  case DType::Int32:
    return MPI_INT32_T;
  default:
    return MPI_FLOAT;
  }
}

/// An MPI type for elements that are only moved: any of the same size.
MPI_Datatype movedType(DType dtype) {
  switch (dtypeSize(dtype)) {
  case 1:
    return MPI_BYTE;
  case 2:
    return MPI_UINT16_T;
  case 4:
    return MPI_UINT32_T;
  default:
    return MPI_UINT64_T;
  }
}

void finalizeAtExit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized)
    MPI_Finalize();
}

/// The message tag of ring shifts; MPI keeps the order of messages between
/// two ranks, and every rank posts its shifts in the same order.
constexpr int kShiftTag = 7001;

class MpiCommunicator final : public Communicator {
public:
  MpiCommunicator(MPI_Comm comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {}

  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized)
      return;
    for (auto &[id, requests] : inFlight_)
      MPI_Waitall(int(requests.size()), requests.data(), MPI_STATUSES_IGNORE);
    for (auto &[groupSize, group] : groups_)
      MPI_Comm_free(&group);
    MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char *backend() const override { return "mpi"; }

  std::string startAllGather(const void *send, void *receive, int64_t count, DType dtype,
                             CollectiveRequest &request) override {
    return post("MPI_Iallgather", count, request, [&](MPI_Request *requests) {
      return MPI_Iallgather(send, int(count), movedType(dtype), receive, int(count),
                            movedType(dtype), comm_, &requests[0]);
    });
  }

  std::string startReduceScatter(const void *send, void *receive, int64_t count, DType dtype,
                                 CollectiveRequest &request) override {
    if (std::string error = checkReducible(dtype); !error.empty())
      return error;
    return post("MPI_Ireduce_scatter_block", count, request, [&](MPI_Request *requests) {
      return MPI_Ireduce_scatter_block(send, receive, int(count), summedType(dtype), MPI_SUM, comm_,
                                       &requests[0]);
    });
  }

  std::string startAllReduce(const void *send, void *receive, int64_t count, DType dtype,
                             CollectiveRequest &request) override {
    if (std::string error = checkReducible(dtype); !error.empty())
      return error;
    return post("MPI_Iallreduce", count, request, [&](MPI_Request *requests) {
      return MPI_Iallreduce(send, receive, int(count), summedType(dtype), MPI_SUM, comm_,
                            &requests[0]);
    });
  }

  std::string startAllToAll(const void *send, void *receive, int64_t count, DType dtype,
                            int groupSize, CollectiveRequest &request) override {
    if (groupSize < 1 || size_ % groupSize != 0)
      return "a group of " + std::to_string(groupSize) + " ranks does not divide the " +
             std::to_string(size_) + " ranks of this run";
    MPI_Comm group = comm_;
    if (groupSize != size_) {
      // Every rank reaches its first exchange in groups of this size at the
      // same point of the program, so the split, collective over all ranks,
      // happens there once.
      auto known = groups_.find(groupSize);
      if (known == groups_.end()) {
        MPI_Comm split = MPI_COMM_NULL;
        if (int code = MPI_Comm_split(comm_, rank_ / groupSize, rank_, &split); code != MPI_SUCCESS)
          return mpiError("MPI_Comm_split", code);
        known = groups_.emplace(groupSize, split).first;
      }
      group = known->second;
    }
    return post("MPI_Ialltoall", count, request, [&](MPI_Request *requests) {
      return MPI_Ialltoall(send, int(count), movedType(dtype), receive, int(count),
                           movedType(dtype), group, &requests[0]);
    });
  }

  std::string startSendReceive(const void *send, int destination, void *receive, int source,
                               int64_t count, DType dtype, CollectiveRequest &request) override {
    for (int peer : {destination, source})
      if (peer < 0 || peer >= size_)
        return "rank " + std::to_string(peer) + " does not exist in a run of " +
               std::to_string(size_) + " ranks";
    return post("MPI_Irecv/MPI_Isend", count, request, [&](MPI_Request *requests) {
      int code =
          MPI_Irecv(receive, int(count), movedType(dtype), source, kShiftTag, comm_, &requests[0]);
      if (code != MPI_SUCCESS)
        return code;
      code = MPI_Isend(send, int(count), movedType(dtype), destination, kShiftTag, comm_,
                       &requests[1]);
      if (code != MPI_SUCCESS) {
        MPI_Cancel(&requests[0]);
        MPI_Request_free(&requests[0]);
      }
      return code;
    });
  }

  std::string wait(CollectiveRequest &request) override {
    int64_t id = request.id;
    request = {};
    auto it = inFlight_.find(id);
    if (it == inFlight_.end())
      return "";
    std::array<MPI_Request, 2> requests = it->second;
    inFlight_.erase(it);
    if (auto failed = failures_.find(id); failed != failures_.end()) {
      std::string error = failed->second;
      failures_.erase(failed);
      return error;
    }
    int code = MPI_Waitall(int(requests.size()), requests.data(), MPI_STATUSES_IGNORE);
    return code == MPI_SUCCESS ? "" : mpiError("MPI_Waitall", code);
  }

  bool test(CollectiveRequest &request, std::string &error) override {
    error.clear();
    auto it = inFlight_.find(request.id);
    if (it == inFlight_.end()) {
      request = {};
      return true;
    }
    if (auto failed = failures_.find(request.id); failed != failures_.end()) {
      error = failed->second;
      failures_.erase(failed);
      inFlight_.erase(it);
      request = {};
      return true;
    }
    int done = 0;
    int code = MPI_Testall(int(it->second.size()), it->second.data(), &done, MPI_STATUSES_IGNORE);
    if (code != MPI_SUCCESS)
      error = mpiError("MPI_Testall", code);
    else if (!done)
      return false;
    inFlight_.erase(it);
    request = {};
    return true;
  }

  void progress() override {
    for (auto &[id, requests] : inFlight_) {
      int done = 0;
      int code = MPI_Testall(int(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE);
      if (code != MPI_SUCCESS)
        failures_[id] = mpiError("MPI_Testall", code);
    }
  }

  void abort(int exitCode) override {
    MPI_Abort(MPI_COMM_WORLD, exitCode);
    std::_Exit(exitCode);
  }

private:
  /// Posts the request(s) that `call` makes and tracks them under a new id.
  template <typename Call>
  std::string post(const char *name, int64_t count, CollectiveRequest &request, Call &&call) {
    request = {};
    if (count < 0 || count > INT_MAX)
      return std::string(name) + ": " + std::to_string(count) +
             " elements per rank exceed what one MPI call moves (" + std::to_string(INT_MAX) + ")";
    std::array<MPI_Request, 2> requests = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
    int code = call(requests.data());
    if (code != MPI_SUCCESS)
      return mpiError(name, code);
    request.id = nextId_++;
    inFlight_.emplace(request.id, requests);
    return "";
  }

  MPI_Comm comm_;
  /// Communicators of consecutive ranks, by group size, split from comm_
  /// at their first use.
  std::unordered_map<int, MPI_Comm> groups_;
  int rank_, size_;
  int64_t nextId_ = 0;
  std::unordered_map<int64_t, std::array<MPI_Request, 2>> inFlight_;
  /// Errors that progress() saw, reported by the wait.
  std::unordered_map<int64_t, std::string> failures_;
};

/// A communicator of MPI_COMM_WORLD's ranks with the ranks of each node
/// (MPI_COMM_TYPE_SHARED) next to each other, nodes in the order of their
/// first world rank and ranks within a node in world order. Plans group
/// consecutive ranks (the hybrid's Ulysses groups, --ranks-per-node), so
/// this keeps a group inside a node however mpirun placed the ranks
/// (--map-by node included); under the default placement, by slot, it is
/// the world's order. MPI_SUCCESS, or the failing call's code with `error`.
int nodeOrderedWorld(MPI_Comm &ordered, std::string &error) {
  int worldRank = 0, worldSize = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &worldRank);
  MPI_Comm_size(MPI_COMM_WORLD, &worldSize);
  MPI_Comm node;
  int code = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, worldRank,
                                 MPI_INFO_NULL, &node);
  if (code != MPI_SUCCESS) {
    error = mpiError("MPI_Comm_split_type", code);
    return code;
  }
  // The node's first world rank: its local rank 0, which the split keyed by
  // world rank makes the lowest.
  int first = worldRank;
  code = MPI_Bcast(&first, 1, MPI_INT, 0, node);
  MPI_Comm_free(&node);
  if (code != MPI_SUCCESS) {
    error = mpiError("MPI_Bcast", code);
    return code;
  }
  long long key = (long long)first * worldSize + worldRank;
  // Keys are ints: rank the keys instead where the product does not fit.
  if (key > INT_MAX) {
    std::vector<long long> keys(static_cast<size_t>(worldSize));
    code = MPI_Allgather(&key, 1, MPI_LONG_LONG, keys.data(), 1, MPI_LONG_LONG, MPI_COMM_WORLD);
    if (code != MPI_SUCCESS) {
      error = mpiError("MPI_Allgather", code);
      return code;
    }
    key = std::count_if(keys.begin(), keys.end(), [&](long long other) { return other < key; });
  }
  code = MPI_Comm_split(MPI_COMM_WORLD, 0, int(key), &ordered);
  if (code != MPI_SUCCESS)
    error = mpiError("MPI_Comm_split", code);
  return code;
}

} // namespace

bool launchedByMpi() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized)
    return true;
  for (const char *variable : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(variable))
      return true;
  return false;
}

std::shared_ptr<Communicator> createWorldCommunicator(std::string &error) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    int code = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    if (code != MPI_SUCCESS) {
      error = mpiError("MPI_Init_thread", code);
      return nullptr;
    }
    std::atexit(finalizeAtExit);
  }
  MPI_Comm comm;
  if (int code = nodeOrderedWorld(comm, error); code != MPI_SUCCESS)
    return nullptr;
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  return std::make_shared<MpiCommunicator>(comm, rank, size);
}

} // namespace sp::runtime::mpi
