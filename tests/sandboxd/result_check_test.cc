// The result check (sandboxd/result_check.h) on its own: a memfd as a sandbox leaves it becomes
// an answer's table, or the error the request earns. A large result is sealed and handed on as
// it is, not copied; a memfd that cannot be sealed is copied once checked.
#include "result_check.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "sandboxd/memfd.h"
#include "sandboxd/table.h"

namespace sandboxd {
namespace {

const std::vector<ColumnSpec> kColumns = {{"x", ColumnType::kLong}, {"s", ColumnType::kString}};

std::string Table(std::uint64_t rows) {
  TableBuilder builder(kColumns);
  for (std::uint64_t i = 0; i < rows; ++i) {
    builder.AppendLong(0, static_cast<std::int64_t>(i));
    builder.AppendText(1, "row " + std::to_string(i));
  }
  return builder.Finish().value();
}

// A memfd holding `bytes`, unsealed, as the daemon gives one to a sandbox for its result.
UniqueFd OutputMemfd(const std::string& bytes) {
  UniqueFd fd = CreateMemfd("result-check-test").value();
  EXPECT_EQ(::write(fd.get(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  return fd;
}

ino_t Inode(int fd) {
  struct stat st {};
  EXPECT_EQ(::fstat(fd, &st), 0);
  return st.st_ino;
}

std::string Contents(int fd) {
  struct stat st {};
  EXPECT_EQ(::fstat(fd, &st), 0);
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  EXPECT_EQ(::pread(fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
  return out;
}

TEST(ResultCheck, ALargeResultIsSealedAndHandedOnWithoutACopy) {
  const std::string table = Table(20000);
  ASSERT_GT(table.size(), 64U * 1024);
  UniqueFd memfd = OutputMemfd(table);
  std::atomic<bool> cancel{false};
  ResultCheck check = CheckResult(memfd.get(), 1U << 30, kColumns, cancel);
  ASSERT_TRUE(check.status.ok()) << check.status.ToString();
  ASSERT_TRUE(check.sealed);
  EXPECT_EQ(check.size, table.size());
  EXPECT_EQ(Inode(check.sealed.get()), Inode(memfd.get())) << "the result was copied";
  EXPECT_TRUE(CheckSealed(check.sealed.get()).ok());
  // Nobody, the sandbox included, can write to what the client will map.
  EXPECT_EQ(::pwrite(memfd.get(), "x", 1, 0), -1);
  EXPECT_EQ(Contents(check.sealed.get()), table);
}

TEST(ResultCheck, AMemfdThatCannotBeSealedIsCopiedOnceChecked) {
  // A writable shared mapping makes F_SEAL_WRITE fail (EBUSY), as a sandbox that still had its
  // output mapped would.
  const std::string table = Table(20000);
  UniqueFd memfd = OutputMemfd(table);
  void* writable =
      ::mmap(nullptr, table.size(), PROT_READ | PROT_WRITE, MAP_SHARED, memfd.get(), 0);
  ASSERT_NE(writable, MAP_FAILED);
  std::atomic<bool> cancel{false};
  ResultCheck check = CheckResult(memfd.get(), 1U << 30, kColumns, cancel);
  ::munmap(writable, table.size());
  ASSERT_TRUE(check.status.ok()) << check.status.ToString();
  ASSERT_TRUE(check.sealed);
  EXPECT_NE(Inode(check.sealed.get()), Inode(memfd.get()));
  EXPECT_TRUE(CheckSealed(check.sealed.get()).ok());
  EXPECT_EQ(Contents(check.sealed.get()), table);
}

TEST(ResultCheck, ASmallResultTravelsInline) {
  const std::string table = Table(3);
  UniqueFd memfd = OutputMemfd(table);
  std::atomic<bool> cancel{false};
  ResultCheck check = CheckResult(memfd.get(), 1U << 30, kColumns, cancel);
  ASSERT_TRUE(check.status.ok()) << check.status.ToString();
  EXPECT_FALSE(check.sealed);
  EXPECT_EQ(check.inline_data, table);
}

TEST(ResultCheck, WhatTheSandboxGotWrongIsTheErrorItEarns) {
  std::atomic<bool> cancel{false};
  UniqueFd garbage = OutputMemfd(std::string(100, 'x'));
  ResultCheck malformed = CheckResult(garbage.get(), 1U << 30, kColumns, cancel);
  EXPECT_EQ(malformed.status.code(), ErrorCode::kScriptError);
  EXPECT_NE(malformed.status.message().find("malformed result table"), std::string::npos);

  UniqueFd table = OutputMemfd(Table(3));
  const std::vector<ColumnSpec> other = {{"x", ColumnType::kLong}, {"s", ColumnType::kGuid}};
  ResultCheck mismatch = CheckResult(table.get(), 1U << 30, other, cancel);
  EXPECT_EQ(mismatch.status.code(), ErrorCode::kSchemaMismatch);

  UniqueFd big = OutputMemfd(Table(20000));
  ResultCheck over = CheckResult(big.get(), 1024, kColumns, cancel);
  EXPECT_EQ(over.status.code(), ErrorCode::kOutputLimit);
}

}  // namespace
}  // namespace sandboxd
