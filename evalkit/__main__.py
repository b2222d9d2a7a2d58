"""``python -m evalkit`` and ``torchrun -m evalkit``: the ``evalkit`` command."""

from evalkit.cli import main

if __name__ == "__main__":
    main()
