// A query engine's smallest use of the installed client library: build a request's input table
// and connect to a daemon that is not there. It proves that the installed headers compile, the
// installed static libraries link (with protobuf), and that the code runs: the missing socket is
// UNAVAILABLE, as the README says.
#include <sandboxd/client.h>
#include <sandboxd/table.h>

#include <cstdint>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  const std::string socket = argc > 1 ? argv[1] : "/nonexistent/sandboxd.sock";
  sandboxd::TableBuilder input({{"x", sandboxd::ColumnType::kLong}});
  for (std::int64_t x = 1; x <= 3; ++x) input.AppendLong(0, x);
  auto table = input.Finish();
  if (!table.ok()) {
    std::printf("consumer: building the input failed: %s\n", table.status().ToString().c_str());
    return 1;
  }
  sandboxd::Request request;
  request.output_schema = "typeof(*, fx:real)";
  request.script = "result = df\nresult['fx'] = df['x'] * 2";
  auto client = sandboxd::Client::Connect(socket);
  if (client.ok()) {
    std::puts("unexpected: connected");
    return 1;
  }
  std::printf("consumer: a %zu-byte input table; connecting: %s\n", table->size(),
              client.status().ToString().c_str());
  return client.status().code() == sandboxd::ErrorCode::kUnavailable ? 0 : 1;
}
