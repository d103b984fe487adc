#include "sandboxd/json_limits.h"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace sandboxd {
namespace {

// Accepts every value and counts only the depth; returning false stops the parser at once.
class DepthBound {
 public:
  using json = nlohmann::json;
  explicit DepthBound(int max_depth) : max_depth_(max_depth) {}

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(json::number_integer_t) { return true; }
  bool number_unsigned(json::number_unsigned_t) { return true; }
  bool number_float(json::number_float_t, const json::string_t&) { return true; }
  bool string(json::string_t&) { return true; }
  bool binary(json::binary_t&) { return true; }
  bool key(json::string_t&) { return true; }
  bool start_object(std::size_t) { return Enter(); }
  bool end_object() { return Leave(); }
  bool start_array(std::size_t) { return Enter(); }
  bool end_array() { return Leave(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }

  bool too_deep() const { return too_deep_; }

 private:
  bool Enter() {
    if (++depth_ > max_depth_) {
      too_deep_ = true;
      return false;
    }
    return true;
  }
  bool Leave() {
    --depth_;
    return true;
  }

  int max_depth_;
  int depth_ = 0;
  bool too_deep_ = false;
};

}  // namespace

JsonCheck CheckJson(std::string_view text, int max_depth) {
  DepthBound bound(max_depth);
  const bool ok = nlohmann::json::sax_parse(text.begin(), text.end(), &bound,
                                            nlohmann::json::input_format_t::json,
                                            /*strict=*/true);
  if (bound.too_deep()) return JsonCheck::kTooDeep;
  return ok ? JsonCheck::kValid : JsonCheck::kInvalid;
}

}  // namespace sandboxd
