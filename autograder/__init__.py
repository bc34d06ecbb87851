"""A graded PyTorch course lesson and the sandboxed autograder that grades it.

The package is kept import-light on purpose: the sandbox imports `autograder` before it
loads student code, so nothing here may import hidden tests, reference solutions or the
course configuration.
"""
__version__ = "0.1.0"
