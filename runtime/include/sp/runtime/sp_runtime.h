/*===- sp_runtime.h - the C embedding API -------------------------*- C -*-===*
 *
 * Loads a plan written by sp-compile and runs its steps on the CPU, for hosts
 * in C or any language with a C FFI. Pure C99; link libsp_runtime.so.
 *
 * Every fallible function returns SP_OK or SP_ERROR. After SP_ERROR,
 * sp_last_error() returns one line saying what went wrong (per thread, valid
 * until the thread's next call into this API). Tensor data is raw
 * little-endian bytes in C order; buffer sizes are in bytes and must match the
 * tensor exactly.
 *
 * A plan built for N ranks runs under an MPI launcher (mpirun -np N), one
 * session per rank. Inputs and outputs are whole tensors on every rank (each
 * rank keeps its shard of an input split along the sequence). Loading,
 * running a step, saving and loading the state, and reading an output split
 * along the sequence communicate: every rank calls them, in the same order,
 * and they succeed on all ranks or fail on all with the same message.
 *
 *===----------------------------------------------------------------------===*/
#ifndef SP_RUNTIME_SP_RUNTIME_H
#define SP_RUNTIME_SP_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One loaded plan with its memory; not safe to use from two threads at once. */
typedef struct sp_session sp_session;

typedef enum sp_status { SP_OK = 0, SP_ERROR = 1 } sp_status;

typedef enum sp_dtype {
  SP_DTYPE_FLOAT32 = 0,
  SP_DTYPE_FLOAT64 = 1,
  SP_DTYPE_FLOAT16 = 2,
  SP_DTYPE_BFLOAT16 = 3,
  SP_DTYPE_INT64 = 4,
  SP_DTYPE_INT32 = 5,
  SP_DTYPE_INT8 = 6,
  SP_DTYPE_UINT8 = 7,
  SP_DTYPE_BOOL = 8 /* one byte per element, 0 or 1 */
} sp_dtype;

/* A graph input or output, or a parameter. The pointers stay valid while
   the session lives. */
typedef struct sp_tensor_info {
  const char *name;
  sp_dtype dtype;
  int32_t rank;
  const int64_t *shape; /* `rank` dims */
  size_t size_bytes;
} sp_tensor_info;

/* The runtime's version, e.g. "0.1.0". */
const char *sp_version(void);
/* The message of this thread's last failed call; "" when there was none. */
const char *sp_last_error(void);
/* A name for messages, e.g. "float32". */
const char *sp_dtype_name(sp_dtype dtype);

/* Loads and validates the plan at `plan_path` and its weights sidecar; under
   an MPI launcher, on the ranks of MPI_COMM_WORLD (MPI is initialized once). */
sp_status sp_session_load(const char *plan_path, sp_session **session);
void sp_session_free(sp_session *session);

/* 1 when the plan computes a loss and updates parameters, else 0. */
int sp_session_is_training(const sp_session *session);
size_t sp_session_input_count(const sp_session *session);
sp_status sp_session_input_info(const sp_session *session, size_t index, sp_tensor_info *info);
size_t sp_session_output_count(const sp_session *session);
sp_status sp_session_output_info(const sp_session *session, size_t index, sp_tensor_info *info);
size_t sp_session_parameter_count(const sp_session *session);
sp_status sp_session_parameter_info(const sp_session *session, size_t index, sp_tensor_info *info);
/* The [batch, sequence] token input's name, or NULL when the plan has none. */
const char *sp_session_token_input(const sp_session *session);
/* Token ids must lie in [0, vocab size); 0 when the plan does not say. */
int64_t sp_session_vocab_size(const sp_session *session);
/* Steps run so far, counting those of a checkpoint restored by load_state. */
int64_t sp_session_steps_completed(const sp_session *session);
/* The run's seed, which with the step keys dropout masks (0 until set;
   checkpoints record it and load_state restores it). Under several ranks every
   rank sets the same seed. */
uint64_t sp_session_seed(const sp_session *session);
void sp_session_set_seed(sp_session *session, uint64_t seed);
/* This process's rank, and the number of ranks the plan runs on (1 without MPI). */
int sp_session_rank(const sp_session *session);
int sp_session_world_size(const sp_session *session);

/* Sets an input for the following steps; dtype and shape must be the plan's. */
sp_status sp_session_set_input(sp_session *session, const char *name, sp_dtype dtype, int32_t rank,
                               const int64_t *shape, const void *data, size_t size_bytes);
/* One training step, or one inference. */
sp_status sp_session_run_step(sp_session *session);

/* The last step's loss. */
sp_status sp_session_loss(const sp_session *session, double *loss);
/* The learning rate of the last step's update (a scheduled plan's rate for
   that step, else the plan's constant rate). */
sp_status sp_session_learning_rate(const sp_session *session, double *learning_rate);
/* The global L2 norm of the last step's gradients before clipping; an error
   for plans compiled without --clip-grad-norm. */
sp_status sp_session_gradient_norm(const sp_session *session, double *norm);
sp_status sp_session_read_output(const sp_session *session, const char *name, void *buffer,
                                 size_t size_bytes);
/* The last step's gradient of a parameter. */
sp_status sp_session_read_gradient(const sp_session *session, const char *parameter, void *buffer,
                                   size_t size_bytes);
sp_status sp_session_read_parameter(const sp_session *session, const char *parameter, void *buffer,
                                    size_t size_bytes);
sp_status sp_session_write_parameter(sp_session *session, const char *parameter, const void *data,
                                     size_t size_bytes);

/* Checkpoints: parameters and optimizer state as .npy files in `directory`
   (the layout of `sp-run --save`). */
sp_status sp_session_save_state(const sp_session *session, const char *directory);
sp_status sp_session_load_state(sp_session *session, const char *directory);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SP_RUNTIME_SP_RUNTIME_H */
