// sandboxctl: the operator's and tester's face of the client library.
//
//   sandboxctl run --schema 'typeof(*, fx:double)' --script FILE | --script-text TEXT
//                  [--range 'x from 1 to 360 step 1' | --input FILE.csv] ...
//   sandboxctl images
//   sandboxctl cache clear [URL...]
//   sandboxctl status [--json]
//   sandboxctl policy show [--json]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "csv.h"
#include "debug_dir.h"
#include "output.h"
#include "range.h"
#include "sandboxd/client.h"
#include "sandboxd/schema.h"
#include "sandboxd/status.h"
#include "sandboxd/table.h"
#include "status_output.h"

namespace {

// Exit statuses, so scripts can tell who failed.
constexpr int kExitOk = 0;
constexpr int kExitDaemonError = 1;  // the daemon answered with an error
constexpr int kExitUsage = 2;        // bad arguments or unreadable/invalid input
constexpr int kExitTransport = 3;    // no daemon, or the conversation with it failed

constexpr const char* kExitFooter =
    "Exit status: 0 result; 1 error from sandboxd (CODE: message on stderr); 2 usage or input "
    "error; 3 cannot reach sandboxd (UNAVAILABLE: the request may be retried) or its reply was "
    "unusable.";

std::string DefaultSocket() {
  const char* env = std::getenv("SANDBOXD_SOCKET");
  return (env != nullptr && *env != '\0') ? std::string(env)
                                          : std::string(sandboxd::kDefaultSocketPath);
}

struct UsageError {
  std::string message;
};

std::string ReadFileOrStdin(const std::string& path, const char* what) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError{std::string("cannot read ") + what + " '" + path + "'"};
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) throw UsageError{std::string("cannot read ") + what + " '" + path + "'"};
  return contents.str();
}

std::string FormatTime(double seconds) {
  if (!std::isfinite(seconds) || seconds <= 0) return "-";
  const auto ticks = static_cast<std::int64_t>(std::llround(seconds * 1e7));
  return sandboxd::FormatDateTime(ticks);
}

void PrintLogs(const std::vector<sandboxd::LogRecord>& logs, bool truncated) {
  for (const sandboxd::LogRecord& record : logs) {
    std::string message = record.message;
    while (!message.empty() && message.back() == '\n') message.pop_back();
    switch (record.stream) {
      case sandboxd::LogRecord::Stream::kStdout:
      case sandboxd::LogRecord::Stream::kStderr:
      case sandboxd::LogRecord::Stream::kUnspecified:
        std::cerr << '[' << sandboxd::LogStreamName(record.stream) << "] " << message << '\n';
        break;
      case sandboxd::LogRecord::Stream::kLogging:
        std::cerr << "[log] " << FormatTime(record.time) << ' ' << record.level << ' '
                  << record.logger;
        if (!record.file.empty()) std::cerr << ' ' << record.file << ':' << record.line;
        std::cerr << ": " << message << '\n';
        break;
    }
  }
  if (truncated) std::cerr << "[logs truncated]\n";
}

void PrintStats(const sandboxd::Stats& stats) {
  std::fprintf(stderr,
               "[stats] queue %.3f s, setup %.3f s, run %.3f s, wall %.3f s, cpu user %.3f s, "
               "cpu system %.3f s, peak memory %llu bytes, in %llu bytes, out %llu bytes\n",
               stats.queue_seconds, stats.setup_seconds, stats.run_seconds, stats.wall_seconds,
               stats.cpu_user_seconds, stats.cpu_system_seconds,
               static_cast<unsigned long long>(stats.peak_memory_bytes),
               static_cast<unsigned long long>(stats.bytes_in),
               static_cast<unsigned long long>(stats.bytes_out));
}

// A Status carries no `local` flag: UNAVAILABLE is always the transport's, and INTERNAL is taken
// for an unusable reply (it may also be the daemon's own fault; both mean "not a usable answer").
int ExitFor(const sandboxd::Status& status) {
  const bool local = status.code() == sandboxd::ErrorCode::kUnavailable ||
                     status.code() == sandboxd::ErrorCode::kInternal;
  return local ? kExitTransport : kExitDaemonError;
}

