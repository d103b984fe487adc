// External artifacts end to end: client -> sandboxd -> Azurite over HTTPS (a test CA) -> the
// sandbox's ./Temp and /sandbox/site -> the script, with the seed's examples run unchanged, the
// callout policy, SAS tokens that are wrong or expired, the cache, and hostile bundles. Every
// message the daemon returned and everything it logged is searched for the tokens.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "artifacts_daemon.h"
#include "azurite.h"
#include "metrics_scrape.h"
#include "test_paths.h"

namespace sandboxd::testing {
namespace {
namespace fs = std::filesystem;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The `sig=` value of a SAS URL, decoded and as sent.
std::vector<std::string> Tokens(const std::string& url) {
  const auto at = url.find("sig=");
  if (at == std::string::npos) return {};
  std::string raw = url.substr(at + 4);
  raw = raw.substr(0, raw.find('&'));
  int n = 0;
  char* decoded = curl_easy_unescape(nullptr, raw.c_str(), static_cast<int>(raw.size()), &n);
  std::string plain(decoded, static_cast<std::size_t>(n));
  curl_free(decoded);
  return {raw, plain};
}

// Whether `text` holds a SAS signature's value anywhere (`sig=` followed by anything but the
// redaction mark).
bool HoldsSignature(const std::string& text) {
  static const std::regex kSignature("sig=(?!<redacted>)", std::regex::icase);
  return std::regex_search(text, kSignature);
}

class ArtifactsE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(ArtifactImagesDir() + "/python3.11/packages.lock")) {
      setup_error_ = "image python3.11 is not built; run runtime_images/build-image python3.11";
      return;
    }
    char tmpl[] = "/tmp/sandboxd-art-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ::chmod(dir_.c_str(), 0755);
    bundles_ = dir_ + "/bundles";
    const std::string make =
        std::string("/usr/bin/python3 ") + ::sandboxd::test_paths::kMakeBundles + " " + bundles_;
    if (std::system(make.c_str()) != 0) {
      setup_error_ = "make_bundles.py failed";
      return;
    }
    azurite_ = new Azurite;
    if (!azurite_->Start(dir_, setup_error_)) return;
    if (!azurite_->CreateContainer("python") || !azurite_->CreateContainer("private")) {
      setup_error_ = "cannot create containers in azurite";
      return;
    }
    // Only the `python` container of this emulator may be called.
    std::ofstream(dir_ + "/callout.json")
        << R"([{"CalloutType": "sandbox_artifacts", "CalloutUriRegex": "^https://127\\.0\\.0\\.1:)"
        << azurite_->port() << R"(/devstoreaccount1/python/", "CanCall": true}])";
    const std::string artifacts =
        R"({"policy_file": ")" + dir_ + R"(/callout.json", "ca_file": ")" + azurite_->ca_file() +
        R"(", "max_artifact_bytes": 8388608, "max_request_bytes": 16777216, "download_timeout_s": 30,
            "cache_bytes": 67108864, "bundle": {"max_entries": 2000, "max_unpacked_bytes": 4194304,
            "max_entry_bytes": 8388608, "max_ratio": 100}})";
    artifacts_ = artifacts;
    daemon_ = ArtifactDaemon::Start(dir_ + "/daemon", artifacts).release();
    if (daemon_ == nullptr)
      setup_error_ = "sandboxd did not start; see " + dir_ + "/daemon/daemon.log";
  }
  static void TearDownTestSuite() {
    if (daemon_ != nullptr && ::testing::Test::HasFailure()) std::cerr << daemon_->Log();
    delete daemon_;
    delete azurite_;
    daemon_ = nullptr;
    azurite_ = nullptr;
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }
  void TearDown() override {
    // SAS tokens are secrets: never in the daemon's log nor in anything it answered.
    const std::string log = daemon_->Log();
    EXPECT_FALSE(HoldsSignature(log)) << "the daemon logged a sig= value";
    for (const auto& url : urls_) {
      for (const auto& token : Tokens(url)) {
        EXPECT_EQ(log.find(token), std::string::npos) << "the daemon logged a token";
        for (const auto& text : returned_)
          EXPECT_EQ(text.find(token), std::string::npos) << "the daemon returned a token: " << text;
      }
    }
  }

  std::string Upload(const std::string& container, const std::string& blob,
                     const std::string& data) {
    EXPECT_TRUE(azurite_->PutBlob(container, blob, data)) << blob;
    return Url(container, blob);
  }
  std::string Url(const std::string& container, const std::string& blob,
                  const std::string& expiry = "2099-01-01T00:00:00Z", bool tamper = false) {
    urls_.push_back(azurite_->BlobUrl(container, blob, expiry, tamper));
    return urls_.back();
  }
  std::string Bundle(const std::string& name) { return ReadFile(bundles_ + "/" + name); }

  ExecuteOutcome Run(const std::string& schema, const std::string& script,
                     std::map<std::string, std::string> artifacts, Table input = Table(),
                     const ArtifactDaemon* daemon = nullptr, const std::string& request_id = "") {
    Client client = (daemon != nullptr ? daemon : daemon_)->Connect();
    Request request;
    request.request_id = request_id;
    request.output_schema = schema;
    request.script = script;
    request.external_artifacts = std::move(artifacts);
    request.input = std::move(input);
    auto outcome = client.Execute(request);
    if (outcome.ok()) {
      for (const auto& record : outcome.result().logs) returned_.push_back(record.message);
    } else {
      returned_.push_back(outcome.error().message);
      for (const auto& record : outcome.error().logs) returned_.push_back(record.message);
    }
    return outcome;
  }

  static std::string dir_, bundles_, setup_error_, artifacts_;
  static Azurite* azurite_;
  static ArtifactDaemon* daemon_;
  std::vector<std::string> urls_;
  std::vector<std::string> returned_;
};
std::string ArtifactsE2E::dir_, ArtifactsE2E::bundles_, ArtifactsE2E::setup_error_,
    ArtifactsE2E::artifacts_;
