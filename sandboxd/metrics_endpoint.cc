#include "metrics_endpoint.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

namespace sandboxd {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr int kMaxConnections = 8;
constexpr std::uint32_t kMaxHeaderBytes = 8192;
constexpr std::chrono::seconds kConnectionTime{10};

// One scrape: read the request, answer, close.
class Scrape : public std::enable_shared_from_this<Scrape> {
 public:
  Scrape(tcp::socket socket, std::function<std::string()> render,
         std::shared_ptr<std::atomic<int>> open)
      : stream_(std::move(socket)), render_(std::move(render)), open_(std::move(open)) {
    ++*open_;
  }
  ~Scrape() { --*open_; }

  void Run() {
    parser_.header_limit(kMaxHeaderBytes);
    parser_.body_limit(0);
    stream_.expires_after(kConnectionTime);
    http::async_read(stream_, buffer_, parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (!ec) self->Answer();
                     });
  }

 private:
  void Answer() {
    const auto& request = parser_.get();
    response_.version(request.version());
    response_.keep_alive(false);
    const std::string_view target(request.target().data(), request.target().size());
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      response_.result(http::status::method_not_allowed);
      response_.set(http::field::allow, "GET, HEAD");
    } else if (target != "/metrics" && !target.starts_with("/metrics?")) {
      response_.result(http::status::not_found);
      response_.body() = "sandboxd serves /metrics only\n";
    } else {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      if (request.method() == http::verb::get) response_.body() = render_();
    }
    response_.prepare_payload();
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code, std::size_t) {
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{kMaxHeaderBytes};
  http::request_parser<http::empty_body> parser_;
  http::response<http::string_body> response_;
  std::function<std::string()> render_;
  std::shared_ptr<std::atomic<int>> open_;
};

StatusOr<tcp::endpoint> ParseListen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size())
    return Status(ErrorCode::kInternal,
                  "metrics_listen \"" + listen + "\" must be host:port, e.g. 127.0.0.1:9464");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec)
    return Status(ErrorCode::kInternal,
                  "metrics_listen \"" + listen + "\": \"" + host + "\" is not an IP address");
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    return Status(ErrorCode::kInternal, "metrics_listen \"" + listen + "\": bad port");
  }
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

}  // namespace

StatusOr<std::shared_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    asio::io_context& io, const std::string& listen, std::function<std::string()> render) {
  auto endpoint = ParseListen(listen);
  if (!endpoint.ok()) return endpoint.status();
  auto server = std::shared_ptr<MetricsEndpoint>(new MetricsEndpoint(io, std::move(render)));
  boost::system::error_code ec;
  server->acceptor_.open(endpoint->protocol(), ec);
  if (!ec) server->acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) server->acceptor_.bind(*endpoint, ec);
  if (!ec) server->acceptor_.listen(16, ec);
  if (ec) return Status(ErrorCode::kInternal, "metrics endpoint " + listen + ": " + ec.message());
  server->Accept();
  return server;
}

std::string MetricsEndpoint::address() const {
  boost::system::error_code ec;
  const auto local = acceptor_.local_endpoint(ec);
  if (ec) return "";
  const std::string host = local.address().to_string();
  return (local.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(local.port());
}

void MetricsEndpoint::Stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
}

void MetricsEndpoint::Accept() {
  acceptor_.async_accept([self = shared_from_this()](boost::system::error_code ec,
                                                     tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
    if (!ec) {
      // A scraper needs one connection; more at once are not a scraper's.
      if (*self->open_connections_ < kMaxConnections)
        std::make_shared<Scrape>(std::move(socket), self->render_, self->open_connections_)->Run();
      self->Accept();
      return;
    }
    // Out of descriptors or similar: try again shortly, never spin.
    spdlog::warn("metrics endpoint: accept: {}", ec.message());
    auto timer = std::make_shared<asio::steady_timer>(self->acceptor_.get_executor());
    timer->expires_after(std::chrono::milliseconds(500));
    timer->async_wait([self, timer](boost::system::error_code) { self->Accept(); });
  });
}

}  // namespace sandboxd
