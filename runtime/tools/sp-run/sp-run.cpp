//===- sp-run.cpp - run a plan's training or inference steps --------------===//
//
// The user-facing runtime driver (DESIGN.md, "sp-run"). Every failure is one
// line on stderr beginning "sp-run: error: " and exit code 1; progress goes
// to stdout.
//
// Under mpirun every rank runs this driver on the same plan and flags. Rank 0
// alone prints and writes files; failures are agreed among the ranks
// (Communicator::agree) so that all of them stop together, with one line,
// instead of some waiting forever for the one that failed.
//
//===----------------------------------------------------------------------===//

#include "sp/runtime/Collectives.h"
#include "sp/runtime/Device.h"
#include "sp/runtime/Files.h"
#include "sp/runtime/Kernel.h"
#include "sp/runtime/Npy.h"
#include "sp/runtime/PlanFile.h"
#include "sp/runtime/Session.h"

#include "sp/plan/plan.pb.h"

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <thread>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

using namespace sp::runtime;
namespace fs = std::filesystem;

namespace {

constexpr const char *kUsage =
    R"(sp-run: run the training steps (or the inference) of a plan from sp-compile

usage: [mpirun -np N] sp-run PLAN [options]

  --input NAME=FILE.npy   feed graph input NAME from FILE.npy (repeatable); the
                          dtype and shape must be the plan's exactly
  --data FILE[:uint32]    feed the plan's token input ([batch, sequence] ids)
                          from FILE: raw little-endian token ids, uint16 unless
                          written FILE:uint32. Step k reads the batch*sequence
                          tokens starting at token k*batch*sequence, wrapping
                          at the end of the file. Every id must be below the
                          plan's vocabulary size.
  --data synthetic:copy   generated tokens: in each sequence the first half is
                          uniform random in [0, vocab) (from --seed, fresh each
                          step) and the second half repeats it
  --steps K               training steps to run (default 1); an inference plan
                          runs once
  --dump DIR              after the last step write every graph output as
                          DIR/NAME.npy and, for training plans, DIR/loss.npy,
                          DIR/lr.npy (the last step's learning rate),
                          DIR/grad_norm.npy (plans that clip: the norm before
                          clipping), DIR/grad/NAME.npy (the last step's
                          gradients, clipped) and
                          DIR/param/NAME.npy (the parameters after it); names
                          percent-encode bytes outside [A-Za-z0-9._-]
  --log FILE.jsonl        write one JSON object per step when the run ends:
                          step, loss (full precision), lr, grad_norm (plans
                          that clip), seconds; training plans only
  --trace FILE.json       write the last step as a Chrome trace (Perfetto,
                          chrome://tracing): per rank a compute lane (kernels;
                          cat "compute", or "wait" where compute waits for
                          communication) and a communication lane
                          (collectives, cat "comm", with kind and bytes)
  --profile FILE.json     write each instruction's measured time (median over
                          the steps after the first, slowest rank) and each
                          collective's, keyed by the plan's instruction ids:
                          sp-compile --cost-profile reads it
  --timeout SECONDS       end every rank, with one line naming the collective,
                          when a collective makes no progress for SECONDS
                          (default 600; a stopped or hung peer)
  --save DIR              write a checkpoint into the folder DIR at the end, as
                          DIR/step-N: a manifest and each parameter and
                          optimizer state tensor whole, by name, checksummed,
                          whatever the rank count; written to a new folder and
                          renamed into place, so a kill mid-save leaves the
                          previous checkpoint intact
  --save-every K          also save every K steps (needs --save)
  --keep K                keep the K newest checkpoints in DIR (default: all)
  --resume PATH           start from a checkpoint (PATH/manifest.json), or the
                          newest in a folder of them; any rank count and
                          strategy of the same model. Step numbers, --data
                          positions and the seed continue from it
  --device=cpu|cuda       where to run (default cpu)
  --comm=mpi|nccl         collectives between ranks (plans for one rank need none)
  --seed S                seed of dropout masks and synthetic data (default 0,
                          or the resumed checkpoint's); with the step and each
                          element's position it keys Philox, so masks do not
                          depend on the rank count or strategy
  --print-plan            print the plan (protobuf text format) and exit
  --version               print the version, devices and collectives built in
  --help                  print this help

A plan built for N ranks runs under mpirun -np N: inputs and --data are whole
tensors (each rank keeps its shard of those split along the sequence), rank 0
prints and writes, and dumps hold whole tensors.

Every problem (a missing, truncated or foreign file, a plan from another
version, an .npy of the wrong dtype or shape, a bad flag) ends with one line on
stderr, "sp-run: error: ...", and exit code 1.
)";

/// One line: names from a corrupt plan must not split the message.
std::string oneLine(std::string text) {
  for (char &c : text)
    if (c == '\n' || c == '\r')
      c = ' ';
  return text;
}

/// Whether this process prints: rank 0 of the run. Every other rank knows
/// the same outcome and stays quiet.
bool printsOutput = true;

int reportError(const std::string &message) {
  if (printsOutput) {
    std::fflush(stdout);
    std::fprintf(stderr, "sp-run: error: %s\n", oneLine(message).c_str());
  }
  return 1;
}

/// A failure after which the ranks cannot agree (a collective failed): this
/// rank says why and ends the whole job.
[[noreturn]] void reportFatal(Communicator &world, const std::string &message) {
  std::fflush(stdout);
  std::fprintf(stderr, "sp-run: error: %s\n", oneLine(message).c_str());
  std::fflush(stderr);
  world.abort(1);
  std::_Exit(1); // abort() does not return; this tells the compiler so
}

struct Options {
  std::string plan;
  std::vector<std::pair<std::string, std::string>> inputs; // name, .npy file
  std::string data;
  std::optional<int64_t> steps;
  std::string dump, trace, profile, save, resume, log;
  double timeoutSeconds = 600;
  int64_t saveEvery = 0;
  std::string device = "cpu";
  std::string comm;
  uint64_t seed = 0;
  bool seedGiven = false;
  int keep = 0;
  bool printPlan = false, help = false, version = false;
};

bool parseCount(const std::string &text, uint64_t maximum, uint64_t &value) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  value = std::strtoull(text.c_str(), nullptr, 10);
  return value <= maximum;
}

