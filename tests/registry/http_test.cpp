// The registry client's pure helpers: WWW-Authenticate challenges as registries send them,
// query encoding, which curl failures are worth a retry, and which hosts count as loopback.
#include "../../src/registry/http.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "cairn/registry/registry.hpp"

namespace cairn::registry {
namespace {

using Params = std::map<std::string, std::string>;

// --- parse_challenges -------------------------------------------------------------------

TEST(ParseChallenges, DockerHubBearer) {
  const auto c = parse_challenges(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:library/busybox:pull")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params, (Params{{"realm", "https://auth.docker.io/token"},
                                 {"service", "registry.docker.io"},
                                 {"scope", "repository:library/busybox:pull"}}));
}

TEST(ParseChallenges, BasicWithASpaceInTheRealm) {
  const auto c = parse_challenges(R"(Basic realm="Registry Realm")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_EQ(c[0].params, (Params{{"realm", "Registry Realm"}}));
}

TEST(ParseChallenges, SchemeAndParameterNamesAreLowerCasedValuesAreNot) {
  const auto c = parse_challenges(R"(BEARER Realm="https://Auth.Example/Token",SERVICE=Reg)");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params, (Params{{"realm", "https://Auth.Example/Token"}, {"service", "Reg"}}));
}

TEST(ParseChallenges, SpacesAfterCommasAndUnquotedValues) {
  const auto c = parse_challenges(
      "Bearer realm=https://quay.io/v2/auth, service=quay.io,\tscope=repository:a/b:pull");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].params, (Params{{"realm", "https://quay.io/v2/auth"},
                                 {"service", "quay.io"},
                                 {"scope", "repository:a/b:pull"}}));
}

TEST(ParseChallenges, SeveralChallengesInOneHeader) {
  const auto c = parse_challenges(
      R"(Basic realm="simple", Bearer realm="https://auth.example.com/token",)"
      R"(service="registry.example.com")");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_EQ(c[0].params, (Params{{"realm", "simple"}}));
  EXPECT_EQ(c[1].scheme, "bearer");
  EXPECT_EQ(c[1].params, (Params{{"realm", "https://auth.example.com/token"},
                                 {"service", "registry.example.com"}}));
}

TEST(ParseChallenges, Rfc7235Example) {
  // RFC 7235 section 4.1: quoted commas, an escaped quote, an unquoted number.
  const auto c = parse_challenges(
      R"(Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple")");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "newauth");
  EXPECT_EQ(c[0].params,
            (Params{{"realm", "apps"}, {"type", "1"}, {"title", "Login to \"apps\""}}));
  EXPECT_EQ(c[1].scheme, "basic");
  EXPECT_EQ(c[1].params, (Params{{"realm", "simple"}}));
}

TEST(ParseChallenges, QuotedCommasAndEqualsSignsStayInTheValue) {
  const auto c = parse_challenges(
      R"(Bearer realm="https://a.example/token?x=1,y=2",scope="repository:a:pull,push",)"
      R"(error="insufficient_scope")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].params, (Params{{"realm", "https://a.example/token?x=1,y=2"},
                                 {"scope", "repository:a:pull,push"},
                                 {"error", "insufficient_scope"}}));
}

TEST(ParseChallenges, EscapedBackslashAndQuote) {
  const auto c = parse_challenges(R"(Basic realm="a\\b \"c\"")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].params.at("realm"), R"(a\b "c")");
}

TEST(ParseChallenges, SchemeWithoutParameters) {
  auto c = parse_challenges("Basic");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_TRUE(c[0].params.empty());

  c = parse_challenges("Negotiate, Basic realm=\"r\"");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[1].scheme, "basic");
  EXPECT_EQ(c[1].params.at("realm"), "r");
}

TEST(ParseChallenges, EmptyAndBlankHeadersHaveNoChallenges) {
  EXPECT_TRUE(parse_challenges("").empty());
  EXPECT_TRUE(parse_challenges("  \t ").empty());
  EXPECT_TRUE(parse_challenges(" , ").empty());
}