int ReportStatus(const sandboxd::Status& status, int exit_code) {
  std::cerr << status.ToString() << '\n';
  return exit_code;
}

struct RunOptions {
  std::string schema;
  std::string script_file;
  std::string script_text;
  std::string range;
  std::string input_file;
  std::string params = "{}";
  std::string artifacts;
  std::string image;
  std::uint64_t memory_mb = 0;
  double timeout_s = 0;
  bool spill_to_disk = false;
  std::string format = "table";
  std::string socket = DefaultSocket();
  std::string request_id;
  std::string debug_dir;  // empty with --debug alone: the table on stdout, the script on stderr
  std::string debug_script_out;
  std::string runtime_dir = SANDBOXD_DEFAULT_RUNTIME_DIR;
  bool show_logs = false;
  bool show_stats = false;
};

sandboxd::Request BuildRequest(const RunOptions& options, CLI::App& run) {
  sandboxd::Request request;
  if (auto schema = sandboxd::ParseTypeof(options.schema); !schema.ok()) {
    throw UsageError{"--schema: " + schema.status().message()};
  }
  request.output_schema = options.schema;

  const bool has_file = run.count("--script") > 0;
  const bool has_text = run.count("--script-text") > 0;
  if (has_file == has_text)
    throw UsageError{"give exactly one of --script FILE and --script-text TEXT"};
  if (has_file && options.script_file == "-" && run.count("--input") > 0 &&
      options.input_file == "-") {
    throw UsageError{"--script and --input cannot both read standard input"};
  }
  request.script = has_file ? ReadFileOrStdin(options.script_file, "script") : options.script_text;

  nlohmann::json params = nlohmann::json::parse(options.params, nullptr, false);
  if (params.is_discarded() || !params.is_object()) {
    throw UsageError{"--params must be a JSON object, e.g. '{\"gain\": 100}'"};
  }
  request.script_parameters_json = options.params;

  if (!options.artifacts.empty()) {
    nlohmann::json artifacts = nlohmann::json::parse(options.artifacts, nullptr, false);
    if (artifacts.is_discarded() || !artifacts.is_object()) {
      throw UsageError{"--artifacts must be a JSON object of name -> URL"};
    }
    for (const auto& [name, url] : artifacts.items()) {
      if (!url.is_string())
        throw UsageError{"--artifacts: the URL of '" + name + "' is not a string"};
      request.external_artifacts[name] = url.get<std::string>();
    }
  }

  if (run.count("--range") > 0) {
    auto table = sandboxctl::MakeRangeTable(options.range);
    if (!table.ok()) throw UsageError{"--range: " + table.status().message()};
    request.input = std::move(table.value());
  } else if (run.count("--input") > 0) {
    const std::string text = ReadFileOrStdin(options.input_file, "input");
    auto table = sandboxctl::ReadCsvTable(text);
    if (!table.ok())
      throw UsageError{"--input " + options.input_file + ": " + table.status().message()};
    request.input = std::move(table.value());
  }

  if (!(options.timeout_s >= 0) || options.timeout_s > 1e9) {
    throw UsageError{"--timeout-s must be a number of seconds >= 0"};
  }
  request.image = options.image;
  request.memory_mb = options.memory_mb;
  request.timeout_ms = static_cast<std::uint64_t>(std::llround(options.timeout_s * 1000));
  request.spill_to_disk = options.spill_to_disk;
  request.debug = run.count("--debug") > 0;
  request.request_id = options.request_id;
  return request;
}

void WriteTable(const sandboxd::TableView& table, const std::string& format) {
  if (format == "csv") {
    sandboxctl::WriteCsvTable(table, std::cout);
  } else if (format == "json") {
    sandboxctl::WriteJsonTable(table, std::cout);
  } else {
    sandboxctl::WriteTextTable(table, std::cout);
  }
  std::cout.flush();
}