/// Parses the command line; returns an error line, or empty.
std::string parseOptions(int argc, char **argv, Options &options) {
  const std::vector<std::string> valued = {
      "--input",  "--data",       "--steps",  "--dump",   "--trace", "--profile", "--save",
      "--save-every", "--resume", "--device", "--comm", "--seed",  "--timeout", "--keep",
      "--log"};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') {
      if (!options.plan.empty())
        return "unexpected argument '" + arg + "' (one PLAN only; see sp-run --help)";
      options.plan = arg;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      options.help = true;
      continue;
    }
    if (arg == "--version") {
      options.version = true;
      continue;
    }
    if (arg == "--print-plan") {
      options.printPlan = true;
      continue;
    }
    std::string flag = arg, value;
    bool hasValue = false;
    if (size_t equals = arg.find('='); equals != std::string::npos) {
      flag = arg.substr(0, equals);
      value = arg.substr(equals + 1);
      hasValue = true;
    }
    if (std::find(valued.begin(), valued.end(), flag) == valued.end())
      return "unknown option '" + flag + "' (see sp-run --help)";
    if (!hasValue) {
      if (i + 1 >= argc)
        return flag + " needs a value (see sp-run --help)";
      value = argv[++i];
    }
    uint64_t count;
    if (flag == "--input") {
      size_t equals = value.find('=');
      if (equals == std::string::npos || equals == 0 || equals + 1 == value.size())
        return "--input '" + value + "': expected NAME=FILE.npy";
      options.inputs.emplace_back(value.substr(0, equals), value.substr(equals + 1));
    } else if (flag == "--data") {
      options.data = value;
    } else if (flag == "--steps") {
      if (!parseCount(value, 1ull << 40, count) || count == 0)
        return "--steps '" + value + "': expected a positive integer";
      options.steps = int64_t(count);
    } else if (flag == "--save-every") {
      if (!parseCount(value, 1ull << 40, count) || count == 0)
        return "--save-every '" + value + "': expected a positive integer";
      options.saveEvery = int64_t(count);
    } else if (flag == "--seed") {
      if (!parseCount(value, UINT64_MAX, count))
        return "--seed '" + value + "': expected a non-negative integer";
      options.seed = count;
      options.seedGiven = true;
    } else if (flag == "--keep") {
      if (!parseCount(value, 1u << 30, count) || count == 0)
        return "--keep '" + value + "': expected a positive integer";
      options.keep = int(count);
    } else if (flag == "--timeout") {
      char *end = nullptr;
      double seconds = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(seconds > 0) || seconds > 1e9)
        return "--timeout '" + value + "': expected a positive number of seconds";
      options.timeoutSeconds = seconds;
    } else if (value.empty()) {
      return flag + " needs a non-empty value";
    } else if (flag == "--dump") {
      options.dump = value;
    } else if (flag == "--trace") {
      options.trace = value;
    } else if (flag == "--log") {
      options.log = value;
    } else if (flag == "--profile") {
      options.profile = value;
    } else if (flag == "--save") {
      options.save = value;
    } else if (flag == "--resume") {
      options.resume = value;
    } else if (flag == "--device") {
      options.device = value;
    } else if (flag == "--comm") {
      options.comm = value;
    }
  }
  return "";
}

/// "mpi", or "none" when this build has no collectives.
std::string builtInCollectives() {
  std::string names;
  for (const std::string &name : collectiveBackends())
    names += (names.empty() ? "" : ", ") + name;
  return names.empty() ? "none" : names;
}

void printVersion() {
  std::printf("sp-run %s\n", SP_VERSION);
  std::printf("plan format version %u\n", unsigned(kPlanFormatVersion));
  std::string devices;
  for (const std::string &name : builtInDevices()) {
    std::string error;
    std::unique_ptr<Device> device = createDevice(name, error);
    devices += (devices.empty() ? "" : ", ") +
               (device ? name + " (" + std::to_string(device->kernelNames().size()) +
                             " kernels, " + device->describe() + ")"
                       : name + " (" + error + ")");
  }
  std::printf("devices: %s\n", devices.c_str());
  std::string collectives = builtInCollectives();
  std::printf("collectives: %s\n",
              collectives == "none" ? "none (plans for one rank)" : collectives.c_str());
}

/// Why the folder `path` cannot be written, or empty. With `mayCreate` it may
/// not exist yet (sp-run makes it), and its nearest existing ancestor must
/// then be a writable folder.
std::string checkWritableFolder(const std::string &flag, const std::string &path,
                                bool mayCreate) {
  std::error_code code;
  fs::path folder = fs::absolute(path, code), existing = folder;
  while (mayCreate && !fs::exists(existing, code) && existing != existing.parent_path())
    existing = existing.parent_path();
  if (!fs::exists(existing, code))
    return flag + ": folder " + existing.string() + " does not exist";
  if (!fs::is_directory(existing, code))
    return flag + " " + path + ": " +
           (existing == folder ? "exists and is not a folder"
                               : existing.string() + " is not a folder");
  if (::access(existing.c_str(), W_OK | X_OK) != 0)
    return flag + " " + path + ": cannot write in " + existing.string() + ": " +
           std::strerror(errno);
  return "";
}

/// Checks the output paths before the first step, so that a path that cannot
/// be written stops the run now rather than after hours of steps.
std::string checkOutputPaths(const Options &options) {
  for (const auto &[flag, folder] :
       {std::pair<const char *, const std::string *>{"--dump", &options.dump},
        {"--save", &options.save}})
    if (!folder->empty())
      if (std::string error = checkWritableFolder(flag, *folder, /*mayCreate=*/true);
          !error.empty())
        return error;
  for (const auto &[flag, file] :
       {std::pair<const char *, const std::string *>{"--trace", &options.trace},
        {"--log", &options.log}}) {
    if (file->empty())
      continue;
    std::string error;
    switch (classifyOutputPath(*file, error)) {
    case OutputKind::Invalid:
      return std::string(flag) + " " + error;
    case OutputKind::Special:
      break;
    case OutputKind::RegularFile: {
      fs::path parent = fs::path(*file).parent_path();
      if (std::string problem = checkWritableFolder(flag, parent.empty() ? "." : parent.string(),
                                                    /*mayCreate=*/false);
          !problem.empty())
        return problem;
    }
    }
  }
  return "";
}

