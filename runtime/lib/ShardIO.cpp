//===- ShardIO.cpp - whole tensors in, shards out, and back -----------------===//
//
// Hosts pass and read whole tensors; each rank holds its shard of those
// split along the sequence. Inputs are cut on the host and copied to the
// device; sharded outputs are gathered from every rank on the device and
// copied back whole.
//
//===----------------------------------------------------------------------===//

#include "SessionImpl.h"

#include <algorithm>
#include <cstring>


namespace sp::runtime {
namespace {

/// Copies a tensor of `shape`, but `fromLength` long along `axis`, into one
/// `toLength` long there: each run along the axis keeps its first
/// min(fromLength, toLength) positions; `to` keeps its bytes past them.
/// Pads (a zeroed `to`) or cuts the sequence of a padded plan's binding.
void copyAlongAxis(const char *from, int64_t fromLength, char *to, int64_t toLength,
                   const std::vector<int64_t> &shape, int axis, size_t elementSize) {
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d)
    outer *= shape[size_t(d)];
  for (size_t d = size_t(axis) + 1; d < shape.size(); ++d)
    inner *= shape[d];
  size_t position = size_t(inner) * elementSize;
  size_t kept = size_t(std::min(fromLength, toLength)) * position;
  for (int64_t o = 0; o < outer; ++o)
    std::memcpy(to + size_t(o * toLength) * position, from + size_t(o * fromLength) * position,
                kept);
}

} // namespace

std::string Session::Impl::gatherOut(const OutputSlot &slot, const TensorInfo &whole,
                                     NpyArray &array) const {
  const TensorSlot &local = tensors[slot.tensor];
  size_t wholeBytes = size_t(local.bytes) * size_t(layout.ranks);
  // The ranks hold the padded sequence; users get the unpadded one.
  std::vector<int64_t> gatheredShape = whole.shape;
  if (slot.paddedLength)
    gatheredShape[size_t(slot.shardAxis)] = slot.paddedLength;
  array.dtype = whole.dtype;
  array.shape = gatheredShape;
  array.data.resize(wholeBytes);
  bool inPlace = layout.isRankMajor(gatheredShape, slot.shardAxis);
  std::vector<char> ranksMajor(inPlace ? 0 : wholeBytes);
  // Communicators move device memory: gather there, then copy to the host.
  std::string error;
  void *gathered = device->allocate(wholeBytes, 64, error);
  if (!gathered)
    error = "output '" + whole.name + "': " + error;
  // Every rank takes part in the gather, or none: one failing rank must not
  // leave the others waiting.
  if (std::string agreedError = agreed(error); !agreedError.empty()) {
    if (gathered)
      device->deallocate(gathered);
    return agreedError;
  }
  DeviceBuffer staging(device.get(), gathered);
  if (std::string problem = communicator->allGather(local.data, staging.data(),
                                                    numElements(local.shape), local.dtype);
      !problem.empty()) {
    communicationFailed = true;
    return "output '" + whole.name + "': gathering its shards failed: " + problem;
  }
  Stream &stream = device->computeStream();
  device->copyToHost(inPlace ? array.data.data() : ranksMajor.data(), staging.data(), wholeBytes,
                     stream);
  stream.synchronize();
  if (!inPlace)
    layout.unpackRanks(ranksMajor.data(), array.data.data(), gatheredShape, slot.shardAxis,
                       dtypeSize(local.dtype));
  if (slot.paddedLength) {
    std::vector<char> unpadded(size_t(numElements(whole.shape)) * dtypeSize(local.dtype));
    int64_t length = whole.shape[size_t(slot.shardAxis)];
    copyAlongAxis(array.data.data(), slot.paddedLength, unpadded.data(), length, whole.shape,
                  slot.shardAxis, dtypeSize(local.dtype));
    array.data = std::move(unpadded);
    array.shape = whole.shape;
  }
  return "";
}

std::string Session::setInput(const std::string &name, const NpyArray &array) {
  return setInput(name, array.dtype, array.shape, array.data.data(), array.data.size());
}

