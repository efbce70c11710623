// A reusable harness for `zcopy serve` integration tests: the real binary started as a child
// process (and always killed at the end), curl run as a user runs it, raw-socket HTTP/1.1 helpers
// and an nginx instance to compare against. Every wait is bounded, and no bound is a budget for
// the work: waits on the network end at a silence (no byte for that long), not at a total, so
// that a sanitized build on a busy machine moves its bytes as slowly as it must.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/test_support.hpp"

namespace zcopy::test {

using namespace std::chrono_literals;

// How long a test waits for something that is bound to happen (a response, a close, an exit, a
// log line): the wait ends as soon as it happens, so only a failing test waits this long.
// Generous, because a sanitized build on a busy 2-CPU machine is slow (a 10 s budget for 64 MiB
// failed under TSan there).
inline constexpr std::chrono::milliseconds patience = 60s;

std::string to_string(std::span<const std::byte> bytes);
std::vector<std::byte> to_bytes(std::string_view text);
std::string lower(std::string_view text);

// A child process with stdout/stderr redirected to files in its own temp dir. The destructor
// kills it (SIGKILL) and reaps it if it is still running.
class child_process {
 public:
  // `argv[0]` is the executable path. Returns nullptr (and adds a failure) if it cannot start.
  static std::unique_ptr<child_process> spawn(const std::vector<std::string>& argv);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  std::string out() const;  // what it wrote on stdout so far
  std::string err() const;  // what it wrote on stderr so far
  bool running();
  // Waits up to `timeout` for the exit. nullopt: still running. -1: killed by a signal.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // Sends `sig`, then waits up to `timeout`; if still running, SIGKILLs it (and returns nullopt).
  std::optional<int> stop(int sig, std::chrono::milliseconds timeout);
  void signal(int sig);

