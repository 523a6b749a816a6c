#include "hybrid/http_messages.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace switchboard::hybrid {
namespace {
namespace json = boost::json;

core::RequestHead head_with(std::vector<core::Header> headers) {
  core::RequestHead head;
  head.method = "POST";
  head.target = "/hc1/x";
  head.headers = std::move(headers);
  return head;
}

std::string value_of(const json::object& headers, std::string_view name) {
  const auto* value = headers.if_contains(name);
  return value ? std::string(value->as_string()) : std::string("<absent>");
}

TEST(RequestHeaders, HopByHopTokenAndTargetingHeadersAreRemoved) {
  const auto headers =
      request_headers_of(head_with({{"Host", "relay:9080"},
                                    {"Connection", "keep-alive, X-Hop"},
                                    {"X-Hop", "gone"},
                                    {"Keep-Alive", "timeout=5"},
                                    {"Content-Length", "10"},
                                    {"Transfer-Encoding", "chunked"},
                                    {"TE", "trailers"},
                                    {"Trailer", "X-T"},
                                    {"Upgrade", "h2c"},
                                    {"Proxy-Connection", "keep-alive"},
                                    {"Close", "x"},
                                    {"Expect", "100-continue"},
                                    {"ServiceBusAuthorization", "SharedAccessSignature sr=..."},
                                    {"Microsoft-Relay-AllowedListeners", "a"},
                                    {"microsoft-relay-disallowedlisteners", "b"},
                                    {"Authorization", "Bearer keep-me"},
                                    {"Via", "1.0 upstream"},
                                    {"Content-Type", "application/json"}}),
                         /*authorization_consumed=*/false);
  EXPECT_EQ(headers.size(), 3u) << json::serialize(headers);
  EXPECT_EQ(value_of(headers, "Authorization"), "Bearer keep-me");
  EXPECT_EQ(value_of(headers, "Via"), "1.0 upstream") << "the sender's Via is forwarded unchanged";
  EXPECT_EQ(value_of(headers, "Content-Type"), "application/json");
}

TEST(RequestHeaders, AuthorizationIsRemovedWhenItWasTheToken) {
  const auto headers =
      request_headers_of(head_with({{"Authorization", "SharedAccessSignature sr=x"}}), true);
  EXPECT_TRUE(headers.empty()) << json::serialize(headers);
}

TEST(RequestHeaders, RepeatedNamesAreJoinedUnderTheFirstSpellingAndLatin1BecomesUtf8) {
  const auto headers = request_headers_of(
      head_with(
          {{"X-Multi", "requestValue1"}, {"x-multi", "requestValue2"}, {"X-Latin", "caf\xE9"}}),
      false);
  EXPECT_EQ(value_of(headers, "X-Multi"), "requestValue1, requestValue2");
  EXPECT_FALSE(headers.contains("x-multi"));
  EXPECT_EQ(value_of(headers, "X-Latin"), "caf\xC3\xA9");
}

TEST(RequestTarget, KeepsThePathAndFiltersTheQuery) {
  EXPECT_EQ(request_target_of("/hc1/api/x?a=1"), "/hc1/api/x?a=1");
  EXPECT_EQ(request_target_of("/hc1/Orders/%2F42?sb-hc-token=abc&a=1&sb-hc-id=7"),
            "/hc1/Orders/%2F42?a=1");
  EXPECT_EQ(request_target_of("/hc1?sb-hc-token=abc"), "/hc1") << "no bare '?'";
  EXPECT_EQ(request_target_of("/hc1?&&&"), "/hc1?&&&");
  EXPECT_EQ(request_target_of("/hc1?a=1&a=2&"), "/hc1?a=1&a=2&");
  EXPECT_EQ(request_target_of("/hc1?%2f%3a%3d%26"), "/hc1?%2f%3a%3d%26");
  EXPECT_EQ(request_target_of("/hc1?sb-hc-undefined"), "/hc1?sb-hc-undefined");
  EXPECT_EQ(request_target_of("/hc1?sb-hc-whatever=&foo=bar"), "/hc1?foo=bar");
}

TEST(RequestTarget, AbsoluteFormIsReducedToOriginForm) {
  EXPECT_EQ(request_target_of("http://relay.example.com:9080/hc1/x?y=1"), "/hc1/x?y=1");
  EXPECT_EQ(request_target_of("https://relay.example.com"), "/");
  EXPECT_EQ(request_target_of("*"), "");
  EXPECT_EQ(request_path_of("http://relay.example.com/hc1/x?y=1").value_or("?"), "hc1/x");
  EXPECT_EQ(request_path_of("/hc1").value_or("?"), "hc1");
  EXPECT_FALSE(request_path_of("*"));
}

ResponseParse parse(std::string_view text, ResponseHead& head) {
  return parse_response(json::parse(text).as_object(), head);
}

TEST(ResponseParsing, AcceptsNumericAndStringStatusCodes) {
  ResponseHead head;
  ASSERT_EQ(parse(R"({"response":{"requestId":"r1","statusCode":201,"body":true}})", head),
            ResponseParse::kOk);
  EXPECT_EQ(head.request_id, "r1");
  EXPECT_EQ(head.status, 201);
  EXPECT_TRUE(head.body);
  EXPECT_TRUE(head.description.empty()) << "absent: the standard phrase is used";
  ResponseHead text;
  ASSERT_EQ(parse(R"({"response":{"requestId":"r2","statusCode":"404",
                     "statusDescription":"Not\r\nHere"}})",
                  text),
            ResponseParse::kOk);
  EXPECT_EQ(text.status, 404);
  EXPECT_EQ(text.description, "NotHere") << "CR/LF removed";
  EXPECT_FALSE(text.body) << "absent body means false";
}

