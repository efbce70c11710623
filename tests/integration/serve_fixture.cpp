#include "integration/serve_fixture.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

extern char** environ;

namespace zcopy::test {

namespace {

std::string slurp_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::byte> slurp_bytes(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return {};
  return read_file(path);
}

using clock = std::chrono::steady_clock;

std::chrono::milliseconds left(clock::time_point deadline) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  return d.count() < 0 ? 0ms : d;
}

}  // namespace

std::string to_string(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::vector<std::byte> to_bytes(std::string_view text) {
  auto p = reinterpret_cast<const std::byte*>(text.data());
  return {p, p + text.size()};
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// --- child_process ---------------------------------------------------------------------------

std::unique_ptr<child_process> child_process::spawn(const std::vector<std::string>& argv) {
  std::unique_ptr<child_process> p(new child_process());
  const auto out_path = p->dir_ / "stdout";
  const auto err_path = p->dir_ / "stderr";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  // The child starts with default signal dispositions and an empty mask, whatever the test
  // process has.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<std::string> storage = argv;
  std::vector<char*> args;
  for (auto& s : storage) args.push_back(s.data());
  args.push_back(nullptr);
  int rc = posix_spawnp(&p->pid_, storage.at(0).c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << storage.at(0) << ": " << std::strerror(rc);
    return nullptr;
  }
  return p;
}

child_process::~child_process() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
  }
}

std::string child_process::out() const {
  return slurp_text(dir_ / "stdout");
}
std::string child_process::err() const {
  return slurp_text(dir_ / "stderr");
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
  auto deadline = clock::now() + timeout;
  while (!reaped_) {
    pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      break;
    }
    if (r < 0 && errno != EINTR) return std::nullopt;
    if (clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
}

bool child_process::running() {
  return !wait(0ms).has_value();
}

void child_process::signal(int sig) {
  if (!reaped_) ::kill(pid_, sig);
}

std::optional<int> child_process::stop(int sig, std::chrono::milliseconds timeout) {
  signal(sig);
  auto r = wait(timeout);
  if (!r) {
    ::kill(pid_, SIGKILL);
    wait(5s);
  }
  return r;
}

run_result run_bounded(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  run_result result;
  auto p = child_process::spawn(argv);
  if (!p) return result;
  auto code = p->wait(timeout);
  if (!code) {
    ADD_FAILURE() << argv.at(0) << " still running after " << timeout.count() << " ms; killed";
    p->stop(SIGKILL, 5s);
  } else {
    result.exit_code = *code;
  }
  result.out = p->out();
  result.err = p->err();
  return result;
}

// --- serve_process ---------------------------------------------------------------------------

std::unique_ptr<serve_process> serve_process::start(const std::filesystem::path& root,
                                                    const std::vector<std::string>& args,
                                                    std::size_t expected_lines,
                                                    const std::vector<std::string>& wrapper) {
  const char* binary = std::getenv("ZCOPY_BINARY");
  if (binary == nullptr || *binary == '\0') {
    ADD_FAILURE() << "ZCOPY_BINARY is not set";
    return nullptr;
  }
  std::vector<std::string> argv = wrapper;
  argv.insert(argv.end(), {binary, "serve", root.string()});
  argv.insert(argv.end(), args.begin(), args.end());
  // The suite runs once per loop engine (tests/CMakeLists.txt): a test that picks its own
  // --engine keeps it.
  if (const char* engine = std::getenv("ZCOPY_TEST_SERVE_ENGINE");
      engine != nullptr && *engine != '\0' &&
      std::find(args.begin(), args.end(), "--engine") == args.end()) {
    argv.insert(argv.end(), {"--engine", engine});
  }
  std::unique_ptr<serve_process> s(new serve_process());
  s->child_ = child_process::spawn(argv);
  if (!s->child_) return nullptr;
  static const std::regex url_re(R"(http://(\[[^\]]+\]|[^/:]+):([0-9]+)/)");
  auto deadline = clock::now() + patience;
  std::string out;
  while (true) {
    out = s->child_->out();
    std::vector<endpoint> found;
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
      std::smatch m;
      if (line.find("zcopy serve: serving") == std::string::npos) continue;
      if (!std::regex_search(line, m, url_re)) continue;
      endpoint e;
      e.host = m[1].str();
      if (e.host.size() >= 2 && e.host.front() == '[') e.host = e.host.substr(1, e.host.size() - 2);
      e.port = std::stoi(m[2].str());
      e.url = m[0].str();
      found.push_back(e);
    }
    if (found.size() >= expected_lines) {
      s->endpoints_ = std::move(found);
      return s;
    }
    if (!s->child_->running()) {
      ADD_FAILURE() << "zcopy serve exited before serving; stdout: " << out
                    << "\nstderr: " << s->child_->err();
      return nullptr;
    }
    if (clock::now() >= deadline) {
      ADD_FAILURE() << "zcopy serve printed no URL within " << patience.count()
                    << " ms; stdout: " << out << "\nstderr: " << s->child_->err();
      return nullptr;
    }
    std::this_thread::sleep_for(20ms);
  }
}

