#include "answers.h"

#include <fcntl.h>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "prepared_request.h"
#include "sandboxd/memfd.h"
#include "sandboxd/schema.h"
#include "text.h"

namespace sandboxd {
namespace {

// An answer of this protocol version with nothing in it yet.
Answer EmptyAnswer() {
  Answer answer;
  answer.message.set_version(proto::PROTOCOL_VERSION_1);
  return answer;
}

// The debug answer's input table rides inline up to this size, as a result's does; a larger one
// goes back in the request's own sealed memfd, so it needs no frame of its size.
constexpr std::size_t kInlineDebugTableBytes = 64 * 1024;

std::string JsonText(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// JSON as the body of a Python r'''...''' literal: `'` occurs only inside JSON strings, where
// \u0027 means the same, so the literal cannot end early; JSON text never ends in a backslash.
std::string PythonRawJson(const nlohmann::json& value) {
  std::string out;
  for (const char c : JsonText(value)) {
    if (c == '\'')
      out += "\\u0027";
    else
      out += c;
  }
  return out;
}

}  // namespace

Answer ErrorAnswer(const std::string& request_id, ErrorCode code, const std::string& message) {
  Answer answer = EmptyAnswer();
  answer.message.set_request_id(request_id);
  auto* error = answer.message.mutable_error();
  error->set_code(static_cast<proto::ErrorCode>(code));
  error->set_message(SanitizeUtf8(message));
  if (code == ErrorCode::kOverloaded) error->set_retry_after_ms(kOverloadRetryMs);
  return answer;
}

Answer DebugAnswer(const proto::ExecuteRequest& request, const PreparedRequest& prepared) {
  Answer answer = EmptyAnswer();
  answer.message.set_request_id(prepared.request_id);
  auto* result = answer.message.mutable_result();
  auto* table = result->mutable_table();
  table->set_size(prepared.input_bytes);
  if (prepared.input_bytes <= kInlineDebugTableBytes) {
    auto mapped = MappedFile::Map(prepared.input_memfd.get(), prepared.input_bytes);
    if (!mapped.ok())
      return ErrorAnswer(prepared.request_id, ErrorCode::kInternal,
                         "debug mode: mapping the input table: " + mapped.status().message());
    table->set_inline_data(reinterpret_cast<const char*>(mapped->bytes().data()),
                           mapped->bytes().size());
  } else {
    // Sealed since admission: the client may map it, and nobody can change it.
    UniqueFd copy(::fcntl(prepared.input_memfd.get(), F_DUPFD_CLOEXEC, 0));
    if (!copy)
      return ErrorAnswer(
          prepared.request_id, ErrorCode::kInternal,
          std::string("debug mode: duplicating the input memfd: ") + std::strerror(errno));
    table->set_memfd_index(0);
    answer.fds.push_back(std::move(copy));
  }

  // The reproduction decodes input.sbxt with the runner's own modules (sandboxd_runtime/
  // debug_repro.py) and runs the script through the runner's run_script, so df and kargs are the
  // sandbox's: a pd.read_csv of the table would turn datetimes, timespans, decimals, dynamic
  // values and nullable integers into other types. `sandboxctl run --debug DIR` lays out the
  // whole folder; this script is for clients that do it themselves.
  nlohmann::json columns = nlohmann::json::array();
  for (const auto& c : prepared.output_columns)
    columns.push_back({{"name", c.name}, {"type", std::string(ColumnTypeName(c.type))}});
  result->set_debug_script(fmt::format(
      "#!/usr/bin/env python3\n"
      "# Reproduces sandboxd request {} on a plain Python with numpy and pandas.\n"
      "# df is decoded by the runner's own code, so its dtypes, values, nulls and index are the\n"
      "# sandbox's. Beside this file it needs input.sbxt (the input table of this answer, its\n"
      "# SBXT bytes as they are) and the runner's modules sandboxd_runtime/ and sandbox_utils/\n"
      "# (the daemon's runtime folder, installed as share/sandboxd/runtime). `sandboxctl run\n"
      "# --debug DIR` writes all of that, with the script and kargs as files to edit\n"
      "# (runtime_images/RUNNER.md, \"Debug mode\").\n"
      "import json\nimport os\nimport sys\n\n"
      "sys.dont_write_bytecode = True\n"
      "HERE = os.path.dirname(os.path.abspath(__file__))\n"
      "sys.path.insert(0, HERE)\n"
      "from sandboxd_runtime import debug_repro  # noqa: E402\n\n"
      "KARGS = r'''{}'''\n"
      "OUTPUT_COLUMNS = debug_repro.parse_columns(json.loads(r'''{}'''))\n"
      "SCRIPT = {}\n\n"
      "if __name__ == \"__main__\":\n"
      "    sys.exit(debug_repro.reproduce(HERE, SCRIPT, KARGS, OUTPUT_COLUMNS, sys.argv[1:]))\n",
      JsonText(prepared.request_id), PythonRawJson(nlohmann::json::parse(prepared.kargs_json)),
      PythonRawJson(columns), JsonText(request.script())));
  return answer;
}

Answer ImageListAnswer(const std::string& default_image, const std::vector<ImageInfo>& images) {
  Answer answer = EmptyAnswer();
  auto* list = answer.message.mutable_images();
  list->set_default_image(default_image);
  for (const auto& image : images) {
    auto* info = list->add_images();
    info->set_name(image.name);
    info->set_manifest_sha256(image.manifest_sha256);
    info->set_package_count(image.package_count);
  }
  return answer;
}

Answer CacheClearedAnswer(std::uint64_t entries_removed) {
  Answer answer = EmptyAnswer();
  answer.message.mutable_cache_cleared()->set_entries_removed(entries_removed);
  return answer;
}

Answer StatusAnswer(proto::DaemonStatus status) {
  Answer answer = EmptyAnswer();
  *answer.message.mutable_status() = std::move(status);
  return answer;
}

Answer PolicyAnswer(proto::PolicyReport policy) {
  Answer answer = EmptyAnswer();
  *answer.message.mutable_policy() = std::move(policy);
  return answer;
}

}  // namespace sandboxd
