//===- Kernel.cpp - kernel arguments and attributes -----------------------===//

#include "sp/runtime/Kernel.h"

namespace sp::runtime {

// The session checked on load that no shape overflows.
int64_t TensorArg::numElements() const { return sp::runtime::numElements(shape); }

void Attributes::set(const std::string &name, AttributeValue value) {
  values_[name] = std::move(value);
}

const AttributeValue *Attributes::find(std::string_view name) const {
  if (lookups_)
    lookups_->emplace(name);
  auto it = values_.find(std::string(name));
  return it == values_.end() ? nullptr : &it->second;
}

bool Attributes::has(std::string_view name) const { return find(name) != nullptr; }

// The getters accept the conversions that plan emission can produce without
// changing meaning: an integral float attribute may have been written as an
// integer (`fill`'s value), and an integer array may stand for a float array.

int64_t Attributes::getInt(std::string_view name, int64_t defaultValue) const {
  const AttributeValue *found = find(name);
  if (!found)
    return defaultValue;
  if (auto *value = std::get_if<int64_t>(found))
    return *value;
  if (auto *value = std::get_if<bool>(found))
    return *value ? 1 : 0;
  return defaultValue;
}

double Attributes::getFloat(std::string_view name, double defaultValue) const {
  const AttributeValue *found = find(name);
  if (!found)
    return defaultValue;
  if (auto *value = std::get_if<double>(found))
    return *value;
  if (auto *value = std::get_if<int64_t>(found))
    return double(*value);
  return defaultValue;
}

bool Attributes::getBool(std::string_view name, bool defaultValue) const {
  const AttributeValue *found = find(name);
  if (!found)
    return defaultValue;
  if (auto *value = std::get_if<bool>(found))
    return *value;
  if (auto *value = std::get_if<int64_t>(found))
    return *value != 0;
  return defaultValue;
}

std::string Attributes::getString(std::string_view name, std::string defaultValue) const {
  const AttributeValue *found = find(name);
  if (!found)
    return defaultValue;
  if (auto *value = std::get_if<std::string>(found))
    return *value;
  return defaultValue;
}

std::vector<int64_t> Attributes::getInts(std::string_view name) const {
  const AttributeValue *found = find(name);
  if (!found)
    return {};
  if (auto *value = std::get_if<std::vector<int64_t>>(found))
    return *value;
  return {};
}

std::vector<double> Attributes::getFloats(std::string_view name) const {
  const AttributeValue *found = find(name);
  if (!found)
    return {};
  if (auto *value = std::get_if<std::vector<double>>(found))
    return *value;
  if (auto *value = std::get_if<std::vector<int64_t>>(found))
    return std::vector<double>(value->begin(), value->end());
  return {};
}

} // namespace sp::runtime
