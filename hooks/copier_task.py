"""Copier's task: what cookiecutter's two hooks do, after copier has rendered the files.

``copier.yml`` passes the answers as JSON (its computed ``cookiecutter`` answer) and copier runs
this from the new project's folder, as cookiecutter runs its post-generation hook. The answers
are checked once more, then ``jwp_generator.finish`` writes the per-method protos, compiles the
protos and runs the smoke test.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jwp_generator.finish import main as finish
from jwp_generator.validation import main as validate

ANSWERS = json.loads(sys.argv[1])
sys.exit(validate(ANSWERS) or finish(ANSWERS))
