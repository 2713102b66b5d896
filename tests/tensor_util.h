// Small helpers the op tests share: a tensor from values, its values back, and short Value constructors.
#pragma once

#include <doctest/doctest.h>

#include <vector>

#include "runtime/executor.h"

namespace fxopt::rt::test {

inline Tensor make(DType d, Shape shape, const std::vector<double>& values) {
  Tensor t = Tensor::empty(d, std::move(shape));
  REQUIRE(static_cast<int64_t>(values.size()) == t.numel());
  for (size_t i = 0; i < values.size(); ++i) {
    std::byte* p = t.raw() + i * dtype_size(d);
    if (is_integral(d)) store_elem<int64_t>(d, p, static_cast<int64_t>(values[i]));
    else store_elem<double>(d, p, values[i]);
  }
  return t;
}

inline std::vector<double> vals(const Tensor& t) {
  std::vector<double> out;
  for (int64_t i = 0; i < t.numel(); ++i) out.push_back(t.value_at(i));
  return out;
}

inline Value T(const Tensor& t) { return Value::of(t); }
inline Value I(int64_t v) { return Value::integer(v); }
inline Value F(double v) { return Value::real(v); }
inline Value B(bool v) { return Value::boolean(v); }
inline Value N() { return Value::none(); }
inline Value L(std::vector<Value> v) { return Value::list(std::move(v)); }
inline Value S(const char* s) {
  Value v;
  v.kind = Value::Kind::Str;
  v.s = s;
  return v;
}
inline Value DT(const char* name) {
  Value v;
  v.kind = Value::Kind::Dtype;
  v.s = name;
  return v;
}
inline Value DT(DType d) { return DT(dtype_name(d)); }

}  // namespace fxopt::rt::test
