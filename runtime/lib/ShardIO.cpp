//===- ShardIO.cpp - whole tensors in, shards out, and back -----------------===//
//
// Hosts pass and read whole tensors; each rank holds its shard of those
// split along the sequence. Inputs are cut on the host and copied to the
// device; sharded outputs are gathered from every rank on the device and
// copied back whole.
//
//===----------------------------------------------------------------------===//

#include "SessionImpl.h"


namespace sp::runtime {

std::string Session::Impl::gatherOut(const OutputSlot &slot, const TensorInfo &whole,
                                     NpyArray &array) const {
  const TensorSlot &local = tensors[slot.tensor];
  size_t wholeBytes = size_t(local.bytes) * size_t(layout.ranks);
  array.dtype = whole.dtype;
  array.shape = whole.shape;
  array.data.resize(wholeBytes);
  bool inPlace = layout.isRankMajor(whole.shape, slot.shardAxis);
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
    layout.unpackRanks(ranksMajor.data(), array.data.data(), whole.shape, slot.shardAxis,
                       dtypeSize(local.dtype));
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
    uint64_t bytes = slot.shardAxis < 0 ? localBytes : localBytes * uint64_t(impl_->layout.ranks);
    if (size != bytes)
      return "input '" + name + "': expected " + std::to_string(bytes) + " bytes of " +
             slot.info.describe() + ", got " + std::to_string(size);
    const char *begin = static_cast<const char *>(data);
    if (slot.shardAxis < 0) {
      slot.data.assign(begin, begin + size);
    } else {
      slot.data.resize(size_t(localBytes));
      impl_->layout.extractShard(begin, slot.data.data(), slot.info.shape, slot.shardAxis,
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
