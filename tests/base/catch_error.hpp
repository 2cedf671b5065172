// A test helper: runs code that must throw cairn::Error, and returns the error so that
// the test can check its message, path, errno and hint.
#pragma once

#include <gtest/gtest.h>

#include "cairn/base/error.hpp"

namespace cairn::testing {

template <typename Body>
Error catch_error(Body&& body) {
  try {
    body();
  } catch (const Error& error) {
    return error;
  }
  ADD_FAILURE() << "expected a cairn::Error";
  return Error("<no error thrown>");
}

}  // namespace cairn::testing
