// Pattern instantiation for `fxopt patterns --check`: a grid of variable values that satisfy a pattern's
// conditions, and the pattern's search graph built at one point of it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/ir/graph.h"
#include "core/pattern/pattern.h"

namespace fxopt {

struct GridPoint {
  std::vector<std::optional<Value>> values;  // per pattern variable
  size_t elements = 0;                       // elements of all inputs (points are ordered by it)
  std::string text;                          // "N=1, H=2, D=128, ..."
};

struct PatternGrid {
  std::vector<GridPoint> points;       // smallest inputs first
  size_t combinations = 0;             // candidate combinations enumerated
  size_t rejected = 0;                 // combinations a condition (or an undefined expression) ruled out
  size_t too_large = 0;                // combinations over the element budget
  bool truncated = false;              // more points satisfied the conditions than max_points (the rest dropped)
  std::vector<std::string> problems;   // why no point could be chosen (a variable, a condition), if so
};

struct GridOptions {
  size_t max_points = 4096;            // the smallest points are kept
  size_t max_input_elements = 1 << 15; // per input tensor
};

// Candidates per variable: its fixed value; its one_of values; a bool: 0 and 1; an int: 1, 2, 3 and c/2, c, 2c for every
// fixed int value c of the pattern (so D % G == 0 is tested with D in {G/2, G, 2G}); a SymInt: 1, 3, 8; a
// float: 1e-06 and 1e-05; a dtype: every float dtype. A variable that a condition `V == expr` determines
// takes that value. Only combinations that satisfy every condition are kept.
PatternGrid pattern_grid(const Pattern& p, const GridOptions& opt = {});

// The search graph at a point: a placeholder per input (its declared type, on "cpu"), the region's nodes
// with every hole filled in, meta.val where the pattern declares a type, and an output node returning the
// pattern's outputs. Throws InputError when a hole cannot be filled (an input without a type, a symbolic
// size).
Graph instantiate_pattern(const Pattern& p, const GridPoint& pt);

// Whether a condition holds under the values (floats compare as float32, as the matcher does).
// nullopt when it cannot be evaluated (an unbound variable); throws std::runtime_error when undefined.
std::optional<bool> condition_holds(const Pattern& p, const Condition& c, const std::vector<std::optional<Value>>& values);

}  // namespace fxopt
