// A client's bytes as the daemon reads them: frames off a socket (FrameReader), each parsed as
// a ClientMessage, and an ExecuteRequest's own checks that need no sandbox: the typeof schema,
// the kargs JSON under its depth bound, an inline input table through the validator, and the
// schema resolved against the input's columns.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "sandboxd.pb.h"
#include "sandboxd/framing.h"
#include "sandboxd/json_limits.h"
#include "sandboxd/schema.h"
#include "sandboxd/table.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return 0;
  // The whole input fits the socket's buffer at these sizes; EOF then ends the stream.
  std::size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(pair[1], data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  ::close(pair[1]);
  sandboxd::FrameReader reader(1 << 20, 4);
  for (int reads = 0; reads < 64; ++reads) {
    auto state = reader.ReadFrom(pair[0]);
    while (reader.HasFrame()) {
      sandboxd::Frame frame = reader.Next();
      sandboxd::proto::ClientMessage message;
      if (!message.ParseFromString(frame.payload) || !message.has_execute()) continue;
      const auto& request = message.execute();
      auto schema = sandboxd::ParseTypeof(request.output_schema());
      (void)sandboxd::CheckJson(request.script_parameters_json());
      std::vector<sandboxd::ColumnSpec> input_columns;
      if (request.input().has_inline_data()) {
        const std::string& bytes = request.input().inline_data();
        auto view = sandboxd::TableView::Open(std::as_bytes(std::span(bytes.data(), bytes.size())),
                                              sandboxd::TableLimits{});
        if (view.ok()) input_columns = view->columns();
      }
      if (schema.ok()) (void)sandboxd::ResolveSchema(*schema, input_columns);
    }
    if (!state.ok() || *state == sandboxd::FrameReader::ReadState::kClosed) break;
  }
  ::close(pair[0]);
  return 0;
}
