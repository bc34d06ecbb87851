"""`autograder similarity` (and `batch --similarity`): pairs of submissions that share
distinctive code, ranked for a person to review; never a verdict, never a grade.

Stages, in the order the data flows: tokens.py (a notebook cut into exercises and
normalised token streams), normalize.py (disguises undone: prints, unused temporaries,
loops rewritten), scores.py (winnowed fingerprints weighed by how many submissions share
them, pair scores), report.py (the command: pairs.csv, report.html, plots). See
docs/similarity.md.
"""
