"""Translations of everything a student reads (see docs/i18n.md).

- catalogs.py: the languages, reading, writing and merging gettext catalogs, their status;
- notebooks.py and literals.py: the lesson's notebooks cut into messages (markdown,
  docstrings, comments, the string literals a student reads) and written back translated;
- feedback.py: the feedback catalog extracted from the tests and the kit's N_() text, and
  the students' compiled subset.
The run-time side of feedback is autograder/localize.py (shipped to students); the
translated release is autograder/release/translated.py.

`python -m autograder.i18n status|update` keeps the notebook catalogs current.
"""
from autograder.i18n.catalogs import (LANGUAGE_NAMES, LANGUAGES, SOURCE_LANGUAGE, CatalogStatus, Message,
                                      TranslationError, catalog_status, check_language, read_catalog,
                                      translations_of, update_catalog, write_catalog)
from autograder.i18n.notebooks import (catalog_path, cell_pieces, extract_messages, notebook_status,
                                       translate_cell_source, translate_notebook, translated_notebook,
                                       update_notebook_catalog)

__all__ = ["LANGUAGE_NAMES", "LANGUAGES", "SOURCE_LANGUAGE", "CatalogStatus", "Message", "TranslationError",
           "catalog_status", "check_language", "read_catalog", "translations_of", "update_catalog", "write_catalog",
           "catalog_path", "cell_pieces", "extract_messages", "notebook_status", "translate_cell_source",
           "translate_notebook", "translated_notebook", "update_notebook_catalog"]