Azurite* ArtifactsE2E::azurite_ = nullptr;
ArtifactDaemon* ArtifactsE2E::daemon_ = nullptr;

// The seed's external_artifacts example, as Kusto's docs print it (a Windows path, '\\').
constexpr const char* kSeedListing = R"(if 1:
    import os
    result = pd.DataFrame(columns=['File','Size'])
    sizes = []
    path = '.\\Temp'
    files = os.listdir(path)
    for file in files:
        sizes.append(os.path.getsize(path + '\\' + file))
    result['Size'] = sizes
    result['File'] = files
)";

TEST_F(ArtifactsE2E, SeedExternalArtifactsListing) {
  const auto script = Upload("python", "this_is_a_script", std::string(120, 's'));
  const auto file = Upload("python", "this_is_my_first_file", std::string(105, 'f'));
  auto outcome = Run("typeof(File:string, Size:string)", kSeedListing,
                     {{"this_is_a_script", script}, {"this_is_my_first_file", file}});
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  const TableView& t = outcome.result().table.view();
  ASSERT_EQ(t.row_count(), 2U);
  std::set<std::pair<std::string, std::string>> rows;
  for (std::uint64_t i = 0; i < 2; ++i) rows.emplace(t.GetText(0, i), t.GetText(1, i));
  EXPECT_EQ(rows, (std::set<std::pair<std::string, std::string>>{
                      {"this_is_a_script", "120"}, {"this_is_my_first_file", "105"}}));
}

TEST_F(ArtifactsE2E, WindowsPathsAndCaseInsensitiveNames) {
  const auto url = Upload("python", "notes.txt", "hello from blob storage");
  auto outcome = Run("typeof(a:string, b:string, c:string, d:bool)", R"(
import os, pathlib
a = open('C:\\Temp\\NOTES.TXT').read()
b = open('.\\Temp\\notes.txt').read()
c = pathlib.Path('Temp/Notes.txt').read_text()
d = os.path.exists('.\\temp\\notes.TXT') and os.access('Temp', os.R_OK)
result = pd.DataFrame({'a': [a], 'b': [b], 'c': [c], 'd': [d]})
)",
                     {{"notes.txt", url}});
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  const TableView& t = outcome.result().table.view();
  EXPECT_EQ(t.GetText(0, 0), "hello from blob storage");
  EXPECT_EQ(t.GetText(1, 0), "hello from blob storage");
  EXPECT_EQ(t.GetText(2, 0), "hello from blob storage");
  EXPECT_TRUE(t.GetBool(3, 0));
}

