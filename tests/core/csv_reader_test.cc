#include "core/csv_reader.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/config.h"
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

// ingest-file parses every row into Records it used before: what a row leaves empty, or has
// no column for, must be absent, never the value an earlier row put there.
TEST(CsvRecordReader, ARecordParsedIntoAgainKeepsNothingOfTheRowBefore) {
  testing::TempDir dir;
  std::string path = dir.str() + "/t.csv";
  std::ofstream(path) << "id,ts,x,cat,y\n"
                         "a,2016-01-01 10:00:00,1.5,a long category name past any SSO,3\n"
                         "b,2016-01-01 10:00:01,2.5,,4\n"
                         "c,2016-01-01 10:00:02,3.5,short,5\n";
  DatasetSpec spec = testing::tiny_dataset();
  auto r = CsvRecordReader::open(path, spec, true);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const int cat = spec.field_index("cat"), n = spec.field_index("n");
  Record rec;
  rec.values.assign(spec.fields().size(), Value{int64_t{99}});  // left over from elsewhere
  Status err;
  ASSERT_TRUE((*r)->next(rec, err));
  ASSERT_TRUE(err.ok()) << err.to_string();
  ASSERT_NE(rec.text(cat), nullptr);
  EXPECT_EQ(*rec.text(cat), "a long category name past any SSO");
  EXPECT_FALSE(rec.has(n));  // no column feeds it
  ASSERT_TRUE((*r)->next(rec, err));
  ASSERT_TRUE(err.ok()) << err.to_string();
  EXPECT_EQ(rec.key, "b");
  EXPECT_FALSE(rec.has(cat));  // an empty cell, after a row that had text there
  ASSERT_TRUE((*r)->next(rec, err));
  ASSERT_TRUE(err.ok()) << err.to_string();
  ASSERT_NE(rec.text(cat), nullptr);
  EXPECT_EQ(*rec.text(cat), "short");
  EXPECT_DOUBLE_EQ(rec.number(spec.field_index("x")), 3.5);
}

TEST(CsvRecordReader, MissingRequiredColumnFailsBeforeReading) {
  testing::TempDir dir;
  std::string path = dir.str() + "/t.csv";
  std::ofstream(path) << "id,x,y\na,1,2\n";
  auto r = CsvRecordReader::open(path, testing::tiny_dataset(), true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), path + ": missing required column 'ts'");
}

// "Казань" and "Омск" in Windows-1251, as `iconv -t cp1251` writes them.
const std::string kKazan1251 = "\xCA\xE0\xE7\xE0\xED\xFC";
const std::string kOmsk1251 = "\xCE\xEC\xF1\xEA";
const std::string kNotUtf8 =
    "not valid UTF-8 (is the file in another encoding, e.g. Windows-1251? convert it with iconv "
    "-f cp1251 -t utf-8)";

TEST(CsvRecordReader, TextThatIsNotUtf8FailsItsRowNamingTheField) {
  testing::TempDir dir;
  std::string path = dir.str() + "/t.csv";
  std::ofstream(path) << "id,ts,x,cat,y\n"
                         "a,2016-01-01 10:00:00,1,Казань,3\n"
                         "b,2016-01-01 10:00:00,1," << kKazan1251 << ",3\n"
                         "c,2016-01-01 10:00:00,1" << kOmsk1251 << ",,3\n"
                         "d" << kOmsk1251 << ",2016-01-01 10:00:00,1,,3\n"
                         "e,2016-01-01 10:00:00,2,\xED\xA0\x80,3\n"  // a UTF-16 surrogate
                         "f,2016-01-01 10:00:00,2,\xC0\xAF,3\n"      // an overlong '/'
                         "g,2016-01-01 10:00:00,2,\xF0\x9F\x98\x80,3\n";  // U+1F600 is fine
  const DatasetSpec spec = testing::tiny_dataset();  // the reader keeps a reference
  auto r = CsvRecordReader::open(path, spec, true);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  Record rec;
  Status err;
  ASSERT_TRUE((*r)->next(rec, err));
  EXPECT_TRUE(err.ok()) << err.to_string();
  ASSERT_TRUE((*r)->next(rec, err));
  EXPECT_EQ(err.message(), "field 'cat': " + kNotUtf8);
  EXPECT_EQ((*r)->line(), 3);
  ASSERT_TRUE((*r)->next(rec, err));  // a number cell: the bytes are not quoted back
  EXPECT_EQ(err.message(), "field 'x': " + kNotUtf8);
  ASSERT_TRUE((*r)->next(rec, err));
  EXPECT_EQ(err.message(), "field 'id': " + kNotUtf8);
  ASSERT_TRUE((*r)->next(rec, err));
  EXPECT_EQ(err.message(), "field 'cat': " + kNotUtf8);
  ASSERT_TRUE((*r)->next(rec, err));
  EXPECT_EQ(err.message(), "field 'cat': " + kNotUtf8);
  ASSERT_TRUE((*r)->next(rec, err));
  EXPECT_TRUE(err.ok()) << err.to_string();
  EXPECT_FALSE((*r)->next(rec, err));
  EXPECT_EQ((*r)->encoding_hint(), "");  // the first row was good: single bad rows, no hint
}