/// Checks what this build can do against --device, --comm and the launcher.
std::string checkBackends(const Options &options) {
  std::vector<std::string> devices = builtInDevices();
  if (std::find(devices.begin(), devices.end(), options.device) == devices.end()) {
    std::string known;
    for (const std::string &device : devices)
      known += (known.empty() ? "" : ", ") + device;
    if (options.device == "cuda")
      return "--device=cuda: this sp-run has no CUDA backend (built in: " + known + ")";
    return "--device '" + options.device + "': expected cpu or cuda";
  }
  std::vector<std::string> backends = collectiveBackends();
  if (options.comm == "mpi" || options.comm == "nccl") {
    if (std::find(backends.begin(), backends.end(), options.comm) == backends.end())
      return "--comm=" + options.comm + ": this sp-run has no " +
             (options.comm == "mpi" ? "MPI" : "NCCL") +
             " collectives (built in: " + builtInCollectives() +
             (backends.empty() ? "; plans for one rank need none)" : ")");
  } else if (!options.comm.empty()) {
    return "--comm '" + options.comm + "': expected mpi or nccl";
  }
  if (backends.empty()) {
    for (const char *variable : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
      const char *size = std::getenv(variable);
      if (size && std::atoll(size) > 1)
        return std::string("launched as one of ") + size +
               " ranks, but this sp-run has no MPI collectives; run it without mpirun";
    }
  }
  return "";
}

//===----------------------------------------------------------------------===//
// Token data for --data
//===----------------------------------------------------------------------===//

class TokenSource {
public:
  virtual ~TokenSource() = default;
  /// Checks, before the first step, what steps [firstStep, firstStep + steps)
  /// will feed.
  virtual std::string prepare(int64_t /*firstStep*/, int64_t /*steps*/, int64_t /*perStep*/) {
    return "";
  }
  /// Fills `tokens` (batch * sequence ids, row-major) for step `step`.
  virtual std::string fill(int64_t step, std::vector<int64_t> &tokens) = 0;
};

/// Raw little-endian uint16 or uint32 ids, read window by window.
class FileTokens : public TokenSource {
public:
  std::string open(const std::string &spec, int64_t perStep, int64_t vocab) {
    path_ = spec;
    width_ = 2;
    for (auto [suffix, width] : {std::pair<const char *, int>{":uint16", 2}, {":uint32", 4}}) {
      size_t length = std::strlen(suffix);
      if (spec.size() > length && spec.compare(spec.size() - length, length, suffix) == 0) {
        path_ = spec.substr(0, spec.size() - length);
        width_ = width;
      }
    }
    vocab_ = vocab;
    std::error_code code;
    fs::file_status status = fs::status(path_, code);
    if (fs::is_directory(status))
      return path_ + ": is a directory, not a token file";
    // A FIFO without a writer would block the open forever, and neither it
    // nor a device can be read window by window.
    if (fs::exists(status) && !fs::is_regular_file(status))
      return path_ + ": is not a regular file (a FIFO or a device); --data reads token files";
    file_.open(path_, std::ios::binary);
    if (!file_)
      return path_ + ": cannot open: " + std::strerror(errno);
    file_.seekg(0, std::ios::end);
    std::streamoff size = file_.tellg();
    if (size <= 0)
      return path_ + ": file is empty, not a token file";
    if (size % width_ != 0)
      return path_ + ": " + std::to_string(size) + " bytes is not a whole number of uint" +
             std::to_string(8 * width_) + " tokens";
    count_ = size / width_;
    if (count_ < perStep)
      return path_ + ": holds " + std::to_string(count_) + " tokens; one step needs " +
             std::to_string(perStep);
    return "";
  }

  /// Checks every id that steps [firstStep, firstStep + steps) will read, so
  /// that a bad token stops the run before its first step, not hours in.
  std::string prepare(int64_t firstStep, int64_t steps, int64_t perStep) override {
    int64_t total =
        (unsigned __int128)steps * uint64_t(perStep) >= uint64_t(count_) ? count_ : steps * perStep;
    int64_t position = start(firstStep, perStep);
    std::vector<int64_t> chunk;
    for (int64_t done = 0; done < total;) {
      chunk.resize(size_t(std::min<int64_t>(total - done, int64_t(1) << 20)));
      if (std::string error = read(position, chunk); !error.empty())
        return error;
      done += int64_t(chunk.size());
      position = (position + int64_t(chunk.size())) % count_;
    }
    return "";
  }

  std::string fill(int64_t step, std::vector<int64_t> &tokens) override {
    return read(start(step, int64_t(tokens.size())), tokens);
  }

private:
  /// The first token of `step`: (step * perStep) mod count, without overflow.
  int64_t start(int64_t step, int64_t perStep) const {
    return int64_t((unsigned __int128)step * uint64_t(perStep) % uint64_t(count_));
  }

  /// Reads tokens.size() ids from `position` on, wrapping at the end.
  std::string read(int64_t position, std::vector<int64_t> &tokens) {
    int64_t wanted = int64_t(tokens.size());
    std::vector<unsigned char> bytes(size_t(wanted) * width_);
    for (int64_t filled = 0; filled < wanted; position = 0) {
      int64_t run = std::min(wanted - filled, count_ - position);
      file_.clear();
      file_.seekg(std::streamoff(position) * width_);
      if (!file_.read(reinterpret_cast<char *>(bytes.data()) + filled * width_,
                      std::streamsize(run * width_)))
        return path_ + ": read failed at token " + std::to_string(position);
      for (int64_t i = 0; i < run; ++i) {
        const unsigned char *token = bytes.data() + (filled + i) * width_;
        int64_t id = token[0] | (int64_t(token[1]) << 8);
        if (width_ == 4)
          id |= (int64_t(token[2]) << 16) | (int64_t(token[3]) << 24);
        if (vocab_ > 0 && id >= vocab_)
          return path_ + ": token " + std::to_string(id) + " at position " +
                 std::to_string(position + i) + " is outside the vocabulary [0, " +
                 std::to_string(vocab_) + ")";
        tokens[filled + i] = id;
      }
      filled += run;
    }
    return "";
  }

