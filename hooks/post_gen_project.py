"""Post-generation hook: add the per-method proto files, compile the protos, run the smoke test.

Set JWP_TEMPLATE_SKIP_CHECKS=1 to skip compiling and the smoke test (offline use); the
per-method proto files are always written. The steps live in ``jwp_generator.finish``.
"""

import json
import sys
from pathlib import Path

ANSWERS = json.loads(r'''{{ cookiecutter | tojson }}''')
sys.path.insert(0, json.loads(r'''{{ generator_root | tojson }}'''))

from jwp_generator.finish import main  # noqa: E402  (needs the path set above)

# Where the user ran cookiecutter, so that the summary's paths are the ones to type.
INVOCATION_DIR = Path(json.loads(r'''{{ invocation_dir | tojson }}'''))
sys.exit(main(ANSWERS, invocation_dir=INVOCATION_DIR))