TEST(CsvRecordReader, FirstRowsAllNotUtf8GiveOneEncodingHint) {
  testing::TempDir dir;
  std::string path = dir.str() + "/t.csv";
  {
    std::ofstream out(path);
    out << "id,ts,x,cat,y\n";
    for (int i = 0; i < 8; ++i)
      out << "k" << i << ",2016-01-01 10:00:00,1," << kKazan1251 << ",3\n";
  }
  const DatasetSpec spec = testing::tiny_dataset();  // the reader keeps a reference
  auto r = CsvRecordReader::open(path, spec, true);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  Record rec;
  Status err;
  int hints = 0, rows = 0;
  while ((*r)->next(rec, err)) {
    ++rows;
    EXPECT_FALSE(err.ok());
    std::string hint = (*r)->encoding_hint();
    if (hint.empty()) continue;
    ++hints;
    EXPECT_EQ(rows, 5);  // known after the fifth bad row, not before
    EXPECT_EQ(hint, path + ": the first 5 rows are not valid UTF-8: the file is probably in "
                           "another encoding; if it is Windows-1251, convert it with: iconv -f "
                           "cp1251 -t utf-8 " + path + " > utf8.csv");
  }
  EXPECT_EQ(hints, 1);
  EXPECT_EQ((*r)->encoding_hint(), "");

  // A shorter file: known at its end.
  std::ofstream(path) << "id,ts,x,cat,y\nk,2016-01-01 10:00:00,1," << kOmsk1251 << ",3\n";
  r = CsvRecordReader::open(path, spec, true);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE((*r)->next(rec, err));
  EXPECT_EQ((*r)->encoding_hint(), "");
  EXPECT_FALSE((*r)->next(rec, err));
  EXPECT_NE((*r)->encoding_hint().find("the first row is not valid UTF-8"), std::string::npos);
}

TEST(CsvRecordReader, HeaderNotUtf8IsNamedWhenAColumnIsMissing) {
  testing::TempDir dir;
  std::string path = dir.str() + "/t.csv";
  // Only the first cell of the header may carry a BOM; 0xEF is 'п' in Windows-1251.
  std::ofstream(path) << "\xEF\xBB\xBFid,ts,x,y,\xEF\xF0\xE8\xEC\n";
  auto r = CsvRecordReader::open(path, testing::tiny_dataset(), true);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  std::ofstream(path) << "id,ts,x,\xF6\xE5\xED\xE0\n";  // "цена" in Windows-1251
  r = CsvRecordReader::open(path, testing::tiny_dataset(), true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            path + ": missing required column 'y'; the header is " + kNotUtf8);
}

std::vector<std::vector<std::string>> read_all(const std::string& path,
                                               std::vector<int64_t>* lines = nullptr) {
  auto r = CsvReader::open(path);
  EXPECT_TRUE(r.ok());
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> cells;
  while (r.ok() && (*r)->next(cells)) {
    rows.push_back(cells);
    if (lines) lines->push_back((*r)->line());
  }
  return rows;
}

using Rows = std::vector<std::vector<std::string>>;

