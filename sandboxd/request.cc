#include "request.h"

#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "sandboxd/memfd.h"
#include "sandboxd/table.h"
#include "service.h"

namespace sandboxd {
namespace {

std::map<std::string, std::string> ArtifactMap(const proto::ExecuteRequest& request) {
  return {request.external_artifacts().begin(), request.external_artifacts().end()};
}

}  // namespace

StatusOr<PreparedRequest> PrepareRequest(const proto::ExecuteRequest& request,
                                         std::vector<UniqueFd>& fds, const Services& services) {
  const NodeConfig& config = services.config;
  PreparedRequest prepared;
  prepared.request_id = request.request_id();
  prepared.received = std::chrono::steady_clock::now();
  if (request.request_id().size() > 256)
    return Status(ErrorCode::kBadRequest, "request_id is longer than 256 bytes");
  if (request.script().empty()) return Status(ErrorCode::kBadRequest, "the script is empty");
  if (request.script().size() > (4U << 20))
    return Status(ErrorCode::kBadRequest, "the script is larger than 4 MiB");

  // kargs: a JSON object, as Kusto's script_parameters property bag.
  const std::string params =
      request.script_parameters_json().empty() ? "{}" : request.script_parameters_json();
  const auto kargs = nlohmann::json::parse(params, nullptr, false);
  if (kargs.is_discarded() || !kargs.is_object())
    return Status(ErrorCode::kBadRequest,
                  "script_parameters must be a JSON object (a property bag)");
  prepared.kargs_json = kargs.dump();
  prepared.script = request.script();

  // external_artifacts: names and URL syntax here (BAD_REQUEST); the callout policy, the
  // downloads and the bundle checks come after, in the server (artifacts/service.h).
  if (!request.external_artifacts().empty()) {
    auto planned = ParseArtifacts(ArtifactMap(request), config.artifacts);
    if (!planned.ok()) return planned.status();
  }

  // The input table: inline bytes go into a sealed memfd; a client's memfd must arrive sealed.
  TableLimits limits;
  limits.max_bytes = config.max_frame_bytes > 0
                         ? std::max<std::uint64_t>(config.max_frame_bytes, 1ULL << 32)
                         : 1ULL << 32;
  const auto& input = request.input();
  std::string empty_table;
  if (input.data_case() == proto::TablePayload::kMemfdIndex) {
    if (input.memfd_index() >= fds.size())
      return Status(ErrorCode::kBadRequest,
                    "input.memfd_index names a descriptor that was not sent");
    UniqueFd& fd = fds[input.memfd_index()];
    if (Status s = CheckSealed(fd.get()); !s.ok()) return s;
    prepared.input_memfd = std::move(fd);
  } else {
    std::string_view bytes = input.inline_data();
    if (input.data_case() == proto::TablePayload::DATA_NOT_SET) {
      // No input: a table of no columns and no rows (a `print`-style query).
      auto built = TableBuilder({}).Finish();
      if (!built.ok()) return built.status();
      empty_table = std::move(*built);
      bytes = empty_table;
    }
    auto memfd = CreateSealedMemfd(
        "sandboxd-input",
        std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
    if (!memfd.ok()) return memfd.status();
    prepared.input_memfd = std::move(*memfd);
  }
  auto mapped = MappedFile::Map(prepared.input_memfd.get(), limits.max_bytes);
  if (!mapped.ok())
    return Status(ErrorCode::kBadRequest, "input table: " + mapped.status().message());
  if (input.size() != 0 && input.size() != mapped->bytes().size())
    return Status(ErrorCode::kBadRequest, "input.size does not match the table's bytes");
  auto view = TableView::Open(mapped->bytes(), limits);
  if (!view.ok()) return Status(ErrorCode::kBadRequest, "input table: " + view.status().message());
  prepared.input_bytes = mapped->bytes().size();

  auto schema = ParseTypeof(request.output_schema());
  if (!schema.ok()) return schema.status();
  auto columns = ResolveSchema(*schema, view->columns());
  if (!columns.ok()) return columns.status();
  if (columns->empty()) return Status(ErrorCode::kBadRequest, "the output schema has no columns");
  prepared.output_columns = std::move(*columns);

  const std::string image = request.image().empty() ? config.default_image : request.image();
  auto found = services.images->Find(image);
  if (!found.ok()) return found.status();
  prepared.image = std::move(*found);

  // A request may lower the node's limits, never raise them.
  prepared.limits = config.limits;
  const auto& asked = request.limits();
  auto lower = [](std::uint64_t& node, std::uint64_t want, const char* what,
                  std::uint64_t scale) -> Status {
    if (want == 0) return Status::Ok();
    if (want > node / scale)
      return {ErrorCode::kBadRequest,
              fmt::format("{} of {} exceeds this node's limit of {}", what, want, node / scale)};
    node = want * scale;
    return Status::Ok();
  };
  if (Status s = lower(prepared.limits.memory_bytes, asked.memory_mb(), "memory_mb", 1ULL << 20);
      !s.ok())
    return s;
  if (Status s = lower(prepared.limits.timeout_ms, asked.timeout_ms(), "timeout_ms", 1); !s.ok())
    return s;
  if (Status s =
          lower(prepared.limits.max_result_bytes, asked.max_result_bytes(), "max_result_bytes", 1);
      !s.ok())
    return s;
  if (Status s = lower(prepared.limits.max_log_bytes, asked.max_log_bytes(), "max_log_bytes", 1);
      !s.ok())
    return s;
  return prepared;
}

Answer DebugAnswer(const proto::ExecuteRequest& request, const PreparedRequest& prepared) {
  Answer answer;
  answer.message.set_version(proto::PROTOCOL_VERSION_1);
  answer.message.set_request_id(prepared.request_id);
  auto* result = answer.message.mutable_result();
  auto mapped = MappedFile::Map(prepared.input_memfd.get(), prepared.input_bytes);
  if (mapped.ok()) {
    result->mutable_table()->set_inline_data(reinterpret_cast<const char*>(mapped->bytes().data()),
                                             mapped->bytes().size());
    result->mutable_table()->set_size(mapped->bytes().size());
  }
  std::string schema;
  for (const auto& c : prepared.output_columns)
    schema += fmt::format("{}{}:{}", schema.empty() ? "" : ", ", c.name, ColumnTypeName(c.type));
  result->set_debug_script(fmt::format(
      "# Reproduces a sandboxd call on a plain Python with pandas and numpy.\n"
      "# Save the returned input table as input.csv (sandboxctl run --debug --format csv).\n"
      "# Output schema: typeof({})\n"
      "import json\nimport numpy as np\nimport pandas as pd\n\n"
      "kargs = json.loads(r'''{}''')\n"
      "df = pd.read_csv('input.csv')\n"
      "df.columns = [c.split(':')[0] for c in df.columns]\n\n"
      "{}\n\nprint(result)\n",
      schema, prepared.kargs_json, request.script()));
  return answer;
}

}  // namespace sandboxd
