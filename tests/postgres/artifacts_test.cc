// Issue 13: sandboxd.python()'s `artifacts` argument end to end: the seed's Zipackage example
// (a zip of wheels in blob storage, installed by the script) run as SQL by an ordinary role,
// with the daemon fetching from Azurite over HTTPS (tests/artifacts/azurite.h) under a callout
// policy that lets only the `python` container through.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "azurite.h"
#include "leftover_guard.h"
#include "pg_cluster.h"
#include "pg_sandboxd_env.h"
#include "test_paths.h"

namespace sandboxd::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class PostgresArtifactsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!DefaultImageBuilt()) return;
    char tmpl[] = "/tmp/sandboxd-pg-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return;
    root_ = tmpl;
    guard_ = new LeftoverGuard(::getpid(), "", root_);
    const std::string make = std::string("/usr/bin/python3 ") + test_paths::kMakeBundles + " " +
                             root_ + "/bundles >/dev/null 2>&1";
    if (std::system(make.c_str()) != 0) {
      setup_error_ = "make_bundles.py failed";
      return;
    }
    std::filesystem::create_directories(root_ + "/azurite");
    azurite_ = new Azurite;
    if (!azurite_->Start(root_ + "/azurite", setup_error_)) return;
    if (!azurite_->CreateContainer("python") || !azurite_->CreateContainer("private")) {
      setup_error_ = "cannot create containers in azurite";
      return;
    }
    std::ofstream(root_ + "/callout.json")
        << R"([{"CalloutType": "sandbox_artifacts", "CalloutUriRegex": "^https://127\\.0\\.0\\.1:)"
        << azurite_->port() << R"(/devstoreaccount1/python/", "CanCall": true}])";
    std::filesystem::create_directories(root_ + "/state");
    const std::string config = R"(, "state_dir": ")" + root_ + R"(/state", "artifacts": {)" +
                               R"("policy_file": ")" + root_ + R"(/callout.json", "ca_file": ")" +
                               azurite_->ca_file() + R"("})";
    env_ = PgSandboxd::Start(root_, config, setup_error_, 1'840'000'000U).release();
  }

  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
    delete azurite_;
    azurite_ = nullptr;
    if (guard_ != nullptr) guard_->Finish(LeftoverGuard::Ending::kDaemonStopped);
    delete guard_;
    guard_ = nullptr;
  }

  void SetUp() override {
    if (!DefaultImageBuilt())
      GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir()
                   << "; run runtime_images/build-image python3.11";
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    ASSERT_NE(env_, nullptr);
    alice_ = std::make_unique<PgSession>(env_->cluster().Conninfo("alice"));
    ASSERT_TRUE(alice_->ok()) << alice_->error();
  }

  static std::string root_;
  static std::string setup_error_;
  static LeftoverGuard* guard_;
  static Azurite* azurite_;
  static PgSandboxd* env_;
  std::unique_ptr<PgSession> alice_;
};
std::string PostgresArtifactsTest::root_;
std::string PostgresArtifactsTest::setup_error_;
LeftoverGuard* PostgresArtifactsTest::guard_ = nullptr;
Azurite* PostgresArtifactsTest::azurite_ = nullptr;
PgSandboxd* PostgresArtifactsTest::env_ = nullptr;

TEST_F(PostgresArtifactsTest, TheSeedZipackageExampleRunsAsSql) {
  ASSERT_TRUE(
      azurite_->PutBlob("python", "faker.zip", ReadFile(root_ + "/bundles/faker_wheels.zip")));
  const std::string url = azurite_->BlobUrl("python", "faker.zip", "2099-01-01T00:00:00Z", false);
  // The docs declare 'faker.zip' and install 'Faker.zip'.
  const PgResult result =
      alice_->Exec(R"sql(
    SELECT * FROM sandboxd.python('typeof(*)', $$
from sandbox_utils import Zipackage
Zipackage.install("Faker.zip")
from faker import Faker
fake = Faker()
result = df
for i in range(df.shape[0]):
    result.loc[i, "Name"] = fake.name()
$$, $q$SELECT id::bigint AS "ID", ''::text AS "Name" FROM generate_series(1, 3) id$q$,
    '{}', jsonb_build_object('faker.zip', ')sql" +
                   url + R"sql(')) AS t("ID" bigint, "Name" text) ORDER BY 1)sql");
  ASSERT_TRUE(result.ok) << result.message << "\n" << result.detail;
  ASSERT_EQ(result.rows.size(), 3U);
  for (const auto& row : result.rows) EXPECT_NE(row[1]->find(' '), std::string::npos) << *row[1];
}

TEST_F(PostgresArtifactsTest, AnArtifactThePolicyRefusesIsInsufficientPrivilege) {
  ASSERT_TRUE(azurite_->PutBlob("private", "secret.txt", "no"));
  const std::string url = azurite_->BlobUrl("private", "secret.txt", "2099-01-01T00:00:00Z", false);
  const PgResult result = alice_->Exec(
      "SELECT * FROM sandboxd.python('typeof(*)', 'result = df', 'SELECT 1 AS x', '{}', "
      "jsonb_build_object('secret.txt', '" +
      url + "')) AS t(x int)");
  ASSERT_FALSE(result.ok);
  EXPECT_EQ(result.sqlstate, "42501");
  EXPECT_NE(result.message.find("sandboxd ARTIFACT_DENIED"), std::string::npos) << result.message;
}

}  // namespace
}  // namespace sandboxd::testing
