// ImageRegistry (sandboxd/images.cc) on a folder laid out as runtime_images/build-image leaves it.
#include "images.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace sandboxd {
namespace {
namespace fs = std::filesystem;

class ImagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sandboxd-images-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void AddImage(const std::string& name, const std::string& manifest, int packages) {
    fs::create_directories(dir_ / name / "rootfs");
    std::ofstream(dir_ / name / "manifest") << manifest;
    std::ofstream(dir_ / name / "manifest.sha256") << "abc123\n";
    std::ofstream lock(dir_ / name / "packages.lock");
    for (int i = 0; i < packages; ++i) lock << "pkg" << i << "=1.0\n";
  }
  fs::path dir_;
};

TEST_F(ImagesTest, PreloadHeaderIsReadInOrderAndPackagesAreCounted) {
  AddImage("ml",
           "# preload: commented-out\n"
           "suite: bookworm\n"
           "preload: numpy  pandas\tmatplotlib.pyplot\n"
           "python3\n",
           7);
  AddImage("plain", "suite: bookworm\npython3\n", 3);
  const auto images = ImageRegistry(dir_.string()).List();
  ASSERT_EQ(images.size(), 2U);
  EXPECT_EQ(images[0].name, "ml");
  EXPECT_EQ(images[0].package_count, 7U);
  EXPECT_EQ(images[0].manifest_sha256, "abc123");
  EXPECT_EQ(images[0].preload, (std::vector<std::string>{"numpy", "pandas", "matplotlib.pyplot"}));
  EXPECT_EQ(images[1].name, "plain");
  EXPECT_TRUE(images[1].preload.empty());
}

TEST_F(ImagesTest, PreloadKeepsOnlyModuleNames) {
  // Nothing that is not a dotted identifier reaches the runner's argv.
  AddImage("x", "preload: ok_1 --flag 1abc a..b .a a. a.b2 sp/am ok\n", 1);
  const auto image = ImageRegistry(dir_.string()).Find("x");
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(image->preload, (std::vector<std::string>{"ok_1", "a.b2", "ok"}));
}

TEST_F(ImagesTest, ImageWithoutManifestCopyHasNoPreloads) {
  AddImage("old", "", 2);
  fs::remove(dir_ / "old" / "manifest");
  const auto image = ImageRegistry(dir_.string()).Find("old");
  ASSERT_TRUE(image.ok());
  EXPECT_TRUE(image->preload.empty());
}

}  // namespace
}  // namespace sandboxd
