// with_flags(f, b0, b1, ...) calls f(std::bool_constant<b0>{}, std::bool_constant<b1>{}, ...):
// runtime on/off options become compile-time constants, so element loops keep no branch and vectorise.
#pragma once
#include <type_traits>

namespace minitorch_clf {

template <typename F>
void with_flags(F&& f) { f(); }

template <typename F, typename... Rest>
void with_flags(F&& f, bool flag, Rest... rest) {
  if (flag) {
    with_flags([&](auto... c) { f(std::true_type{}, c...); }, rest...);
  } else {
    with_flags([&](auto... c) { f(std::false_type{}, c...); }, rest...);
  }
}

}  // namespace minitorch_clf
