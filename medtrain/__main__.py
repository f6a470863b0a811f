import sys

from medtrain.cli import main

sys.exit(main())
