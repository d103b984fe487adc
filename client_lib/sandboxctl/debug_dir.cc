#include "debug_dir.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <system_error>

#include "csv.h"

namespace sandboxctl {
namespace {

namespace fs = std::filesystem;

sandboxd::Status Failed(const std::string& what) {
  return {sandboxd::ErrorCode::kBadRequest, "--debug: " + what};
}

sandboxd::Status WriteFile(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return Failed("cannot write " + path.string());
  return sandboxd::Status::Ok();
}

// The runner's pure-Python packages, file by file: only sources (no __pycache__), and a fresh
// copy each time, so a folder written again holds no module of an older runtime.
sandboxd::Status CopyPackage(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::remove_all(to, ec);
  if (ec) return Failed("cannot replace " + to.string() + ": " + ec.message());
  fs::create_directories(to, ec);
  if (ec) return Failed("cannot create " + to.string() + ": " + ec.message());
  for (const fs::directory_entry& entry : fs::directory_iterator(from, ec)) {
    if (!entry.is_regular_file(ec) || entry.path().extension() != ".py") continue;
    fs::copy_file(entry.path(), to / entry.path().filename(), ec);
    if (ec) return Failed("cannot copy " + entry.path().string() + ": " + ec.message());
  }
  if (ec) return Failed("cannot list " + from.string() + ": " + ec.message());
  return sandboxd::Status::Ok();
}

}  // namespace

sandboxd::Status WriteDebugFolder(const std::string& dir, const std::string& runtime_dir,
                                  const sandboxd::Table& input, const DebugCall& call) {
  const fs::path folder(dir);
  const fs::path runtime(runtime_dir);
  // The launcher and the reproduction live in the runtime, beside the modules they drive: a
  // runtime without them cannot reproduce the call, and is said to be the wrong folder.
  const fs::path launcher = runtime / "sandboxd_runtime" / "debug_run.py";
  std::error_code ec;
  if (!fs::is_regular_file(launcher, ec) ||
      !fs::is_regular_file(runtime / "sandboxd_runtime" / "debug_repro.py", ec)) {
    return Failed("'" + runtime_dir +
                  "' is not the runner's folder (no sandboxd_runtime/debug_run.py and "
                  "debug_repro.py): give --runtime-dir the daemon's runtime folder");
  }
  fs::create_directories(folder, ec);
  if (ec || !fs::is_directory(folder)) {
    return Failed("cannot create the folder '" + dir + "'" + (ec ? ": " + ec.message() : ""));
  }

  // kargs as the daemon normalizes them (parse, dump) before the runner's json.loads: the same
  // library gives the same numbers (an integer past 64 bits becomes a float in both).
  const auto kargs = nlohmann::json::parse(call.script_parameters_json, nullptr, false);
  if (kargs.is_discarded() || !kargs.is_object())
    return Failed("script_parameters must be a JSON object");

  auto schema = sandboxd::ParseTypeof(call.output_schema);
  if (!schema.ok()) return schema.status();
  auto columns = sandboxd::ResolveSchema(*schema, input.view().columns());
  if (!columns.ok()) return columns.status();
  nlohmann::ordered_json schema_doc;
  schema_doc["output_schema"] = call.output_schema;
  schema_doc["output_columns"] = nlohmann::ordered_json::array();
  for (const sandboxd::ColumnSpec& c : *columns) {
    schema_doc["output_columns"].push_back(
        {{"name", c.name}, {"type", std::string(sandboxd::ColumnTypeName(c.type))}});
  }

  std::ostringstream csv;
  WriteCsvTable(input.view(), csv);
  const auto replace = nlohmann::json::error_handler_t::replace;
  const std::pair<const char*, std::string> files[] = {
      {"input.sbxt", input.buffer()},
      {"input.csv", csv.str()},
      {"kargs.json", kargs.dump(2, ' ', false, replace) + "\n"},
      {"script.py", call.script},
      {"schema.json", schema_doc.dump(2, ' ', false, replace) + "\n"},
  };
  for (const auto& [name, bytes] : files) {
    if (sandboxd::Status s = WriteFile(folder / name, bytes); !s.ok()) return s;
  }
  for (const char* package : {"sandboxd_runtime", "sandbox_utils"}) {
    if (sandboxd::Status s = CopyPackage(runtime / package, folder / package); !s.ok()) return s;
  }
  const fs::path run = folder / "run.py";
  fs::copy_file(launcher, run, fs::copy_options::overwrite_existing, ec);
  if (!ec) {
    fs::permissions(run,
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                        fs::perms::others_read | fs::perms::others_exec,
                    ec);
  }
  if (ec) return Failed("cannot write " + run.string() + ": " + ec.message());
  return sandboxd::Status::Ok();
}

}  // namespace sandboxctl
