// The deep-learning image (runtime_images/python3.11-ml) end to end: a real daemon, a real
// sandbox, the image's packages used for real, the manifest's preloads imported before the
// request, and `sandboxctl images` listing both images.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "daemon_fixture.h"
#include "test_paths.h"

namespace sandboxd::testing {
namespace {

constexpr const char* kMlImage = "python3.11-ml";

bool MlImageBuilt() {
  return std::filesystem::exists(ImagesDir() + "/" + kMlImage + "/packages.lock");
}

// Output and exit status of a shell command.
std::pair<std::string, int> RunCommand(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {"", -1};
  std::array<char, 4096> buffer{};
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe))
    out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

// An error with what the script wrote to stderr (a traceback, a runner's complaint).
std::string ErrorText(const Error& error) {
  std::string text = error.ToString();
  for (const auto& record : error.logs) text += "\n" + record.message;
  return text;
}

class MlImageTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (!MlImageBuilt())
      GTEST_FAIL() << "image " << kMlImage << " is not built in " << ImagesDir()
                   << "; run runtime_images/build-image " << kMlImage;
  }

  static Request MlRequest(const std::string& output_schema, const std::string& script) {
    Request request;
    request.image = kMlImage;
    request.output_schema = output_schema;
    request.script = script;
    return request;
  }
};

TEST_F(MlImageTest, TorchPlotlySeabornAndHeadlessMatplotlibWork) {
  Client client = daemon_->Connect();
  // The preloads are looked at first, before the script imports anything itself.
  Request request = MlRequest(
      "typeof(preloaded:string, torch_sum:real, plotly_json_bytes:long, seaborn:string, "
      "networkx_edges:long, backend:string, "
      "png_bytes:long, png_file_bytes:long)",
      R"PY(
import sys
preloaded = ' '.join(m for m in ('numexpr', 'bottleneck', 'matplotlib', 'matplotlib.pyplot',
                                 'torch', 'xgboost', 'plotly') if m in sys.modules)
import io, os
import torch
import plotly.graph_objects as go
import seaborn as sns
import networkx as nx
import matplotlib
import matplotlib.pyplot as plt

torch_sum = torch.arange(1, 11, dtype=torch.float64).sum().item()

figure_json = go.Figure(go.Scatter(x=[1, 2, 3], y=[4, 5, 6])).to_json()

fig, ax = plt.subplots()
sns.lineplot(x=[1, 2, 3], y=[1, 4, 9], ax=ax)
buffer = io.BytesIO()
fig.savefig(buffer, format='png')
png = buffer.getvalue()
path = os.path.join(os.environ['HOME'], 'plot.png')
fig.savefig(path)
with open(path, 'rb') as f:
    on_disk = f.read()
assert png.startswith(b'\x89PNG') and on_disk.startswith(b'\x89PNG')

result = pd.DataFrame({
    'preloaded': [preloaded], 'torch_sum': [torch_sum], 'plotly_json_bytes': [len(figure_json)], 'seaborn': [sns.__version__],
    'networkx_edges': [nx.path_graph(4).number_of_edges()], 'backend': [matplotlib.get_backend()],
    'png_bytes': [len(png)], 'png_file_bytes': [len(on_disk)]})
)PY");
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << ErrorText(outcome.error());
  const TableView& t = outcome.result().table.view();
  ASSERT_EQ(t.row_count(), 1U);
  // The manifest preloads numexpr, bottleneck and matplotlib(.pyplot), not torch or xgboost.
  EXPECT_EQ(t.GetText(0, 0), "numexpr bottleneck matplotlib matplotlib.pyplot");
  EXPECT_DOUBLE_EQ(t.GetReal(1, 0), 55.0);
  EXPECT_GT(t.GetLong(2, 0), 100);
  EXPECT_FALSE(t.GetText(3, 0).empty());
  EXPECT_EQ(t.GetLong(4, 0), 3);
  EXPECT_EQ(t.GetText(5, 0), "agg");
  EXPECT_GT(t.GetLong(6, 0), 1000);
  EXPECT_GT(t.GetLong(7, 0), 1000);
}

// Apart from the others: xgboost's import makes a ctypes callback, whose libffi trampoline needs
// anonymous executable memory; a seccomp policy that refuses it shows here as a MemoryError.
TEST_F(MlImageTest, XgboostTrainsTwoRounds) {
  Client client = daemon_->Connect();
  Request request = MlRequest("typeof(rows:long, in_range:bool)", R"PY(
import xgboost as xgb
X = np.arange(40, dtype=float).reshape(20, 2)
y = (X[:, 0] > 19).astype(float)
booster = xgb.train({'objective': 'binary:logistic', 'nthread': 1},
                    xgb.DMatrix(X, label=y), num_boost_round=2)
preds = booster.predict(xgb.DMatrix(X))
result = pd.DataFrame({'rows': [len(preds)],
                       'in_range': [bool(((preds >= 0) & (preds <= 1)).all())]})
)PY");
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << ErrorText(outcome.error());
  EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), 20);
  EXPECT_TRUE(outcome.result().table.view().GetBool(1, 0));
}

