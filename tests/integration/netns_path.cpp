#include "integration/netns_path.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "integration/serve_fixture.hpp"

namespace zcopy::test {

namespace {

using namespace std::chrono_literals;

// Runs one command; its stderr when it fails, "" when it worked.
std::string run_step(const std::vector<std::string>& argv) {
  const run_result r = run_bounded(argv, 30s);
  if (r.exit_code == 0) return {};
  std::string line;
  for (const auto& a : argv) line += a + " ";
  return line + "-> " + (r.err.empty() ? "exit " + std::to_string(r.exit_code) : r.err);
}

// Runs the steps in order; the first failure's message, "" when all worked.
std::string run_steps(const std::vector<std::vector<std::string>>& steps) {
  for (const auto& step : steps) {
    if (std::string e = run_step(step); !e.empty()) return e;
  }
  return {};
}

constexpr const char* client_address = "10.201.0.2";

}  // namespace

std::unique_ptr<netns_path> netns_path::make(const shape& how, std::string& why) {
  if (::geteuid() != 0) {
    why = "needs root (network namespaces)";
    return nullptr;
  }
  if (run_bounded({"ip", "-V"}, 30s).exit_code != 0) {
    why = "iproute2 (ip) is missing";
    return nullptr;
  }
  static std::atomic<int> counter{0};
  std::unique_ptr<netns_path> p(new netns_path());
  p->tag_ = "zc" + std::to_string(::getpid()) + "x" + std::to_string(counter++);
  p->server_ = p->tag_ + "s";
  p->client_ = p->tag_ + "c";
  if (std::string e = run_steps({
          {"ip", "netns", "add", p->server_},
          {"ip", "netns", "add", p->client_},
          {"ip", "-n", p->server_, "link", "set", "lo", "up"},
          {"ip", "-n", p->client_, "link", "set", "lo", "up"},
      });
      !e.empty()) {
    why = "cannot make the namespaces: " + e;
    return nullptr;
  }
  if (!p->join_by_veth(how, why)) {
    // Only a missing netem sends a delayed path to the delay line; anything else is a failure.
    if (how.delay_ms == 0 || p->emulator_ != "netem") return nullptr;
    std::string veth_why = why;
    if (!p->join_by_delay_line(how, why)) {
      why = veth_why + "; and the TUN delay line failed: " + why;
      return nullptr;
    }
  }
  if (how.client_rmem_max > 0) {
    const std::string value = "4096 65536 " + std::to_string(how.client_rmem_max);
    if (std::string e = run_step({"ip", "netns", "exec", p->client_, "sh", "-c",
                                  "echo '" + value + "' > /proc/sys/net/ipv4/tcp_rmem"});
        !e.empty()) {
      why = "cannot set the client's tcp_rmem: " + e;
      return nullptr;
    }
  }
  return p;
}

// A veth pair, shaped by netem (delay) or tbf (rate only). On a failed qdisc, emulator_ names
// the one that failed and the pair is removed again.
bool netns_path::join_by_veth(const shape& how, std::string& why) {
  const std::string a = tag_ + "a", b = tag_ + "b";
  if (std::string e = run_steps({
          {"ip", "link", "add", a, "type", "veth", "peer", "name", b},
          {"ip", "link", "set", a, "netns", server_},
          {"ip", "link", "set", b, "netns", client_},
          {"ip", "-n", server_, "addr", "add", std::string(server_address) + "/24", "dev", a},
          {"ip", "-n", client_, "addr", "add", std::string(client_address) + "/24", "dev", b},
          {"ip", "-n", server_, "link", "set", a, "up"},
          {"ip", "-n", client_, "link", "set", b, "up"},
      });
      !e.empty()) {
    why = "cannot join the namespaces: " + e;
    return false;
  }
  emulator_ = how.delay_ms > 0 ? "netem" : how.rate_mbit > 0 ? "tbf" : "veth";
  const std::string rate = std::to_string(how.rate_mbit) + "mbit";
  for (const auto& [ns, dev] : {std::pair{server_, a}, std::pair{client_, b}}) {
    std::vector<std::string> qdisc = {"tc", "-n", ns, "qdisc", "add", "dev", dev, "root"};
    if (how.delay_ms > 0) {
      qdisc.insert(qdisc.end(), {"netem", "delay", std::to_string(how.delay_ms) + "ms"});
      if (how.rate_mbit > 0) qdisc.insert(qdisc.end(), {"rate", rate});
    } else if (how.rate_mbit > 0) {
      qdisc.insert(qdisc.end(), {"tbf", "rate", rate, "burst", "256kb", "latency", "100ms"});
    } else {
      continue;
    }
    if (std::string e = run_step(qdisc); !e.empty()) {
      why = emulator_ + " is not available here: " + e;
      (void)run_step({"ip", "-n", server_, "link", "del", a});  // takes its peer with it
      return false;
    }
  }
  return true;
}

// A TUN device on each side, and zcopy_delay_line forwarding between them with the delay each
// way and the rate. MTU 9000 (jumbo frames, as inside a data centre) keeps the packet rate, and
// so the forwarder's CPU, low enough that the path and not the forwarder sets the pace.
bool netns_path::join_by_delay_line(const shape& how, std::string& why) {
  const std::string a = tag_ + "t", b = tag_ + "u";
  if (std::string e = run_steps({
          {"ip", "-n", server_, "tuntap", "add", "dev", a, "mode", "tun"},
          {"ip", "-n", client_, "tuntap", "add", "dev", b, "mode", "tun"},
          {"ip", "-n", server_, "link", "set", a, "mtu", "9000", "up"},
          {"ip", "-n", client_, "link", "set", b, "mtu", "9000", "up"},
          {"ip", "-n", server_, "addr", "add", std::string(server_address) + "/24", "dev", a},
          {"ip", "-n", client_, "addr", "add", std::string(client_address) + "/24", "dev", b},
      });
      !e.empty()) {
    why = "cannot make the TUN devices: " + e;
    return false;
  }
  line_ = child_process::spawn({ZCOPY_DELAY_LINE_BINARY, server_, a, client_, b,
                                std::to_string(how.delay_ms), std::to_string(how.rate_mbit)});
  if (!line_) {
    why = "cannot start " ZCOPY_DELAY_LINE_BINARY;
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (line_->out().find("ready\n") == std::string::npos) {
    if (!line_->running() || std::chrono::steady_clock::now() > deadline) {
      why = "the delay line did not start: " + line_->err();
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
  emulator_ = "zcopy_delay_line";
  return true;
}

netns_path::~netns_path() {
  if (line_) (void)line_->stop(SIGTERM, patience);
  for (const std::string& ns : {server_, client_}) {
    if (!ns.empty()) (void)run_bounded({"ip", "netns", "del", ns}, 30s);
  }
}

}  // namespace zcopy::test
