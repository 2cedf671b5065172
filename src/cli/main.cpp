#include <cstdio>

#include "app.hpp"

int main(int argc, char** argv) { return cairn::cli::run(argc, argv); }
