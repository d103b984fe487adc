#include <cstdio>

#include "sandboxd/client.h"
#include "sandboxd/schema.h"

int main() {
  auto schema = sandboxd::ParseTypeof("typeof(*, fx:double)");
  auto client = sandboxd::Client::Connect("/nonexistent/sandboxd.sock");
  // Connecting fails (no daemon there); what matters is that it compiled and linked.
  std::printf("%s %s\n", schema.ok() ? schema->ToString().c_str() : "bad",
              client.ok() ? "connected" : "no daemon");
  return schema.ok() && !client.ok() ? 0 : 1;
}