std::string serve_process::url(std::string_view path) const {
  const auto& e = primary();
  std::string host = e.host.find(':') != std::string::npos ? "[" + e.host + "]" : e.host;
  return "http://" + host + ":" + std::to_string(e.port) + std::string(path);
}

int serve_process::fd_count() const {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/" + std::to_string(child_->pid()) + "/fd", ec);
  if (ec) return -1;
  int n = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return -1;
    ++n;
  }
  return n;
}

// --- nginx -----------------------------------------------------------------------------------

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

bool ipv6_loopback_available() {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

std::unique_ptr<nginx_process> nginx_process::start(const std::filesystem::path& root,
                                                    std::string& why) {
  return start(root, why, {});
}

std::unique_ptr<nginx_process> nginx_process::start(const std::filesystem::path& root,
                                                    std::string& why,
                                                    const std::string& server_directives) {
  const std::filesystem::path binary = "/usr/sbin/nginx";
  std::error_code ec;
  if (!std::filesystem::exists(binary, ec)) {
    why = "nginx is not installed at /usr/sbin/nginx (scripts/deps.sh installs it)";
    return nullptr;
  }
  if (!std::filesystem::exists("/etc/nginx/mime.types", ec)) {
    why = "/etc/nginx/mime.types is missing";
    return nullptr;
  }
  std::unique_ptr<nginx_process> n(new nginx_process());
  const std::string d = n->dir_.path().string();
  for (int attempt = 0; attempt < 3; ++attempt) {
    n->port_ = free_port();
    std::ofstream conf(n->dir_ / "nginx.conf", std::ios::trunc);
    conf << "daemon off;\nmaster_process off;\nworker_processes 1;\n"
         << "pid " << d << "/nginx.pid;\nerror_log " << d << "/error.log;\n"
         << "events { worker_connections 64; }\n"
         << "http {\n"
         << "  include /etc/nginx/mime.types;\n"
         << "  default_type application/octet-stream;\n"
         << "  access_log " << d << "/access.log;\n"
         << "  client_body_temp_path " << d << "/body;\n"
         << "  proxy_temp_path " << d << "/proxy;\n"
         << "  fastcgi_temp_path " << d << "/fastcgi;\n"
         << "  uwsgi_temp_path " << d << "/uwsgi;\n"
         << "  scgi_temp_path " << d << "/scgi;\n"
         << "  server_tokens off;\n"
         << "  sendfile on;\n"
         << "  server {\n"
         << "    listen 127.0.0.1:" << n->port_ << ";\n"
         << "    server_name localhost;\n"
         << "    root " << root.string() << ";\n"
         << server_directives << "\n"
         << "  }\n"
         << "}\n";
    conf.close();
    n->child_ = child_process::spawn(
        {binary.string(), "-c", d + "/nginx.conf", "-p", d + "/", "-e", d + "/error.log"});
    if (!n->child_) return nullptr;
    auto deadline = clock::now() + patience;
    while (clock::now() < deadline && n->child_->running()) {
      if (auto c = client::connect("127.0.0.1", n->port_)) {
        if (c->send("HEAD / HTTP/1.0\r\n\r\n") && c->read_to_close() &&
            c->pending().starts_with("HTTP/1.1")) {
          return n;
        }
      }
      std::this_thread::sleep_for(50ms);
    }
    n->child_->stop(SIGKILL, 5s);
  }
  ADD_FAILURE() << "nginx did not start; error log:\n" << n->error_log();
  return nullptr;
}

nginx_process::~nginx_process() {
  if (child_) child_->stop(SIGTERM, 5s);
}

std::string nginx_process::error_log() const {
  return slurp_text(dir_ / "error.log");
}

std::string nginx_process::access_log() const {
  return slurp_text(dir_ / "access.log");
}

// --- curl ------------------------------------------------------------------------------------

std::optional<std::string> http_head::get(std::string_view name) const {
  auto n = lower(name);
  for (const auto& [k, v] : fields) {
    if (k == n) return v;
  }
  return std::nullopt;
}

std::size_t http_head::count(std::string_view name) const {
  auto n = lower(name);
  std::size_t c = 0;
  for (const auto& [k, v] : fields) c += k == n;
  return c;
}

std::string http_head::text() const {
  std::string s = status_line + "\n";
  for (const auto& [k, v] : fields) s += k + ": " + v + "\n";
  return s;
}

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// Parses "HTTP/1.1 200 OK\r\nName: value\r\n..." (no body). Fails on a bad status line.
std::optional<http_head> parse_head(std::string_view text) {
  http_head h;
  std::size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (first) {
      first = false;
      h.status_line = std::string(line);
      if (!line.starts_with("HTTP/") || line.size() < 12) return std::nullopt;
      auto sp = line.find(' ');
      if (sp == std::string_view::npos) return std::nullopt;
      h.status = std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
      continue;
    }
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    h.fields.emplace_back(lower(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
  if (first) return std::nullopt;
  return h;
}

}  // namespace

curl_result run_curl(const std::vector<std::string>& extra, const std::vector<std::string>& urls,
                     int max_time_s) {
  curl_result result;
  temp_dir dir;
  std::vector<std::string> argv{"curl",
                                "-s",
                                "-S",
                                "-g",
                                "--path-as-is",
                                "--max-time",
                                std::to_string(max_time_s),
                                "-D",
                                (dir / "headers").string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  for (std::size_t i = 0; i < urls.size(); ++i) {
    argv.push_back("-o");
    argv.push_back((dir / ("body" + std::to_string(i))).string());
    argv.push_back(urls[i]);
  }
  auto r = run_bounded(argv, std::chrono::seconds(max_time_s + 10));
  result.exit_code = r.exit_code;
  result.err = r.err;
  result.write_out = r.out;
  std::string headers = slurp_text(dir / "headers");
  // Split into blocks, each starting at a status line.
  std::size_t pos = 0;
  while (true) {
    auto start = headers.find("HTTP/", pos);
    if (start == std::string::npos) break;
    auto end = headers.find("\r\n\r\n", start);
    std::string block =
        headers.substr(start, end == std::string::npos ? std::string::npos : end + 4 - start);
    if (auto h = parse_head(block)) result.heads.push_back(std::move(*h));
    if (end == std::string::npos) break;
    pos = end + 4;
  }
  for (std::size_t i = 0; i < urls.size(); ++i) {
    result.bodies.push_back(slurp_bytes(dir / ("body" + std::to_string(i))));
  }
  return result;
}

// --- raw sockets -----------------------------------------------------------------------------

std::optional<client> client::connect(const std::string& host, int port, int rcvbuf) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) {
    return std::nullopt;
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    ::freeaddrinfo(res);
    return std::nullopt;
  }
  unique_fd owner(fd);
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (rc != 0) {
    if (errno != EINPROGRESS) return std::nullopt;
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(patience.count())) != 1) return std::nullopt;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return std::nullopt;
  }
  return client(std::move(owner));
}