  std::string path_;
  std::ifstream file_;
  int width_ = 2;
  int64_t count_ = 0, vocab_ = 0;
};

uint64_t splitMix64(uint64_t &state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/// The copy task: the second half of each sequence repeats the first, so a
/// model that learns to attend back drives the loss of that half to zero.
class CopyTaskTokens : public TokenSource {
public:
  CopyTaskTokens(int64_t sequence, int64_t vocab, uint64_t seed)
      : sequence_(sequence), vocab_(vocab), seed_(seed) {}

  std::string fill(int64_t step, std::vector<int64_t> &tokens) override {
    // Seeded by (seed, step), so a resumed run sees the same tokens.
    uint64_t mixer = seed_;
    uint64_t state = splitMix64(mixer) ^ uint64_t(step) * 0xd1b54a32d192ed03ull;
    int64_t half = sequence_ / 2;
    for (size_t row = 0; row < tokens.size() / size_t(sequence_); ++row) {
      int64_t *sequence = tokens.data() + row * sequence_;
      for (int64_t i = 0; i < sequence_; ++i)
        sequence[i] = i < half
                          ? int64_t((unsigned __int128)splitMix64(state) * uint64_t(vocab_) >> 64)
                          : sequence[i - half];
    }
    return "";
  }

private:
  int64_t sequence_, vocab_;
  uint64_t seed_;
};

//===----------------------------------------------------------------------===//
// Outputs: dumps and traces
//===----------------------------------------------------------------------===//

std::string jsonString(const std::string &text) {
  std::string quoted = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      quoted += '\\';
      quoted += char(c);
    } else if (c < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", c);
      quoted += escape;
    } else {
      quoted += char(c);
    }
  }
  return quoted + "\"";
}

std::string formatMicroseconds(double microseconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", microseconds);
  return text;
}

/// Every rank's `mine`, in rank order, whatever their lengths. Collective.
std::vector<std::vector<double>> gatherFromRanks(Communicator &world,
                                                 const std::vector<double> &mine) {
  int ranks = world.size();
  if (ranks == 1)
    return {mine};
  int64_t count = int64_t(mine.size());
  std::vector<int64_t> counts(size_t(ranks), 0);
  std::string error = world.allGather(&count, counts.data(), 1, DType::Int64);
  int64_t longest = error.empty() ? *std::max_element(counts.begin(), counts.end()) : 0;
  std::vector<double> padded = mine, all(size_t(longest) * size_t(ranks));
  padded.resize(size_t(longest));
  if (error.empty() && longest > 0)
    error = world.allGather(padded.data(), all.data(), longest, DType::Float64);
  if (!error.empty())
    reportFatal(world, "gathering the ranks' timings failed: " + error);
  std::vector<std::vector<double>> gathered(static_cast<size_t>(ranks));
  for (int rank = 0; rank < ranks; ++rank)
    gathered[size_t(rank)].assign(all.begin() + rank * longest,
                                  all.begin() + rank * longest + counts[size_t(rank)]);
  return gathered;
}

/// What the steps took: the overlap of communication with compute, and
/// (for --profile) each instruction's and each collective's times.
class StepRecorder {
public:
  StepRecorder(const Session &session, bool profiling)
      : session_(session), profiling_(profiling),
        kernelTimes_(size_t(session.plan().instructions_size())),
        communicationTimes_(size_t(session.plan().instructions_size())),
        communicationBytes_(size_t(session.plan().instructions_size()), 0),
        communicationKinds_(size_t(session.plan().instructions_size())) {}

  /// After each step. A warm-up step (the first of several) is left out.
  void record(bool warmUp) {
    if (warmUp)
      return;
    const std::vector<KernelTiming> &kernels = session_.lastStepTimings();
    const std::vector<CommunicationTiming> &communication = session_.lastStepCommunication();
    OverlapMeasure step =
        measureOverlap(kernels, communication, session_.lastStepMicroseconds());
    overlap_.stepMicroseconds += step.stepMicroseconds;
    overlap_.communicationMicroseconds += step.communicationMicroseconds;
    overlap_.hiddenMicroseconds += step.hiddenMicroseconds;
    ++steps_;
    if (!profiling_)
      return;
    for (const KernelTiming &kernel : kernels)
      kernelTimes_[size_t(kernel.instruction)].push_back(kernel.durationMicroseconds);
    // A ring attention posts several transfers: its collective time and
    // bytes are their sums over the step.
    std::map<int, std::pair<double, int64_t>> perInstruction;
    for (const CommunicationTiming &operation : communication) {
      if (operation.instruction < 0)
        continue;
      auto &[microseconds, bytes] = perInstruction[operation.instruction];
      microseconds += operation.durationMicroseconds;
      bytes += operation.bytes;
      communicationKinds_[size_t(operation.instruction)] = operation.kind;
    }
    for (const auto &[instruction, total] : perInstruction) {
      communicationTimes_[size_t(instruction)].push_back(total.first);
      communicationBytes_[size_t(instruction)] = total.second;
    }
  }

  /// The mean step's overlap over the recorded steps, averaged over the
  /// ranks (so the hidden share is the ratio of the ranks' sums). Collective.
  OverlapMeasure overlap(Communicator &world) const {
    double divisor = std::max<int64_t>(steps_, 1);
    std::vector<double> mine = {overlap_.stepMicroseconds / divisor,
                                overlap_.communicationMicroseconds / divisor,
                                overlap_.hiddenMicroseconds / divisor};
    OverlapMeasure mean;
    std::vector<std::vector<double>> all = gatherFromRanks(world, mine);
    for (const std::vector<double> &rank : all) {
      mean.stepMicroseconds = std::max(mean.stepMicroseconds, rank[0]);
      mean.communicationMicroseconds += rank[1] / double(all.size());
      mean.hiddenMicroseconds += rank[2] / double(all.size());
    }
    return mean;
  }

