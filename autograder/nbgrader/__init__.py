"""nbgrader integration: instructors run nbgrader's own workflow on this course.

- course.py: `autograder nbgrader init`, the nbgrader course (source notebooks with one
  grade cell per exercise, nbgrader_config.py);
- exercises.py: which tests grade which exercise;
- autograde.py: `GradeInSandbox`, nbgrader's Execute step replaced by grading in the sandbox;
- cells.py: what one grade cell records and shows.
See docs/nbgrader.md.
"""
