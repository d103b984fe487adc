// The config file (sandboxd/config.h): every key the README documents is read, an unknown one is
// refused by name.
#include "config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace sandboxd {
namespace {

std::string WriteConfig(const std::string& json) {
  char path[] = "/tmp/sandboxd-config-test-XXXXXX";
  const int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << json;
  return path;
}

TEST(ConfigFile, ZygoteKeysAreRead) {
  const std::string path =
      WriteConfig(R"({"zygotes": false, "zygote_module_dir": "/opt/sandboxd/zygote"})");
  NodeConfig config;
  const Status status = LoadConfigFile(path, config);
  ::unlink(path.c_str());
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_FALSE(config.zygotes);
  EXPECT_EQ(config.zygote_module_dir, "/opt/sandboxd/zygote");
}

TEST(ConfigFile, AnUnknownKeyIsRefusedByName) {
  const std::string path = WriteConfig(R"({"zygote": true})");
  NodeConfig config;
  const Status status = LoadConfigFile(path, config);
  ::unlink(path.c_str());
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("unknown key 'zygote'"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace sandboxd