TEST_F(ArtifactsE2E, SeedFakerZipackageExample) {
  // The docs declare 'faker.zip' and install 'Faker.zip'.
  const auto url = Upload("python", "faker.zip", Bundle("faker_wheels.zip"));
  TableBuilder builder({{"ID", ColumnType::kLong}, {"Name", ColumnType::kString}});
  for (std::int64_t i = 1; i <= 3; ++i) {
    builder.AppendLong(0, i);
    builder.AppendText(1, "");
  }
  auto input = builder.FinishTable();
  ASSERT_TRUE(input.ok());
  auto outcome = Run("typeof(*)", R"(if 1:
    from sandbox_utils import Zipackage
    Zipackage.install("Faker.zip")
    from faker import Faker
    fake = Faker()
    result = df
    for i in range(df.shape[0]):
        result.loc[i, "Name"] = fake.name()
)",
                     {{"faker.zip", url}}, std::move(*input));
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  const TableView& t = outcome.result().table.view();
  ASSERT_EQ(t.row_count(), 3U);
  for (std::uint64_t i = 0; i < 3; ++i) {
    const std::string name(t.GetText(1, i));
    EXPECT_NE(name.find(' '), std::string::npos) << name;
  }
}

// Issue 12: the artifact caches on the metrics endpoint. A daemon of its own (its caches start
// empty): the first request downloads a file and unpacks a bundle (two misses), the second is
// served from the caches (the file revalidated with a 304, the bundle's tree reused).
TEST_F(ArtifactsE2E, TheArtifactCachesCountHitsAndMissesOnTheMetricsEndpoint) {
  auto metered = ArtifactDaemon::Start(dir_ + "/metered", artifacts_,
                                       {"--metrics-listen", "127.0.0.1:0"}, true);
  ASSERT_NE(metered, nullptr);
  const std::string url = AnnouncedMetricsUrl(metered->log_path());
  ASSERT_FALSE(url.empty()) << "the daemon did not announce its metrics endpoint";
  auto scrape = [&url] {
    long code = 0;
    std::string text = Get(url, code);
    EXPECT_EQ(code, 200) << text;
    return text;
  };
  const std::string before = scrape();
  EXPECT_EQ(Sample(before, R"(sandboxd_artifact_cache_misses_total{cache="downloads"})"), 0)
      << before;

  const std::map<std::string, std::string> artifacts = {
      {"notes.txt", Upload("python", "metered.txt", "counted")},
      {"faker.zip", Upload("python", "metered_faker.zip", Bundle("faker_wheels.zip"))}};
  const std::string script = R"(if 1:
    from sandbox_utils import Zipackage
    Zipackage.install("faker.zip")
    import faker
    result = pd.DataFrame({'x': [open('.\\Temp\\notes.txt').read()]})
)";
  for (int i = 0; i < 2; ++i) {
    auto outcome = Run("typeof(x:string)", script, artifacts, Table(), metered.get());
    ASSERT_TRUE(outcome.ok()) << outcome.error().ToString() << "\n" << metered->Log();
    EXPECT_EQ(outcome.result().table.view().GetText(0, 0), "counted");
  }

  const std::string after = scrape();
  std::string said;
  EXPECT_TRUE(PromtoolAccepts(after, said)) << said << "\n" << after;
  EXPECT_EQ(Sample(after, R"(sandboxd_artifact_cache_misses_total{cache="downloads"})"), 2)
      << after;
  EXPECT_EQ(Sample(after, R"(sandboxd_artifact_cache_hits_total{cache="downloads"})"), 2) << after;
  EXPECT_EQ(Sample(after, R"(sandboxd_artifact_cache_misses_total{cache="bundles"})"), 1) << after;
  EXPECT_EQ(Sample(after, R"(sandboxd_artifact_cache_hits_total{cache="bundles"})"), 1) << after;
  EXPECT_EQ(Sample(after, R"(sandboxd_artifact_cache_evictions_total{cache="downloads"})"), 0)
      << after;
  EXPECT_GT(Sample(after, R"(sandboxd_artifact_cache_bytes{cache="downloads"})"), 0) << after;
  EXPECT_GT(Sample(after, R"(sandboxd_artifact_cache_bytes{cache="bundles"})"), 0) << after;
}

