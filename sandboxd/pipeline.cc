#include "pipeline.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <utility>

#include "input_spill.h"
#include "request.h"
#include "server.h"
#include "service.h"
#include "session.h"
#include "text.h"

namespace sandboxd {
namespace asio = boost::asio;

ExecutePipeline::ExecutePipeline(Server& server, std::shared_ptr<Session> session,
                                 std::uint64_t key)
    : server_(server), session_(std::move(session)), key_(key) {}

void ExecutePipeline::Start(const proto::ExecuteRequest& request, std::vector<UniqueFd>& fds) {
  id_ = request.request_id();
  if (!Check(request, fds)) return;
  if (!CheckCalloutPolicy(request)) return;
  // Debug mode runs nothing: the answer is the request's repro.
  if (request.debug()) return Answer(DebugAnswer(request, request_));
  if (request.spill_to_disk()) return StageInput();  // then FetchArtifacts
  FetchArtifacts();
}

bool ExecutePipeline::Check(const proto::ExecuteRequest& request, std::vector<UniqueFd>& fds) {
  if (server_.draining()) {
    Fail(ErrorCode::kOverloaded,
         "sandboxd is shutting down and takes no new requests; retry on another node or after "
         "the restart");
    return false;
  }
  auto prepared = PrepareRequest(request, fds, server_.services());
  if (!prepared.ok()) {
    Fail(prepared.status().code(), prepared.status().message());
    return false;
  }
  request_ = std::move(*prepared);
  // Accepted: it counts as in flight (the drain waits for it) and shows in `sandboxctl status`.
  request_.in_flight = server_.TrackRequest();
  request_.active = server_.active_requests().Add(id_, request_.image.name, request_.received);
  if (spdlog::should_log(spdlog::level::debug)) {
    LogFields fields = session_->PeerFields(id_);
    fields.image = request_.image.name;
    LogWith(fields, spdlog::level::debug, "request '{}': accepted (image {}, {} input bytes{}{})",
            id_, request_.image.name, request_.input_bytes,
            request.external_artifacts().empty()
                ? std::string()
                : fmt::format(", {} artifacts", request.external_artifacts().size()),
            request.debug() ? ", debug" : "");
  }
  return true;
}

bool ExecutePipeline::CheckCalloutPolicy(const proto::ExecuteRequest& request) {
  if (request.external_artifacts().empty()) return true;
  Status error;
  ArtifactService* service = server_.artifacts(error);
  if (service == nullptr) {
    Fail(error.code(), error.message());
    return false;
  }
  auto planned =
      ParseArtifacts({request.external_artifacts().begin(), request.external_artifacts().end()},
                     server_.services().config.artifacts);
  if (!planned.ok()) {
    Fail(planned.status().code(), planned.status().message());
    return false;
  }
  if (Status s = service->CheckPolicy(*planned); !s.ok()) {
    session_->PeerLog(id_, spdlog::level::info, "request '{}': {}", id_, s.message());
    Fail(s.code(), s.message());
    return false;
  }
  artifacts_ = std::move(*planned);
  return true;
}

void ExecutePipeline::StageInput() {
  // The copy runs on the spill service's thread (~1 s for 2 GB), never on an io thread; the
  // daemon's memfd goes with it.
  request_.SetPhase(RequestPhase::kSpilling);
  auto self = shared_from_this();
  const Status spilling = server_.spill().Submit(
      std::move(request_.input_memfd), request_.input_bytes,
      [self](StatusOr<SpilledInput> spilled) {
        asio::post(self->session_->executor(), [self, spilled = std::move(spilled)]() mutable {
          if (!spilled.ok()) {
            self->session_->PeerLog(self->id_, spdlog::level::warn, "request '{}': {}", self->id_,
                                    spilled.status().message());
            return self->Fail(spilled.status().code(), spilled.status().message());
          }
          // Nobody to answer: the file and its budget go with `spilled`.
          if (self->session_->IsClosed()) return;
          self->request_.input_memfd = std::move(spilled->file);
          self->spill_ = std::move(spilled->reservation);
          self->FetchArtifacts();
        });
      });
  if (!spilling.ok()) Fail(spilling.code(), spilling.message());
}

void ExecutePipeline::FetchArtifacts() {
  if (artifacts_.empty()) return Admit();
  // The service started at CheckCalloutPolicy.
  Status error;
  ArtifactService* service = server_.artifacts(error);
  const auto deadline = request_.received + std::chrono::milliseconds(request_.limits.timeout_ms);
  request_.SetPhase(RequestPhase::kFetching);
  LogFields log = session_->PeerFields(id_);
  log.image = request_.image.name;
  auto self = shared_from_this();
  const bool queued =
      service->Submit(std::move(artifacts_), request_.image.rootfs, deadline, std::move(log),
                      [self](StatusOr<std::shared_ptr<RequestArtifacts>> ready) {
                        if (!ready.ok())
                          return self->Fail(ready.status().code(), ready.status().message());
                        // Nobody to answer: the folder goes with `ready`.
                        if (self->session_->IsClosed()) return;
                        // Back onto the session's strand, off the download thread.
                        asio::post(self->session_->executor(), [self, folder = std::move(*ready)] {
                          self->request_.artifacts_dir = folder->temp_dir();
                          self->request_.site_dir = folder->site_dir();
                          self->artifacts_dir_ = folder;
                          self->Admit();
                        });
                      });
  if (!queued)
    Fail(ErrorCode::kOverloaded, "too many requests are waiting for their artifacts; retry later");
}

void ExecutePipeline::Admit() {
  // Its artifacts or its spilled input arrived after the shutdown stopped everything.
  if (server_.aborted()) return Fail(ErrorCode::kOverloaded, server_.abort_reason());

  // A warm sandbox when one is ready. Artifacts are mounted at launch, and a warm sandbox got a
  // memfd for its input at launch (the daemon would copy a spilled input back into shared
  // memory), so those start cold, with their input as fd 4 from the start.
  const bool needs_cold_start =
      !request_.artifacts_dir.empty() || !request_.site_dir.empty() || spill_ != nullptr;
  if (auto* pool = server_.pool(); pool != nullptr && !needs_cold_start) {
    if (auto warm = pool->Take(request_.image.name)) {
      Run(warm);
      pool->Fill();
      return;
    }
  }

  // Read before Submit: a slot freed on another thread may take the request at once.
  const std::uint64_t timeout_ms = request_.limits.timeout_ms;
  const auto deadline = request_.received + std::chrono::milliseconds(timeout_ms);
  // Ends the request at its deadline if it is still queued then.
  auto queue_timer = std::make_shared<asio::steady_timer>(session_->executor());
  auto self = shared_from_this();
  request_.SetPhase(RequestPhase::kQueued);  // until it has a slot (at once, if one is free)
  const auto submitted = server_.admission().Submit(
      [self, queue_timer](unsigned slot) { self->StartWithSlot(slot, queue_timer); },
      // A request still queued when the shutdown stops everything.
      [self] { self->Fail(ErrorCode::kOverloaded, self->server_.abort_reason()); });
  if (submitted.outcome == Admission::Outcome::kRefused)
    return Fail(ErrorCode::kOverloaded, "this node is running " +
                                            std::to_string(server_.admission().running()) +
                                            " sandboxes and its queue is full; retry later");
  if (submitted.outcome == Admission::Outcome::kQueued) {
    queue_timer->expires_at(deadline);
    WithdrawAtDeadline(submitted.ticket, queue_timer, timeout_ms);
    // Idle warm sandboxes (of another image, or this one would have been taken) give their
    // slot up to the request that waits.
    if (auto* pool = server_.pool()) pool->YieldIdle(1);
  }
}

void ExecutePipeline::WithdrawAtDeadline(std::uint64_t ticket,
                                         const std::shared_ptr<asio::steady_timer>& timer,
                                         std::uint64_t timeout_ms) {
  timer->async_wait(
      [self = shared_from_this(), ticket, timeout_ms](const boost::system::error_code& ec) {
        if (ec || !self->server_.admission().Withdraw(ticket)) return;  // it started meanwhile
        self->Fail(ErrorCode::kTimeout,
                   "the request waited " + FormatMillis(timeout_ms) +
                       " (its whole time limit) for a free sandbox: this node is busy; retry "
                       "later or raise timeout_ms");
      });
}

void ExecutePipeline::StartWithSlot(unsigned slot,
                                    const std::shared_ptr<asio::steady_timer>& queue_timer) {
  // The lease owns the slot from here until it is destroyed, whichever way this ends.
  auto lease = std::make_unique<SlotLease>(server_.shared_admission(), slot, server_.Refill());
  asio::post(session_->executor(), [queue_timer] { queue_timer->cancel(); });
  // The client left while this waited in the queue: nothing to run, nobody to answer.
  if (session_->IsClosed()) return;
  Run(std::make_shared<Execution>(server_.io(), server_.services(), request_.image,
                                  std::move(lease)));
}

void ExecutePipeline::Run(const std::shared_ptr<Execution>& sandbox) {
  {
    std::lock_guard lock(execution_mu_);
    execution_ = sandbox;
  }
  sandbox->Run(std::move(request_), [self = shared_from_this()](sandboxd::Answer answer) {
    self->Answer(std::move(answer));
  });
}

void ExecutePipeline::Answer(sandboxd::Answer answer) {
  session_->Forget(key_);
  session_->Send(std::move(answer));
  // What the request held until its answer: its place in flight (a request that never reached a
  // sandbox; an Execution lets go of its own), its spilled input's budget, its artifact folder.
  request_ = PreparedRequest{};
  spill_.reset();
  artifacts_dir_.reset();
}

void ExecutePipeline::Fail(ErrorCode code, const std::string& message) {
  Answer(ErrorAnswer(id_, code, message));
}

void ExecutePipeline::Cancel() {
  std::lock_guard lock(execution_mu_);
  if (auto sandbox = execution_.lock()) sandbox->Cancel();
}

void ExecutePipeline::Abort(ErrorCode reason, const std::string& message) {
  std::lock_guard lock(execution_mu_);
  if (auto sandbox = execution_.lock()) sandbox->Abort(reason, message);
}

}  // namespace sandboxd