// Windows (CRLF), old Mac (CR) and mixed line ends, a last line ending in a lone CR, CR CR LF (a
// Windows text-mode writer given CRLF) and blank lines: no cell keeps a '\r', and line numbers
// count the lines an editor shows.
TEST(CsvReader, AcceptsEveryLineEnding) {
  testing::TempDir dir;
  std::string path = dir.str() + "/a.csv";
  const Rows want = {{"id", "listed_at"}, {"a", "1"}, {"b", "2"}};
  for (const char* text : {"id,listed_at\r\na,1\r\nb,2\r\n", "id,listed_at\ra,1\rb,2\r",
                           "id,listed_at\r\na,1\nb,2\r", "id,listed_at\r\r\na,1\r\r\nb,2\r\r\n",
                           "\"id\",\"listed_at\"\r\n\"a\",\"1\"\r\n\"b\",\"2\"\r"}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    EXPECT_EQ(read_all(path), want) << text;
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "id,v\r\n\r\na,1\r\n\nb,2\r\n\r\n";
  std::vector<int64_t> lines;
  EXPECT_EQ(read_all(path, &lines), (Rows{{"id", "v"}, {"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(lines, (std::vector<int64_t>{1, 3, 5}));
}

TEST(CsvReader, QuotedLineBreaksAreKeptAsWritten) {
  testing::TempDir dir;
  std::string path = dir.str() + "/a.csv";
  std::ofstream(path, std::ios::binary) << "id,note\r\n\"a\",\"two\r\nlines\"\r\n"
                                           "b,\"old\rmac\"\r\nc,\"\"\r\n";
  std::vector<int64_t> lines;
  EXPECT_EQ(read_all(path, &lines),
            (Rows{{"id", "note"}, {"a", "two\r\nlines"}, {"b", "old\rmac"}, {"c", ""}}));
  EXPECT_EQ(lines, (std::vector<int64_t>{1, 2, 4, 6}));
}

// The reader looks one byte past a CR; that byte may be in the next 64 KiB buffer.
TEST(CsvReader, CrlfSplitAcrossBuffersIsOneLineEnd) {
  testing::TempDir dir;
  std::string path = dir.str() + "/a.csv";
  std::string text = "v\r\n";
  std::string pad(65536 - text.size() - 1, 'x');  // the CR is the buffer's last byte
  text += pad + "\r\nb\r\n";
  std::ofstream(path, std::ios::binary) << text;
  std::vector<int64_t> lines;
  EXPECT_EQ(read_all(path, &lines), (Rows{{"v"}, {pad}, {"b"}}));
  EXPECT_EQ(lines, (std::vector<int64_t>{1, 2, 3}));
}

TEST(CsvRecordReader, ReadsAWindowsFile) {
  testing::TempDir dir;
  std::string path = dir.str() + "/t.csv";
  std::ofstream(path, std::ios::binary) << "id,ts,x,cat,y\r\n"
                                           "a,2016-01-01 10:00:00,1,\"x\r\ny\",3\r\n"
                                           "b,2016-01-01 10:00:00,2,,4\r";  // no final LF
  const DatasetSpec spec = testing::tiny_dataset();
  auto r = CsvRecordReader::open(path, spec, true);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  Record rec;
  Status err;
  ASSERT_TRUE((*r)->next(rec, err));
  EXPECT_TRUE(err.ok()) << err.to_string();
  EXPECT_EQ(*rec.text(spec.field_index("cat")), "x\r\ny");
  EXPECT_DOUBLE_EQ(rec.number(spec.target_index()), 3);
  ASSERT_TRUE((*r)->next(rec, err));
  EXPECT_TRUE(err.ok()) << err.to_string();
  EXPECT_DOUBLE_EQ(rec.number(spec.target_index()), 4);
  EXPECT_EQ((*r)->line(), 4);
  EXPECT_FALSE((*r)->next(rec, err));
}

TEST(CsvRecordReader, TwoColumnsForOneFieldFailBeforeReading) {
  testing::TempDir dir;
  std::string path = dir.str() + "/t.csv";
  const DatasetSpec spec = testing::tiny_dataset();
  // Columns that feed no field may repeat (here two unnamed trailing columns and two 'note's).
  std::ofstream(path) << "id,note,ts,x,y,note,,\na,,2016-01-01 10:00:00,1,2,,,\n";
  auto r = CsvRecordReader::open(path, spec, true);
  ASSERT_TRUE(r.ok()) << r.status().to_string();

  std::ofstream(path) << "id,ts,x,n,y,cat,n\na,2016-01-01 10:00:00,1,2,3,c,4\n";
  r = CsvRecordReader::open(path, spec, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), path + ": duplicate column 'n' (columns 4 and 7)");

  std::ofstream(path) << "id,ts,x,y,x\na,2016-01-01 10:00:00,1,2,3\n";
  r = CsvRecordReader::open(path, spec, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), path + ": duplicate column 'x' (columns 3 and 5)");

  const DatasetSpec mapped = Config::parse(R"(
datasets:
  tiny:
    key: id
    event_time: ts
    target: y
    fields: {id: string, ts: timestamp, x: float, y: float}
    columns: {Price: y, Cost: y}
    features: [{transform: numeric, input: x}]
)",
                                           {})
                                 .datasets()
                                 .front();
  std::ofstream(path) << "id,ts,x,Price,Cost\na,2016-01-01 10:00:00,0,1,2\n";
  r = CsvRecordReader::open(path, mapped, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            path + ": columns 'Price' (column 4) and 'Cost' (column 5) both map to field 'y'");
}

// A file that is not comma-separated UTF-8 text: the missing column comes with the likely cause.
TEST(CsvRecordReader, AMissingColumnNamesTheLikelyCause) {
  testing::TempDir dir;
  std::string path = dir.str() + "/t.csv";
  const DatasetSpec spec = testing::tiny_dataset();
  struct Case {
    std::string text, hint;
  };
  const std::vector<Case> cases = {
      {"id;ts;x;y\na;2016-01-01 10:00:00;1;2\n",
       " (the file looks ;-separated; flowcast reads comma-separated CSV)"},
      {"id\tts\tx\ty\n", " (the file looks tab-separated; flowcast reads comma-separated CSV)"},
      {std::string("\xFF\xFEi\0d\0,\0t\0s\0\n\0", 14),  // "id,ts\n" in UTF-16LE
       "; the file is UTF-16: convert it with iconv -f utf-16 -t utf-8"},
      {std::string("PK\x03\x04\0\0,x\n", 9),
       "; the header has NUL bytes: the file does not look like a text CSV"},
      {"nothing,like,it\n", ""},
  };
  for (const Case& c : cases) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << c.text;
    auto r = CsvRecordReader::open(path, spec, true);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), path + ": missing required column 'id'" + c.hint);
  }
}

}  // namespace
}  // namespace flowcast
