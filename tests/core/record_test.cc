#include "core/record.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace flowcast {
namespace {

Record rec(std::string key, int64_t tag) { return Record{std::move(key), {Value{tag}}}; }

TEST(KeyPrefix, OrdersAsTheKeysDo) {
  EXPECT_LT(key_prefix("abc"), key_prefix("abd"));
  EXPECT_LT(key_prefix("ab"), key_prefix("abc"));        // a prefix sorts first
  EXPECT_LT(key_prefix("Z"), key_prefix("a"));           // bytes, not letters
  EXPECT_LT(key_prefix("a"), key_prefix("\xC3\xA9"));    // UTF-8 lead bytes are unsigned
  EXPECT_EQ(key_prefix("abcdefgh1"), key_prefix("abcdefgh2"));  // a tie: the keys decide
  EXPECT_EQ(key_prefix(""), 0u);
}

// The order every store applies a batch in: by key, and a key's records in the order they came,
// so the last one still wins. Keys share long prefixes here, so most comparisons are ties of the
// 8-byte prefix and the whole keys decide.
TEST(KeyOrder, SortsByKeyAndKeepsEachKeysRecordsInOrder) {
  std::mt19937 rng(5);
  std::vector<Record> records;
  for (int i = 0; i < 5000; ++i) {
    std::string key = "id" + std::string(rng() % 2 ? "0000000" : "") + std::to_string(rng() % 700);
    if (rng() % 50 == 0) key = "\xD0\x9C" + key;  // a key above ASCII
    records.push_back(rec(key, i));
  }
  std::vector<Record> expected = records;
  std::stable_sort(expected.begin(), expected.end(),
                   [](const Record& a, const Record& b) { return a.key < b.key; });

  EXPECT_FALSE(in_key_order(records));
  std::vector<uint32_t> order = key_order(records);
  ASSERT_EQ(order.size(), records.size());
  for (size_t i = 0; i < order.size(); ++i) {
    ASSERT_EQ(records[order[i]].key, expected[i].key) << i;
    ASSERT_EQ(records[order[i]].values, expected[i].values) << i;  // the same record, in turn
  }

  sort_by_key(records);
  EXPECT_TRUE(in_key_order(records));
  ASSERT_EQ(records.size(), expected.size());
  for (size_t i = 0; i < records.size(); ++i) {
    ASSERT_EQ(records[i].key, expected[i].key) << i;
    ASSERT_EQ(records[i].values, expected[i].values) << i;
  }
}

TEST(KeyOrder, SortingInPlaceMovesEachRecordsOwnBuffers) {
  std::vector<Record> records = {rec("c", 0), rec("a", 1), rec("b", 2), rec("a", 3)};
  records[0].values.push_back(Value{std::string(100, 'x')});  // a buffer of its own
  const void* buffer = records[0].values.data();
  sort_by_key(records);
  std::vector<std::string> keys;
  for (const auto& r : records) keys.push_back(r.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "a", "b", "c"}));
  EXPECT_EQ(records[0].values[0], Value{int64_t{1}});
  EXPECT_EQ(records[1].values[0], Value{int64_t{3}});
  EXPECT_EQ(records[3].values.data(), buffer);  // swapped into place, not copied

  std::vector<Record> empty;
  sort_by_key(empty);
  EXPECT_TRUE(key_order(empty).empty());
}

}  // namespace
}  // namespace flowcast
