import sys

from autograder.i18n.notebooks import main

sys.exit(main())
