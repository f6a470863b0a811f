import sys

try:
    from medtrain.cli import main
except KeyboardInterrupt:  # Ctrl-C before main() sets up its own handling: one line, as from main
    print("medtrain: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
