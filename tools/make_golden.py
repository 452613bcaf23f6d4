#!/usr/bin/env python3
"""Generate tapegrad's own golden reference cases (schema 1) into tests/golden/.

Entry point only; the generator lives in the ``golden`` package next to this
script (see ``tools/golden/__init__.py`` for what the cases are and how they are
produced and cross-checked).

Usage::

    pip install torch numpy safetensors
    python3 tools/make_golden.py [--out tests/golden] [--mnist-dir "$MNIST_DIR"]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from golden.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
