#include "core/csv_reader.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/test_support.h"

namespace flowcast {
namespace {

TEST(CsvReader, QuotesCrlfAndEmbeddedNewlines) {
  testing::TempDir dir;
  std::string path = dir.str() + "/a.csv";
  std::ofstream(path) << "a,b,c\r\n1,\"x, \"\"y\"\"\",3\r\n\"multi\nline\",,z\n";
  auto r = CsvReader::open(path);
  ASSERT_TRUE(r.ok());
  std::vector<std::string> cells;
  ASSERT_TRUE((*r)->next(cells));
  EXPECT_EQ(cells, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_TRUE((*r)->next(cells));
  EXPECT_EQ(cells, (std::vector<std::string>{"1", "x, \"y\"", "3"}));
  EXPECT_EQ((*r)->line(), 2);
  ASSERT_TRUE((*r)->next(cells));
  EXPECT_EQ(cells, (std::vector<std::string>{"multi\nline", "", "z"}));
  EXPECT_EQ((*r)->line(), 3);
  EXPECT_FALSE((*r)->next(cells));
  EXPECT_FALSE(CsvReader::open(dir.str() + "/missing.csv").ok());
}

TEST(CsvRecordReader, MapsColumnsByNameAndReportsBadRowsWithTheirLine) {
  testing::TempDir dir;
  std::string path = dir.str() + "/t.csv";
  std::ofstream(path) << "extra,id,ts,x,n,y\n"
                         "q,a,2016-01-01 10:00:00,1.5,,3\n"
                         "q,b,not a time,1,,2\n"
                         "q,c,2016-01-01 10:00:00,,5,4\n"
                         "q,d,2016-01-01 10:00:00,2\n";
  DatasetSpec spec = testing::tiny_dataset();
  auto r = CsvRecordReader::open(path, spec, true);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  Record rec;
  Status err;
  ASSERT_TRUE((*r)->next(rec, err));
  EXPECT_TRUE(err.ok());
  EXPECT_EQ(rec.key, "a");
  EXPECT_DOUBLE_EQ(rec.number(spec.target_index()), 3);
  EXPECT_FALSE(rec.has(spec.field_index("n")));  // an empty optional cell is absent
  ASSERT_TRUE((*r)->next(rec, err));
  EXPECT_NE(err.message().find("field 'ts'"), std::string::npos);
  EXPECT_EQ((*r)->line(), 3);
  ASSERT_TRUE((*r)->next(rec, err));
  EXPECT_EQ(err.message(), "missing required field 'x'");  // an empty required cell
  ASSERT_TRUE((*r)->next(rec, err));
  EXPECT_EQ(err.message(), "expected 6 columns, got 4");
  EXPECT_FALSE((*r)->next(rec, err));
}

TEST(CsvRecordReader, MissingRequiredColumnFailsBeforeReading) {
  testing::TempDir dir;
  std::string path = dir.str() + "/t.csv";
  std::ofstream(path) << "id,x,y\na,1,2\n";
  auto r = CsvRecordReader::open(path, testing::tiny_dataset(), true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), path + ": missing required column 'ts'");
}

}  // namespace
}  // namespace flowcast