 private:
  child_process() = default;
  temp_dir dir_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Runs a command to completion, bounded: killed after `timeout`. exit_code -1 on signal/timeout.
run_result run_bounded(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// `zcopy serve ROOT ARGS...`, started and parsed: waits (bounded) for the "serving ... at URL"
// lines on stdout.
class serve_process {
 public:
  struct endpoint {
    std::string host;  // "127.0.0.1" or "::1" (brackets removed)
    int port = 0;
    std::string url;  // "http://127.0.0.1:PORT/" as printed
  };
  // Starts the server and waits for `expected_lines` URL lines. nullptr (with a failure added,
  // stderr included) when it exits or does not print them in time.
  // `wrapper` comes before the binary on the command line ("ip netns exec NS").
  static std::unique_ptr<serve_process> start(const std::filesystem::path& root,
                                              const std::vector<std::string>& args,
                                              std::size_t expected_lines = 1,
                                              const std::vector<std::string>& wrapper = {});
  const std::vector<endpoint>& endpoints() const { return endpoints_; }
  const endpoint& primary() const { return endpoints_.at(0); }
  // "http://HOST:PORT" + path (path starts with '/').
  std::string url(std::string_view path) const;
  std::string host() const { return primary().host; }
  int port() const { return primary().port; }
  pid_t pid() const { return child_->pid(); }
  child_process& process() { return *child_; }
  // Number of entries in /proc/PID/fd (-1 if unreadable).
  int fd_count() const;

 private:
  std::unique_ptr<child_process> child_;
  std::vector<endpoint> endpoints_;
};

// An nginx with a minimal configuration serving `root` on 127.0.0.1:PORT. nullptr when nginx is not
// installed (reason in `why`), or when it does not start (failure added).
class nginx_process {
 public:
  static std::unique_ptr<nginx_process> start(const std::filesystem::path& root, std::string& why);
  // The same with `server_directives` added inside the server block ("location = /r { return
  // 301 /x; }").
  static std::unique_ptr<nginx_process> start(const std::filesystem::path& root, std::string& why,
                                              const std::string& server_directives);
  ~nginx_process();
  int port() const { return port_; }
  std::string host() const { return "127.0.0.1"; }
  std::string error_log() const;
  std::string access_log() const;

 private:
  temp_dir dir_;
  int port_ = 0;
  std::unique_ptr<child_process> child_;
};

// A port that was free a moment ago (bound to 127.0.0.1:0 and closed).
int free_port();
// Whether [::1] can be bound.
bool ipv6_loopback_available();

// --- curl --------------------------------------------------------------------------------------

struct http_head {
  int status = 0;
  std::string status_line;
  std::vector<std::pair<std::string, std::string>> fields;  // names lower-cased
  std::optional<std::string> get(std::string_view name) const;
  std::size_t count(std::string_view name) const;
  std::string text() const;  // for messages
};

struct curl_result {
  int exit_code = -1;
  std::string err;
  std::string write_out;                       // what -w printed
  std::vector<http_head> heads;                // one per response (from -D)
  std::vector<std::vector<std::byte>> bodies;  // one per URL (from -o)
  const http_head& head() const { return heads.at(heads.size() - 1); }
  int status() const { return heads.empty() ? 0 : heads.back().status; }
  const std::vector<std::byte>& body() const { return bodies.at(0); }
};

// curl -s -S --max-time 30 -D HEADERS [-o FILE per URL] EXTRA... URLS...
curl_result run_curl(const std::vector<std::string>& extra, const std::vector<std::string>& urls,
                     int max_time_s = 30);

// --- raw sockets -------------------------------------------------------------------------------

// A TCP client with a receive timeout on every wait.
class client {
 public:
  // Connects (bounded). `rcvbuf` > 0 sets SO_RCVBUF before connecting.
  static std::optional<client> connect(const std::string& host, int port, int rcvbuf = 0);
  client(client&&) = default;
  client& operator=(client&&) = default;
  int fd() const { return fd_.get(); }
  bool send(std::string_view data);
  // Reads whatever arrives within `timeout` (at most `max` bytes) into the pending buffer.
  // (The reads below take `timeout` as the longest silence: each byte that arrives restarts it.)
  // Returns the number of bytes read, 0 on EOF, -1 on timeout, -2 on error (ECONNRESET...).
  long fill(std::chrono::milliseconds timeout, std::size_t max = 256 * 1024);
  // One response: head and (unless `head_request` or a status without body) a body of
  // Content-Length bytes. nullopt on timeout/EOF before a complete response (bytes kept).
  struct response {
    http_head head;
    std::string body;
  };
  std::optional<response> read_response(bool head_request = false,
                                        std::chrono::milliseconds timeout = patience);
  // Reads until EOF (or `timeout` of silence/error); returns true on a clean EOF or a reset.
  bool read_to_close(std::chrono::milliseconds timeout = patience);
  // Whether the peer closed (EOF or reset) within `timeout`; data arriving first is kept.
  bool closed_within(std::chrono::milliseconds timeout);
  std::string& pending() { return pending_; }
  void close() { fd_.reset(); }

 private:
  explicit client(unique_fd fd) : fd_(std::move(fd)) {}
  unique_fd fd_;
  std::string pending_;
};

// One request on a fresh connection; the response is read until the connection closes (the request
// should carry "Connection: close"), so bodies are taken as sent. nullopt on failure.
std::optional<client::response> exchange(const std::string& host, int port,
                                         std::string_view request, bool head_request = false,
                                         std::chrono::milliseconds timeout = patience);

// "GET PATH HTTP/1.1\r\nHost: localhost\r\n" + extra + "Connection: close\r\n\r\n"
std::string simple_request(std::string_view method, std::string_view path,
                           std::string_view extra_fields = {}, bool close = true);

// The ETag nginx computes: "%x-%x" of mtime seconds and size, quoted.
std::string nginx_etag(const std::filesystem::path& path);
// The file's mtime as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
std::string http_date_of(const std::filesystem::path& path);
std::string http_date(std::int64_t unix_seconds);

}  // namespace zcopy::test
