//===- Collectives.h - communication among the ranks of a run ----*- C++ -*-===//
//
// A plan built for N ranks runs as N processes that execute the same
// instructions, each on its shard of the sequence. Collective kernels reach
// the other ranks through a Communicator (IREE's "channel"): a rank, a world
// size, and blocking and nonblocking all_gather, reduce_scatter (sum),
// all_reduce (sum), all_to_all and a send/receive pair. Implementations:
// SingleProcessCommunicator (one rank; collectives copy) and MPI's
// (runtime/lib/mpi); NCCL's will come behind the same interface.
//
// Communicator buffers are rank-major, as MPI and NCCL want them: rank q's
// piece at element q * count. Where a piece lies in a tensor split along the
// sequence is SequenceLayout's business, applied by the kernels.
//
// Nothing here includes MPI: hosts and kernels see this interface only.
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_COLLECTIVES_H
#define SP_RUNTIME_COLLECTIVES_H

#include "sp/runtime/Npy.h"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sp::runtime {

/// A nonblocking operation in flight, completed by Communicator::wait.
struct CollectiveRequest {
  int64_t id = -1; // -1: nothing in flight
};

/// The ranks of one job and the collectives among them. Every rank posts the
/// same operations, with the same counts and element types, in the same
/// order. Counts are in elements; send and receive buffers never overlap.
/// Failures are one line (the operation is then not in flight). Not
/// thread-safe: one thread at a time calls a communicator.
class Communicator {
public:
  virtual ~Communicator();

  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// "single" or "mpi", for messages and --version.
  virtual const char *backend() const = 0;

  // Nonblocking forms: each posts its communication and returns with
  // `request` set; wait() completes it. Until then `send` must not change
  // and `receive` must not be read.

  /// receive[q * count, (q + 1) * count) = rank q's send[0, count).
  virtual std::string startAllGather(const void *send, void *receive, int64_t count, DType dtype,
                                     CollectiveRequest &request) = 0;
  /// receive[0, count) = the sum over ranks q of q's
  /// send[rank() * count, (rank() + 1) * count). Floats and integers only.
  virtual std::string startReduceScatter(const void *send, void *receive, int64_t count,
                                         DType dtype, CollectiveRequest &request) = 0;
  /// receive[0, count) = the sum over ranks of send[0, count).
  virtual std::string startAllReduce(const void *send, void *receive, int64_t count, DType dtype,
                                     CollectiveRequest &request) = 0;
  /// Among the `groupSize` consecutive ranks of this rank's group (ranks
  /// g * groupSize to (g + 1) * groupSize - 1; groupSize divides size()):
  /// receive[q * count, (q + 1) * count) = group member q's
  /// send[i * count, (i + 1) * count), i being this rank's place in the group.
  /// The hybrid of Ulysses and the ring exchanges heads within groups.
  virtual std::string startAllToAll(const void *send, void *receive, int64_t count, DType dtype,
                                    int groupSize, CollectiveRequest &request) = 0;
  /// Sends send[0, count) to rank `destination` and receives count elements
  /// from rank `source` (the pair a ring shift posts on every rank).
  virtual std::string startSendReceive(const void *send, int destination, void *receive, int source,
                                       int64_t count, DType dtype, CollectiveRequest &request) = 0;
  /// Blocks until `request` completes, and resets it. A reset request
  /// completes at once.
  virtual std::string wait(CollectiveRequest &request) = 0;
  /// Whether `request` has completed, without blocking (MPI_Test); once it
  /// has, it is reset and `error` says how it failed. The default waits.
  virtual bool test(CollectiveRequest &request, std::string &error);
  /// Lets operations in flight advance (MPI progresses them only inside its
  /// calls); the executor calls it between kernels.
  virtual void progress() {}
  /// Ends every rank of the job now with `exitCode` (MPI_Abort): for failures
  /// after which the ranks can no longer agree, such as a failed collective.
  [[noreturn]] virtual void abort(int exitCode) = 0;

  // Blocking forms: start, then wait.
  std::string allGather(const void *send, void *receive, int64_t count, DType dtype);
  std::string reduceScatter(const void *send, void *receive, int64_t count, DType dtype);
  std::string allReduce(const void *send, void *receive, int64_t count, DType dtype);
  /// All of the ranks as one group.
  std::string allToAll(const void *send, void *receive, int64_t count, DType dtype);
  std::string sendReceive(const void *send, int destination, void *receive, int source,
                          int64_t count, DType dtype);

