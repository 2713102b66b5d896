// The doctest entry point of the GPU kernel tests (tests/gpu/*).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