  /// Writes the --profile file (rank 0). Collective.
  std::string writeProfile(const std::string &path, Communicator &world) const {
    const sp::plan::Plan &plan = session_.plan();
    size_t count = size_t(plan.instructions_size());
    std::vector<double> mine(2 * count, -1.0);
    for (size_t index = 0; index < count; ++index) {
      mine[index] = median(kernelTimes_[index]);
      mine[count + index] = median(communicationTimes_[index]);
    }
    std::vector<std::vector<double>> all = gatherFromRanks(world, mine);
    std::vector<double> slowest(2 * count, -1.0);
    for (const std::vector<double> &rank : all)
      for (size_t i = 0; i < slowest.size() && i < rank.size(); ++i)
        slowest[i] = std::max(slowest[i], rank[i]);
    if (!printsOutput)
      return "";
    std::string error;
    bool written = writeFileAtomically(
        path,
        [&](std::ostream &out) {
          out << "{\"format\": \"sp-profile\", \"version\": 1, \"device\": "
              << jsonString(session_.device().name()) << ", \"world_size\": " << world.size()
              << ", \"threads\": " << cpuKernelThreads() << ", \"steps\": " << steps_
              << ", \"plan\": " << jsonString(session_.planPath()) << ",\n \"instructions\": [";
          const char *separator = "\n  ";
          for (size_t index = 0; index < count; ++index) {
            if (slowest[index] < 0)
              continue;
            const sp::plan::Instruction &instruction = plan.instructions(int(index));
            out << separator << "{\"id\": " << jsonString(instruction.id())
                << ", \"kernel\": " << jsonString(instruction.kernel())
                << ", \"us\": " << formatMicroseconds(slowest[index]) << "}";
            separator = ",\n  ";
          }
          out << "\n ],\n \"collectives\": [";
          separator = "\n  ";
          for (size_t index = 0; index < count; ++index) {
            if (slowest[count + index] < 0)
              continue;
            out << separator << "{\"id\": " << jsonString(plan.instructions(int(index)).id())
                << ", \"kind\": " << jsonString(communicationKinds_[index])
                << ", \"bytes\": " << communicationBytes_[index]
                << ", \"us\": " << formatMicroseconds(slowest[count + index]) << "}";
            separator = ",\n  ";
          }
          out << "\n ]}\n";
          return true;
        },
        error);
    return written ? "" : "--profile: " + error;
  }

private:
  static double median(std::vector<double> values) {
    if (values.empty())
      return -1.0;
    size_t middle = values.size() / 2;
    std::nth_element(values.begin(), values.begin() + middle, values.end());
    return values[middle];
  }

  const Session &session_;
  bool profiling_;
  OverlapMeasure overlap_;
  int64_t steps_ = 0;
  std::vector<std::vector<double>> kernelTimes_, communicationTimes_;
  std::vector<int64_t> communicationBytes_;
  std::vector<std::string> communicationKinds_;
};

/// The last step of every rank as a Chrome trace: one process per rank, a
/// compute and a communication lane each, on one clock (the machine's
/// steady clock, from the earliest step start). Written by rank 0.
/// Collective.
/// One training step for --log.
struct StepRecord {
  int64_t step;
  double loss, learningRate, gradientNorm, seconds;
};

/// --log: one JSON object per line, numbers at full precision (NaN and the
/// infinities, which JSON lacks, as null).
std::string writeLog(const std::string &path, const std::vector<StepRecord> &records) {
  auto number = [](double value) {
    if (!std::isfinite(value))
      return std::string("null");
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    return std::string(text);
  };
  std::string error;
  bool written = writeFileAtomically(
      path,
      [&](std::ostream &out) {
        for (const StepRecord &record : records) {
          out << "{\"step\": " << record.step << ", \"loss\": " << number(record.loss)
              << ", \"lr\": " << number(record.learningRate);
          if (!std::isnan(record.gradientNorm))
            out << ", \"grad_norm\": " << number(record.gradientNorm);
          out << ", \"seconds\": " << number(record.seconds) << "}\n";
        }
        return bool(out);
      },
      error);
  return written ? "" : "--log " + error;
}

