//===- CApi.cpp - the C embedding API over Session ------------------------===//
//
// Each function converts a failure, including an exception from the standard
// library (out of memory), into SP_ERROR and a thread-local message: nothing
// throws across the C boundary.
//
//===----------------------------------------------------------------------===//

#include "sp/runtime/Session.h"
#include "sp/runtime/sp_runtime.h"

#include <cstring>
#include <exception>
#include <new>

using namespace sp::runtime;

struct sp_session {
  std::unique_ptr<Session> session;
};

namespace {

thread_local std::string lastError;

constexpr std::pair<sp_dtype, DType> kDTypes[] = {
    {SP_DTYPE_FLOAT32, DType::Float32}, {SP_DTYPE_FLOAT64, DType::Float64},
    {SP_DTYPE_FLOAT16, DType::Float16}, {SP_DTYPE_BFLOAT16, DType::BFloat16},
    {SP_DTYPE_INT64, DType::Int64},     {SP_DTYPE_INT32, DType::Int32},
    {SP_DTYPE_INT8, DType::Int8},       {SP_DTYPE_UINT8, DType::UInt8},
    {SP_DTYPE_BOOL, DType::Bool},
};

bool toDType(sp_dtype dtype, DType &result) {
  for (const auto &[c, cpp] : kDTypes)
    if (c == dtype) {
      result = cpp;
      return true;
    }
  return false;
}

sp_dtype toCDType(DType dtype) {
  for (const auto &[c, cpp] : kDTypes)
    if (cpp == dtype)
      return c;
  return SP_DTYPE_FLOAT32;
}

sp_status failure(std::string message) {
  lastError = std::move(message);
  return SP_ERROR;
}

/// Runs `body` (returning an error line, empty on success) with exceptions
/// turned into errors.
template <typename Body> sp_status guarded(Body &&body) {
  lastError.clear();
  try {
    std::string error = body();
    return error.empty() ? SP_OK : failure(std::move(error));
  } catch (const std::bad_alloc &) {
    return failure("out of memory");
  } catch (const std::exception &exception) {
    return failure(std::string("internal error: ") + exception.what());
  }
}

sp_status describe(const sp_session *session,
                   const std::vector<TensorInfo> &(Session::*list)() const, size_t index,
                   sp_tensor_info *info) {
  return guarded([&]() -> std::string {
    if (!session || !info)
      return "session or info is NULL";
    const std::vector<TensorInfo> &tensors = (session->session.get()->*list)();
    if (index >= tensors.size())
      return "index " + std::to_string(index) + " is out of range (there are " +
             std::to_string(tensors.size()) + ")";
    const TensorInfo &tensor = tensors[index];
    info->name = tensor.name.c_str();
    info->dtype = toCDType(tensor.dtype);
    info->rank = int32_t(tensor.shape.size());
    info->shape = tensor.shape.data();
    info->size_bytes = size_t(tensor.numElements() * dtypeSize(tensor.dtype));
    return "";
  });
}

/// Copies a tensor that `read` fetched into the caller's buffer.
sp_status readInto(const sp_session *session, const char *name, void *buffer, size_t size,
                   const char *what,
                   std::string (Session::*read)(const std::string &, NpyArray &) const) {
  return guarded([&]() -> std::string {
    if (!session || !name || (!buffer && size))
      return "session, name or buffer is NULL";
    NpyArray array;
    if (std::string error = (session->session.get()->*read)(name, array); !error.empty())
      return error;
    if (array.data.size() != size)
      return std::string(what) + " '" + name + "' is " + dtypeName(array.dtype) + " " +
             formatShape(array.shape) + " (" + std::to_string(array.data.size()) +
             " bytes); the buffer holds " + std::to_string(size) + " bytes";
    if (size)
      std::memcpy(buffer, array.data.data(), size);
    return "";
  });
}

} // namespace

