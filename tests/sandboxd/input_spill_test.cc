// InputSpill on its own: the staged file is on disk, unnamed, read-only and byte-identical to the
// memfd; the node budget refuses what does not fit and gets every byte back.
#include "input_spill.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "sandboxd/memfd.h"
#include "test_paths.h"

namespace sandboxd {
namespace {

std::string TestDir(const std::string& base, const std::string& name) {
  return base + "/input-spill-test-" + std::to_string(::getpid()) + "/" + name;
}

UniqueFd SealedBytes(std::size_t n, std::vector<std::byte>& bytes) {
  bytes.resize(n);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::byte>((i * 131) % 251);
  auto fd = CreateSealedMemfd("sandboxd-input", bytes);
  EXPECT_TRUE(fd.ok()) << fd.status().ToString();
  return std::move(fd.value());
}

StatusOr<SpilledInput> SubmitAndWait(InputSpill& spill, UniqueFd memfd, std::uint64_t bytes,
                                     Status* refused) {
  std::promise<StatusOr<SpilledInput>> promise;
  auto future = promise.get_future();
  *refused = spill.Submit(std::move(memfd), bytes, [&promise](StatusOr<SpilledInput> spilled) {
    promise.set_value(std::move(spilled));
  });
  if (!refused->ok()) return *refused;
  return future.get();
}

class InputSpillTest : public ::testing::Test {
 protected:
  // On disk: the build tree, never /tmp (tmpfs on some hosts).
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(TestDir(::sandboxd::test_paths::kSpillTestDiskDir, ""), ec);
  }
};

TEST_F(InputSpillTest, TheFileIsOnDiskUnnamedReadOnlyAndTheSameBytes) {
  const std::string dir = TestDir(::sandboxd::test_paths::kSpillTestDiskDir, "spill");
  InputSpill spill(dir, 1ULL << 30);
  std::vector<std::byte> bytes;
  const std::size_t n = 3 * 1024 * 1024 + 17;
  auto spilled = spill.Spill(SealedBytes(n, bytes), n);
  ASSERT_TRUE(spilled.ok()) << spilled.status().ToString();
  ASSERT_TRUE(spilled->on_disk);
  const int fd = spilled->file.get();

  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_nlink, 0U) << "the spill file has a name";
  EXPECT_EQ(static_cast<std::size_t>(st.st_size), n);
  EXPECT_EQ(::fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
  EXPECT_LT(::fcntl(fd, F_GET_SEALS), 0) << "a memfd, not a disk file";
  const char x = 'x';
  EXPECT_EQ(::pwrite(fd, &x, 1, 0), -1);
  EXPECT_EQ(errno, EBADF);

  std::vector<std::byte> back(n);
  ASSERT_EQ(::pread(fd, back.data(), n, 0), static_cast<ssize_t>(n));
  EXPECT_TRUE(back == bytes);

  // The folder is the daemon's alone and holds no names.
  struct stat dst {};
  ASSERT_EQ(::stat(dir.c_str(), &dst), 0);
  EXPECT_EQ(dst.st_mode & 07777, 0700U);
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

TEST_F(InputSpillTest, TheBudgetRefusesWhatDoesNotFitAndGetsItBack) {
  InputSpill spill(TestDir(::sandboxd::test_paths::kSpillTestDiskDir, "budget"), 1000);
  std::vector<std::byte> bytes;
  Status refused;

  auto too_big = SubmitAndWait(spill, SealedBytes(2000, bytes), 2000, &refused);
  EXPECT_EQ(refused.code(), ErrorCode::kBadRequest);
  EXPECT_NE(refused.message().find("max_spill_mb"), std::string::npos) << refused.message();

  auto first = SubmitAndWait(spill, SealedBytes(600, bytes), 600, &refused);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_NE(first->reservation, nullptr) << "the server tells spilled requests by this";
  EXPECT_EQ(spill.bytes_in_use(), 600U);
  auto second = SubmitAndWait(spill, SealedBytes(600, bytes), 600, &refused);
  EXPECT_EQ(refused.code(), ErrorCode::kOverloaded) << refused.ToString();

  first->reservation.reset();  // the request was answered
  EXPECT_EQ(spill.bytes_in_use(), 0U);
  auto third = SubmitAndWait(spill, SealedBytes(600, bytes), 600, &refused);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  third = Status(ErrorCode::kInternal, "dropped");
  EXPECT_EQ(spill.bytes_in_use(), 0U);
}

TEST_F(InputSpillTest, ASpillFolderInMemoryKeepsTheMemfd) {
  if (!std::filesystem::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  const std::string dir = TestDir("/dev/shm", "spill");
  InputSpill spill(dir, 1ULL << 30);
  std::vector<std::byte> bytes;
  UniqueFd memfd = SealedBytes(4096, bytes);
  const int raw = memfd.get();
  auto spilled = spill.Spill(std::move(memfd), 4096);
  ASSERT_TRUE(spilled.ok()) << spilled.status().ToString();
  EXPECT_FALSE(spilled->on_disk);
  EXPECT_EQ(spilled->file.get(), raw);
  EXPECT_EQ(spilled->reservation, nullptr);
  std::error_code ec;
  std::filesystem::remove_all(TestDir("/dev/shm", ""), ec);
}

}  // namespace
}  // namespace sandboxd
