#include <duplex/net/metrics.hpp>

#include <cmath>
#include <cstdio>

namespace duplex {

namespace {

void family(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, double v) {
  char num[64];
  if (std::isnan(v))
    std::snprintf(num, sizeof num, "NaN");
  else if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(num, sizeof num, "%.0f", v);
  else
    std::snprintf(num, sizeof num, "%.9g", v);
  out.append(name).append(" ").append(num).append("\n");
}

// name{label="value"}, the value escaped (text format 0.0.4).
std::string labelled(std::string_view name, std::string_view label, std::string_view value) {
  std::string n;
  n.reserve(name.size() + label.size() + value.size() + 5);
  n.append(name).append("{").append(label).append("=\"");
  for (char c : value) {
    if (c == '\\') n += "\\\\";
    else if (c == '"') n += "\\\"";
    else if (c == '\n') n += "\\n";
    else n += c;
  }
  return n.append("\"}");
}

void one(std::string& out, std::string_view name, std::string_view help, std::string_view type, double v) {
  family(out, name, help, type);
  sample(out, name, v);
}

}  // namespace

void metrics::gauge(std::string name, std::string help, std::function<double()> value) {
  gauges_.push_back({std::move(name), std::move(help), std::move(value), "gauge"});
}

void metrics::counter(std::string name, std::string help, std::function<double()> value) {
  gauges_.push_back({std::move(name), std::move(help), std::move(value), "counter"});
}

void metrics::counter_family(std::string name, std::string help, std::string label,
                             std::function<samples()> values) {
  gauges_.push_back({std::move(name), std::move(help), {}, "counter", std::move(label), std::move(values)});
}

std::string metrics::render(const server_stats& s) const {
  std::string out;
  out.reserve(2048);
  one(out, "duplex_connections", "Open WebSocket connections.", "gauge", double(s.connections));
  one(out, "duplex_connections_opened_total", "WebSocket connections opened.", "counter", double(s.opened));
  one(out, "duplex_messages_received_total", "WebSocket messages received.", "counter", double(s.messages_in));
  one(out, "duplex_messages_sent_total", "WebSocket messages queued for sending.", "counter", double(s.messages_out));
  one(out, "duplex_received_bytes_total", "Bytes read from WebSocket connections (after TLS).", "counter",
      double(s.bytes_in));
  one(out, "duplex_sent_bytes_total", "Bytes written to WebSocket connections (before TLS).", "counter",
      double(s.bytes_out));
  one(out, "duplex_slow_consumer_closes_total", "Connections closed because their send queue overflowed.", "counter",
      double(s.slow_consumer_closes));
  one(out, "duplex_rate_limited_messages_total", "Received messages refused by the per-connection rate limit.",
      "counter", double(s.rate_limited));
  one(out, "duplex_rate_limit_closes_total", "Connections closed for sending over the rate limit.", "counter",
      double(s.rate_limit_closes));
  family(out, "duplex_closes_total", "WebSocket connections closed, by close code.", "counter");
  for (const auto& [code, n] : s.closes_by_code) sample(out, labelled("duplex_closes_total", "code", code), double(n));
  family(out, "duplex_http_refused_total",
         "Connections refused before the upgrade (429 with Retry-After; TLS ones closed before the TLS handshake) by "
         "the per-IP limits, by reason.",
         "counter");
  sample(out, labelled("duplex_http_refused_total", "reason", "per_ip_connections"),
         double(s.refused_per_ip_connections));
  sample(out, labelled("duplex_http_refused_total", "reason", "per_ip_handshake_rate"),
         double(s.refused_per_ip_handshake_rate));
  for (const auto& g : gauges_) {
    if (!g.values) {
      one(out, g.name, g.help, g.type, g.value());
      continue;
    }
    family(out, g.name, g.help, g.type);
    for (const auto& [value, n] : g.values()) sample(out, labelled(g.name, g.label, value), n);
  }
  return out;
}

}  // namespace duplex
