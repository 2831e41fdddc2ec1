import signal

from bench.cli import main

if hasattr(signal, "SIGPIPE"):  # `python -m bench status DIR | head` ends quietly, like other CLI tools
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
raise SystemExit(main())