TEST(ResponseParsing, HeadersTakeStringsNumbersAndBooleans) {
  ResponseHead head;
  ASSERT_EQ(parse(R"({"response":{"requestId":"r","statusCode":200,"responseHeaders":
                     {"content-type":"text/plain","x-n":5,"x-b":true,"x-o":{"a":1}},
                     "statusDescription":null}})",
                  head),
            ResponseParse::kOk);
  ASSERT_EQ(head.headers.size(), 3u);
  EXPECT_EQ(head.headers[1].value, "5");
  EXPECT_EQ(head.headers[2].value, "true");
}

TEST(ResponseParsing, RejectsUnusableStatusAndBody) {
  for (const char* bad :
       {R"({"response":{"requestId":"r","statusCode":99}})",
        R"({"response":{"requestId":"r","statusCode":1000}})",
        R"({"response":{"requestId":"r","statusCode":"2xx"}})",
        R"({"response":{"requestId":"r","statusCode":200.5}})", R"({"response":{"requestId":"r"}})",
        R"({"response":{"requestId":"r","statusCode":200,"body":"yes"}})"}) {
    ResponseHead head;
    EXPECT_EQ(parse(bad, head), ResponseParse::kInvalid) << bad;
    EXPECT_EQ(head.request_id, "r") << "the request can still be failed: " << bad;
  }
  ResponseHead head;
  EXPECT_EQ(parse(R"({"response":{"statusCode":200}})", head), ResponseParse::kNoRequestId);
  EXPECT_EQ(parse(R"({"renewToken":{"token":"x"}})", head), ResponseParse::kNotResponse);
}

TEST(SenderResponseHeaders, DropsHopByHopAndInvalidEntriesAppendsViaAddsDate) {
  const auto headers = sender_response_headers({{"content-type", "text/plain"},
                                                {"Content-Length", "3"},
                                                {"Transfer-Encoding", "chunked"},
                                                {"Connection", "close"},
                                                {"bad name", "x"},
                                                {"X-Split", "a\r\nInjected: yes"},
                                                {"Via", "1.0 backend"}},
                                               "relay.example.com");
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0].name, "content-type");
  EXPECT_EQ(headers[1].name, "Via");
  EXPECT_EQ(headers[1].value, "1.0 backend, 1.1 relay.example.com");
  EXPECT_EQ(headers[2].name, "Date");
  const auto plain = sender_response_headers({{"Date", "Tue, 01 Dec 2026 00:00:00 GMT"}}, "h");
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_EQ(plain[1].name, "Via");
  EXPECT_EQ(plain[1].value, "1.1 h");
}

TEST(BodilessResponses, HeadInformationalNoContentAndNotModified) {
  EXPECT_TRUE(bodiless_response("HEAD", 200));
  EXPECT_TRUE(bodiless_response("GET", 204));
  EXPECT_TRUE(bodiless_response("GET", 304));
  EXPECT_TRUE(bodiless_response("GET", 101));
  EXPECT_FALSE(bodiless_response("GET", 200));
  EXPECT_FALSE(bodiless_response("POST", 502));
}

}  // namespace
}  // namespace switchboard::hybrid