std::string writeTrace(const std::string &path, const Session &session,
                       const OverlapMeasure &overlap) {
  Communicator &world = session.communicator();
  const std::vector<KernelTiming> &timings = session.lastStepTimings();
  const std::vector<CommunicationTiming> &communication = session.lastStepCommunication();
  // Per kernel: instruction, start, duration; per collective: instruction,
  // start, duration, bytes. Names and kinds come from the plan and the
  // order of the instructions, which every rank shares.
  std::vector<double> kernels, collectives;
  for (const KernelTiming &timing : timings)
    kernels.insert(kernels.end(), {double(timing.instruction), timing.startMicroseconds,
                                   timing.durationMicroseconds});
  for (const CommunicationTiming &operation : communication)
    collectives.insert(collectives.end(),
                       {double(operation.instruction), operation.startMicroseconds,
                        operation.durationMicroseconds, double(operation.bytes)});
  std::vector<std::vector<double>> allKernels = gatherFromRanks(world, kernels);
  std::vector<std::vector<double>> allCollectives = gatherFromRanks(world, collectives);
  std::vector<std::vector<double>> begins =
      gatherFromRanks(world, {session.lastStepBeginMicroseconds()});
  // The kinds of collectives, by instruction: ring attention's transfers
  // are send_receive, every other start names its own kind.
  std::map<int, std::string> kinds;
  for (const CommunicationTiming &operation : communication)
    kinds[operation.instruction] = operation.kind;
  std::vector<bool> waits(size_t(session.plan().instructions_size()), false);
  for (const KernelTiming &timing : timings)
    waits[size_t(timing.instruction)] = timing.waitsForCommunication;
  if (!printsOutput)
    return "";
  double origin = begins[0][0];
  for (const std::vector<double> &begin : begins)
    origin = std::min(origin, begin[0]);
  const sp::plan::Plan &plan = session.plan();
  int ranks = world.size();
  std::string error;
  bool written = writeFileAtomically(
      path,
      [&](std::ostream &out) {
        auto time = formatMicroseconds;
        out << "{\"displayTimeUnit\": \"ms\",\n \"otherData\": {\"plan\": "
            << jsonString(session.planPath()) << ", \"step\": " << session.stepsCompleted()
            << ", \"ranks\": " << ranks << ", \"step_us\": " << time(overlap.stepMicroseconds)
            << ", \"comm_us\": " << time(overlap.communicationMicroseconds)
            << ", \"hidden_share\": "
            << time(overlap.communicationMicroseconds > 0
                        ? overlap.hiddenMicroseconds / overlap.communicationMicroseconds
                        : 0.0)
            << "},\n \"traceEvents\": [";
        const char *separator = "\n  ";
        auto event = [&](const std::string &text) {
          out << separator << text;
          separator = ",\n  ";
        };
        for (int rank = 0; rank < ranks; ++rank) {
          std::string pid = std::to_string(rank + 1);
          double shift = begins[size_t(rank)][0] - origin;
          event("{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": " + pid +
                ", \"args\": {\"name\": \"rank " + std::to_string(rank) + "\"}}");
          for (auto [tid, lane] : {std::pair{1, "compute"}, std::pair{2, "communication"}})
            event("{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": " + pid +
                  ", \"tid\": " + std::to_string(tid) + ", \"args\": {\"name\": \"" + lane +
                  "\"}}");
          const std::vector<double> &mine = allKernels[size_t(rank)];
          for (size_t i = 0; i + 2 < mine.size(); i += 3) {
            int index = int(mine[i]);
            if (index < 0 || index >= plan.instructions_size())
              continue;
            const sp::plan::Instruction &instruction = plan.instructions(index);
            event("{\"name\": " + jsonString(instruction.kernel()) + ", \"cat\": \"" +
                  (waits[size_t(index)] ? "wait" : "compute") + "\", \"ph\": \"X\", \"pid\": " + pid +
                  ", \"tid\": 1, \"ts\": " + time(mine[i + 1] + shift) +
                  ", \"dur\": " + time(mine[i + 2]) +
                  ", \"args\": {\"instruction\": " + std::to_string(index) +
                  ", \"id\": " + jsonString(instruction.id()) +
                  ", \"location\": " + jsonString(instruction.location()) + "}}");
          }
          const std::vector<double> &theirs = allCollectives[size_t(rank)];
          for (size_t i = 0; i + 3 < theirs.size(); i += 4) {
            int index = int(theirs[i]);
            std::string kind = kinds.count(index) ? kinds[index] : "collective";
            std::string id = index >= 0 && index < plan.instructions_size()
                                 ? plan.instructions(index).id()
                                 : std::string();
            event("{\"name\": " + jsonString(kind) + ", \"cat\": \"comm\", \"ph\": \"X\", " +
                  "\"pid\": " + pid + ", \"tid\": 2, \"ts\": " + time(theirs[i + 1] + shift) +
                  ", \"dur\": " + time(theirs[i + 2]) + ", \"args\": {\"kind\": " +
                  jsonString(kind) + ", \"bytes\": " + std::to_string(int64_t(theirs[i + 3])) +
                  ", \"instruction\": " + std::to_string(index) + ", \"id\": " + jsonString(id) +
                  "}}");
          }
        }
        out << "\n ]}\n";
        return true;
      },
      error);
  return written ? "" : "--trace: " + error;
}

std::string makeDirectory(const fs::path &path) {
  std::error_code code;
  fs::create_directories(path, code);
  if (code || !fs::is_directory(path))
    return path.string() + ": cannot create the folder" +
           (code ? ": " + code.message() : std::string());
  return "";
}

/// Writes the dump: whole outputs, and for training plans the loss, the last
/// step's gradients and the parameters after it. Collective: every rank
/// gathers its shards of the sharded outputs, and rank 0 writes.
std::string writeDump(const fs::path &directory, const Session &session) {
  std::vector<std::pair<fs::path, NpyArray>> files;
  std::string error;
  for (const TensorInfo &output : session.outputs()) {
    NpyArray array;
    if (!(error = session.output(output.name, array)).empty())
      return error;
    files.emplace_back(encodeFileName(output.name) + ".npy", std::move(array));
  }
  if (session.isTraining()) {
    NpyArray loss;
    const sp::plan::Plan &plan = session.plan();
    if (plan.tensors(plan.loss()).dtype() == sp::plan::F64) {
      double value = session.loss();
      loss.dtype = DType::Float64;
      loss.data.resize(sizeof value);
      std::memcpy(loss.data.data(), &value, sizeof value);
    } else {
      float value = float(session.loss());
      loss.dtype = DType::Float32;
      loss.data.resize(sizeof value);
      std::memcpy(loss.data.data(), &value, sizeof value);
    }
    files.emplace_back("loss.npy", std::move(loss));
    // The last step's learning rate, and with clipping its gradient norm
    // before clipping: float64 scalars.
    auto scalar = [](double value) {
      NpyArray array;
      array.dtype = DType::Float64;
      array.data.resize(sizeof value);
      std::memcpy(array.data.data(), &value, sizeof value);
      return array;
    };
    files.emplace_back("lr.npy", scalar(session.learningRate()));
    if (session.measuresGradientNorm())
      files.emplace_back("grad_norm.npy", scalar(session.gradientNorm()));
    for (const TensorInfo &parameter : session.parameters()) {
      NpyArray gradient, value;
      std::string file = encodeFileName(parameter.name) + ".npy";
      if (!(error = session.gradient(parameter.name, gradient)).empty() ||
          !(error = session.parameter(parameter.name, value)).empty())
        return error;
      files.emplace_back(fs::path("grad") / file, std::move(gradient));
      files.emplace_back(fs::path("param") / file, std::move(value));
    }
  }
  if (!printsOutput)
    return "";
  if (!(error = makeDirectory(directory)).empty())
    return error;
  if (session.isTraining() && (!(error = makeDirectory(directory / "grad")).empty() ||
                               !(error = makeDirectory(directory / "param")).empty()))
    return error;
  for (const auto &[file, array] : files)
    if (!writeNpy((directory / file).string(), array, error))
      return error;
  return "";
}

//===----------------------------------------------------------------------===//
// The driver
//===----------------------------------------------------------------------===//

