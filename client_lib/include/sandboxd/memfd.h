// Memory files for table buffers: sealed ones travel between processes without copies and
// without the receiver having to trust the sender not to change them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "sandboxd/status.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {

constexpr unsigned kFullSeals = 0x0001 | 0x0002 | 0x0004 | 0x0008;  // SEAL, SHRINK, GROW, WRITE

// An empty memfd that allows sealing.
StatusOr<UniqueFd> CreateMemfd(const char* name);
// A memfd holding `data`, sealed against every change.
StatusOr<UniqueFd> CreateSealedMemfd(const char* name, std::span<const std::byte> data);
// OK when `fd` is a memfd sealed against writes, growth and shrinking.
Status CheckSealed(int fd);

// A read-only private mapping of a whole file, refused above `max_bytes`.
class MappedFile {
 public:
  static StatusOr<MappedFile> Map(int fd, std::uint64_t max_bytes);
  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();
  std::span<const std::byte> bytes() const { return {data_, size_}; }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace sandboxd