extern "C" {

const char *sp_version(void) { return SP_VERSION; }
const char *sp_last_error(void) { return lastError.c_str(); }

const char *sp_dtype_name(sp_dtype dtype) {
  DType cpp;
  return toDType(dtype, cpp) ? dtypeName(cpp) : "unknown";
}

sp_status sp_session_load(const char *plan_path, sp_session **session) {
  return guarded([&]() -> std::string {
    if (!plan_path || !session)
      return "plan_path or session is NULL";
    *session = nullptr;
    std::string error;
    std::unique_ptr<Session> loaded = Session::load(plan_path, error);
    if (!loaded)
      return error;
    *session = new sp_session{std::move(loaded)};
    return "";
  });
}

void sp_session_free(sp_session *session) { delete session; }

int sp_session_is_training(const sp_session *session) {
  return session && session->session->isTraining() ? 1 : 0;
}

size_t sp_session_input_count(const sp_session *session) {
  return session ? session->session->inputs().size() : 0;
}
sp_status sp_session_input_info(const sp_session *session, size_t index, sp_tensor_info *info) {
  return describe(session, &Session::inputs, index, info);
}
size_t sp_session_output_count(const sp_session *session) {
  return session ? session->session->outputs().size() : 0;
}
sp_status sp_session_output_info(const sp_session *session, size_t index, sp_tensor_info *info) {
  return describe(session, &Session::outputs, index, info);
}
size_t sp_session_parameter_count(const sp_session *session) {
  return session ? session->session->parameters().size() : 0;
}
sp_status sp_session_parameter_info(const sp_session *session, size_t index, sp_tensor_info *info) {
  return describe(session, &Session::parameters, index, info);
}

const char *sp_session_token_input(const sp_session *session) {
  const TensorInfo *tokens = session ? session->session->tokenInput() : nullptr;
  return tokens ? tokens->name.c_str() : nullptr;
}
int64_t sp_session_vocab_size(const sp_session *session) {
  return session ? session->session->vocabSize() : 0;
}
int64_t sp_session_steps_completed(const sp_session *session) {
  return session ? session->session->stepsCompleted() : 0;
}
uint64_t sp_session_seed(const sp_session *session) {
  return session ? session->session->seed() : 0;
}
void sp_session_set_seed(sp_session *session, uint64_t seed) {
  if (session)
    session->session->setSeed(seed);
}
int sp_session_rank(const sp_session *session) { return session ? session->session->rank() : 0; }
int sp_session_world_size(const sp_session *session) {
  return session ? session->session->worldSize() : 1;
}

sp_status sp_session_set_input(sp_session *session, const char *name, sp_dtype dtype, int32_t rank,
                               const int64_t *shape, const void *data, size_t size_bytes) {
  return guarded([&]() -> std::string {
    if (!session || !name || (!shape && rank > 0) || (!data && size_bytes))
      return "session, name, shape or data is NULL";
    if (rank < 0)
      return "input '" + std::string(name) + "': negative rank " + std::to_string(rank);
    DType cppDType;
    if (!toDType(dtype, cppDType))
      return "input '" + std::string(name) + "': unknown dtype " + std::to_string(int(dtype));
    std::vector<int64_t> dims(shape, shape + rank);
    return session->session->setInput(name, cppDType, dims, data, size_bytes);
  });
}

sp_status sp_session_run_step(sp_session *session) {
  return guarded([&]() -> std::string {
    if (!session)
      return "session is NULL";
    return session->session->runStep();
  });
}

sp_status sp_session_loss(const sp_session *session, double *loss) {
  return guarded([&]() -> std::string {
    if (!session || !loss)
      return "session or loss is NULL";
    if (!session->session->isTraining())
      return "the plan computes no loss (an inference plan)";
    if (!session->session->hasRun())
      return "no step has run yet";
    *loss = session->session->loss();
    return "";
  });
}

sp_status sp_session_learning_rate(const sp_session *session, double *learningRate) {
  return guarded([&]() -> std::string {
    if (!session || !learningRate)
      return "session or learning_rate is NULL";
    if (!session->session->isTraining())
      return "the plan has no learning rate (an inference plan)";
    if (!session->session->hasRun())
      return "no step has run yet";
    *learningRate = session->session->learningRate();
    return "";
  });
}

sp_status sp_session_gradient_norm(const sp_session *session, double *norm) {
  return guarded([&]() -> std::string {
    if (!session || !norm)
      return "session or norm is NULL";
    if (!session->session->measuresGradientNorm())
      return "the plan does not measure the gradient norm (compile with --clip-grad-norm)";
    if (!session->session->hasRun())
      return "no step has run yet";
    *norm = session->session->gradientNorm();
    return "";
  });
}

sp_status sp_session_read_output(const sp_session *session, const char *name, void *buffer,
                                 size_t size_bytes) {
  return readInto(session, name, buffer, size_bytes, "output", &Session::output);
}
sp_status sp_session_read_gradient(const sp_session *session, const char *parameter, void *buffer,
                                   size_t size_bytes) {
  return readInto(session, parameter, buffer, size_bytes, "gradient of", &Session::gradient);
}
sp_status sp_session_read_parameter(const sp_session *session, const char *parameter, void *buffer,
                                    size_t size_bytes) {
  return readInto(session, parameter, buffer, size_bytes, "parameter", &Session::parameter);
}

sp_status sp_session_write_parameter(sp_session *session, const char *parameter, const void *data,
                                     size_t size_bytes) {
  return guarded([&]() -> std::string {
    if (!session || !parameter || (!data && size_bytes))
      return "session, parameter or data is NULL";
    for (const TensorInfo &info : session->session->parameters()) {
      if (info.name != parameter)
        continue;
      NpyArray array;
      array.dtype = info.dtype;
      array.shape = info.shape;
      const char *begin = static_cast<const char *>(data);
      array.data.assign(begin, begin + size_bytes);
      return session->session->setParameter(parameter, array);
    }
    return "the plan has no parameter '" + std::string(parameter) + "'";
  });
}

sp_status sp_session_save_state(const sp_session *session, const char *directory) {
  return guarded([&]() -> std::string {
    if (!session || !directory)
      return "session or directory is NULL";
    return session->session->saveState(directory);
  });
}

sp_status sp_session_load_state(sp_session *session, const char *directory) {
  return guarded([&]() -> std::string {
    if (!session || !directory)
      return "session or directory is NULL";
    return session->session->loadState(directory);
  });
}

} // extern "C"