  /// Collective: each rank passes its own error ("" for none); every rank
  /// gets the error of the lowest rank that has one ("rank R: " before it
  /// unless R is 0), or "". What keeps the ranks in step when one of them
  /// fails: they all stop together, with one message.
  std::string agree(const std::string &error);

  /// Whether an agree() could not complete its own collectives (a rank
  /// stopped or died, --timeout): the ranks are out of step, no collective
  /// can be trusted to complete, and the job must end by abort() rather
  /// than by returning, whose teardown would wait for the missing rank.
  bool outOfStep() const { return outOfStep_; }

private:
  bool outOfStep_ = false;
};

class Device;
class HostStream;

/// One collective as it ran on a communication stream, for traces and
/// profiles. Times are steady_clock microseconds since its epoch (the same
/// for every process of one machine).
struct CommunicationRecord {
  /// The plan instruction that started it; -1 outside a step.
  int instruction = -1;
  /// "all_gather", "reduce_scatter", "all_reduce", "all_to_all" or
  /// "send_receive".
  const char *kind = "";
  /// Bytes this rank sends.
  int64_t bytes = 0;
  double beginMicroseconds = 0, endMicroseconds = 0;
};

/// Collectives as stream work (Device.h). Each start is enqueued on a
/// communication stream of its own, after the compute stream's work so far;
/// there the backend posts its nonblocking operation and the stream drives
/// it to completion while compute goes on. `wait` makes the compute stream
/// wait for the operation's event. The stream starts operations in the order
/// they were enqueued, so every rank still posts them in one order. Blocking
/// forms and agree() go through the stream too: while a session runs, no
/// other thread calls the backend.
///
/// A wait that sees no completion for the timeout (setTimeout) fails with a
/// line naming the collective, its instruction and this rank: a peer that
/// stopped or hung ends the job instead of blocking it forever.
class StreamCommunicator final : public Communicator {
public:
  StreamCommunicator(std::shared_ptr<Communicator> backend, Device &device);
  ~StreamCommunicator() override;

  int rank() const override { return backend_->rank(); }
  int size() const override { return backend_->size(); }
  const char *backend() const override { return backend_->backend(); }
  std::string startAllGather(const void *send, void *receive, int64_t count, DType dtype,
                             CollectiveRequest &request) override;
  std::string startReduceScatter(const void *send, void *receive, int64_t count, DType dtype,
                                 CollectiveRequest &request) override;
  std::string startAllReduce(const void *send, void *receive, int64_t count, DType dtype,
                             CollectiveRequest &request) override;
  std::string startAllToAll(const void *send, void *receive, int64_t count, DType dtype,
                            int groupSize, CollectiveRequest &request) override;
  std::string startSendReceive(const void *send, int destination, void *receive, int source,
                               int64_t count, DType dtype, CollectiveRequest &request) override;
  std::string wait(CollectiveRequest &request) override;
  bool test(CollectiveRequest &request, std::string &error) override;
  [[noreturn]] void abort(int exitCode) override;

  /// The instruction that the following operations belong to (-1: none).
  void setInstruction(int instruction) { instruction_ = instruction; }
  /// Seconds a wait may see no completion before it fails; negative: no
  /// limit (the default).
  void setTimeout(double seconds) { timeoutSeconds_ = seconds; }
  /// The operations completed and waited for since the last call.
  std::vector<CommunicationRecord> takeRecords();

private:
  struct Operation;
  using Post = std::function<std::string(Communicator &, CollectiveRequest &)>;
  std::string start(const char *kind, int64_t bytes, Post post, CollectiveRequest &request);

  std::shared_ptr<Communicator> backend_;
  Device &device_;
  std::unique_ptr<HostStream> stream_;
  std::map<int64_t, std::shared_ptr<Operation>> operations_;
  std::vector<CommunicationRecord> records_;
  int64_t nextId_ = 0;
  int instruction_ = -1;
  double timeoutSeconds_ = -1;
};

/// "" when a communicator can reduce (sum) `dtype`: float32, float64, int64
/// or int32. Every element type can be gathered, exchanged and shifted.
std::string checkReducible(DType dtype);

/// Rank 0 of 1: every collective copies `send` to `receive` at once.
class SingleProcessCommunicator final : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  const char *backend() const override { return "single"; }
  std::string startAllGather(const void *send, void *receive, int64_t count, DType dtype,
                             CollectiveRequest &request) override;
  std::string startReduceScatter(const void *send, void *receive, int64_t count, DType dtype,
                                 CollectiveRequest &request) override;
  std::string startAllReduce(const void *send, void *receive, int64_t count, DType dtype,
                             CollectiveRequest &request) override;
  std::string startAllToAll(const void *send, void *receive, int64_t count, DType dtype,
                            int groupSize, CollectiveRequest &request) override;
  std::string startSendReceive(const void *send, int destination, void *receive, int source,
                               int64_t count, DType dtype, CollectiveRequest &request) override;
  std::string wait(CollectiveRequest &request) override;
  [[noreturn]] void abort(int exitCode) override;
};

