#include <fmt/chrono.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include "server/server.hpp"

namespace switchboard::server {
namespace {

// One JSON object per line; the message is escaped properly (a pattern cannot do that).
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto seconds = std::chrono::time_point_cast<std::chrono::milliseconds>(msg.time);
    const std::string line = fmt::format(
        "{{\"time\":\"{:%Y-%m-%dT%H:%M:%S}Z\",\"level\":\"{}\",\"thread\":{},\"msg\":{}}}\n",
        fmt::gmtime(std::chrono::system_clock::to_time_t(seconds)),
        spdlog::level::to_string_view(msg.level), msg.thread_id,
        boost::json::serialize(
            boost::json::string(std::string_view(msg.payload.data(), msg.payload.size()))));
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

bool configure_logging(const std::string& level, const std::string& format) {
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") return false;
  auto logger = std::make_shared<spdlog::logger>("switchboard",
                                                 std::make_shared<spdlog::sinks::stdout_sink_mt>());
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else if (format == "text") {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  } else {
    return false;
  }
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  return true;
}

}  // namespace switchboard::server
