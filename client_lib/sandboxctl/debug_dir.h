// `sandboxctl run --debug DIR`: the folder that reproduces a call outside any sandbox, as Kusto's
// `set query_python_debug;` hands one back (runtime_images/RUNNER.md, "Debug mode").
#pragma once

#include <string>
#include <vector>

#include "sandboxd/schema.h"
#include "sandboxd/status.h"
#include "sandboxd/table.h"

namespace sandboxctl {

// What the sandbox would have been given, besides the input table.
struct DebugCall {
  std::string script;
  std::string script_parameters_json;  // the request's; normalized as the daemon does
  std::string output_schema;           // typeof(...) as given
};

// Writes into `dir` (created if missing; the files below are replaced):
//   input.sbxt, input.csv, kargs.json, script.py, schema.json, run.py,
//   sandboxd_runtime/ and sandbox_utils/ (copies of the runner's modules in `runtime_dir`).
// `input` is the table the daemon's debug answer returned: the input as the daemon admitted it.
// BAD_REQUEST naming the file on failure.
sandboxd::Status WriteDebugFolder(const std::string& dir, const std::string& runtime_dir,
                                  const sandboxd::Table& input, const DebugCall& call);

}  // namespace sandboxctl
