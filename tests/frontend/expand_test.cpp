#include "cairn/frontend/expand.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

namespace cairn::frontend {
namespace {

using Words = std::vector<std::string>;

const VarLookup& env() {
  static const VarLookup lookup = lookup_in({{"PWD", "/home"},
                                             {"SHELL", "bash"},
                                             {"NULL", ""},
                                             {"V", "/usr/local/bin"},
                                             {"SPACED", "  a  b "},
                                             {"STAR", "*"},
                                             {"KOREAN", "한국어"},
                                             {"변수", "value"}});
  return lookup;
}

std::string expand(std::string_view text, char escape = '\\') {
  return Expander(escape).word(text, env());
}

Words split(std::string_view text, char escape = '\\') {
  return Expander(escape).words(text, env());
}

// Expands `text` expecting an ExpandError; returns it so tests can look at the details.
ExpandError expand_error(std::string_view text, const Expander& expander = Expander()) {
  try {
    const std::string result = expander.word(text, env());
    ADD_FAILURE() << "expected an error for '" << text << "', got '" << result << "'";
  } catch (const ExpandError& error) {
    return error;
  }
  return ExpandError("", 0);
}

// --- quotes and escapes -----------------------------------------------------------------

TEST(ExpandWord, QuotesAreRemovedAndGroup) {
  EXPECT_EQ(expand("he'll'o"), "hello");
  EXPECT_EQ(expand("'$PWD \\x'"), "$PWD \\x");
  EXPECT_EQ(expand("\"$PWD 'x'\""), "/home 'x'");
  EXPECT_EQ(expand("a  b"), "a  b");
}

TEST(ExpandWord, UnquotedEscapeMakesTheNextCharacterLiteral) {
  EXPECT_EQ(expand("\\$PWD"), "$PWD");
  EXPECT_EQ(expand("a\\tb"), "atb");
  EXPECT_EQ(expand("\\'x"), "'x");
  EXPECT_EQ(expand("trailing\\"), "trailing");
  EXPECT_EQ(expand("\\한x"), "한x");
}

TEST(ExpandWord, EscapeInDoubleQuotesOnlyEscapesQuoteDollarAndItself) {
  EXPECT_EQ(expand(R"("a\"b")"), "a\"b");
  EXPECT_EQ(expand(R"("\$PWD")"), "$PWD");
  EXPECT_EQ(expand(R"("a\\b")"), "a\\b");
  EXPECT_EQ(expand(R"("a\tb")"), "a\\tb");
}

TEST(ExpandWord, UnterminatedQuotesAreErrorsAtTheOpeningQuote) {
  ExpandError single = expand_error("ab'cd");
  EXPECT_STREQ(single.what(), "unterminated single quote");
  EXPECT_EQ(single.offset(), 2u);

  ExpandError double_quote = expand_error(R"(x"abc\")");
  EXPECT_STREQ(double_quote.what(), "unterminated double quote");
  EXPECT_EQ(double_quote.offset(), 1u);
}

TEST(ExpandWord, InvalidUtf8PassesThroughUnchanged) {
  const std::string bytes = "a\xff\xc3(b\xe2\x82";
  EXPECT_EQ(expand(bytes), bytes);
}

// --- parameters ---------------------------------------------------------------------------

TEST(ExpandWord, SimpleVariables) {
  EXPECT_EQ(expand("$PWD/x"), "/home/x");
  EXPECT_EQ(expand("${PWD}x"), "/homex");
  EXPECT_EQ(expand("a$UNSET.b"), "a.b");
  EXPECT_EQ(expand("a${NULL}b"), "ab");
  EXPECT_EQ(expand("$PWD$SHELL"), "/homebash");
}

TEST(ExpandWord, DollarThatStartsNothingIsLiteral) {
  EXPECT_EQ(expand("$"), "$");
  EXPECT_EQ(expand("$."), "$.");
  EXPECT_EQ(expand("a$ b"), "a$ b");
  EXPECT_EQ(expand("$'x'"), "$x");
}

TEST(ExpandWord, PositionalAndSpecialParametersAreAlwaysUnset) {
  EXPECT_EQ(expand("$1x"), "x");
  EXPECT_EQ(expand("$999aaa"), "aaa");
  EXPECT_EQ(expand("$@@@"), "@@");
  EXPECT_EQ(expand("${#:-none}"), "none");
  EXPECT_EQ(expand("${0-zero}"), "zero");
  EXPECT_EQ(expand("${$:+set}"), "");
}

TEST(ExpandWord, UnicodeNames) {
  EXPECT_EQ(expand("$KOREAN"), "한국어");
  EXPECT_EQ(expand("$변수"), "value");
  // U+3002 IDEOGRAPHIC FULL STOP is punctuation, so the name ends before it.
  EXPECT_EQ(expand("$KOREAN。"), "한국어。");
}

TEST(ExpandWord, DefaultAndAlternative) {
  EXPECT_EQ(expand("${UNSET:-d}|${NULL:-d}|${PWD:-d}"), "d|d|/home");
  EXPECT_EQ(expand("${UNSET-d}|${NULL-d}|${PWD-d}"), "d||/home");
  EXPECT_EQ(expand("${UNSET:+a}|${NULL:+a}|${PWD:+a}"), "||a");
  EXPECT_EQ(expand("${UNSET+a}|${NULL+a}|${PWD+a}"), "|a|a");
}

TEST(ExpandWord, OperatorWordsAreWordsThemselves) {
  EXPECT_EQ(expand("${UNSET:-${ALSO_UNSET:-$PWD}}"), "/home");
  EXPECT_EQ(expand("${UNSET:-'$PWD'}"), "$PWD");
  EXPECT_EQ(expand("${UNSET:-\\}}x"), "}x");
  EXPECT_EQ(expand("${UNSET:-a b {c}"), "a b {c");
  EXPECT_EQ(expand("${aaa}}"), "}");
}

TEST(ExpandWord, RequiredVariables) {
  EXPECT_EQ(expand("${PWD:?}"), "/home");
  EXPECT_EQ(expand("${NULL?}"), "");

  ExpandError with_message = expand_error("ab${UNSET:?need $SHELL}");
  EXPECT_STREQ(with_message.what(), "UNSET: need bash");
  EXPECT_EQ(with_message.offset(), 2u);

  ExpandError empty = expand_error("${NULL:?}");
  EXPECT_STREQ(empty.what(), "NULL: parameter not set or null");

  ExpandError unset = expand_error("${UNSET?}");
  EXPECT_STREQ(unset.what(), "UNSET: parameter not set or null");
}

TEST(ExpandWord, MalformedSubstitutions) {
  for (const char* text : {"${}", "${:}", "${:-x}", "${{x}", "${.}", "${X=1}", "${X:=0}", "${X:Y}",
                           "${X:#a}", "${PWD.x}"}) {
    const ExpandError error = expand_error(text);
    EXPECT_TRUE(std::string(error.what()).starts_with("bad substitution: ")) << text;
    EXPECT_EQ(error.offset(), 0u) << text;
  }
  EXPECT_STREQ(expand_error("he${XXX:Y}").what(), "bad substitution: ${XXX:Y}");
  EXPECT_EQ(expand_error("he${XXX:Y}").offset(), 2u);
  EXPECT_STREQ(expand_error("${A:-${B}x").what(), "missing '}' in ${...}");
}

TEST(ExpandWord, MissingClosingBrace) {
  for (const char* text : {"${", "${PWD", "${PWD:", "${PWD:-x", "${PWD#x", "${PWD/a/b"}) {
    const ExpandError error = expand_error(text);
    EXPECT_STREQ(error.what(), "missing '}' in ${...}") << text;
    EXPECT_EQ(error.offset(), 0u) << text;
  }
  // The error is reported for the innermost unfinished ${.
  EXPECT_EQ(expand_error("a${X:-${Y").offset(), 6u);
}

// --- pattern operators -------------------------------------------------------------------

TEST(ExpandPattern, RemovePrefixAndSuffix) {
  EXPECT_EQ(expand("${V#*/}"), "usr/local/bin");
  EXPECT_EQ(expand("${V##*/}"), "bin");
  EXPECT_EQ(expand("${V%/*}"), "/usr/local");
  EXPECT_EQ(expand("${V%%/*}"), "");
  EXPECT_EQ(expand("${V#/usr}"), "/local/bin");
  EXPECT_EQ(expand("${V%bin}"), "/usr/local/");
  EXPECT_EQ(expand("${V#nomatch}"), "/usr/local/bin");
  EXPECT_EQ(expand("${V#}|${V##}|${V%}|${V%%}"),
            "/usr/local/bin|/usr/local/bin|/usr/local/bin|/usr/local/bin");
  EXPECT_EQ(expand("${V#*}"), "/usr/local/bin");
  EXPECT_EQ(expand("${V##*}"), "");
}

TEST(ExpandPattern, Replace) {
  EXPECT_EQ(expand("${V/local/X}"), "/usr/X/bin");
  EXPECT_EQ(expand("${V/\\//:}"), ":usr/local/bin");
  EXPECT_EQ(expand("${V//\\//:}"), ":usr:local:bin");
  EXPECT_EQ(expand("${V/l*l/L}"), "/usr/L/bin");
  EXPECT_EQ(expand("${V//[lu]/_}"), "/_sr/_oca_/bin");
  EXPECT_EQ(expand("${V/nomatch/X}"), "/usr/local/bin");
  EXPECT_EQ(expand("${V//o/$SHELL}"), "/usr/lbashcal/bin");
  EXPECT_EQ(expand("${V/local/}"), "/usr//bin");
  EXPECT_EQ(expand("${V///X}"), "/usr/local/bin");      // empty pattern: no change
  EXPECT_EQ(expand("${NULL/*/X}|${UNSET/*/X}"), "X|");  // as bash
  EXPECT_EQ(expand("${V//?/.}"), "..............");
}

TEST(ExpandPattern, ReplacementKeepsEscapesAsBuildkitDoes) {
  EXPECT_EQ(expand("${V/\\//\\\\}"), "\\\\usr/local/bin");
  EXPECT_EQ(expand("${V/\\/usr/'$x'}"), "$x/local/bin");
  EXPECT_EQ(expand("${V/bin/\\}}"), "/usr/local/\\}");
  // BuildKit's own expectation for ${FOO//\//\/} with FOO=/tmp/foo.txt.
  EXPECT_EQ(Expander().word("${FOO//\\//\\/}", lookup_in({{"FOO", "/tmp/foo.txt"}})),
            "\\/tmp\\/foo.txt");
}

TEST(ExpandPattern, ReplaceNeedsTheSecondSlash) {
  const ExpandError error = expand_error("x${V/bin}");
  EXPECT_STREQ(error.what(), "missing '/' in ${...}");
  EXPECT_EQ(error.offset(), 1u);
}

TEST(ExpandPattern, UnsetVariableGivesEmpty) {
  EXPECT_EQ(expand("[${UNSET#*}${UNSET##a}${UNSET%x}${UNSET%%*}${UNSET/a/b}${UNSET//*/b}]"), "[]");
}

TEST(ExpandPattern, BracketExpressions) {
  EXPECT_EQ(expand("${V//[!\\/]/.}"), "/.../...../...");
  EXPECT_EQ(expand("${V//[^a-m]/}"), "lcalbi");
  EXPECT_EQ(expand("${V//[[:alpha:]]/x}"), "/xxx/xxxxx/xxx");
  EXPECT_EQ(expand("${V##[/]usr}"), "/local/bin");
  // ']' first in the set is a member; an unclosed '[' is an ordinary character.
  const VarLookup lookup = lookup_in({{"B", "a]b[c"}});
  EXPECT_EQ(Expander().word("${B//[]]/_}", lookup), "a_b[c");
  EXPECT_EQ(Expander().word("${B/[c/_}", lookup), "a]b_");
}

TEST(ExpandPattern, EscapedAndQuotedCharactersAreLiteral) {
  const VarLookup lookup = lookup_in({{"S", "a***yy*"}, {"Q", "???y"}, {"H", "#x#y"}});
  const Expander expander;
  EXPECT_EQ(expander.word("${S%%\\**\\*}", lookup), "a");
  EXPECT_EQ(expander.word("${Q#?\\?}", lookup), "?y");
  EXPECT_EQ(expander.word("${S#a*y}", lookup), "y*");
  EXPECT_EQ(expander.word("${S#'a*y'}", lookup), "a***yy*");
  EXPECT_EQ(expander.word("${S#\"a*y\"}", lookup), "a***yy*");
  EXPECT_EQ(expander.word("${S#a'*'}", lookup), "**yy*");
  // The doubled operator is read from the source, not from the expanded pattern.
  EXPECT_EQ(expander.word("${H#'#'x}", lookup), "#y");
  EXPECT_EQ(expander.word("${H##*#}", lookup), "y");
}

TEST(ExpandPattern, UnquotedExpansionIsAPattern) {
  EXPECT_EQ(expand("${V#$STAR/}"), "usr/local/bin");
  EXPECT_EQ(expand("${V#\"$STAR\"/}"), "/usr/local/bin");
  const VarLookup lookup = lookup_in({{"F", "/foo*/*/*.txt"}, {"N", "\\*/"}});
  EXPECT_EQ(Expander().word("${F/$N/.} ${F//$N/.}", lookup), "/foo.*/*.txt /foo..*.txt");
}

TEST(ExpandPattern, MatchesWholeCodePoints) {
  EXPECT_EQ(expand("${KOREAN#?}"), "국어");
  EXPECT_EQ(expand("${KOREAN%?}"), "한국");
  EXPECT_EQ(expand("${KOREAN/국/-}"), "한-어");
  EXPECT_EQ(expand("${KOREAN//[가-힣]/x}"), "xxx");
}

TEST(ExpandPattern, LongValuesStayFast) {
  const VarLookup lookup = lookup_in({{"LONG", std::string(5000, 'a') + "b"}});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Expander().word("${LONG##*a*a*a}", lookup), "b");
  EXPECT_EQ(Expander().word("${LONG%%a*a*b}", lookup), "");
  EXPECT_EQ(Expander().word("${LONG//a*a/}", lookup), "b");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// --- escape character --------------------------------------------------------------------

TEST(ExpandEscape, BacktickTakesTheBackslashsRole) {
  EXPECT_EQ(expand("`$PWD", '`'), "$PWD");
  EXPECT_EQ(expand("C:\\dir\\$SHELL", '`'), "C:\\dir\\bash");
  EXPECT_EQ(expand("\"a`\"b\"", '`'), "a\"b");
  EXPECT_EQ(expand("\"a\\\"", '`'), "a\\");
  EXPECT_EQ(expand("\"``\"", '`'), "`");
  EXPECT_EQ(expand("${V#*`/}", '`'), "usr/local/bin");
  EXPECT_EQ(split("a` b c", '`'), (Words{"a b", "c"}));
  EXPECT_EQ(Expander('`').escape(), '`');
}

// --- raw modes ---------------------------------------------------------------------------

TEST(ExpandRaw, KeepQuotesStillGroups) {
  const Expander expander('\\', {.keep_quotes = true});
  EXPECT_EQ(expander.word("'$PWD' \"$PWD\"", env()), "'$PWD' \"/home\"");
  EXPECT_EQ(expander.word("\\$PWD", env()), "$PWD");
  EXPECT_EQ(expander.words("'a b' \"c d\" e", env()), (Words{"'a b'", "\"c d\"", "e"}));
  EXPECT_EQ(expander.word("${UNSET:-'x'}", env()), "'x'");
  EXPECT_THROW(expander.word("'open", env()), ExpandError);
}

TEST(ExpandRaw, KeepEscapes) {
  const Expander expander('\\', {.keep_quotes = true, .keep_escapes = true});
  EXPECT_EQ(expander.word("\\$PWD $PWD", env()), "\\$PWD /home");
  EXPECT_EQ(expander.word(R"("a\"b\$PWD")", env()), R"("a\"b\$PWD")");
  EXPECT_EQ(expander.word(R"("a\tb")", env()), R"("a\tb")");
  EXPECT_EQ(expander.word("a\\", env()), "a\\");
  EXPECT_EQ(expander.words("a\\ b", env()), (Words{"a\\ b"}));
  // A pattern's escapes are syntax: they are never output, so they still apply.
  EXPECT_EQ(expander.word("${V#\\/usr}", env()), "/local/bin");
}

// --- used variables ----------------------------------------------------------------------

TEST(ExpandUsed, RecordsEveryVariableLookedUp) {
  std::set<std::string> used;
  Expander().word("$PWD ${UNSET:-$DEFAULT} ${PWD:+${ALT}} ${V#$PAT} ${V/$A/$B} '$QUOTED' \\$ESC",
                  env(), &used);
  EXPECT_EQ(used, (std::set<std::string>{"PWD", "UNSET", "DEFAULT", "ALT", "V", "PAT", "A", "B"}));
}

TEST(ExpandUsed, IgnoresPositionalAndSpecialParameters) {
  std::set<std::string> used;
  Expander().words("$1 ${@} $# ${999:-x}", env(), &used);
  EXPECT_TRUE(used.empty());
}

TEST(ExpandUsed, KeepsNamesOfAFailedExpansion) {
  std::set<std::string> used;
  EXPECT_THROW(Expander().word("$PWD ${X:?}", env(), &used), ExpandError);
  EXPECT_EQ(used, (std::set<std::string>{"PWD", "X"}));
}

// --- words -------------------------------------------------------------------------------

TEST(ExpandWords, SplitsOnUnquotedWhitespace) {
  EXPECT_EQ(split("  a \t b\nc  "), (Words{"a", "b", "c"}));
  EXPECT_EQ(split("x${SPACED}y"), (Words{"x", "a", "b", "y"}));
  EXPECT_EQ(split("x\"${SPACED}\"y"), (Words{"x  a  b y"}));
  EXPECT_EQ(split("a\\ b 'c d'"), (Words{"a b", "c d"}));
  EXPECT_EQ(split("${UNSET:-a b}"), (Words{"a", "b"}));
  EXPECT_EQ(split("\"${UNSET:-a b}\""), (Words{"a b"}));
}

TEST(ExpandWords, EmptyWordsVanish) {
  EXPECT_EQ(split(""), Words{});
  EXPECT_EQ(split("   "), Words{});
  EXPECT_EQ(split("'' \"\" $UNSET a"), (Words{"a"}));
}

TEST(ExpandWords, UnicodeSpacesFromExpansionsSplit) {
  const VarLookup lookup = lookup_in({{"NBSP", "a\u00a0b\u3000c"}});
  EXPECT_EQ(Expander().words("$NBSP", lookup), (Words{"a", "b", "c"}));
  EXPECT_EQ(Expander().words("\"$NBSP\"", lookup), (Words{"a\u00a0b\u3000c"}));
}

TEST(ExpandWords, ErrorsPropagate) {
  EXPECT_THROW(split("a \"b"), ExpandError);
  EXPECT_THROW(split("a ${}"), ExpandError);
}

// --- lookups -----------------------------------------------------------------------------

TEST(LookupIn, LaterEntriesWin) {
  const VarLookup lookup = lookup_in({{"A", "1"}, {"B", ""}, {"A", "2"}});
  EXPECT_EQ(lookup("A"), "2");
  EXPECT_EQ(lookup("B"), "");
  EXPECT_EQ(lookup("C"), std::nullopt);
}

TEST(LookupIn, EmptyLookupMeansEverythingUnset) {
  EXPECT_EQ(Expander().word("a${X:-b}$Y", VarLookup()), "ab");
}

}  // namespace
}  // namespace cairn::frontend

namespace cairn::frontend {
namespace {

TEST(ExpandLimits, ExponentialGrowthStopsWithAnError) {
  std::string value(1 << 20, 'a');
  const VarLookup lookup = lookup_in({{"A", value}});
  EXPECT_THROW(Expander().word("$A$A$A$A$A$A$A$A$A$A$A$A$A$A$A$A$A", lookup), ExpandError);
  EXPECT_THROW(Expander().words("$A $A $A $A $A $A $A $A $A $A $A $A $A $A $A $A $A", lookup),
               ExpandError);
  const VarLookup small = lookup_in({{"B", std::string(5000, 'b')}});
  EXPECT_THROW(Expander().word("${B//?/$B}", small), ExpandError);
  EXPECT_EQ(Expander().word("$A$A", lookup).size(), 2u << 20);  // large but sane is fine
}

}  // namespace
}  // namespace cairn::frontend
