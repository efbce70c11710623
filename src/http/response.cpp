#include "http/response.hpp"

#include "http/date.hpp"

namespace zcopy::http {

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 200:
      return "OK";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";  // RFC 9110 §15.5.14 (was "Payload Too Large")
    case 414:
      return "URI Too Long";
    case 416:
      return "Range Not Satisfiable";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string build_head(const head_fields& f) {
  std::string out;
  out.reserve(256);
  out += "HTTP/1.1 ";
  out += std::to_string(f.status);
  out += ' ';
  out += reason_phrase(f.status);
  out += "\r\nServer: zcopy\r\nDate: ";
  append_http_date(out, f.date);
  out += "\r\n";
  if (!f.content_type.empty()) {
    out += "Content-Type: ";
    out += f.content_type;
    out += "\r\n";
  }
  if (f.content_length) {
    out += "Content-Length: ";
    out += std::to_string(*f.content_length);
    out += "\r\n";
  }
  if (f.last_modified) {
    out += "Last-Modified: ";
    append_http_date(out, *f.last_modified);
    out += "\r\n";
  }
  if (!f.etag.empty()) {
    out += "ETag: ";
    out += f.etag;
    out += "\r\n";
  }
  if (!f.content_range.empty()) {
    out += "Content-Range: ";
    out += f.content_range;
    out += "\r\n";
  }
  if (f.accept_ranges) out += "Accept-Ranges: bytes\r\n";
  if (!f.allow.empty()) {
    out += "Allow: ";
    out += f.allow;
    out += "\r\n";
  }
  if (!f.location.empty()) {
    out += "Location: ";
    out += f.location;
    out += "\r\n";
  }
  out += f.close ? "Connection: close\r\n" : "Connection: keep-alive\r\n";
  out += "\r\n";
  return out;
}

std::string error_body(int status) {
  std::string title = std::to_string(status);
  title += ' ';
  title += reason_phrase(status);
  std::string out = "<html>\r\n<head><title>";
  out += title;
  out += "</title></head>\r\n<body>\r\n<center><h1>";
  out += title;
  out += "</h1></center>\r\n<hr><center>zcopy</center>\r\n</body>\r\n</html>\r\n";
  return out;
}

}  // namespace zcopy::http