std::string Session::setInput(const std::string &name, DType dtype,
                              const std::vector<int64_t> &shape, const void *data, size_t size) {
  for (InputSlot &slot : impl_->inputSlots) {
    if (slot.info.name != name)
      continue;
    if (dtype != slot.info.dtype || shape != slot.info.shape)
      return "input '" + name + "': expected " + slot.info.describe() + ", got " +
             dtypeName(dtype) + " " + formatShape(shape);
    uint64_t localBytes = impl_->tensors[slot.tensor].bytes;
    uint64_t bytes = slot.shardAxis < 0
                         ? localBytes
                         : uint64_t(numElements(slot.info.shape)) * uint64_t(dtypeSize(dtype));
    if (size != bytes)
      return "input '" + name + "': expected " + std::to_string(bytes) + " bytes of " +
             slot.info.describe() + ", got " + std::to_string(size);
    const char *begin = static_cast<const char *>(data);
    if (slot.shardAxis < 0) {
      slot.data.assign(begin, begin + size);
    } else {
      // A padded sequence's padding is zeros: a valid token id, a position,
      // and "padded" in an attention mask.
      std::vector<int64_t> wholeShape = slot.info.shape;
      std::vector<char> padded;
      if (slot.paddedLength) {
        int64_t length = wholeShape[size_t(slot.shardAxis)];
        wholeShape[size_t(slot.shardAxis)] = slot.paddedLength;
        padded.assign(size_t(localBytes) * size_t(impl_->layout.ranks), 0);
        copyAlongAxis(begin, length, padded.data(), slot.paddedLength, slot.info.shape,
                      slot.shardAxis, dtypeSize(dtype));
        begin = padded.data();
      }
      slot.data.resize(size_t(localBytes));
      impl_->layout.extractShard(begin, slot.data.data(), wholeShape, slot.shardAxis,
                                 impl_->context.rank, dtypeSize(dtype));
    }
    slot.set = true;
    return "";
  }
  std::string known;
  for (const TensorInfo &input : impl_->inputs)
    known += (known.empty() ? "" : ", ") + input.name;
  return "the plan has no input '" + name + "' (its inputs: " + (known.empty() ? "none" : known) +
         ")";
}

std::string Session::Impl::copyOut(int tensor, NpyArray &array) const {
  const TensorSlot &slot = tensors[tensor];
  array.dtype = slot.dtype;
  array.shape = slot.shape;
  array.data.resize(size_t(slot.bytes));
  device->copyToHost(array.data.data(), slot.data, slot.bytes, device->computeStream());
  device->computeStream().synchronize();
  return "";
}

std::string Session::Impl::copyIn(int tensor, const TensorInfo &info, const std::string &what,
                                  const NpyArray &array) {
  if (array.dtype != info.dtype || array.shape != info.shape)
    return what + ": expected " + info.describe() + ", got " + dtypeName(array.dtype) + " " +
           formatShape(array.shape);
  const TensorSlot &slot = tensors[tensor];
  if (array.data.size() != slot.bytes)
    return what + ": expected " + std::to_string(slot.bytes) + " bytes, got " +
           std::to_string(array.data.size());
  device->copyToDevice(slot.data, array.data.data(), slot.bytes, device->computeStream());
  device->computeStream().synchronize();
  return "";
}

const ParameterSlot *Session::Impl::findParameter(const std::string &name) const {
  for (const ParameterSlot &slot : parameterSlots)
    if (slot.info.name == name)
      return &slot;
  return nullptr;
}

std::string Session::output(const std::string &name, NpyArray &array) const {
  for (size_t i = 0; i < impl_->outputs.size(); ++i) {
    if (impl_->outputs[i].name != name)
      continue;
    if (!impl_->stepRan)
      return "output '" + name + "': no step has run yet";
    const OutputSlot &slot = impl_->outputSlots[i];
    if (slot.shardAxis < 0 || !impl_->isMultiRank())
      return impl_->copyOut(slot.tensor, array);
    return impl_->gatherOut(slot, impl_->outputs[i], array);
  }
  return "the plan has no output '" + name + "'";
}

std::string Session::gradient(const std::string &name, NpyArray &array) const {
  const ParameterSlot *slot = impl_->findParameter(name);
  if (!slot)
    return "the plan has no parameter '" + name + "'";
  if (!impl_->stepRan)
    return "gradient of '" + name + "': no step has run yet";
  return impl_->copyOut(slot->gradient, array);
}

std::string Session::parameter(const std::string &name, NpyArray &array) const {
  const ParameterSlot *slot = impl_->findParameter(name);
  if (!slot)
    return "the plan has no parameter '" + name + "'";
  return impl_->copyOut(slot->tensor, array);
}

std::string Session::setParameter(const std::string &name, const NpyArray &array) {
  const ParameterSlot *slot = impl_->findParameter(name);
  if (!slot)
    return "the plan has no parameter '" + name + "'";
  return impl_->copyIn(slot->tensor, slot->info, "parameter '" + name + "'", array);
}

} // namespace sp::runtime
