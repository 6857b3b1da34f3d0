#include "core/json_codec.h"

#include <gtest/gtest.h>

#include "core/json_writer.h"
#include "core/time_util.h"
#include "support/test_support.h"

namespace flowcast {
namespace {

class JsonCodecTest : public ::testing::Test {
 protected:
  DatasetSpec spec_ = testing::tiny_dataset();
  JsonCodec codec_{spec_};
  Record rec_;

  Status decode(const std::string& json, RecordRole role = RecordRole::kRequest) {
    return codec_.decode(json, role, rec_);
  }
};

TEST_F(JsonCodecTest, DecodesATypedRequest) {
  ASSERT_TRUE(decode(R"({"id":"a1","ts":"2016-01-08 22:31:12","x":1.5,"n":3,"flag":true,"cat":"Y","extra":[1,2]})").ok());
  EXPECT_EQ(rec_.key, "a1");
  EXPECT_EQ(std::get<int64_t>(rec_.values[1]), *parse_timestamp_micros("2016-01-08 22:31:12"));
  EXPECT_DOUBLE_EQ(rec_.number(2), 1.5);
  EXPECT_EQ(std::get<int64_t>(rec_.values[3]), 3);
  EXPECT_TRUE(std::get<bool>(rec_.values[4]));
  EXPECT_EQ(*rec_.text(5), "Y");
}

TEST_F(JsonCodecTest, RequestDropsTheTargetAndOutcomeKeepsOnlyKeyAndTarget) {
  ASSERT_TRUE(decode(R"({"id":"a","ts":"2016-01-08 22:31:12","x":1,"y":5})").ok());
  EXPECT_FALSE(rec_.has(spec_.target_index()));
  ASSERT_TRUE(decode(R"({"id":"a","x":1,"y":5})", RecordRole::kOutcome).ok());
  EXPECT_DOUBLE_EQ(rec_.number(spec_.target_index()), 5);
  EXPECT_FALSE(rec_.has(2));
}

TEST_F(JsonCodecTest, ErrorsNameTheFieldAndProblem) {
  auto s = decode(R"({"id":"a","ts":"2016-01-08 22:31:12","x":"one"})");
  EXPECT_EQ(s.message(), "field 'x': expected a number, got a string");
  s = decode(R"({"id":"a","ts":"2016-01-08 22:31:12","x":1,"n":2.5})");
  EXPECT_EQ(s.message(), "field 'n': expected an integer, got a fractional or out-of-range number");
  s = decode(R"({"id":"a","x":1})");
  EXPECT_EQ(s.message(), "missing required field 'ts'");
  s = decode(R"({"id":"a","ts":"noon","x":1})");
  EXPECT_NE(s.message().find("field 'ts'"), std::string::npos);
  s = decode(R"({"id":"a","ts":"2016-01-08 22:31:12","x":5000})");
  EXPECT_NE(s.message().find("outside the allowed range"), std::string::npos);
  s = decode(R"({"id":"a","x":1})", RecordRole::kOutcome);
  EXPECT_EQ(s.message(), "missing required field 'y'");
  // A string JSON cannot turn into UTF-8 (a lone surrogate) is not "a string, got a string".
  s = decode(R"({"id":"a","ts":"2016-01-08","x":1,"cat":"\ud800"})");
  EXPECT_NE(s.message().find("field 'cat': not a valid string"), std::string::npos) << s.message();
  // A timestamp error names the forms that are accepted, the date-only one included.
  s = decode(R"({"id":"a","ts":"08/01/2016","x":1})");
  EXPECT_NE(s.message().find("YYYY-MM-DD, optionally"), std::string::npos) << s.message();
  // A document cut short says so, not that it is not an object.
  s = decode(R"({"id": )");
  EXPECT_EQ(s.message().find("expected an object"), std::string::npos) << s.message();
  EXPECT_EQ(decode("[1]").message(), "invalid JSON: expected an object");
}

TEST_F(JsonCodecTest, AKeyThatIsNotRequiredMayBeAbsent) {
  rec_.key = "from-a-previous-record";
  const std::string no_key = R"({"ts":"2016-01-08 22:31:12","x":1.5})";
  EXPECT_EQ(decode(no_key).message(), "missing required field 'id'");
  ASSERT_TRUE(codec_.decode(no_key, RecordRole::kRequest, rec_, /*require_key=*/false).ok());
  EXPECT_TRUE(rec_.key.empty());
  EXPECT_DOUBLE_EQ(rec_.number(2), 1.5);
  // A key that is there is still read and checked.
  ASSERT_TRUE(codec_.decode(R"({"id":"k9","ts":"2016-01-08 22:31:12","x":1})",
                            RecordRole::kRequest, rec_, false)
                  .ok());
  EXPECT_EQ(rec_.key, "k9");
  EXPECT_FALSE(
      codec_.decode(R"({"id":"","ts":"2016-01-08 22:31:12","x":1})", RecordRole::kRequest, rec_, false)
          .ok());
}

TEST_F(JsonCodecTest, RejectsMalformedJsonNanAndOtherDatasets) {
  EXPECT_FALSE(decode("{\"id\":\"a\",").ok());
  EXPECT_FALSE(decode("[1,2]").ok());
  EXPECT_FALSE(decode(R"({"id":"a","ts":"2016-01-08","x":NaN})").ok());
  EXPECT_FALSE(decode(R"({"id":"a","ts":"2016-01-08","x":Infinity})").ok());
  EXPECT_FALSE(decode(R"({"id":"a","ts":"2016-01-08","x":1e999})").ok());
  EXPECT_FALSE(decode(R"({"id":"a","ts":"2016-01-08","x":1} trailing)").ok());
  auto s = decode(R"({"dataset":"realty","id":"a","ts":"2016-01-08","x":1})");
  EXPECT_EQ(s.message(), "unknown dataset 'realty' (this topic carries 'tiny')");
  EXPECT_TRUE(decode(R"({"dataset":"tiny","id":"a","ts":"2016-01-08","x":1})").ok());
}

// The whole-document fast path refuses a document with a number beyond a double even in a field
// the dataset does not have; the on-demand path, which skips such fields, decides as it always
// did, and both paths fill the record alike.
TEST_F(JsonCodecTest, DocumentsTheFastPathRefusesDecodeAsBefore) {
  ASSERT_TRUE(decode(R"({"id":"a","ts":"2016-01-08","x":1.25,"n":-3,"extra":1e999})").ok());
  const Record slow = rec_;
  ASSERT_TRUE(decode(R"({"id":"a","ts":"2016-01-08","x":1.25,"n":-3,"extra":1})").ok());
  EXPECT_EQ(rec_.values, slow.values);
  EXPECT_EQ(rec_.key, "a");
  EXPECT_EQ(std::get<double>(slow.values[2]), 1.25);
  // And an error in a field the dataset has is the same message on both paths.
  EXPECT_EQ(decode(R"({"id":"a","ts":"2016-01-08","x":"one","extra":1e999})").message(),
            "field 'x': expected a number, got a string");
  EXPECT_EQ(decode(R"({"id":"a","ts":"2016-01-08","x":"one"})").message(),
            "field 'x': expected a number, got a string");
}

TEST_F(JsonCodecTest, EncodeDecodeRoundTrip) {
  ASSERT_TRUE(decode(R"({"id":"k\"q\\","ts":"2016-01-08 22:31:12.5","x":-0.1,"n":-7,"flag":false,"cat":"Москва","y":3})",
                     RecordRole::kObservation).ok());
  std::string json;
  codec_.encode(rec_, RecordRole::kObservation, json);
  Record again;
  ASSERT_TRUE(codec_.decode(json, RecordRole::kObservation, again).ok()) << json;
  EXPECT_EQ(again.key, "k\"q\\");
  EXPECT_EQ(again.values, rec_.values);
}

TEST(JsonWriter, EscapesControlAndInvalidBytes) {
  std::string out;
  JsonWriter::append_string(out, std::string("a\n\x01\xff", 4));
  EXPECT_EQ(out, "\"a\\n\\u0001\\u00ff\"");
}

}  // namespace
}  // namespace flowcast
