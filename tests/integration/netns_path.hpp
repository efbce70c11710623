// A network path the tests make for themselves: two network namespaces (a server side and a
// client side). Without delay they are joined by a veth pair, rate-limited by tbf. With delay,
// by a veth pair under netem where the kernel has it, and otherwise by a TUN device on each side
// with zcopy_delay_line (tests/support/delay_line.cpp) forwarding between them at netem's delay
// and rate: TCP runs end to end either way. Traffic on it never leaves the machine.
//
// Needs root and iproute2; make() says why not otherwise (the caller skips). The destructor stops
// the delay line and deletes both namespaces (the devices go with them).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace zcopy::test {

class child_process;

class netns_path {
 public:
  struct shape {
    unsigned delay_ms = 0;         // each way (netem); 0: no delay (then tbf for the rate)
    unsigned rate_mbit = 0;        // 0: no limit
    unsigned client_rmem_max = 0;  // the client side's net.ipv4.tcp_rmem maximum; 0: default
  };
  static std::unique_ptr<netns_path> make(const shape& how, std::string& why);
  ~netns_path();
  netns_path(const netns_path&) = delete;
  netns_path& operator=(const netns_path&) = delete;

  // "ip netns exec NS": put before a command line to run it on that side.
  std::vector<std::string> on_server() const { return {"ip", "netns", "exec", server_}; }
  std::vector<std::string> on_client() const { return {"ip", "netns", "exec", client_}; }
  static constexpr const char* server_address = "10.201.0.1";
  // The namespaces' names (for setns through /run/netns/NAME).
  const std::string& server_namespace() const { return server_; }
  const std::string& client_namespace() const { return client_; }

  // What shapes the path: "tbf", "netem" or "zcopy_delay_line" (for messages and results).
  const std::string& emulator() const { return emulator_; }

 private:
  netns_path() = default;
  bool join_by_veth(const shape& how, std::string& why);
  bool join_by_delay_line(const shape& how, std::string& why);
  std::string server_, client_, tag_, emulator_;
  std::unique_ptr<child_process> line_;
};

}  // namespace zcopy::test
