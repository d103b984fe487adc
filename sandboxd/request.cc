#include "request.h"

#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "sandboxd/json_limits.h"
#include "sandboxd/memfd.h"
#include "sandboxd/table.h"
#include "service.h"

namespace sandboxd {
namespace {

std::map<std::string, std::string> ArtifactMap(const proto::ExecuteRequest& request) {
  return {request.external_artifacts().begin(), request.external_artifacts().end()};
}

StatusOr<nlohmann::json> ParseScriptParameters(const std::string& text) {
  // The depth first, in one linear pass that builds nothing (json_limits.h): only a document
  // within the bound becomes a DOM, whose dump and destruction recurse once per level.
  if (CheckJson(text, static_cast<int>(kMaxScriptParametersDepth)) == JsonCheck::kTooDeep)
    return Status(ErrorCode::kBadRequest,
                  fmt::format("script_parameters nests arrays or objects more than {} levels "
                              "deep, the limit (the object itself is level 1)",
                              kMaxScriptParametersDepth));
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    return Status(
        ErrorCode::kBadRequest,
        std::string("script_parameters must be a JSON object (a property bag): ") + error.what());
  }
  if (!parsed.is_object())
    return Status(ErrorCode::kBadRequest,
                  "script_parameters must be a JSON object (a property bag)");
  return parsed;
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
  auto kargs = ParseScriptParameters(params);
  if (!kargs.ok()) return kargs.status();
  prepared.kargs_json = kargs->dump();
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
  // ResolveSchema refuses more than kMaxSchemaColumns, `*` included, before anything runs.
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

}  // namespace sandboxd
