# Copyright (c) imds.azure contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Command line: ``python -m tools.imds_emulator --listen HOST:PORT ...`` (see docs/docsite/rst/emulator.rst)."""

import argparse
import json
import signal
import sys
import threading

from .emulator import Emulator
from .faults import FaultError, parse_faults
from .fleet import Fleet
from .profile import load_data
from .scheduled import ScenarioError, parse_scenario


def _listen(value):
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % value)
    return host.strip("[]"), int(port)


def _rate(value):
    if value.lower() == "off":
        return None
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of requests/s or 'off', got %r" % value) from None
    return None if rate <= 0 else rate


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m tools.imds_emulator", description="Azure IMDS emulator (loopback tests and demos only).")
    parser.add_argument("--listen", type=_listen, default=("127.0.0.1", 0), metavar="HOST:PORT",
                        help="address to listen on; port 0 picks a free port (fleet: N free ports, else consecutive ports)")
    parser.add_argument("--profile", metavar="FILE", help="VM profile (JSON or YAML) merged into the default VM")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--fleet", metavar="FILE", help="fleet file: a list of profiles, one VM each")
    group.add_argument("--fleet-size", type=int, metavar="N", help="generate N varied VMs (deterministic per --seed)")
    parser.add_argument("--fleet-out", metavar="FILE", help="write a JSON manifest of the fleet's VMs")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated VMs, fault ratios and event ids")
    parser.add_argument("--fault", action="append", default=[], metavar="SPEC", help="fault SPEC kind=value[,ratio=R][,path=PREFIX] (repeatable)")
    parser.add_argument("--rate-limit", type=_rate, default=5, metavar="RPS|off", help="requests/s per VM before 429 (default 5)")
    parser.add_argument("--ca-dir", metavar="DIR", help="where the test CA is loaded from, or generated and written to")
    parser.add_argument("--scenario", action="append", default=[], metavar="SPEC",
                        help="scheduled-event scenario NAME[,delay=S][,notice=S][,started=S][,cancel=S] (repeatable)")
    parser.add_argument("--verbose", "-v", action="store_true", help="accepted for compatibility; the CA path always goes to stderr")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        parse_faults(args.fault)
        for spec in args.scenario:
            parse_scenario(spec)
    except (FaultError, ScenarioError) as exc:
        parser.error(str(exc))
    host, port = args.listen
    try:
        if args.fleet or args.fleet_size:
            base = load_data(args.profile) if args.profile else None
            server = Fleet(size=args.fleet_size, seed=args.seed, host=host, port=port, fleet_file=args.fleet, base_profile=base,
                           faults=args.fault, rate_limit=args.rate_limit, ca_dir=args.ca_dir, scenarios=args.scenario)
        else:
            server = Emulator(profile=args.profile, faults=args.fault, rate_limit=args.rate_limit, seed=args.seed, host=host, port=port,
                              ca_dir=args.ca_dir, scenarios=args.scenario)
        server.start()
    except (OSError, ValueError) as exc:
        sys.stderr.write("imds-emulator: cannot start: %s\n" % exc)
        return 2
    members = server.members if isinstance(server, Fleet) else [server]
    stop = threading.Event()

    def _stop(_signum, _frame):
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        if args.fleet_out and isinstance(server, Fleet):
            with open(args.fleet_out, "w", encoding="utf-8") as handle:
                json.dump(server.manifest(), handle, indent=2, ensure_ascii=False)
        for member in members:
            sys.stdout.write("listening on %s\n" % member.url)
        sys.stdout.flush()
        sys.stderr.write("imds-emulator: test CA certificate: %s\n" % members[0].ca_cert_path)
        sys.stderr.flush()
        while not stop.wait(0.2):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