TEST_F(MlImageTest, DefaultImageHasNoPreloadsAndNoMlPackages) {
  Client client = daemon_->Connect();
  Request request;
  request.output_schema = "typeof(matplotlib_loaded:bool, has_torch:bool)";
  request.script =
      "import sys, importlib.util\n"
      "result = pd.DataFrame({'matplotlib_loaded': ['matplotlib' in sys.modules],\n"
      "                       'has_torch': [importlib.util.find_spec('torch') is not None]})\n";
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_FALSE(outcome.result().table.view().GetBool(0, 0));
  EXPECT_FALSE(outcome.result().table.view().GetBool(1, 0));
}

TEST_F(MlImageTest, ListImagesCountsPackagesOfBoth) {
  Client client = daemon_->Connect();
  auto images = client.ListImages();
  ASSERT_TRUE(images.ok()) << images.status().ToString();
  std::uint32_t base = 0, ml = 0;
  for (const auto& image : images->images) {
    if (image.name == "python3.11") base = image.package_count;
    if (image.name == kMlImage) ml = image.package_count;
  }
  EXPECT_GT(base, 50U);
  EXPECT_GT(ml, base);  // everything of the default image, and more
}

TEST_F(MlImageTest, SandboxctlImagesListsBothWithPackageCounts) {
  const std::string ctl = std::string(::sandboxd::test_paths::kSandboxctlBinary) +
                          " images --socket " + daemon_->socket_path();
  auto [json_text, json_status] = RunCommand(ctl + " --format json");
  ASSERT_EQ(json_status, 0) << json_text;
  const auto json = nlohmann::json::parse(json_text);
  EXPECT_EQ(json.at("default_image"), "python3.11");
  std::map<std::string, unsigned> counts;
  for (const auto& image : json.at("images")) counts[image.at("name")] = image.at("package_count");
  ASSERT_TRUE(counts.count("python3.11") && counts.count(kMlImage)) << json_text;
  EXPECT_GT(counts[kMlImage], counts["python3.11"]);

  auto [table, table_status] = RunCommand(ctl);
  ASSERT_EQ(table_status, 0) << table;
  for (const auto& [name, count] : counts) {
    const auto line = table.find(name + " ");
    ASSERT_NE(line, std::string::npos) << table;
    const std::string row = table.substr(line, table.find('\n', line) - line);
    EXPECT_NE(row.find(std::to_string(count)), std::string::npos) << row;
  }
}

// An image whose manifest names a module it does not have: the sandbox still runs, the runner
// says on stderr what it skipped, and the other preloads are imported. The image is the ML image
// under another name (its rootfs symlinked) with an edited copy of the manifest; a name that is
// not a module name is dropped by the daemon before it reaches the runner.
TEST(MlImagePreloadTest, MissingPreloadModuleIsLoggedAndSkipped) {
  if (!MlImageBuilt()) GTEST_FAIL() << "image " << kMlImage << " is not built in " << ImagesDir();
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/sandboxd-ml-images-XXXXXX";
  const fs::path images = ::mkdtemp(tmpl);
  // Removed however the test ends (remove_all does not follow the rootfs symlink).
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{images};
  const fs::path image = images / "broken-preload";
  fs::create_directories(image);
  // mkdtemp's 0700 would keep the sandbox's own (unprivileged) root from reaching the rootfs.
  fs::permissions(images, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
  const fs::path real = fs::path(ImagesDir()) / kMlImage;
  const char* env = std::getenv("SANDBOXD_TEST_IMAGES_DIR");
  const auto saved_images_dir =
      env != nullptr ? std::make_optional<std::string>(env) : std::nullopt;
  fs::create_directory_symlink(real / "rootfs", image / "rootfs");
  fs::copy_file(real / "packages.lock", image / "packages.lock");
  std::ofstream(image / "manifest.sha256") << "0\n";
  std::ofstream(image / "manifest") << "suite: bookworm\n"
                                       "preload: no_such_module_xyz --evil matplotlib.pyplot\n"
                                       "python3\n";
  // The fixture passes ImagesDir(), which this variable names; restored once the daemon runs.
  ::setenv("SANDBOXD_TEST_IMAGES_DIR", images.c_str(), 1);
  DaemonOptions options;
  options.extra_args = {"--warm-sandboxes", "0"};
  options.cgroup_group_prefix = "sandboxd-ml-test-";
  options.uid_base_start = 1'950'000'000U;
  auto daemon = DaemonProcess::Start(options);
  if (saved_images_dir.has_value()) {
    ::setenv("SANDBOXD_TEST_IMAGES_DIR", saved_images_dir->c_str(), 1);
  } else {
    ::unsetenv("SANDBOXD_TEST_IMAGES_DIR");
  }
  ASSERT_NE(daemon, nullptr) << "sandboxd did not start";
  Client client = daemon->Connect();
  Request request;
  request.image = "broken-preload";
  request.output_schema = "typeof(pyplot_loaded:bool)";
  request.script =
      "import sys\nresult = pd.DataFrame({'pyplot_loaded': ['matplotlib.pyplot' in "
      "sys.modules]})\n";
  auto outcome = client.Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_TRUE(outcome.result().table.view().GetBool(0, 0));
  std::string stderr_text;
  for (const auto& record : outcome.result().logs)
    if (record.stream == LogRecord::Stream::kStderr) stderr_text += record.message + "\n";
  EXPECT_NE(stderr_text.find("preload of 'no_such_module_xyz' failed: ModuleNotFoundError"),
            std::string::npos)
      << stderr_text;
  EXPECT_EQ(stderr_text.find("evil"), std::string::npos) << stderr_text;
}

}  // namespace
}  // namespace sandboxd::testing
