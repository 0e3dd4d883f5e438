"""Exit 0 when HOST:PORT can be listened on, else exit 1 with a message saying what to do.

`make demo` runs this before migrating or printing the portal's address, so a busy port is
reported up front instead of after the URL has been shown.
"""

import socket
import sys


def port_problem(host: str, port: str) -> str | None:
    """Why the demo cannot listen on host:port, or None when it can."""
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"PORT must be a number from 1 to 65535 (got {port!r})."
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            return (
                f"Port {port} on {host} is already in use ({exc.strerror}). Stop what is "
                "using it or choose another port, e.g. make demo PORT=8123"
            )
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: port_free.py HOST PORT", file=sys.stderr)
        return 2
    problem = port_problem(argv[1], argv[2])
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
