"""Gradescope: `autograder gradescope build` writes an autograder zip (build.py) from the
templates in ci/gradescope/; its run_autograder grades with `autograder grade`.
"""
