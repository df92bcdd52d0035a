//===- StreamCommunicator.cpp - collectives on a communication stream -----===//
//
// Each operation is a task on the device's communication stream: its first
// turn posts the backend's nonblocking operation, later turns test it, and
// the stream gives every operation in flight its turn between naps, so that
// several collectives progress at once while the compute stream computes.
//
//===----------------------------------------------------------------------===//

#include "sp/runtime/Collectives.h"
#include "sp/runtime/Device.h"

#include <chrono>
#include <cstdio>

namespace sp::runtime {

namespace {

double nowMicroseconds() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string formatSeconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", seconds);
  return text;
}

} // namespace

bool Communicator::test(CollectiveRequest &request, std::string &error) {
  error = wait(request);
  return true;
}

/// Written by the stream's thread until `done` completes, read by the
/// waiting thread after.
struct StreamCommunicator::Operation {
  Post post;
  bool posted = false;
  CollectiveRequest backendRequest;
  std::string error;
  CommunicationRecord record;
  std::shared_ptr<Event> done;
};

StreamCommunicator::StreamCommunicator(std::shared_ptr<Communicator> backend, Device &device)
    : backend_(std::move(backend)), device_(device),
      stream_(device.createHostStream("communication")) {}

StreamCommunicator::~StreamCommunicator() {
  // Operations never waited for (a failed step) still complete on every
  // rank, since every rank posted them; the stream finishes them on exit.
  stream_.reset();
}

std::string StreamCommunicator::start(const char *kind, int64_t bytes, Post post,
                                      CollectiveRequest &request) {
  auto operation = std::make_shared<Operation>();
  operation->post = std::move(post);
  operation->record.instruction = instruction_;
  operation->record.kind = kind;
  operation->record.bytes = bytes;
  // The collective reads what the compute stream wrote before the start.
  stream_->waitFor(device_.computeStream().record());
  Communicator &backend = *backend_;
  stream_->enqueue([operation, &backend]() {
    Operation &op = *operation;
    if (!op.posted) {
      op.posted = true;
      op.record.beginMicroseconds = nowMicroseconds();
      op.error = op.post(backend, op.backendRequest);
      if (!op.error.empty()) {
        op.record.endMicroseconds = op.record.beginMicroseconds;
        return true;
      }
    }
    std::string error;
    if (!backend.test(op.backendRequest, error))
      return false;
    op.error = error;
    op.record.endMicroseconds = nowMicroseconds();
    return true;
  });
  operation->done = stream_->record();
  request.id = nextId_++;
  operations_.emplace(request.id, std::move(operation));
  return "";
}

std::string StreamCommunicator::startAllGather(const void *send, void *receive, int64_t count,
                                               DType dtype, CollectiveRequest &request) {
  return start(
      "all_gather", count * dtypeSize(dtype),
      [=](Communicator &backend, CollectiveRequest &posted) {
        return backend.startAllGather(send, receive, count, dtype, posted);
      },
      request);
}

std::string StreamCommunicator::startReduceScatter(const void *send, void *receive, int64_t count,
                                                   DType dtype, CollectiveRequest &request) {
  if (std::string error = checkReducible(dtype); !error.empty())
    return error;
  return start(
      "reduce_scatter", count * size() * dtypeSize(dtype),
      [=](Communicator &backend, CollectiveRequest &posted) {
        return backend.startReduceScatter(send, receive, count, dtype, posted);
      },
      request);
}

std::string StreamCommunicator::startAllReduce(const void *send, void *receive, int64_t count,
                                               DType dtype, CollectiveRequest &request) {
  if (std::string error = checkReducible(dtype); !error.empty())
    return error;
  return start(
      "all_reduce", count * dtypeSize(dtype),
      [=](Communicator &backend, CollectiveRequest &posted) {
        return backend.startAllReduce(send, receive, count, dtype, posted);
      },
      request);
}

std::string StreamCommunicator::startAllToAll(const void *send, void *receive, int64_t count,
                                              DType dtype, int groupSize,
                                              CollectiveRequest &request) {
  return start(
      "all_to_all", count * groupSize * dtypeSize(dtype),
      [=](Communicator &backend, CollectiveRequest &posted) {
        return backend.startAllToAll(send, receive, count, dtype, groupSize, posted);
      },
      request);
}

std::string StreamCommunicator::startSendReceive(const void *send, int destination, void *receive,
                                                 int source, int64_t count, DType dtype,
                                                 CollectiveRequest &request) {
  return start(
      "send_receive", count * dtypeSize(dtype),
      [=](Communicator &backend, CollectiveRequest &posted) {
        return backend.startSendReceive(send, destination, receive, source, count, dtype, posted);
      },
      request);
}

std::string StreamCommunicator::wait(CollectiveRequest &request) {
  auto found = operations_.find(request.id);
  request = {};
  if (found == operations_.end())
    return "";
  std::shared_ptr<Operation> operation = std::move(found->second);
  operations_.erase(found);
  if (!operation->done->synchronize(timeoutSeconds_)) {
    const CommunicationRecord &record = operation->record;
    return std::string(record.kind) +
           (record.instruction >= 0 ? " of instruction " + std::to_string(record.instruction)
                                    : std::string()) +
           " made no progress for " + formatSeconds(timeoutSeconds_) + " s on rank " +
           std::to_string(rank()) + " of " + std::to_string(size()) +
           ": a peer rank is stopped, hung or gone (--timeout)";
  }
  records_.push_back(operation->record);
  return operation->error;
}

bool StreamCommunicator::test(CollectiveRequest &request, std::string &error) {
  auto found = operations_.find(request.id);
  if (found == operations_.end()) {
    request = {};
    error.clear();
    return true;
  }
  if (!found->second->done->query())
    return false;
  error = wait(request);
  return true;
}

void StreamCommunicator::abort(int exitCode) { backend_->abort(exitCode); }

std::vector<CommunicationRecord> StreamCommunicator::takeRecords() {
  std::vector<CommunicationRecord> taken;
  taken.swap(records_);
  return taken;
}

} // namespace sp::runtime
