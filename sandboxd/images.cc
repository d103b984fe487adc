#include "images.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sandboxd {
namespace fs = std::filesystem;

namespace {
bool IsImageName(const std::string& name) {
  return !name.empty() && name.size() <= 64 && name[0] != '.' &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
         });
}

bool IsModuleName(const std::string& name) {
  // Dotted ASCII identifiers: what the runner can import, and nothing it could read as a flag.
  bool start = true;
  for (char c : name) {
    if (c == '.') {
      if (start) return false;
      start = true;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
               (!start && std::isdigit(static_cast<unsigned char>(c)))) {
      start = false;
    } else {
      return false;
    }
  }
  return !start;
}

// The `preload:` header line of the image's copy of its manifest (build-image keeps it beside
// the root filesystem, so it always matches the image that was built).
std::vector<std::string> ReadPreload(const fs::path& manifest) {
  std::vector<std::string> modules;
  std::ifstream in(manifest);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (line.empty() || line[0] == '#' || colon == std::string::npos) continue;
    std::istringstream key(line.substr(0, colon));
    std::string word;
    if (!(key >> word) || word != "preload") continue;
    std::istringstream values(line.substr(colon + 1));
    while (values >> word) {
      if (IsModuleName(word)) modules.push_back(word);
    }
  }
  return modules;
}
}  // namespace

std::vector<ImageInfo> ImageRegistry::List() const {
  std::vector<ImageInfo> images;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(images_dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!IsImageName(name)) continue;
    const fs::path lock = entry.path() / "packages.lock";
    const fs::path rootfs = entry.path() / "rootfs";
    if (!fs::is_regular_file(lock, ec) || !fs::is_directory(rootfs, ec)) continue;
    ImageInfo info;
    info.name = name;
    info.rootfs = rootfs.string();
    std::ifstream(entry.path() / "manifest.sha256") >> info.manifest_sha256;
    std::ifstream lock_in(lock);
    std::string line;
    while (std::getline(lock_in, line)) info.package_count += line.empty() ? 0 : 1;
    info.preload = ReadPreload(entry.path() / "manifest");
    images.push_back(std::move(info));
  }
  std::sort(images.begin(), images.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return images;
}

StatusOr<ImageInfo> ImageRegistry::Find(const std::string& name) const {
  auto images = List();
  for (auto& image : images) {
    if (image.name == name) return image;
  }
  std::string have;
  for (const auto& image : images) have += (have.empty() ? "" : ", ") + image.name;
  return Status(ErrorCode::kImageNotFound,
                "image '" + name + "' is not built on this node (available: " +
                    (have.empty() ? "none; build one with build-image" : have) + ")");
}

}  // namespace sandboxd