int printPlan(const std::string &path) {
  sp::plan::Plan plan;
  std::string error, text;
  if (!readPlanFile(path, plan, error))
    return reportError(error);
  if (!google::protobuf::TextFormat::PrintToString(plan, &text))
    return reportError(path + ": cannot print the plan");
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

std::string formatRate(double tokens, double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.0f", seconds > 0 ? tokens / seconds : 0.0);
  return text;
}

/// Feeds the inputs from .npy files and sets up the token source. Local to
/// this rank; the caller agrees on the outcome.
std::string setUpInputs(const Options &options, Session &session,
                        std::unique_ptr<TokenSource> &source) {
  std::string error;
  const TensorInfo *tokens = session.tokenInput();
  std::vector<bool> fed(session.inputs().size(), false);
  auto inputIndex = [&](const std::string &name) -> int {
    for (size_t i = 0; i < session.inputs().size(); ++i)
      if (session.inputs()[i].name == name)
        return int(i);
    return -1;
  };
  for (const auto &[name, file] : options.inputs) {
    int index = inputIndex(name);
    if (index < 0) {
      std::string known;
      for (const TensorInfo &input : session.inputs())
        known += (known.empty() ? "" : ", ") + input.name;
      return "--input " + name + ": the plan has no input '" + name +
             "' (its inputs: " + (known.empty() ? "none" : known) + ")";
    }
    if (fed[index])
      return "--input " + name + ": given twice";
    if (!options.data.empty() && tokens && tokens->name == name)
      return "--input " + name + ": this input is fed by --data; drop one of them";
    NpyArray array;
    if (!readNpy(file, array, error))
      return error;
    if (!(error = session.setInput(name, array)).empty())
      return file + ": " + error;
    fed[index] = true;
  }

  if (!options.data.empty()) {
    if (!tokens)
      return "--data: the plan has no token input (plan.token_input is empty)";
    fed[inputIndex(tokens->name)] = true;
    if (options.data.rfind("synthetic:", 0) == 0) {
      if (options.data != "synthetic:copy")
        return "--data " + options.data + ": unknown synthetic data (known: synthetic:copy)";
      if (session.vocabSize() <= 0)
        return "--data synthetic:copy: the plan does not record its vocabulary size";
      source =
          std::make_unique<CopyTaskTokens>(tokens->shape[1], session.vocabSize(), options.seed);
    } else {
      auto file = std::make_unique<FileTokens>();
      if (!(error = file->open(options.data, session.tokensPerStep(), session.vocabSize())).empty())
        return error;
      source = std::move(file);
    }
  }
  for (size_t i = 0; i < fed.size(); ++i) {
    if (fed[i])
      continue;
    const TensorInfo &input = session.inputs()[i];
    return "missing input '" + input.name + "' (" + input.describe() + "); pass --input " +
           input.name + "=FILE.npy" +
           (tokens && tokens->name == input.name ? " or --data FILE" : "");
  }
  return "";
}

/// Feeds step `step`'s tokens (the whole batch; each rank keeps its shard).
std::string feedTokens(Session &session, TokenSource &source, int64_t step,
                       std::vector<int64_t> &tokenIds) {
  const TensorInfo &tokens = *session.tokenInput();
  if (std::string error = source.fill(step, tokenIds); !error.empty())
    return error;
  NpyArray array;
  array.dtype = tokens.dtype;
  array.shape = tokens.shape;
  if (tokens.dtype == DType::Int64) {
    array.data.resize(tokenIds.size() * sizeof(int64_t));
    std::memcpy(array.data.data(), tokenIds.data(), array.data.size());
  } else {
    std::vector<int32_t> narrow(tokenIds.begin(), tokenIds.end());
    array.data.resize(narrow.size() * sizeof(int32_t));
    std::memcpy(array.data.data(), narrow.data(), array.data.size());
  }
  return session.setInput(tokens.name, array);
}

int run(const Options &options, const std::shared_ptr<Communicator> &ranks) {
  if (std::string error = checkBackends(options); !error.empty())
    return reportError(error);
  if ((options.saveEvery || options.keep) && options.save.empty())
    return reportError(std::string(options.saveEvery ? "--save-every" : "--keep") +
                       " needs --save DIR");

  // From here on every outcome is agreed among the ranks: each rank's own
  // problems (a file it cannot read) pass through Communicator::agree, and
  // the session's collective calls agree by themselves.
  std::string error;
  SessionOptions sessionOptions;
  sessionOptions.device = options.device;
  sessionOptions.collectiveTimeoutSeconds = options.timeoutSeconds;
  std::unique_ptr<Session> session = Session::load(options.plan, ranks, sessionOptions, error);
  if (!session)
    return reportError(error);
  // From here the session's communicator, whose communication thread alone
  // calls the backend, and whose waits end at --timeout: a rank stopped
  // while the others agree must not block them forever.
  Communicator &world = session->communicator();
  // A collective that failed leaves the ranks unable to agree: end the job.
  // So does an agreement that could not complete (a rank stopped): returning
  // would wait for that rank in the teardown.
  auto failed = [&](const std::string &message) {
    if (session->communicationFailed() || world.outOfStep())
      reportFatal(world, message);
    return reportError(message);
  };
  bool training = session->isTraining();
  if (!training) {
    if (options.steps && *options.steps != 1)
      return reportError("--steps " + std::to_string(*options.steps) +
                         ": an inference plan runs once");
    for (const std::string *flag : {&options.save, &options.resume})
      if (!flag->empty())
        return reportError(std::string(flag == &options.save ? "--save" : "--resume") +
                           ": an inference plan has no training state");
    if (!options.log.empty())
      return reportError("--log: an inference plan has no loss to log");
  }
  int64_t steps = options.steps.value_or(1);
  if (!(error = world.agree(checkOutputPaths(options))).empty())
    return failed(error);

  // A resumed run continues the checkpoint's seed unless --seed says.
  Options effective = options;
  session->setSeed(options.seed);
  if (!options.resume.empty()) {
    if (!(error = session->loadState(options.resume)).empty())
      return failed(error);
    if (options.seedGiven)
      session->setSeed(options.seed);
    effective.seed = session->seed();
  }
  std::unique_ptr<TokenSource> source;
  if (!(error = world.agree(setUpInputs(effective, *session, source))).empty())
    return failed(error);
  if (source && !(error = world.agree(
                      source->prepare(session->stepsCompleted(), steps, session->tokensPerStep())))
                     .empty())
    return failed(error);
  StepRecorder recorder(*session, !options.profile.empty());
  CheckpointOptions checkpointOptions;
  checkpointOptions.keep = options.keep;

  using Clock = std::chrono::steady_clock;
  int64_t firstStep = session->stepsCompleted();
  int64_t lastStep = firstStep + steps;
  double firstLoss = 0, lastLoss = 0, computeSeconds = 0;
  std::vector<int64_t> tokenIds(size_t(session->tokensPerStep()));
  std::vector<StepRecord> log;
  Clock::time_point runStart = Clock::now();
  for (int64_t step = firstStep; step < lastStep; ++step) {
    Clock::time_point stepStart = Clock::now();
    if (source && !(error = world.agree(feedTokens(*session, *source, step, tokenIds))).empty())
      return failed(error);
    if (!(error = session->runStep()).empty())
      return failed(error);
    double seconds = std::chrono::duration<double>(Clock::now() - stepStart).count();
    computeSeconds += seconds;
    recorder.record(step == firstStep && steps > 1);

    std::string line = "step " + std::to_string(step + 1) + "/" + std::to_string(lastStep);
    if (training) {
      lastLoss = session->loss();
      if (!options.log.empty())
        log.push_back({step + 1, lastLoss, session->learningRate(),
                       session->measuresGradientNorm() ? session->gradientNorm() : NAN,
                       seconds});
      if (step == firstStep)
        firstLoss = lastLoss;
      char loss[32];
      std::snprintf(loss, sizeof loss, "%.4f", lastLoss);
      line += std::string("  loss ") + loss;
      char rate[32];
      std::snprintf(rate, sizeof rate, "%.4g", session->learningRate());
      line += std::string("  lr ") + rate;
      if (session->measuresGradientNorm()) {
        char norm[32];
        std::snprintf(norm, sizeof norm, "%.4g", session->gradientNorm());
        line += std::string("  grad_norm ") + norm;
      }
    }
    if (session->tokensPerStep())
      line += "  tokens/s " + formatRate(double(session->tokensPerStep()), seconds);
    if (printsOutput) {
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    }

    if (options.saveEvery && (step + 1) % options.saveEvery == 0 && step + 1 != lastStep &&
        !(error = session->saveState(options.save, checkpointOptions)).empty())
      return failed(error);
  }
  double wallSeconds = std::chrono::duration<double>(Clock::now() - runStart).count();

  if (!options.save.empty() &&
      !(error = session->saveState(options.save, checkpointOptions)).empty())
    return failed(error);
  if (!options.dump.empty()) {
    error = writeDump(options.dump, *session);
    if (session->communicationFailed())
      reportFatal(world, error);
    if (!(error = world.agree(error)).empty())
      return failed(error);
  }
  OverlapMeasure overlap = recorder.overlap(world);
  // Rank 0 writes; every rank learns whether that failed.
  if (!options.log.empty() &&
      !(error = world.agree(printsOutput ? writeLog(options.log, log) : std::string())).empty())
    return failed(error);
  if (!options.trace.empty() &&
      !(error = world.agree(writeTrace(options.trace, *session, overlap))).empty())
    return failed(error);
  if (!options.profile.empty() &&
      !(error = world.agree(recorder.writeProfile(options.profile, world))).empty())
    return failed(error);

  std::string summary = training
                            ? "done: " + std::to_string(steps) + (steps == 1 ? " step" : " steps")
                            : std::string("done: 1 run");
  if (training) {
    char losses[64];
    std::snprintf(losses, sizeof losses, "  loss %.4f -> %.4f", firstLoss, lastLoss);
    summary += losses;
  }
  if (session->tokensPerStep())
    summary += "  tokens/s " +
               formatRate(double(session->tokensPerStep()) * double(steps), computeSeconds);
  char wall[32];
  std::snprintf(wall, sizeof wall, "  wall %.2f s", wallSeconds);
  if (printsOutput) {
    std::printf("%s%s\n", summary.c_str(), wall);
    if (world.size() > 1 && overlap.communicationMicroseconds > 0)
      std::printf("overlap: communication %.1f ms per step, %.1f%% hidden behind compute; step "
                  "%.1f ms\n",
                  overlap.communicationMicroseconds / 1000,
                  100 * overlap.hiddenMicroseconds / overlap.communicationMicroseconds,
                  overlap.stepMicroseconds / 1000);
  }
  return 0;
}

} // namespace

