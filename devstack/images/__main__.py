"""`python -m devstack.images [NAME ...]`: build (or find) the images; see devstack.images."""

import sys

from devstack.images import main

sys.exit(main(sys.argv[1:]))
