/*===- embed_host.c - a C host that trains through sp_runtime.h -----------===*
 *
 * Loads a training plan, feeds its token input the same fixed batch every
 * step and prints the losses: the smallest complete host of the runtime.
 *
 *   sp-embed-host PLAN [STEPS]
 *
 *===----------------------------------------------------------------------===*/

#include "sp/runtime/sp_runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
  fprintf(stderr, "sp-embed-host: error: %s%s%s\n", what, *sp_last_error() ? ": " : "",
          sp_last_error());
  return 1;
}

static void print_tensor(const char *kind, const sp_tensor_info *info) {
  int32_t dim;
  printf("%s %s: %s [", kind, info->name, sp_dtype_name(info->dtype));
  for (dim = 0; dim < info->rank; ++dim)
    printf(dim ? ", %lld" : "%lld", (long long)info->shape[dim]);
  printf("]\n");
}

int main(int argc, char **argv) {
  sp_session *session = NULL;
  sp_tensor_info tokens_info;
  const char *token_name;
  long steps = 3, step;
  size_t i, count;
  int64_t vocab;
  void *tokens;
  int status = 0;

  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: sp-embed-host PLAN [STEPS]\n");
    return 1;
  }
  if (argc == 3 && (steps = strtol(argv[2], NULL, 10)) <= 0) {
    fprintf(stderr, "sp-embed-host: error: STEPS must be a positive integer\n");
    return 1;
  }
  memset(&tokens_info, 0, sizeof tokens_info);
  if (sp_session_load(argv[1], &session) != SP_OK)
    return fail("cannot load the plan");
  printf("runtime %s, %s plan\n", sp_version(),
         sp_session_is_training(session) ? "training" : "inference");

  token_name = sp_session_token_input(session);
  vocab = sp_session_vocab_size(session);
  if (!token_name || vocab <= 0) {
    sp_session_free(session);
    fprintf(stderr, "sp-embed-host: error: the plan has no token input with a known vocabulary\n");
    return 1;
  }
  for (i = 0, count = sp_session_input_count(session); i < count; ++i) {
    sp_tensor_info info;
    if (sp_session_input_info(session, i, &info) != SP_OK) {
      sp_session_free(session);
      return fail("cannot describe an input");
    }
    print_tensor("input", &info);
    if (strcmp(info.name, token_name) == 0)
      tokens_info = info;
    else {
      fprintf(stderr,
              "sp-embed-host: error: input '%s' is not the token input; this host "
              "feeds tokens only\n",
              info.name);
      sp_session_free(session);
      return 1;
    }
  }
  for (i = 0, count = sp_session_output_count(session); i < count; ++i) {
    sp_tensor_info info;
    if (sp_session_output_info(session, i, &info) == SP_OK)
      print_tensor("output", &info);
  }
  printf("parameters: %zu\n", sp_session_parameter_count(session));

  /* One fixed batch: a training plan memorizes it, so the loss falls. */
  tokens = malloc(tokens_info.size_bytes);
  if (!tokens) {
    sp_session_free(session);
    fprintf(stderr, "sp-embed-host: error: out of memory\n");
    return 1;
  }
  {
    size_t n = tokens_info.size_bytes /
               (tokens_info.dtype == SP_DTYPE_INT64 ? sizeof(int64_t) : sizeof(int32_t));
    uint32_t state = 12345;
    for (i = 0; i < n; ++i) {
      int64_t id;
      state = state * 1664525u + 1013904223u; /* a fixed LCG: the same batch on every host */
      id = (int64_t)((state >> 8) % (uint64_t)vocab);
      if (tokens_info.dtype == SP_DTYPE_INT64)
        ((int64_t *)tokens)[i] = id;
      else
        ((int32_t *)tokens)[i] = (int32_t)id;
    }
  }
  if (sp_session_set_input(session, token_name, tokens_info.dtype, tokens_info.rank,
                           tokens_info.shape, tokens, tokens_info.size_bytes) != SP_OK) {
    status = fail("cannot set the token input");
    goto done;
  }

  if (!sp_session_is_training(session))
    steps = 1;
  for (step = 1; step <= steps; ++step) {
    double loss;
    if (sp_session_run_step(session) != SP_OK) {
      status = fail("step failed");
      goto done;
    }
    if (sp_session_is_training(session)) {
      if (sp_session_loss(session, &loss) != SP_OK) {
        status = fail("cannot read the loss");
        goto done;
      }
      /* %.17g round-trips the double: a host can check it bit for bit. */
      printf("step %ld loss %.17g\n", step, loss);
    } else {
      printf("ran once\n");
    }
  }

done:
  free(tokens);
  sp_session_free(session);
  return status;
}