// The store holds every tenant's artifacts: no host user lists it or reads a cached file, and a
// sandbox reaches only its own request's folders, forked from a zygote or launched (issue 10).
TEST_F(ArtifactsE2E, TheStoreAndItsCachesAreTheDaemonsAlone) {
  const std::string script = R"(if 1:
    from sandbox_utils import Zipackage
    Zipackage.install("faker.zip")
    from faker import Faker
    result = pd.DataFrame({'x': [open('Temp/secret.txt').read() + ' ' + str(bool(Faker().name()))]})
)";
  const std::map<std::string, std::string> artifacts = {
      {"secret.txt", Upload("python", "secret.txt", "tenant data")},
      {"faker.zip", Upload("python", "faker.zip", Bundle("faker_wheels.zip"))}};
  auto outcome = Run("typeof(x:string)", script, artifacts);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.view().GetText(0, 0), "tenant data True");

  const std::string store = dir_ + "/daemon/state/artifacts";
  const auto mode = [](const std::string& path) {
    return static_cast<unsigned>(fs::status(path).permissions() & fs::perms::mask);
  };
  EXPECT_EQ(mode(store), 0711U);
  EXPECT_EQ(mode(store + "/requests"), 0711U);
  EXPECT_EQ(mode(store + "/downloads"), 0700U);
  EXPECT_EQ(mode(store + "/unpacked"), 0700U);
  std::vector<std::string> cached;
  for (const char* cache : {"/downloads", "/unpacked"}) {
    for (const auto& entry : fs::recursive_directory_iterator(store + cache)) {
      if (entry.is_regular_file()) cached.push_back(entry.path().string());
    }
  }
  ASSERT_FALSE(cached.empty());

  // An ordinary host user (nobody) tries.
  const pid_t child = ::fork();
  if (child == 0) {
    const gid_t nogroup = 65534;
    if (::setgroups(0, nullptr) != 0 || ::setresgid(nogroup, nogroup, nogroup) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0)
      ::_exit(10);
    int code = 0;
    for (const std::string& dir :
         {store, store + "/requests", store + "/downloads", store + "/unpacked"}) {
      DIR* listing = ::opendir(dir.c_str());
      if (listing != nullptr || errno != EACCES) code = 11;
      if (listing != nullptr) ::closedir(listing);
    }
    for (const std::string& file : cached) {
      const int fd = ::open(file.c_str(), O_RDONLY);
      if (fd >= 0 || errno != EACCES) code = 12;
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: cannot become nobody; 11: a folder of the store could "
                                       "be listed; 12: a cached file could be opened";

  // A sandbox launched without a zygote binds its folders by path as its slot's uid.
  auto launched = ArtifactDaemon::Start(dir_ + "/no-zygotes", artifacts_, {"--no-zygotes"}, true);
  ASSERT_NE(launched, nullptr);
  outcome = Run("typeof(x:string)", script, artifacts, Table(), launched.get());
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString() << "\n" << launched->Log();
  EXPECT_EQ(outcome.result().table.view().GetText(0, 0), "tenant data True");
}

TEST_F(ArtifactsE2E, CompiledExtensionWheelAndBareWheelAndModel) {
  if (!fs::exists(bundles_ + "/cext_wheels.zip"))
    GTEST_SKIP() << "no python3.11 headers (python3-dev)";
  const auto cext = Upload("python", "cext.zip", Bundle("cext_wheels.zip"));
  const auto bare =
      Upload("python", "faker-0.1-py3-none-any.whl", Bundle("faker-0.1-py3-none-any.whl"));
  const auto model = Upload("python", "model.zip", Bundle("model.zip"));
  const auto pkg = Upload("python", "pkgfolder.zip", Bundle("pkgfolder.zip"));
  auto outcome = Run("typeof(sum:long, name:string, weights:string, hello:string, inzip:long)", R"(
import os, zipfile
from sandbox_utils import Zipackage
Zipackage.install('CEXT.zip')
import fastsum
Zipackage.install('faker-0.1-py3-none-any.whl')
from faker import Faker
root = Zipackage.install('.\\Temp\\model.zip')
weights = open(os.path.join(root, 'model', 'weights.txt')).read().strip()
Zipackage.install('pkgfolder.zip')
import mypkg
inzip = len(zipfile.ZipFile('C:\\Temp\\Model.zip').namelist())
result = pd.DataFrame({'sum': [fastsum.add(2, 40)], 'name': [Faker(1).name()], 'weights': [weights],
                       'hello': [mypkg.hello()], 'inzip': [inzip]})
)",
                     {{"cext.zip", cext},
                      {"faker-0.1-py3-none-any.whl", bare},
                      {"model.zip", model},
                      {"pkgfolder.zip", pkg}});
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  const TableView& t = outcome.result().table.view();
  EXPECT_EQ(t.GetLong(0, 0), 42);
  EXPECT_FALSE(t.GetText(1, 0).empty());
  EXPECT_EQ(t.GetText(2, 0), "0.5 0.25 0.125");
  EXPECT_EQ(t.GetText(3, 0), "hello from mypkg");
  EXPECT_EQ(t.GetLong(4, 0), 2);
}

