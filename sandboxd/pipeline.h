// The path of one Execute request through the daemon, read top to bottom in the order the request
// lives (docs/ARCHITECTURE.md, "The flow of one Execute request"):
//
//   Check → CheckCalloutPolicy → StageInput → FetchArtifacts → Admit → Run → Answer
//
// Each step is one function of ExecutePipeline and hands the request to the next; a step that
// waits (the spill copy, the downloads, a place in the queue) hands it on from the thread that
// ends the wait. A failure at any step is the request's one answer, through the one completion,
// Answer(). The steps call leaf units (request.h, artifacts/service.h, input_spill.h,
// admission.h, warm_pool.h, execution.h); of the session they ask only the strand to come back
// to, whether anyone is left to answer, and its log lines, and give it nothing but the answer.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "answers.h"
#include "execution.h"
#include "sandboxd.pb.h"
#include "sandboxd/unique_fd.h"
#include "service.h"

namespace sandboxd {

class Server;
class Session;

class ExecutePipeline : public std::enable_shared_from_this<ExecutePipeline> {
 public:
  // `key` names this request among its session's (Session::Forget at its answer).
  ExecutePipeline(Server& server, std::shared_ptr<Session> session, std::uint64_t key);

  // Takes the request (and the descriptors of its frame) through its steps; exactly one answer
  // reaches the session, or none when the client left before there was one to give.
  void Start(const proto::ExecuteRequest& request, std::vector<UniqueFd>& fds);

  // From any thread: the client went away, or the daemon stops (the answer is `reason`:
  // `message`). Only a request in a sandbox has anything to end here; one that waits for its
  // input, its artifacts or a slot sees the closed session (or the shutdown) when the wait ends.
  void Cancel();
  void Abort(ErrorCode reason, const std::string& message);

 private:
  // 1. Refused during the drain; checked (request.cc): everything that can be refused before a
  //    sandbox exists. Then it counts as accepted (in flight, in `sandboxctl status`).
  bool Check(const proto::ExecuteRequest& request, std::vector<UniqueFd>& fds);
  // 2. Its artifact URLs parsed and held against the callout policy, before any connection and
  //    before a debug answer.
  bool CheckCalloutPolicy(const proto::ExecuteRequest& request);
  // 3. spill_to_disk: the input copied from its memfd into a file on disk, on the spill
  //    service's thread; back on the session's strand with the file and its share of the budget.
  void StageInput();
  // 4. Downloads and bundle checks on the artifact service's threads; back on the session's
  //    strand with the request's folder.
  void FetchArtifacts();
  // 5. A warm sandbox when one is ready; else a slot now, a place in the queue (withdrawn at the
  //    request's deadline), or OVERLOADED.
  void Admit();
  // A slot came free (on whatever thread freed it): a new sandbox for this request.
  void StartWithSlot(unsigned slot, const std::shared_ptr<boost::asio::steady_timer>& queue_timer);
  // A request that waits in the queue ends at its deadline (TIMEOUT), never later.
  void WithdrawAtDeadline(std::uint64_t ticket,
                          const std::shared_ptr<boost::asio::steady_timer>& timer,
                          std::uint64_t timeout_ms);
  // 6. The request in its sandbox (warm or just admitted); the Execution answers through Answer.
  void Run(const std::shared_ptr<Execution>& sandbox);
  // 7. The one completion: the session forgets the request and sends its answer; the spilled
  //    input's budget and the artifact folder, held until now, go.
  void Answer(sandboxd::Answer answer);
  // An answer built here at a failed step.
  void Fail(ErrorCode code, const std::string& message);

  Server& server_;
  const std::shared_ptr<Session> session_;
  const std::uint64_t key_;
  std::string id_;
  // Handed from step to step (one at a time), then moved into the Execution at Run.
  PreparedRequest request_;
  std::vector<PlannedArtifact> artifacts_;
  std::shared_ptr<const void> spill_;                // the spilled input's share of the budget
  std::shared_ptr<RequestArtifacts> artifacts_dir_;  // the request's artifact folder
  std::mutex execution_mu_;
  std::weak_ptr<Execution> execution_;  // under execution_mu_: Cancel and Abort come from anywhere
};

}  // namespace sandboxd