int Run(const RunOptions& options, CLI::App& run) {
  sandboxd::Request request;
  try {
    request = BuildRequest(options, run);
  } catch (const UsageError& e) {
    return ReportStatus(sandboxd::Status(sandboxd::ErrorCode::kBadRequest, e.message), kExitUsage);
  }
  auto client = sandboxd::Client::Connect(options.socket);
  if (!client.ok()) return ReportStatus(client.status(), kExitTransport);

  sandboxd::ExecuteOutcome outcome = client->Execute(request);
  if (!outcome.ok()) {
    const sandboxd::Error& error = outcome.error();
    std::cerr << error.ToString();
    if (error.retry_after_ms != 0) std::cerr << " (retry after " << error.retry_after_ms << " ms)";
    std::cerr << '\n';
    PrintLogs(error.logs, false);
    if (options.show_stats) PrintStats(error.stats);
    return error.local ? kExitTransport : kExitDaemonError;
  }
  const sandboxd::Result& result = outcome.result();
  if (request.debug && !options.debug_dir.empty()) {
    // The daemon answered with the input as it admitted it; the rest is the request itself.
    const sandboxctl::DebugCall call{.script = request.script,
                                     .script_parameters_json = request.script_parameters_json,
                                     .output_schema = request.output_schema};
    if (sandboxd::Status s = sandboxctl::WriteDebugFolder(options.debug_dir, options.runtime_dir,
                                                          result.table, call);
        !s.ok()) {
      return ReportStatus(s, kExitUsage);
    }
    std::cerr << "wrote the reproduction (input.sbxt, kargs.json, script.py, run.py) to "
              << options.debug_dir << "; run it with: python3 "
              << (std::filesystem::path(options.debug_dir) / "run.py").string() << '\n';
    return kExitOk;
  }
  WriteTable(result.table.view(), options.format);
  if (options.show_logs) PrintLogs(result.logs, result.logs_truncated);
  if (options.show_stats) PrintStats(result.stats);
  if (request.debug && !result.debug_script.empty()) {
    if (!options.debug_script_out.empty()) {
      std::ofstream out(options.debug_script_out, std::ios::binary | std::ios::trunc);
      out << result.debug_script;
      if (!out) {
        return ReportStatus(sandboxd::Status(sandboxd::ErrorCode::kBadRequest,
                                             "cannot write " + options.debug_script_out),
                            kExitUsage);
      }
    } else {
      std::cerr << "# debug script (it needs input.sbxt and the runner's modules beside it; "
                   "`sandboxctl run --debug DIR` writes a whole folder instead):\n"
                << result.debug_script;
      if (result.debug_script.back() != '\n') std::cerr << '\n';
    }
  }
  return kExitOk;
}

int Images(const std::string& socket, const std::string& format) {
  auto client = sandboxd::Client::Connect(socket);
  if (!client.ok()) return ReportStatus(client.status(), kExitTransport);
  auto images = client->ListImages();
  if (!images.ok()) {
    return ReportStatus(images.status(), ExitFor(images.status()));
  }
  if (format == "json") {
    nlohmann::ordered_json out;
    out["default_image"] = images->default_image;
    out["images"] = nlohmann::ordered_json::array();
    for (const sandboxd::ImageInfo& image : images->images) {
      out["images"].push_back({{"name", image.name},
                               {"manifest_sha256", image.manifest_sha256},
                               {"package_count", image.package_count}});
    }
    std::cout << out.dump(2) << '\n';
    return kExitOk;
  }
  sandboxd::TableBuilder builder({{"name", sandboxd::ColumnType::kString},
                                  {"default", sandboxd::ColumnType::kBool},
                                  {"packages", sandboxd::ColumnType::kLong},
                                  {"manifest_sha256", sandboxd::ColumnType::kString}});
  for (const sandboxd::ImageInfo& image : images->images) {
    builder.AppendText(0, image.name);
    builder.AppendBool(1, image.name == images->default_image);
    builder.AppendLong(2, image.package_count);
    builder.AppendText(3, image.manifest_sha256);
  }
  auto table = builder.FinishTable();
  if (!table.ok()) return ReportStatus(table.status(), kExitTransport);
  sandboxctl::WriteTextTable(table->view(), std::cout);
  return kExitOk;
}

