//===- Checkpoint.h - reading sp checkpoints ---------------------*- C++ -*-===//
//
// The one reader of the checkpoint format that Session::saveState writes
// (DESIGN.md, "Checkpoints are whole tensors"): sp-run's --resume and
// sp-export both open checkpoints here, so a checkpoint is verified the same
// way whoever reads it.
//
//   DIR/step-0000000100/manifest.json     format, model, optimizer, step, ...
//   DIR/step-0000000100/param/NAME.npy    each parameter, whole
//   DIR/step-0000000100/state/NAME.npy    optimizer moments, step counter
//
//===----------------------------------------------------------------------===//
#ifndef SP_RUNTIME_CHECKPOINT_H
#define SP_RUNTIME_CHECKPOINT_H

#include "sp/runtime/Npy.h"

#include <cstdint>
#include <string>
#include <vector>

namespace sp::runtime {

/// One tensor of a checkpoint, as its manifest describes it.
struct CheckpointTensor {
  /// The parameter's name (the ONNX initializer's), or the state tensor's.
  std::string name;
  /// "parameter" or "state".
  std::string role;
  /// The .npy file, relative to the checkpoint's folder.
  std::string file;
  /// The NumPy-style dtype name ("float32", ...) and the global shape.
  std::string dtype;
  std::vector<int64_t> shape;
  /// XXH64 of the file's array bytes, as 16 hex digits.
  std::string xxh64;
};

/// A checkpoint's manifest, checked for format, version and its own checksum.
struct CheckpointManifest {
  /// The step folder (DIR/step-N) the manifest was read from.
  std::string folder;
  int64_t step = 0;
  uint64_t seed = 0;
  int worldSize = 1;
  /// The model the plan was compiled from, as sp-compile recorded it.
  std::string modelSource;
  /// The hash of the parameters' names, dtypes and shapes (the model identity).
  std::string parametersHash;
  std::string optimizerKind;
  std::string precision;
  std::vector<CheckpointTensor> tensors;
};

/// Opens the checkpoint at `path`: a step folder, or a folder of them as
/// --save writes (then the newest). On failure returns one line naming the
/// file and what is wrong; on success "".
std::string openCheckpoint(const std::string &path, CheckpointManifest &manifest);

/// Reads one tensor of an opened checkpoint: the file must stay inside the
/// checkpoint, hold the dtype and shape the manifest records, match its
/// checksum and, for float tensors, hold no NaN or infinity. On failure
/// returns one line; on success "".
std::string readCheckpointTensor(const CheckpointManifest &manifest, const CheckpointTensor &tensor,
                                 NpyArray &array);

} // namespace sp::runtime

#endif // SP_RUNTIME_CHECKPOINT_H
