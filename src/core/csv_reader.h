// CsvReader: streams an RFC 4180 CSV file (quoted fields, doubled quotes) row by row. Rows may end
// with LF, CRLF or a lone CR, mixed in one file; a quoted cell keeps its line breaks as written;
// blank lines are skipped.
// CsvRecordReader: maps a CSV with a header row onto a dataset's fields by column name and parses
// each cell with the field's type (empty cell = absent).
//
// Not thread-safe; one reader per file.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/dataset_spec.h"
#include "core/record.h"
#include "core/status.h"

namespace flowcast {

class CsvReader {
 public:
  static Result<std::unique_ptr<CsvReader>> open(const std::string& path);
  ~CsvReader();
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Reads the next row into `cells`. Returns false at end of file. A malformed row (an unclosed
  // quote) sets `error` and returns true with whatever was read.
  bool next(std::vector<std::string>& cells, std::string* error = nullptr);
  // 1-based line number where the last row returned by next() started.
  int64_t line() const { return row_line_; }
  // Bytes consumed so far (for progress reporting).
  int64_t bytes_read() const { return consumed_ + int64_t(pos_); }
  const std::string& path() const { return path_; }

 private:
  CsvReader(std::FILE* f, std::string path) : file_(f), path_(std::move(path)) {}
  int getc();
  int peek();  // the next byte without consuming it
  std::FILE* file_;
  std::string path_;
  std::vector<char> buf_ = std::vector<char>(1 << 16);
  size_t pos_ = 0, len_ = 0;
  int64_t consumed_ = 0;  // bytes of earlier buffers
  int64_t current_line_ = 1, row_line_ = 0;
};

// Parses one text cell as a value of `field`'s type. Empty text gives std::monostate.
// `mapping` (optional) scales numbers and gives a strptime format for timestamps.
Status parse_text_value(const FieldSpec& field, std::string_view text, Value& out,
                        const ColumnMapping* mapping = nullptr);

class CsvRecordReader {
 public:
  // Reads the header and maps columns to fields through the dataset's `columns:` section (other
  // columns map to the field of the same name); fails naming the first required field (key,
  // event time, target when `need_target`, required request fields) that has no column, and when
  // two columns would feed one field ("duplicate column 'rooms' (columns 5 and 16)"). Columns
  // that feed no field are ignored, duplicated or not.
  static Result<std::unique_ptr<CsvRecordReader>> open(const std::string& path,
                                                       const DatasetSpec& spec, bool need_target);
  // Next record; false at end. A row that does not parse sets `error` (with the line number in
  // line()) and returns true; the caller decides to skip it.
  // A text cell that is not valid UTF-8 fails its row ("field 'city': not valid UTF-8 (...)").
  bool next(Record& out, Status& error);
  int64_t line() const { return csv_->line(); }
  int64_t bytes_read() const { return csv_->bytes_read(); }
  // One line for the user when the first data rows (5, or all of a shorter file) were all
  // rejected as not valid UTF-8: the whole file is then most likely in another encoding. Returned
  // once, when that becomes known (after a next()); empty otherwise.
  std::string encoding_hint();

 private:
  bool read(Record& out, Status& error, bool& not_utf8);
  std::unique_ptr<CsvReader> csv_;
  const DatasetSpec* spec_ = nullptr;
  bool need_target_ = false;
  std::vector<int> column_field_;  // field index per CSV column, -1 when unused
  std::vector<const ColumnMapping*> column_mapping_;  // per CSV column, null when by name
  std::vector<size_t> unfed_fields_;                  // fields no column feeds
  std::vector<std::string> cells_;
  // The encoding probe: while every data row so far failed as not UTF-8.
  bool probing_ = true, hint_ready_ = false;
  int64_t leading_not_utf8_ = 0;
};

}  // namespace flowcast