/// The job this process belongs to. With MPI built in, and the process
/// started by an MPI launcher (mpirun, srun) or MPI already initialized by
/// the host: MPI_COMM_WORLD's ranks (MPI is initialized once per process, and
/// finalized at exit unless the host initialized it). Otherwise rank 0 of 1.
/// The same communicator for every call; null with `error` set on failure.
std::shared_ptr<Communicator> worldCommunicator(std::string &error);

/// The collectives this build has ("mpi"), for --version; empty without MPI.
std::vector<std::string> collectiveBackends();

/// How a sequence dim is split among the ranks. Contiguous: rank r holds the
/// r-th of `ranks` equal chunks. Zigzag: the sequence is cut into 2 * ranks
/// chunks and rank r holds chunks r and 2 * ranks - 1 - r, in that order,
/// which balances causal attention. A shard is its chunks concatenated.
struct SequenceLayout {
  int ranks = 1;
  bool zigzag = false;

  /// Chunks the whole sequence is cut into.
  int64_t chunksPerSequence() const { return zigzag ? 2 * int64_t(ranks) : ranks; }
  /// Chunks each rank holds.
  int chunksPerRank() const { return zigzag ? 2 : 1; }
  /// The chunk of the whole sequence that is piece `piece` of `rank`'s shard.
  int64_t chunkOf(int rank, int piece) const {
    return piece == 0 ? rank : 2 * int64_t(ranks) - 1 - rank;
  }
  /// "" when a whole dim of `length` splits into the layout's chunks.
  std::string checkSplits(int64_t length) const;

  /// Copies `rank`'s shard of `whole` (row-major, `wholeShape`, split along
  /// `axis`) to `shard` (row-major, dim `axis` divided by `ranks`).
  void extractShard(const void *whole, void *shard, const std::vector<int64_t> &wholeShape,
                    int64_t axis, int rank, int64_t elementBytes) const;
  /// Writes `rank`'s `shard` into its place in `whole`; other bytes stay.
  void insertShard(const void *shard, void *whole, const std::vector<int64_t> &wholeShape,
                   int64_t axis, int rank, int64_t elementBytes) const;
  /// Every rank's shard of `whole`, rank-major in `ranks` (what a
  /// reduce_scatter or an all_to_all sends).
  void packRanks(const void *whole, void *ranksMajor, const std::vector<int64_t> &wholeShape,
                 int64_t axis, int64_t elementBytes) const;
  /// The inverse: rank-major shards (what an all_gather receives) into `whole`.
  void unpackRanks(const void *ranksMajor, void *whole, const std::vector<int64_t> &wholeShape,
                   int64_t axis, int64_t elementBytes) const;
  /// Whether rank-major shards already are `whole` in this layout (nothing to
  /// pack): one rank, or contiguous chunks with no dims before `axis` but
  /// ones.
  bool isRankMajor(const std::vector<int64_t> &wholeShape, int64_t axis) const;
};

/// The nonblocking collectives of one session started and not yet waited
/// for, keyed by the future's bytes, with the staging bytes each keeps across
/// steps (a start instruction writes its future at a fixed arena offset), and
/// scratch for reordering. Collective kernels reach it through the
/// ExecutionContext (Kernel.h).
class PendingCollectives {
public:
  struct Operation {
    CollectiveRequest request;
    bool inFlight = false;
    /// Puts the received bytes in the result's layout once they have arrived;
    /// may be empty.
    std::function<void()> finish;
    /// The bytes sent, when the input had to be packed rank-major first; the
    /// communicator reads them until the wait.
    std::vector<char> staging;
  };

  /// The operation that writes `future`, created on first use.
  Operation &at(const void *future) { return operations_[future]; }
  /// The operation that writes `future`, or null.
  Operation *find(const void *future);
  bool anyInFlight() const;
  /// At least `bytes` of scratch, for reorders done before a kernel returns.
  char *scratch(size_t bytes);

private:
  std::map<const void *, Operation> operations_;
  std::vector<char> scratch_;
};

} // namespace sp::runtime

#endif // SP_RUNTIME_COLLECTIVES_H