int ClearCache(const std::string& socket, const std::vector<std::string>& urls) {
  auto client = sandboxd::Client::Connect(socket);
  if (!client.ok()) return ReportStatus(client.status(), kExitTransport);
  auto removed = client->ClearCache(urls);
  if (!removed.ok()) {
    return ReportStatus(removed.status(), ExitFor(removed.status()));
  }
  std::cout << "removed " << *removed << (*removed == 1 ? " cache entry\n" : " cache entries\n");
  return kExitOk;
}

int ShowStatus(const std::string& socket, bool json) {
  auto client = sandboxd::Client::Connect(socket);
  if (!client.ok()) return ReportStatus(client.status(), kExitTransport);
  auto status = client->GetStatus();
  if (!status.ok()) return ReportStatus(status.status(), ExitFor(status.status()));
  if (json) {
    std::cout << sandboxctl::StatusJson(*status) << '\n';
  } else {
    sandboxctl::WriteStatusText(*status, std::cout);
  }
  return kExitOk;
}

int PolicyShow(const std::string& socket, bool json) {
  auto client = sandboxd::Client::Connect(socket);
  if (!client.ok()) return ReportStatus(client.status(), kExitTransport);
  auto report = client->GetPolicy();
  if (!report.ok()) return ReportStatus(report.status(), ExitFor(report.status()));
  if (json) {
    std::cout << sandboxctl::PolicyJson(*report) << '\n';
  } else {
    sandboxctl::WritePolicyText(*report, std::cout);
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "sandboxctl: run Python UDFs in sandboxd, list its runtime images, clear its "
      "artifact cache, show what it runs and enforces.",
      "sandboxctl"};
  app.require_subcommand(1, 1);
  app.footer(kExitFooter);

  RunOptions run_options;
  CLI::App* run = app.add_subcommand(
      "run",
      "Run a script over an input table, like Kusto's `evaluate python(...)`, and print "
      "the result table on stdout.");
  run->footer(kExitFooter);
  run->add_option("--schema", run_options.schema,
                  "Output schema, e.g. 'typeof(*, fx:real)' (* = every input column)")
      ->required();
  auto* script_file = run->add_option("--script", run_options.script_file,
                                      "File holding the Python script ('-' for stdin)");
  auto* script_text =
      run->add_option("--script-text", run_options.script_text, "The Python script itself");
  script_file->excludes(script_text);
  script_text->excludes(script_file);
  auto* range = run->add_option("--range", run_options.range,
                                "Input from Kusto's range operator: 'x from 1 to 360 step 1'");
  auto* input = run->add_option("--input", run_options.input_file,
                                "Input CSV file with a name:type header row ('-' for stdin)");
  range->excludes(input);
  input->excludes(range);
  run->add_option("--params", run_options.params,
                  "script_parameters: a JSON object that becomes `kargs` (default {})");
  run->add_option("--artifacts", run_options.artifacts,
                  "external_artifacts: a JSON object of name -> URL");
  run->add_option("--image", run_options.image, "Runtime image (default: the node's default)");
  run->add_option("--memory-mb", run_options.memory_mb, "Memory limit in MiB (0 = node default)");
  run->add_option("--timeout-s", run_options.timeout_s, "Time limit in seconds (0 = node default)");
  run->add_option("--spill-to-disk", run_options.spill_to_disk, "spill_to_disk: true|false");
  run->add_option("--format", run_options.format, "Output format: csv, json or table")
      ->check(CLI::IsMember({"csv", "json", "table"}));
  run->add_option("--socket", run_options.socket,
                  "sandboxd socket (default $SANDBOXD_SOCKET, else /run/sandboxd/sandboxd.sock)");
  run->add_option("--request-id", run_options.request_id, "Request id (default: generated)");
  // An option whose value may be left out: `--debug DIR` writes the folder, `--debug` alone
  // keeps the older output (the table on stdout, the script on stderr).
  run->add_option("--debug", run_options.debug_dir,
                  "Like `set query_python_debug`: run nothing; write into DIR the input "
                  "(input.sbxt, input.csv), kargs.json, script.py and run.py, which reproduces "
                  "the call with the sandbox's df and kargs (python3 DIR/run.py). Without DIR: "
                  "print the input table and a reproducing script")
      ->expected(0, 1)
      ->type_name("[DIR]");
  run->add_option("--debug-script-out", run_options.debug_script_out,
                  "With --debug and no DIR, write the reproducing script to this file instead "
                  "of stderr");
  run->add_option("--runtime-dir", run_options.runtime_dir,
                  "With --debug DIR: the runner's folder to copy the modules from (the "
                  "daemon's --runtime-dir; default " SANDBOXD_DEFAULT_RUNTIME_DIR ")");
  run->add_flag("--show-logs", run_options.show_logs,
                "Print the script's stdout, stderr and log records on stderr after the table");
  run->add_flag("--show-stats", run_options.show_stats, "Print timing and memory stats on stderr");

  std::string images_socket = DefaultSocket();
  std::string images_format = "table";
  CLI::App* images = app.add_subcommand("images", "List the runtime images sandboxd has built.");
  images->add_option("--socket", images_socket, "sandboxd socket");
  images->add_option("--format", images_format, "table or json")
      ->check(CLI::IsMember({"table", "json"}));

  std::string cache_socket = DefaultSocket();
  std::vector<std::string> cache_urls;
  CLI::App* cache = app.add_subcommand("cache", "Manage sandboxd's artifact cache.");
  cache->require_subcommand(1, 1);
  CLI::App* clear = cache->add_subcommand(
      "clear", "Remove cached artifacts: those of the given URLs, or all of them.");
  clear->add_option("urls", cache_urls, "Artifact URLs to forget (none = everything)");
  clear->add_option("--socket", cache_socket, "sandboxd socket");

  std::string status_socket = DefaultSocket();
  bool status_json = false;
  CLI::App* status = app.add_subcommand(
      "status",
      "Show the running daemon: version, images, pools, limits in force and the requests it "
      "has accepted and not yet answered (id, image, phase, age, peak memory).");
  status->add_option("--socket", status_socket, "sandboxd socket");
  status->add_flag("--json", status_json, "Print JSON instead of text");

  std::string policy_socket = DefaultSocket();
  bool policy_json = false;
  CLI::App* policy = app.add_subcommand("policy", "Show sandboxd's policies.");
  policy->require_subcommand(1, 1);
  CLI::App* policy_show = policy->add_subcommand(
      "show",
      "Print what the running daemon enforces: its limits, the seccomp policy in force (its "
      "generation and the kernel features it was compiled for) and the callout rules for "
      "artifact URLs.");
  policy_show->add_option("--socket", policy_socket, "sandboxd socket");
  policy_show->add_flag("--json", policy_json, "Print JSON instead of text");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  if (run->parsed()) {
    if (run->count("--script") == 0 && run->count("--script-text") == 0) {
      std::cerr << "BAD_REQUEST: give --script FILE or --script-text TEXT\n"
                << "Run with --help for more information.\n";
      return kExitUsage;
    }
    return Run(run_options, *run);
  }
  if (images->parsed()) return Images(images_socket, images_format);
  if (clear->parsed()) return ClearCache(cache_socket, cache_urls);
  if (status->parsed()) return ShowStatus(status_socket, status_json);
  if (policy_show->parsed()) return PolicyShow(policy_socket, policy_json);
  std::cerr << app.help();
  return kExitUsage;
}