TEST_F(ArtifactsE2E, ArtifactsAreReadOnlyAndTheSiteIsNotWritable) {
  const auto url = Upload("python", "ro.txt", "read only");
  auto outcome = Run("typeof(a:string, b:string)", R"(
def attempt(path):
    try:
        open(path, 'w').write('x')
        return 'written'
    except OSError as e:
        return type(e).__name__
result = pd.DataFrame({'a': [attempt('Temp/ro.txt')], 'b': [attempt('/sandbox/site/new.txt')]})
)",
                     {{"ro.txt", url}});
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_NE(outcome.result().table.view().GetText(0, 0), "written");
  EXPECT_NE(outcome.result().table.view().GetText(1, 0), "written");
}

TEST_F(ArtifactsE2E, IncompatibleWheelIsRefusedBeforeTheScriptRuns) {
  const auto url = Upload("python", "win.zip", Bundle("win_wheels.zip"));
  auto outcome = Run("typeof(x:long)", "result = pd.DataFrame({'x': [1]})", {{"win.zip", url}});
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kArtifactFailed);
  EXPECT_NE(
      outcome.error().message.find("artifact 'win.zip' was refused: wheel "
                                   "'faker-0.1-cp311-cp311-win_amd64.whl': cannot run in this "
                                   "image: it is built for Windows (win_amd64)"),
      std::string::npos)
      << outcome.error().message;
}

TEST_F(ArtifactsE2E, HostileBundlesAreRefusedNamingTheArtifactAndTheRule) {
  const std::vector<std::pair<std::string, std::string>> probes = {
      {"h1_dotdot.zip", "(zip-slip)"},
      {"h1_backslash.zip", "backslash"},
      {"h1_absolute.zip", "absolute"},
      {"h2_symlink_then_write.zip", "symbolic link"},
      {"h3_ratio.zip", "zip bomb: ratio"},
      {"h3_total.zip", "zip bomb"},
      {"h3_count.zip", "zip bomb: entry count"},
      {"h3_overlap.zip", "inconsistent"},
      {"h3_lying_sizes.zip", "inconsistent"},
      {"h4_case_twins.zip", "case twins"},
      {"h4_duplicate.zip", "duplicate"},
      {"h4_unicode.zip", "non-ASCII"},
      {"h5_fifo.zip", "FIFO"},
      {"h5_device.zip", "character device"}};
  for (const auto& [file, rule] : probes) {
    const auto url = Upload("python", file, Bundle(file));
    auto outcome = Run("typeof(x:long)", "result = pd.DataFrame({'x': [1]})", {{"evil.zip", url}});
    ASSERT_FALSE(outcome.ok()) << file;
    EXPECT_EQ(outcome.error().code, ErrorCode::kArtifactFailed) << file;
    EXPECT_NE(outcome.error().message.find("artifact 'evil.zip'"), std::string::npos)
        << file << ": " << outcome.error().message;
    EXPECT_NE(outcome.error().message.find(rule), std::string::npos)
        << file << ": " << outcome.error().message;
  }
}

