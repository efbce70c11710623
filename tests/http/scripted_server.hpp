// A scripted HTTP server for client tests: a listener on 127.0.0.1 with an ephemeral port and one
// thread that accepts connections one at a time, reads each request head (to the blank line) and
// hands the socket to the next script, which writes whatever bytes the test wants (split across
// packets, cut short, stalled) and returns; the connection is closed after it.
//
// Ownership: the server owns the listener, its thread and the accepted sockets; scripts borrow
// the socket for the call. The destructor stops the thread (bounded: the accept loop polls) and
// closes everything. Scripts run on the server's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "zcopy/fd.hpp"

namespace zcopy::test {

class scripted_server {
 public:
  using script = std::function<void(int fd, const std::string& request)>;
  // Connection i runs scripts[min(i, size - 1)].
  explicit scripted_server(std::vector<script> scripts);
  ~scripted_server();
  scripted_server(const scripted_server&) = delete;
  scripted_server& operator=(const scripted_server&) = delete;

  int port() const { return port_; }
  std::string url(std::string_view path) const;  // "http://127.0.0.1:PORT" + path
  std::vector<std::string> requests() const;     // request heads received so far
  bool stopping() const { return stop_.load(); }

  // Helpers for scripts: a blocking send of all of `data` (false when the peer went away), and a
  // pause that ends early when the server stops.
  static bool send_all(int fd, std::string_view data);
  void pause(std::chrono::milliseconds how_long) const;

 private:
  void run();
  unique_fd listener_;
  int port_ = 0;
  std::vector<script> scripts_;
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// "HTTP/1.1 200 OK\r\nContent-Length: N\r\nConnection: close\r\n\r\n" + body.
std::string simple_response(std::string_view body, std::string_view status = "200 OK",
                            std::string_view extra_fields = {});

}  // namespace zcopy::test
