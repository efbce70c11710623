#include "integration/netns_path.hpp"

#include <unistd.h>

#include <atomic>

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
  const std::string tag = "zc" + std::to_string(::getpid()) + "x" + std::to_string(counter++);
  std::unique_ptr<netns_path> p(new netns_path());
  p->server_ = tag + "s";
  p->client_ = tag + "c";
  const std::string a = tag + "a", b = tag + "b";
  const std::vector<std::vector<std::string>> steps = {
      {"ip", "netns", "add", p->server_},
      {"ip", "netns", "add", p->client_},
      {"ip", "link", "add", a, "type", "veth", "peer", "name", b},
      {"ip", "link", "set", a, "netns", p->server_},
      {"ip", "link", "set", b, "netns", p->client_},
      {"ip", "-n", p->server_, "addr", "add", std::string(server_address) + "/24", "dev", a},
      {"ip", "-n", p->client_, "addr", "add", "10.201.0.2/24", "dev", b},
      {"ip", "-n", p->server_, "link", "set", a, "up"},
      {"ip", "-n", p->client_, "link", "set", b, "up"},
      {"ip", "-n", p->server_, "link", "set", "lo", "up"},
      {"ip", "-n", p->client_, "link", "set", "lo", "up"},
  };
  for (const auto& step : steps) {
    if (std::string e = run_step(step); !e.empty()) {
      why = "cannot make the namespaces: " + e;
      return nullptr;
    }
  }
  const std::string rate = std::to_string(how.rate_mbit) + "mbit";
  for (const auto& [ns, dev] : {std::pair{p->server_, a}, std::pair{p->client_, b}}) {
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
      why =
          (how.delay_ms > 0 ? "netem is not available here: " : "tbf is not available here: ") + e;
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

netns_path::~netns_path() {
  for (const std::string& ns : {server_, client_}) {
    if (!ns.empty()) (void)run_bounded({"ip", "netns", "del", ns}, 30s);
  }
}

}  // namespace zcopy::test
