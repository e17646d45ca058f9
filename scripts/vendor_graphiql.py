"""Vendor GraphiQL's browser builds from npm into app/web/static/graphiql/ and record, in its
manifest.json, each package's version and npm integrity and each file's sha256.

Run it after changing PACKAGES: `python3 scripts/vendor_graphiql.py` (needs `npm`)."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DESTINATION = ROOT / "app" / "web" / "static" / "graphiql"
CACHE = ROOT / ".cache" / "vendor-graphiql"

# GraphiQL 3 is the last major version with self-contained UMD builds: from 4 on, it loads Monaco
# and its workers as ES modules that need a bundler or a CDN. React 18 is the last with UMD builds.
PACKAGES = {
    "react": "18.3.1",
    "react-dom": "18.3.1",
    "graphiql": "3.9.0",
    "@graphiql/plugin-explorer": "3.2.6",
    # The playground's subscriptions: graphql-transport-ws, as memql speaks it.
    "graphql-ws": "6.4.2",
}

# Served file name -> (package, path inside the package's tarball).
FILES = {
    "react.production.min.js": ("react", "umd/react.production.min.js"),
    "react-dom.production.min.js": ("react-dom", "umd/react-dom.production.min.js"),
    "graphiql.min.js": ("graphiql", "graphiql.min.js"),
    "graphiql.min.css": ("graphiql", "graphiql.min.css"),
    "plugin-explorer.umd.js": ("@graphiql/plugin-explorer", "dist/index.umd.js"),
    "plugin-explorer.css": ("@graphiql/plugin-explorer", "dist/style.css"),
    "graphql-ws.min.js": ("graphql-ws", "umd/graphql-ws.min.js"),
    # The MIT licences ask that their notices travel with the code.
    "LICENSE.react.txt": ("react", "LICENSE"),
    "LICENSE.react-dom.txt": ("react-dom", "LICENSE"),
    "LICENSE.graphiql.txt": ("graphiql", "LICENSE"),
    "LICENSE.graphql-ws.txt": ("graphql-ws", "LICENSE.md"),
}

MANIFEST = "manifest.json"


def pack(package: str, version: str, cache: Path) -> tuple[Path, str]:
    """Fetch one package's tarball with `npm pack`; return its path and npm's integrity."""
    cache.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--json", "--pack-destination", str(cache)],
        capture_output=True,
        text=True,
        check=True,
    )
    (packed,) = json.loads(result.stdout)
    if packed["version"] != version:
        raise SystemExit(f"npm packed {package}@{packed['version']}, expected {version}")
    return cache / packed["filename"], str(packed["integrity"])


def read_member(tarball: Path, path: str) -> bytes:
    with tarfile.open(tarball, "r:gz") as archive:
        member = archive.extractfile(f"package/{path}")
        if member is None:
            raise SystemExit(f"{tarball.name} has no regular file package/{path}")
        return member.read()


def vendor(destination: Path, cache: Path) -> None:
    tarballs: dict[str, Path] = {}
    packages: dict[str, dict[str, str]] = {}
    for package, version in PACKAGES.items():
        tarballs[package], integrity = pack(package, version, cache)
        packages[package] = {"version": version, "integrity": integrity}

    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    files: dict[str, dict[str, object]] = {}
    for name, (package, path) in FILES.items():
        content = read_member(tarballs[package], path)
        (destination / name).write_bytes(content)
        digest = hashlib.sha256(content).hexdigest()
        files[name] = {"package": package, "path": path, "sha256": digest, "size": len(content)}
        print(f"{digest[:12]}  {len(content):>9}  {name}")
    manifest: dict[str, object] = {
        "generator": "scripts/vendor_graphiql.py",
        "packages": packages,
        "files": files,
    }
    (destination / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--destination", type=Path, default=DESTINATION)
    parser.add_argument("--cache", type=Path, default=CACHE)
    args = parser.parse_args(argv)
    vendor(args.destination, args.cache)
    return 0


if __name__ == "__main__":
    sys.exit(main())