TEST(ParseChallenges, UnterminatedQuoteKeepsWhatThereIs) {
  const auto c = parse_challenges(R"(Bearer realm="https://auth.example/tok)");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].params.at("realm"), "https://auth.example/tok");
}

// --- url_encode -------------------------------------------------------------------------

TEST(UrlEncode, UnreservedCharactersPassOthersAreEscaped) {
  EXPECT_EQ(url_encode(""), "");
  EXPECT_EQ(url_encode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(url_encode("repository:library/busybox:pull"),
            "repository%3Alibrary%2Fbusybox%3Apull");
  EXPECT_EQ(url_encode("registry.docker.io"), "registry.docker.io");
  EXPECT_EQ(url_encode("a b+c&d=e?f#g%"), "a%20b%2Bc%26d%3De%3Ff%23g%25");
  EXPECT_EQ(url_encode("é"), "%C3%A9");
  EXPECT_EQ(url_encode(std::string("\0\x7f\xff", 3)), "%00%7F%FF");
}

// --- curl error classes -----------------------------------------------------------------

TEST(TransportErrors, ConnectionFailuresAndTimeoutsAreTransient) {
  for (CURLcode code : {CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, CURLE_PARTIAL_FILE,
                        CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING,
                        CURLE_COULDNT_RESOLVE_HOST})
    EXPECT_TRUE(is_transient_transport_error(code)) << curl_easy_strerror(code);
}

TEST(TransportErrors, TlsAndUrlProblemsAreNotTransient) {
  for (CURLcode code : {CURLE_OK, CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL,
                        CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CONNECT_ERROR,
                        CURLE_SSL_CACERT_BADFILE, CURLE_WRITE_ERROR, CURLE_ABORTED_BY_CALLBACK,
                        CURLE_TOO_MANY_REDIRECTS})
    EXPECT_FALSE(is_transient_transport_error(code)) << curl_easy_strerror(code);
}

TEST(TransportErrors, TlsErrors) {
  for (CURLcode code : {CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION,
                        CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM, CURLE_SSL_ISSUER_ERROR})
    EXPECT_TRUE(is_tls_error(code)) << curl_easy_strerror(code);
  for (CURLcode code : {CURLE_OK, CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT,
                        CURLE_RECV_ERROR, CURLE_URL_MALFORMAT})
    EXPECT_FALSE(is_tls_error(code)) << curl_easy_strerror(code);
}

TEST(TransportErrors, ConnectErrors) {
  EXPECT_TRUE(is_connect_error(CURLE_COULDNT_CONNECT));
  EXPECT_TRUE(is_connect_error(CURLE_COULDNT_RESOLVE_HOST));
  EXPECT_FALSE(is_connect_error(CURLE_OPERATION_TIMEDOUT));
  EXPECT_FALSE(is_connect_error(CURLE_PEER_FAILED_VERIFICATION));
  EXPECT_FALSE(is_connect_error(CURLE_OK));
}

// --- HttpResponse -----------------------------------------------------------------------

TEST(HttpResponse, OkNeedsA2xxAndNoTransportError) {
  HttpResponse r;
  r.status = 200;
  EXPECT_TRUE(r.ok());
  r.status = 204;
  EXPECT_TRUE(r.ok());
  r.status = 299;
  EXPECT_TRUE(r.ok());
  r.status = 300;
  EXPECT_FALSE(r.ok());
  r.status = 199;
  EXPECT_FALSE(r.ok());
  r.status = 200;
  r.transport_error = CURLE_PARTIAL_FILE;
  EXPECT_FALSE(r.ok());
}

TEST(HttpResponse, HeaderLooksUpLowerCasedNamesAndDefaultsToEmpty) {
  HttpResponse r;
  r.headers["docker-content-digest"] = "sha256:abc";
  EXPECT_EQ(r.header("docker-content-digest"), "sha256:abc");
  EXPECT_EQ(r.header("location"), "");
}

// --- hosts ------------------------------------------------------------------------------

TEST(ApiHost, DockerHubsApiLivesElsewhere) {
  EXPECT_EQ(api_host("docker.io"), "registry-1.docker.io");
  EXPECT_EQ(api_host("quay.io"), "quay.io");
  EXPECT_EQ(api_host("localhost:5000"), "localhost:5000");
  EXPECT_EQ(api_host("index.docker.io"), "index.docker.io");
}

TEST(LoopbackHost, LocalhostAndLoopbackAddresses) {
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("localhost:5000"));
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.0.0.1:5000"));
  EXPECT_TRUE(is_loopback_host("127.1.2.3:443"));
  EXPECT_TRUE(is_loopback_host("[::1]:5000"));
  EXPECT_TRUE(is_loopback_host("[::1]"));
}

TEST(LoopbackHost, OtherHostsAreNot) {
  EXPECT_FALSE(is_loopback_host("quay.io"));
  EXPECT_FALSE(is_loopback_host("docker.io"));
  EXPECT_FALSE(is_loopback_host("127example.com"));
  EXPECT_FALSE(is_loopback_host("localhost.example.com"));
  EXPECT_FALSE(is_loopback_host("mylocalhost:5000"));
  EXPECT_FALSE(is_loopback_host("128.0.0.1:5000"));
  EXPECT_FALSE(is_loopback_host("10.0.0.1"));
  EXPECT_FALSE(is_loopback_host("[::2]:5000"));
  EXPECT_FALSE(is_loopback_host("[fe80::1]:5000"));
  EXPECT_FALSE(is_loopback_host(""));
}

// A DNS name that merely starts with "127." is not a loopback address (docker parses the
// host as an IP). is_loopback_host takes it for one — see the report; enable after the fix.
TEST(LoopbackHost, DnsNamesStartingWith127AreNotLoopback) {
  EXPECT_FALSE(is_loopback_host("127.example.com"));
  EXPECT_FALSE(is_loopback_host("127.0.0.1.nip.io:5000"));
  EXPECT_FALSE(is_loopback_host("127.attacker.example:443"));
}

}  // namespace
}  // namespace cairn::registry
