// discard_client: an HTTP/1.1 load client for large bodies that never copies them. Each of its
// keep-alive connections sends GET PATH, reads the response head, and drops the body in the
// kernel with recv(MSG_TRUNC), so the client's CPU is not what limits a server that moves
// gigabytes per second (wrk reads every body through an 8 KiB buffer, about 1.4 GB/s here).
//
//   discard_client HOST PORT PATH CONNECTIONS SECONDS
//
// Prints one line: "requests N bytes N seconds S errors N". A response that is not a 200 with a
// Content-Length, or a connection that closes early, counts as an error and the connection is
// opened again. Bounded: it stops after SECONDS whatever the server does.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { max_connections = 256, head_capacity = 8192 };

struct connection {
  int fd;
  char head[head_capacity];
  size_t head_len;
  long long body_left;  // -1 while the head is being read
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct sockaddr_in server;
static char request[1024];
static size_t request_len;

static int send_request(struct connection* c) {
  size_t off = 0;
  while (off < request_len) {
    ssize_t w = send(c->fd, request + off, request_len - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {  // a fresh socket's buffer always takes a small request
      struct pollfd p = {c->fd, POLLOUT, 0};
      poll(&p, 1, 1000);
      continue;
    }
    if (w <= 0) return -1;
    off += (size_t)w;
  }
  c->head_len = 0;
  c->body_left = -1;
  return 0;
}

static int open_connection(struct connection* c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (struct sockaddr*)&server, sizeof server) < 0 && errno != EINPROGRESS) {
    return -1;
  }
  struct pollfd p = {c->fd, POLLOUT, 0};
  if (poll(&p, 1, 5000) != 1 || (p.revents & (POLLERR | POLLHUP))) return -1;
  return send_request(c);
}

// The head is complete in c->head: checks the status and takes the Content-Length. Returns the
// body bytes that arrived with the head, or -1.
static long long parse_head(struct connection* c, size_t head_end) {
  if (strncmp(c->head, "HTTP/1.1 200 ", 13) != 0) return -1;
  c->head[head_end] = '\0';
  const char* p = c->head;
  long long length = -1;
  while ((p = strstr(p, "\r\n")) != NULL) {
    p += 2;
    if (strncasecmp(p, "Content-Length:", 15) == 0) length = strtoll(p + 15, NULL, 10);
  }
  return length;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: discard_client HOST PORT PATH CONNECTIONS SECONDS\n");
    return 2;
  }
  server.sin_family = AF_INET;
  server.sin_port = htons((unsigned short)atoi(argv[2]));
  if (inet_pton(AF_INET, argv[1], &server.sin_addr) != 1) {
    fprintf(stderr, "discard_client: %s is not an IPv4 address\n", argv[1]);
    return 2;
  }
  request_len = (size_t)snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                                 argv[3], argv[1]);
  int n = atoi(argv[4]);
  const double seconds = atof(argv[5]);
  if (n < 1 || n > max_connections || seconds <= 0 || request_len >= sizeof request) {
    fprintf(stderr, "discard_client: 1-%d connections, a positive duration, a short path\n",
            max_connections);
    return 2;
  }

  static struct connection conns[max_connections];
  struct pollfd fds[max_connections];
  long long requests = 0, bytes = 0, errors = 0;
  for (int i = 0; i < n; ++i) {
    if (open_connection(&conns[i]) < 0) {
      fprintf(stderr, "discard_client: cannot connect: %s\n", strerror(errno));
      return 1;
    }
  }
  const double start = now();
  const double end = start + seconds;
  while (now() < end) {
    for (int i = 0; i < n; ++i) fds[i] = (struct pollfd){conns[i].fd, POLLIN, 0};
    int ready = poll(fds, (nfds_t)n, 100);
    if (ready < 0 && errno != EINTR) return 1;
    for (int i = 0; i < n && ready > 0; ++i) {
      if (!fds[i].revents) continue;
      struct connection* c = &conns[i];
      int failed = 0;
      if (c->body_left < 0) {
        ssize_t r = recv(c->fd, c->head + c->head_len, head_capacity - 1 - c->head_len, 0);
        if (r <= 0) {
          failed = !(r < 0 && (errno == EAGAIN || errno == EINTR));
        } else {
          c->head_len += (size_t)r;
          c->head[c->head_len] = '\0';
          char* end_of_head = strstr(c->head, "\r\n\r\n");
          if (end_of_head) {
            const size_t head_end = (size_t)(end_of_head - c->head) + 4;
            const long long length = parse_head(c, head_end);
            const long long early = (long long)(c->head_len - head_end);
            if (length < 0 || early > length) {
              failed = 1;
            } else {
              c->body_left = length - early;
              bytes += early;
            }
          } else if (c->head_len >= head_capacity - 1) {
            failed = 1;
          }
        }
      } else if (c->body_left > 0) {
        char sink;
        // MSG_TRUNC on TCP: the bytes are dropped in the kernel, none copied to `sink`.
        ssize_t r = recv(c->fd, &sink, (size_t)c->body_left, MSG_TRUNC);
        if (r > 0) {
          c->body_left -= r;
          bytes += r;
        } else {
          failed = !(r < 0 && (errno == EAGAIN || errno == EINTR));
        }
      }
      if (!failed && c->body_left == 0) {
        ++requests;
        failed = send_request(c) < 0;
      }
      if (failed) {
        ++errors;
        close(c->fd);
        if (open_connection(c) < 0) {
          fprintf(stderr, "discard_client: cannot reconnect: %s\n", strerror(errno));
          return 1;
        }
      }
    }
  }
  printf("requests %lld bytes %lld seconds %.3f errors %lld\n", requests, bytes, now() - start,
         errors);
  return 0;
}