bool client::send(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      pollfd p{fd_.get(), POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(patience.count())) != 1) return false;
      continue;
    }
    return false;
  }
  return true;
}

long client::fill(std::chrono::milliseconds timeout, std::size_t max) {
  pollfd p{fd_.get(), POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (r == 0) return -1;
  if (r < 0) return errno == EINTR ? -1 : -2;
  std::string buf(max, '\0');
  ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
  if (n < 0) return (errno == EAGAIN || errno == EINTR) ? -1 : -2;
  pending_.append(buf.data(), static_cast<std::size_t>(n));
  return n;
}

std::optional<client::response> client::read_response(bool head_request,
                                                      std::chrono::milliseconds timeout) {
  auto deadline = clock::now() + timeout;
  // Bytes arrived: the silence allowed starts again (a slow transfer is no failure).
  const auto progress = [&](long n) {
    if (n > 0) deadline = clock::now() + timeout;
  };
  std::size_t end;
  while ((end = pending_.find("\r\n\r\n")) == std::string::npos) {
    long n = fill(left(deadline));
    if (n == 0 || n == -2) return std::nullopt;
    if (n == -1 && left(deadline) == 0ms) return std::nullopt;
    progress(n);
  }
  auto head = parse_head(std::string_view(pending_).substr(0, end + 4));
  if (!head) return std::nullopt;
  response r;
  r.head = std::move(*head);
  pending_.erase(0, end + 4);
  bool no_body = head_request || r.head.status == 304 || r.head.status == 204 ||
                 (r.head.status >= 100 && r.head.status < 200);
  if (no_body) return r;
  auto cl = r.head.get("content-length");
  if (!cl) {
    // Until the connection closes.
    while (true) {
      long n = fill(left(deadline));
      if (n == 0 || n == -2) break;
      if (n == -1 && left(deadline) == 0ms) return std::nullopt;
      progress(n);
    }
    r.body = std::move(pending_);
    pending_.clear();
    return r;
  }
  std::size_t length = std::strtoull(cl->c_str(), nullptr, 10);
  while (pending_.size() < length) {
    long n = fill(left(deadline), std::min<std::size_t>(length - pending_.size(), 1 << 20));
    if (n <= 0) {
      if (n == -1 && left(deadline) > 0ms) continue;
      return std::nullopt;
    }
    progress(n);
  }
  r.body = pending_.substr(0, length);
  pending_.erase(0, length);
  return r;
}

bool client::read_to_close(std::chrono::milliseconds timeout) {
  auto deadline = clock::now() + timeout;
  while (true) {
    long n = fill(left(deadline), 1 << 20);
    if (n == 0 || n == -2) return true;
    if (n == -1 && left(deadline) == 0ms) return false;
    if (n > 0) deadline = clock::now() + timeout;  // a slow transfer is no failure
  }
}

bool client::closed_within(std::chrono::milliseconds timeout) {
  return read_to_close(timeout);
}

std::optional<client::response> exchange(const std::string& host, int port,
                                         std::string_view request, bool head_request,
                                         std::chrono::milliseconds timeout) {
  auto c = client::connect(host, port);
  if (!c) return std::nullopt;
  if (!c->send(request)) return std::nullopt;
  if (!c->read_to_close(timeout)) return std::nullopt;
  auto& p = c->pending();
  auto end = p.find("\r\n\r\n");
  if (end == std::string::npos) return std::nullopt;
  auto head = parse_head(std::string_view(p).substr(0, end + 4));
  if (!head) return std::nullopt;
  client::response r;
  r.head = std::move(*head);
  r.body = head_request ? std::string() : p.substr(end + 4);
  if (head_request && end + 4 != p.size()) {
    r.body = p.substr(end + 4);  // bytes after a HEAD response: reported to the caller
  }
  return r;
}

std::string simple_request(std::string_view method, std::string_view path,
                           std::string_view extra_fields, bool close) {
  std::string r;
  r += method;
  r += " ";
  r += path;
  r += " HTTP/1.1\r\nHost: localhost\r\n";
  r += extra_fields;
  if (close) r += "Connection: close\r\n";
  r += "\r\n";
  return r;
}

std::string http_date(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
                tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string http_date_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return http_date(st.st_mtim.tv_sec);
}

std::string nginx_etag(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  char buf[64];
  std::snprintf(buf, sizeof buf, "\"%llx-%llx\"",
                static_cast<unsigned long long>(st.st_mtim.tv_sec),
                static_cast<unsigned long long>(st.st_size));
  return buf;
}

}  // namespace zcopy::test
