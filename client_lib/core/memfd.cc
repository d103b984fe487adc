#include "sandboxd/memfd.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace sandboxd {
namespace {
Status ErrnoStatus(const std::string& what) {
  return {ErrorCode::kInternal, what + ": " + std::strerror(errno)};
}
}  // namespace

StatusOr<UniqueFd> CreateMemfd(const char* name) {
  UniqueFd fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return ErrnoStatus("memfd_create");
  return fd;
}

StatusOr<UniqueFd> CreateSealedMemfd(const char* name, std::span<const std::byte> data) {
  auto fd = CreateMemfd(name);
  if (!fd.ok()) return fd.status();
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd->get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoStatus("write memfd");
    done += static_cast<std::size_t>(n);
  }
  if (::fcntl(fd->get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) !=
      0)
    return ErrnoStatus("seal memfd");
  return fd;
}

Status CheckSealed(int fd) {
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0) return {ErrorCode::kBadRequest, "the table descriptor is not a sealable memfd"};
  const int needed = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;
  if ((seals & needed) != needed)
    return {ErrorCode::kBadRequest,
            "the table memfd must be sealed against write, grow and shrink"};
  return Status::Ok();
}

StatusOr<MappedFile> MappedFile::Map(int fd, std::uint64_t max_bytes) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return ErrnoStatus("fstat");
  if (!S_ISREG(st.st_mode))
    return Status(ErrorCode::kBadRequest, "table descriptor is not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes)
    return Status(ErrorCode::kOutputLimit, "table of " + std::to_string(st.st_size) +
                                               " bytes exceeds the limit of " +
                                               std::to_string(max_bytes));
  MappedFile file;
  file.size_ = static_cast<std::size_t>(st.st_size);
  if (file.size_ == 0) return file;
  void* p = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return ErrnoStatus("mmap table");
  file.data_ = static_cast<const std::byte*>(p);
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

}  // namespace sandboxd
