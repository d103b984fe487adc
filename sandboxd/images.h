// The runtime images this node has built (runtime_images/build-image), by name.
#pragma once

#include <string>
#include <vector>

#include "sandboxd/status.h"

namespace sandboxd {

struct ImageInfo {
  std::string name;
  std::string rootfs;  // absolute path of the read-only root filesystem
  std::string manifest_sha256;
  unsigned package_count = 0;
  // The manifest's `preload:` modules, in order: the runner imports them before it waits for its
  // request, so a warm sandbox of this image has them ready. Only dotted Python identifiers.
  std::vector<std::string> preload;
};

class ImageRegistry {
 public:
  explicit ImageRegistry(std::string images_dir) : images_dir_(std::move(images_dir)) {}
  // Reads the folder each time, so images built while the daemon runs are seen at once.
  std::vector<ImageInfo> List() const;
  // IMAGE_NOT_FOUND naming the image and the ones there are.
  StatusOr<ImageInfo> Find(const std::string& name) const;

 private:
  std::string images_dir_;
};

}  // namespace sandboxd
