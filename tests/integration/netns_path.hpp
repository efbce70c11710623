// A network path the tests make for themselves: two network namespaces (a server side and a
// client side) joined by a veth pair, with the delay and rate of a long path where the kernel has
// netem (tc qdisc netem), or only a rate limit (tbf). Traffic on it never leaves the machine.
//
// Needs root and iproute2; make() says why not otherwise (the caller skips). The destructor
// deletes both namespaces (the veth pair goes with them).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace zcopy::test {

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

 private:
  netns_path() = default;
  std::string server_, client_;
};

}  // namespace zcopy::test