/// Ranks on one machine each get their share of its cores, unless the user
/// set OMP_NUM_THREADS: N ranks of all-core OpenMP pools oversubscribe the
/// machine, and spinning threads then stall every collective.
static void shareCoresAmongLocalRanks(const Communicator &world) {
  if (world.size() <= 1 || std::getenv("OMP_NUM_THREADS"))
    return;
  int localRanks = 0;
  for (const char *variable : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"})
    if (const char *value = std::getenv(variable))
      localRanks = std::atoi(value);
  if (localRanks <= 1)
    return;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  setCpuKernelThreads(int(std::max(1u, cores / unsigned(localRanks))));
}

int main(int argc, char **argv) {
  // Under an MPI launcher this joins the job (MPI_Init); alone, rank 0 of 1.
  std::string error;
  std::shared_ptr<Communicator> world = worldCommunicator(error);
  if (!world)
    return reportError(error);
  // An exception leaves the other ranks wherever they were: end them too.
  auto unexpected = [&](const std::string &message) {
    if (world->size() > 1)
      reportFatal(*world, message);
    return reportError(message);
  };
  try {
    printsOutput = world->rank() == 0;
    shareCoresAmongLocalRanks(*world);
    Options options;
    if (std::string error = parseOptions(argc, argv, options); !error.empty())
      return reportError(error);
    if (options.help) {
      if (printsOutput)
        std::fputs(kUsage, stdout);
      return 0;
    }
    if (options.version) {
      if (printsOutput)
        printVersion();
      return 0;
    }
    if (options.plan.empty())
      return reportError("no plan given (usage: sp-run PLAN [options]; see sp-run --help)");
    if (options.printPlan)
      return printsOutput ? printPlan(options.plan) : 0;
    return run(options, world);
  } catch (const std::bad_alloc &) {
    return unexpected("out of memory");
  } catch (const std::exception &exception) {
    return unexpected(std::string("internal error: ") + exception.what());
  }
}
