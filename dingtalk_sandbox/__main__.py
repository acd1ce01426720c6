"""Command line: ``python -m dingtalk_sandbox --port P [--org FILE | --users N ...]``."""

import argparse
import logging
import sys
import time

from .generate import generate
from .org import Org
from .server import Sandbox, serve


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m dingtalk_sandbox", description=__doc__)
    parser.add_argument("--port", type=int, default=18080, help="0 picks a free port")
    parser.add_argument("--org", help="organisation JSON file (as written by --dump)")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--departments", type=int, default=10)
    parser.add_argument("--roles", type=int, default=12)
    parser.add_argument("--leavers", type=int, default=0, help="extra people marked as having left")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dump", help="write the organisation as JSON to this file")
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--qps", type=int, default=20, help="per app per API calls/s; 0 disables")
    parser.add_argument("--token-ttl", type=float, default=7200)
    parser.add_argument("--app-key")
    parser.add_argument("--app-secret")
    parser.add_argument("--corp-id")
    parser.add_argument("--agent-id", type=int)
    parser.add_argument("--dump-only", action="store_true", help="with --dump: write the file and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return parser.parse_args(argv)


def build_org(args):
    if args.org:
        org = Org.load(args.org)
    else:
        org = generate(args.users, args.departments, args.roles, seed=args.seed, leavers=args.leavers)
    for name in ("app_key", "app_secret", "agent_id"):
        if getattr(args, name) is not None:
            org.app[name] = getattr(args, name)
    if args.corp_id:
        org.corp_id = args.corp_id
    return org


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    started = time.monotonic()
    org = build_org(args)
    print("organisation: %s in %.2fs" % (org.counts(), time.monotonic() - started), file=sys.stderr)
    if args.dump:
        org.dump(args.dump)
        if args.dump_only:
            return 0
    sandbox = Sandbox(org, qps=args.qps, token_ttl=args.token_ttl, latency_ms=args.latency_ms)
    server, url = serve(sandbox, args.port)
    print("SANDBOX READY %s" % url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sandbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
