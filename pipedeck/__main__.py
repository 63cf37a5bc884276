"""The `pipedeck` console script and ``python -m pipedeck``: one process per command.

Most of a short verb's life is start-up, and start-up is imports: modules, classes and
schemas that live until the process ends. The cycle collector is held off while they load
(each of its passes would walk them all again) and given back once the settings are read
(:func:`pipedeck.cli.base.release_collector`), so long-running commands collect as usual;
at exit what is left is frozen, so the interpreter's last collections do not walk it
either. Together about a fifth of `pipedeck runs` (bench/startup.py).
"""

import gc
import sys


def main() -> None:
    gc.disable()  # before the first import; released when start-up is over
    from pipedeck.cli.base import hold_collector
    from pipedeck.cli.main import cli

    hold_collector()
    code = cli.main(prog_name="pipedeck", standalone_mode=False)
    gc.freeze()  # exiting: nothing left is worth a collection
    sys.exit(code)


if __name__ == "__main__":
    main()