TEST_F(ArtifactsE2E, PolicyDeniesNamingTheArtifactNeverTheToken) {
  const auto url = Upload("private", "secret.txt", "nope");
  auto outcome = Run("typeof(x:long)", "result = pd.DataFrame({'x': [1]})", {{"secret.txt", url}});
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kArtifactDenied);
  EXPECT_NE(outcome.error().message.find("external artifact 'secret.txt'"), std::string::npos)
      << outcome.error().message;
  EXPECT_NE(outcome.error().message.find("?<redacted>"), std::string::npos)
      << outcome.error().message;

  auto http = Run("typeof(x:long)", "result = pd.DataFrame({'x': [1]})",
                  {{"a.txt", "http://127.0.0.1:" + std::to_string(azurite_->port()) +
                                 "/devstoreaccount1/python/notes.txt"}});
  ASSERT_FALSE(http.ok());
  EXPECT_EQ(http.error().code, ErrorCode::kArtifactDenied) << http.error().ToString();
}

// Issue 12: a daemon logging JSON lines at debug level: every line parses, the lines about an
// artifact carry their request's id, and no line holds a signature (nor any part of a token).
TEST_F(ArtifactsE2E, JsonLogCarriesRequestIdsAndNoToken) {
  auto json = ArtifactDaemon::Start(dir_ + "/json-log", artifacts_, {"--log-format", "json"}, true);
  ASSERT_NE(json, nullptr);
  const std::string script = "result = pd.DataFrame({'x': [open('Temp/j.txt').read()]})";
  const auto url = Upload("python", "j.txt", "json log");
  auto fetched = Run("typeof(x:string)", script, {{"j.txt", url}}, Table(), json.get(), "art-ok");
  ASSERT_TRUE(fetched.ok()) << fetched.error().ToString();
  auto forged = Run("typeof(x:string)", script,
                    {{"j.txt", Url("python", "j.txt", "2099-01-01T00:00:00Z", /*tamper=*/true)}},
                    Table(), json.get(), "art-forged");
  ASSERT_FALSE(forged.ok());
  auto denied = Run("typeof(x:string)", script, {{"j.txt", Upload("private", "j.txt", "no")}},
                    Table(), json.get(), "art-denied");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, ErrorCode::kArtifactDenied);

  const std::string log = json->Log();
  EXPECT_FALSE(HoldsSignature(log)) << log;
  for (const auto& u : urls_) {
    for (const auto& token : Tokens(u)) EXPECT_EQ(log.find(token), std::string::npos);
  }
  std::map<std::string, unsigned> artifact_lines;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    const auto parsed = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(parsed.is_object()) << "not a JSON line: " << line;
    const std::string message = parsed.value("message", "");
    if (message.find("artifact '") == std::string::npos) continue;
    EXPECT_TRUE(parsed.contains("request_id")) << line;
    ++artifact_lines[parsed.value("request_id", "")];
  }
  EXPECT_GE(artifact_lines["art-ok"], 1U) << log;      // downloaded
  EXPECT_GE(artifact_lines["art-forged"], 1U) << log;  // HTTP 403
  EXPECT_GE(artifact_lines["art-denied"], 1U) << log;  // the policy's refusal
}

