#include "sandboxd/status.h"

#include <gtest/gtest.h>

#include <string>

namespace sandboxd {
namespace {

TEST(StatusTest, EveryCodeHasAWireNameThatReadsBack) {
  const char* names[] = {"OK",
                         "BAD_REQUEST",
                         "SCHEMA_MISMATCH",
                         "SCRIPT_ERROR",
                         "TIMEOUT",
                         "MEMORY_LIMIT",
                         "OUTPUT_LIMIT",
                         "POLICY_VIOLATION",
                         "ARTIFACT_DENIED",
                         "ARTIFACT_FAILED",
                         "IMAGE_NOT_FOUND",
                         "OVERLOADED",
                         "INTERNAL"};
  for (int i = 0; i <= 12; ++i) {
    const auto code = static_cast<ErrorCode>(i);
    EXPECT_EQ(ErrorCodeName(code), names[i]);
    ASSERT_TRUE(ErrorCodeFromName(names[i]).has_value()) << names[i];
    EXPECT_EQ(*ErrorCodeFromName(names[i]), code);
  }
}

TEST(StatusTest, UnknownNamesAndCodes) {
  EXPECT_FALSE(ErrorCodeFromName("").has_value());
  EXPECT_FALSE(ErrorCodeFromName("bad_request").has_value());
  EXPECT_FALSE(ErrorCodeFromName("NOPE").has_value());
  EXPECT_EQ(ErrorCodeName(static_cast<ErrorCode>(99)), "UNKNOWN");
}

TEST(StatusTest, ToStringIsCodeColonMessage) {
  EXPECT_EQ(Status(ErrorCode::kTimeout, "took too long").ToString(), "TIMEOUT: took too long");
  EXPECT_EQ(Status::Ok().ToString(), "OK");
  EXPECT_TRUE(Status().ok());
  EXPECT_FALSE(Status(ErrorCode::kInternal, "x").ok());
}

TEST(StatusTest, StatusOrHoldsValueOrStatus) {
  StatusOr<std::string> value(std::string("hi"));
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, "hi");
  EXPECT_TRUE(value.status().ok());
  StatusOr<std::string> error(Status(ErrorCode::kBadRequest, "no"));
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.status().code(), ErrorCode::kBadRequest);
}

}  // namespace
}  // namespace sandboxd
