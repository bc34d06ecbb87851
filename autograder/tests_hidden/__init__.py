"""Hidden tests: graded, never shipped to students (see docs/INTERNALS.md, "Test conventions")."""