TEST_F(ArtifactsE2E, ExpiredAndForgedTokensAreRefusedEvenWhenCached) {
  const auto good = Upload("python", "cached.txt", "cached content");
  auto first =
      Run("typeof(x:string)", "result = pd.DataFrame({'x': [open('Temp/cached.txt').read()]})",
          {{"cached.txt", good}});
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  // The blob is in the cache now; a request without a valid token must still not get it.
  for (const auto& bad : {Url("python", "cached.txt", "2020-06-01T00:00:00Z"),
                          Url("python", "cached.txt", "2099-01-01T00:00:00Z", /*tamper=*/true)}) {
    auto outcome =
        Run("typeof(x:string)", "result = pd.DataFrame({'x': [open('Temp/cached.txt').read()]})",
            {{"cached.txt", bad}});
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.error().code, ErrorCode::kArtifactFailed);
    EXPECT_NE(outcome.error().message.find("HTTP 403"), std::string::npos)
        << outcome.error().message;
    EXPECT_NE(outcome.error().message.find("artifact 'cached.txt'"), std::string::npos);
  }
}

TEST_F(ArtifactsE2E, CacheRevalidatesAndClears) {
  const auto url = Upload("python", "reval.txt", "version one");
  const std::string script = "result = pd.DataFrame({'x': [open('Temp/reval.txt').read()]})";
  auto count = [&](const std::string& what) {
    const std::string log = daemon_->Log();
    std::size_t n = 0;
    for (std::size_t at = 0; (at = log.find("artifact 'reval.txt'", at)) != std::string::npos;
         ++at) {
      const std::size_t eol = log.find('\n', at);
      if (log.substr(at, eol - at).find(what) != std::string::npos) ++n;
    }
    return n;
  };
  ASSERT_TRUE(Run("typeof(x:string)", script, {{"reval.txt", url}}).ok());
  EXPECT_EQ(count("downloaded (HTTP 200)"), 1U);
  // A different, valid token: a conditional request, answered 304, served from the cache.
  auto again = Run("typeof(x:string)", script, {{"reval.txt", Url("python", "reval.txt")}});
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(again.result().table.view().GetText(0, 0), "version one");
  EXPECT_EQ(count("revalidated: HTTP 304"), 1U);
  // The blob changes: the ETag differs, so the new content comes (HTTP 200).
  Upload("python", "reval.txt", "version two");
  auto changed = Run("typeof(x:string)", script, {{"reval.txt", Url("python", "reval.txt")}});
  ASSERT_TRUE(changed.ok()) << changed.error().ToString();
  EXPECT_EQ(changed.result().table.view().GetText(0, 0), "version two");
  EXPECT_EQ(count("downloaded (HTTP 200)"), 2U);
  // `sandboxctl cache clear URL`: matched without the query string.
  Client client = daemon_->Connect();
  auto removed = client.ClearCache({Url("python", "reval.txt")});
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 1U);
  ASSERT_TRUE(Run("typeof(x:string)", script, {{"reval.txt", Url("python", "reval.txt")}}).ok());
  EXPECT_EQ(count("downloaded (HTTP 200)"), 3U);
  auto all = client.ClearCache();
  ASSERT_TRUE(all.ok());
  EXPECT_GE(*all, 1U);
}

TEST_F(ArtifactsE2E, SizeLimitsAndMissingBlobs) {
  const auto big = Upload("python", "big.bin", std::string(9 << 20, 'b'));
  auto outcome = Run("typeof(x:long)", "result = pd.DataFrame({'x': [1]})", {{"big.bin", big}});
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kArtifactFailed);
  EXPECT_NE(outcome.error().message.find("artifact 'big.bin' is larger than"), std::string::npos)
      << outcome.error().message;
  auto missing = Run("typeof(x:long)", "result = pd.DataFrame({'x': [1]})",
                     {{"missing.txt", Url("python", "no-such-blob.txt")}});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kArtifactFailed);
  EXPECT_NE(missing.error().message.find("HTTP 404"), std::string::npos) << missing.error().message;
  auto twins = Run("typeof(x:long)", "result = pd.DataFrame({'x': [1]})",
                   {{"a.txt", Url("python", "a.txt")}, {"A.TXT", Url("python", "a.txt")}});
  ASSERT_FALSE(twins.ok());
  EXPECT_EQ(twins.error().code, ErrorCode::kBadRequest);
}

}  // namespace
}  // namespace sandboxd::testing
