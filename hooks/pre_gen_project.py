"""Pre-generation hook: refuse bad answers before cookiecutter writes any file.

The answers arrive as JSON inside a raw string, never as Python source: ``tojson`` escapes
every apostrophe, so no answer can close the string and run as code here. The rules live in
``jwp_generator.validation``.
"""

import json
import sys

ANSWERS = json.loads(r'''{{ cookiecutter | tojson }}''')
sys.path.insert(0, json.loads(r'''{{ generator_root | tojson }}'''))

from jwp_generator.validation import main  # noqa: E402  (needs the path set above)

sys.exit(main(ANSWERS))
